"""The demo, crawled as each of its people: no personal data in full, nobody else's things.

R47 and DOMAIN.md §11: a person's name, resident ID, phone and card are masked everywhere
outside staff need-to-know — the owner's own pages show them masked too
(tests/web/test_masking.py). The one place that shows them in full is a collection case
(催收案件): the borrower's name and phone, to staff holding ``staff:pii:read``, declared
below by role. Resident IDs and card numbers are shown in full nowhere.

Each demo login signs in on the sign-in page (with its TOTP code), follows every same-site
link from the pages it reaches (a few of each kind of page), and calls every API GET that
needs no id; every answer is searched for the real values, read from the database.

Then: what one person may not see or touch of another's — a plan, a holding, a transfer,
a message, a card, a deposit, a loan, an application — on the API and on the pages.
"""

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.custody.models import DepositOrder
from p2plend.db import make_engine, make_session_factory
from p2plend.identity import pii, records
from p2plend.identity import service as identity
from p2plend.identity.models import BankCard, RealNameIdentity, User
from p2plend.marketplace import service as marketplace
from p2plend.notifications.models import OutboxMessage
from p2plend.origination import service as origination
from p2plend.portfolio import service as portfolio
from p2plend.server import create_app
from p2plend.sim import demo
from p2plend.transfers import service as transfers
from tests import conftest, invariants
from tests.security.routes import api_endpoints
from tests.web.conftest import csrf_of

# Staff who may see a borrower's name and phone in full on a collection case (need-to-know).
PII_READERS = frozenset({"risk_officer", "collector", "compliance"})
CASE_PAGES = (
    re.compile(r"^/staff/collections/cases/\d+$"),
    re.compile(r"^/api/v1/staff/collections/cases/\d+$"),
)

PAGES_PER_KIND = 3  # of /invest/1, /invest/2 … only the first few: they render alike
PAGES_PER_PERSON = 120
_LINK = re.compile(r'href="(/[^"]*)"')
_NOT_FOLLOWED = ("/static/", "/logout", "/api/")


@dataclass(frozen=True)
class Secret:
    owner_id: int
    kind: str  # name, id number, phone, card
    value: str


@dataclass
class Demo:
    app: FastAPI
    client: TestClient
    session_factory: sessionmaker[Session]
    logins: dict[str, demo.DemoLogin]  # phone → login
    secrets: list[Secret]
    # Each sign-in takes the next 30-s TOTP step after the tests' business clock, across the
    # module's tests: a code works once, and each test starts its clock afresh.
    steps: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # Browsers are entered (one outside its block starts an event loop per request) and
    # left with the module.
    clients: ExitStack = field(default_factory=ExitStack)

    def browser(self) -> TestClient:
        client = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)
        return self.clients.enter_context(client)


def _logins(printed: str) -> dict[str, demo.DemoLogin]:
    """The logins ``p2plend demo`` printed: kind, name, phone, password, TOTP secret, note."""
    found = {}
    for line in printed.splitlines():
        fields = line.split("  ")
        if len(fields) >= 5 and fields[2].isdigit():
            secret = None if fields[4] == "-" else fields[4]
            found[fields[2]] = demo.DemoLogin(fields[0], fields[1], fields[2], fields[3], secret, fields[-1])
    return found


def _secrets(session: Session) -> list[Secret]:
    """Every person's real name, resident ID, phone and card numbers, in clear."""
    found = []
    for user in session.scalars(select(User)):
        e164 = records.phone_of(user)
        found += [Secret(user.id, "phone", e164), Secret(user.id, "phone", e164.removeprefix("+86"))]
    for person in session.scalars(select(RealNameIdentity).where(RealNameIdentity.document_type != "uscc")):
        # An organisation's name and USCC are public (they appear on the listings they back).
        name = pii.decrypt(person.name_encrypted, context=records.REAL_NAME)
        number = pii.decrypt(person.id_number_encrypted, context=records.ID_NUMBER)
        found += [Secret(person.user_id, "name", name), Secret(person.user_id, "id number", number)]
    for card in session.scalars(select(BankCard)):
        number = pii.decrypt(card.card_number_encrypted, context=records.CARD_NUMBER)
        grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        found += [Secret(card.user_id, "card", number), Secret(card.user_id, "card", grouped)]
    return found


@pytest.fixture(scope="module")
def demo_copy(
    demo_database: tuple[str, str], fresh_database: Callable[[], AbstractContextManager[str]]
) -> Iterator[Demo]:
    """A copy of the run's demo database (the original stays as seeded for other modules)."""
    with fresh_database() as url:
        conftest.copy_database(demo_database[0], url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        get_settings.cache_clear()
        app = create_app(get_settings(), factory)
        with factory() as session:
            secrets = _secrets(session)
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
            found = Demo(app, client, factory, _logins(demo_database[1]), secrets)
            with found.clients:
                yield found
        with factory() as session:
            invariants.assert_books_sound(session)
        engine.dispose()


def _code(demo_copy: Demo, login: demo.DemoLogin, business_clock: clock.FixedClock) -> str | None:
    business_clock.set(conftest.TEST_NOW + timedelta(seconds=30) * next(demo_copy.steps))
    return None if login.totp_secret is None else pyotp.TOTP(login.totp_secret).at(clock.now())


def sign_in_page(demo_copy: Demo, login: demo.DemoLogin, business_clock: clock.FixedClock) -> TestClient:
    browser = demo_copy.browser()
    data = {
        "csrf_token": csrf_of(browser.get("/login").text),
        "phone": login.phone,
        "password": login.password,
    }
    code = _code(demo_copy, login, business_clock)
    if code is not None:
        data["totp_code"] = code
    response = browser.post("/login", data=data)
    assert response.status_code == 303, response.text
    return browser


def sign_in_api(demo_copy: Demo, login: demo.DemoLogin, business_clock: clock.FixedClock) -> dict[str, str]:
    code = _code(demo_copy, login, business_clock)
    body = {"phone": login.phone, "password": login.password, "totp_code": code}
    response = demo_copy.client.post("/api/v1/auth/login", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _kind_of(url: str) -> str:
    return re.sub(r"/\d+", "/{n}", urlsplit(url).path)


def crawl(browser: TestClient, starts: list[str]) -> dict[str, str]:
    """Every same-site page reachable from ``starts`` by links (a few of each kind): url → HTML."""
    seen: dict[str, str] = {}
    per_kind: Counter[str] = Counter()
    queue = list(starts)
    while queue and len(seen) < PAGES_PER_PERSON:
        url = queue.pop(0)
        if url in seen or per_kind[_kind_of(url)] >= PAGES_PER_KIND:
            continue
        per_kind[_kind_of(url)] += 1
        response = browser.get(url)
        assert response.status_code < 500, f"{url}: {response.status_code}"
        seen[url] = response.text
        for link in _LINK.findall(response.text):
            target = unescape(link).split("#")[0]
            if target and "lang=" not in target and not target.startswith(_NOT_FOLLOWED):
                queue.append(target)
    return seen


def leaks(demo_copy: Demo, role: str, answers: dict[str, str]) -> list[str]:
    """The personal data in full that ``answers`` (url → body) show to a user of ``role``."""
    found = []
    for url, body in answers.items():
        path = urlsplit(url).path
        entitled = role in PII_READERS and any(page.match(path) for page in CASE_PAGES)
        for secret in demo_copy.secrets:
            if secret.value in body and not (entitled and secret.kind in ("name", "phone")):
                found.append(f"{url} shows user {secret.owner_id}'s {secret.kind} {secret.value!r}")
    return found


# One demo login per kind of user: every staff role of the demo, lenders, borrowers
# (repaying, overdue, a company), the guarantor, the partner, and one not yet verified.
CRAWLERS = {
    "13800000001": "admin",
    "13800000002": "risk_officer",
    "13800000003": "finance",
    "13800000004": "compliance",
    "13800000005": "customer_service",
    "13800000007": "collector",
    "13900000001": "investor",
    "13900000005": "investor",
    "13700000001": "borrower",
    "13700000006": "borrower",
    "13500000001": "guarantor",
    "13500000002": "partner_institution",
    "13500000003": "borrower",
    "13600000001": "investor",
}


def test_the_crawlers_are_demo_logins(demo_copy: Demo) -> None:
    assert CRAWLERS.keys() <= demo_copy.logins.keys()
    assert {"name", "id number", "phone", "card"} == {s.kind for s in demo_copy.secrets}


def test_no_page_shows_personal_data_to_a_visitor(demo_copy: Demo) -> None:
    browser = demo_copy.browser()
    pages = crawl(browser, ["/", "/invest", "/transfers", "/demo/sms", "/sim-bank"])
    assert len(pages) > 10
    assert not leaks(demo_copy, "anonymous", pages)


@pytest.mark.parametrize("phone", sorted(CRAWLERS))
def test_no_page_or_api_answer_shows_personal_data_beyond_need_to_know(
    demo_copy: Demo, phone: str, business_clock: clock.FixedClock
) -> None:
    login, role = demo_copy.logins[phone], CRAWLERS[phone]
    browser = sign_in_page(demo_copy, login, business_clock)
    pages = crawl(browser, ["/", "/account", "/staff" if login.role == "staff" else "/messages"])
    assert len(pages) > 5
    headers = sign_in_api(demo_copy, login, business_clock)
    answers = {}
    for endpoint in sorted(api_endpoints(demo_copy.app)):
        method, path = endpoint.split(" ", 1)
        if method == "GET" and "{" not in path:
            answers[path] = demo_copy.client.get(path, headers=headers).text
    assert not leaks(demo_copy, role, pages | answers)


def test_need_to_know_staff_see_the_borrower_on_a_collection_case(
    demo_copy: Demo, business_clock: clock.FixedClock
) -> None:
    """The exception above is real (else it would hide nothing): a collector sees the
    borrower's name and phone in full on the case; customer service does not."""
    collector = sign_in_page(demo_copy, demo_copy.logins["13800000007"], business_clock)
    service = sign_in_page(demo_copy, demo_copy.logins["13800000005"], business_clock)
    queue = collector.get("/staff/collections/cases").text
    case = re.search(r'href="(/staff/collections/cases/\d+)"', queue)
    assert case is not None
    shown = collector.get(case.group(1)).text
    assert any(s.kind == "phone" and s.value in shown for s in demo_copy.secrets)
    assert service.get(case.group(1)).status_code == 403


# --- another person's things -----------------------------------------------------------------


@dataclass(frozen=True)
class Theirs:
    """Ids of things that belong to one demo user, to be asked for by another."""

    plan_id: int
    holding_id: int
    listing_id: int
    message_id: int
    card_id: int
    deposit_no: str
    loan_id: int
    application_id: int


@pytest.fixture(scope="module")
def theirs(demo_copy: Demo) -> Theirs:
    """王芳's holding, transfer, message, card and deposit; 钱进's plan; 杨磊's loan and application."""
    with demo_copy.session_factory() as session:
        lender = identity.user_id_by_phone(session, "13900000002")
        planner = identity.user_id_by_phone(session, "13900000005")
        borrower = identity.user_id_by_phone(session, "13700000002")
        [plan, *_] = portfolio.plans_of(session, planner)
        [listing] = [item for item in transfers.open_listings(session) if item.seller_id == lender]
        holding = marketplace.holdings_of_holder(session, lender)[0]
        message = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.user_id == lender, OutboxMessage.channel == "inbox")
        ).first()
        card = session.scalars(select(BankCard.id).where(BankCard.user_id == lender)).first()
        deposit = session.scalars(select(DepositOrder.order_no).where(DepositOrder.user_id == lender)).first()
        [loan, *_] = [item for item in marketplace.loans(session, limit=100) if item.borrower_id == borrower]
        [application, *_] = origination.of_borrower(session, borrower)
    assert message is not None and card is not None and deposit is not None
    return Theirs(plan.id, holding.id, listing.id, message, card, deposit, loan.id, application.id)


def _api(client: TestClient, headers: dict[str, str], method: str, path: str) -> Response:
    return client.request(method, path, headers=headers)


def test_a_lender_cannot_see_or_touch_another_lenders_things(
    demo_copy: Demo, theirs: Theirs, business_clock: clock.FixedClock
) -> None:
    zhang = demo_copy.logins["13900000001"]
    headers = sign_in_api(demo_copy, zhang, business_clock)
    api = {
        f"GET /api/v1/me/portfolio-plans/{theirs.plan_id}",
        f"GET /api/v1/me/holdings/{theirs.holding_id}/transfer-quote",
        f"POST /api/v1/me/transfers/{theirs.listing_id}/cancel",
        f"POST /api/v1/me/messages/{theirs.message_id}/read",
        f"DELETE /api/v1/me/cards/{theirs.card_id}",
        f"GET /api/v1/deposits/{theirs.deposit_no}",
    }
    answers = {call: _api(demo_copy.client, headers, *call.split(" ", 1)) for call in api}
    assert {call: r.status_code for call, r in answers.items()} == dict.fromkeys(api, 404)
    browser = sign_in_page(demo_copy, zhang, business_clock)
    pages = [
        f"/plans/{theirs.plan_id}",
        f"/transfers/sell/{theirs.holding_id}",
        f"/deposit/{theirs.deposit_no}",
    ]
    assert {page: browser.get(page).status_code for page in pages} == dict.fromkeys(pages, 404)
    token = csrf_of(browser.get("/account").text)
    forms = [f"/transfers/mine/{theirs.listing_id}/cancel", f"/messages/{theirs.message_id}/read"]
    posted = {form: browser.post(form, data={"csrf_token": token}).status_code for form in forms}
    assert posted == dict.fromkeys(forms, 404)
    with demo_copy.session_factory() as session:  # and nothing of hers changed
        assert transfers.get_listing(session, theirs.listing_id).status == "open"
        assert session.get(OutboxMessage, theirs.message_id).read_at is None  # type: ignore[union-attr]
        assert session.get(BankCard, theirs.card_id).unbound_at is None  # type: ignore[union-attr]


def test_a_borrower_cannot_see_or_touch_another_borrowers_loan_or_application(
    demo_copy: Demo, theirs: Theirs, business_clock: clock.FixedClock
) -> None:
    chen = demo_copy.logins["13700000001"]
    headers = sign_in_api(demo_copy, chen, business_clock)
    api = {
        f"GET /api/v1/me/loans/{theirs.loan_id}",
        f"GET /api/v1/me/loans/{theirs.loan_id}/early-repayment",
        f"GET /api/v1/me/loans/{theirs.loan_id}/schedule.csv",
        f"GET /api/v1/applications/{theirs.application_id}",
        f"POST /api/v1/applications/{theirs.application_id}/cancel",
    }
    answers = {call: _api(demo_copy.client, headers, *call.split(" ", 1)) for call in api}
    assert {call: r.status_code for call, r in answers.items()} == dict.fromkeys(api, 404)
    browser = sign_in_page(demo_copy, chen, business_clock)
    pages = [
        f"/borrow/loans/{theirs.loan_id}",
        f"/borrow/loans/{theirs.loan_id}/early",
        f"/borrow/applications/{theirs.application_id}",
    ]
    assert {page: browser.get(page).status_code for page in pages} == dict.fromkeys(pages, 404)
    token = csrf_of(browser.get("/account").text)
    cancel = browser.post(f"/borrow/applications/{theirs.application_id}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 404
