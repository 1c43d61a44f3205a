"""The simulated bank on its own: sub-account transfers, its database, its statement."""

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.port import TransferLeg
from p2plend.custody.simulated.bank import BankInstructionReused, SimulatedBank, bank_database_url
from tests.custody.conftest import Depositor


def _sub(session_factory: sessionmaker[Session], user_id: int) -> str:
    with session_factory() as session:
        account = custody.custody_account_of(session, user_id)
        assert account is not None
        return account.sub_account_no


def test_transfer_between_sub_accounts_is_idempotent_and_never_overdraws(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    alice, bob = make_depositor(1_000), make_depositor(0)
    a, b = _sub(session_factory, alice.user_id), _sub(session_factory, bob.user_id)
    assert bank.transfer("T1", [TransferLeg(a, b, 300)]) == "succeeded"
    assert bank.transfer("T1", [TransferLeg(a, b, 300)]) == "succeeded"  # replayed: moved once
    assert (bank.balances()[a], bank.balances()[b]) == (700, 300)
    assert bank.transfer("T2", [TransferLeg(b, a, 301)]) == "failed"  # the bank never overdraws
    # All legs or none: the second leg would overdraw, so the first does not move either.
    assert bank.transfer("T3", [TransferLeg(b, a, 100), TransferLeg(b, a, 201)]) == "failed"
    assert bank.transfer("T3", [TransferLeg(b, a, 100), TransferLeg(b, a, 201)]) == "failed"  # replayed
    with pytest.raises(BankInstructionReused):  # the same number for other legs is refused
        bank.transfer("T3", [TransferLeg(b, a, 100)])
    with pytest.raises(BankInstructionReused):
        bank.transfer("T1", [TransferLeg(a, b, 299)])
    assert bank.transfer("T4", [TransferLeg(b, a, 100), TransferLeg(b, a, 200)]) == "succeeded"
    assert (bank.balances()[a], bank.balances()[b]) == (1_000, 0)
    state = bank.query_order("T2.1")
    assert state is not None and state.status == "failed"
    assert bank.statement(clock.today()).balance_of(a) == 1_000


def test_bank_database_defaults() -> None:
    assert bank_database_url("sqlite:///var/p2plend.db") == "sqlite:///var/p2plend-custodian.db"
    pg = "postgresql+psycopg://u@h:5432/p2p"
    assert bank_database_url(pg) == pg
    assert bank_database_url("sqlite:///x.db", "postgresql://u@h/bank") == "postgresql+psycopg://u@h/bank"
