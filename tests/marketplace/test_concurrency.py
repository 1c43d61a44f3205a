"""Bidding under concurrency, on PostgreSQL: many bidders at once, each in its own session.

R44: a listing never ends funded above its amount; every refused or trimmed bidder's money
is back in ``available`` (no dangling frozen funds); bids racing the listing's close
(流标 at the deadline, 撤标 by staff) never leave money frozen on a closed listing.
"""

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine, make_session_factory
from p2plend.errors import DomainError
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid
from tests import invariants, lending

pytestmark = pytest.mark.postgres_only

STEP = 10_000


@pytest.fixture
def bidders_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions for many threads: a pool big enough that dozens really run at once."""
    engine: Engine = make_engine(database_url, pool_size=40, max_overflow=0, pool_timeout=120)
    yield make_session_factory(engine)
    engine.dispose()


@dataclass(frozen=True)
class Outcome:
    investor: int
    requested: int
    code: str  # "ok" or the refusal's code
    bid_id: int | None = None
    amount: int = 0


def _bid(
    factory: sessionmaker[Session],
    investor: int,
    loan_id: int,
    amount: int,
    *,
    fill_remaining: bool = True,
    source: str = "bid",
) -> Outcome:
    try:
        with factory.begin() as session:
            bid = marketplace.place_bid(
                session,
                investor_id=investor,
                loan_id=loan_id,
                amount=amount,
                fill_remaining=fill_remaining,
                source=source,
            )
            result = Outcome(investor, amount, "ok", bid.id, bid.amount)
    except DomainError as exc:
        return Outcome(investor, amount, exc.code)
    return result


def _race(tasks: Sequence[Callable[[], Outcome]]) -> list[Outcome]:
    barrier = threading.Barrier(len(tasks))

    def run(task: Callable[[], Outcome]) -> Outcome:
        barrier.wait()
        return task()

    with ThreadPoolExecutor(len(tasks)) as pool:
        return list(pool.map(run, tasks))


def _assert_no_dangling_frozen_money(
    session: Session, investors: Sequence[int], deposits: Sequence[int]
) -> None:
    """Each investor's frozen money is exactly their frozen bids; the rest is available."""
    for investor, deposit in zip(investors, deposits, strict=True):
        frozen = lending.frozen_bids_of(session, investor)
        assert ledger.user_balances(session, investor) == ledger.Balances(deposit - frozen, frozen)


def test_r44_two_hundred_concurrent_bidders_never_overfund(
    session_factory: sessionmaker[Session], bidders_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """200 bidders (every 10th bidding twice at once, every 5th opting out of trimming, every
    3rd an auto-bid) ask for
    more than the listing's 100,000.00: it ends funded at exactly its amount; the frozen bids
    sum to it; at most one bid was trimmed; everyone else's money is available again."""
    rng = random.Random(44)
    amount = 10_000_000
    requests = [rng.randrange(25, 101) * STEP for _ in range(200)]  # 250.00 … 1,000.00
    doubles = list(range(0, 200, 10))
    assert sum(requests) + sum(requests[i] for i in doubles) > amount
    deposits = [r * (2 if i in doubles else 1) + 12_345 for i, r in enumerate(requests)]
    started = time.perf_counter()
    investors = lending.make_investors(session_factory, bank, deposits)
    made = time.perf_counter() - started
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.open_listing(
        session_factory, lending.listing_terms(borrower, amount=amount, min_bid=STEP, bid_step=STEP)
    )

    tasks: list[Callable[[], Outcome]] = []
    for i, (investor, request) in enumerate(zip(investors, requests, strict=True)):
        fill, source = i % 5 != 0, "auto_bid" if i % 3 == 0 else "bid"
        for _ in range(2 if i in doubles else 1):
            tasks.append(
                lambda investor=investor, request=request, fill=fill, source=source: _bid(
                    bidders_factory, investor, loan_id, request, fill_remaining=fill, source=source
                )
            )
    started = time.perf_counter()
    outcomes = _race(tasks)
    raced = time.perf_counter() - started
    print(f"200 investors made in {made:.1f}s; {len(tasks)} concurrent bids in {raced:.1f}s")

    accepted = [o for o in outcomes if o.code == "ok"]
    refused = [o for o in outcomes if o.code != "ok"]
    assert {o.code for o in refused} <= {"listing_fully_funded", "bid_exceeds_remaining"}
    assert refused, "the bidders asked for more than the listing"
    trimmed = [o for o in accepted if o.amount < o.requested]
    assert len(trimmed) <= 1
    assert sum(o.amount for o in accepted) == amount
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert (loan.funded, loan.status) == (amount, "funded")
        frozen_bids = session.scalars(select(Bid).where(Bid.loan_id == loan_id, Bid.status == "frozen")).all()
        assert sorted(b.id for b in frozen_bids) == sorted(o.bid_id for o in accepted if o.bid_id)
        assert sum(b.amount for b in frozen_bids) == amount
        assert session.scalar(select(func.count()).select_from(Bid)) == len(accepted)
        freezes = session.scalar(select(func.count()).where(JournalEntry.kind == "bid_freeze"))
        assert freezes == len(accepted)
        _assert_no_dangling_frozen_money(session, investors, deposits)
        invariants.assert_books_sound(session)


class _PerThreadClock:
    """The business clock, but a thread may run at its own instant (the job's, after the
    deadline) while the bidders' requests still arrive before it."""

    def __init__(self, base: clock.Clock) -> None:
        self._base = base
        self._local = threading.local()

    def now(self) -> datetime:
        at: datetime | None = getattr(self._local, "at", None)
        return at if at is not None else self._base.now()

    def run_at(self, at: datetime) -> None:
        self._local.at = at


@pytest.mark.parametrize("close", ["fail_expired", "withdraw"])
def test_bids_racing_the_close_of_a_listing_leave_nothing_frozen_on_it(
    session_factory: sessionmaker[Session],
    bidders_factory: sessionmaker[Session],
    bank: SimulatedBank,
    close: str,
) -> None:
    """R8 (流标) and 撤标 under concurrency: 60 bidders race the job that fails the listing at
    its deadline (or staff withdrawing it), then 20 more bid after it closed. Whatever the
    interleaving, every bid taken before the close is refunded in full, every later one is
    refused, and no money stays frozen."""
    deposits = [50_000 + 100 * i for i in range(80)]
    investors = lending.make_investors(session_factory, bank, deposits)
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower, amount=50_000_000))
    with session_factory() as session:
        deadline = marketplace.get_loan(session, loan_id).deadline
    assert deadline is not None
    base = clock.current()
    per_thread = _PerThreadClock(base)
    clock.install(per_thread)
    base.set(deadline - timedelta(seconds=1))  # type: ignore[attr-defined]  # the bidders: just in time
    some_in = threading.Event()
    taken = []

    def bid(investor: int) -> Outcome:
        outcome = _bid(bidders_factory, investor, loan_id, 20_000)
        if outcome.code == "ok":
            taken.append(outcome)
            if len(taken) >= 5:
                some_in.set()
        return outcome

    def closer() -> Outcome:
        some_in.wait(timeout=60)
        with bidders_factory.begin() as session:
            if close == "fail_expired":
                per_thread.run_at(deadline)
                assert marketplace.fail_expired_listings(session) == [loan_id]
            else:
                marketplace.withdraw_listing(session, loan_id, actor_id=None, reason="race")
        return Outcome(0, 0, "closed")

    first_wave = [lambda investor=investor: bid(investor) for investor in investors[:60]]
    outcomes = _race([*first_wave, closer])
    outcomes += _race([lambda investor=investor: bid(investor) for investor in investors[60:]])

    assert "closed" in {o.code for o in outcomes}
    bids = [o for o in outcomes if o.investor]
    accepted = [o for o in bids if o.code == "ok"]
    assert len(accepted) >= 5
    assert {o.code for o in bids if o.code != "ok"} <= {"listing_not_open"}
    assert all(o.code == "listing_not_open" for o in bids[60:])
    print(f"{close}: {len(accepted)} bids taken before the close, {len(bids) - len(accepted)} refused")
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert loan.status == ("failed" if close == "fail_expired" else "withdrawn")
        rows = marketplace.bids_of_loan(session, loan_id)
        assert sorted(b.id for b in rows) == sorted(o.bid_id for o in accepted if o.bid_id)
        assert {b.status for b in rows} == {"refunded"}
        for investor, deposit in zip(investors, deposits, strict=True):
            assert ledger.user_balances(session, investor) == ledger.Balances(deposit, 0)
        invariants.assert_books_sound(session)


def test_r16_concurrent_bids_on_different_listings_stay_within_the_tier_cap(
    session_factory: sessionmaker[Session], bidders_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R16 under concurrency: a C1 lender (50,000.00 outstanding at most [D]) with money for
    more bids 10,000.00 on 20 listings at once: exactly 5 bids are taken, whatever the timing
    (each listing is locked by its own bids only, so the cap must hold across listings)."""
    [lender] = lending.make_investors(session_factory, bank, [25_000_000], points=20)
    borrower = lending.make_borrower(session_factory, bank)
    listings = [
        lending.open_listing(
            session_factory, lending.listing_terms(borrower, amount=3_000_000, risk_class="R1")
        )
        for _ in range(20)
    ]
    outcomes = _race(
        [lambda loan_id=loan_id: _bid(bidders_factory, lender, loan_id, 1_000_000) for loan_id in listings]
    )
    assert [o.code for o in outcomes].count("ok") == 5
    assert {o.code for o in outcomes} == {"ok", "risk_tier_cap_exceeded"}
    with session_factory() as session:
        assert marketplace.lending_outstanding(session, lender) == 5_000_000
        assert ledger.user_balances(session, lender) == ledger.Balances(20_000_000, 5_000_000)
