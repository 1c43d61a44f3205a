"""机构债权 through the API and the transfer pages: submit, decide, the label everywhere."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.p2b import service as p2b
from p2plend.transfers import service as transfers
from tests.api.test_marketplace_api import headers_of, staff_headers
from tests.p2b import claims

API = "/api/v1"
BODY = {
    "institution_type": "micro_loan",
    "institution_risk_tier": 2,
    "debtor_kind": "person",
    "debtor_name": "陈小明",
    "industry": "retail",
    "region": "广东省深圳市",
    "purpose": "business",
    "project_summary": "店铺周转",
    "monthly_income": "12000.00",
    "liabilities": "0",
    "credit_overdues_6m": 0,
    "repayment_source": "经营收入",
    "amount": "12000.00",
    "annual_rate": "0.04",
    "method": "equal_installment",
    "term_months": 12,
    "original_value_date": "2026-11-01",
    "repurchase_dpd": 30,
}


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_submit_decide_and_the_label_in_the_api(
    api: TestClient, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution = claims.make_institution(session_factory, bank)
    partner = headers_of(api, session_factory, institution)
    refused = api.post(f"{API}/partner/claims", json={**BODY, "amount": "200000.01"}, headers=partner)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_partner_claim"
    created = api.post(f"{API}/partner/claims", json=BODY, headers=partner)
    assert created.status_code == 201, created.text
    claim = created.json()
    assert claim["partner_claim"] is True and "信用链条更长" in claim["warning"]
    assert claim["disclosure"]["borrower_name_masked"] == "陈**" and "陈小明" not in created.text
    officer = staff_headers(api, session_factory, Role.RISK_OFFICER)
    assert api.post(f"{API}/partner/claims", json=BODY, headers=officer).status_code == 403
    listed = api.get(f"{API}/staff/partner-claims?status=submitted", headers=officer).json()
    assert [c["id"] for c in listed] == [claim["id"]]
    decided = api.post(
        f"{API}/staff/partner-claims/{claim['id']}/decision",
        json={"approve": True, "grade": "B"},
        headers=officer,
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["status"], body["unsold"], body["sold"]) == ("approved", "12000.00", "0.00")
    again = api.post(
        f"{API}/staff/partner-claims/{claim['id']}/decision",
        json={"approve": False, "reason": "x"},
        headers=officer,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "partner_claim_already_decided"
    market = api.get(f"{API}/transfers").json()
    (item,) = [i for i in market["items"] if i["loan_id"] == body["loan_id"]]
    assert item["partner_claim"] is True
    mine = api.get(f"{API}/partner/claims/{claim['id']}", headers=partner).json()
    assert mine["open_listing_id"] == item["id"]
    nothing = api.post(
        f"{API}/partner/claims/{claim['id']}/repayments",
        json={},
        headers={**partner, "Idempotency-Key": "p2b-repay-0001-aaaaaaaa"},
    )
    assert nothing.json()["error"]["code"] == "insufficient_funds", (
        nothing.text
    )  # the next installment, from an empty account


@pytest.mark.parametrize(("locale", "label"), [("zh", "机构债权（P2B）"), ("en", "Partner claim (P2B)")])
def test_transfer_pages_label_partner_claims(
    api: TestClient, session_factory: sessionmaker[Session], bank: SimulatedBank, locale: str, label: str
) -> None:
    institution = claims.make_institution(session_factory, bank)
    claim_id, _ = claims.approved(session_factory, institution)
    listing_id = claims.listing_of(session_factory, claim_id)
    for path in ("/transfers", f"/transfers/{listing_id}"):
        page = api.get(f"{path}?lang={locale}")
        assert page.status_code == 200, page.text
        assert 'data-testid="p2b-label"' in page.text and label in page.text
    with session_factory() as session:
        assert p2b.get_claim(session, claim_id).status == "approved"


def test_the_institution_offers_its_unsold_part_again(
    api: TestClient, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    institution = claims.make_institution(session_factory, bank)
    claim_id, _ = claims.approved(session_factory, institution)
    partner = headers_of(api, session_factory, institution)
    url = f"{API}/partner/claims/{claim_id}/offers"
    listed = api.post(url, json={"discount_rate": "0.01"}, headers=partner)
    assert (listed.status_code, listed.json()["error"]["code"]) == (409, "transfer_already_listed")
    first = api.get(f"{API}/partner/claims/{claim_id}", headers=partner).json()["open_listing_id"]
    with session_factory.begin() as session:
        transfers.cancel_listing(session, seller_id=institution, listing_id=first)
    too_deep = api.post(url, json={"discount_rate": "0.06"}, headers=partner)
    assert too_deep.json()["error"]["code"] == "transfer_discount_out_of_range"
    offered = api.post(url, json={"discount_rate": "0.01"}, headers=partner)
    assert offered.status_code == 201, offered.text
    assert offered.json()["open_listing_id"] not in (None, first)
    other = claims.make_institution(session_factory, bank)
    assert api.post(url, json={}, headers=headers_of(api, session_factory, other)).status_code == 404
