"""机构债权 (P2B) pages: the partner institution's /partner/claims (submit, repay, re-offer),
staff's /staff/partner-claims (approve, reject), and the P2B label with its warning on every
page that shows a partner claim's loan, holding or transfer — in Chinese and English."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.marketplace import service as marketplace
from p2plend.p2b import service as p2b
from p2plend.servicing import service as servicing
from p2plend.transfers import service as transfers
from tests import lending
from tests.p2b import claims
from tests.web.conftest import WebUser, csrf_of, sign_in
from tests.web.test_lending_pages import field_error, web_user
from tests.web.test_pages import assert_translated
from tests.web.test_staff import sign_in_staff

MakeUser = Callable[..., WebUser]
PAGE = "/partner/claims"
STAFF_PAGE = "/staff/partner-claims"
FIRST_DUE = date(2026, 12, 28)  # the first installment of claims.AMOUNT, approved on 2026-11-28
FORM = {
    "institution_type": "micro_loan",
    "institution_risk_tier": "2",
    "debtor_kind": "person",
    "debtor_name": "陈小明",
    "industry": "retail",
    "region": "广东省深圳市",
    "purpose": "business",
    "project_summary": "店铺周转",
    "monthly_income": "12000.00",
    "liabilities": "0",
    "credit_overdues_6m": "0",
    "repayment_source": "经营收入",
    "amount": "12000.00",
    "annual_rate": "4",
    "method": "equal_installment",
    "term_months": "12",
    "original_value_date": "2026-11-01",
    "guarantor_id": "",
    "repurchase_dpd": "30",
    "discount": "1",
}


@dataclass
class Book:
    sessions: sessionmaker[Session]
    bank: SimulatedBank
    institution: int
    claim_id: int
    loan_id: int
    investor: int


def _bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


@pytest.fixture
def book(app: FastAPI, session_factory: sessionmaker[Session]) -> Book:
    """An approved claim of which an investor bought 6,000.00 (6,000.00 still on offer)."""
    bank = _bank(app)
    institution = claims.make_institution(session_factory, bank)
    claim_id, loan_id = claims.approved(session_factory, institution)
    [investor] = lending.make_investors(session_factory, bank, [1_000_000])
    claims.buy(session_factory, bank, claims.listing_of(session_factory, claim_id), investor, 600_000)
    return Book(session_factory, bank, institution, claim_id, loan_id, investor)


def _partner(client: TestClient, sessions: sessionmaker[Session], institution: int) -> None:
    client.cookies.clear()
    sign_in(client, web_user(sessions, institution))


def _post(client: TestClient, page: str, action: str, data: dict[str, str]) -> Any:
    return client.post(action, data={"csrf_token": csrf_of(client.get(page).text), **data})


def _row_error(html: str, claim_id: int) -> str:
    found = re.search(rf'id="e-row-{claim_id}" role="alert">([^<]*)<', html)
    assert found is not None, f"no error on the row of claim {claim_id}"
    return found.group(1)


def _open_listings(sessions: sessionmaker[Session], loan_id: int) -> list[Any]:
    with sessions() as session:
        return [
            row for row in transfers.listings_of(session, status=transfers.OPEN) if row.loan_id == loan_id
        ]


# --- the partner institution's page ----------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_partner_page_renders_in_both_languages(client: TestClient, book: Book, locale: str) -> None:
    _partner(client, book.sessions, book.institution)
    page = client.get(f"{PAGE}?lang={locale}")
    assert page.status_code == 200, page.text
    html = page.text
    assert_translated(html, locale)
    assert 'href="/partner/claims" aria-current="page"' in html and 'href="/partner/referrals"' in html
    assert 'data-testid="claim-form"' in html and 'data-testid="p2b-warning"' in html
    assert f'data-p2b-loan="{book.loan_id}"' in html
    assert f'data-testid="sold-{book.claim_id}">¥6,000.00<' in html
    assert f'data-testid="unsold-{book.claim_id}">¥6,000.00<' in html
    assert f'data-testid="repay-{book.claim_id}"' in html
    assert f'data-testid="offer-{book.claim_id}"' not in html  # its listing is still open
    assert f'data-testid="listing-{book.claim_id}"' in html
    assert f'data-testid="next-due-{book.claim_id}">2026-12-28 · ¥1,021.80' in html


def test_the_partner_submits_a_claim(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    institution = claims.make_institution(session_factory, _bank(app))
    _partner(client, session_factory, institution)
    done = _post(client, PAGE, PAGE, FORM)
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?notice=p2b.submitted"
    shown = client.get(done.headers["location"]).text
    assert "机构债权已提交" in shown and "待审核" in shown
    with session_factory() as session:
        [claim] = p2b.claims(session, institution_id=institution)
        assert (claim.amount, claim.annual_rate, claim.discount_rate) == (
            1_200_000,
            Decimal("0.04"),
            Decimal("0.01"),
        )
        assert (claim.repurchase_dpd, claim.status, claim.guarantor_id) == (30, "submitted", None)
        assert claim.disclosure["borrower_name_masked"] == "陈**"
    assert "陈小明" not in shown


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"amount": "200000.01"}, "amount", "借款上限 200000.00 元"),
        ({"amount": "abc"}, "amount", ""),
        ({"annual_rate": "abc"}, "annual_rate", "年利率"),
        ({"annual_rate": "40"}, "annual_rate", ""),  # R29: above 4 × LPR
        ({"term_months": "1"}, "term_months", "转让市场可交易"),
        ({"method": "bullet"}, "method", "等额本息"),
        ({"purpose": "stocks"}, "purpose", "允许的借款用途"),
        ({"project_summary": "用于炒股"}, "project_summary", "禁止用途"),
        ({"debtor_name": ""}, "debtor_name", "债务人姓名"),
        ({"discount": "6"}, "discount", "折价"),
        ({"repurchase_dpd": "x"}, "repurchase_dpd", "回购天数"),
        ({"original_value_date": "2027-01-01"}, "original_value_date", "不能晚于今天"),
        ({"original_value_date": "soon"}, "original_value_date", "YYYY-MM-DD"),
        ({"institution_risk_tier": "9"}, "institution_risk_tier", "1 至 5"),
        ({"guarantor_id": "999999"}, "guarantor_id", ""),
    ],
)
def test_a_bad_field_is_shown_under_it_and_nothing_is_stored(
    client: TestClient,
    app: FastAPI,
    session_factory: sessionmaker[Session],
    change: dict[str, str],
    field: str,
    says: str,
) -> None:
    institution = claims.make_institution(session_factory, _bank(app))
    _partner(client, session_factory, institution)
    refused = _post(client, PAGE, PAGE, FORM | change)
    assert 400 <= refused.status_code < 500, refused.text
    message = field_error(refused.text, field)
    assert message and says in message
    assert 'value="广东省深圳市"' in refused.text  # what was typed is shown again
    with session_factory() as session:
        assert p2b.claims(session, institution_id=institution) == []


def test_the_partner_repays_and_re_offers_what_is_unsold(client: TestClient, book: Book) -> None:
    lending.go_to(FIRST_DUE)  # then sign in: a session does not last a month
    _partner(client, book.sessions, book.institution)
    paid = _post(client, PAGE, f"{PAGE}/{book.claim_id}/repay", {"request_key": "p2b-web-repay-0001"})
    assert paid.status_code == 303 and paid.headers["location"] == f"{PAGE}?notice=p2b.repaid"
    with book.sessions() as session:
        [repayment] = servicing.repayments_of_loan(session, book.loan_id)
        assert repayment.principal + repayment.interest == 102_180
    assert _open_listings(book.sessions, book.loan_id) == []  # the payment closed the listing (R40)
    page = client.get(PAGE).text
    assert f'data-testid="offer-{book.claim_id}"' in page
    # Today is a due date: the market refuses, on the claim's row, and nothing is listed.
    refused = _post(client, PAGE, f"{PAGE}/{book.claim_id}/offer", {"discount": "1"})
    assert 400 <= refused.status_code < 500, refused.text
    assert "还款日" in _row_error(refused.text, book.claim_id)
    assert _open_listings(book.sessions, book.loan_id) == []
    lending.go_to(FIRST_DUE + timedelta(days=8))
    _partner(client, book.sessions, book.institution)
    bad = _post(client, PAGE, f"{PAGE}/{book.claim_id}/offer", {"discount": "9"})
    assert 400 <= bad.status_code < 500 and _row_error(bad.text, book.claim_id)
    assert _open_listings(book.sessions, book.loan_id) == []
    offered = _post(client, PAGE, f"{PAGE}/{book.claim_id}/offer", {"discount": "1"})
    assert offered.status_code == 303 and offered.headers["location"] == f"{PAGE}?notice=p2b.offered"
    [listing] = _open_listings(book.sessions, book.loan_id)
    assert (listing.seller_id, listing.discount_rate) == (book.institution, Decimal("0.01"))
    with book.sessions() as session:
        view = p2b.view(session, p2b.get_claim(session, book.claim_id))
        assert listing.principal == view.unsold
    assert f'data-testid="listing-{book.claim_id}"' in client.get(PAGE).text


def test_a_resent_repay_form_pays_once(client: TestClient, book: Book) -> None:
    lending.go_to(FIRST_DUE)  # then sign in: a session does not last a month
    _partner(client, book.sessions, book.institution)
    token = csrf_of(client.get(PAGE).text)
    data = {"csrf_token": token, "request_key": "p2b-web-repay-0002"}
    assert client.post(f"{PAGE}/{book.claim_id}/repay", data=data).status_code == 303
    assert client.post(f"{PAGE}/{book.claim_id}/repay", data=data).status_code == 303
    with book.sessions() as session:
        assert len(servicing.repayments_of_loan(session, book.loan_id)) == 1


def test_the_partner_page_is_the_institutions_only(
    client: TestClient, book: Book, make_web_user: MakeUser
) -> None:
    lending.go_to(FIRST_DUE)
    assert client.get(PAGE).status_code == 303  # sign in first
    sign_in(client, web_user(book.sessions, book.investor))
    assert client.get(PAGE).status_code == 403
    assert 'href="/partner/claims"' not in client.get("/account").text
    token = csrf_of(client.get("/account").text)
    repaid = client.post(f"{PAGE}/{book.claim_id}/repay", data={"csrf_token": token})
    assert repaid.status_code == 403
    other = claims.make_institution(book.sessions, book.bank)
    _partner(client, book.sessions, other)
    refused = _post(client, PAGE, f"{PAGE}/{book.claim_id}/repay", {})
    assert refused.status_code == 404
    with book.sessions() as session:
        assert servicing.repayments_of_loan(session, book.loan_id) == []
    _staff(client, make_web_user, Role.RISK_OFFICER)
    assert client.get(PAGE).status_code == 403


# --- staff review ----------------------------------------------------------------------------------


def _staff(client: TestClient, make_web_user: MakeUser, role: Role) -> WebUser:
    client.cookies.clear()
    return sign_in_staff(client, make_web_user, role)


def _refused_decision(
    client: TestClient, sessions: sessionmaker[Session], claim_id: int, data: dict[str, str], field: str
) -> str:
    """Post a decision the service refuses: 422, the message under ``field``, the claim untouched."""
    action = f"{STAFF_PAGE}/{claim_id}/decision"
    refused = _post(client, STAFF_PAGE, action, data)
    assert refused.status_code == 422
    says = {"grade": "信用等级", "reason": "拒绝原因"}[field]
    assert says in field_error(refused.text, f"{field}-{claim_id}")
    with sessions() as session:
        assert p2b.get_claim(session, claim_id).status == "submitted"
    return action


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_staff_see_the_claims_with_the_disclosure(
    client: TestClient,
    app: FastAPI,
    session_factory: sessionmaker[Session],
    locale: str,
    make_web_user: MakeUser,
) -> None:
    institution = claims.make_institution(session_factory, _bank(app))
    claim_id = claims.submitted(session_factory, institution, repurchase_dpd=30)
    _staff(client, make_web_user, Role.RISK_OFFICER)
    page = client.get(f"{STAFF_PAGE}?status=submitted&lang={locale}")
    assert page.status_code == 200, page.text
    html = page.text
    assert_translated(html, locale)
    assert f'data-claim="{claim_id}"' in html and claims.INSTITUTION in html
    assert "陈**" in html and "陈小明" not in html  # masked as the API shows it
    assert f'data-testid="approve-{claim_id}"' in html and f'data-testid="reject-{claim_id}"' in html
    repurchase = re.search(rf'data-testid="repurchase-{claim_id}">([^<]*)<', html)
    assert repurchase is not None and "30" in repurchase.group(1)
    assert f'data-claim="{claim_id}"' not in client.get(f"{STAFF_PAGE}?status=approved").text
    assert 'href="/staff/partner-claims"' in client.get(f"/staff?lang={locale}").text


def test_staff_approve_with_a_grade(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session], make_web_user: MakeUser
) -> None:
    institution = claims.make_institution(session_factory, _bank(app))
    claim_id = claims.submitted(session_factory, institution)
    officer = _staff(client, make_web_user, Role.RISK_OFFICER)
    action = _refused_decision(
        client, session_factory, claim_id, {"decision": "approve", "grade": ""}, "grade"
    )
    done = _post(client, STAFF_PAGE, action, {"decision": "approve", "grade": "B"})
    assert done.status_code == 303 and done.headers["location"] == f"{STAFF_PAGE}?notice=p2b.approved"
    with session_factory() as session:
        claim = p2b.get_claim(session, claim_id)
        assert (claim.status, claim.grade, claim.decided_by) == ("approved", "B", officer.user_id)
        assert claim.loan_id is not None
        assert marketplace.get_loan(session, claim.loan_id).product_kind == marketplace.PARTNER_CLAIM
        actions = [
            (r.action, r.actor_id)
            for r in audit.list_records(session, object_type="partner_claim", object_id=claim_id)
        ]
        assert ("p2b.claim_approved", officer.user_id) in actions
    again = _post(client, STAFF_PAGE, action, {"decision": "reject", "reason": "x"})
    assert again.status_code == 409


def test_staff_reject_with_a_reason(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session], make_web_user: MakeUser
) -> None:
    institution = claims.make_institution(session_factory, _bank(app))
    claim_id = claims.submitted(session_factory, institution)
    officer = _staff(client, make_web_user, Role.RISK_OFFICER)
    action = _refused_decision(
        client, session_factory, claim_id, {"decision": "reject", "reason": "  "}, "reason"
    )
    done = _post(client, STAFF_PAGE, action, {"decision": "reject", "reason": "债务人材料不全"})
    assert done.status_code == 303
    with session_factory() as session:
        claim = p2b.get_claim(session, claim_id)
        assert (claim.status, claim.reason, claim.loan_id) == ("rejected", "债务人材料不全", None)
        actions = [
            r.action for r in audit.list_records(session, object_type="partner_claim", object_id=claim_id)
        ]
        assert "p2b.claim_rejected" in actions
        assert officer.user_id == claim.decided_by
    _partner(client, session_factory, institution)
    mine = client.get(PAGE).text
    assert "已拒绝" in mine and "债务人材料不全" in mine


def test_staff_who_only_read_see_no_forms_and_others_none(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session], make_web_user: MakeUser
) -> None:
    institution = claims.make_institution(session_factory, _bank(app))
    claim_id = claims.submitted(session_factory, institution)
    action = f"{STAFF_PAGE}/{claim_id}/decision"
    _staff(client, make_web_user, Role.FINANCE)  # staff:reports:read
    page = client.get(STAFF_PAGE)
    assert page.status_code == 200 and f'data-claim="{claim_id}"' in page.text
    assert f'data-testid="approve-{claim_id}"' not in page.text
    token = csrf_of(page.text)
    assert (
        client.post(action, data={"csrf_token": token, "decision": "approve", "grade": "B"}).status_code
        == 403
    )
    _staff(client, make_web_user, Role.COLLECTOR)
    assert client.get(STAFF_PAGE).status_code == 403
    assert 'href="/staff/partner-claims"' not in client.get("/staff").text
    _partner(client, session_factory, institution)
    assert client.get(STAFF_PAGE).status_code == 403
    with session_factory() as session:
        assert p2b.get_claim(session, claim_id).status == "submitted"


# --- the label everywhere else --------------------------------------------------------------------


def _ordinary(book: Book) -> tuple[int, int]:
    """An ordinary loan and its investor (no P2B)."""
    borrower = lending.make_borrower(book.sessions, book.bank)
    investor, other = lending.make_investors(book.sessions, book.bank, [1_000_000, 1_000_000])
    terms = lending.listing_terms(borrower, amount=100_000, months=3)
    loan_id = lending.funded_loan(book.sessions, book.bank, terms, [(investor, 50_000), (other, 50_000)])
    return loan_id, investor


def _holding_of(sessions: sessionmaker[Session], holder: int, loan_id: int) -> int:
    with sessions() as session:
        [holding] = [h for h in marketplace.holdings_of_holder(session, holder) if h.loan_id == loan_id]
        return holding.id


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_label_is_on_every_page_of_a_partner_claim_and_nowhere_else(
    client: TestClient, book: Book, locale: str, make_web_user: MakeUser
) -> None:
    plain, plain_investor = _ordinary(book)
    label = "机构债权（P2B）" if locale == "zh" else "Partner claim (P2B)"
    warning = "信用链条更长" if locale == "zh" else "a longer credit chain"
    investor_pages = (
        "/portfolio",
        "/portfolio/calendar",
        "/transfers/mine",
        f"/transfers/sell/{_holding_of(book.sessions, book.investor, book.loan_id)}",
    )
    sign_in(client, web_user(book.sessions, book.investor))
    for path in investor_pages:
        page = client.get(f"{path}?lang={locale}")
        assert page.status_code == 200, (path, page.text)
        assert_translated(page.text, locale)
        assert f'data-p2b-loan="{book.loan_id}"' in page.text and label in page.text, path
        assert 'data-testid="p2b-warning"' in page.text and warning in page.text, path
    client.cookies.clear()
    sign_in(client, web_user(book.sessions, plain_investor))
    for path in (*investor_pages[:3], f"/transfers/sell/{_holding_of(book.sessions, plain_investor, plain)}"):
        page = client.get(f"{path}?lang={locale}")
        assert page.status_code == 200, (path, page.text)
        assert 'data-testid="p2b-label"' not in page.text and label not in page.text, path
    _staff(client, make_web_user, Role.RISK_OFFICER)
    for path in ("/staff/loans", "/staff/transfers", f"/staff/loans/{book.loan_id}"):
        page = client.get(f"{path}?lang={locale}")
        assert page.status_code == 200, (path, page.text)
        assert_translated(page.text, locale)
        assert f'data-p2b-loan="{book.loan_id}"' in page.text and warning in page.text, path
        assert f'data-p2b-loan="{plain}"' not in page.text, path
    detail = client.get(f"/staff/loans/{plain}?lang={locale}").text
    assert 'data-testid="p2b-label"' not in detail and 'data-testid="p2b-warning"' not in detail
