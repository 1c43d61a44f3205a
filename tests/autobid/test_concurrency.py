"""R44 with auto-bids, on PostgreSQL: manual bidders race the auto-bid queue (two allocations of
the same listing, and allocations of other listings, at once). Whatever the interleaving, no
listing ends funded above its amount, auto-bids stay within 60 % of each listing with one per
investor, and every refused or trimmed bidder's money is available again."""

import random
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.autobid import service as autobid
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine, make_session_factory
from p2plend.errors import DomainError
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid
from tests import invariants, lending
from tests.autobid.conftest import bulk_rules, rule_terms
from tests.marketplace.test_concurrency import Outcome, _bid, _race

pytestmark = pytest.mark.postgres_only

YUAN = 100


@pytest.fixture
def workers(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(database_url, pool_size=40, max_overflow=0, pool_timeout=120)
    yield make_session_factory(engine)
    engine.dispose()


def _allocate(factory: sessionmaker[Session], loan_id: int) -> Outcome:
    try:
        with factory.begin() as session:
            result = autobid.allocate(session, loan_id, actor_id=None)
    except DomainError as exc:
        return Outcome(0, 0, exc.code)
    return Outcome(0, 0, "allocated", None, result.amount)


def test_r44_manual_bids_racing_auto_allocation_never_overfund(
    session_factory: sessionmaker[Session], workers: sessionmaker[Session], bank: SimulatedBank
) -> None:
    rng = random.Random(44)
    amount = 20_000 * YUAN
    auto_deposits = [rng.randrange(5, 40) * 100 * YUAN for _ in range(40)]
    auto = lending.make_investors(session_factory, bank, auto_deposits)
    manual_requests = [rng.randrange(3, 30) * 100 * YUAN for _ in range(30)]
    manual = lending.make_investors(session_factory, bank, manual_requests)
    with session_factory.begin() as session:
        bulk_rules(
            session,
            [(i, rule_terms(fixed_amount=rng.randrange(3, 25) * 100 * YUAN)) for i in auto],
        )
    borrower = lending.make_borrower(session_factory, bank)
    loans = [
        lending.open_listing(session_factory, lending.listing_terms(borrower, amount=amount))
        for _ in range(3)
    ]
    target = loans[0]

    tasks: list[Callable[[], Outcome]] = [
        lambda investor=investor, request=request: _bid(workers, investor, target, request)
        for investor, request in zip(manual, manual_requests, strict=True)
    ]
    tasks += [lambda: _allocate(workers, target), lambda: _allocate(workers, target)]
    tasks += [lambda loan_id=loan_id: _allocate(workers, loan_id) for loan_id in loans[1:]]
    outcomes = _race(tasks)

    refused = {o.code for o in outcomes if o.code not in ("ok", "allocated")}
    assert refused <= {"listing_fully_funded", "listing_not_open"}
    with session_factory() as session:
        for loan_id in loans:
            loan = marketplace.get_loan(session, loan_id)
            bids = [b for b in marketplace.bids_of_loan(session, loan_id) if b.status == "frozen"]
            assert loan.funded == sum(b.amount for b in bids) <= loan.amount
            auto_bids = [b for b in bids if b.source == "auto_bid"]
            assert sum(b.amount for b in auto_bids) <= int(amount * 0.6)
            assert len({b.investor_id for b in auto_bids}) == len(auto_bids)
        assert session.scalar(select(func.count()).select_from(Bid).where(Bid.source == "auto_bid")) > 0
        for investor, deposit in zip(auto + manual, auto_deposits + manual_requests, strict=True):
            frozen = lending.frozen_bids_of(session, investor)
            assert ledger.user_balances(session, investor) == ledger.Balances(deposit - frozen, frozen)
        invariants.assert_books_sound(session)
