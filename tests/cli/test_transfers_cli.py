"""``p2plend transfers list|expire``: the debt-transfer market from the console, on the test's
database, with real exit codes."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from tests import lending
from tests.console import Run
from tests.custody.conftest import bank
from tests.transfers import market

__all__ = ["bank"]


@pytest.fixture
def console_columns() -> str:
    return "200"  # the lines are checked whole


def test_list_and_expire(p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    holding = market.holding_of(session_factory, loan.loan_id, loan.holders[0]).id
    listing = market.list_holding(session_factory, loan.holders[0], holding, discount="0.005")

    code, out = p2plend("transfers", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"transfer {listing.id}  loan {loan.loan_id}  holding {holding}  open")
    assert "offered ¥3,347.14" in lines[0] and "price ¥3,340.31 (V ¥3,357.10)" in lines[0]
    assert "yield " in lines[0] and "discount 0.50%" in lines[0]
    assert lines[-1] == "1 transfer listing(s)"
    code, out = p2plend("transfers", "list", "--status", "sold")
    assert (code, out.strip()) == (0, "0 transfer listing(s)")
    code, out = p2plend("transfers", "list", "--status", "gone")
    assert code == 2 and "unknown status" in out

    code, out = p2plend("transfers", "expire")
    assert (code, out.strip()) == (0, "0 transfer listing(s) expired, 0 cancelled (overdue)")
    lending.go_to(market.DAY_10 + timedelta(days=4))
    code, out = p2plend("transfers", "expire")
    assert (code, out.strip()) == (0, "1 transfer listing(s) expired, 0 cancelled (overdue)")
    code, out = p2plend("transfers", "list")
    assert "expired" in out.splitlines()[0] and "price" not in out.splitlines()[0]
