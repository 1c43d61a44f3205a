"""Custody (资金存管): sub-accounts, deposits, withdrawals, the callback inbox, batch transfer
instructions and their orphans, reconciliation.

Users' money lives at the custodian bank in each user's own sub-account; the ledger is the
platform's mirror of it. Money moves at the bank first and reaches the ledger only when the
bank's HMAC-signed callback says so; every callback lands in an inbox with a unique
``(source, event_id)`` and every ledger entry has a key derived from the order number, so a
duplicate, re-sent, late or reordered callback never moves money twice (R13).
"""

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.config import Settings, get_settings
from p2plend.custody import signing
from p2plend.custody.errors import (
    BankInstructionVoided,
    CustodianRefused,
    CustodyAccountRequired,
    DepositAmountOutOfRange,
    InvalidSignature,
    MalformedCallback,
    OrderNotFound,
    ReconciliationDateInFuture,
)
from p2plend.custody.models import (
    BankInstruction,
    CallbackEvent,
    CustodyAccount,
    CustodyAnomaly,
    DepositOrder,
    InstructionRecordStart,
    ReconciliationDifference,
    ReconciliationRun,
    WithdrawalOrder,
)
from p2plend.custody.port import Custodian, ExecutedTransfer, Instruction, PayeeCard, TransferLeg
from p2plend.custody.simulated.bank import BankOptions, SimulatedBank, bank_database_url, failing_cards
from p2plend.db import among, insert_rows, transaction
from p2plend.errors import InvalidInput, NotFound
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.ledger.service import CUSTODIAN_CLEARING, PLATFORM_FEE_INCOME, Leg, user_available, user_frozen
from p2plend.money import yuan_str
from p2plend.notifications import service as notifications

log = structlog.get_logger()

CALLBACK_SOURCE = "custodian"
PLATFORM_OWNER_ID = 0
# Anomalies that mean the bank and the ledger may hold different amounts until ops act.
MONEY_ANOMALIES = ("amount_mismatch", "unknown_order", "sub_account_mismatch", "conflicting_final_state")


# --- sub-accounts ------------------------------------------------------------------------


def open_account(session: Session, user_id: int, custodian: Custodian) -> CustodyAccount:
    """开户: open the user's sub-account at the bank and their ledger accounts (idempotent).

    Only after real-name verification: the bank opens accounts for named people only.
    """
    existing = custody_account_of(session, user_id)
    if existing is not None:
        return existing
    person = identity.verified_identity(session, user_id)
    sub_account_no = custodian.open_sub_account(f"user:{user_id}", person.name, person.id_number)
    account = _record_account(session, "user", user_id, sub_account_no)
    ledger.open_user_accounts(session, user_id)
    open_platform_fee_account(session, custodian)
    audit.record(
        session,
        actor_id=user_id,
        action="custody.account_opened",
        object_type="user",
        object_id=user_id,
        details={"sub_account": sub_account_no},
    )
    return account


def open_platform_fee_account(
    session: Session, custodian: Custodian, settings: Settings | None = None
) -> CustodyAccount:
    """The platform's own fee sub-account (ledger PLATFORM_FEE_INCOME) at the bank (idempotent)."""
    existing = session.scalars(
        select(CustodyAccount).where(
            CustodyAccount.owner_type == "platform", CustodyAccount.owner_id == PLATFORM_OWNER_ID
        )
    ).first()
    if existing is not None:
        return existing
    settings = settings or get_settings()
    sub_account_no = custodian.open_sub_account(
        PLATFORM_FEE_INCOME, settings.platform_legal_name, settings.platform_credit_code
    )
    return _record_account(session, "platform", PLATFORM_OWNER_ID, sub_account_no)


def custody_account_of(session: Session, user_id: int) -> CustodyAccount | None:
    return session.scalars(
        select(CustodyAccount).where(CustodyAccount.owner_type == "user", CustodyAccount.owner_id == user_id)
    ).first()


def sub_accounts_of(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """Each user's sub-account number at the bank, in one read (a batch instruction's payees)."""
    found: dict[int, str] = {
        owner_id: sub_account_no
        for owner_id, sub_account_no in session.execute(
            select(CustodyAccount.owner_id, CustodyAccount.sub_account_no).where(
                CustodyAccount.owner_type == "user", among(session, CustodyAccount.owner_id, user_ids)
            )
        )
    }
    missing = sorted(set(user_ids) - set(found))
    if missing:
        raise CustodyAccountRequired("This user has no custody account.", details={"user_id": missing[0]})
    return found


def with_custody_accounts(session: Session, user_ids: Sequence[int]) -> set[int]:
    """Those of ``user_ids`` who have a custody sub-account."""
    return set(
        session.scalars(
            select(CustodyAccount.owner_id).where(
                CustodyAccount.owner_type == "user", among(session, CustodyAccount.owner_id, user_ids)
            )
        )
    )


def _record_account(session: Session, owner_type: str, owner_id: int, sub_account_no: str) -> CustodyAccount:
    account = CustodyAccount(
        owner_type=owner_type, owner_id=owner_id, sub_account_no=sub_account_no, opened_at=clock.now()
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        # Opened concurrently: the bank answered both with the same number; keep the first row.
        found = session.scalars(
            select(CustodyAccount).where(
                CustodyAccount.owner_type == owner_type, CustodyAccount.owner_id == owner_id
            )
        ).first()
        if found is None:
            raise
        return found
    return account


def _require_account(session: Session, user_id: int) -> CustodyAccount:
    account = custody_account_of(session, user_id)
    if account is None:
        raise CustodyAccountRequired("Open your custody account first (开通存管账户).")
    return account


def _new_order_no(prefix: str) -> str:
    return f"{prefix}{clock.today():%Y%m%d}{secrets.token_hex(6).upper()}"


def _payee(card: identity.BoundCard) -> PayeeCard:
    return PayeeCard(card_number=card.card_number, bank_name=card.bank_name)


# --- deposits (充值) ----------------------------------------------------------------------


def start_deposit(
    session: Session,
    user_id: int,
    *,
    amount: int,
    card_id: int,
    custodian: Custodian,
    settings: Settings | None = None,
) -> DepositOrder:
    """Create a deposit order and register it at the bank; the user pays on the bank's page."""
    settings = settings or get_settings()
    if not settings.deposit_min_fen <= amount <= settings.deposit_max_fen:
        raise DepositAmountOutOfRange(
            f"A deposit must be between {yuan_str(settings.deposit_min_fen)} and "
            f"{yuan_str(settings.deposit_max_fen)} yuan.",
            details={"min": yuan_str(settings.deposit_min_fen), "max": yuan_str(settings.deposit_max_fen)},
        )
    account = _require_account(session, user_id)
    card = identity.bound_card(session, user_id, card_id)  # money comes only from the user's card
    order_no = _new_order_no("D")
    instruction = custodian.begin_deposit(order_no, account.sub_account_no, amount, _payee(card))
    now = clock.now()
    order = DepositOrder(
        order_no=order_no,
        user_id=user_id,
        card_id=card.id,
        sub_account_no=account.sub_account_no,
        amount=amount,
        status="pending",
        payment_url=instruction.payment_url,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.deposit_order_valid_minutes),
    )
    session.add(order)
    session.flush()
    return order


def expire_stale_deposits(session: Session) -> int:
    """Mark pending deposit orders past their validity expired. A late payment is still credited."""
    orders = session.scalars(
        select(DepositOrder)
        .where(DepositOrder.status == "pending", DepositOrder.expires_at < clock.now())
        .with_for_update(skip_locked=True)
    ).all()
    for order in orders:
        order.status = "expired"
        order.finished_at = clock.now()
    session.flush()
    return len(orders)


def credit_deposit(session: Session, order: DepositOrder) -> None:
    """The bank received the money: CUSTODIAN_CLEARING → the user's available balance, once."""
    ledger.transfer(
        session,
        kind="deposit",
        source=CUSTODIAN_CLEARING,
        destination=user_available(order.user_id),
        amount=order.amount,
        idempotency_key=f"deposit:{order.order_no}",
        ref_type="deposit",
        ref_id=order.order_no,
        memo="充值 deposit",
    )
    order.status = "succeeded"
    order.finished_at = clock.now()
    order.failure_reason = None
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="deposit.credited",
        object_type="deposit",
        object_id=order.order_no,
        details={"user_id": order.user_id, "amount": order.amount},
    )
    notifications.notify_user(
        session,
        user_id=order.user_id,
        template="deposit_succeeded",
        params={"amount": yuan_str(order.amount)},
    )


def deposit_order(session: Session, user_id: int, order_no: str) -> DepositOrder:
    order = session.scalars(
        select(DepositOrder).where(DepositOrder.order_no == order_no, DepositOrder.user_id == user_id)
    ).first()
    if order is None:
        raise OrderNotFound("No such deposit order.", details={"order_no": order_no})
    return order


# --- withdrawals (提现) -------------------------------------------------------------------


def request_withdrawal(
    session: Session,
    user_id: int,
    *,
    amount: int,
    card_id: int,
    totp_code: str,
    settings: Settings | None = None,
) -> WithdrawalOrder:
    """The user asks to withdraw ``amount`` to their own card; authorised by TOTP (R10)."""
    # First, before writing anything: a wrong code is committed bookkeeping (keep_bookkeeping).
    identity.verify_totp(session, user_id, totp_code)
    return place_withdrawal_hold(session, user_id, amount=amount, card_id=card_id, settings=settings)


def place_withdrawal_hold(
    session: Session, user_id: int, *, amount: int, card_id: int, settings: Settings | None = None
) -> WithdrawalOrder:
    """Freeze amount + fee (available → frozen) and record the order; the caller has authorised it."""
    settings = settings or get_settings()
    if amount <= 0:
        raise InvalidInput("A withdrawal must be more than zero.", details={"amount": yuan_str(amount)})
    account = _require_account(session, user_id)
    card = identity.bound_card(session, user_id, card_id)  # only to the user's own card (R11)
    fee = settings.withdrawal_fee_fen
    order = WithdrawalOrder(
        order_no=_new_order_no("W"),
        user_id=user_id,
        card_id=card.id,
        card_masked=card.masked,
        sub_account_no=account.sub_account_no,
        amount=amount,
        fee=fee,
        status="pending",
        created_at=clock.now(),
    )
    session.add(order)
    session.flush()
    # The conditional update in ledger.post refuses an overdraft under any concurrency.
    ledger.transfer(
        session,
        kind="withdrawal_freeze",
        source=user_available(user_id),
        destination=user_frozen(user_id),
        amount=amount + fee,
        idempotency_key=f"withdrawal:{order.order_no}:freeze",
        ref_type="withdrawal",
        ref_id=order.order_no,
        memo="提现冻结 withdrawal hold",
    )
    audit.record(
        session,
        actor_id=user_id,
        action="withdrawal.requested",
        object_type="withdrawal",
        object_id=order.order_no,
        details={"amount": amount, "fee": fee, "card": card.masked},
    )
    notifications.notify_user(
        session,
        user_id=user_id,
        template="withdrawal_submitted",
        params={"amount": yuan_str(amount), "fee": yuan_str(fee)},
    )
    return order


def submit_pending_withdrawals(session: Session, custodian: Custodian, *, limit: int = 100) -> int:
    """Send pending withdrawal instructions to the bank (re-drivable: the bank is idempotent
    per order number). Run after the requests committed; deliver callbacks after this commits."""
    orders = session.scalars(
        select(WithdrawalOrder)
        .where(WithdrawalOrder.status == "pending")
        .order_by(WithdrawalOrder.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for order in orders:
        try:
            card = identity.bound_card(session, order.user_id, order.card_id)
        except NotFound:
            # Unbound since the request: never pay to a card no longer the user's (R11).
            release_withdrawal_hold(session, order, "the card was unbound before payout")
            continue
        custodian.submit_withdrawal(
            order.order_no, order.sub_account_no, order.amount, order.fee, _payee(card)
        )
        order.status = "submitted"
        order.submitted_at = clock.now()
        sent += 1
    session.flush()
    return sent


def settle_withdrawal(session: Session, order: WithdrawalOrder) -> None:
    """The bank paid out: frozen → CUSTODIAN_CLEARING (amount) and → PLATFORM_FEE_INCOME (fee)."""
    ledger.post(
        session,
        kind="withdrawal_settle",
        legs=[
            Leg(user_frozen(order.user_id), -(order.amount + order.fee)),
            Leg(CUSTODIAN_CLEARING, order.amount),
            Leg(PLATFORM_FEE_INCOME, order.fee),
        ],
        idempotency_key=f"withdrawal:{order.order_no}:settle",
        ref_type="withdrawal",
        ref_id=order.order_no,
        memo="提现成功 withdrawal paid",
    )
    order.status = "succeeded"
    order.finished_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="withdrawal.settled",
        object_type="withdrawal",
        object_id=order.order_no,
        details={"amount": order.amount, "fee": order.fee},
    )
    notifications.notify_user(
        session,
        user_id=order.user_id,
        template="withdrawal_succeeded",
        params={"amount": yuan_str(order.amount), "card_tail": order.card_masked[-4:]},
    )


def release_withdrawal_hold(session: Session, order: WithdrawalOrder, reason: str) -> None:
    """The withdrawal failed: the whole hold, amount and fee, goes back to available."""
    ledger.transfer(
        session,
        kind="withdrawal_release",
        source=user_frozen(order.user_id),
        destination=user_available(order.user_id),
        amount=order.amount + order.fee,
        idempotency_key=f"withdrawal:{order.order_no}:release",
        ref_type="withdrawal",
        ref_id=order.order_no,
        memo="提现失败解冻 withdrawal released",
    )
    order.status = "failed"
    order.failure_reason = reason[:200]
    order.finished_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="withdrawal.released",
        object_type="withdrawal",
        object_id=order.order_no,
        details={"amount": order.amount, "fee": order.fee, "reason": reason[:200]},
    )
    notifications.notify_user(
        session,
        user_id=order.user_id,
        template="withdrawal_failed",
        params={"amount": yuan_str(order.amount)},
    )


def withdrawal_order(session: Session, user_id: int, order_no: str) -> WithdrawalOrder:
    order = session.scalars(
        select(WithdrawalOrder).where(
            WithdrawalOrder.order_no == order_no, WithdrawalOrder.user_id == user_id
        )
    ).first()
    if order is None:
        raise OrderNotFound("No such withdrawal order.", details={"order_no": order_no})
    return order


# --- batch transfer instructions (批量转账指令) and their orphans ------------------------------

DONE, VOIDED = "done", "voided"
REVERSAL_PENDING, REVERSAL_SUCCEEDED, REVERSAL_REFUSED = "pending", "succeeded", "refused"
REVERSAL_PREFIX = "REV"
RETRY_MARK = "~"  # ``{base}~{k}``: the act's k-th number after k voids
# Longer than any platform transaction may stay open: an instruction older than this with no
# record belongs to an act that will never commit.
SWEEP_GRACE = timedelta(minutes=15)
# How far back the sweep reads the bank's transfers: several days of missed sweeps.
SWEEP_LOOKBACK = timedelta(days=3)
_IN_CHUNK = 500  # numbers per IN (…) read: well under SQLite's bound on parameters


def transfer_at_bank(
    session: Session, custodian: Custodian, base_no: str, legs: Sequence[TransferLeg]
) -> str:
    """Have the bank carry out one batch instruction for the act numbered ``base_no`` and record
    it in the act's transaction; returns the instruction number used. Anything but success is
    refused (``custodian_refused``).

    The number is derived from the act, so a retried act replays at the bank instead of moving
    the money twice — unless the sweep voided it (the act had rolled back after the bank moved):
    then the retry needs a number the bank has never seen, ``{base_no}~{k}`` after k voids.
    """
    [instruction_no] = transfer_many_at_bank(session, custodian, [(base_no, legs)])
    return instruction_no


def transfer_many_at_bank(
    session: Session, custodian: Custodian, acts: Sequence[tuple[str, Sequence[TransferLeg]]]
) -> list[str]:
    """``transfer_at_bank`` for several acts (distinct ``base_no``s: a day's repayments) in one
    exchange with the bank and one record of them all; the numbers used, in order. Any refusal
    refuses them all (``custodian_refused``, naming the first refused)."""
    if not acts:
        return []
    instructions = _numbered(session, acts)
    statuses = custodian.transfer_many(instructions)
    for instruction, status in zip(instructions, statuses, strict=True):
        if status != "succeeded":
            raise CustodianRefused(
                "The custodian bank did not carry out the transfer.",
                details={"instruction": instruction.instruction_no, "status": status},
            )
    try:
        with session.begin_nested():
            insert_rows(
                session,
                BankInstruction,
                [
                    {
                        "instruction_no": instruction.instruction_no,
                        "base_no": base_no,
                        "amount": sum(leg.amount for leg in legs),
                    }
                    for instruction, (base_no, legs) in zip(instructions, acts, strict=True)
                ],
                shared={"status": DONE, "recorded_at": clock.now()},
            )
    except IntegrityError as exc:
        # The sweep voided a number meanwhile (and reverses it at the bank): this act must not
        # commit too. Its retry gets the next number.
        raise BankInstructionVoided(
            "The bank instruction was voided while this act was under way; nothing was recorded. Try again.",
            details={"instruction": " ".join(i.instruction_no for i in instructions)},
        ) from exc
    return [i.instruction_no for i in instructions]


def _numbered(session: Session, acts: Sequence[tuple[str, Sequence[TransferLeg]]]) -> list[Instruction]:
    """Each act's instruction under ``base_no``, or ``{base_no}~{k}`` after k voids of it."""
    voided: dict[str, int] = dict(
        session.execute(
            select(BankInstruction.base_no, func.count())
            .where(
                BankInstruction.base_no.in_([base_no for base_no, _ in acts]),
                BankInstruction.status == VOIDED,
            )
            .group_by(BankInstruction.base_no)
        ).all()
    )
    return [
        Instruction(f"{base_no}{RETRY_MARK}{voided[base_no]}" if base_no in voided else base_no, tuple(legs))
        for base_no, legs in acts
    ]


@dataclass(frozen=True, slots=True)
class SweepReport:
    checked: int  # the bank's transfers in the window
    voided: tuple[str, ...]  # orphans found and voided by this sweep
    reversed: tuple[str, ...]  # reversals the bank carried out in this sweep
    refused: tuple[str, ...]  # reversals the bank refused in this sweep: for staff


def sweep_orphaned_instructions(
    factory: sessionmaker[Session],
    custodian: Custodian,
    *,
    now: datetime,
    grace: timedelta = SWEEP_GRACE,
    actor_id: int | None = None,
) -> SweepReport:
    """Void and reverse the bank's transfers that no act of the platform's recorded (orphans).

    Each void commits before its reversal is instructed, so an act still open commits after it
    only to fail on the unique number: the act and the void never both win. A reversal the bank
    refuses stays listed (``refused``) for staff; one left ``pending`` by an interrupted sweep is
    instructed again by the next (the reversal's number makes it idempotent at the bank).
    """
    with transaction(factory) as session:
        start = _sweep_start(session, now - grace - SWEEP_LOOKBACK)
        executed = custodian.transfers_between(start, now - grace) if start < now - grace else []
        orphans = _unrecorded(session, executed)
    voided = tuple(o.instruction_no for o in orphans if _void(factory, o, actor_id))
    with transaction(factory) as session:
        pending = list(
            session.scalars(
                select(BankInstruction)
                .where(BankInstruction.status == VOIDED, BankInstruction.reversal_status == REVERSAL_PENDING)
                .order_by(BankInstruction.id)
            )
        )
        session.expunge_all()
    outcomes = {row.instruction_no: _reverse(factory, custodian, row, actor_id) for row in pending}
    report = SweepReport(
        checked=len(executed),
        voided=voided,
        reversed=tuple(no for no, ok in outcomes.items() if ok),
        refused=tuple(no for no, ok in outcomes.items() if not ok),
    )
    if report.voided or report.refused:
        log.warning("custody.orphans_swept", voided=report.voided, refused=report.refused)
    return report


def _sweep_start(session: Session, lookback_start: datetime) -> datetime:
    """Where the sweep starts reading: the lookback, but never before the platform recorded."""
    recording_since = session.scalar(select(func.max(InstructionRecordStart.started_at)))
    return lookback_start if recording_since is None else max(lookback_start, recording_since)


def _unrecorded(session: Session, executed: Sequence[ExecutedTransfer]) -> list[ExecutedTransfer]:
    """The transfers the platform has no record of, reversals aside, in a few set-based reads."""
    candidates = [t for t in executed if not t.instruction_no.startswith(REVERSAL_PREFIX)]
    numbers = [t.instruction_no for t in candidates]
    recorded: set[str] = set()
    for start in range(0, len(numbers), _IN_CHUNK):
        chunk = numbers[start : start + _IN_CHUNK]
        recorded.update(
            session.scalars(
                select(BankInstruction.instruction_no).where(BankInstruction.instruction_no.in_(chunk))
            )
        )
    return [t for t in candidates if t.instruction_no not in recorded]


def _void(factory: sessionmaker[Session], orphan: ExecutedTransfer, actor_id: int | None) -> bool:
    """Record the orphan ``voided`` and commit; False when its act committed first after all."""
    instruction_no = orphan.instruction_no
    amount = sum(leg.amount for leg in orphan.legs)
    try:
        with transaction(factory) as session:
            session.add(
                BankInstruction(
                    instruction_no=instruction_no,
                    base_no=instruction_no.partition(RETRY_MARK)[0],
                    status=VOIDED,
                    amount=amount,
                    recorded_at=clock.now(),
                    legs=json.dumps([[leg.from_sub, leg.to_sub, leg.amount] for leg in orphan.legs]),
                    executed_at=orphan.executed_at,
                    reversal_no=f"{REVERSAL_PREFIX}{instruction_no}",
                    reversal_status=REVERSAL_PENDING,
                )
            )
            session.flush()
            audit.record(
                session,
                actor_id=actor_id,
                action="bank_instruction.voided",
                object_type="bank_instruction",
                object_id=instruction_no,
                details={"amount": amount, "legs": len(orphan.legs), "executed_at": orphan.executed_at},
            )
    except IntegrityError:
        return False  # the act recorded it (it committed late, within its rights)
    return True


def _reverse(
    factory: sessionmaker[Session], custodian: Custodian, row: BankInstruction, actor_id: int | None
) -> bool:
    """Instruct the voided transfer's reversal (legs swapped, last first) and record the outcome."""
    assert row.legs is not None and row.reversal_no is not None
    legs = [
        TransferLeg(to_sub, from_sub, amount) for from_sub, to_sub, amount in reversed(json.loads(row.legs))
    ]
    succeeded = custodian.transfer(row.reversal_no, legs) == "succeeded"
    with transaction(factory) as session:
        record = session.get_one(BankInstruction, row.id)
        record.reversal_status = REVERSAL_SUCCEEDED if succeeded else REVERSAL_REFUSED
        record.reversed_at = clock.now() if succeeded else None
        session.flush()
        audit.record(
            session,
            actor_id=actor_id,
            action="bank_instruction.reversed" if succeeded else "bank_instruction.reversal_refused",
            object_type="bank_instruction",
            object_id=row.instruction_no,
            details={"reversal": row.reversal_no, "amount": row.amount},
        )
    return succeeded


def voided_instructions(session: Session, *, limit: int = 200) -> list[BankInstruction]:
    """The voided (orphaned) instructions, newest first: refused reversals need staff."""
    return list(
        session.scalars(
            select(BankInstruction)
            .where(BankInstruction.status == VOIDED)
            .order_by(BankInstruction.id.desc())
            .limit(limit)
        )
    )


# --- callbacks (银行回调) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    event_id: str
    order_no: str
    # applied | duplicate | already_applied | conflict_ignored | amount_mismatch
    # | rejected_unknown_order | rejected_sub_account_mismatch
    result: str


def handle_callback(
    session: Session, body: bytes, signature: str, *, secret: str | None = None
) -> CallbackOutcome:
    """Verify, record in the inbox, apply exactly once. A forged callback changes nothing."""
    secret = secret if secret is not None else get_settings().custodian_hmac_secret
    if not signing.is_valid(body, signature, secret):
        # Logged, not stored: the raise rolls the transaction back, and ops still see it.
        log.warning("custody.callback_rejected", reason="invalid_signature", size=len(body))
        raise InvalidSignature("The callback's signature does not verify.")
    payload = _parse_callback(body)
    event = _record_event(session, payload, body)
    if event is None:
        return CallbackOutcome(payload["event_id"], payload["order_no"], "duplicate")
    apply = _apply_deposit_event if payload["type"] == "deposit" else _apply_withdrawal_event
    event.outcome = apply(session, payload)
    session.flush()
    return CallbackOutcome(event.event_id, event.order_no, event.outcome)


def _parse_callback(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise MalformedCallback("The callback body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise MalformedCallback("The callback body is not a JSON object.")
    checks: dict[str, Callable[[Any], bool]] = {
        "event_id": lambda v: isinstance(v, str) and 0 < len(v) <= 64,
        "order_no": lambda v: isinstance(v, str) and 0 < len(v) <= 64,
        "type": lambda v: v in ("deposit", "withdrawal"),
        "status": lambda v: v in ("succeeded", "failed"),
        "sub_account": lambda v: isinstance(v, str),
        "amount": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    }
    bad = [field for field, ok in checks.items() if not ok(payload.get(field))]
    fee = payload.get("fee", 0)
    if not isinstance(fee, int) or isinstance(fee, bool) or fee < 0:
        bad.append("fee")
    if bad:
        raise MalformedCallback("The callback is missing or has invalid fields.", details={"fields": bad})
    return payload


def _record_event(session: Session, payload: Mapping[str, Any], body: bytes) -> CallbackEvent | None:
    """Insert the event into the inbox; None when this event id was recorded before (R13)."""
    event = CallbackEvent(
        source=CALLBACK_SOURCE,
        event_id=payload["event_id"],
        order_no=payload["order_no"],
        body=body.decode(),
        outcome="received",
        received_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return None
    return event


def _anomaly(session: Session, kind: str, payload: Mapping[str, Any], **details: Any) -> None:
    session.add(
        CustodyAnomaly(
            kind=kind,
            order_no=payload["order_no"],
            event_id=payload["event_id"],
            sub_account_no=payload.get("sub_account"),
            details=json.dumps(details, sort_keys=True, default=str),
            created_at=clock.now(),
        )
    )
    session.flush()
    log.warning("custody.anomaly", kind=kind, order_no=payload["order_no"], event_id=payload["event_id"])


def _refuse_mismatched(
    session: Session,
    payload: Mapping[str, Any],
    order: DepositOrder | WithdrawalOrder | None,
    *,
    final: tuple[str, ...],
) -> str | None:
    """The outcome when this report must not move money (recorded for ops), else None."""
    if order is None:
        _anomaly(session, "unknown_order", payload, type=payload["type"], amount=payload["amount"])
        return "rejected_unknown_order"
    if payload["sub_account"] != order.sub_account_no:
        _anomaly(session, "sub_account_mismatch", payload, expected=order.sub_account_no)
        return "rejected_sub_account_mismatch"
    if order.status in final:
        if order.status == payload["status"]:
            return "already_applied"
        # The first final state wins; the contradiction goes to ops (R13).
        _anomaly(
            session, "conflicting_final_state", payload, current=order.status, reported=payload["status"]
        )
        return "conflict_ignored"
    return None


def _apply_deposit_event(session: Session, payload: Mapping[str, Any]) -> str:
    order = session.scalars(
        select(DepositOrder).where(DepositOrder.order_no == payload["order_no"]).with_for_update()
    ).first()
    refusal = _refuse_mismatched(session, payload, order, final=("succeeded", "failed", "amount_mismatch"))
    if refusal is not None:
        return refusal
    assert order is not None
    if payload["status"] == "failed":
        order.status = "failed"
        order.failure_reason = str(payload.get("reason") or "")[:200]
        order.finished_at = clock.now()
        notifications.notify_user(
            session,
            user_id=order.user_id,
            template="deposit_failed",
            params={"amount": yuan_str(order.amount)},
        )
        return "applied"
    if payload["amount"] != order.amount:
        # Credit nothing: which amount is right is for ops to establish; reconciliation shows it.
        order.status = "amount_mismatch"
        order.finished_at = clock.now()
        _anomaly(session, "amount_mismatch", payload, ordered=order.amount, reported=payload["amount"])
        return "amount_mismatch"
    credit_deposit(session, order)  # also when expired: the money is at the bank
    return "applied"


def _apply_withdrawal_event(session: Session, payload: Mapping[str, Any]) -> str:
    order = session.scalars(
        select(WithdrawalOrder).where(WithdrawalOrder.order_no == payload["order_no"]).with_for_update()
    ).first()
    refusal = _refuse_mismatched(session, payload, order, final=("succeeded", "failed"))
    if refusal is not None:
        return refusal
    assert order is not None
    if payload["status"] == "failed":
        release_withdrawal_hold(session, order, str(payload.get("reason") or "failed at the bank"))
        return "applied"
    if payload["amount"] != order.amount or payload.get("fee", 0) != order.fee:
        # The hold stays frozen until ops establish what the bank really paid.
        _anomaly(
            session,
            "amount_mismatch",
            payload,
            ordered=order.amount,
            ordered_fee=order.fee,
            reported=payload["amount"],
            reported_fee=payload.get("fee", 0),
        )
        return "amount_mismatch"
    settle_withdrawal(session, order)
    return "applied"


class InProcessSink:
    """Delivers the bank's callbacks straight to ``handle_callback``, each in a new platform
    transaction, as the HTTP endpoint would. False (retry later) on any refusal or error."""

    def __init__(self, platform_sessions: sessionmaker[Session], secret: str | None = None) -> None:
        self._sessions = platform_sessions
        self._secret = secret

    def deliver(self, body: bytes, signature: str) -> bool:
        try:
            with transaction(self._sessions) as session:
                handle_callback(session, body, signature, secret=self._secret)
        except Exception:
            log.exception("custody.callback_delivery_failed")
            return False
        return True


def open_anomalies(session: Session, *, limit: int = 200) -> list[CustodyAnomaly]:
    return list(
        session.scalars(
            select(CustodyAnomaly)
            .where(CustodyAnomaly.resolved_at.is_(None))
            .order_by(CustodyAnomaly.id.desc())
            .limit(limit)
        )
    )


# --- reconciliation (对账, R12) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    sub_account_no: str
    owner_type: str | None  # None: a sub-account the platform does not know
    owner_id: int | None
    platform_amount: int
    bank_amount: int

    @property
    def difference(self) -> int:
        return self.bank_amount - self.platform_amount


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    run_id: int | None
    day: date
    sub_accounts_checked: int
    platform_total: int
    bank_total: int
    differences: tuple[Difference, ...]

    @property
    def balanced(self) -> bool:
        return not self.differences


def reconcile(
    session: Session, custodian: Custodian, day: date, *, actor_id: int | None = None
) -> ReconciliationReport:
    """Compare every sub-account's end-of-day balance at the bank with the ledger's; store the run."""
    if day > clock.today():
        raise ReconciliationDateInFuture(
            "A day after today cannot be reconciled.", details={"today": clock.today().isoformat()}
        )
    statement = custodian.statement(day)
    as_of = ledger.balances_as_of(session, day)
    bank = {line.sub_account_no: line.balance for line in statement.lines}
    report = _compare(session, day, lambda code: as_of.get(code, 0), bank)
    run = ReconciliationRun(
        business_date=day,
        run_at=clock.now(),
        run_by=actor_id,
        sub_accounts_checked=report.sub_accounts_checked,
        difference_count=len(report.differences),
        platform_total=report.platform_total,
        bank_total=report.bank_total,
    )
    session.add(run)
    session.flush()
    session.add_all(
        ReconciliationDifference(
            run_id=run.id,
            sub_account_no=d.sub_account_no,
            owner_type=d.owner_type,
            owner_id=d.owner_id,
            platform_amount=d.platform_amount,
            bank_amount=d.bank_amount,
            difference=d.difference,
        )
        for d in report.differences
    )
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="custody.reconciled",
        object_type="reconciliation",
        object_id=run.id,
        details={"day": day, "differences": len(report.differences)},
    )
    return ReconciliationReport(
        run.id, day, report.sub_accounts_checked, report.platform_total, report.bank_total, report.differences
    )


def live_differences(session: Session, custodian: Custodian) -> ReconciliationReport:
    """Platform vs bank now (no run stored): what the test invariants check after every test."""
    bank = custodian.balances()
    everything = ledger.balances_as_of(session, date.max)  # every posting: the current balances
    return _compare(session, clock.today(), lambda code: everything.get(code, 0), bank)


def sub_accounts_with_open_anomalies(session: Session) -> set[str]:
    return {
        no
        for no in session.scalars(
            select(CustodyAnomaly.sub_account_no).where(
                CustodyAnomaly.resolved_at.is_(None), CustodyAnomaly.kind.in_(MONEY_ANOMALIES)
            )
        )
        if no is not None
    }


def has_custody_accounts(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(CustodyAccount)) != 0


def reconciliation_run(session: Session, run_id: int) -> ReconciliationRun | None:
    return session.get(ReconciliationRun, run_id)


def reconciliation_runs(session: Session, *, limit: int = 50) -> list[ReconciliationRun]:
    return list(session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.id.desc()).limit(limit)))


def reconciliation_differences(session: Session, run_id: int) -> list[ReconciliationDifference]:
    return list(
        session.scalars(
            select(ReconciliationDifference)
            .where(ReconciliationDifference.run_id == run_id)
            .order_by(ReconciliationDifference.id)
        )
    )


def _compare(
    session: Session, day: date, platform_balance: Callable[[str], int], bank: Mapping[str, int]
) -> ReconciliationReport:
    differences: list[Difference] = []
    platform_total = 0
    seen: set[str] = set()
    for account in session.scalars(select(CustodyAccount).order_by(CustodyAccount.id)):
        seen.add(account.sub_account_no)
        if account.owner_type == "user":
            mine = platform_balance(user_available(account.owner_id)) + platform_balance(
                user_frozen(account.owner_id)
            )
        else:
            mine = platform_balance(PLATFORM_FEE_INCOME)
        platform_total += mine
        theirs = bank.get(account.sub_account_no, 0)
        if mine != theirs:
            differences.append(
                Difference(account.sub_account_no, account.owner_type, account.owner_id, mine, theirs)
            )
    for sub_account_no, theirs in sorted(bank.items()):
        # A sub-account the platform never recorded (e.g. its transaction rolled back).
        if sub_account_no not in seen and theirs != 0:
            differences.append(Difference(sub_account_no, None, None, 0, theirs))
    return ReconciliationReport(
        run_id=None,
        day=day,
        sub_accounts_checked=len(seen | set(bank)),
        platform_total=platform_total,
        bank_total=sum(bank.values()),
        differences=tuple(differences),
    )


# --- the custodian this deployment uses ----------------------------------------------------


def simulated_custodian(
    platform_url: str,
    platform_sessions: sessionmaker[Session] | None = None,
    settings: Settings | None = None,
    *,
    auto_process_withdrawals: bool = True,
) -> SimulatedBank:
    """The simulated bank for a platform database, delivering callbacks in-process."""
    settings = settings or get_settings()
    bank = SimulatedBank.at(
        bank_database_url(platform_url, settings.custodian_database_url),
        secret=settings.custodian_hmac_secret,
        options=BankOptions(
            failing_cards=failing_cards(settings.custodian_failing_cards),
            auto_process_withdrawals=auto_process_withdrawals,
        ),
    )
    if platform_sessions is not None:
        bank.sink = InProcessSink(platform_sessions, settings.custodian_hmac_secret)
    return bank
