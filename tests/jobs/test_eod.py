"""The end-of-day batch: auto-debit, grace, penalties, idempotency, catch-up, reminders."""

from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.port import Custodian
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.jobs import eod
from p2plend.jobs.models import EodChunk, EodRun
from p2plend.marketplace import service as marketplace
from p2plend.notifications import service as notifications
from p2plend.schema import Base
from p2plend.servicing import end_of_day
from p2plend.servicing import service as servicing
from p2plend.servicing.models import PenaltyAccrual, Repayment
from tests import lending, overdue
from tests.conftest import TEST_DATE
from tests.overdue import AMOUNT, FIRST_DUE


def _counts(session: Session) -> dict[str, int]:
    """Rows in every table: what a second run of a date must leave unchanged."""
    return {
        table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
    }


def test_auto_debit_takes_the_installment_on_its_due_date(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, _, _ = overdue.spent_loan(session_factory, bank, keep=200_000)
    overdue.close_each_day(session_factory, bank, FIRST_DUE - timedelta(days=1))
    with session_factory() as session:
        assert servicing.repayments_of_loan(session, loan_id) == []
    [report] = overdue.close(session_factory, bank, FIRST_DUE)
    assert report.items["auto_debit"] == 1
    with session_factory() as session:
        [repayment] = servicing.repayments_of_loan(session, loan_id)
        first = servicing.schedule(session, loan_id)[0]
        assert (repayment.kind, repayment.business_date, repayment.amount) == (
            "auto_debit",
            FIRST_DUE,
            first.owed + repayment.amount,
        )
        assert (first.status, first.paid_on) == ("paid", FIRST_DUE)
        assert marketplace.get_loan(session, loan_id).days_past_due == 0
    lending.assert_loan_sound(session_factory, loan_id)


def test_a_short_balance_is_debited_in_part_and_the_rest_goes_overdue(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, borrower, _ = overdue.spent_loan(session_factory, bank, keep=50_000)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=1))
    assert lending.balances(session_factory, borrower).available == 0
    with session_factory() as session:
        [repayment] = servicing.repayments_of_loan(session, loan_id)
        assert repayment.amount == 50_000  # all there was
        loan = marketplace.get_loan(session, loan_id)
        assert (loan.days_past_due, loan.stage, loan.classification) == (1, "m1", "special_mention")
        titles = [m.template for m in notifications.inbox(session, borrower, limit=50)]
        assert titles.count("installment_due_soon") == 1
        assert titles.count("installment_due_today") == 1
        assert titles.count("installment_overdue") == 1


def test_paid_in_full_within_grace_owes_no_penalty_r30(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, borrower, _ = overdue.spent_loan(session_factory, bank)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))
    lending.go_to(FIRST_DUE + timedelta(days=3))
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id)
        assert (due.penalty, due.late_fee) == (0, 0)
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), due.total)
    repayment = lending.repay(session_factory, bank, loan_id, borrower)
    assert repayment.penalty == 0
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=10))
    with session_factory() as session:
        assert end_of_day.penalty_accruals(session, loan_id) == []
        loan = marketplace.get_loan(session, loan_id)
        # Back to current; the overdue days stay in the history (status and disclosure count them).
        assert (loan.days_past_due, loan.stage) == (0, "current")
        assert [h.days_past_due for h in end_of_day.risk_history(session, loan_id)] == [1, 2, 0]


def test_paying_on_dpd_ten_pays_ten_days_and_the_evening_batch_adds_none(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """10 days × rd(principal × 6 % / 365) with principal 1st installment 97,750 fen (4 %, 12 months)."""
    loan_id, borrower, _ = overdue.spent_loan(session_factory, bank)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=9))
    with session_factory() as session:
        first = servicing.schedule(session, loan_id)[0]
        daily = round(first.principal * 6 / 100 / 365)
        assert first.penalty == 9 * daily  # posted through DPD 9
    lending.go_to(FIRST_DUE + timedelta(days=10))
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id)
        assert due.penalty == 10 * daily
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), due.total)
    repayment = lending.repay(session_factory, bank, loan_id, borrower)
    assert repayment.penalty == 10 * daily
    with session_factory() as session:
        holdings = marketplace.holdings_of_loan(session, loan_id)
        assert sum(h.penalty_received for h in holdings) == 10 * daily  # all of it to the holders
    before = _snapshot(session_factory)
    overdue.close(session_factory, bank, FIRST_DUE + timedelta(days=10))
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PenaltyAccrual)) == before["penalty_accruals"]
    lending.assert_loan_sound(session_factory, loan_id)


def _snapshot(session_factory: sessionmaker[Session]) -> dict[str, int]:
    with session_factory() as session:
        return _counts(session)


def test_closing_a_date_twice_changes_nothing(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    overdue.spent_loan(session_factory, bank, keep=50_000)
    day = FIRST_DUE + timedelta(days=5)
    overdue.close_each_day(session_factory, bank, day)
    before = _snapshot(session_factory)
    assert eod.close_date(session_factory, day, bank).already_closed
    assert eod.close_through(session_factory, day, bank) == []
    assert _snapshot(session_factory) == before


def test_missed_dates_are_caught_up_in_order(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, borrower, investors = overdue.spent_loan(session_factory, bank)
    overdue.close(session_factory, bank, FIRST_DUE)
    with session_factory() as session:
        assert not end_of_day.ever_overdue(session, borrower)
    reports = overdue.close(session_factory, bank, FIRST_DUE + timedelta(days=6))
    assert [r.business_date for r in reports] == [FIRST_DUE + timedelta(days=n) for n in range(1, 7)]
    with session_factory() as session:
        assert [h.days_past_due for h in end_of_day.risk_history(session, loan_id)] == [1, 2, 3, 4, 5, 6]
        assert [(a.days_past_due, a.days) for a in end_of_day.penalty_accruals(session, loan_id)] == [
            (4, 4),
            (5, 1),
            (6, 1),
        ]
        assert [r.status for r in session.scalars(select(EodRun).order_by(EodRun.business_date))] == [
            "closed"
        ] * 7
        # The scorecard's platform history now counts it (origination's prior_overdue).
        assert end_of_day.ever_overdue(session, borrower)
        assert not end_of_day.ever_overdue(session, investors[0])


def test_a_future_date_is_refused(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    with pytest.raises(eod.DateNotClosable):
        eod.close_through(session_factory, TEST_DATE + timedelta(days=1), bank)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(EodRun)) == 0


def test_small_chunks_give_the_same_result_as_one(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loans = [overdue.spent_loan(session_factory, bank, keep=keep)[0] for keep in (0, 30_000, 200_000)]
    lending.go_to(FIRST_DUE)
    eod.close_date(session_factory, FIRST_DUE, bank, chunk_size=1)
    with session_factory() as session:
        chunks = session.scalars(select(EodChunk).where(EodChunk.step == "auto_debit")).all()
        assert [c.loan_ids for c in chunks] == [[loan] for loan in loans]
        assert all(c.status == "done" for c in chunks)
        assert session.scalar(select(func.count()).select_from(Repayment)) == 2


def test_a_constraint_failing_in_a_steps_first_chunk_stops_the_batch(
    session_factory: sessionmaker[Session], bank: SimulatedBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IntegrityError from the first chunk's act is not "another worker planned the step
    first": the date stays open, nothing of the step is kept, and a rerun collects."""
    loan_id, _, _ = overdue.spent_loan(session_factory, bank, keep=200_000)
    lending.go_to(FIRST_DUE)

    def violates(session: Session, loan_ids: list[int], on: date, custodian: Custodian) -> int:
        raise IntegrityError("INSERT …", None, Exception("a constraint of the act"))

    failing = tuple(replace(s, per_chunk=violates) if s.name == "auto_debit" else s for s in eod.STEPS)
    monkeypatch.setattr(eod, "STEPS", failing)
    with pytest.raises(IntegrityError):
        eod.close_date(session_factory, FIRST_DUE, bank)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(EodChunk)) == 0
        assert session.get(EodRun, FIRST_DUE).status == "running"  # type: ignore[union-attr]
    monkeypatch.undo()
    [report] = overdue.close(session_factory, bank, FIRST_DUE)
    assert report.items["auto_debit"] == 1
    with session_factory() as session:
        assert [r.business_date for r in servicing.repayments_of_loan(session, loan_id)] == [FIRST_DUE]


def test_the_day_figures_are_snapshot(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    overdue.spent_loan(session_factory, bank)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=1))
    with session_factory() as session:
        [day] = end_of_day.figures_between(
            session, FIRST_DUE + timedelta(days=1), FIRST_DUE + timedelta(days=1)
        )
        assert (day.loans_outstanding, day.principal_outstanding, day.overdue_loans) == (1, AMOUNT, 1)
        assert day.lenders == 2 and day.borrowers == 1
        [disbursed] = end_of_day.figures_between(session, TEST_DATE, TEST_DATE)
        assert disbursed.disbursed == AMOUNT


def test_a_loan_repaid_in_full_tells_its_holders_and_is_then_visited_no_more(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """The evening of an early repayment in full the holders get their 回款通知 — the loan has
    left repayment, but it paid them that day — and from the next date no step visits it."""
    loan = overdue.spent_loan(session_factory, bank)
    day = FIRST_DUE - timedelta(days=10)
    overdue.close_each_day(session_factory, bank, day - timedelta(days=1))
    lending.go_to(day)
    with session_factory() as session:
        quote = servicing.early_repayment_quote(session, loan.loan_id)
    card = lending.card_of(session_factory, loan.borrower)
    lending.deposit(session_factory, bank, loan.borrower, card, quote.total)
    lending.repay_early(session_factory, bank, loan.loan_id, loan.borrower)
    [report] = overdue.close(session_factory, bank, day)
    assert report.items["remind"] == len(loan.investors)
    with session_factory() as session:
        for investor in loan.investors:
            titles = [m.template for m in notifications.inbox(session, investor, limit=50)]
            assert titles.count("repayment_received") == 1
    overdue.close(session_factory, bank, day + timedelta(days=1))
    with session_factory() as session:
        visited = session.scalars(
            select(EodChunk.loan_ids).where(EodChunk.business_date == day + timedelta(days=1))
        ).all()
        assert [ids for ids in visited if ids] == []
