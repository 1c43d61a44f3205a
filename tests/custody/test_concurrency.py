"""Concurrency on PostgreSQL: many workers at once never overdraw and never credit twice."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.custody.simulated.models import BankCallback
from p2plend.errors import InsufficientFunds
from p2plend.ledger import service as ledger
from tests.custody.conftest import Depositor

WORKERS = 50


@pytest.mark.postgres_only
def test_concurrent_withdrawals_never_overdraw(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    balance, amount, fee = 100_000, 4_800, 200
    user = make_depositor(balance)

    def withdraw(_: int) -> bool:
        # TOTP was checked by request_withdrawal's callers; each code works once, so the race
        # is on the hold itself.
        try:
            with session_factory.begin() as session:
                custody.place_withdrawal_hold(session, user.user_id, amount=amount, card_id=user.card_id)
        except InsufficientFunds:
            return False
        return True

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(withdraw, range(WORKERS)))
    expected = balance // (amount + fee)
    assert sum(results) == expected
    with session_factory.begin() as session:
        assert ledger.user_balances(session, user.user_id) == ledger.Balances(
            available=balance - expected * (amount + fee), frozen=expected * (amount + fee)
        )
        custody.submit_pending_withdrawals(session, bank)
    bank.deliver_pending()
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).frozen == 0


@pytest.mark.postgres_only
def test_concurrent_deliveries_of_one_callback_credit_once(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    with session_factory.begin() as session:
        order_no = custody.start_deposit(
            session, user.user_id, amount=12_345, card_id=user.card_id, custodian=bank
        ).order_no
    bank.confirm_deposit_payment(order_no, deliver=False)
    with bank.session_factory() as bank_session:
        row = bank_session.scalars(select(BankCallback).where(BankCallback.order_no == order_no)).one()
        body, signature = row.body.encode(), row.signature

    def deliver(_: int) -> str:
        with session_factory.begin() as session:
            return custody.handle_callback(session, body, signature).result

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(deliver, range(WORKERS)))
    assert sorted(set(results)) == ["applied", "duplicate"]
    assert results.count("applied") == 1
    bank.deliver_pending()  # the bank's own retry: one more duplicate
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 12_345


@pytest.mark.postgres_only
def test_concurrent_reports_of_one_order_under_new_event_ids_credit_once(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    with session_factory.begin() as session:
        order_no = custody.start_deposit(
            session, user.user_id, amount=5_000, card_id=user.card_id, custodian=bank
        ).order_no
    bank.confirm_deposit_payment(order_no, deliver=False)
    for _ in range(WORKERS - 1):
        bank.resend_callback(order_no)
    with bank.session_factory() as bank_session:
        callbacks = [(r.body.encode(), r.signature) for r in bank_session.scalars(select(BankCallback))]

    def deliver(callback: tuple[bytes, str]) -> str:
        with session_factory.begin() as session:
            return custody.handle_callback(session, *callback).result

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(deliver, callbacks))
    assert results.count("applied") == 1 and results.count("already_applied") == WORKERS - 1
    bank.deliver_pending()
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 5_000
