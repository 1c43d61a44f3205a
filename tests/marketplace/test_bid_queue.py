"""Bids in batches: ``place_bids`` decides each order in turn; the bid queue writes the bids
that arrive together in one transaction and still answers each on its own."""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import DomainError, InsufficientFunds, InvalidInput
from p2plend.identity.errors import RealNameRequired
from p2plend.ledger.models import JournalEntry
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.bid_queue import BidQueue
from p2plend.marketplace.errors import (
    BidCapExceeded,
    BidNotWritten,
    ListingFullyFunded,
    LoanNotFound,
    OwnLoan,
)
from p2plend.marketplace.models import Bid
from tests import builders, invariants, lending

# 10,050.00 yuan: min bid and step 100.00, cap 50 % = 5,025.00.
AMOUNT = 1_005_000
Order = marketplace.BidOrder


@pytest.fixture
def borrower(session_factory: sessionmaker[Session], bank: SimulatedBank) -> int:
    return lending.make_borrower(session_factory, bank)


@pytest.fixture
def listing(session_factory: sessionmaker[Session], borrower: int) -> int:
    return lending.open_listing(session_factory, lending.listing_terms(borrower, amount=AMOUNT))


def _codes(outcomes: list[Bid | DomainError]) -> list[str]:
    return [o.code if isinstance(o, DomainError) else f"ok {o.amount}" for o in outcomes]


def test_a_batch_decides_each_order_as_the_orders_before_it_left_the_listing(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int, listing: int
) -> None:
    a, b, c, poor = lending.make_investors(session_factory, bank, [600_000, 600_000, 600_000, 5_000])
    with session_factory.begin() as session:
        unverified = builders.make_user(session).id
    orders = [
        Order(a, 500_000),  # 5,000.00
        Order(borrower, 10_000),  # own loan
        Order(a, 10_000),  # 5,100.00 in all: over the 5,025.00 cap
        Order(poor, 10_000),  # 100.00 asked, 50.00 available
        Order(unverified, 10_000),
        Order(b, 0),
        Order(b, 500_000),  # 10,000.00 funded
        Order(c, 10_000),  # 50.00 remains: filled for 50.00, the listing is full
        Order(c, 10_000),
    ]
    with session_factory.begin() as session:
        outcomes = marketplace.place_bids(session, listing, orders)
        assert _codes(outcomes) == [
            "ok 500000",
            OwnLoan.code,
            BidCapExceeded.code,
            InsufficientFunds.code,
            RealNameRequired.code,
            InvalidInput.code,
            "ok 500000",
            "ok 5000",
            ListingFullyFunded.code,
        ]
    with session_factory() as session:
        loan = marketplace.get_loan(session, listing)
        assert (loan.funded, loan.status) == (AMOUNT, "funded")
        bids = session.scalars(select(Bid).where(Bid.loan_id == listing).order_by(Bid.id)).all()
        assert [(bid.investor_id, bid.amount, bid.requested) for bid in bids] == [
            (a, 500_000, 500_000),
            (b, 500_000, 500_000),
            (c, 5_000, 10_000),
        ]
        freezes = session.scalars(select(JournalEntry.ref_id).where(JournalEntry.kind == "bid_freeze")).all()
        assert sorted(freezes) == sorted(str(bid.id) for bid in bids)
        records = audit.list_records(session, object_type="loan", object_id=listing)
        placed = sorted(r.details["bid_id"] for r in records if r.action == "bid.placed")
        assert placed == [bid.id for bid in bids]
        assert audit.verify(session) == []
        invariants.assert_books_sound(session)
    assert lending.balances(session_factory, a).frozen == 500_000
    assert lending.balances(session_factory, poor).available == 5_000


def test_one_investor_twice_in_a_batch_is_held_to_their_balance(
    session_factory: sessionmaker[Session], bank: SimulatedBank, listing: int
) -> None:
    [investor] = lending.make_investors(session_factory, bank, [300_000])
    with session_factory.begin() as session:
        outcomes = marketplace.place_bids(
            session, listing, [Order(investor, 200_000), Order(investor, 200_000)]
        )
    assert _codes(outcomes) == ["ok 200000", InsufficientFunds.code]
    assert lending.balances(session_factory, investor) == lending.ledger.Balances(100_000, 200_000)


class Leader:
    """The first bid's ``before`` hook: its batch waits, once it is being written, until
    ``behind`` bids have queued, so that those are written together in the next batch —
    whatever the threads' timing."""

    def __init__(self, queue: BidQueue, loan_id: int, behind: int) -> None:
        self.queue, self.loan_id, self.behind = queue, loan_id, behind
        self.writing = threading.Event()

    def before(self, _session: Session) -> None:
        self.writing.set()
        deadline = time.monotonic() + 30
        while self.queue.waiting(self.loan_id) < self.behind and time.monotonic() < deadline:
            time.sleep(0.005)


def _submit_all(leader: Leader, first: Callable[[], Any], rest: list[Callable[[], Any]]) -> list[Any]:
    """Run ``first`` (the leader's bid), then, once its batch is being written, every one of
    ``rest`` in its own thread: each result or raised error, in order."""
    results: list[Any] = [None] * (1 + len(rest))

    def run(i: int, task: Callable[[], Any]) -> None:
        try:
            results[i] = task()
        except Exception as exc:  # each bid's own answer, refusals included
            results[i] = exc

    threads = [threading.Thread(target=run, args=(0, first))]
    threads[0].start()
    assert leader.writing.wait(timeout=30)
    for i, task in enumerate(rest, start=1):
        threads.append(threading.Thread(target=run, args=(i, task)))
        threads[-1].start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_bids_that_arrive_together_share_one_transaction_and_each_gets_its_answer(
    session_factory: sessionmaker[Session], bank: SimulatedBank, listing: int
) -> None:
    """While the first bid's batch is being written, 12 more queue: they are written in one
    more transaction. The listing takes 10,050.00; the 13 bids ask 13,000.00: every accepted
    bid is frozen once, the trimmed one for what remained, the rest are refused as full."""
    investors = lending.make_investors(session_factory, bank, [200_000] * 13)
    queue = BidQueue(session_factory)
    loan_id = listing

    def bid(investor: int, **hooks: Any) -> Callable[[], Bid]:
        return lambda: queue.submit(
            loan_id, Order(investor, 100_000), after=lambda _s, placed: placed, **hooks
        )

    leader = Leader(queue, loan_id, 12)
    results = _submit_all(leader, bid(investors[0], before=leader.before), [bid(i) for i in investors[1:]])

    assert queue.batches == 2
    accepted = [r for r in results if isinstance(r, Bid)]
    assert sorted(r.amount for r in accepted) == [5_000] + [100_000] * 10
    assert [type(r) for r in results if not isinstance(r, Bid)] == [ListingFullyFunded, ListingFullyFunded]
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert (loan.funded, loan.status) == (AMOUNT, "funded")
        held = session.scalar(select(func.sum(Bid.amount)).where(Bid.loan_id == loan_id))
        assert held == AMOUNT
        invariants.assert_books_sound(session)
        assert audit.verify(session) == []


def test_bids_with_the_same_key_never_share_a_batch(
    session_factory: sessionmaker[Session], bank: SimulatedBank, listing: int
) -> None:
    """The second of two bids with one key waits for the next batch, where its ``before``
    sees what the first's ``after`` wrote (the API's idempotency record)."""
    investors = lending.make_investors(session_factory, bank, [200_000] * 4)
    queue = BidQueue(session_factory)
    # The batches' sessions themselves, kept alive: a freed session's id() may be reused.
    batch_of: dict[int, Session] = {}

    def bid(investor: int, key: str | None, **hooks: Any) -> Callable[[], int]:
        def after(session: Session, placed: Bid) -> int:
            batch_of[investor] = session
            return placed.id

        return lambda: queue.submit(listing, Order(investor, 10_000), after=after, dedupe_key=key, **hooks)

    leader = Leader(queue, listing, 3)
    rest = [bid(investors[1], "k1"), bid(investors[2], "k1"), bid(investors[3], "k2")]
    results = _submit_all(leader, bid(investors[0], None, before=leader.before), rest)

    assert all(isinstance(r, int) for r in results), results
    assert queue.batches == 3
    assert batch_of[investors[1]] is not batch_of[investors[2]]


def test_a_before_hook_may_answer_instead_of_bidding(
    session_factory: sessionmaker[Session], bank: SimulatedBank, listing: int
) -> None:
    [investor] = lending.make_investors(session_factory, bank, [200_000])
    queue = BidQueue(session_factory)
    answer = queue.submit(
        listing, Order(investor, 10_000), before=lambda _s: "replayed", after=lambda _s, _b: "bid"
    )
    assert answer == "replayed"
    assert lending.balances(session_factory, investor).frozen == 0


def test_a_failing_hook_fails_its_own_bid_and_tells_the_others_nothing_was_written(
    session_factory: sessionmaker[Session], bank: SimulatedBank, listing: int
) -> None:
    investors = lending.make_investors(session_factory, bank, [200_000] * 3)
    queue = BidQueue(session_factory)

    def broken(_session: Session, _bid: Bid) -> None:
        raise RuntimeError("the response could not be stored")

    def bid(investor: int, **hooks: Any) -> Callable[[], object]:
        hooks.setdefault("after", lambda _s, placed: placed)
        return lambda: queue.submit(listing, Order(investor, 10_000), **hooks)

    leader = Leader(queue, listing, 2)
    first = bid(investors[0], before=leader.before)
    results = _submit_all(leader, first, [bid(investors[1], after=broken), bid(investors[2])])

    assert isinstance(results[0], Bid)
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], BidNotWritten)
    assert results[2].status == 503
    for investor in investors[1:]:
        assert lending.balances(session_factory, investor).frozen == 0
    with session_factory() as session:
        invariants.assert_books_sound(session)


def test_a_listing_that_does_not_exist_refuses_every_bid_queued_for_it(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    [investor] = lending.make_investors(session_factory, bank, [200_000])
    queue = BidQueue(session_factory)
    with pytest.raises(LoanNotFound):
        queue.submit(999_999, Order(investor, 10_000), after=lambda _s, placed: placed)
    assert queue.waiting(999_999) == 0
