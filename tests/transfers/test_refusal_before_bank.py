"""A purchase refused after its checks began moves nothing at the custodian bank.

The bank's transfer is the last act of a purchase, so that any refusal before it leaves
nothing to undo there. The R16 re-check (the buyer's cap, read again once the sale's
ledger entry holds the buyer's rows) used to run after the bank had already moved the
price: a concurrent commitment of the buyer's pushing them over their tier's cap made the
purchase answer ``risk_tier_cap_exceeded`` and roll back while the bank kept the transfer —
the buyer's sub-account short of the ledger by the price (found while writing the chaos
bank test, docs/reliability.md).
"""

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.suitability import service as suitability
from p2plend.suitability.errors import TierCapExceeded
from tests import lending
from tests.transfers import market


def test_a_purchase_refused_by_the_cap_re_check_moves_nothing_at_the_bank(
    session_factory: sessionmaker[Session], bank: SimulatedBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    holding = market.holding_of(session_factory, loan.loan_id, loan.holders[0])
    listing = market.list_holding(session_factory, loan.holders[0], holding.id, principal=200_000)
    buyer = market.buyer(session_factory, bank)
    checks = []
    first_check = suitability.require_may_lend

    def cap_reached_meanwhile(session: Session, user_id: int, **terms: Any) -> suitability.Assessment:
        """The first check passes; by the re-check a concurrent bid of the buyer's used the cap."""
        checks.append(user_id)
        if len(checks) == 2:
            raise TierCapExceeded("Tier C3 may have at most 300000.00 yuan outstanding.")
        return first_check(session, user_id, **terms)

    monkeypatch.setattr(suitability, "require_may_lend", cap_reached_meanwhile)
    before = bank.balances()

    with pytest.raises(TierCapExceeded):
        market.buy(session_factory, bank, buyer, listing.id, principal=50_000)

    assert len(checks) == 2
    assert bank.balances() == before  # and custody reconciles (checked after every test)
