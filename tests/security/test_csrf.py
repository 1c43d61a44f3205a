"""CSRF on every state-changing form of the pages (web/csrf.py).

Each POST (PUT, PATCH, DELETE) route of the pages, sent by a signed-in user of the role
that uses the form — without a token, with a forged one in the field, with a forged one in
the HTMX header — gets the 403 "this form has expired" page, and no row of any table is
added or removed. The sign-in and registration forms (signed out) use the double-submit
cookie: the same refusals. A new form route fails here until it is given its poster below,
and then fails if it does not check the token.
"""

import pytest
from sqlalchemy import Engine, inspect, text

from tests.security.conftest import ANONYMOUS, World
from tests.security.routes import concrete, form_routes

INV, BOR, PAR = "investor", "borrower", "partner_institution"
ADM, RISK, COL, OPS, FIN = "admin", "risk_officer", "collector", "operations", "finance"

# "METHOD path" → the role whose form it is.
FORM_POSTERS: dict[str, str] = {
    "POST /register/sms-code": ANONYMOUS,
    "POST /register": ANONYMOUS,
    "POST /login": ANONYMOUS,
    "POST /sim-bank/deposits/{order_no}": ANONYMOUS,  # the simulated bank's payment page
    "POST /logout": INV,
    "POST /messages/{notification_id}/read": INV,
    "POST /security/2fa/begin": INV,
    "POST /security/2fa/confirm": INV,
    "POST /verify": INV,
    "POST /cards": INV,
    "POST /risk": INV,
    "POST /deposit": INV,
    "POST /withdraw": INV,
    "POST /plans": INV,
    "POST /invest/autobid": INV,
    "POST /invest/autobid/authorisation": INV,
    "POST /invest/autobid/enable": INV,
    "POST /invest/autobid/disable": INV,
    "POST /invest/{loan_id}/bid": INV,
    "POST /transfers/{listing_id}/buy": INV,
    "POST /transfers/sell/{holding_id}": INV,
    "POST /transfers/mine/{listing_id}/cancel": INV,
    "POST /borrow/apply": BOR,
    "POST /borrow/applications/{application_id}/cancel": BOR,
    "POST /borrow/applications/{application_id}/resubmit": BOR,
    "POST /borrow/applications/{application_id}/documents": BOR,
    "POST /borrow/loans/{loan_id}/repay": BOR,
    "POST /borrow/loans/{loan_id}/early": BOR,
    "POST /partner/referrals": PAR,
    "POST /partner/claims": PAR,
    "POST /partner/claims/{claim_id}/repay": PAR,
    "POST /partner/claims/{claim_id}/offer": PAR,
    "POST /staff/products": RISK,
    "POST /staff/products/{code}/versions": RISK,
    "POST /staff/lpr": RISK,
    "POST /staff/applications/new": RISK,
    "POST /staff/applications/{application_id}/decisions": RISK,
    "POST /staff/applications/{application_id}/field-verifications": RISK,
    "POST /staff/applications/{application_id}/documents": RISK,
    "POST /staff/blacklist": RISK,
    "POST /staff/blacklist/{entry_id}/remove": RISK,
    "POST /staff/autobid/run": RISK,
    "POST /staff/listings/expire": RISK,
    "POST /staff/loans/{loan_id}/open": RISK,
    "POST /staff/loans/{loan_id}/withdraw": RISK,
    "POST /staff/loans/{loan_id}/disburse": RISK,
    "POST /staff/transfers/expire": RISK,
    "POST /staff/guarantors": RISK,
    "POST /staff/partner-claims/{claim_id}/decision": RISK,
    "POST /staff/collections/cases/{case_id}/assign": RISK,
    "POST /staff/collections/strategies/{stage}": RISK,
    "POST /staff/write-offs": RISK,
    "POST /staff/collections/cases/{case_id}/actions": COL,
    "POST /staff/write-offs/{write_off_id}/{decision}": FIN,
    "POST /staff/reconciliation": FIN,
    "POST /staff/calendar": OPS,
    "POST /staff/calendar/{day}/remove": OPS,
    "POST /staff/eod": OPS,
    "POST /staff/risk-reserve/account": ADM,
    "POST /staff/risk-reserve": ADM,
}

FORGED = "f" * 64
REFUSED = "请求已过期"  # the CSRF page's title (errorpage.csrf.title)


def row_counts(engine: Engine) -> dict[str, int]:
    """How many rows each table holds: a refused form must add or remove none."""
    tables = sorted(inspect(engine).get_table_names())
    counts = ", ".join(f'(SELECT count(*) FROM "{table}")' for table in tables)
    with engine.connect() as connection:
        row = connection.execute(text(f"SELECT {counts}")).one()
    return dict(zip(tables, row, strict=True))


def test_every_form_route_has_a_poster(world: World) -> None:
    routes = form_routes(world.app)
    assert len(routes) > 50
    unclassified = sorted(routes - FORM_POSTERS.keys())
    assert not unclassified, f"say whose form this is (FORM_POSTERS): {unclassified}"
    assert not sorted(FORM_POSTERS.keys() - routes), "FORM_POSTERS names routes that no longer exist"


@pytest.mark.parametrize("route", sorted(FORM_POSTERS))
def test_form_without_a_valid_token_is_refused_and_changes_nothing(world: World, route: str) -> None:
    method, path = route.split(" ", 1)
    browser = world.pages[FORM_POSTERS[route]]
    engine = world.session_factory.kw["bind"]
    before = row_counts(engine)
    attempts = {
        "no token": browser.request(method, concrete(path), data={"amount": "100.00"}),
        "forged field": browser.request(method, concrete(path), data={"csrf_token": FORGED}),
        "forged header": browser.request(method, concrete(path), headers={"X-CSRF-Token": FORGED}),
    }
    for what, response in attempts.items():
        assert response.status_code == 403 and REFUSED in response.text, (
            f"{route} ({what}): {response.status_code}"
        )
    assert row_counts(engine) == before, f"{route} changed the database"
