"""催收案件: cases opened, escalated and closed by the end-of-day batch; assignment to
collectors; the actions collectors log; promises to pay; the automatic reminders.

**The batch act** (``work_loan``, step ``collections`` of the 日终批处理, after the loan's
stage and classification of the day are recorded) reads the loan's position from the
database and, for the business date it is given:

1. opens a case on the loan's first overdue day (one per overdue spell; the unique keys
   ``(loan_id, opened_on)`` and "one open case per loan" make a second opening impossible);
2. escalates it when its stage moves (M1 → M2 …, or back when a partial payment leaves a
   younger installment the oldest unpaid), writing the stage history;
3. closes it when the loan is current again (``cured``) or settled (``settled``);
4. resolves the case's promises to pay: kept once the promised amount has been repaid since
   the promise was made, **broken** — flagged on the case — once the promised date has
   passed without it;
5. gives an unassigned case (or one whose collector is not on the new stage's team) to a
   collector as the stage's strategy says (round robin or by load);
6. sends the stage's automatic reminders (SMS, app message) on the stage's first day and
   every ``reminder_every_days`` after — once per case, date and channel (a unique key).

Each step checks what is already recorded for the date, so running the act twice for the
same loan and date does nothing the second time.

Reading: the case tables are collections' own; the loan's daily overdue history and its
repayments are read-only SQL over servicing's tables (``loan_risk_days``, ``repayments``) —
aggregate reads, as servicing's own figures read the loans table; every write elsewhere goes
through that domain's service (notifications, audit).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.collections import staff, strategies, writeoff
from p2plend.collections.errors import (
    CaseClosed,
    CaseNotFound,
    InvalidCollectionAction,
    InvalidCollector,
    NotYourCase,
)
from p2plend.collections.models import (
    CollectionAction,
    CollectionAssignment,
    CollectionCase,
    CollectionPromise,
    CollectionReminder,
    CollectionStageChange,
)
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.money import yuan_str
from p2plend.notifications import service as notifications
from p2plend.servicing import service as servicing
from p2plend.servicing.models import LoanRiskDay, Repayment

OPEN, CLOSED = "open", "closed"
CURED, SETTLED = "cured", "settled"
PENDING, KEPT, BROKEN = "pending", "kept", "broken"
ROUND_ROBIN, BY_LOAD, MANUAL = "round_robin", "by_load", "manual"

ACTION_KINDS = ("call", "message", "visit", "promise_to_pay", "legal", "note")
# What each kind records in ``detail`` (a note is free text only).
ACTION_DETAILS: dict[str, tuple[str, ...]] = {
    "call": ("reached", "no_answer", "wrong_number", "refused", "third_party"),
    "message": ("sms", "app", "letter"),
    "visit": ("met", "not_home", "moved"),
    "legal": ("demand_letter", "lawsuit_filed", "judgment", "enforcement", "outsourced"),
    "promise_to_pay": (),
    "note": (),
}
MAX_NOTE = 500
MAX_REASON = 200
MAX_PROMISE_DAYS = 30  # [D] a promise to pay falls within 30 days of the day it is made
REMINDER_TEMPLATE = "collection_reminder"
MAX_PAGE = 200


# --- views ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: int
    loan_id: int
    loan_title: str
    borrower_id: int
    status: str
    stage: str
    stage_since: date
    opened_on: date
    closed_on: date | None
    close_reason: str | None
    days_past_due: int  # the loan's, as of the last batch
    principal_outstanding: int
    opening_balance: int
    collector_id: int | None
    assigned_on: date | None
    last_action_on: date | None
    next_contact_on: date | None
    broken_promises: int
    promise_due_on: date | None  # the earliest pending promise
    written_off: bool


@dataclass(frozen=True, slots=True)
class CasePage:
    items: list[CaseSummary]
    total: int


@dataclass(frozen=True, slots=True)
class QueueItem:
    case: CaseSummary
    # Why it is where it is: promise_due (a promise falls due today or has passed, the
    # batch will judge it tonight), broken_promise, contact_due, scheduled.
    priority: str


@dataclass(frozen=True, slots=True)
class Position:
    """The loan's overdue position as of the last batch (its daily history) and now."""

    business_date: date | None
    days_past_due: int
    stage: str
    classification: str
    overdue_principal: int
    overdue_interest: int
    penalty_owed: int
    principal_outstanding: int
    owed_now: int  # what a repayment today would take (servicing.amount_due), 0 once repaid


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None
    phone: str
    masked: bool


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: CaseSummary
    loan_amount: int
    position: Position
    contact: Contact
    stage_changes: list[CollectionStageChange]
    assignments: list[CollectionAssignment]
    actions: list[CollectionAction]
    promises: list[CollectionPromise]
    reminders: list[CollectionReminder]
    repayments: list[Repayment]  # since the case opened


@dataclass(frozen=True, slots=True)
class ActionInput:
    """What a collector logs. ``detail``: the call's outcome, the message's channel, the
    visit's outcome or the legal step (see ``ACTION_DETAILS``); a promise needs ``amount``
    (fen) and ``due_on``; a note needs ``note``."""

    kind: str
    detail: str = ""
    note: str = ""
    amount: int | None = None
    due_on: date | None = None


# --- the batch act -------------------------------------------------------------------------------


def work_loan(session: Session, loan_id: int, on: date) -> int:
    """催收分案 for one loan on business date ``on`` (see the module docstring). Returns how
    many things it did (opened, escalated, closed, promises resolved, assigned, reminders)."""
    loan = marketplace.lock_loan(session, loan_id)
    case = _open_case(session, loan.id)
    overdue = loan.status == marketplace.DISBURSED and loan.days_past_due > 0
    if case is None:
        if not overdue or _opened_on(session, loan.id, on):
            return 0
        case = _open(session, loan, on)
        done = 1
    elif not overdue:
        return 1 + _close(session, case, loan, on)
    elif case.stage != loan.stage:
        _move_stage(session, case, loan, on)
        done = 1
    else:
        done = 0
    done += _resolve_promises(session, case, on)
    done += _assign_by_strategy(session, case, on)
    done += _remind(session, case, loan, on)
    return done


def loans_with_open_cases(session: Session) -> list[int]:
    """The loans whose case is still open, by id: the batch works them even once they have
    left service (repaid in full today), to close their case."""
    return list(
        session.scalars(
            select(CollectionCase.loan_id)
            .where(CollectionCase.status == OPEN)
            .order_by(CollectionCase.loan_id)
        ).all()
    )


def loans_to_work(session: Session) -> list[int]:
    """The loans 催收分案 visits: those overdue in repayment (a case to open or move on) and those
    with an open case (to work, or to close once repaid)."""
    overdue = select(Loan.id).where(Loan.status == marketplace.DISBURSED, Loan.days_past_due > 0)
    return sorted(set(session.scalars(overdue)) | set(loans_with_open_cases(session)))


def _open_case(session: Session, loan_id: int) -> CollectionCase | None:
    return session.scalars(
        select(CollectionCase)
        .where(CollectionCase.loan_id == loan_id, CollectionCase.status == OPEN)
        .with_for_update()
    ).first()


def _opened_on(session: Session, loan_id: int, on: date) -> bool:
    return (
        session.scalar(
            select(CollectionCase.id).where(CollectionCase.loan_id == loan_id, CollectionCase.opened_on == on)
        )
        is not None
    )


def _risk_day(session: Session, loan_id: int, on: date) -> LoanRiskDay | None:
    """The loan's overdue position at the end of ``on`` (or the latest day before it)."""
    return session.scalars(
        select(LoanRiskDay)
        .where(LoanRiskDay.loan_id == loan_id, LoanRiskDay.business_date <= on)
        .order_by(LoanRiskDay.business_date.desc())
        .limit(1)
    ).first()


def _balance(row: LoanRiskDay | None) -> int:
    return 0 if row is None else row.overdue_principal + row.overdue_interest + row.penalty_owed


def _open(session: Session, loan: Loan, on: date) -> CollectionCase:
    risk = _risk_day(session, loan.id, on)
    case = CollectionCase(
        loan_id=loan.id,
        borrower_id=loan.borrower_id,
        status=OPEN,
        stage=loan.stage,
        stage_since=on,
        opened_on=on,
        opening_dpd=loan.days_past_due,
        opening_principal=0 if risk is None else risk.overdue_principal,
        opening_balance=_balance(risk),
        broken_promises=0,
        created_at=clock.now(),
    )
    session.add(case)
    session.flush()
    session.add(
        CollectionStageChange(
            case_id=case.id,
            loan_id=loan.id,
            business_date=on,
            from_stage="current",
            to_stage=loan.stage,
            days_past_due=loan.days_past_due,
            balance=case.opening_balance,
        )
    )
    session.flush()
    return case


def _move_stage(session: Session, case: CollectionCase, loan: Loan, on: date) -> None:
    session.add(
        CollectionStageChange(
            case_id=case.id,
            loan_id=loan.id,
            business_date=on,
            from_stage=case.stage,
            to_stage=loan.stage,
            days_past_due=loan.days_past_due,
            balance=_balance(_risk_day(session, loan.id, on)),
        )
    )
    case.stage, case.stage_since = loan.stage, on
    session.flush()


def _close(session: Session, case: CollectionCase, loan: Loan, on: date) -> int:
    case.status, case.closed_on = CLOSED, on
    case.close_reason = SETTLED if loan.status == marketplace.SETTLED else CURED
    session.add(
        CollectionStageChange(
            case_id=case.id,
            loan_id=loan.id,
            business_date=on,
            from_stage=case.stage,
            to_stage="current",
            days_past_due=0,
            balance=0,
        )
    )
    resolved = 0
    for promise in _pending_promises(session, case.id):
        # The arrears are cleared: whatever was promised for them is kept.
        promise.status, promise.resolved_on = KEPT, on
        promise.repaid = _repaid_between(session, case.loan_id, promise.made_on, on)
        resolved += 1
    session.flush()
    return resolved


# --- promises ------------------------------------------------------------------------------------


def _pending_promises(session: Session, case_id: int) -> list[CollectionPromise]:
    return list(
        session.scalars(
            select(CollectionPromise)
            .where(CollectionPromise.case_id == case_id, CollectionPromise.status == PENDING)
            .order_by(CollectionPromise.id)
        ).all()
    )


def _repaid_between(session: Session, loan_id: int, first: date, last: date) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(Repayment.amount), 0)).where(
            Repayment.loan_id == loan_id, Repayment.business_date.between(first, last)
        )
    )
    return int(total or 0)


def _resolve_promises(session: Session, case: CollectionCase, on: date) -> int:
    """Kept when the promised amount has been repaid since the promise (by its date);
    broken — counted on the case — when its date has passed without it."""
    resolved = 0
    for promise in _pending_promises(session, case.id):
        repaid = _repaid_between(session, case.loan_id, promise.made_on, min(on, promise.due_on))
        if repaid >= promise.amount:
            promise.status = KEPT
        elif on > promise.due_on:
            promise.status = BROKEN
            case.broken_promises += 1
        else:
            continue
        promise.repaid, promise.resolved_on = repaid, on
        resolved += 1
    if resolved:
        session.flush()
    return resolved


# --- assignment ----------------------------------------------------------------------------------


def _collectors(session: Session, on: date) -> list[int]:
    """Active collectors, read once per transaction and date (the batch gives many cases)."""
    key = ("collections.active_collectors", on)
    cached = session.info.get(key)
    if cached is None:
        cached = session.info[key] = staff.active_collectors(session)
    return list(cached)


def _assign_by_strategy(session: Session, case: CollectionCase, on: date) -> int:
    """Give an unassigned case to a collector as its stage's strategy says; on the day a
    case moves stage, also one whose collector is not on the new stage's team (a manager's
    choice is otherwise left alone)."""
    strategy = strategies.strategy_of(session, case.stage)
    moved_today = case.stage_since == on and case.opened_on != on
    off_team = moved_today and bool(strategy.team) and case.collector_id not in strategy.team
    if (case.collector_id is not None and not off_team) or strategy.assignment == "none":
        return 0
    pool = _collectors(session, on)
    if strategy.team:
        pool = [c for c in pool if c in strategy.team]
    if not pool:
        return 0  # nobody to give it to: it waits, unassigned, for a manager or tomorrow
    rows = strategies.locked_rows(session)  # serialises the choice across workers
    row = rows[case.stage]
    if row.assignment == ROUND_ROBIN:
        last = row.last_assigned_to
        later = [c for c in pool if last is None or c > last]
        chosen = later[0] if later else pool[0]
        row.last_assigned_to = chosen
        method = ROUND_ROBIN
    else:
        loads = open_cases_by_collector(session)
        chosen = min(pool, key=lambda c: (loads.get(c, 0), c))
        method = BY_LOAD
    _give(session, case, chosen, method=method, on=on, actor_id=None)
    return 1


def open_cases_by_collector(session: Session) -> dict[int, int]:
    """Each collector's open cases (their load)."""
    return {
        int(collector): int(count)
        for collector, count in session.execute(
            select(CollectionCase.collector_id, func.count(CollectionCase.id))
            .where(CollectionCase.status == OPEN, CollectionCase.collector_id.is_not(None))
            .group_by(CollectionCase.collector_id)
        )
        if collector is not None
    }


def _give(
    session: Session,
    case: CollectionCase,
    collector_id: int | None,
    *,
    method: str,
    on: date,
    actor_id: int | None,
    reason: str = "",
) -> None:
    session.add(
        CollectionAssignment(
            case_id=case.id,
            loan_id=case.loan_id,
            collector_id=collector_id,
            previous_collector_id=case.collector_id,
            method=method,
            business_date=on,
            balance=_balance(_risk_day(session, case.loan_id, on)),
            assigned_by=actor_id,
            reason=reason,
            created_at=clock.now(),
        )
    )
    case.collector_id = collector_id
    case.assigned_on = on if collector_id is not None else None
    case.next_contact_on = on if collector_id is not None else None  # a new collector calls first
    session.flush()


def assign(
    session: Session, *, actor_id: int | None, case_id: int, collector_id: int | None, reason: str = ""
) -> CaseSummary:
    """分案 by a collections manager: give the case to ``collector_id`` (an active
    collector), or take it back (None). Audited."""
    staff.require(session, actor_id, staff.MANAGE)
    reason = reason.strip()
    if len(reason) > MAX_REASON or _has_control(reason):
        raise InvalidCollectionAction(
            f"A reason is at most {MAX_REASON} characters.", details={"field": "reason"}
        )
    case = _locked_case(session, case_id)
    if case.status != OPEN:
        raise CaseClosed("The case is closed.", details={"case_id": case_id})
    if collector_id is not None and not staff.is_active_collector(session, collector_id):
        raise InvalidCollector(
            "Cases go to active collectors (the collector role, an authenticator enrolled).",
            details={"field": "collector_id", "collector_id": collector_id},
        )
    previous = case.collector_id
    if collector_id != previous:
        _give(session, case, collector_id, method=MANUAL, on=clock.today(), actor_id=actor_id, reason=reason)
        audit.record(
            session,
            actor_id=actor_id,
            action="collections.case_assigned",
            object_type="collection_case",
            object_id=case.id,
            details={
                "loan_id": case.loan_id,
                "collector_id": collector_id,
                "previous": previous,
                "reason": reason,
            },
        )
    return summary(session, case.id)


# --- reminders -----------------------------------------------------------------------------------


def _remind(session: Session, case: CollectionCase, loan: Loan, on: date) -> int:
    strategy = strategies.strategy_of(session, case.stage)
    channels = strategy.channels
    if not channels or (on - case.stage_since).days % strategy.reminder_every_days:
        return 0
    sent = set(
        session.scalars(
            select(CollectionReminder.channel).where(
                CollectionReminder.case_id == case.id, CollectionReminder.business_date == on
            )
        )
    )
    todo = [c for c in channels if c not in sent]
    if not todo:
        return 0
    owed = sum(row.owed for row in servicing.unpaid_installments(session, loan.id) if row.due_date <= on)
    for channel in todo:
        notification_id = send_reminder(session, loan, channel=channel, days=loan.days_past_due, amount=owed)
        session.add(
            CollectionReminder(
                case_id=case.id,
                loan_id=loan.id,
                business_date=on,
                channel=channel,
                stage=case.stage,
                days_past_due=loan.days_past_due,
                amount=owed,
                notification_id=notification_id,
            )
        )
    session.flush()
    return len(todo)


def send_reminder(session: Session, loan: Loan, *, channel: str, days: int, amount: int) -> int:
    """The standard collection reminder to the borrower, by SMS or app message, in their
    language; returns the outbox row's id. The wording is fixed (no free text reaches a
    borrower from collections)."""
    locale = identity.locales_of(session, [loan.borrower_id]).get(loan.borrower_id, "zh")
    params = {"loan": loan.title, "days": str(days), "amount": yuan_str(amount)}
    if channel == "sms":
        return notifications.send_sms(
            session,
            phone=identity.phone_of(session, loan.borrower_id),
            template=REMINDER_TEMPLATE,
            params=params,
            user_id=loan.borrower_id,
            locale=locale,
        ).id
    return notifications.notify_user(
        session, user_id=loan.borrower_id, template=REMINDER_TEMPLATE, params=params, locale=locale
    ).id


# --- actions -------------------------------------------------------------------------------------


def log_action(session: Session, *, actor_id: int, case_id: int, action: ActionInput) -> CollectionAction:
    """催收记录: log what the collector did. Collectors log on their own cases and on
    unassigned ones; managers on any. A promise to pay is checked by the batch from the day
    after its date; a message by SMS or app sends the standard reminder now."""
    staff.require(session, actor_id, staff.WORK, staff.MANAGE)
    kind, detail, note = action.kind, action.detail.strip(), action.note.strip()
    _check_action(kind, detail, note, action)
    case = _locked_case(session, case_id)
    if case.status != OPEN:
        raise CaseClosed(
            "The case is closed: the loan is current again or settled.", details={"case_id": case_id}
        )
    if case.collector_id not in (None, actor_id) and not staff.is_manager(session, actor_id):
        raise NotYourCase("This case is another collector's.", details={"case_id": case_id})
    today = clock.today()
    if kind == "promise_to_pay":
        assert action.due_on is not None
        if not today <= action.due_on <= today + timedelta(days=MAX_PROMISE_DAYS):
            raise InvalidCollectionAction(
                f"A promise falls due between today and {MAX_PROMISE_DAYS} days from today.",
                details={"field": "due_on", "today": today.isoformat()},
            )
    row = CollectionAction(
        case_id=case.id,
        loan_id=case.loan_id,
        actor_id=actor_id,
        kind=kind,
        detail=detail,
        note=note,
        business_date=today,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    details: dict[str, object] = {"loan_id": case.loan_id, "kind": kind, "detail": detail}
    contact_every = strategies.strategy_of(session, case.stage).contact_every_days
    case.last_action_on, case.next_contact_on = today, today + timedelta(days=contact_every)
    if kind == "promise_to_pay":
        assert action.amount is not None and action.due_on is not None
        session.add(
            CollectionPromise(
                case_id=case.id,
                loan_id=case.loan_id,
                action_id=row.id,
                collector_id=actor_id,
                amount=action.amount,
                made_on=today,
                due_on=action.due_on,
                status=PENDING,
                repaid=0,
            )
        )
        case.next_contact_on = action.due_on + timedelta(days=1)  # see whether it was kept
        details.update(amount=yuan_str(action.amount), due_on=action.due_on.isoformat())
    elif kind == "message" and detail in ("sms", "app"):
        loan = marketplace.get_loan(session, case.loan_id)
        owed = servicing.amount_due(session, loan.id).total if loan.status == marketplace.DISBURSED else 0
        send_reminder(session, loan, channel=detail, days=loan.days_past_due, amount=owed)
        details["amount"] = yuan_str(owed)
    session.flush()
    # The note may name people or numbers: it stays on the case, not in the audit log.
    audit.record(
        session,
        actor_id=actor_id,
        action="collections.action_logged",
        object_type="collection_case",
        object_id=case.id,
        details=details,
    )
    return row


def _check_action(kind: str, detail: str, note: str, action: ActionInput) -> None:
    if kind not in ACTION_KINDS:
        _refuse("kind", f"The kind is one of {', '.join(ACTION_KINDS)}.")
    allowed = ACTION_DETAILS[kind]
    if allowed and detail not in allowed:
        _refuse("detail", f"For a {kind}, the detail is one of {', '.join(allowed)}.")
    if not allowed and detail:
        _refuse("detail", f"A {kind} has no detail.")
    if len(note) > MAX_NOTE or _has_control(note):
        _refuse("note", f"A note is at most {MAX_NOTE} characters, without control characters.")
    if kind == "note" and not note:
        _refuse("note", "Write the note.")
    if kind == "promise_to_pay":
        if action.amount is None or isinstance(action.amount, bool) or action.amount <= 0:
            _refuse("amount", "A promise names a positive amount.")
        if action.due_on is None:
            _refuse("due_on", "A promise names the date it will be paid by.")
    elif action.amount is not None or action.due_on is not None:
        _refuse(
            "amount" if action.amount is not None else "due_on",
            "Only a promise to pay has an amount and a date.",
        )


def _refuse(field: str, message: str) -> None:
    raise InvalidCollectionAction(message, details={"field": field})


def _has_control(text: str) -> bool:
    return any((ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F for c in text)


# --- reading -------------------------------------------------------------------------------------


def _locked_case(session: Session, case_id: int) -> CollectionCase:
    """The case, locked after its loan (the batch's lock order: loan, then case)."""
    case = session.get(CollectionCase, case_id)
    if case is None:
        raise CaseNotFound("No such collection case.", details={"case_id": case_id})
    marketplace.lock_loan(session, case.loan_id)
    locked = session.scalars(
        select(CollectionCase)
        .where(CollectionCase.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked


_CaseRow = TypeVar(
    "_CaseRow",
    CollectionStageChange,
    CollectionAssignment,
    CollectionAction,
    CollectionPromise,
    CollectionReminder,
)


def _of_case(session: Session, model: type[_CaseRow], case_id: int, *order: Any) -> list[_CaseRow]:
    """One case's rows of ``model`` (its history, actions, promises …), in ``order``."""
    return list(session.scalars(select(model).where(model.case_id == case_id).order_by(*order)).all())


def _summaries(session: Session, rows: Sequence[tuple[CollectionCase, Loan]]) -> list[CaseSummary]:
    case_ids = [case.id for case, _ in rows]
    promise_due: dict[int, date] = {}
    if case_ids:
        for case_id, due_on in session.execute(
            select(CollectionPromise.case_id, func.min(CollectionPromise.due_on))
            .where(CollectionPromise.case_id.in_(case_ids), CollectionPromise.status == PENDING)
            .group_by(CollectionPromise.case_id)
        ):
            promise_due[int(case_id)] = due_on
    written_off = writeoff.written_off_loans(session, [loan.id for _, loan in rows])
    return [
        CaseSummary(
            id=case.id,
            loan_id=loan.id,
            loan_title=loan.title,
            borrower_id=case.borrower_id,
            status=case.status,
            stage=case.stage,
            stage_since=case.stage_since,
            opened_on=case.opened_on,
            closed_on=case.closed_on,
            close_reason=case.close_reason,
            days_past_due=loan.days_past_due,
            principal_outstanding=loan.principal_outstanding,
            opening_balance=case.opening_balance,
            collector_id=case.collector_id,
            assigned_on=case.assigned_on,
            last_action_on=case.last_action_on,
            next_contact_on=case.next_contact_on,
            broken_promises=case.broken_promises,
            promise_due_on=promise_due.get(case.id),
            written_off=loan.id in written_off,
        )
        for case, loan in rows
    ]


def summary(session: Session, case_id: int) -> CaseSummary:
    row = session.execute(
        select(CollectionCase, Loan)
        .join(Loan, Loan.id == CollectionCase.loan_id)
        .where(CollectionCase.id == case_id)
    ).first()
    if row is None:
        raise CaseNotFound("No such collection case.", details={"case_id": case_id})
    return _summaries(session, [(row[0], row[1])])[0]


def cases(
    session: Session,
    *,
    status: str | None = None,
    stage: str | None = None,
    collector_id: int | None = None,
    unassigned: bool = False,
    loan_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> CasePage:
    """Cases, most overdue first (open before closed), with filters."""
    query = select(CollectionCase, Loan).join(Loan, Loan.id == CollectionCase.loan_id)
    if status is not None:
        query = query.where(CollectionCase.status == status)
    if stage is not None:
        query = query.where(CollectionCase.stage == strategies.check_stage(stage))
    if collector_id is not None:
        query = query.where(CollectionCase.collector_id == collector_id)
    if unassigned:
        query = query.where(CollectionCase.collector_id.is_(None))
    if loan_id is not None:
        query = query.where(CollectionCase.loan_id == loan_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(
            (CollectionCase.status == OPEN).desc(), Loan.days_past_due.desc(), CollectionCase.id.desc()
        )
        .limit(min(max(limit, 1), MAX_PAGE))
        .offset(max(offset, 0))
    ).all()
    return CasePage(_summaries(session, [(c, loan) for c, loan in rows]), int(total))


_PRIORITY = {"promise_due": 0, "broken_promise": 1, "contact_due": 2, "scheduled": 3}


def queue(session: Session, collector_id: int, *, today: date | None = None) -> list[QueueItem]:
    """我的催收: the collector's open cases, what needs doing first: a promise falling due
    (today or passed), a broken promise, a contact due; then by days past due."""
    today = today or clock.today()
    rows = session.execute(
        select(CollectionCase, Loan)
        .join(Loan, Loan.id == CollectionCase.loan_id)
        .where(CollectionCase.status == OPEN, CollectionCase.collector_id == collector_id)
    ).all()
    items = []
    for item in _summaries(session, [(c, loan) for c, loan in rows]):
        if item.promise_due_on is not None and item.promise_due_on <= today:
            priority = "promise_due"
        elif item.broken_promises and item.promise_due_on is None:
            priority = "broken_promise"
        elif item.next_contact_on is None or item.next_contact_on <= today:
            priority = "contact_due"
        else:
            priority = "scheduled"
        items.append(QueueItem(item, priority))
    return sorted(items, key=lambda q: (_PRIORITY[q.priority], -q.case.days_past_due, q.case.id))


def detail(session: Session, case_id: int, *, reveal_contact: bool) -> CaseDetail:
    """A case with its loan's overdue position and everything done on it. The borrower's
    name and phone in clear only for ``reveal_contact`` (staff with need-to-know, R47)."""
    head = summary(session, case_id)
    loan = marketplace.get_loan(session, head.loan_id)
    risk = _risk_day(session, loan.id, clock.today())
    owed = servicing.amount_due(session, loan.id).total if loan.status == marketplace.DISBURSED else 0
    position = Position(
        business_date=None if risk is None else risk.business_date,
        days_past_due=loan.days_past_due,
        stage=loan.stage,
        classification=loan.classification,
        overdue_principal=0 if risk is None else risk.overdue_principal,
        overdue_interest=0 if risk is None else risk.overdue_interest,
        penalty_owed=0 if risk is None else risk.penalty_owed,
        principal_outstanding=loan.principal_outstanding,
        owed_now=owed,
    )
    profile = identity.profile(session, loan.borrower_id)
    if reveal_contact:
        name = (
            identity.verified_identity(session, loan.borrower_id).name if profile.real_name_verified else None
        )
        contact = Contact(name, identity.phone_of(session, loan.borrower_id), masked=False)
    else:
        contact = Contact(profile.name_masked, profile.phone_masked, masked=True)

    return CaseDetail(
        case=head,
        loan_amount=loan.amount,
        position=position,
        contact=contact,
        stage_changes=_of_case(session, CollectionStageChange, case_id, CollectionStageChange.business_date),
        assignments=_of_case(session, CollectionAssignment, case_id, CollectionAssignment.id),
        actions=_of_case(session, CollectionAction, case_id, CollectionAction.id.desc()),
        promises=_of_case(session, CollectionPromise, case_id, CollectionPromise.id.desc()),
        reminders=_of_case(
            session,
            CollectionReminder,
            case_id,
            CollectionReminder.business_date.desc(),
            CollectionReminder.channel,
        ),
        repayments=[
            r for r in servicing.repayments_of_loan(session, loan.id) if r.business_date >= head.opened_on
        ],
    )


def open_case_counts(session: Session) -> dict[str, int]:
    """Open cases by stage (M1 first) for the staff pages' headers."""
    counts: dict[str, int] = defaultdict(int)
    for stage, count in session.execute(
        select(CollectionCase.stage, func.count(CollectionCase.id))
        .where(CollectionCase.status == OPEN)
        .group_by(CollectionCase.stage)
    ):
        counts[stage] = int(count)
    return {stage: counts[stage] for stage in strategies.STAGES}
