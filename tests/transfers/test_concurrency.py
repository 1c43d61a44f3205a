"""R42 on PostgreSQL: 100 buyers at once, each in its own session and thread, race for parts of
one transfer listing (together asking for far more than it offers): what is sold never exceeds
what was offered, every sale is one holding, the holdings still sum to the loan's outstanding
principal, and the ledger and the bank agree."""

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine, make_session_factory
from p2plend.errors import DomainError
from p2plend.ledger import service as ledger
from p2plend.marketplace.models import Holding
from p2plend.marketplace.transfer_listings import TransferListing, TransferSale
from p2plend.transfers import service as transfers
from tests import lending
from tests.transfers import market

pytestmark = pytest.mark.postgres_only

BUYERS = 100


@pytest.fixture
def buyers_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine: Engine = make_engine(database_url, pool_size=40, max_overflow=0, pool_timeout=120)
    yield make_session_factory(engine)
    engine.dispose()


def test_r42_a_hundred_concurrent_buyers_never_buy_more_than_offered(
    session_factory: sessionmaker[Session], buyers_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    a = loan.holders[0]
    holding = market.holding_of(session_factory, loan.loan_id, a)
    listing = market.list_holding(session_factory, a, holding.id, discount="0.01")  # 3,347.14 offered
    rng = random.Random(42)
    asks = [rng.randrange(1, 4) * 10_000 if i % 10 else None for i in range(BUYERS)]  # every 10th: all of it
    buyers = lending.make_investors(session_factory, bank, [400_000] * BUYERS)
    barrier = threading.Barrier(BUYERS)

    def attempt(buyer: int, ask: int | None) -> Callable[[], str]:
        def run() -> str:
            barrier.wait()
            try:
                with buyers_factory.begin() as session:
                    transfers.buy(
                        session, buyer_id=buyer, listing_id=listing.id, principal=ask, custodian=bank
                    )
            except DomainError as exc:
                return exc.code
            return "ok"

        return run

    with ThreadPoolExecutor(BUYERS) as pool:
        outcomes = list(
            pool.map(lambda task: task(), [attempt(b, s) for b, s in zip(buyers, asks, strict=True)])
        )

    assert "ok" in outcomes
    assert set(outcomes) <= {"ok", "transfer_listing_not_open", "transfer_exceeds_remaining"}
    with session_factory() as session:
        closed = session.get(TransferListing, listing.id)
        assert closed is not None
        sold = session.scalar(
            select(func.sum(TransferSale.principal)).where(TransferSale.listing_id == listing.id)
        )
        assert sold == closed.sold <= closed.principal == 334_714
        assert outcomes.count("ok") == session.scalar(
            select(func.count(TransferSale.id)).where(TransferSale.listing_id == listing.id)
        )
        bought = session.scalars(select(Holding).where(Holding.source == "transfer")).all()
        assert sum(h.principal_outstanding for h in bought) == sold
        seller = session.get(Holding, holding.id)
        assert seller is not None and seller.principal_outstanding == 334_714 - sold
        assert ledger.verify(session) == []
    lending.assert_loan_sound(session_factory, loan.loan_id)
