"""Deposits (充值): order, payment on the bank's page, signed callback, exactly one credit."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.errors import CustodyAccountRequired, DepositAmountOutOfRange
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import NotFound
from p2plend.ledger import service as ledger
from tests import builders
from tests.custody.conftest import Depositor, deposit


def test_deposit_credits_available_after_the_bank_confirms(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    with session_factory.begin() as session:
        order = custody.start_deposit(
            session, user.user_id, amount=123_456, card_id=user.card_id, custodian=bank
        )
        assert order.payment_url.endswith(f"/deposits/{order.order_no}")
        assert order.status == "pending"
        order_no = order.order_no
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 0  # nothing until the bank says so
    bank.confirm_deposit_payment(order_no)
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 123_456
        assert custody.deposit_order(session, user.user_id, order_no).status == "succeeded"
        assert ledger.balance(session, ledger.CUSTODIAN_CLEARING) == -123_456
    assert bank.balances()[_sub(session_factory, user.user_id)] == 123_456


def test_failed_payment_credits_nothing(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    with session_factory.begin() as session:
        order_no = custody.start_deposit(
            session, user.user_id, amount=5_000, card_id=user.card_id, custodian=bank
        ).order_no
    bank.fail_deposit_payment(order_no)
    with session_factory() as session:
        assert custody.deposit_order(session, user.user_id, order_no).status == "failed"
        assert ledger.user_balances(session, user.user_id).available == 0


@pytest.mark.parametrize("amount", [99, 500_000_001])
def test_deposit_limits(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    make_depositor: Callable[[int], Depositor],
    amount: int,
) -> None:
    user = make_depositor(0)
    with session_factory() as session, pytest.raises(DepositAmountOutOfRange):
        custody.start_deposit(session, user.user_id, amount=amount, card_id=user.card_id, custodian=bank)


def test_deposit_needs_a_custody_account(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    with session_factory() as session:
        user = builders.make_verified_user(session)
        card_id = builders.bind_card(session, user.id)
        with pytest.raises(CustodyAccountRequired):
            custody.start_deposit(session, user.id, amount=10_000, card_id=card_id, custodian=bank)


def test_deposit_only_from_own_card(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    alice, bob = make_depositor(0), make_depositor(0)
    with session_factory() as session, pytest.raises(NotFound):
        custody.start_deposit(session, alice.user_id, amount=10_000, card_id=bob.card_id, custodian=bank)


def test_open_account_needs_real_name(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    with session_factory() as session:
        user = builders.make_user(session)
        with pytest.raises(Exception, match="real-name") as raised:
            custody.open_account(session, user.id, bank)
        assert getattr(raised.value, "code", None) == "real_name_required"


def test_open_account_is_idempotent(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    with session_factory.begin() as session:
        user = builders.make_verified_user(session)
        first = custody.open_account(session, user.id, bank).sub_account_no
        again = custody.open_account(session, user.id, bank).sub_account_no
    assert first == again
    assert bank.open_sub_account(f"user:{user.id}", "张三", "x") == first


def test_late_success_for_an_expired_order_is_still_credited(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    make_depositor: Callable[[int], Depositor],
    business_clock: clock.FixedClock,
) -> None:
    user = make_depositor(0)
    with session_factory.begin() as session:
        order_no = custody.start_deposit(
            session, user.user_id, amount=8_800, card_id=user.card_id, custodian=bank
        ).order_no
    business_clock.advance(timedelta(hours=2))
    with session_factory.begin() as session:
        assert custody.expire_stale_deposits(session) == 1
    bank.confirm_deposit_payment(order_no)  # the money is at the bank: it must reach the ledger
    with session_factory() as session:
        assert custody.deposit_order(session, user.user_id, order_no).status == "succeeded"
        assert ledger.user_balances(session, user.user_id).available == 8_800


def test_helper_deposit(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(1_000)
    deposit(session_factory, bank, user.user_id, user.card_id, 2_000)
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 3_000


def _sub(session_factory: sessionmaker[Session], user_id: int) -> str:
    with session_factory() as session:
        account = custody.custody_account_of(session, user_id)
        assert account is not None
        return account.sub_account_no
