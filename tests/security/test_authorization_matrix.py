"""Who may call what: every API endpoint and every page × every role, against a declared table.

The tables below are the policy, written down by hand — not read from the code's own
dependencies — so a loosened permission fails here. An endpoint or page missing from its
table fails too: whoever adds one must say who may use it.

The API: a visitor without a token gets ``401 unauthenticated``; a role not in the row gets
``403 permission_denied`` — both before the request is validated, so the probes send an
empty body and ids that name nothing. A role in the row must get past the check: any answer
but those two (a 404, 422 or 409 is fine; a 403 with a business code such as
``real_name_required`` is the service speaking, not the gate).

The pages: a visitor is sent to the sign-in page (303 to ``/login``); a signed-in user of the
wrong role gets the 403 page.
"""

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from p2plend.identity.permissions import Role
from tests.security.conftest import ANONYMOUS, ROLES, World
from tests.security.routes import api_endpoints, concrete, page_routes
from tests.web.conftest import csrf_of

INV, BOR, GUA, PAR = "investor", "borrower", "guarantor", "partner_institution"
ADM, RISK, COL, CS = "admin", "risk_officer", "collector", "customer_service"
OPS, FIN, CMP = "operations", "finance", "compliance"

CUSTOMERS = frozenset({INV, BOR, GUA, PAR})
STAFF = frozenset({ADM, RISK, COL, CS, OPS, FIN, CMP})
SIGNED_IN = CUSTOMERS | STAFF
EVERYONE = SIGNED_IN | {ANONYMOUS}
NOBODY: frozenset[str] = frozenset()

# Staff groups, by what the job needs (DOMAIN.md; permissions.py is what this checks).
USER_READERS = frozenset({ADM, RISK, COL, CS, OPS, CMP})
REPORT_READERS = frozenset({ADM, OPS, FIN, CMP})
RISK_OR_REPORTS = REPORT_READERS | {RISK}
REVIEWERS = frozenset({RISK})
COLLECTION_WORKERS = frozenset({COL, RISK})
AUDITORS = frozenset({ADM, CMP})


def only(*roles: str) -> frozenset[str]:
    return frozenset(roles)


# "METHOD path" → the roles that may call it.
API_POLICY: dict[str, frozenset[str]] = {
    "GET /healthz": EVERYONE,
    "GET /metrics": EVERYONE,
    # identity
    "POST /api/v1/auth/sms-code": EVERYONE,
    "POST /api/v1/auth/register": EVERYONE,
    "POST /api/v1/auth/login": EVERYONE,
    "POST /api/v1/auth/logout": SIGNED_IN,
    "POST /api/v1/auth/password-reset/sms-code": EVERYONE,
    "POST /api/v1/auth/password-reset": EVERYONE,
    "GET /api/v1/me": SIGNED_IN,
    "POST /api/v1/me/password": SIGNED_IN,
    "POST /api/v1/me/2fa/enroll": SIGNED_IN,
    "POST /api/v1/me/2fa/confirm": SIGNED_IN,
    "POST /api/v1/me/real-name": SIGNED_IN,
    "GET /api/v1/me/cards": SIGNED_IN,
    "POST /api/v1/me/cards": SIGNED_IN,
    "DELETE /api/v1/me/cards/{card_id}": SIGNED_IN,
    "GET /api/v1/staff/users": USER_READERS,
    "POST /api/v1/staff/staff-users": only(ADM),
    "POST /api/v1/staff/partners": only(ADM),
    "PUT /api/v1/staff/users/{user_id}/roles/{role}": only(ADM),
    "DELETE /api/v1/staff/users/{user_id}/roles/{role}": only(ADM),
    "PUT /api/v1/staff/users/{user_id}/status": only(ADM),
    "POST /api/v1/staff/users/{user_id}/2fa/reset": only(ADM),
    # suitability
    "GET /api/v1/risk-assessment/questionnaire": EVERYONE,
    "POST /api/v1/me/risk-assessment": only(INV),
    "GET /api/v1/me/risk-assessment": SIGNED_IN,
    # custody
    "POST /api/v1/deposits": CUSTOMERS,
    "GET /api/v1/deposits/{order_no}": CUSTOMERS,
    "POST /api/v1/withdrawals": CUSTOMERS,
    "GET /api/v1/withdrawals/{order_no}": CUSTOMERS,
    "GET /api/v1/me/account": CUSTOMERS,
    "POST /api/v1/custody/callbacks": EVERYONE,  # the bank's: its HMAC signature is the check
    "POST /api/v1/staff/custody/reconciliations": only(FIN),
    "GET /api/v1/staff/custody/reconciliations": only(FIN),
    "GET /api/v1/staff/custody/anomalies": only(FIN),
    "GET /api/v1/staff/custody/voided-instructions": only(FIN),
    "POST /api/v1/staff/custody/orphan-sweeps": only(FIN),
    # notifications, audit
    "GET /api/v1/me/messages": SIGNED_IN,
    "POST /api/v1/me/messages/{message_id}/read": SIGNED_IN,
    "GET /api/v1/staff/audit": AUDITORS,
    "GET /api/v1/staff/audit/verification": AUDITORS,
    # origination
    "GET /api/v1/products": EVERYONE,
    "POST /api/v1/applications": SIGNED_IN,
    "GET /api/v1/applications": SIGNED_IN,
    "GET /api/v1/applications/{application_id}": SIGNED_IN,
    "POST /api/v1/applications/{application_id}/cancel": SIGNED_IN,
    "POST /api/v1/applications/{application_id}/resubmit": SIGNED_IN,
    "POST /api/v1/applications/{application_id}/documents": SIGNED_IN,
    "GET /api/v1/applications/{application_id}/documents/{document_id}": SIGNED_IN,
    "POST /api/v1/partner/referrals": only(PAR),
    "GET /api/v1/partner/referrals": only(PAR),
    "GET /api/v1/staff/products": only(RISK, OPS),
    "POST /api/v1/staff/products": only(RISK),
    "POST /api/v1/staff/products/{code}/versions": only(RISK),
    "GET /api/v1/staff/lpr": only(RISK, OPS),
    "POST /api/v1/staff/lpr": only(RISK, OPS),
    "GET /api/v1/staff/applications": REVIEWERS,
    "GET /api/v1/staff/applications/{application_id}": REVIEWERS,
    "POST /api/v1/staff/applications": only(RISK, OPS),
    "POST /api/v1/staff/applications/{application_id}/field-verifications": REVIEWERS,
    "POST /api/v1/staff/applications/{application_id}/decisions": REVIEWERS,
    "GET /api/v1/staff/blacklist": only(RISK),
    "POST /api/v1/staff/blacklist": only(RISK),
    "DELETE /api/v1/staff/blacklist/{entry_id}": only(RISK),
    # working-day calendar, end of day
    "GET /api/v1/staff/calendar": only(OPS),
    "PUT /api/v1/staff/calendar/{day}": only(OPS),
    "DELETE /api/v1/staff/calendar/{day}": only(OPS),
    "GET /api/v1/staff/eod": RISK_OR_REPORTS,
    "POST /api/v1/staff/eod/run": only(OPS),
    "GET /api/v1/staff/overdue": RISK_OR_REPORTS,
    "GET /api/v1/staff/loans/{loan_id}/risk-history": RISK_OR_REPORTS,
    "GET /api/v1/staff/figures": RISK_OR_REPORTS,
    # collections
    "GET /api/v1/staff/collections/cases": COLLECTION_WORKERS,
    "GET /api/v1/staff/collections/queue": only(COL),
    "GET /api/v1/staff/collections/cases/{case_id}": COLLECTION_WORKERS,
    "POST /api/v1/staff/collections/cases/{case_id}/actions": COLLECTION_WORKERS,
    "PUT /api/v1/staff/collections/cases/{case_id}/collector": only(RISK),
    "GET /api/v1/staff/collections/collectors": COLLECTION_WORKERS,
    "GET /api/v1/staff/collections/strategies": COLLECTION_WORKERS,
    "PUT /api/v1/staff/collections/strategies/{stage}": only(RISK),
    "GET /api/v1/staff/collections/kpi": RISK_OR_REPORTS,
    "GET /api/v1/staff/collections/analysis": RISK_OR_REPORTS,
    "GET /api/v1/staff/write-offs": RISK_OR_REPORTS,
    "GET /api/v1/staff/write-offs/{write_off_id}": RISK_OR_REPORTS,
    "POST /api/v1/staff/write-offs": only(RISK),
    "POST /api/v1/staff/write-offs/{write_off_id}/approve": only(FIN),
    "POST /api/v1/staff/write-offs/{write_off_id}/reject": only(FIN),
    # the lending market
    "GET /api/v1/listings": EVERYONE,
    "GET /api/v1/listings/{loan_id}": EVERYONE,
    "POST /api/v1/listings/{loan_id}/bids": only(INV),
    "GET /api/v1/me/bids": only(INV),
    "GET /api/v1/staff/loans": REVIEWERS,
    "GET /api/v1/staff/loans/{loan_id}": REVIEWERS,
    "POST /api/v1/staff/loans/{loan_id}/open": REVIEWERS,
    "POST /api/v1/staff/loans/{loan_id}/withdraw": REVIEWERS,
    "POST /api/v1/staff/loans/{loan_id}/disburse": REVIEWERS,
    "POST /api/v1/staff/listings/expire": REVIEWERS,
    # auto-bid
    "GET /api/v1/me/autobid": only(INV),
    "PUT /api/v1/me/autobid": only(INV),
    "POST /api/v1/me/autobid/authorisation": only(INV),
    "POST /api/v1/me/autobid/enable": only(INV),
    "POST /api/v1/me/autobid/disable": only(INV),
    "GET /api/v1/me/autobid/decisions": only(INV),
    "GET /api/v1/me/autobid/explain/{loan_id}": only(INV),
    "GET /api/v1/staff/autobid": RISK_OR_REPORTS,
    "POST /api/v1/staff/listings/{loan_id}/autobid": REVIEWERS,
    "GET /api/v1/staff/listings/{loan_id}/autobid": RISK_OR_REPORTS,
    # a borrower's loans
    "GET /api/v1/me/loans": only(BOR),
    "GET /api/v1/me/loans/{loan_id}": only(BOR),
    "POST /api/v1/me/loans/{loan_id}/repayments": only(BOR),
    "GET /api/v1/me/loans/{loan_id}/early-repayment": only(BOR),
    "POST /api/v1/me/loans/{loan_id}/early-repayments": only(BOR),
    # the transfer market
    "GET /api/v1/transfers": EVERYONE,
    "GET /api/v1/transfers/{listing_id}": EVERYONE,
    "GET /api/v1/transfers/{listing_id}/purchase-quote": only(INV),
    "POST /api/v1/transfers/{listing_id}/buy": only(INV),
    "GET /api/v1/me/holdings/{holding_id}/transfer-quote": only(INV),
    "POST /api/v1/me/transfers": only(INV),
    "POST /api/v1/me/transfers/{listing_id}/cancel": only(INV),
    "GET /api/v1/me/transfers": only(INV),
    "GET /api/v1/staff/transfers": RISK_OR_REPORTS,
    "POST /api/v1/staff/transfers/expire": REVIEWERS,
    # calculators, statements, portfolio
    "POST /api/v1/calculator/schedule": EVERYONE,
    "POST /api/v1/calculator/returns": EVERYONE,
    "GET /api/v1/me/portfolio": only(INV),
    "GET /api/v1/me/portfolio.csv": only(INV),
    "GET /api/v1/me/calendar": only(INV),
    "GET /api/v1/me/calendar.csv": only(INV),
    "GET /api/v1/me/loans/{loan_id}/schedule.csv": only(BOR),
    "POST /api/v1/me/portfolio-plans": only(INV),
    "GET /api/v1/me/portfolio-plans": only(INV),
    "GET /api/v1/me/portfolio-plans/{plan_id}": only(INV),
    "GET /api/v1/me/portfolio/concentration": only(INV),
    "GET /api/v1/me/recommendations": only(INV),
    # guarantee, risk reserve
    "GET /api/v1/me/guarantee": only(GUA),
    "GET /api/v1/me/guarantee/agreements": only(GUA),
    "GET /api/v1/me/guarantee/compensations": only(GUA),
    "GET /api/v1/staff/guarantors": RISK_OR_REPORTS,
    "PUT /api/v1/staff/guarantors/{guarantor_id}/terms": only(RISK),
    "GET /api/v1/staff/compensations": RISK_OR_REPORTS,
    "GET /api/v1/staff/loans/{loan_id}/guarantee": RISK_OR_REPORTS,
    "GET /api/v1/staff/risk-reserve": RISK_OR_REPORTS,
    "POST /api/v1/staff/risk-reserve/account": only(ADM),
    "PUT /api/v1/staff/risk-reserve": only(ADM),
    "GET /api/v1/staff/risk-reserve/coverages": RISK_OR_REPORTS,
    # partner claims (P2B), compliance
    "POST /api/v1/partner/claims": only(PAR),
    "GET /api/v1/partner/claims": only(PAR),
    "GET /api/v1/partner/claims/{claim_id}": only(PAR),
    "POST /api/v1/partner/claims/{claim_id}/repayments": only(PAR),
    "POST /api/v1/partner/claims/{claim_id}/offers": only(PAR),
    "GET /api/v1/staff/partner-claims": REVIEWERS,
    "POST /api/v1/staff/partner-claims/{claim_id}/decision": REVIEWERS,
    "GET /api/v1/staff/compliance": REPORT_READERS,
    # the simulated bank's own buttons (not served in production: tests/web/test_pages.py)
    "POST /sim-bank/deposits/{order_no}/confirm": EVERYONE,
    "POST /sim-bank/deposits/{order_no}/fail": EVERYONE,
    "POST /sim-bank/withdrawals/{order_no}/pay-out": EVERYONE,
    "POST /sim-bank/withdrawals/{order_no}/fail": EVERYONE,
    "POST /sim-bank/callbacks/deliver": EVERYONE,
}

# "path" → the roles that may open the page (GET).
PAGE_POLICY: dict[str, frozenset[str]] = {
    "/": EVERYONE,
    "/demo/sms": EVERYONE,
    "/calculator/loan": EVERYONE,
    "/calculator/returns": EVERYONE,
    "/register": EVERYONE,
    "/register/sms-code": EVERYONE,
    "/login": EVERYONE,
    "/account": SIGNED_IN,
    "/account/history": SIGNED_IN,
    "/messages": SIGNED_IN,
    "/security/2fa": SIGNED_IN,
    # Reloading an enrolment step only redirects to /security/2fa, which asks for a sign-in.
    "/security/2fa/confirm": EVERYONE,
    "/security/2fa/begin": EVERYONE,
    "/verify": SIGNED_IN,
    "/cards": SIGNED_IN,
    "/risk": only(INV),
    "/deposit": CUSTOMERS,
    "/deposit/check": CUSTOMERS,
    "/deposit/{order_no}": CUSTOMERS,
    "/withdraw": CUSTOMERS,
    "/withdraw/preview": CUSTOMERS,
    "/sim-bank": EVERYONE,
    "/sim-bank/deposits/{order_no}": EVERYONE,
    "/portfolio": only(INV),
    "/portfolio.csv": only(INV),
    "/portfolio/calendar": only(INV),
    "/portfolio/calendar.csv": only(INV),
    "/plans": only(INV),
    "/plans/{plan_id}": only(INV),
    "/recommended": only(INV),
    "/borrow/apply": SIGNED_IN,
    "/borrow/applications": SIGNED_IN,
    "/borrow/applications/{application_id}": SIGNED_IN,
    "/borrow/applications/{application_id}/documents/{document_id}": SIGNED_IN,
    "/partner/referrals": only(PAR),
    "/staff/products": only(RISK, OPS),
    "/staff/products/{code}": only(RISK, OPS),
    "/staff/lpr": only(RISK, OPS),
    "/staff/applications": REVIEWERS,
    "/staff/applications/new": only(RISK, OPS),
    "/staff/applications/{application_id}": REVIEWERS,
    "/staff/applications/{application_id}/documents/{document_id}": REVIEWERS,
    "/staff/blacklist": only(RISK),
    "/invest/autobid": only(INV),
    "/staff/autobid": RISK_OR_REPORTS,
    "/invest": EVERYONE,
    "/invest/bids": only(INV),
    "/invest/{loan_id}": EVERYONE,
    "/borrow/loans": only(BOR),
    "/borrow/loans/{loan_id}": only(BOR),
    "/borrow/loans/{loan_id}/early": only(BOR),
    "/staff/loans": REVIEWERS,
    "/staff/loans/{loan_id}": RISK_OR_REPORTS,  # read-only for readers of the overdue report
    "/transfers": EVERYONE,
    "/transfers/mine": only(INV),
    "/transfers/{listing_id}": EVERYONE,
    "/transfers/sell/{holding_id}": only(INV),
    "/staff/transfers": RISK_OR_REPORTS,
    "/guarantee": only(GUA),
    "/staff/guarantors": RISK_OR_REPORTS,
    "/partner/claims": only(PAR),
    "/staff/partner-claims": RISK_OR_REPORTS,  # read-only; only reviewers see the decision forms
    "/staff": STAFF,
    "/staff/users": USER_READERS,
    "/staff/reconciliation": only(FIN),
    "/staff/reconciliation/{run_id}": only(FIN),
    "/staff/custody/anomalies": only(FIN),
    "/staff/audit": AUDITORS,
    "/staff/calendar": only(OPS),
    "/staff/eod": RISK_OR_REPORTS,
    "/staff/overdue": RISK_OR_REPORTS,
    "/staff/collections/queue": only(COL),
    "/staff/collections/cases": COLLECTION_WORKERS,
    "/staff/collections/cases/{case_id}": COLLECTION_WORKERS,
    "/staff/collections/strategies": COLLECTION_WORKERS,
    "/staff/collections/kpi": RISK_OR_REPORTS,
    "/staff/collections/analysis": RISK_OR_REPORTS,
    "/staff/write-offs": RISK_OR_REPORTS,
    "/staff/compliance": RISK_OR_REPORTS,  # the risk reserve's page; the report itself: REPORT_READERS
}


def error_code(response: Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def call_api(world: World, role: str, endpoint: str) -> Response:
    method, path = endpoint.split(" ", 1)
    client: TestClient = world.api()
    headers = world.api_headers[role]
    if method in ("GET", "DELETE"):
        return client.request(method, concrete(path), headers=headers)
    return client.request(method, concrete(path), headers=headers, json={})


def api_verdict(response: Response) -> str:
    """What the gate said: "unauthenticated", "denied", or "passed" (whatever came next)."""
    code = error_code(response)
    if response.status_code == 401 and code == "unauthenticated":
        return "unauthenticated"
    if response.status_code == 403 and code == "permission_denied":
        return "denied"
    return "passed"


def page_verdict(response: Response) -> str:
    if response.status_code == 303 and response.headers["location"].startswith("/login"):
        return "unauthenticated"
    if response.status_code == 403:
        return "denied"
    return "passed"


def expected_verdict(role: str, allowed: frozenset[str]) -> str:
    if role in allowed:
        return "passed"
    return "unauthenticated" if role == ANONYMOUS else "denied"


def test_every_role_has_a_row() -> None:
    """A new role must be added to the matrices (conftest ROLES) and given its rights here."""
    assert set(ROLES) == {ANONYMOUS, *(role.value for role in Role)}
    assert set(ROLES) == EVERYONE


def test_every_api_endpoint_is_in_the_policy(world: World) -> None:
    endpoints = api_endpoints(world.app)
    assert len(endpoints) > 100  # the enumeration found the routers' endpoints, not just the app's
    unclassified = sorted(endpoints - API_POLICY.keys())
    assert not unclassified, f"say who may call these (API_POLICY): {unclassified}"
    assert not sorted(API_POLICY.keys() - endpoints), "API_POLICY names endpoints that no longer exist"


def test_every_page_is_in_the_policy(world: World) -> None:
    pages = page_routes(world.app)
    unclassified = sorted(pages - PAGE_POLICY.keys())
    assert not unclassified, f"say who may open these pages (PAGE_POLICY): {unclassified}"
    assert not sorted(PAGE_POLICY.keys() - pages), "PAGE_POLICY names pages that no longer exist"


# Logging out ends the token the other endpoints need: probed last, with its own token.
_LOGOUT = "POST /api/v1/auth/logout"


@pytest.mark.parametrize("endpoint", sorted(API_POLICY.keys() - {_LOGOUT}))
def test_api_endpoint_admits_exactly_its_roles(world: World, endpoint: str) -> None:
    allowed = API_POLICY[endpoint]
    wrong = {}
    for role in ROLES:
        response = call_api(world, role, endpoint)
        assert response.status_code != 500, f"{endpoint} as {role}: {response.text}"
        verdict = api_verdict(response)
        if verdict != expected_verdict(role, allowed):
            wrong[role] = f"{response.status_code} {error_code(response)}"
    assert not wrong, f"{endpoint}: {wrong}"


@pytest.mark.parametrize("path", sorted(PAGE_POLICY))
def test_page_admits_exactly_its_roles(world: World, path: str) -> None:
    allowed = PAGE_POLICY[path]
    wrong = {}
    for role in ROLES:
        response = world.pages[role].get(concrete(path))
        assert response.status_code != 500, f"{path} as {role}: {response.text[:500]}"
        verdict = page_verdict(response)
        if verdict != expected_verdict(role, allowed):
            wrong[role] = f"{response.status_code} {response.headers.get('location', '')}"
    assert not wrong, f"{path}: {wrong}"


# The page forms whose permission is checked in the form's own route (not by a staff gate):
# a signed-in user of another role, with a valid CSRF token, gets the 403 page.
FORM_POLICY: dict[str, frozenset[str]] = {
    "/deposit": CUSTOMERS,
    "/withdraw": CUSTOMERS,
    "/risk": only(INV),
}


@pytest.mark.parametrize("form", sorted(FORM_POLICY))
def test_form_refuses_a_signed_in_user_of_another_role(world: World, form: str) -> None:
    for role in sorted(SIGNED_IN - FORM_POLICY[form]):
        browser = world.pages[role]
        token = csrf_of(browser.get("/security/2fa").text)
        response = browser.post(form, data={"csrf_token": token, "amount": "100.00"})
        assert response.status_code == 403, f"{form} as {role}: {response.status_code}"
