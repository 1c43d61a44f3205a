"""What must hold after the run, whatever broke during it.

- the ledger verifies (every entry balances, balances match postings, no user below zero);
- custody reconciles: every sub-account at the bank holds what the ledger says (R12), once the
  orphan sweep (run before the checks) has voided and reversed every transfer the bank made for
  an act that never committed; a reversal the bank refused is a violation;
- money is conserved: what the bank took in deposits minus what it paid out in withdrawals
  is what the platform's books hold for users and the platform, and what the bank's
  sub-accounts hold — the difference, both ways, is ``fen_lost`` (must be 0);
- every acknowledged op is reflected exactly once: its idempotency record names the object
  its answer named, no op made an object without a record (a double effect), no op was
  refused after an earlier try of it had been applied, and every deposit the bank took is
  credited once and every withdrawal it paid is settled once;
- nothing is oversold: no listing funded beyond its amount, no transfer listing sold beyond
  what it offered, every loan's holdings summing to its outstanding principal (R26, R42, R44).
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.bench.world import World
from p2plend.chaos.clients import ACKED, REFUSED, UNANSWERED, Op
from p2plend.custody import service as custody
from p2plend.custody.models import BankInstruction, DepositOrder, WithdrawalOrder
from p2plend.custody.simulated.models import BankOrder, BankSubAccount
from p2plend.db import transaction
from p2plend.idempotency.models import IdempotentRequest
from p2plend.jobs import eod
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid, Holding, Loan
from p2plend.servicing.models import Repayment
from p2plend.transfers.models import TransferListing, TransferSale

KEY_PREFIX = "chaos-"


@dataclass
class Verdict:
    ledger: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # sub-account: platform vs bank
    anomalies: int = 0  # open custody anomalies (callbacks ops must look at)
    deposited: int = 0
    withdrawn: int = 0
    platform_total: int = 0
    bank_total: int = 0
    once: list[str] = field(default_factory=list)  # exactly-once violations
    in_doubt_applied: int = 0  # unanswered ops that had in fact happened (once)
    oversold: list[str] = field(default_factory=list)
    # Transfers the bank carried out that no act recorded, voided by the sweep: number → reversal
    orphans_voided: dict[str, str | None] = field(default_factory=dict)
    claims: list[str] = field(default_factory=list)  # holdings ≠ outstanding principal
    stuck: list[str] = field(default_factory=list)  # orders not final after the drain
    last_closed: str = ""
    auto_debits: int = 0  # repayments the batch collected during the run

    @property
    def fen_lost(self) -> int:
        expected = self.deposited - self.withdrawn
        return abs(self.platform_total - expected) + abs(self.bank_total - expected)

    @property
    def violations(self) -> list[str]:
        money = [f"fen lost: {self.fen_lost}"] if self.fen_lost else []
        unreversed = [
            f"orphaned bank instruction {no}: voided, its reversal {status}"
            for no, status in self.orphans_voided.items()
            if status != custody.REVERSAL_SUCCEEDED
        ]
        return [
            *self.differences,
            *unreversed,
            *self.ledger,
            *money,
            *self.once,
            *self.oversold,
            *self.claims,
            *self.stuck,
        ]


def verify(w: World, ops: list[Op], since: datetime) -> Verdict:
    verdict = Verdict()
    with transaction(w.factory) as session:
        verdict.ledger = [f"ledger {v.rule}: {v.subject}: {v.detail}" for v in ledger.verify(session)]
        report = custody.live_differences(session, w.bank)
        verdict.differences = [
            f"custody {d.sub_account_no} ({d.owner_type}:{d.owner_id}): platform {d.platform_amount}, "
            f"bank {d.bank_amount}"
            for d in report.differences
        ]
        verdict.anomalies = len(custody.open_anomalies(session))
        _money(session, verdict)
        _exactly_once(session, ops, since, verdict)
        _bank_orders_applied_once(session, verdict)
        verdict.orphans_voided = dict(
            session.execute(
                select(BankInstruction.instruction_no, BankInstruction.reversal_status)
                .where(BankInstruction.status == custody.VOIDED)
                .order_by(BankInstruction.id)
            ).all()
        )
        _nothing_oversold(session, verdict)
        last = eod.last_closed(session)
        verdict.last_closed = "" if last is None else last.isoformat()
        if last is None or last < clock.business_date_of(since):
            verdict.stuck.append(f"end of day: closed through {last}, not the run's date")
        verdict.auto_debits = len(
            _ids(
                session,
                select(Repayment.id).where(Repayment.kind == "auto_debit", Repayment.created_at >= since),
            )
        )
    return verdict


def _money(session: Session, verdict: Verdict) -> None:
    def bank_sum(kind: str) -> int:
        paid = func.coalesce(BankOrder.paid_amount, BankOrder.amount)
        return int(
            session.scalar(
                select(func.coalesce(func.sum(paid), 0)).where(
                    BankOrder.kind == kind, BankOrder.status == "succeeded"
                )
            )
            or 0
        )

    verdict.deposited = bank_sum("deposit")
    verdict.withdrawn = bank_sum("withdrawal")
    # Everything the ledger holds inside custody: every account but the clearing account,
    # which is minus that when the books sum to zero (checked by ledger.verify).
    verdict.platform_total = -ledger.balance(session, ledger.CUSTODIAN_CLEARING)
    verdict.bank_total = int(session.scalar(select(func.coalesce(func.sum(BankSubAccount.balance), 0))) or 0)


# The object each idempotent operation makes, and the field of its answer that names it.
_EFFECT_FIELD = {
    "deposit.start": "order_no",
    "withdrawal.request": "order_no",
    "bid.place": "id",
    "loan.repay": "id",
    "transfer.buy": "id",
}


def _exactly_once(session: Session, ops: list[Op], since: datetime, verdict: Verdict) -> None:
    records: dict[tuple[int, str, str], str] = {}
    for user_id, operation, key, body in session.execute(
        select(
            IdempotentRequest.user_id,
            IdempotentRequest.operation,
            IdempotentRequest.key,
            IdempotentRequest.response_body,
        ).where(IdempotentRequest.key.startswith(KEY_PREFIX))
    ):
        records[(user_id, operation, key)] = str(json.loads(body)[_EFFECT_FIELD[operation]])
    for op in ops:
        if op.operation is None or op.key is None:
            continue
        recorded = records.get((op.user_id, op.operation, op.key))
        if op.outcome == ACKED and recorded != op.effect:
            verdict.once.append(f"{op.kind} {op.key}: answered {op.effect}, recorded {recorded}")
        elif op.outcome == REFUSED and recorded is not None:
            verdict.once.append(f"{op.kind} {op.key}: refused ({op.code}) though applied as {recorded}")
        elif op.outcome == UNANSWERED and recorded is not None:
            verdict.in_doubt_applied += 1
    made = {
        "deposit.start": _ids(session, select(DepositOrder.order_no).where(DepositOrder.created_at >= since)),
        "withdrawal.request": _ids(
            session, select(WithdrawalOrder.order_no).where(WithdrawalOrder.created_at >= since)
        ),
        "bid.place": _ids(session, select(Bid.id).where(Bid.source == "bid", Bid.created_at >= since)),
        "loan.repay": _ids(
            session,
            select(Repayment.id).where(Repayment.kind == "installment", Repayment.created_at >= since),
        ),
        "transfer.buy": _ids(session, select(TransferSale.id).where(TransferSale.created_at >= since)),
    }
    for operation, objects in made.items():
        named = Counter(effect for (_, op_name, _), effect in records.items() if op_name == operation)
        for effect in sorted(objects - set(named)):
            verdict.once.append(
                f"{operation}: {effect} made without its idempotency record (a second effect?)"
            )
        for effect, count in sorted(named.items()):
            if effect not in objects:
                verdict.once.append(f"{operation}: record names {effect}, which does not exist")
            if count > 1:
                verdict.once.append(f"{operation}: {effect} is the answer of {count} different keys")


def _ids(session: Session, query: Select[Any]) -> set[str]:
    return {str(value) for value in session.scalars(query)}


def _bank_orders_applied_once(session: Session, verdict: Verdict) -> None:
    """What the bank finished, the platform finished the same way (ledger keys are unique,
    so an order applied has exactly one entry of each kind); a withdrawal is never left
    waiting once the drain has sent every instruction."""
    bank = dict(
        session.execute(
            select(BankOrder.order_no, BankOrder.status).where(BankOrder.kind.in_(("deposit", "withdrawal")))
        ).all()
    )
    deposits = dict(session.execute(select(DepositOrder.order_no, DepositOrder.status)).all())
    withdrawals = dict(session.execute(select(WithdrawalOrder.order_no, WithdrawalOrder.status)).all())
    for order_no, status in sorted({**deposits, **withdrawals}.items()):
        at_bank = bank.get(order_no)
        if status in ("succeeded", "failed"):
            if at_bank != status:
                verdict.stuck.append(f"order {order_no}: {status} here, {at_bank} at the bank")
        elif at_bank not in (None, "pending"):
            verdict.stuck.append(f"order {order_no}: {at_bank} at the bank, {status} here")
        elif order_no in withdrawals:
            verdict.stuck.append(f"withdrawal {order_no}: still {status} after the drain")
    for order_no in sorted(set(bank) - set(deposits) - set(withdrawals)):
        if bank[order_no] == "succeeded":
            verdict.stuck.append(f"order {order_no}: succeeded at the bank, unknown here")


def _nothing_oversold(session: Session, verdict: Verdict) -> None:
    taken = dict(
        session.execute(
            select(Bid.loan_id, func.sum(Bid.amount))
            .where(Bid.status.in_(("frozen", "disbursed")))
            .group_by(Bid.loan_id)
        ).all()
    )
    held = dict(
        session.execute(
            select(Holding.loan_id, func.sum(Holding.principal_outstanding)).group_by(Holding.loan_id)
        ).all()
    )
    for loan in session.scalars(select(Loan).order_by(Loan.id)):
        over = max(loan.funded, int(taken.get(loan.id) or 0)) - loan.amount
        if over > 0:
            verdict.oversold.append(f"loan {loan.id}: {over} fen beyond its amount {loan.amount}")
        if loan.status in (marketplace.DISBURSED, marketplace.SETTLED):
            holdings = int(held.get(loan.id) or 0)
            if holdings != loan.principal_outstanding:
                verdict.claims.append(
                    f"loan {loan.id}: holdings {holdings}, outstanding principal {loan.principal_outstanding}"
                )
    negative = session.scalar(select(func.count()).where(Holding.principal_outstanding < 0)) or 0
    if negative:
        verdict.claims.append(f"{negative} holding(s) below zero")
    sold = dict(
        session.execute(
            select(TransferSale.listing_id, func.sum(TransferSale.principal)).group_by(
                TransferSale.listing_id
            )
        ).all()
    )
    for listing in session.scalars(select(TransferListing).order_by(TransferListing.id)):
        parts = int(sold.get(listing.id) or 0)
        if listing.sold > listing.principal or parts != listing.sold:
            verdict.oversold.append(
                f"transfer listing {listing.id}: offered {listing.principal}, sold {listing.sold}, "
                f"parts sold {parts}"
            )
