"""Custodian callbacks: signature, inbox, exactly-once, and every anomaly (R13).

Each anomaly ends with no fen lost or created: the ledger either moved once or not at all,
and what does not match the bank is recorded for ops (and shows in reconciliation).
"""

import json
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody import signing
from p2plend.custody.errors import InvalidSignature, MalformedCallback
from p2plend.custody.models import CallbackEvent, CustodyAnomaly
from p2plend.custody.simulated.bank import BankOptions, SimulatedBank
from p2plend.custody.simulated.models import BankCallback
from p2plend.ledger import service as ledger
from tests.custody.conftest import Depositor


def _start(session_factory: sessionmaker[Session], bank: SimulatedBank, user: Depositor, amount: int) -> str:
    with session_factory.begin() as session:
        return custody.start_deposit(
            session, user.user_id, amount=amount, card_id=user.card_id, custodian=bank
        ).order_no


def _last_callback(bank_sessions: sessionmaker[Session]) -> tuple[bytes, str]:
    with bank_sessions() as session:
        row = session.scalars(select(BankCallback).order_by(BankCallback.id.desc())).first()
        assert row is not None
        return row.body.encode(), row.signature


def _handle(session_factory: sessionmaker[Session], body: bytes, signature: str) -> custody.CallbackOutcome:
    with session_factory.begin() as session:
        return custody.handle_callback(session, body, signature)


def _anomalies(session_factory: sessionmaker[Session]) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(CustodyAnomaly.kind).order_by(CustodyAnomaly.id)))


def _available(session_factory: sessionmaker[Session], user_id: int) -> int:
    with session_factory() as session:
        return ledger.user_balances(session, user_id).available


def test_forged_signature_is_refused_and_changes_nothing(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    order_no = _start(session_factory, bank, user, 10_000)
    body = json.dumps(
        {
            "event_id": "EVFORGED",
            "order_no": order_no,
            "type": "deposit",
            "status": "succeeded",
            "sub_account": "x",
            "amount": 10_000,
            "fee": 0,
        }
    ).encode()
    forged = signing.sign(body, "not-the-bank's-secret")
    with session_factory() as session:
        with pytest.raises(InvalidSignature) as raised:
            custody.handle_callback(session, body, forged)
        assert raised.value.status == 401
        session.rollback()
        assert session.scalar(select(func.count()).select_from(CallbackEvent)) == 0
    assert _available(session_factory, user.user_id) == 0


def test_malformed_but_signed_body_is_refused(session_factory: sessionmaker[Session]) -> None:
    body = b'{"event_id": "E1"}'
    with session_factory() as session, pytest.raises(MalformedCallback):
        custody.handle_callback(session, body, signing.sign(body, get_settings().custodian_hmac_secret))


def test_duplicate_event_changes_nothing_r13(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    order_no = _start(session_factory, bank, user, 10_000)
    bank.confirm_deposit_payment(order_no)
    body, signature = _last_callback(bank.session_factory)
    assert _handle(session_factory, body, signature).result == "duplicate"
    assert _handle(session_factory, body, signature).result == "duplicate"
    assert _available(session_factory, user.user_id) == 10_000


def test_undelivered_callback_is_retried(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    order_no = _start(session_factory, bank, user, 10_000)
    sink, bank.sink = bank.sink, None  # the platform is unreachable
    bank.confirm_deposit_payment(order_no)
    assert bank.pending_callbacks() == 1
    assert _available(session_factory, user.user_id) == 0
    bank.sink = sink
    assert bank.deliver_pending() == 1
    assert bank.deliver_pending() == 0
    assert _available(session_factory, user.user_id) == 10_000


def test_same_order_under_a_new_event_id_is_not_credited_twice(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    order_no = _start(session_factory, bank, user, 10_000)
    bank.confirm_deposit_payment(order_no)
    bank.resend_callback(order_no)
    bank.deliver_pending()
    assert _available(session_factory, user.user_id) == 10_000
    with session_factory() as session:
        outcomes = list(session.scalars(select(CallbackEvent.outcome).order_by(CallbackEvent.id)))
    assert outcomes == ["applied", "already_applied"]


def test_failure_after_success_keeps_the_success(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    order_no = _start(session_factory, bank, user, 10_000)
    bank.confirm_deposit_payment(order_no)
    bank.resend_callback(order_no, status="failed")
    bank.deliver_pending()
    with session_factory() as session:
        assert custody.deposit_order(session, user.user_id, order_no).status == "succeeded"
    assert _available(session_factory, user.user_id) == 10_000
    assert _anomalies(session_factory) == ["conflicting_final_state"]


def test_success_after_failure_keeps_the_failure_and_flags_it(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    order_no = _start(session_factory, bank, user, 10_000)
    bank.fail_deposit_payment(order_no)
    bank.resend_callback(order_no, status="succeeded")
    bank.deliver_pending()
    with session_factory() as session:
        assert custody.deposit_order(session, user.user_id, order_no).status == "failed"
    assert _available(session_factory, user.user_id) == 0
    assert _anomalies(session_factory) == ["conflicting_final_state"]


def test_withdrawal_success_after_failure_moves_nothing(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    bank.options = BankOptions(auto_process_withdrawals=False)
    user = make_depositor(10_000)
    with session_factory.begin() as session:
        order_no = custody.request_withdrawal(
            session, user.user_id, amount=1_000, card_id=user.card_id, totp_code=user.code()
        ).order_no
        custody.submit_pending_withdrawals(session, bank)
    bank.fail_withdrawal(order_no)
    bank.resend_callback(order_no, status="succeeded")
    bank.resend_callback(order_no, status="failed")
    bank.deliver_pending()
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id) == ledger.Balances(available=10_000, frozen=0)
        assert custody.withdrawal_order(session, user.user_id, order_no).status == "failed"
    assert _anomalies(session_factory) == ["conflicting_final_state"]


def test_wrong_amount_is_not_credited_and_is_flagged(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    order_no = _start(session_factory, bank, user, 10_000)
    bank.confirm_deposit_payment(order_no, paid_amount=9_999)  # the payer paid one fen short
    with session_factory() as session:
        assert custody.deposit_order(session, user.user_id, order_no).status == "amount_mismatch"
        assert ledger.user_balances(session, user.user_id).available == 0
        report = custody.live_differences(session, bank)
    assert _anomalies(session_factory) == ["amount_mismatch"]
    [difference] = report.differences
    assert (difference.platform_amount, difference.bank_amount, difference.difference) == (0, 9_999, 9_999)


def test_unknown_order_is_rejected_and_recorded(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(0)
    bank.resend_callback(
        "D20261128NOSUCHORDER", type="deposit", status="succeeded", sub_account="SA0", amount=500, fee=0
    )
    bank.deliver_pending()
    with session_factory() as session:
        outcome = session.scalar(select(CallbackEvent.outcome))
    assert outcome == "rejected_unknown_order"
    assert _anomalies(session_factory) == ["unknown_order"]
    assert _available(session_factory, user.user_id) == 0


def test_sub_account_mismatch_is_rejected(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    alice, bob = make_depositor(0), make_depositor(0)
    order_no = _start(session_factory, bank, alice, 10_000)
    with session_factory() as session:
        bob_account = custody.custody_account_of(session, bob.user_id)
        assert bob_account is not None
    bank.resend_callback(order_no, status="succeeded", sub_account=bob_account.sub_account_no)
    bank.deliver_pending()
    assert _available(session_factory, alice.user_id) == 0
    assert _available(session_factory, bob.user_id) == 0
    assert _anomalies(session_factory) == ["sub_account_mismatch"]
    with session_factory() as session:
        assert custody.deposit_order(session, alice.user_id, order_no).status == "pending"
    bank.confirm_deposit_payment(order_no)  # the genuine report still works afterwards
    assert _available(session_factory, alice.user_id) == 10_000
