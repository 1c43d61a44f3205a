"""Withdrawals (提现): TOTP (R10), own card only (R11), freeze → settle or release, fee."""

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import BankOptions, SimulatedBank
from p2plend.errors import InsufficientFunds, NotFound
from p2plend.ledger import service as ledger
from tests.custody.conftest import Depositor

FEE = 200


def _withdraw(session_factory: sessionmaker[Session], user: Depositor, amount: int) -> str:
    with session_factory.begin() as session:
        order = custody.request_withdrawal(
            session, user.user_id, amount=amount, card_id=user.card_id, totp_code=user.code()
        )
        return order.order_no


def _submit(session_factory: sessionmaker[Session], bank: SimulatedBank) -> int:
    with session_factory.begin() as session:
        sent = custody.submit_pending_withdrawals(session, bank)
    bank.deliver_pending()  # after the platform's commit, as the job does
    return sent


def test_withdrawal_freezes_then_settles_with_fee(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(100_000)
    order_no = _withdraw(session_factory, user, 50_000)
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id) == ledger.Balances(available=49_800, frozen=50_200)
        assert custody.withdrawal_order(session, user.user_id, order_no).status == "pending"
    assert _submit(session_factory, bank) == 1
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id) == ledger.Balances(available=49_800, frozen=0)
        assert custody.withdrawal_order(session, user.user_id, order_no).status == "succeeded"
        assert ledger.balance(session, ledger.PLATFORM_FEE_INCOME) == FEE
        assert ledger.balance(session, ledger.CUSTODIAN_CLEARING) == -100_000 + 50_000


def test_failed_payout_releases_the_whole_hold(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    bank.options = BankOptions(auto_process_withdrawals=False)
    user = make_depositor(10_000)
    order_no = _withdraw(session_factory, user, 3_000)
    _submit(session_factory, bank)
    bank.fail_withdrawal(order_no)
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id) == ledger.Balances(available=10_000, frozen=0)
        order = custody.withdrawal_order(session, user.user_id, order_no)
        assert order.status == "failed" and order.failure_reason


def test_withdrawal_to_a_failing_card_fails_and_releases(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    from p2plend.identity import service as identity

    user = make_depositor(10_000)
    with session_factory() as session:
        number = identity.bound_card(session, user.user_id, user.card_id).card_number
    bank.options = BankOptions(failing_cards=frozenset({number}))
    order_no = _withdraw(session_factory, user, 3_000)
    _submit(session_factory, bank)
    with session_factory() as session:
        assert custody.withdrawal_order(session, user.user_id, order_no).status == "failed"
        assert ledger.user_balances(session, user.user_id).available == 10_000


def test_withdrawal_needs_a_valid_totp_code_r10(
    session_factory: sessionmaker[Session], make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(10_000)
    with session_factory() as session, pytest.raises(Exception) as raised:
        custody.request_withdrawal(
            session, user.user_id, amount=1_000, card_id=user.card_id, totp_code="000000"
        )
    assert getattr(raised.value, "code", None) == "totp_invalid"
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).frozen == 0


def test_withdrawal_only_to_own_card_r11(
    session_factory: sessionmaker[Session], make_depositor: Callable[[int], Depositor]
) -> None:
    alice, bob = make_depositor(10_000), make_depositor(0)
    with session_factory() as session, pytest.raises(NotFound):
        custody.request_withdrawal(
            session, alice.user_id, amount=1_000, card_id=bob.card_id, totp_code=alice.code()
        )


def test_withdrawal_beyond_available_is_refused(
    session_factory: sessionmaker[Session], make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(1_000)
    # 900 + 200 fee > 1,000
    with session_factory() as session, pytest.raises(InsufficientFunds):
        custody.request_withdrawal(
            session, user.user_id, amount=900, card_id=user.card_id, totp_code=user.code()
        )


def test_resubmitting_is_safe(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(10_000)
    order_no = _withdraw(session_factory, user, 1_000)
    with session_factory.begin() as session:
        order = custody.withdrawal_order(session, user.user_id, order_no)
        custody.submit_pending_withdrawals(session, bank)
        order.status = "pending"  # as if our commit had been lost after the bank accepted
    with session_factory.begin() as session:
        assert custody.submit_pending_withdrawals(session, bank) == 1
    bank.deliver_pending()
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id) == ledger.Balances(available=8_800, frozen=0)


def test_card_unbound_before_payout_releases_the_hold_r11(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    from p2plend.identity import service as identity

    user = make_depositor(10_000)
    order_no = _withdraw(session_factory, user, 1_000)
    with session_factory.begin() as session:
        identity.unbind_card(session, user.user_id, user.card_id)
    assert _submit(session_factory, bank) == 0
    with session_factory() as session:
        assert custody.withdrawal_order(session, user.user_id, order_no).status == "failed"
        assert ledger.user_balances(session, user.user_id) == ledger.Balances(available=10_000, frozen=0)
    assert bank.query_order(order_no) is None  # nothing was ever sent to the bank
