"""Servicing's business acts: start a loan's schedule, take repayments, split them among holders.

The borrower's schedule is the only schedule (DOMAIN.md §3): investors' flows derive from
it, split in proportion to the holdings on the payment date with ``money.allocate``, each
component separately. A repayment is one ledger entry — the borrower's ``available`` out,
each holder's ``available`` in (net of the investor management fee), the fees to the
platform — and one batch instruction to the custodian bank moving the same amounts
between the same sub-accounts. Holdings always sum to the loan's outstanding principal (R26).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian, TransferLeg
from p2plend.db import insert_rows, update_rows
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace import transfer_listings
from p2plend.marketplace.models import Holding, Loan
from p2plend.money import allocate, fen_times_rate, round_fen, yuan_str
from p2plend.schedules.service import (
    Installment,
    Method,
    PartialPrepaymentChoice,
    Terms,
    build_schedule,
    full_early_repayment,
    partial_early_repayment,
    period_bounds,
)
from p2plend.servicing import delinquency
from p2plend.servicing.errors import (
    InstallmentDueFirst,
    InvalidRepayment,
    NothingDue,
    NotTheBorrower,
    RepaymentExceedsDue,
)
from p2plend.servicing.models import Distribution, PenaltyAccrual, Repayment, ScheduledInstallment

DUE, PAID, SUPERSEDED = "due", "paid", "superseded"
COMPENSATION = "compensation"  # the source of a claim a compensating payer acquired


# --- the schedule ------------------------------------------------------------------------


def terms_of(loan: Loan) -> Terms:
    if loan.value_date is None:
        raise InvalidRepayment("The loan has not been disbursed.")
    return Terms(
        principal=loan.amount,
        annual_rate=Decimal(loan.annual_rate),
        method=Method(loan.method),
        value_date=loan.value_date,
        months=loan.term_months,
        days=loan.term_days,
        day_basis=loan.day_basis,
    )


def disburse_loan(session: Session, loan_id: int, custodian: Custodian, *, actor_id: int) -> Loan:
    """放款: the funded listing's money goes to the borrower and the schedule is fixed — one act."""
    loan = marketplace.disburse_listing(session, loan_id, custodian, actor_id=actor_id)
    fix_schedule(session, loan)
    return loan


def fix_schedule(session: Session, loan: Loan) -> None:
    """Write the borrower's schedule from the loan's own terms (version 1)."""
    _write_schedule(session, loan, build_schedule(terms_of(loan)), version=1)


def _write_schedule(
    session: Session, loan: Loan, rows: list[Installment], *, version: int
) -> list[ScheduledInstallment]:
    fee = _management_fee(loan)
    written = [
        ScheduledInstallment(
            loan_id=loan.id,
            schedule_version=version,
            number=row.number,
            due_date=row.due_date,
            principal=row.principal,
            interest=row.interest,
            fee=fee,
            status=DUE,
        )
        for row in rows
    ]
    for row in written:
        if row.principal == row.interest == row.fee == 0:
            # Nothing to pay (an interest-first month at 0 %): never "due", never overdue.
            row.status, row.paid_on = PAID, row.due_date
    session.add_all(written)
    session.flush()
    return written


def _management_fee(loan: Loan) -> int:
    """账户管理费 per installment: a share of the original principal per month of the period."""
    rate = Decimal(loan.monthly_fee_rate)
    if not rate:
        return 0
    if Method(loan.method) is Method.BULLET:
        months = Decimal(loan.term_months) if loan.term_months else Decimal(loan.term_days or 0) / 30
        return round_fen(Decimal(loan.amount) * rate * months)
    return fen_times_rate(loan.amount, rate)


def schedule(session: Session, loan_id: int, *, with_superseded: bool = False) -> list[ScheduledInstallment]:
    """The loan's schedule in order; superseded rows (before a reschedule) only when asked."""
    query = select(ScheduledInstallment).where(ScheduledInstallment.loan_id == loan_id)
    if not with_superseded:
        query = query.where(ScheduledInstallment.status != SUPERSEDED)
    return list(
        session.scalars(
            query.order_by(ScheduledInstallment.number, ScheduledInstallment.schedule_version)
        ).all()
    )


def unpaid_installments(session: Session, loan_id: int) -> list[ScheduledInstallment]:
    """The installments still due, in order (current schedule version only)."""
    return unpaid_installments_of(session, [loan_id]).get(loan_id, [])


def unpaid_installments_of(
    session: Session, loan_ids: Sequence[int]
) -> dict[int, list[ScheduledInstallment]]:
    """``unpaid_installments`` of several loans, in one read."""
    found: dict[int, list[ScheduledInstallment]] = {}
    for row in session.scalars(
        select(ScheduledInstallment)
        .where(ScheduledInstallment.loan_id.in_(loan_ids), ScheduledInstallment.status == DUE)
        .order_by(ScheduledInstallment.loan_id, ScheduledInstallment.number)
    ):
        found.setdefault(row.loan_id, []).append(row)
    return found


@dataclass(frozen=True)
class AmountDue:
    """What ``repay`` takes now: every installment due by today, or else the next one;
    penalty interest and late fees counted up to today."""

    installments: tuple[ScheduledInstallment, ...]
    principal: int
    interest: int
    fee: int
    penalty: int = 0
    late_fee: int = 0

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fee + self.penalty + self.late_fee


def amount_due(session: Session, loan_id: int) -> AmountDue:
    loan = marketplace.get_loan(session, loan_id)
    today = clock.today()
    rows = _payable(unpaid_installments(session, loan_id), today)
    # What today's payment would post first (penalty days not yet accrued), without posting it.
    pending = [accrual for row in rows for accrual in _pending_accruals(loan, row, today)]
    return AmountDue(
        installments=tuple(rows),
        principal=sum(r.principal - r.paid_principal for r in rows),
        interest=sum(r.interest - r.paid_interest for r in rows),
        fee=sum(r.fee - r.paid_fee for r in rows),
        penalty=sum(r.penalty - r.paid_penalty for r in rows) + sum(a.penalty for a in pending),
        late_fee=sum(r.late_fee - r.paid_late_fee for r in rows) + sum(a.late_fee for a in pending),
    )


def _payable(unpaid: list[ScheduledInstallment], today: date) -> list[ScheduledInstallment]:
    arrears = [r for r in unpaid if r.due_date <= today]
    return arrears or unpaid[:1]


# --- penalty interest (罚息) and late fees -------------------------------------------------


@dataclass(frozen=True)
class _Accrual:
    installment: ScheduledInstallment
    business_date: date
    days_past_due: int
    days: int
    overdue_principal: int
    penalty: int
    late_fee: int


def _pending_accruals(loan: Loan, row: ScheduledInstallment, through: date) -> list[_Accrual]:
    """The penalty and late fee ``row`` earns on each day after its last accrual up to
    ``through`` (DOMAIN.md §7): nothing within grace, then the grace days and that day at
    once, then one day at a time, on the principal still overdue (R30, R31)."""
    if row.status != DUE or row.due_date >= through:
        return []
    overdue_principal = row.principal - row.paid_principal
    daily = delinquency.penalty_per_day(overdue_principal, Decimal(loan.penalty_rate))
    accruals: list[_Accrual] = []
    day = max(row.penalty_through or row.due_date, row.due_date) + timedelta(days=1)
    while day <= through:
        dpd = (day - row.due_date).days
        days = delinquency.penalty_days_posted_on(dpd)
        late_fee = loan.late_fee if dpd == delinquency.GRACE_DAYS + 1 else 0
        if days * daily or late_fee:
            accruals.append(_Accrual(row, day, dpd, days, overdue_principal, days * daily, late_fee))
        day += timedelta(days=1)
    return accruals


def accrue_overdue(session: Session, loan: Loan, through: date) -> int:
    """罚息计提: post every overdue installment's penalty and late fee up to ``through``.

    Each day is posted once (``penalty_through``; one ``penalty_accruals`` row per
    installment and day), by whichever comes first: the end-of-day batch of that day or a
    payment on it — so a borrower who pays on DPD 10 pays ten days, and the batch that
    runs that evening adds nothing. Returns how many accruals were written.
    """
    return _accrue(session, loan, unpaid_installments(session, loan.id), through)


def _accrue(session: Session, loan: Loan, unpaid: list[ScheduledInstallment], through: date) -> int:
    """``accrue_overdue`` on the loan's ``unpaid`` installments, already read."""
    accruals = _accrue_in_memory(loan, unpaid, through)
    _write_accruals(session, accruals)
    return len(accruals)


def _accrue_in_memory(loan: Loan, unpaid: list[ScheduledInstallment], through: date) -> list[_Accrual]:
    """Add the penalty and late fees up to ``through`` to ``unpaid``'s rows; the accruals to write."""
    accruals: list[_Accrual] = []
    for row in unpaid:
        if row.due_date >= through:
            break
        accruals.extend(_pending_accruals(loan, row, through))
        row.penalty_through = max(row.penalty_through or through, through)
    for accrual in accruals:
        accrual.installment.penalty += accrual.penalty
        accrual.installment.late_fee += accrual.late_fee
    return accruals


def _write_accruals(session: Session, accruals: Sequence[_Accrual]) -> None:
    session.flush()
    if accruals:
        session.execute(
            insert(PenaltyAccrual),
            [
                {
                    "loan_id": a.installment.loan_id,
                    "installment_id": a.installment.id,
                    "business_date": a.business_date,
                    "days_past_due": a.days_past_due,
                    "days": a.days,
                    "overdue_principal": a.overdue_principal,
                    "penalty": a.penalty,
                    "late_fee": a.late_fee,
                }
                for a in accruals
            ],
        )


# --- repayment ---------------------------------------------------------------------------


def repay(
    session: Session, loan_id: int, *, payer_id: int, custodian: Custodian, amount: int | None = None
) -> Repayment:
    """还款: pay what is due — all of it by default, or part of it.

    A part is applied in DOMAIN.md §7's order (R32): fees of overdue installments, then
    (penalty interest), then overdue interest, then overdue principal, each oldest
    installment first; the current installment last (fee, interest, principal).
    """
    loan = _serviced_loan(session, loan_id, payer_id)
    today = clock.today()
    unpaid = unpaid_installments(session, loan.id)
    _accrue(session, loan, unpaid, today)
    rows = _payable(unpaid, today)
    if not rows:
        raise NothingDue("Nothing is due on this loan.")
    owed = sum(r.owed for r in rows)
    amount = owed if amount is None else amount
    if amount <= 0:
        raise InvalidRepayment("A repayment is a positive amount.")
    if amount > owed:
        raise RepaymentExceedsDue(
            f"{yuan_str(owed)} yuan is due now; to pay more, repay early.", details={"due": yuan_str(owed)}
        )
    return _take_payment(
        session,
        loan,
        rows,
        amount,
        payer_id=payer_id,
        kind="installment",
        on=today,
        custodian=custodian,
        idempotency_key=None,
    )


def collect_due(session: Session, loan_id: int, *, on: date, custodian: Custodian) -> Repayment | None:
    """代扣: the end-of-day batch takes what is due by ``on`` from the borrower's available
    balance — all of it, or as much as there is — under the standing debit authorisation
    of the loan contract (R10). The ledger entry is keyed by (date, step, loan)."""
    return collect_due_all(session, [loan_id], on=on, custodian=custodian).get(loan_id)


def collect_due_all(
    session: Session, loan_ids: Sequence[int], *, on: date, custodian: Custodian
) -> dict[int, Repayment]:
    """``collect_due`` for a chunk of the batch's loans, with a fixed number of statements
    however many loans (but the bank's instructions, one per loan): the repayments made, by
    loan. A borrower with several of the loans pays them in loan id order from one balance."""
    loans = [
        loan for loan in marketplace.lock_loans(session, loan_ids) if loan.status == marketplace.DISBURSED
    ]
    available = ledger.available_balances(session, sorted({loan.borrower_id for loan in loans}))
    # Nothing to take from a borrower with nothing: the day's penalty is the accrue step's.
    loans = [loan for loan in loans if available[loan.borrower_id] > 0]
    unpaid = unpaid_installments_of(session, [loan.id for loan in loans])
    accruals: list[_Accrual] = []
    payments: list[_Payment] = []
    for loan in loans:
        accruals += _accrue_in_memory(loan, unpaid.get(loan.id, []), on)
        rows = [r for r in unpaid.get(loan.id, []) if r.due_date <= on]
        amount = min(sum(r.owed for r in rows), available[loan.borrower_id])
        if amount <= 0:
            continue
        available[loan.borrower_id] -= amount
        payments.append(
            _Payment(
                loan,
                rows,
                amount,
                payer_id=loan.borrower_id,
                kind="auto_debit",
                on=on,
                idempotency_key=f"eod:{on.isoformat()}:auto_debit:loan:{loan.id}",
            )
        )
    _write_accruals(session, accruals)
    repayments = _take_payments(session, payments, custodian)
    return {payment.loan.id: repayment for payment, repayment in zip(payments, repayments, strict=True)}


@dataclass(frozen=True)
class _Payment:
    """``amount`` taken from ``payer_id`` for ``loan``'s installments ``rows``."""

    loan: Loan
    rows: list[ScheduledInstallment]
    amount: int
    payer_id: int
    kind: str
    on: date
    idempotency_key: str | None


def _take_payment(
    session: Session,
    loan: Loan,
    rows: list[ScheduledInstallment],
    amount: int,
    *,
    payer_id: int,
    kind: str,
    on: date,
    custodian: Custodian,
    idempotency_key: str | None,
) -> Repayment:
    [repayment] = _take_payments(
        session, [_Payment(loan, rows, amount, payer_id, kind, on, idempotency_key)], custodian
    )
    return repayment


def _take_payments(session: Session, payments: Sequence[_Payment], custodian: Custodian) -> list[Repayment]:
    """Apply each payment in its loan's order, record it and pay its holders (payments of
    distinct loans, all written together)."""
    if not payments:
        return []
    applied = [_apply(p.rows, p.amount, p.on, RepaymentOrder(p.loan.repayment_order)) for p in payments]
    for payment in payments:
        for row in payment.rows:
            if row.owed == 0:
                row.status, row.paid_on = PAID, payment.on
    audit.record_all(
        session,
        [
            audit.Event(
                actor_id=p.payer_id if p.kind == "installment" else None,
                action="loan.repaid" if p.kind == "installment" else f"loan.{p.kind}",
                object_type="loan",
                object_id=p.loan.id,
                details=_repayment_details(p.amount, p.rows, paid),
            )
            for p, (paid, _) in zip(payments, applied, strict=True)
        ],
    )
    repayments = _record_all(
        session,
        [
            _new_repayment(p.loan, payer_id=p.payer_id, kind=p.kind, on=p.on, prepayment_fee=0, **paid)
            for p, (paid, _) in zip(payments, applied, strict=True)
        ],
    )
    _distribute_all(
        session,
        [
            _ToDistribute(p.loan, repayment, p.idempotency_key, takes)
            for p, repayment, (_, takes) in zip(payments, repayments, applied, strict=True)
        ],
        custodian,
    )
    for payment in payments:
        _settle_if_repaid(session, payment.loan)
    return repayments


def _repayment_details(
    amount: int, rows: list[ScheduledInstallment], paid: dict[str, int]
) -> dict[str, object]:
    details: dict[str, object] = {"amount": yuan_str(amount), "installments": [r.number for r in rows]}
    details.update((part, yuan_str(value)) for part, value in paid.items())
    return details


class RepaymentOrder(StrEnum):
    """Where a payment short of what is due goes; the product sets it, the loan keeps it."""

    # R32 [D]: fees and late fees, then penalty, then interest, then principal across every
    # overdue installment (each component oldest installment first); the current one last.
    COMPONENTS = "components"
    # Each overdue installment whole (fees, late fee, penalty, interest, principal) before the
    # next, oldest first; the current one last.
    INSTALLMENTS = "installments"


_OVERDUE_ORDER = ("fee", "late_fee", "penalty", "interest", "principal")
_CURRENT_ORDER = ("fee", "interest", "principal")


_Take = tuple[ScheduledInstallment, str, int]  # (installment, component, amount applied)


def _apply(
    rows: list[ScheduledInstallment], amount: int, today: date, order_of: RepaymentOrder
) -> tuple[dict[str, int], list[_Take]]:
    """Apply ``amount`` in the loan's order; the totals by component and each amount applied."""
    overdue = [r for r in rows if r.due_date < today]
    current = [r for r in rows if r.due_date >= today]
    if order_of is RepaymentOrder.COMPONENTS:
        order = [(r, part) for part in _OVERDUE_ORDER for r in overdue]
    else:
        order = [(r, part) for r in overdue for part in _OVERDUE_ORDER]
    order += [(r, part) for r in current for part in _CURRENT_ORDER]
    paid = dict.fromkeys(_OVERDUE_ORDER, 0)
    takes: list[_Take] = []
    left = amount
    for row, part in order:
        owed = getattr(row, part) - getattr(row, f"paid_{part}")
        take = min(owed, left)
        if take:
            setattr(row, f"paid_{part}", getattr(row, f"paid_{part}") + take)
            paid[part] += take
            takes.append((row, part, take))
            left -= take
    return paid, takes


@dataclass(frozen=True)
class EarlyRepayment:
    """What an early repayment takes today and the schedule it leaves (empty when full)."""

    kind: str  # early_full | early_partial
    principal: int
    interest: int  # the current period's, only up to today
    fee: int  # the prepayment fee, to the holders
    schedule: list[Installment]
    # Interest of the current installment paid ahead (``repay`` of part of it) and not
    # used against ``interest``: it counts as paid on the rescheduled current installment.
    carried_interest: int = 0

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.fee


def early_repayment_quote(
    session: Session,
    loan_id: int,
    *,
    principal: int | None = None,
    choice: PartialPrepaymentChoice = PartialPrepaymentChoice.LOWER_INSTALLMENT,
) -> EarlyRepayment:
    loan = marketplace.get_loan(session, loan_id)
    unpaid, rows, on = _early_position(session, loan)
    return _early(loan, rows, on, principal, choice, paid_interest=unpaid[0].paid_interest)


def repay_early(
    session: Session,
    loan_id: int,
    *,
    payer_id: int,
    custodian: Custodian,
    principal: int | None = None,
    choice: PartialPrepaymentChoice = PartialPrepaymentChoice.LOWER_INSTALLMENT,
) -> Repayment:
    """提前还款: all the remaining principal (``principal`` None) or part of it, with the
    current period's interest only up to today and the loan's prepayment fee (DOMAIN.md §2.6)."""
    loan = _serviced_loan(session, loan_id, payer_id)
    unpaid, rows, on = _early_position(session, loan)
    if any(row.compensated_by is not None for row in unpaid):
        raise InvalidRepayment(
            "A guarantor compensated this loan and owns what remains: repay the installments as due."
        )
    current = unpaid[0]
    early = _early(loan, rows, on, principal, choice, paid_interest=current.paid_interest)
    for row in unpaid:
        row.status = SUPERSEDED
    session.flush()
    written = _write_schedule(session, loan, early.schedule, version=current.schedule_version + 1)
    if written:
        # What was paid ahead on the current installment stays paid on its replacement.
        written[0].paid_interest = early.carried_interest
        written[0].paid_fee = min(current.paid_fee, written[0].fee)
        if written[0].owed == 0:
            written[0].status, written[0].paid_on = PAID, clock.today()
        session.flush()
    repayment = _record(
        session,
        _new_repayment(
            loan,
            payer_id=payer_id,
            kind=early.kind,
            on=clock.today(),
            principal=early.principal,
            interest=early.interest,
            fee=0,
            prepayment_fee=early.fee,
        ),
    )
    _distribute(session, loan, repayment, custodian)
    _settle_if_repaid(session, loan)
    audit.record(
        session,
        actor_id=payer_id,
        action=f"loan.{early.kind}",
        object_type="loan",
        object_id=loan.id,
        details={
            "principal": yuan_str(early.principal),
            "interest": yuan_str(early.interest),
            "fee": yuan_str(early.fee),
        },
    )
    return repayment


def _early(
    loan: Loan,
    rows: list[Installment],
    on: date,
    principal: int | None,
    choice: PartialPrepaymentChoice,
    *,
    paid_interest: int = 0,
) -> EarlyRepayment:
    """``paid_interest``: the current installment's interest already paid ahead, which counts
    towards the interest accrued to today (never refunded: as for an installment paid ahead)."""
    terms = terms_of(loan)
    fee_rate = Decimal(loan.prepayment_fee_rate)
    if principal is None or principal == loan.principal_outstanding:
        full = full_early_repayment(terms, rows, on, fee_rate=fee_rate)
        return EarlyRepayment(
            "early_full", full.principal, max(full.interest - paid_interest, 0), full.fee, []
        )
    if principal <= 0:
        raise InvalidRepayment("An early repayment is a positive amount.")
    part = partial_early_repayment(terms, rows, on, principal, choice, fee_rate=fee_rate)
    used = min(paid_interest, part.interest)
    carried = min(paid_interest - used, part.schedule[0].interest)
    return EarlyRepayment(
        "early_partial", part.principal, part.interest - used, part.fee, part.schedule, carried
    )


def _early_position(
    session: Session, loan: Loan
) -> tuple[list[ScheduledInstallment], list[Installment], date]:
    """The loan's unpaid rows, the same as schedule installments, and the day interest runs to."""
    unpaid = unpaid_installments(session, loan.id)
    if not unpaid:
        raise NothingDue("Nothing is left to repay on this loan.")
    today = clock.today()
    if unpaid[0].due_date <= today:
        raise InstallmentDueFirst("Pay the installment already due first.")
    rows = _as_installment(unpaid, loan.principal_outstanding)
    # The current period may not have started yet when its predecessor was paid ahead:
    # then no interest has accrued.
    on = max(today, period_bounds(terms_of(loan), rows[0].number)[0])
    return unpaid, rows, on


def _as_installment(unpaid: list[ScheduledInstallment], outstanding: int) -> list[Installment]:
    rows: list[Installment] = []
    remaining = outstanding
    for row in unpaid:
        remaining -= row.principal
        rows.append(Installment(row.number, row.due_date, row.principal, row.interest, remaining))
    return rows


def _serviced_loan(session: Session, loan_id: int, payer_id: int) -> Loan:
    loan = marketplace.lock_loan(session, loan_id)
    if loan.borrower_id != payer_id:
        raise NotTheBorrower("Only the borrower repays this loan.")
    if loan.status == marketplace.SETTLED:
        raise NothingDue("This loan is repaid.")
    if loan.status != marketplace.DISBURSED:
        raise InvalidRepayment("This loan has not been disbursed.", details={"status": loan.status})
    return loan


def _record(session: Session, repayment: Repayment) -> Repayment:
    [recorded] = _record_all(session, [repayment])
    return recorded


def _new_repayment(
    loan: Loan,
    *,
    payer_id: int,
    kind: str,
    on: date,
    principal: int,
    interest: int,
    fee: int,
    prepayment_fee: int,
    penalty: int = 0,
    late_fee: int = 0,
) -> Repayment:
    return Repayment(
        loan_id=loan.id,
        payer_id=payer_id,
        kind=kind,
        business_date=on,
        amount=principal + interest + fee + prepayment_fee + penalty + late_fee,
        principal=principal,
        interest=interest,
        fee=fee,
        prepayment_fee=prepayment_fee,
        penalty=penalty,
        late_fee=late_fee,
        created_at=clock.now(),
    )


def _record_all(session: Session, repayments: list[Repayment]) -> list[Repayment]:
    session.add_all(repayments)
    session.flush()
    # R40: any money moving on the loan closes its open debt-transfer listings (their price
    # assumed the holdings and the period as they were).
    by_reason: dict[str, list[int]] = {}
    for repayment in repayments:
        by_reason.setdefault(_transfer_cancel_reason(repayment.kind), []).append(repayment.loan_id)
    for reason, loan_ids in by_reason.items():
        transfer_listings.cancel_transfer_listings_of(session, loan_ids, reason)
    return repayments


def _transfer_cancel_reason(kind: str) -> str:
    if kind.startswith("early_"):
        return transfer_listings.PREPAYMENT
    return transfer_listings.COMPENSATION if kind == "compensation" else transfer_listings.PAYMENT


# --- distribution ------------------------------------------------------------------------


@dataclass
class _Share:
    holding: Holding
    principal: int = 0
    interest: int = 0
    prepayment_fee: int = 0
    penalty: int = 0
    investor_fee: int = 0

    @property
    def net(self) -> int:
        return self.principal + self.interest + self.prepayment_fee + self.penalty - self.investor_fee


@dataclass(frozen=True)
class _Payout:
    """What one repayment pays each holder (``shares``) and the platform, from ``payer_id``."""

    loan: Loan
    repayment: Repayment
    shares: Sequence[_Share]
    payer_id: int
    platform_income: int
    idempotency_key: str


def _distribute(
    session: Session,
    loan: Loan,
    repayment: Repayment,
    custodian: Custodian,
    *,
    idempotency_key: str | None = None,
    takes: Sequence[_Take] = (),
) -> None:
    _distribute_all(session, [_ToDistribute(loan, repayment, idempotency_key, takes)], custodian)


@dataclass(frozen=True)
class _ToDistribute:
    loan: Loan
    repayment: Repayment
    idempotency_key: str | None
    takes: Sequence[_Take]


def _distribute_all(session: Session, repayments: Sequence[_ToDistribute], custodian: Custodian) -> None:
    """Split each repayment among its loan's holders and move the money — ledger and bank
    alike — for all of them together (see ``_shares``)."""
    holdings = marketplace.holdings_of_loans(session, [r.loan.id for r in repayments])
    payouts = [_payout(r, holdings.get(r.loan.id, [])) for r in repayments]
    _pay_holders_all(session, payouts, custodian)
    for r in repayments:
        r.loan.principal_outstanding -= r.repayment.principal
    session.flush()


def _payout(to: _ToDistribute, holdings: Sequence[Holding]) -> _Payout:
    """Split each component among the holders on the payment date (R25), take each holder's
    management fee from their interest (R27).

    What the payment applied to an installment a guarantor compensated goes first to that
    payer, for the part of it the payer owns (DOMAIN.md §8: the borrower now owes the payer;
    recoveries and penalty go to it). The rest is split pro rata among the investors'
    claims. Set-based: the shares are computed in memory and written with a fixed number of
    statements whatever the number of holders.
    """
    repayment = to.repayment
    pooled = {
        "principal": repayment.principal,
        "interest": repayment.interest,
        "penalty": repayment.penalty,
    }
    payers: dict[int, _Share] = {}
    for payer_id, part, amount in _subrogated(to.takes):
        if payer_id not in payers:
            payers[payer_id] = _Share(_compensation_holding(holdings, payer_id))
        setattr(payers[payer_id], part, getattr(payers[payer_id], part) + amount)
        pooled[part] -= amount
    investors = [h for h in holdings if h.source != COMPENSATION]
    shares = _pro_rata(
        investors,
        principal=pooled["principal"],
        interest=pooled["interest"],
        penalty=pooled["penalty"],
        prepayment_fee=repayment.prepayment_fee,
        fee_rate=Decimal(to.loan.investor_fee_rate),
    ) + list(payers.values())
    return _Payout(
        to.loan,
        repayment,
        shares,
        payer_id=to.loan.borrower_id,
        platform_income=repayment.fee + repayment.late_fee + sum(s.investor_fee for s in shares),
        idempotency_key=to.idempotency_key or f"repayment:{repayment.id}",
    )


def _pro_rata(
    holdings: Sequence[Holding],
    *,
    principal: int,
    interest: int,
    penalty: int = 0,
    prepayment_fee: int = 0,
    fee_rate: Decimal,
) -> list[_Share]:
    """DOMAIN.md §3: each component split separately in proportion to the claims (R25);
    the management fee on each interest share (R27), never on penalty interest."""
    if not holdings:
        if principal or interest or penalty or prepayment_fee:
            raise AssertionError("money for investors but no investor's claim")
        return []
    weights = [h.principal_outstanding for h in holdings]
    shares = [_Share(h) for h in holdings]
    for share, part in zip(shares, allocate(principal, weights), strict=True):
        share.principal = part
    for share, part in zip(shares, allocate(interest, weights), strict=True):
        share.interest = part
        share.investor_fee = fen_times_rate(part, fee_rate)
    for share, part in zip(shares, allocate(prepayment_fee, weights), strict=True):
        share.prepayment_fee = part
    for share, part in zip(shares, allocate(penalty, weights), strict=True):
        share.penalty = part
    return shares


def _subrogated(takes: Sequence[_Take]) -> list[tuple[int, str, int]]:
    """(payer, component, amount) of what ``takes`` paid on compensated installments.

    A payer owns ``compensated_principal`` of the installment's unpaid principal and
    ``compensated_interest`` of its unpaid interest; each amount applied is split between
    it and the investors in those proportions (all of it when fully compensated), and the
    penalty in proportion to the principal each side owns. Updates the payer's part.
    """
    applied: dict[tuple[int, str], int] = {(id(row), part): amount for row, part, amount in takes}
    result: list[tuple[int, str, int]] = []
    for row, part, amount in takes:
        if row.compensated_by is None or part not in ("principal", "interest", "penalty"):
            continue
        unpaid_principal = row.principal - row.paid_principal + applied.get((id(row), "principal"), 0)
        if part == "interest":
            owned = row.compensated_interest
            unpaid = row.interest - row.paid_interest + amount
        else:
            owned, unpaid = row.compensated_principal, unpaid_principal
        payer_part = amount if unpaid == 0 else allocate(amount, [owned, unpaid - owned])[0]
        if part == "principal":
            row.compensated_principal -= payer_part
        elif part == "interest":
            row.compensated_interest -= payer_part
        if payer_part:
            result.append((row.compensated_by, part, payer_part))
    return result


def _compensation_holding(holdings: Sequence[Holding], payer_id: int) -> Holding:
    for holding in holdings:
        if holding.holder_id == payer_id and holding.source == COMPENSATION:
            return holding
    raise AssertionError(f"payer {payer_id} compensated an installment but holds no claim")


def _pay_holders(
    session: Session,
    loan: Loan,
    repayment: Repayment,
    shares: Sequence[_Share],
    *,
    payer_id: int,
    platform_income: int,
    idempotency_key: str,
    custodian: Custodian,
) -> None:
    _pay_holders_all(
        session, [_Payout(loan, repayment, shares, payer_id, platform_income, idempotency_key)], custodian
    )


def _pay_holders_all(session: Session, payouts: Sequence[_Payout], custodian: Custodian) -> None:
    """For each payout (of distinct loans), one ledger entry from the payer's available balance
    to each holder (net of fees) and the platform, the claims and their distribution rows,
    the same batch at the bank: a fixed number of statements for them all, but the bank's
    instructions."""
    if len({p.loan.id for p in payouts}) != len(payouts):
        raise ValueError("one payout per loan: a loan's instructions are numbered by its repayments")
    posted = ledger.post_many(
        session,
        [
            ledger.NewEntry(
                kind=f"repayment_{p.repayment.kind}",
                legs=[ledger.Leg(ledger.user_available(p.payer_id), -p.repayment.amount)]
                + [ledger.Leg(ledger.user_available(s.holding.holder_id), s.net) for s in p.shares]
                + [ledger.Leg(ledger.PLATFORM_FEE_INCOME, p.platform_income)],
                idempotency_key=p.idempotency_key,
                business_date=p.repayment.business_date,
                ref_type="repayment",
                ref_id=p.repayment.id,
                memo=f"loan {p.loan.id} {p.repayment.kind}",
            )
            for p in payouts
        ],
    )
    for payout, entry in zip(payouts, posted, strict=True):
        payout.repayment.entry_id = entry.entry.id
    _credit_holdings(session, payouts)
    _instruct_bank(session, payouts, custodian)


def _credit_holdings(session: Session, payouts: Sequence[_Payout]) -> None:
    shares = [(p.repayment, s) for p in payouts for s in p.shares]
    if not shares:
        return
    updated = [
        {
            "id": s.holding.id,
            "principal_outstanding": s.holding.principal_outstanding - s.principal,
            "principal_received": s.holding.principal_received + s.principal,
            "interest_received": s.holding.interest_received + s.interest,
            "prepayment_fee_received": s.holding.prepayment_fee_received + s.prepayment_fee,
            "penalty_received": s.holding.penalty_received + s.penalty,
            "fees_paid": s.holding.fees_paid + s.investor_fee,
        }
        for _, s in shares
    ]
    update_rows(session, Holding, updated)
    # The loaded holdings now show what the database holds, without reading it back.
    for (_, share), values in zip(shares, updated, strict=True):
        for key, value in values.items():
            set_committed_value(share.holding, key, value)
    insert_rows(
        session,
        Distribution,
        [
            {
                "repayment_id": repayment.id,
                "loan_id": repayment.loan_id,
                "business_date": repayment.business_date,
                "holding_id": s.holding.id,
                "holder_id": s.holding.holder_id,
                "principal": s.principal,
                "interest": s.interest,
                "prepayment_fee": s.prepayment_fee,
                "penalty": s.penalty,
                "investor_fee": s.investor_fee,
            }
            for repayment, s in shares
        ],
    )


def _instruct_bank(session: Session, payouts: Sequence[_Payout], custodian: Custodian) -> None:
    people = {p.payer_id for p in payouts} | {s.holding.holder_id for p in payouts for s in p.shares}
    subs = custody.sub_accounts_of(session, sorted(people))
    platform_sub = (
        custody.open_platform_fee_account(session, custodian).sub_account_no
        if any(p.platform_income for p in payouts)
        else ""
    )
    # Numbered within the loan (under its lock), not by the row id: a retry after a rollback
    # gets the same number, so the bank replays instead of paying twice.
    numbers = dict(
        session.execute(
            select(Repayment.loan_id, func.count(Repayment.id))
            .where(Repayment.loan_id.in_([p.loan.id for p in payouts]))
            .group_by(Repayment.loan_id)
        ).all()
    )
    acts = [(f"RPY{p.loan.id}-{numbers[p.loan.id]}", _bank_legs(p, subs, platform_sub)) for p in payouts]
    custody.transfer_many_at_bank(session, custodian, [(no, legs) for no, legs in acts if legs])


def _bank_legs(payout: _Payout, subs: dict[int, str], platform_sub: str) -> list[TransferLeg]:
    by_holder: dict[int, int] = {}
    for share in payout.shares:
        by_holder[share.holding.holder_id] = by_holder.get(share.holding.holder_id, 0) + share.net
    payer_sub = subs[payout.payer_id]
    legs = [TransferLeg(payer_sub, subs[holder_id], net) for holder_id, net in by_holder.items() if net > 0]
    if payout.platform_income:
        legs.append(TransferLeg(payer_sub, platform_sub, payout.platform_income))
    return legs


# --- compensation (代偿) ------------------------------------------------------------------


@dataclass(frozen=True)
class Compensated:
    """What a compensating payer owed the holders, what it had and paid, and how it split."""

    due: int
    paid: int
    principal: int
    interest: int
    repayment: Repayment | None

    @property
    def shortfall(self) -> int:
        return self.due - self.paid


def compensate(
    session: Session,
    loan_id: int,
    numbers: Sequence[int],
    *,
    payer_id: int,
    cover_interest: bool,
    take_future_interest: bool,
    on: date,
    custodian: Custodian,
    idempotency_key: str,
) -> Compensated:
    """代偿: ``payer_id`` pays the holders the unpaid principal (and, if ``cover_interest``,
    the unpaid interest) of installments ``numbers``, split per DOMAIN.md §3, and in the same
    transaction acquires the claim for what it paid (R35): the investors' holdings shrink by
    the principal they received, the payer's compensation holding grows by as much, and
    the installments record the part the payer now owns. The borrower's debt is unchanged.

    A payer without enough pays pro rata what it has — each component and each holder in
    proportion — and the shortfall is reported; no money is created (R36). With
    ``take_future_interest`` (acceleration) the interest of installments not yet due passes
    to the payer too, in the proportion of their principal it paid.
    """
    loan = marketplace.lock_loan(session, loan_id)
    wanted = set(numbers)
    rows = [r for r in unpaid_installments(session, loan.id) if r.number in wanted]
    principal_due = [r.principal - r.paid_principal - r.compensated_principal for r in rows]
    interest_due = [
        r.interest - r.paid_interest - r.compensated_interest if cover_interest and r.due_date < on else 0
        for r in rows
    ]
    claims = [h for h in marketplace.holdings_of_loan(session, loan.id) if h.source != COMPENSATION]
    own = sum(h.principal_outstanding for h in claims if h.holder_id == payer_id)
    whole = sum(h.principal_outstanding for h in claims)

    def others(amount: int) -> int:
        """The part of ``amount`` the payer's own claim does not bear (a partner institution
        buying back its P2B claim pays only the other holders; DOMAIN.md §3 split)."""
        return allocate(amount, [whole - own, own])[0] if own and amount else amount

    if own:
        principal_due = _spread(others(sum(principal_due)), principal_due)
        interest_due = _spread(others(sum(interest_due)), interest_due)
    due = sum(principal_due) + sum(interest_due)
    if due <= 0:
        return Compensated(0, 0, 0, 0, None)
    available = ledger.user_balances(session, payer_id).available
    paid = min(due, available)
    principal = sum(principal_due) * paid // due
    interest = paid - principal
    if paid <= 0:
        return Compensated(due, 0, 0, 0, None)
    for row, p, i, owed_p in zip(
        rows,
        allocate(principal, principal_due) if sum(principal_due) else [0] * len(rows),
        allocate(interest, interest_due) if sum(interest_due) else [0] * len(rows),
        principal_due,
        strict=True,
    ):
        if row.compensated_by not in (None, payer_id):
            raise AssertionError("one installment, two compensating payers")
        row.compensated_by = payer_id
        row.compensated_principal += p
        row.compensated_interest += i
        if take_future_interest and row.due_date >= on and owed_p:
            future = others(row.interest - row.paid_interest - row.compensated_interest)
            row.compensated_interest += future * p // owed_p
    investors = [h for h in claims if h.holder_id != payer_id]
    shares = _pro_rata(
        investors, principal=principal, interest=interest, fee_rate=Decimal(loan.investor_fee_rate)
    )
    repayment = _record(
        session,
        _new_repayment(
            loan,
            payer_id=payer_id,
            kind="compensation",
            on=on,
            principal=principal,
            interest=interest,
            fee=0,
            prepayment_fee=0,
        ),
    )
    _pay_holders(
        session,
        loan,
        repayment,
        shares,
        payer_id=payer_id,
        platform_income=sum(s.investor_fee for s in shares),
        idempotency_key=idempotency_key,
        custodian=custodian,
    )
    marketplace.acquire_by_compensation(session, loan.id, payer_id, principal)
    session.flush()
    return Compensated(due, paid, principal, interest, repayment)


def _spread(total: int, weights: list[int]) -> list[int]:
    return allocate(total, weights) if sum(weights) else [0] * len(weights)


def _settle_if_repaid(session: Session, loan: Loan) -> None:
    if loan.principal_outstanding == 0 and not unpaid_installments(session, loan.id):
        loan.status = marketplace.SETTLED
        loan.closed_at = clock.now()
        session.flush()
        audit.record(
            session, actor_id=None, action="loan.settled", object_type="loan", object_id=loan.id, details={}
        )


# --- reading -----------------------------------------------------------------------------


def repayments_of_loan(session: Session, loan_id: int) -> list[Repayment]:
    return list(
        session.scalars(select(Repayment).where(Repayment.loan_id == loan_id).order_by(Repayment.id)).all()
    )


def distributions_of_holder(session: Session, holder_id: int, *, limit: int = 500) -> list[Distribution]:
    return list(
        session.scalars(
            select(Distribution)
            .where(Distribution.holder_id == holder_id)
            .order_by(Distribution.id.desc())
            .limit(limit)
        ).all()
    )


def received_by_holder(session: Session, holder_id: int) -> int:
    """Everything a holder has received net of fees (statements; R28 checks)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Distribution.net), 0)).where(Distribution.holder_id == holder_id)
    )
    return int(total or 0)
