"""What the clients act on, made through the services before the servers start.

The book is made 40 days in the past (the bench world's fixed clock), so that the run has
claims old enough to be transferred (30 days [D]) and dates for the end-of-day batch to
catch up while the clients work:

- transferable loans: disbursed 40 days ago, their first installment paid on its due date,
  so they are current with the next due date weeks away — their holders list parts of their
  claims for transfer and other investors buy them;
- repaying loans: disbursed 40 days ago, the first installment left unpaid (due about ten
  days ago): their borrowers repay over HTTP while the batch's catch-up auto-debits the same
  installment on its due date — the race a repayment must survive without paying twice;
- one more such loan whose borrower no client acts for: the batch auto-debits it for sure,
  its money moving under the same faults;
- listings opened today, that the clients bid on (the harness opens more as they fill).

Every business date before the first due date is closed in the set-up, so ``p2plend eod
run`` during the run closes the due date (its auto-debits) … today.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyotp

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.bench.world import World, open_listing, person, phone_of, risk_officer
from p2plend.custody import service as custody
from p2plend.db import transaction
from p2plend.identity import service as identity
from p2plend.jobs import eod
from p2plend.marketplace import service as marketplace
from p2plend.servicing import service as servicing

AGE = timedelta(days=40)  # how old the book is: > 30 days held, the first installment due
INVESTOR_DEPOSIT = 50_000_000  # 500,000.00 each
LOAN = 6_000_000  # 60,000.00 per old loan, four holders of 15,000.00
LISTING = 3_000_000  # 30,000.00 per listing opened today
MIN_BID = 10_000  # 100.00, steps of 100.00
TRANSFERABLE = 3  # old loans of each kind
REPAYING = 3
LEFT_TO_THE_BATCH = 1
STAFF_PHONE = "13800009999"  # bench.world.risk_officer's
FIRST_BORROWER = 90_000  # person numbers: investors 0…, borrowers from here


@dataclass(frozen=True)
class Person:
    user_id: int
    phone: str
    card_id: int
    totp_secret: str | None  # investors and staff: withdrawals and staff acts need 2FA


@dataclass(frozen=True)
class Scene:
    investors: list[Person]
    # Each investor's holdings in the transferable loans (what they can list for transfer).
    holdings: dict[int, list[int]]
    borrowers: list[Person]  # of the repaying loans, in the order of ``repaying``
    repaying: list[int]
    transferable: list[int]
    listing_borrower: int
    staff: Person


def book_start(now: datetime) -> datetime:
    """The instant the book is made: ``AGE`` before ``now``, 10:00 in Beijing."""
    day = (now - AGE).astimezone(clock.BUSINESS_TZ).date()
    return datetime(day.year, day.month, day.day, 10, tzinfo=clock.BUSINESS_TZ).astimezone(UTC)


def build(w: World, *, investors: int, listings: int) -> Scene:
    """The book at ``w``'s clock (``book_start``), then ``listings`` open listings today; the
    process's clock is the system clock afterwards (the world puts its own back at the end)."""
    start = w.clock.now()
    officer = risk_officer(w)  # staff bind no card: card_id 0
    staff = Person(officer, STAFF_PHONE, card_id=0, totp_secret=_enable_totp(w, officer))
    with transaction(w.factory) as session:
        custody.open_platform_fee_account(session, w.bank)  # withdrawal fees are paid into it
    people = [_investor(w, n) for n in range(investors)]
    old = TRANSFERABLE + REPAYING + LEFT_TO_THE_BATCH
    borrowers = [_borrower(w, FIRST_BORROWER + n) for n in range(old + 1)]  # the last lists today
    loans = [_old_loan(w, staff.user_id, b.user_id, people, n) for n, b in enumerate(borrowers[:old])]
    transferable, repaying = loans[:TRANSFERABLE], loans[TRANSFERABLE : TRANSFERABLE + REPAYING]
    for loan_id, borrower in zip(transferable, borrowers, strict=False):
        _pay_first_installment(w, loan_id, borrower.user_id)
    # The batch has run every day until the first due date (the clock is on it now).
    eod.close_date(w.factory, clock.business_date_of(start), w.bank)
    eod.close_through(w.factory, clock.today() - timedelta(days=1), w.bank)
    clock.install(clock.SystemClock())
    listing_borrower = borrowers[-1].user_id
    for _ in range(listings):
        open_listing(w, listing_borrower, amount=LISTING, min_bid=MIN_BID, max_share=Decimal("0.5"))
    return Scene(
        investors=people,
        holdings=_holdings(w, transferable),
        borrowers=borrowers[TRANSFERABLE : TRANSFERABLE + REPAYING],
        repaying=repaying,
        transferable=transferable,
        listing_borrower=listing_borrower,
        staff=staff,
    )


def _investor(w: World, n: int) -> Person:
    user_id = person(w, n, deposit=INVESTOR_DEPOSIT)
    return Person(user_id, phone_of(n), _card(w, user_id), _enable_totp(w, user_id))


def _enable_totp(w: World, user_id: int) -> str:
    """Two-factor authentication on, confirmed with the current time-step (long past by the
    time the clients use it: their codes are always newer); the secret."""
    with transaction(w.factory) as session:
        secret = identity.begin_totp_enrollment(session, user_id).secret
        identity.confirm_totp_enrollment(session, user_id, pyotp.TOTP(secret).at(clock.now()))
    return secret


def _borrower(w: World, n: int) -> Person:
    user_id = person(w, n, deposit=0, borrower=True)
    return Person(user_id, phone_of(n), _card(w, user_id), None)


def _card(w: World, user_id: int) -> int:
    with transaction(w.factory) as session:
        return identity.list_cards(session, user_id)[0].id


def _old_loan(w: World, staff_id: int, borrower_id: int, investors: list[Person], n: int) -> int:
    """A 12-month listing funded by four investors (taken in turn) and disbursed today."""
    loan_id = open_listing(w, borrower_id, amount=LOAN, min_bid=MIN_BID, max_share=Decimal("0.5"))
    with transaction(w.factory) as session:
        for k in range(4):
            investor = investors[(4 * n + k) % len(investors)]
            marketplace.place_bid(session, investor_id=investor.user_id, loan_id=loan_id, amount=LOAN // 4)
    with transaction(w.factory) as session:
        autobid.disburse_loan(session, loan_id, w.bank, actor_id=staff_id)
    return loan_id


def _pay_first_installment(w: World, loan_id: int, borrower_id: int) -> None:
    with transaction(w.factory) as session:
        first = servicing.schedule(session, loan_id)[0]
    w.clock.set_business_date(first.due_date)
    with transaction(w.factory) as session:
        servicing.repay(session, loan_id, payer_id=borrower_id, custodian=w.bank)


def _holdings(w: World, loans: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    with transaction(w.factory) as session:
        for loan_id in loans:
            for holding in marketplace.holdings_of_loan(session, loan_id):
                found.setdefault(holding.holder_id, []).append(holding.id)
    return found
