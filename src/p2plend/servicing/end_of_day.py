"""What the end-of-day batch (日终批处理) does to one loan on one business date, and the
day's platform figures.

Each function takes the business date ``on`` explicitly, never the clock: the batch may be
closing a past date (catch-up). Each is safe to call for a loan that has nothing to do that
day, and writes only what belongs to ``on``; the batch runs them in DOMAIN.md's order —
auto-debit, penalty accrual, stage and classification, reminders — and its chunks make
every day's work happen exactly once.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import BigInteger, ColumnElement, Select, Subquery, cast, func, or_, select
from sqlalchemy.orm import Session

from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Holding, Loan
from p2plend.money import yuan_sql, yuan_str
from p2plend.notifications import service as notifications
from p2plend.servicing import delinquency
from p2plend.servicing.errors import InvalidDateRange
from p2plend.servicing.models import (
    DailyFigures,
    Distribution,
    LoanRiskDay,
    PenaltyAccrual,
    Repayment,
    ScheduledInstallment,
)
from p2plend.servicing.service import (
    DUE,
    SUPERSEDED,
    accrue_overdue,
    unpaid_installments_of,
)

REMIND_DAYS_BEFORE = 3  # [D] 还款提醒: three days before the due date, and on the day
# The loan's DPD on which the borrower gets an overdue notice: the first day, the first day
# past grace (penalty starts), and the first day of each later stage.
OVERDUE_NOTICE_DAYS = frozenset({1, delinquency.GRACE_DAYS + 1, 31, 61, 91, 181})


# --- which loans have the batch's work on a date -----------------------------------------------
# Each per-loan step visits only the loans one of these chooses, through indexes on unpaid
# installments and overdue loans: the batch's cost follows the day's due and overdue work, not
# the size of the book. Each chooses a superset of the loans its step's act changes; the act
# still decides, and does nothing for the others.


def _unpaid(due: ColumnElement[bool]) -> Select[int]:
    """The loans being repaid with an unpaid installment whose due date matches ``due``."""
    return (
        select(ScheduledInstallment.loan_id)
        .join(Loan, Loan.id == ScheduledInstallment.loan_id)
        .where(ScheduledInstallment.status == DUE, due, Loan.status == marketplace.DISBURSED)
    )


def loan_ids(session: Session, *selections: Select[int]) -> list[int]:
    """The distinct loan ids the selections find, in order."""
    found: set[int] = set()
    for selection in selections:
        found.update(session.scalars(selection))
    return sorted(found)


def loans_due(session: Session, on: date) -> list[int]:
    """代扣's loans: an installment due by ``on`` is unpaid."""
    return loan_ids(session, _unpaid(ScheduledInstallment.due_date <= on))


def loans_overdue(session: Session, on: date) -> list[int]:
    """罚息计提's loans, and those a guarantor, the reserve or a partner may have to pay for: an
    installment due before ``on`` is unpaid."""
    return loan_ids(session, _unpaid(ScheduledInstallment.due_date < on))


def loans_to_classify(session: Session, on: date) -> list[int]:
    """The loans whose position at the end of ``on`` is or was overdue: overdue on record (they
    may return to current), or being repaid with an installment due before ``on`` that was
    unpaid at its end — unpaid still, or paid after it (a past date closed late)."""
    paid_later = (
        select(ScheduledInstallment.loan_id)
        .join(Loan, Loan.id == ScheduledInstallment.loan_id)
        .where(
            ScheduledInstallment.paid_on > on,
            ScheduledInstallment.due_date < on,
            ScheduledInstallment.status != SUPERSEDED,
            Loan.status == marketplace.DISBURSED,
        )
    )
    overdue_on_record = select(Loan.id).where(Loan.days_past_due > 0)
    return loan_ids(session, overdue_on_record, _unpaid(ScheduledInstallment.due_date < on), paid_later)


def loans_to_remind(session: Session, on: date) -> list[int]:
    """The loans whose borrower may get a reminder or an overdue notice on ``on`` (an unpaid
    installment due today, in three days, or before today), and those that paid their holders
    on ``on`` — the last payment of a loan repaid in full included."""
    remind = or_(
        ScheduledInstallment.due_date.in_([on, on + timedelta(days=REMIND_DAYS_BEFORE)]),
        ScheduledInstallment.due_date < on,
    )
    paid_holders = select(Repayment.loan_id).where(Repayment.business_date == on)
    return loan_ids(session, _unpaid(remind), paid_holders)


def accrue(session: Session, loan_id: int, on: date) -> int:
    """罚息计提 for the day (nothing when a payment on ``on`` already posted it)."""
    loan = marketplace.lock_loan(session, loan_id)
    if loan.status != marketplace.DISBURSED:
        return 0
    return accrue_overdue(session, loan, on)


# --- stage and five-tier classification --------------------------------------------------


def classify(session: Session, loan_id: int, on: date) -> bool:
    """Record the loan's overdue position at the end of ``on`` (R33): its DPD is that of its
    oldest installment unpaid that day, its stage and classification follow DOMAIN.md §7's
    bands. A history row is written for every overdue day and for the day it returns to
    current; returns whether one was written."""
    loan = marketplace.lock_loan(session, loan_id)
    overdue = session.scalars(
        select(ScheduledInstallment).where(
            ScheduledInstallment.loan_id == loan.id,
            ScheduledInstallment.status != SUPERSEDED,
            ScheduledInstallment.due_date < on,
            or_(ScheduledInstallment.status == DUE, ScheduledInstallment.paid_on > on),
        )
    ).all()
    dpd = max(((on - row.due_date).days for row in overdue), default=0)
    if dpd == 0 and loan.days_past_due == 0:
        return False
    if session.scalar(
        select(LoanRiskDay.id).where(LoanRiskDay.loan_id == loan.id, LoanRiskDay.business_date == on)
    ):
        return False
    stage, classification = delinquency.stage_of(dpd), delinquency.classification_of(dpd)
    unpaid = [row for row in overdue if row.status == DUE]
    session.add(
        LoanRiskDay(
            loan_id=loan.id,
            business_date=on,
            days_past_due=dpd,
            stage=stage.value,
            classification=classification.value,
            overdue_principal=sum(r.principal - r.paid_principal for r in unpaid),
            overdue_interest=sum(r.interest - r.paid_interest for r in unpaid),
            penalty_owed=sum(r.penalty - r.paid_penalty for r in unpaid),
        )
    )
    loan.days_past_due, loan.stage, loan.classification = dpd, stage.value, classification.value
    session.flush()
    return True


def risk_history(session: Session, loan_id: int) -> list[LoanRiskDay]:
    """The loan's overdue days, oldest first (staff, borrower and holders see it)."""
    return list(
        session.scalars(
            select(LoanRiskDay).where(LoanRiskDay.loan_id == loan_id).order_by(LoanRiskDay.business_date)
        ).all()
    )


def ever_overdue(session: Session, borrower_id: int) -> bool:
    """Whether any loan of the borrower was ever overdue here (the scorecard's platform history)."""
    return (
        session.scalar(
            select(LoanRiskDay.id)
            .join(Loan, Loan.id == LoanRiskDay.loan_id)
            .where(Loan.borrower_id == borrower_id, LoanRiskDay.days_past_due > 0)
            .limit(1)
        )
        is not None
    )


def penalty_accruals(session: Session, loan_id: int) -> list[PenaltyAccrual]:
    return list(
        session.scalars(
            select(PenaltyAccrual)
            .where(PenaltyAccrual.loan_id == loan_id)
            .order_by(PenaltyAccrual.business_date, PenaltyAccrual.installment_id)
        ).all()
    )


# --- reminders ------------------------------------------------------------------------------


def remind(session: Session, loan_ids: Sequence[int], on: date) -> int:
    """The day's messages of ``loan_ids`` (a chunk of the batch's), in their readers'
    languages: the borrowers' reminders and overdue notices (``borrower_messages``), then
    every holder's 回款通知 of what each loan paid them on ``on`` (``_holders_paid``),
    rendered and written by the database. Returns how many messages were written."""
    loans = session.scalars(select(Loan).where(Loan.id.in_(loan_ids)).order_by(Loan.id)).all()
    serviced = [loan for loan in loans if loan.status == marketplace.DISBURSED]
    unpaid = unpaid_installments_of(session, [loan.id for loan in serviced])
    locales = identity.locales_of(session, {loan.borrower_id for loan in serviced})
    to_borrowers = [
        notifications.InboxMessage(
            loan.borrower_id, template, {"loan": loan.title, **params}, locales.get(loan.borrower_id, "zh")
        )
        for loan in serviced
        for template, params in borrower_messages(unpaid.get(loan.id, []), on)
    ]
    written = notifications.notify_users(session, to_borrowers)
    return written + notifications.notify_selected(session, "repayment_received", _holders_paid(loan_ids, on))


def borrower_messages(unpaid: Sequence[ScheduledInstallment], on: date) -> list[tuple[str, dict[str, str]]]:
    """还款提醒 and 逾期通知: an installment due in three days, one due today and not fully
    collected, and the overdue notices of ``OVERDUE_NOTICE_DAYS`` (template, params)."""
    messages: list[tuple[str, dict[str, str]]] = []
    for row in unpaid:
        if row.due_date == on + timedelta(days=REMIND_DAYS_BEFORE):
            params = {"number": str(row.number), "due_date": row.due_date.isoformat()}
            messages.append(("installment_due_soon", params | {"amount": yuan_str(row.owed)}))
        elif row.due_date == on:
            messages.append(
                ("installment_due_today", {"number": str(row.number), "amount": yuan_str(row.owed)})
            )
    overdue = [row for row in unpaid if row.due_date < on]
    dpd = max(((on - row.due_date).days for row in overdue), default=0)
    if dpd in OVERDUE_NOTICE_DAYS:
        owed = yuan_str(sum(row.owed for row in overdue))
        messages.append(("installment_overdue", {"days": str(dpd), "amount": owed}))
    return messages


def _holders_paid(loan_ids: Sequence[int], on: date) -> Subquery:
    """What each of the loans paid each holder on ``on``, net of fees, as the 回款通知's
    parameters (the holders paid something; by loan, then holder)."""
    paid = (
        select(
            Distribution.loan_id,
            Distribution.holder_id,
            *(
                cast(func.sum(column), BigInteger).label(column.key)
                for column in (
                    Distribution.principal,
                    Distribution.interest,
                    Distribution.penalty,
                    Distribution.net,
                )
            ),
        )
        .where(Distribution.loan_id.in_(loan_ids), Distribution.business_date == on)
        .group_by(Distribution.loan_id, Distribution.holder_id)
        .subquery()
    )
    return (
        select(
            paid.c.holder_id.label("user_id"),
            identity.locale_of(paid.c.holder_id).label("locale"),
            Loan.title.label("loan"),
            yuan_sql(paid.c.net).label("amount"),
            yuan_sql(paid.c.principal).label("principal"),
            yuan_sql(paid.c.interest).label("interest"),
            yuan_sql(paid.c.penalty).label("penalty"),
        )
        .join(Loan, Loan.id == paid.c.loan_id)
        .where(paid.c.net > 0)
        .order_by(paid.c.loan_id, paid.c.holder_id)
        .subquery()
    )


# --- the day's figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class StageCount:
    stage: str
    loans: int
    principal: int


def snapshot_figures(session: Session, on: date) -> DailyFigures:
    """The platform's figures at the end of ``on`` (信息披露 data), written once per date."""
    existing = session.get(DailyFigures, on)
    if existing is not None:
        return existing
    serviced = select(Loan).where(Loan.status == marketplace.DISBURSED).subquery()
    loans, principal, borrowers = session.execute(
        select(
            func.count(serviced.c.id),
            func.coalesce(func.sum(serviced.c.principal_outstanding), 0),
            func.count(serviced.c.borrower_id.distinct()),
        )
    ).one()
    overdue_loans, overdue_principal = session.execute(
        select(func.count(serviced.c.id), func.coalesce(func.sum(serviced.c.principal_outstanding), 0)).where(
            serviced.c.days_past_due > 0
        )
    ).one()
    npl = session.scalar(
        select(func.coalesce(func.sum(serviced.c.principal_outstanding), 0)).where(
            serviced.c.days_past_due >= delinquency.NON_PERFORMING_DPD
        )
    )
    lenders = session.scalar(
        select(func.count(Holding.holder_id.distinct())).where(Holding.principal_outstanding > 0)
    )
    repaid = session.scalar(
        select(func.coalesce(func.sum(Repayment.amount), 0)).where(Repayment.business_date == on)
    )
    disbursed = session.scalar(select(func.coalesce(func.sum(Loan.amount), 0)).where(Loan.value_date == on))
    penalty = session.scalar(
        select(func.coalesce(func.sum(PenaltyAccrual.penalty), 0)).where(PenaltyAccrual.business_date == on)
    )
    figures = DailyFigures(
        business_date=on,
        loans_outstanding=int(loans),
        principal_outstanding=int(principal),
        borrowers=int(borrowers),
        lenders=int(lenders or 0),
        overdue_loans=int(overdue_loans),
        overdue_principal=int(overdue_principal),
        overdue_principal_90=int(npl or 0),
        repaid=int(repaid or 0),
        disbursed=int(disbursed or 0),
        penalty_accrued=int(penalty or 0),
    )
    session.add(figures)
    session.flush()
    return figures


def figures_between(session: Session, first: date, last: date) -> list[DailyFigures]:
    return list(
        session.scalars(
            select(DailyFigures)
            .where(DailyFigures.business_date.between(first, last))
            .order_by(DailyFigures.business_date)
        ).all()
    )


def overdue_by_stage(session: Session) -> list[StageCount]:
    """The loans overdue now (as of the last batch), by stage, for the staff dashboard."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for stage, loans, principal in session.execute(
        select(Loan.stage, func.count(Loan.id), func.coalesce(func.sum(Loan.principal_outstanding), 0))
        .where(Loan.days_past_due > 0, Loan.status == marketplace.DISBURSED)
        .group_by(Loan.stage)
    ):
        counts[stage] = [int(loans), int(principal)]
    return [
        StageCount(stage.value, *counts[stage.value])
        for stage in delinquency.Stage
        if stage is not delinquency.Stage.CURRENT
    ]


# --- reading the overdue position (逾期管理, the borrower's and the holders' pages) ----------

MAX_FIGURES_DAYS = 366  # one request's span of daily figures


@dataclass(frozen=True)
class LoanPosition:
    """A loan's overdue position as of the last batch."""

    loan_id: int
    days_past_due: int
    stage: str
    classification: str

    @property
    def overdue(self) -> bool:
        return self.days_past_due > 0


def overdue_loans(
    session: Session, *, stage: str | None = None, limit: int = 200, offset: int = 0
) -> list[Loan]:
    """The loans overdue as of the last batch (in one ``stage`` if given), the longest
    overdue first: the staff's 逾期管理 list."""
    query = select(Loan).where(Loan.days_past_due > 0, Loan.status == marketplace.DISBURSED)
    if stage is not None:
        query = query.where(Loan.stage == stage)
    return list(
        session.scalars(query.order_by(Loan.days_past_due.desc(), Loan.id).limit(limit).offset(offset)).all()
    )


def loan_positions(session: Session, loan_ids: Iterable[int]) -> dict[int, LoanPosition]:
    """Each loan's overdue position (DPD, stage, five-tier class), in one query."""
    ids = set(loan_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Loan.id, Loan.days_past_due, Loan.stage, Loan.classification).where(Loan.id.in_(ids))
    )
    return {
        loan_id: LoanPosition(loan_id, int(dpd), stage, classification)
        for loan_id, dpd, stage, classification in rows
    }


def latest_risk_days(session: Session, loan_ids: Iterable[int]) -> dict[int, LoanRiskDay]:
    """Each loan's last history row (its overdue amounts as of the last batch), in one query."""
    ids = set(loan_ids)
    if not ids:
        return {}
    latest = (
        select(LoanRiskDay.loan_id, func.max(LoanRiskDay.business_date).label("day"))
        .where(LoanRiskDay.loan_id.in_(ids))
        .group_by(LoanRiskDay.loan_id)
        .subquery()
    )
    rows = session.scalars(
        select(LoanRiskDay).join(
            latest,
            (LoanRiskDay.loan_id == latest.c.loan_id) & (LoanRiskDay.business_date == latest.c.day),
        )
    ).all()
    return {row.loan_id: row for row in rows}


def figures_for(session: Session, first: date, last: date) -> list[DailyFigures]:
    """The daily figures from ``first`` to ``last`` inclusive, refusing a backwards range or
    one longer than ``MAX_FIGURES_DAYS`` (``invalid_date_range``)."""
    if first > last:
        raise InvalidDateRange(
            "The first date comes after the last.",
            details={"from": first.isoformat(), "to": last.isoformat()},
        )
    if (last - first).days + 1 > MAX_FIGURES_DAYS:
        raise InvalidDateRange(
            f"Ask for at most {MAX_FIGURES_DAYS} days at a time.",
            details={"from": first.isoformat(), "to": last.isoformat(), "max_days": MAX_FIGURES_DAYS},
        )
    return figures_between(session, first, last)
