"""Guarantee and compensation API (担保 / 代偿): the guarantee company's own view, staff's
list of guarantors with terms and exposure, setting terms (refusals change nothing), the
compensations and one loan's guarantee — after a real end-of-day compensation on DPD 2.

The loan is test_compensation's: 12,000.00 at 4 % over 12 months, lent 5,000 : 4,000 :
3,000, guaranteed; the borrower pays nothing."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.guarantee import service as guarantee
from p2plend.identity.permissions import Role
from p2plend.money import yuan_str
from tests import builders, lending
from tests.api.test_marketplace_api import headers_of, staff_headers
from tests.guarantee.test_compensation import LENT, first_installment
from tests.overdue import FIRST_DUE, close_each_day

MONEY = r"^-?[0-9]+\.[0-9]{2}$"
GOOD_TERMS = {"coverage": "principal", "trigger_dpd": 3, "accelerate_dpd": 60, "fee_rate": "0.015"}


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Guaranteed:
    api: TestClient
    bank: SimulatedBank
    sessions: sessionmaker[Session]
    guarantor: int
    loan_id: int
    borrower: int
    investors: list[int]

    def get(self, path: str, headers: dict[str, str], **params: Any) -> Any:
        return self.api.get(f"/api/v1{path}", headers=headers, params=params)

    def company(self) -> dict[str, str]:
        return headers_of(self.api, self.sessions, self.guarantor)


def _guaranteed(
    api: TestClient, bank: SimulatedBank, sessions: sessionmaker[Session], balance: int
) -> Guaranteed:
    guarantor = lending.make_guarantor(sessions, bank, balance)
    loan_id, borrower, investors = lending.guaranteed_loan(sessions, bank, guarantor, LENT, fee_rate="0.01")
    return Guaranteed(api, bank, sessions, guarantor, loan_id, borrower, investors)


@pytest.fixture
def book(api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]) -> Guaranteed:
    return _guaranteed(api, bank, session_factory, 5_000_000)


def _terms_state(sessions: sessionmaker[Session], guarantor: int) -> tuple[guarantee.Terms, list[str]]:
    with sessions() as session:
        return (
            guarantee.terms_of(session, guarantor),
            [
                r.action
                for r in audit.list_records(session, object_type="user", object_id=guarantor)
                if r.action.startswith("guarantee.")
            ],
        )


def test_the_guarantee_company_sees_its_terms_exposure_loans_and_compensations(book: Guaranteed) -> None:
    me = book.company()
    mine = book.get("/me/guarantee", me)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["guarantor_id"] == book.guarantor and body["name"] == "浙江安信融资担保有限公司"
    assert body["terms"] == {
        "guarantor_id": book.guarantor,
        "coverage": "principal_interest",
        "trigger_dpd": 2,
        "accelerate_dpd": 90,
        "fee_rate": "0",
        "agreed": False,
    }
    # The guarantee fee (1 % of 12,000.00) came in at disbursement.
    assert body["exposure"] == {
        "available": "50120.00",
        "loans": 1,
        "guaranteed_principal": "12000.00",
        "compensated": "0.00",
        "shortfall": "0.00",
        "recovered": "0.00",
    }
    [loan] = book.get("/me/guarantee/agreements", me).json()
    assert (loan["loan_id"], loan["loan_status"], loan["status"]) == (book.loan_id, "disbursed", "active")
    assert (loan["principal_outstanding"], loan["guaranteed_principal"], loan["claim_principal"]) == (
        "12000.00",
        "12000.00",
        "0.00",
    )
    assert (loan["days_past_due"], loan["stage"], loan["guarantee_fee"]) == (0, "current", "120.00")
    assert loan["agreement"]["trigger_dpd"] == 2 and loan["agreement"]["coverage"] == "principal_interest"
    assert book.get("/me/guarantee/compensations", me).json() == []

    p1, i1 = first_installment(book.sessions, book.loan_id)
    close_each_day(book.sessions, book.bank, FIRST_DUE + timedelta(days=2))  # DPD 2: the trigger
    me = book.company()
    [loan] = book.get("/me/guarantee/agreements", me).json()
    assert (loan["days_past_due"], loan["stage"], loan["status"]) == (2, "m1", "active")
    assert loan["claim_principal"] == yuan_str(p1)
    assert loan["guaranteed_principal"] == yuan_str(1_200_000 - p1)
    [paid] = book.get("/me/guarantee/compensations", me).json()
    assert paid["loan_id"] == book.loan_id and paid["loan_title"] == loan["title"]
    assert (paid["kind"], paid["installment_number"], paid["business_date"]) == (
        "installment",
        1,
        (FIRST_DUE + timedelta(days=2)).isoformat(),
    )
    assert (paid["due"], paid["paid"], paid["shortfall"], paid["principal"], paid["interest"]) == (
        yuan_str(p1 + i1),
        yuan_str(p1 + i1),
        "0.00",
        yuan_str(p1),
        yuan_str(i1),
    )
    exposure = book.get("/me/guarantee", me).json()["exposure"]
    assert exposure["compensated"] == yuan_str(p1 + i1)
    assert exposure["available"] == yuan_str(5_012_000 - p1 - i1)
    assert exposure["guaranteed_principal"] == yuan_str(1_200_000 - p1)


def test_a_short_guarantor_shows_its_shortfall(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    book = _guaranteed(api, bank, session_factory, 38_000)  # 380.00 + the 120.00 fee: 500.00
    p1, i1 = first_installment(session_factory, book.loan_id)
    close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))
    me = book.company()
    [paid] = book.get("/me/guarantee/compensations", me).json()
    assert (paid["due"], paid["paid"], paid["shortfall"]) == (
        yuan_str(p1 + i1),
        "500.00",
        yuan_str(p1 + i1 - 50_000),
    )
    exposure = book.get("/me/guarantee", me).json()["exposure"]
    assert (exposure["available"], exposure["shortfall"]) == ("0.00", yuan_str(p1 + i1 - 50_000))


def test_staff_read_guarantors_compensations_and_a_loans_guarantee(book: Guaranteed) -> None:
    other = lending.make_guarantor(book.sessions, book.bank, 0, **_decimal_terms(GOOD_TERMS))
    p1, i1 = first_installment(book.sessions, book.loan_id)
    close_each_day(book.sessions, book.bank, FIRST_DUE + timedelta(days=2))
    for role in (Role.RISK_OFFICER, Role.FINANCE):  # staff:risk:manage, staff:reports:read
        staff = staff_headers(book.api, book.sessions, role)
        listed = book.get("/staff/guarantors", staff)
        assert listed.status_code == 200, listed.text
        by_id = {g["guarantor_id"]: g for g in listed.json()}
        assert set(by_id) == {book.guarantor, other}
        assert by_id[other]["terms"] | {"guarantor_id": 0} == GOOD_TERMS | {"guarantor_id": 0, "agreed": True}
        assert by_id[other]["exposure"]["loans"] == 0
        assert by_id[book.guarantor]["exposure"]["compensated"] == yuan_str(p1 + i1)
        assert by_id[book.guarantor]["status"] == "active"
        every = book.get("/staff/compensations", staff).json()
        assert [c["guarantor_id"] for c in every] == [book.guarantor]
        assert book.get("/staff/compensations", staff, guarantor_id=other).json() == []
    risk = staff_headers(book.api, book.sessions, Role.RISK_OFFICER)
    one = book.get(f"/staff/loans/{book.loan_id}/guarantee", risk)
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["agreement"]["guarantor_id"] == book.guarantor and body["agreement"]["status"] == "active"
    assert (body["compensated"], body["shortfall"], body["claim_principal"]) == (
        yuan_str(p1 + i1),
        "0.00",
        yuan_str(p1),
    )
    assert [c["installment_number"] for c in body["compensations"]] == [1]
    plain = lending.open_listing(
        book.sessions, lending.listing_terms(book.borrower, amount=100_000, months=3)
    )
    for loan_id, status, code in (
        (plain, 404, "guarantee_agreement_not_found"),
        (999_999, 404, "loan_not_found"),
    ):
        refused = book.get(f"/staff/loans/{loan_id}/guarantee", risk)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code)


def _decimal_terms(terms: dict[str, Any]) -> dict[str, Any]:
    return terms | {"fee_rate": Decimal(terms["fee_rate"])}


def test_staff_set_terms_and_later_listings_copy_them(book: Guaranteed) -> None:
    risk = staff_headers(book.api, book.sessions, Role.RISK_OFFICER)
    url = f"/api/v1/staff/guarantors/{book.guarantor}/terms"
    saved = book.api.put(url, headers=risk, json=GOOD_TERMS)
    assert saved.status_code == 200, saved.text
    assert saved.json() == GOOD_TERMS | {"guarantor_id": book.guarantor, "agreed": True}
    with book.sessions() as session:
        terms = guarantee.terms_of(session, book.guarantor)
        assert (terms.coverage, terms.trigger_dpd, terms.accelerate_dpd, terms.fee_rate) == (
            "principal",
            3,
            60,
            Decimal("0.015"),
        )
        records = audit.list_records(session, object_type="user", object_id=book.guarantor)
        [record] = [r for r in records if r.action == "guarantee.terms_set"]
        assert record.actor_id is not None and record.details["fee_rate"] == "0.015"
        # The agreement already signed keeps its terms.
        assert guarantee.require_agreement(session, book.loan_id).trigger_dpd == 2
    mine = book.get("/me/guarantee", book.company()).json()["terms"]
    assert mine["agreed"] is True and mine["fee_rate"] == "0.015"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"coverage": "everything"}, "coverage"),
        ({"coverage": ""}, "coverage"),
        ({"trigger_dpd": 0}, "trigger_dpd"),
        ({"trigger_dpd": -2}, "trigger_dpd"),
        ({"accelerate_dpd": 3}, "accelerate_dpd"),
        ({"accelerate_dpd": 1}, "accelerate_dpd"),
        ({"accelerate_dpd": 3651}, "accelerate_dpd"),
        ({"trigger_dpd": 2**40}, "trigger_dpd"),
        ({"fee_rate": "1"}, "fee_rate"),
        ({"fee_rate": "1.5"}, "fee_rate"),
        ({"fee_rate": "-0.01"}, "fee_rate"),
        ({"fee_rate": "0.0000001"}, "fee_rate"),
        ({"fee_rate": "1e-2"}, "fee_rate"),
        ({"fee_rate": "abc"}, "fee_rate"),
        ({"fee_rate": ""}, "fee_rate"),
        ({"fee_rate": " 0.01"}, "fee_rate"),
    ],
)
def test_bad_terms_are_refused_with_a_stable_code_and_change_nothing(
    book: Guaranteed, change: dict[str, Any], field: str
) -> None:
    risk = staff_headers(book.api, book.sessions, Role.RISK_OFFICER)
    before = _terms_state(book.sessions, book.guarantor)
    refused = book.api.put(
        f"/api/v1/staff/guarantors/{book.guarantor}/terms", headers=risk, json=GOOD_TERMS | change
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["details"]) == ("invalid_guarantee_terms", {"field": field})
    assert _terms_state(book.sessions, book.guarantor) == before


@pytest.mark.parametrize(
    "body",
    [
        GOOD_TERMS | {"fee_rate": 0.015},  # never a float
        GOOD_TERMS | {"trigger_dpd": "3"},
        GOOD_TERMS | {"trigger_dpd": 2.5},
        GOOD_TERMS | {"extra": 1},
        {"coverage": "principal"},
    ],
)
def test_malformed_bodies_are_invalid_requests(book: Guaranteed, body: dict[str, Any]) -> None:
    risk = staff_headers(book.api, book.sessions, Role.RISK_OFFICER)
    before = _terms_state(book.sessions, book.guarantor)
    refused = book.api.put(f"/api/v1/staff/guarantors/{book.guarantor}/terms", headers=risk, json=body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_request")
    assert _terms_state(book.sessions, book.guarantor) == before


def test_terms_of_a_non_guarantor_are_refused(book: Guaranteed) -> None:
    risk = staff_headers(book.api, book.sessions, Role.RISK_OFFICER)
    with book.sessions.begin() as session:
        partner = builders.make_organisation(session, book.bank).id  # an organisation, not a guarantor
        no_custody = builders.make_organisation(session, roles=(Role.GUARANTOR,)).id
    for user_id in (book.borrower, partner, no_custody, 999_999):
        refused = book.api.put(f"/api/v1/staff/guarantors/{user_id}/terms", headers=risk, json=GOOD_TERMS)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == {
            "code": "not_a_guarantor",
            "message": refused.json()["error"]["message"],
            "details": {"guarantor_id": user_id},
        }
        terms, actions = _terms_state(book.sessions, user_id)
        assert actions == [] and terms.agreed is False
    for bad_id in ("0", str(2**63), "abc"):
        refused = book.api.put(f"/api/v1/staff/guarantors/{bad_id}/terms", headers=risk, json=GOOD_TERMS)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_request")


def test_who_may_do_what(book: Guaranteed) -> None:
    investor = headers_of(book.api, book.sessions, book.investors[0])
    for path in ("/me/guarantee", "/me/guarantee/agreements", "/me/guarantee/compensations"):
        refused = book.get(path, investor)
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied"), path
        assert book.get(path, {}).status_code == 401
    company = book.company()
    collector = staff_headers(book.api, book.sessions, Role.COLLECTOR)  # none of the permissions
    finance = staff_headers(book.api, book.sessions, Role.FINANCE)  # reads, may not set
    no_totp = staff_headers(book.api, book.sessions, Role.RISK_OFFICER, with_totp=False)
    for headers in (company, collector, investor):
        for path in ("/staff/guarantors", "/staff/compensations", f"/staff/loans/{book.loan_id}/guarantee"):
            assert book.get(path, headers).status_code == 403, path
    assert book.get("/staff/guarantors", no_totp).json()["error"]["code"] == "totp_enrollment_required"
    url = f"/api/v1/staff/guarantors/{book.guarantor}/terms"
    for headers in (finance, company, no_totp):
        assert book.api.put(url, headers=headers, json=GOOD_TERMS).status_code == 403
    assert _terms_state(book.sessions, book.guarantor)[1] == []


def test_the_openapi_document_has_the_endpoints_with_money_and_rates_as_strings(api: TestClient) -> None:
    spec = api.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path, method in (
        ("/api/v1/me/guarantee", "get"),
        ("/api/v1/me/guarantee/agreements", "get"),
        ("/api/v1/me/guarantee/compensations", "get"),
        ("/api/v1/staff/guarantors", "get"),
        ("/api/v1/staff/guarantors/{guarantor_id}/terms", "put"),
        ("/api/v1/staff/compensations", "get"),
        ("/api/v1/staff/loans/{loan_id}/guarantee", "get"),
    ):
        assert method in paths[path], path
    schemas = spec["components"]["schemas"]
    for name, field in (
        ("GuarantorExposureOut", "guaranteed_principal"),
        ("GuaranteedLoanOut", "claim_principal"),
        ("CompensationOut", "shortfall"),
        ("LoanGuaranteeOut", "compensated"),
    ):
        prop = schemas[name]["properties"][field]
        assert prop["type"] == "string" and prop["pattern"] == MONEY, (name, field)
    for name in ("GuaranteeTermsRequest", "GuaranteeTermsOut", "GuaranteeAgreementOut"):
        assert schemas[name]["properties"]["fee_rate"]["type"] == "string", name
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
