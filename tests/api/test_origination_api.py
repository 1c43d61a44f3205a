"""Origination API: products, LPR, applications, documents, referrals, review, blacklist.

Bad input is refused with a stable code and changes nothing."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.origination import scoring
from p2plend.origination.models import LoanApplication, ProductVersion
from tests import builders
from tests.api.helpers import sign_in

API = "/api/v1"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"


@pytest.fixture(autouse=True)
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents in the test's directory; every applicant scored B by a fixed stand-in model."""
    monkeypatch.setenv("P2PLEND_DOCUMENTS_DIR", str(tmp_path / "documents"))
    monkeypatch.setattr(scoring, "load_model", lambda version=None: builders.FixedScorer("B"))


@pytest.fixture
def bank(database_url: str, session_factory: sessionmaker[Session]) -> Iterator[SimulatedBank]:
    bank = custody.simulated_custodian(database_url, session_factory)
    yield bank
    bank.close()


@pytest.fixture
def borrower(
    client: TestClient, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> dict[str, Any]:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        user = builders.make_borrower(session, bank, phone=phone)
    return {"id": user.id, "phone": phone, "headers": sign_in(client, phone)}


@pytest.fixture
def officer(client: TestClient, session_factory: sessionmaker[Session]) -> dict[str, Any]:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        user, totp = builders.make_officer(session, phone=phone)
    return {"id": user.id, "headers": sign_in(client, phone, totp=totp)}


def _staff(client: TestClient, session_factory: sessionmaker[Session], *roles: Role) -> dict[str, str]:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        _, totp = builders.make_staff(session, phone=phone, roles=roles)
    return sign_in(client, phone, totp=totp)


def _body(**overrides: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_code": "credit",
        "amount": "20000.00",
        "term_months": 12,
        "method": "equal_installment",
        "purpose": "home_improvement",
        "purpose_description": "旧房翻新",
        "monthly_income": "15000.00",
        "employment": "salaried",
        "employment_years": 5,
        "housing": "rent",
        "industry": "信息技术",
        "repayment_source": "工资收入",
    }
    body.update(overrides)
    return body


def _count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(LoanApplication)) or 0)


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_public_products_show_current_terms(client: TestClient) -> None:
    response = client.get(f"{API}/products")
    assert response.status_code == 200
    products = {p["code"]: p for p in response.json()}
    assert set(products) == {"credit", "mortgage", "guaranteed", "p2b"}
    credit = products["credit"]["current"]
    assert (credit["version"], credit["terms"]["amount_min"], credit["terms"]["amount_max"]) == (
        1,
        "1000.00",
        "200000.00",
    )
    grade_b = next(g for g in credit["terms"]["grades"] if g["grade"] == "B")
    assert grade_b == {
        "grade": "B",
        "rate_min": "0.07",
        "rate_max": "0.085",
        "service_fee_rate": "0",
        "risk_class": "R3",
        "amount_cap": "150000.00",
    }
    assert products["mortgage"]["current"]["terms"]["ltv_cap"] == "0.7"


def test_a_borrower_applies_follows_and_cancels(client: TestClient, borrower: dict[str, Any]) -> None:
    created = client.post(f"{API}/applications", json=_body(), headers=borrower["headers"])
    assert created.status_code == 201, created.text
    application = created.json()
    assert (application["status"], application["grade"], application["amount"]) == (
        "under_review",
        "B",
        "20000.00",
    )
    assert (application["rate_min"], application["rate_max"], application["product_version"]) == (
        "0.07",
        "0.085",
        1,
    )
    mine = client.get(f"{API}/applications", headers=borrower["headers"]).json()["items"]
    assert [a["id"] for a in mine] == [application["id"]]
    cancelled = client.post(f"{API}/applications/{application['id']}/cancel", headers=borrower["headers"])
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"{API}/applications/{application['id']}/cancel", headers=borrower["headers"])
    assert _error(again) == (409, "application_state_conflict")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"amount": 20000}, (422, "invalid_amount")),
        ({"amount": "20,000.00"}, (422, "invalid_amount")),
        ({"amount": "-1.00"}, (422, "invalid_amount")),
        ({"monthly_income": 1.5}, (422, "invalid_amount")),
        ({"purpose": "stocks"}, (422, "forbidden_purpose")),
        ({"purpose": "other", "purpose_description": "用于股票配资"}, (422, "forbidden_purpose")),
        ({"amount": "500.00"}, (422, "amount_out_of_range")),
        ({"term_months": 48}, (422, "term_out_of_range")),
        ({"term_months": "12"}, (422, "invalid_request")),
        ({"method": "balloon"}, (422, "method_not_allowed")),
        ({"product_code": "nope"}, (404, "product_not_found")),
        ({"product_code": "mortgage", "amount": "50000.00"}, (422, "collateral_required")),
        ({"colour": "red"}, (422, "invalid_request")),
        ({"guarantor_id": 2**64}, (422, "invalid_request")),
    ],
)
def test_bad_applications_are_refused_with_a_code_and_nothing_stored(
    client: TestClient,
    borrower: dict[str, Any],
    session_factory: sessionmaker[Session],
    overrides: dict[str, object],
    expected: tuple[int, str],
) -> None:
    response = client.post(f"{API}/applications", json=_body(**overrides), headers=borrower["headers"])
    assert _error(response) == expected, response.text
    assert _count(session_factory) == 0


def test_r18_a_duplicate_is_refused(
    client: TestClient, borrower: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    assert client.post(f"{API}/applications", json=_body(), headers=borrower["headers"]).status_code == 201
    duplicate = client.post(f"{API}/applications", json=_body(), headers=borrower["headers"])
    assert _error(duplicate) == (409, "duplicate_application")
    assert _count(session_factory) == 1


def test_unverified_users_and_staff_do_not_apply(
    client: TestClient, session_factory: sessionmaker[Session], officer: dict[str, Any]
) -> None:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_user(session, phone=phone)
    response = client.post(f"{API}/applications", json=_body(), headers=sign_in(client, phone))
    assert _error(response) == (403, "real_name_required")
    assert _error(client.post(f"{API}/applications", json=_body(), headers=officer["headers"])) == (
        403,
        "permission_denied",
    )
    assert _error(client.post(f"{API}/applications", json=_body())) == (401, "unauthenticated")
    assert _count(session_factory) == 0


def test_others_applications_are_not_found(
    client: TestClient, borrower: dict[str, Any], session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    application_id = client.post(f"{API}/applications", json=_body(), headers=borrower["headers"]).json()[
        "id"
    ]
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_borrower(session, bank, phone=phone)
    other = sign_in(client, phone)
    assert _error(client.get(f"{API}/applications/{application_id}", headers=other)) == (
        404,
        "application_not_found",
    )
    assert _error(client.post(f"{API}/applications/{application_id}/cancel", headers=other)) == (
        404,
        "application_not_found",
    )
    assert _error(client.get(f"{API}/applications/{2**64}", headers=other)) == (422, "invalid_request")


def test_documents_upload_download_and_refusals(
    client: TestClient,
    borrower: dict[str, Any],
    officer: dict[str, Any],
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
) -> None:
    application_id = client.post(f"{API}/applications", json=_body(), headers=borrower["headers"]).json()[
        "id"
    ]
    url = f"{API}/applications/{application_id}/documents"
    uploaded = client.post(
        url,
        files={"file": ("流水.pdf", PDF, "application/pdf")},
        data={"kind": "bank_statement"},
        headers=borrower["headers"],
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()
    assert (document["content_type"], document["filename"], document["size_bytes"]) == (
        "application/pdf",
        "流水.pdf",
        len(PDF),
    )
    for headers in (borrower["headers"], officer["headers"]):
        download = client.get(f"{url}/{document['id']}", headers=headers)
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["content-type"] == "application/pdf"
        assert download.headers["x-content-type-options"] == "nosniff"
        assert "attachment" in download.headers["content-disposition"]
    fake = client.post(
        url,
        files={"file": ("x.pdf", b"<script>alert(1)</script>", "application/pdf")},
        data={"kind": "other"},
        headers=borrower["headers"],
    )
    assert _error(fake) == (422, "unsupported_document_type")
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_borrower(session, bank, phone=phone)
    stranger = sign_in(client, phone)
    assert _error(client.get(f"{url}/{document['id']}", headers=stranger)) == (404, "application_not_found")
    assert _error(
        client.post(
            url, files={"file": ("a.pdf", PDF, "application/pdf")}, data={"kind": "other"}, headers=stranger
        )
    ) == (404, "application_not_found")
    listed = client.get(f"{API}/applications/{application_id}", headers=borrower["headers"]).json()
    assert [d["id"] for d in listed["documents"]] == [document["id"]]


def test_a_document_over_the_limit_is_refused_with_413(
    client: TestClient, borrower: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Any = client.app
    monkeypatch.setattr(app.state.settings, "document_max_bytes", 16)
    application_id = client.post(f"{API}/applications", json=_body(), headers=borrower["headers"]).json()[
        "id"
    ]
    response = client.post(
        f"{API}/applications/{application_id}/documents",
        files={"file": ("big.pdf", PDF, "application/pdf")},
        data={"kind": "other"},
        headers=borrower["headers"],
    )
    assert _error(response) == (413, "document_too_large")


def test_review_request_info_resubmit_and_approve_into_a_listing(
    client: TestClient, borrower: dict[str, Any], officer: dict[str, Any]
) -> None:
    application_id = client.post(f"{API}/applications", json=_body(), headers=borrower["headers"]).json()[
        "id"
    ]
    queue = client.get(
        f"{API}/staff/applications", params={"status": "under_review"}, headers=officer["headers"]
    )
    assert [a["id"] for a in queue.json()] == [application_id]
    detail = client.get(f"{API}/staff/applications/{application_id}", headers=officer["headers"]).json()
    assert detail["borrower"]["name"] == "李*" and detail["borrower"]["id_number_masked"].startswith("110")
    assert detail["credit_decisions"][0]["grade"] == "B" and detail["needs_four_eyes"] is False
    decisions = f"{API}/staff/applications/{application_id}/decisions"
    asked = client.post(
        decisions, json={"action": "request_info", "message": "请补充收入证明"}, headers=officer["headers"]
    )
    assert asked.json()["status"] == "info_requested"
    mine = client.get(f"{API}/applications/{application_id}", headers=borrower["headers"]).json()
    assert mine["info_request"] == "请补充收入证明"
    resubmitted = client.post(
        f"{API}/applications/{application_id}/resubmit", json={"reply": "已补充"}, headers=borrower["headers"]
    )
    assert resubmitted.json()["status"] == "under_review"
    outside = client.post(
        decisions, json={"action": "approve", "grade": "B", "annual_rate": "0.09"}, headers=officer["headers"]
    )
    assert _error(outside) == (422, "rate_outside_band")
    as_number = client.post(
        decisions, json={"action": "approve", "grade": "B", "annual_rate": 0.08}, headers=officer["headers"]
    )
    assert _error(as_number) == (422, "invalid_request")
    approved = client.post(
        decisions, json={"action": "approve", "grade": "B", "annual_rate": "0.08"}, headers=officer["headers"]
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["annual_rate"], body["annualised_cost"], body["lpr_rate"]) == (
        "listed",
        "0.08",
        "0.08",
        "0.03",
    )
    assert body["loan_id"] is not None
    assert [d["action"] for d in body["decisions"]] == ["request_info", "approve"]


def test_four_eyes_and_field_verification_through_the_api(
    client: TestClient,
    borrower: dict[str, Any],
    officer: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    application_id = client.post(
        f"{API}/applications", json=_body(amount="120000.00"), headers=borrower["headers"]
    ).json()["id"]
    decisions = f"{API}/staff/applications/{application_id}/decisions"
    approve = {"action": "approve", "grade": "B", "annual_rate": "0.08"}
    assert _error(client.post(decisions, json=approve, headers=officer["headers"])) == (
        409,
        "field_verification_required",
    )
    verified = client.post(
        f"{API}/staff/applications/{application_id}/field-verifications",
        json={"kind": "site_visit", "verified_on": "2026-11-28", "result": "pass", "notes": "核实住址"},
        headers=officer["headers"],
    )
    assert verified.status_code == 201, verified.text
    first = client.post(decisions, json=approve, headers=officer["headers"])
    assert first.json()["status"] == "awaiting_second_approval"
    same = client.post(decisions, json={"action": "second_approve"}, headers=officer["headers"])
    assert _error(same) == (403, "four_eyes_same_officer")
    second = _staff(client, session_factory, Role.RISK_OFFICER)
    final = client.post(decisions, json={"action": "second_approve"}, headers=second)
    assert final.json()["status"] == "listed"


def test_staff_permissions(
    client: TestClient, borrower: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    finance = _staff(client, session_factory, Role.FINANCE)
    operations = _staff(client, session_factory, Role.OPERATIONS)
    for headers in (borrower["headers"], finance):
        assert _error(client.get(f"{API}/staff/applications", headers=headers)) == (403, "permission_denied")
        assert _error(client.get(f"{API}/staff/blacklist", headers=headers)) == (403, "permission_denied")
    assert client.get(f"{API}/staff/lpr", headers=operations).status_code == 200
    added = client.post(
        f"{API}/staff/lpr", json={"effective_date": "2026-12-21", "rate": "0.0295"}, headers=operations
    )
    assert added.status_code == 201
    assert _error(client.post(f"{API}/staff/products", json={}, headers=operations)) == (
        403,
        "permission_denied",
    )
    assert _error(client.post(f"{API}/partner/referrals", json=_body(), headers=borrower["headers"])) == (
        403,
        "permission_denied",
    )


def test_products_and_versions(
    client: TestClient, officer: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    risk = _staff(client, session_factory, Role.RISK_OFFICER)
    credit = client.get(f"{API}/products").json()[0]
    terms = credit["current"]["terms"]
    body = {
        "code": "credit-2",
        "kind": "credit",
        "name_zh": "信用贷二",
        "name_en": "Credit 2",
        "terms": terms,
    }
    created = client.post(f"{API}/staff/products", json=body, headers=risk)
    assert created.status_code == 201, created.text
    assert created.json()["current"]["terms"] == terms
    assert _error(client.post(f"{API}/staff/products", json=body, headers=risk)) == (
        409,
        "product_code_taken",
    )
    fee = [g | {"service_fee_rate": "0.01"} for g in terms["grades"]]
    unlawful = client.post(
        f"{API}/staff/products/credit-2/versions", json={"terms": terms | {"grades": fee}}, headers=risk
    )
    assert _error(unlawful) == (422, "cost_above_legal_cap")
    float_rate = client.post(
        f"{API}/staff/products/credit-2/versions",
        json={"terms": terms | {"monthly_fee_rate": 0.001}},
        headers=risk,
    )
    assert _error(float_rate) == (422, "invalid_request")
    inconsistent = client.post(
        f"{API}/staff/products/credit-2/versions",
        json={"terms": terms | {"amount_min": "0.01", "amount_max": "0.01"}},
        headers=risk,
    )
    assert inconsistent.status_code == 201  # tiny but consistent
    bad = client.post(
        f"{API}/staff/products/credit-2/versions",
        json={"terms": terms | {"term_min_months": 40}},
        headers=risk,
    )
    assert (
        _error(bad) == (422, "invalid_product_terms")
        and bad.json()["error"]["details"]["field"] == "term_min_months"
    )
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ProductVersion)) == 6
    listed = client.get(f"{API}/staff/products", headers=officer["headers"]).json()
    assert [v["version"] for v in listed[-1]["versions"]] == [2, 1]


def test_lpr_history_and_refusals(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    risk = _staff(client, session_factory, Role.RISK_OFFICER)
    history = client.get(f"{API}/staff/lpr", headers=risk).json()
    assert (len(history), history[0]["effective_date"], history[0]["rate"]) == (13, "2025-05-20", "0.03")
    added = client.post(
        f"{API}/staff/lpr", json={"effective_date": "2026-12-21", "rate": "0.0295"}, headers=risk
    )
    assert added.status_code == 201 and added.json()["rate"] == "0.0295"
    again = client.post(
        f"{API}/staff/lpr", json={"effective_date": "2026-12-21", "rate": "0.03"}, headers=risk
    )
    assert _error(again) == (409, "lpr_date_taken")
    for bad in (
        {"effective_date": "2026-12-22", "rate": "0.5"},
        {"effective_date": "2026-12-22", "rate": 0.03},
    ):
        assert client.post(f"{API}/staff/lpr", json=bad, headers=risk).status_code == 422
    assert len(client.get(f"{API}/staff/lpr", headers=risk).json()) == 14


def test_blacklist_add_list_remove(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    risk = _staff(client, session_factory, Role.RISK_OFFICER)
    number = builders.valid_id_number()
    added = client.post(
        f"{API}/staff/blacklist",
        json={"id_number": number, "kind": "related_party", "reason": "股东"},
        headers=risk,
    )
    assert added.status_code == 201, added.text
    entry = added.json()
    assert entry["id_number_masked"] == number[:3] + "*" * 11 + number[-4:]
    assert number not in added.text
    duplicate = client.post(
        f"{API}/staff/blacklist", json={"id_number": number, "kind": "blacklist", "reason": "x"}, headers=risk
    )
    assert _error(duplicate) == (409, "already_blacklisted")
    invalid = client.post(
        f"{API}/staff/blacklist", json={"id_number": "123", "kind": "blacklist", "reason": "x"}, headers=risk
    )
    assert _error(invalid) == (422, "invalid_id_number")
    assert [e["id"] for e in client.get(f"{API}/staff/blacklist", headers=risk).json()] == [entry["id"]]
    removed = client.delete(f"{API}/staff/blacklist/{entry['id']}", headers=risk)
    assert removed.json()["removed_at"] is not None
    assert _error(client.delete(f"{API}/staff/blacklist/{entry['id']}", headers=risk)) == (
        404,
        "blacklist_entry_not_found",
    )
    assert client.get(f"{API}/staff/blacklist", headers=risk).json() == []


def test_partner_referral_and_offline_entry(
    client: TestClient,
    borrower: dict[str, Any],
    officer: dict[str, Any],
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
) -> None:
    partner_phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_organisation(session, bank, phone=partner_phone)
        company = builders.make_organisation(session, bank, roles=["borrower"], name="上海某贸易有限公司")
        company_phone = identity.phone_of(session, company.id)
    partner = sign_in(client, partner_phone)
    referred = client.post(
        f"{API}/partner/referrals",
        json=_body(
            borrower_phone=company_phone,
            product_code="p2b",
            amount="300000.00",
            purpose="working_capital",
            institution_type="micro_loan",
            institution_risk_tier=2,
        ),
        headers=partner,
    )
    assert referred.status_code == 201, referred.text
    assert (referred.json()["channel"], referred.json()["grade"]) == ("partner", "B")
    assert [a["id"] for a in client.get(f"{API}/partner/referrals", headers=partner).json()["items"]] == [
        referred.json()["id"]
    ]
    unknown = client.post(
        f"{API}/partner/referrals", json=_body(borrower_phone="13999999999"), headers=partner
    )
    assert _error(unknown) == (404, "user_not_found")
    offline = client.post(
        f"{API}/staff/applications",
        json=_body(borrower_id=borrower["id"], branch_code="SH-PD-02"),
        headers=officer["headers"],
    )
    assert offline.status_code == 201, offline.text
    assert (offline.json()["channel"], offline.json()["branch_code"], offline.json()["entered_by"]) == (
        "offline",
        "SH-PD-02",
        officer["id"],
    )
    bad_status = client.get(
        f"{API}/staff/applications", params={"status": "lost"}, headers=officer["headers"]
    )
    assert _error(bad_status) == (422, "invalid_input")


def test_a_version_sets_the_order_part_payments_are_applied_in(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    risk = _staff(client, session_factory, Role.RISK_OFFICER)
    terms = client.get(f"{API}/products").json()[0]["current"]["terms"]
    assert terms["repayment_order"] == "components"  # R32, the default
    added = client.post(
        f"{API}/staff/products/credit/versions",
        json={"terms": terms | {"repayment_order": "installments"}},
        headers=risk,
    )
    assert added.status_code == 201, added.text
    assert added.json()["terms"]["repayment_order"] == "installments"
    bogus = client.post(
        f"{API}/staff/products/credit/versions",
        json={"terms": terms | {"repayment_order": "principal_first"}},
        headers=risk,
    )
    assert _error(bogus) == (422, "invalid_request")
