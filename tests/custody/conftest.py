"""Custody fixtures: the simulated bank on the test's database, delivering in-process."""

from collections.abc import Callable, Iterator
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from tests import builders


@pytest.fixture
def bank(database_url: str, session_factory: sessionmaker[Session]) -> Iterator[SimulatedBank]:
    bank = custody.simulated_custodian(database_url, session_factory)
    yield bank
    bank.close()


class Depositor:
    """A custody user with money: their id, card, authenticator and the bank."""

    def __init__(self, user_id: int, card_id: int, totp: pyotp.TOTP) -> None:
        self.user_id = user_id
        self.card_id = card_id
        self.totp = totp

    def code(self) -> str:
        # Each TOTP step works once: move to the next step for a fresh code.
        current = clock.current()
        current.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
        return self.totp.at(clock.now())


def deposit(
    session_factory: sessionmaker[Session], bank: SimulatedBank, user_id: int, card_id: int, amount: int
) -> str:
    """Start a deposit, commit, and pay it on the bank's page (the callback credits it)."""
    with session_factory.begin() as session:
        order_no = custody.start_deposit(
            session, user_id, amount=amount, card_id=card_id, custodian=bank
        ).order_no
    bank.confirm_deposit_payment(order_no)
    return order_no


@pytest.fixture
def make_depositor(session_factory: sessionmaker[Session], bank: SimulatedBank) -> Callable[[int], Depositor]:
    def make(balance: int) -> Depositor:
        with session_factory.begin() as session:
            user, card_id = builders.make_custody_user(session, bank)
            totp = builders.enable_totp(session, user.id)
        if balance:
            deposit(session_factory, bank, user.id, card_id, balance)
        return Depositor(user.id, card_id, totp)

    return make
