"""催收策略: how each overdue stage is worked, kept by collections managers.

Per stage (M1 … M7+, DOMAIN.md §7) a strategy says

* ``treatment`` — what is expected of the people working the stage: automatic ``reminder``
  messages (early), ``phone`` calls by a collector (middle), a ``visit``, ``legal`` steps
  or ``outsourcing`` to an agency (late);
* the automatic reminders the end-of-day batch sends the borrower — by SMS, by app message
  (站内信), both or neither — on the stage's first day and every ``reminder_every_days``
  after it;
* ``assignment`` — whether the batch gives the stage's cases to a collector, and how:
  ``round_robin`` (the next collector by id after the one who got the stage's last case) or
  ``by_load`` (whoever has the fewest open cases; ties to the lower id); ``none`` leaves
  them to the reminders (a manager may still assign one by hand);
* ``team`` — the collectors who work the stage (empty: every active collector);
* ``contact_every_days`` — how often a collector is expected to contact the borrower: the
  work queue puts a case first once that many days have passed since its last action.

A stage nobody has edited follows ``DEFAULTS``. Every change is audited with the previous
values.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.collections import staff
from p2plend.collections.errors import InvalidStrategy, UnknownStage
from p2plend.collections.models import CollectionStrategy
from p2plend.servicing.delinquency import Stage

STAGES: tuple[str, ...] = tuple(s.value for s in Stage if s is not Stage.CURRENT)
TREATMENTS = ("reminder", "phone", "visit", "legal", "outsourcing")
ASSIGNMENTS = ("none", "round_robin", "by_load")
MAX_INTERVAL_DAYS = 90
MAX_TEAM = 200


@dataclass(frozen=True, slots=True)
class Strategy:
    stage: str
    treatment: str
    reminder_sms: bool
    reminder_app: bool
    reminder_every_days: int
    assignment: str
    team: tuple[int, ...]
    contact_every_days: int
    updated_by: int | None = None
    updated_at: datetime | None = None  # None: the default, never edited

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c for c, on in (("sms", self.reminder_sms), ("app", self.reminder_app)) if on)


# [D] early: reminders by SMS and app message; middle: phone calls by a collector; late:
# legal steps, then outsourcing to a collection agency.
DEFAULTS: dict[str, Strategy] = {
    "m1": Strategy("m1", "reminder", True, True, 7, "none", (), 7),
    "m2": Strategy("m2", "phone", False, True, 7, "round_robin", (), 3),
    "m3": Strategy("m3", "phone", True, False, 7, "by_load", (), 2),
    "m3_plus": Strategy("m3_plus", "legal", False, False, 30, "by_load", (), 7),
    "m7_plus": Strategy("m7_plus", "outsourcing", False, False, 30, "by_load", (), 14),
}


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise UnknownStage(
            f"The stage is one of {', '.join(STAGES)}.", details={"field": "stage", "stage": stage[:32]}
        )
    return stage


def strategies(session: Session) -> list[Strategy]:
    """Every stage's strategy, M1 first."""
    rows = {row.stage: row for row in session.scalars(select(CollectionStrategy))}
    return [_view(rows[stage]) if stage in rows else DEFAULTS[stage] for stage in STAGES]


def strategy_of(session: Session, stage: str) -> Strategy:
    row = session.get(CollectionStrategy, check_stage(stage))
    return DEFAULTS[stage] if row is None else _view(row)


@dataclass(frozen=True, slots=True)
class StrategyChange:
    """A strategy as staff set it (every field; the API and pages send the whole strategy)."""

    treatment: str
    reminder_sms: bool
    reminder_app: bool
    reminder_every_days: int
    assignment: str
    team: tuple[int, ...]
    contact_every_days: int


def update_strategy(
    session: Session, *, actor_id: int | None, stage: str, change: StrategyChange
) -> Strategy:
    """Set ``stage``'s strategy (collections managers; audited with the previous values)."""
    staff.require(session, actor_id, staff.MANAGE)
    check_stage(stage)
    _check(session, change)
    rows = locked_rows(session)
    row = rows[stage]
    previous = _state(_view(row))
    row.treatment, row.reminder_sms, row.reminder_app = (
        change.treatment,
        change.reminder_sms,
        change.reminder_app,
    )
    row.reminder_every_days, row.assignment = change.reminder_every_days, change.assignment
    row.team, row.contact_every_days = sorted(set(change.team)), change.contact_every_days
    row.updated_by, row.updated_at = actor_id, clock.now()
    session.flush()
    view = _view(row)
    audit.record(
        session,
        actor_id=actor_id,
        action="collections.strategy_updated",
        object_type="collection_strategy",
        object_id=stage,
        details={"previous": previous, "now": _state(view)},
    )
    return view


def locked_rows(session: Session) -> dict[str, CollectionStrategy]:
    """Every stage's row, written from the defaults where missing, all locked in stage order:
    changing a strategy and giving cases out (round robin, by load) take the same locks in
    the same order, so they queue rather than deadlock across workers."""
    present = set(session.scalars(select(CollectionStrategy.stage)))
    for stage in STAGES:
        if stage in present:
            continue
        default = DEFAULTS[stage]
        try:
            with session.begin_nested():
                session.add(
                    CollectionStrategy(
                        stage=stage,
                        treatment=default.treatment,
                        reminder_sms=default.reminder_sms,
                        reminder_app=default.reminder_app,
                        reminder_every_days=default.reminder_every_days,
                        assignment=default.assignment,
                        team=list(default.team),
                        contact_every_days=default.contact_every_days,
                        last_assigned_to=None,
                        updated_by=None,
                        updated_at=clock.now(),
                    )
                )
                session.flush()
        except IntegrityError:
            pass  # another transaction wrote the default first
    rows = session.scalars(
        select(CollectionStrategy)
        .order_by(CollectionStrategy.stage)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {row.stage: row for row in rows}


def _check(session: Session, change: StrategyChange) -> None:
    if change.treatment not in TREATMENTS:
        _refuse("treatment", f"The treatment is one of {', '.join(TREATMENTS)}.")
    if change.assignment not in ASSIGNMENTS:
        _refuse("assignment", f"The assignment is one of {', '.join(ASSIGNMENTS)}.")
    for name in ("reminder_every_days", "contact_every_days"):
        value = getattr(change, name)
        if isinstance(value, bool) or not 1 <= value <= MAX_INTERVAL_DAYS:
            _refuse(name, f"A number of days from 1 to {MAX_INTERVAL_DAYS}.")
    if len(change.team) > MAX_TEAM:
        _refuse("team", f"A team has at most {MAX_TEAM} collectors.")
    if change.team:
        collectors = set(staff.active_collectors(session))
        strangers = sorted(set(change.team) - collectors)
        if strangers:
            raise InvalidStrategy(
                "A team is made of active collectors (the collector role, an authenticator enrolled).",
                details={"field": "team", "not_collectors": strangers},
            )


def _refuse(field: str, message: str) -> None:
    raise InvalidStrategy(message, details={"field": field})


def _view(row: CollectionStrategy) -> Strategy:
    return Strategy(
        stage=row.stage,
        treatment=row.treatment,
        reminder_sms=row.reminder_sms,
        reminder_app=row.reminder_app,
        reminder_every_days=row.reminder_every_days,
        assignment=row.assignment,
        team=tuple(int(i) for i in row.team or ()),
        contact_every_days=row.contact_every_days,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def _state(strategy: Strategy) -> dict[str, object]:
    return {
        "treatment": strategy.treatment,
        "reminder_sms": strategy.reminder_sms,
        "reminder_app": strategy.reminder_app,
        "reminder_every_days": strategy.reminder_every_days,
        "assignment": strategy.assignment,
        "team": list(strategy.team),
        "contact_every_days": strategy.contact_every_days,
    }
