"""催收案件 by the end-of-day batch: a case per overdue spell, opened on the first overdue
day, escalated as the stage moves, closed when the loan is current again or settled;
assignment (round robin, by load, a team, by a manager); actions; promises; reminders."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.collections import service as collections
from p2plend.collections.errors import (
    CaseClosed,
    InvalidCollectionAction,
    InvalidCollector,
    InvalidStrategy,
    NotYourCase,
    UnknownStage,
)
from p2plend.collections.models import CollectionAssignment, CollectionReminder, CollectionStageChange
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import PermissionDenied
from p2plend.identity.permissions import Role
from p2plend.jobs import eod
from p2plend.notifications import service as notifications
from p2plend.servicing import service as servicing
from tests import collecting, lending, overdue
from tests.overdue import overdue_by


def _stage_changes(session: Session, case_id: int) -> list[tuple[date, str, str, int]]:
    return [
        (c.business_date, c.from_stage, c.to_stage, c.days_past_due)
        for c in session.scalars(
            select(CollectionStageChange)
            .where(CollectionStageChange.case_id == case_id)
            .order_by(CollectionStageChange.business_date)
        )
    ]


def test_a_case_opens_on_the_first_overdue_day_escalates_and_closes_when_cured(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    overdue.close(session_factory, bank, overdue.FIRST_DUE)
    assert collecting.case_of(session_factory, loan.loan_id) is None  # due today: not overdue yet
    [report] = overdue.close(session_factory, bank, overdue_by(1))
    assert report.items["collections"] == 1 + 2  # opened; M1's SMS and app reminders
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    with session_factory() as session:
        first = servicing.schedule(session, loan.loan_id)[0]
    assert (case.status, case.stage, case.opened_on, case.days_past_due) == ("open", "m1", overdue_by(1), 1)
    assert case.opening_balance == first.principal + first.interest  # within grace: no penalty yet
    assert case.collector_id is None  # M1 is worked by reminders (strategy: no assignment)

    overdue.close(session_factory, bank, overdue_by(31))  # DPD 31: M2
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and (case.stage, case.stage_since, case.days_past_due) == (
        "m2",
        overdue_by(31),
        31,
    )

    collecting.pay_what_is_due(session_factory, bank, loan)
    overdue.close(session_factory, bank, overdue_by(32))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    assert (case.status, case.closed_on, case.close_reason) == ("closed", overdue_by(32), "cured")
    with session_factory() as session:
        assert _stage_changes(session, case.id) == [
            (overdue_by(1), "current", "m1", 1),
            (overdue_by(31), "m1", "m2", 31),
            (overdue_by(32), "m2", "current", 0),
        ]
    lending.assert_loan_sound(session_factory, loan.loan_id)


def test_a_new_overdue_spell_opens_a_new_case(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    overdue.close(session_factory, bank, overdue_by(2))
    collecting.pay_what_is_due(session_factory, bank, loan)
    overdue.close(session_factory, bank, overdue_by(3))
    second_due = date(2027, 1, 28)
    overdue.close(session_factory, bank, second_due + timedelta(days=1))
    with session_factory() as session:
        page = collections.cases(session, loan_id=loan.loan_id)
    assert [(c.status, c.opened_on, c.closed_on) for c in page.items] == [
        ("open", second_due + timedelta(days=1), None),
        ("closed", overdue_by(2), overdue_by(3)),
    ]


def test_the_act_is_idempotent_per_loan_and_date(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Running the act again for a date already worked does nothing: no second case, stage
    change, assignment or reminder."""
    loan = overdue.spent_loan(session_factory, bank)
    collecting.collectors(session_factory, 2)
    collecting.set_strategy(session_factory, "m1", assignment="round_robin")
    overdue.close(session_factory, bank, overdue_by(1))
    for day in (overdue_by(1),):
        with session_factory.begin() as session:
            assert collections.work_loan(session, loan.loan_id, day) == 0
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(CollectionReminder)) == 2
        assert session.scalar(select(func.count()).select_from(CollectionAssignment)) == 1
        assert len(collections.cases(session).items) == 1


def test_reminders_follow_the_strategy_once_per_case_date_and_channel(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """M1 by default: SMS and app message on the stage's first day and every 7 days after."""
    loan = overdue.spent_loan(session_factory, bank)
    overdue.close(session_factory, bank, overdue_by(1))
    overdue.close(session_factory, bank, overdue_by(16))
    with session_factory() as session:
        rows = session.scalars(select(CollectionReminder).order_by(CollectionReminder.id)).all()
        assert [(r.business_date, r.channel) for r in rows] == [
            (overdue_by(d), c) for d in (1, 8, 15) for c in ("sms", "app")
        ]
        inbox = [
            m
            for m in notifications.inbox(session, loan.borrower, limit=100)
            if m.template == "collection_reminder"
        ]
        assert len(inbox) == 3
        assert inbox[-1].body is not None and "已逾期1天" in inbox[-1].body
        sms = [s for s in notifications.recent_sms(session, limit=100) if s.template == "collection_reminder"]
        assert len(sms) == 3
    with session_factory.begin() as session:  # again for a date already reminded: nothing sent
        assert collections.work_loan(session, loan.loan_id, overdue_by(15)) == 0
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(CollectionReminder)) == 6


def test_round_robin_gives_cases_to_each_collector_in_turn(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loans = [overdue.spent_loan(session_factory, bank) for _ in range(4)]
    first, second, third = collecting.collectors(session_factory, 3)
    collecting.set_strategy(session_factory, "m1", assignment="round_robin")
    overdue.close(session_factory, bank, overdue_by(1))
    assigned = [collecting.case_of(session_factory, loan.loan_id) for loan in loans]
    assert [c.collector_id for c in assigned if c] == [first, second, third, first]
    with session_factory() as session:
        methods = session.scalars(select(CollectionAssignment.method)).all()
        assert methods == ["round_robin"] * 4


def test_by_load_gives_each_case_to_the_least_loaded_collector(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    busy_loan, *loans = [overdue.spent_loan(session_factory, bank) for _ in range(4)]
    first, second = collecting.collectors(session_factory, 2)
    overdue.close(session_factory, bank, overdue_by(1))
    case = collecting.case_of(session_factory, busy_loan.loan_id)
    assert case is not None
    with session_factory.begin() as session:  # the first collector already has one open case
        collections.assign(session, actor_id=None, case_id=case.id, collector_id=first)
    # New cases by load: second (0), then a tie 1-1 goes to the lower id (first), then second.
    collecting.set_strategy(session_factory, "m1", assignment="by_load")
    overdue.close(session_factory, bank, overdue_by(2))
    assigned = [collecting.case_of(session_factory, loan.loan_id) for loan in loans]
    assert [c.collector_id for c in assigned if c] == [second, first, second]
    with session_factory() as session:
        assert collections.open_cases_by_collector(session) == {first: 2, second: 2}


def test_a_stage_team_takes_its_cases_and_escalation_hands_them_over(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    caller, lawyer = collecting.collectors(session_factory, 2)
    collecting.set_strategy(session_factory, "m1", assignment="round_robin", team=(caller,))
    collecting.set_strategy(session_factory, "m2", assignment="by_load", team=(lawyer,))
    overdue.close(session_factory, bank, overdue_by(1))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and case.collector_id == caller
    overdue.close(session_factory, bank, overdue_by(31))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and (case.stage, case.collector_id) == ("m2", lawyer)
    with session_factory() as session:
        rows = session.scalars(select(CollectionAssignment).order_by(CollectionAssignment.id)).all()
        assert [(r.previous_collector_id, r.collector_id, r.method) for r in rows] == [
            (None, caller, "round_robin"),
            (caller, lawyer, "by_load"),
        ]


def test_nobody_to_give_a_case_to_leaves_it_unassigned(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    collecting.set_strategy(session_factory, "m1", assignment="round_robin")
    overdue.close(session_factory, bank, overdue_by(1))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and case.collector_id is None
    [collector] = collecting.collectors(session_factory, 1)
    overdue.close(session_factory, bank, overdue_by(2))  # the next batch finds one
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and case.collector_id == collector


def test_a_manager_reassigns_and_others_may_not(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    first, second = collecting.collectors(session_factory, 2)
    manager = collecting.make_staff(session_factory, Role.RISK_OFFICER, name="李经理")
    not_collector = collecting.make_staff(session_factory, Role.CUSTOMER_SERVICE)
    overdue.close(session_factory, bank, overdue_by(1))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    with session_factory.begin() as session:
        collections.assign(
            session, actor_id=manager, case_id=case.id, collector_id=first, reason="熟悉该客户"
        )
    with session_factory.begin() as session:
        moved = collections.assign(session, actor_id=manager, case_id=case.id, collector_id=second)
        assert moved.collector_id == second
    with session_factory() as session, pytest.raises(PermissionDenied):
        collections.assign(session, actor_id=first, case_id=case.id, collector_id=first)
    with session_factory() as session, pytest.raises(InvalidCollector):
        collections.assign(session, actor_id=manager, case_id=case.id, collector_id=not_collector)
    with session_factory() as session:
        records = audit.list_records(session, object_type="collection_case", object_id=str(case.id))
        assert [(r.action, r.actor_id, r.details["collector_id"]) for r in records] == [
            ("collections.case_assigned", manager, second),
            ("collections.case_assigned", manager, first),
        ]
    collecting.pay_what_is_due(session_factory, bank, loan)
    overdue.close(session_factory, bank, overdue_by(2))
    with session_factory() as session, pytest.raises(CaseClosed):
        collections.assign(session, actor_id=manager, case_id=case.id, collector_id=first)


def test_actions_are_logged_by_the_cases_collector(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    mine, other = collecting.collectors(session_factory, 2)
    manager = collecting.make_staff(session_factory, Role.RISK_OFFICER)
    overdue.close(session_factory, bank, overdue_by(5))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    with session_factory.begin() as session:  # unassigned: any collector may log
        collections.log_action(
            session, actor_id=other, case_id=case.id, action=collections.ActionInput("call", "no_answer")
        )
        collections.assign(session, actor_id=manager, case_id=case.id, collector_id=mine)
    with session_factory.begin() as session:
        for action in (
            collections.ActionInput("call", "reached", note="借款人称下周发工资"),
            collections.ActionInput("message", "sms"),
            collections.ActionInput("visit", "not_home", note="上门未见到本人"),
            collections.ActionInput("legal", "demand_letter"),
            collections.ActionInput("note", note="家属表示愿意协助还款"),
        ):
            collections.log_action(session, actor_id=mine, case_id=case.id, action=action)
        collections.log_action(
            session,
            actor_id=manager,
            case_id=case.id,
            action=collections.ActionInput("note", note="经理复核"),
        )
    with session_factory() as session, pytest.raises(NotYourCase):
        collections.log_action(
            session, actor_id=other, case_id=case.id, action=collections.ActionInput("note", note="x")
        )
    with session_factory() as session:
        detail = collections.detail(session, case.id, reveal_contact=True)
        assert [(a.kind, a.detail, a.actor_id) for a in detail.actions] == [
            ("note", "", manager),
            ("note", "", mine),
            ("legal", "demand_letter", mine),
            ("visit", "not_home", mine),
            ("message", "sms", mine),
            ("call", "reached", mine),
            ("call", "no_answer", other),
        ]
        assert detail.case.last_action_on == clock.today()
        assert detail.case.next_contact_on == clock.today() + timedelta(days=7)  # M1 strategy
        # The message sent the standard reminder by SMS, with what is owed now.
        sms = [s for s in notifications.recent_sms(session, limit=100) if s.template == "collection_reminder"]
        owed = servicing.amount_due(session, loan.loan_id).total
        assert sms[0].text is not None and f"{owed // 100}.{owed % 100:02d}" in sms[0].text
        assert not detail.contact.masked and detail.contact.phone.startswith("+86")
        masked = collections.detail(session, case.id, reveal_contact=False).contact
        assert masked.masked and "****" in masked.phone


@pytest.mark.parametrize(
    ("action", "field"),
    [
        (collections.ActionInput("dance"), "kind"),
        (collections.ActionInput("call"), "detail"),
        (collections.ActionInput("call", "maybe"), "detail"),
        (collections.ActionInput("note"), "note"),
        (collections.ActionInput("note", "sms", note="x"), "detail"),
        (collections.ActionInput("note", note="x" * 501), "note"),
        (collections.ActionInput("note", note="bad\x00"), "note"),
        (collections.ActionInput("promise_to_pay", due_on=date(2027, 1, 5)), "amount"),
        (collections.ActionInput("promise_to_pay", amount=0, due_on=date(2027, 1, 5)), "amount"),
        (collections.ActionInput("promise_to_pay", amount=100), "due_on"),
        (collections.ActionInput("promise_to_pay", amount=100, due_on=date(2027, 1, 2)), "due_on"),  # past
        (
            collections.ActionInput("promise_to_pay", amount=100, due_on=date(2027, 2, 10)),
            "due_on",
        ),  # > 30 days
        (collections.ActionInput("call", "reached", amount=100), "amount"),
    ],
)
def test_bad_actions_are_refused_with_the_field(
    session_factory: sessionmaker[Session], bank: SimulatedBank, action: collections.ActionInput, field: str
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    [collector] = collecting.collectors(session_factory, 1)
    overdue.close(session_factory, bank, overdue_by(6))  # 2027-01-03
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    with session_factory() as session, pytest.raises(InvalidCollectionAction) as refused:
        collections.log_action(session, actor_id=collector, case_id=case.id, action=action)
    assert refused.value.details["field"] == field


def test_a_promise_not_kept_by_its_date_is_flagged_broken(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    kept_loan, broken_loan = (overdue.spent_loan(session_factory, bank) for _ in range(2))
    [collector] = collecting.collectors(session_factory, 1)
    collecting.set_strategy(session_factory, "m1", assignment="round_robin")
    overdue.close(session_factory, bank, overdue_by(10))
    due_on = overdue_by(13)
    for loan in (kept_loan, broken_loan):
        case = collecting.case_of(session_factory, loan.loan_id)
        assert case is not None
        with session_factory.begin() as session:
            collections.log_action(
                session,
                actor_id=collector,
                case_id=case.id,
                action=collections.ActionInput("promise_to_pay", amount=50_000, due_on=due_on),
            )
    # The first borrower pays 500.00 (the promise) on DPD 12, the second pays 300.00 only.
    for loan, amount in ((kept_loan, 50_000), (broken_loan, 30_000)):
        lending.go_to(overdue_by(12))
        lending.deposit(
            session_factory, bank, loan.borrower, lending.card_of(session_factory, loan.borrower), amount
        )
        lending.repay(session_factory, bank, loan.loan_id, loan.borrower, amount)
    overdue.close(session_factory, bank, due_on)  # the promised day: not broken yet
    kept_case, broken_case = (
        collecting.case_of(session_factory, loan.loan_id) for loan in (kept_loan, broken_loan)
    )
    assert kept_case is not None and broken_case is not None
    with session_factory() as session:
        kept = collections.detail(session, kept_case.id, reveal_contact=False)
        broken = collections.detail(session, broken_case.id, reveal_contact=False)
        assert [(p.status, p.repaid, p.resolved_on) for p in kept.promises] == [
            ("kept", 50_000, overdue_by(12))
        ]
        assert [p.status for p in broken.promises] == ["pending"]
    overdue.close(session_factory, bank, due_on + timedelta(days=1))
    with session_factory() as session:
        broken = collections.detail(session, broken_case.id, reveal_contact=False)
        assert [(p.status, p.repaid, p.resolved_on) for p in broken.promises] == [
            ("broken", 30_000, due_on + timedelta(days=1))
        ]
        assert broken.case.broken_promises == 1
        queue = collections.queue(session, collector)
        assert [(q.case.loan_id, q.priority) for q in queue] == [
            (broken_loan.loan_id, "broken_promise"),
            (kept_loan.loan_id, "contact_due"),
        ]


def test_the_queue_puts_promises_due_first(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loans = [overdue.spent_loan(session_factory, bank) for _ in range(3)]
    [collector] = collecting.collectors(session_factory, 1)
    collecting.set_strategy(session_factory, "m1", assignment="round_robin")
    overdue.close(session_factory, bank, overdue_by(4))
    cases = [collecting.case_of(session_factory, loan.loan_id) for loan in loans]
    with session_factory.begin() as session:
        collections.log_action(
            session,
            actor_id=collector,
            case_id=cases[1].id,  # type: ignore[union-attr]
            action=collections.ActionInput("promise_to_pay", amount=10_000, due_on=clock.today()),
        )
        collections.log_action(
            session,
            actor_id=collector,
            case_id=cases[2].id,
            action=collections.ActionInput("call", "no_answer"),  # type: ignore[union-attr]
        )
    with session_factory() as session:
        queue = collections.queue(session, collector)
    assert [(q.case.loan_id, q.priority) for q in queue] == [
        (loans[1].loan_id, "promise_due"),
        (loans[0].loan_id, "contact_due"),  # assigned by the batch: contact due at once
        (loans[2].loan_id, "scheduled"),
    ]


def test_a_settled_loan_closes_its_case_as_settled(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank, months=1)
    overdue.close(session_factory, bank, overdue_by(2))
    collecting.pay_what_is_due(session_factory, bank, loan)
    overdue.close(session_factory, bank, overdue_by(3))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and (case.status, case.close_reason) == ("closed", "settled")


def test_strategies_default_and_are_changed_by_managers_with_audit(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    [collector] = collecting.collectors(session_factory, 1)
    manager = collecting.make_staff(session_factory, Role.RISK_OFFICER)
    with session_factory() as session:
        assert [
            (s.stage, s.treatment, s.channels, s.assignment) for s in collections.strategies(session)
        ] == [
            ("m1", "reminder", ("sms", "app"), "none"),
            ("m2", "phone", ("app",), "round_robin"),
            ("m3", "phone", ("sms",), "by_load"),
            ("m3_plus", "legal", (), "by_load"),
            ("m7_plus", "outsourcing", (), "by_load"),
        ]
    change = collections.StrategyChange("phone", True, False, 3, "by_load", (collector,), 2)
    with session_factory.begin() as session:
        saved = collections.update_strategy(session, actor_id=manager, stage="m1", change=change)
        assert (saved.treatment, saved.channels, saved.team, saved.updated_by) == (
            "phone",
            ("sms",),
            (collector,),
            manager,
        )
    with session_factory() as session:
        [record] = audit.list_records(session, object_type="collection_strategy", object_id="m1")
        assert record.details["previous"]["treatment"] == "reminder"
        assert record.details["now"]["team"] == [collector]
    with session_factory() as session, pytest.raises(PermissionDenied):
        collections.update_strategy(session, actor_id=collector, stage="m1", change=change)
    for bad, field in (
        ({"treatment": "threats"}, "treatment"),
        ({"assignment": "random"}, "assignment"),
        ({"reminder_every_days": 0}, "reminder_every_days"),
        ({"contact_every_days": 91}, "contact_every_days"),
        ({"team": (manager,)}, "team"),
    ):
        wrong = replace(change, **bad)  # type: ignore[arg-type]
        with session_factory() as session, pytest.raises(InvalidStrategy) as refused:
            collections.update_strategy(session, actor_id=manager, stage="m1", change=wrong)
        assert refused.value.details["field"] == field
    with session_factory() as session, pytest.raises(UnknownStage):
        collections.update_strategy(session, actor_id=manager, stage="current", change=change)


@pytest.mark.postgres_only
@pytest.mark.parametrize("assignment", ["round_robin", "by_load"])
def test_two_workers_on_one_date_share_the_cases_out_evenly(
    session_factory: sessionmaker[Session], bank: SimulatedBank, assignment: str
) -> None:
    """Two workers close the same date one loan per chunk at once: the strategy rows' locks
    make them give cases out one at a time — three collectors get two cases each."""
    loans = [overdue.spent_loan(session_factory, bank) for _ in range(6)]
    collectors = collecting.collectors(session_factory, 3)
    collecting.set_strategy(session_factory, "m1", assignment=assignment)
    lending.go_to(overdue_by(1))
    with ThreadPoolExecutor(2) as pool:
        reports = list(
            pool.map(
                lambda name: eod.close_date(session_factory, overdue_by(1), bank, worker=name, chunk_size=1),
                ["first", "second"],
            )
        )
    assert sum(r.items.get("collections", 0) for r in reports) == 6 * (1 + 2 + 1)  # open, 2 reminders, assign
    cases = [collecting.case_of(session_factory, loan.loan_id) for loan in loans]
    counts = Counter(c.collector_id for c in cases if c is not None)
    assert sorted(counts) == sorted(collectors) and sorted(counts.values()) == [2, 2, 2]
