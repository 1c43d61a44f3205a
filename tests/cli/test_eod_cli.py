"""``p2plend eod run|status``: the end-of-day batch (日终批处理) from the console."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.jobs import eod
from p2plend.jobs.models import EodChunk, EodRun
from p2plend.marketplace import service as marketplace
from tests import lending
from tests.conftest import TEST_DATE
from tests.console import Run
from tests.custody.conftest import bank
from tests.overdue import close, overdue_by, spent_loan

__all__ = ["bank"]


def _rows(session_factory: sessionmaker[Session]) -> tuple[int, int]:
    with session_factory() as session:
        return (
            int(session.scalar(select(func.count()).select_from(EodRun)) or 0),
            int(session.scalar(select(func.count()).select_from(EodChunk)) or 0),
        )


def _table(out: str) -> dict[str, dict[str, str]]:
    """The printed table's rows by their first cell (the date), each cell by its header."""
    [header] = [line for line in out.splitlines() if line.startswith("┃")]
    names = [cell.strip() for cell in header.split("┃")[1:-1]]
    rows = [line for line in out.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in rows]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cells}


def _steps(row: dict[str, str]) -> dict[str, str]:
    """A summary row's counts by step name (the header is "name 中文")."""
    return {name.split()[0]: value for name, value in row.items() if name.split()[0] in eod.STEP_NAMES}


def test_run_closes_today_and_a_second_run_finds_nothing(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = spent_loan(session_factory, bank)
    lending.go_to(overdue_by(5))
    code, out = p2plend("eod", "run")
    assert code == 0, out
    row = _table(out)["2027-01-02"]
    assert list(_steps(row)) == list(eod.STEP_NAMES)  # a column per step, in the batch's order
    assert "auto_debit 自动代扣" in row and "figures 日终数据" in row
    # No money to debit; one history row for the overdue loan; the day's figures once; one
    # chunk per step (a single loan); no note: this worker closed it.
    assert (_steps(row)["auto_debit"], _steps(row)["classify"], _steps(row)["figures"]) == ("0", "1", "1")
    assert (row["chunks"], row["note"]) == (str(len(eod.STEPS)), "")
    assert "2027-01-02 classify 逾期分级" in out  # the progress bars, per date and step
    assert out.rstrip().endswith("closed 1 date(s) through 2027-01-02")
    with session_factory() as session:
        row = marketplace.get_loan(session, loan.loan_id)
        assert (row.days_past_due, row.stage, row.classification) == (5, "m1", "special_mention")
        assert eod.last_closed(session) == overdue_by(5)
    code, out = p2plend("eod", "run")
    assert (code, out.strip()) == (0, "nothing to close: every date through 2027-01-02 is closed")


def test_catch_up_closes_every_missed_date_oldest_first_in_chunks(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Two loans and --chunk-size 1: each per-loan step is two chunks, the figures one."""
    first = spent_loan(session_factory, bank)
    second = spent_loan(session_factory, bank, title="Second shop")
    close(session_factory, bank, overdue_by(1))
    lending.go_to(overdue_by(4))
    code, out = p2plend("eod", "run", "--chunk-size", "1")
    assert code == 0, out
    table = _table(out)
    assert list(table) == ["2026-12-30", "2026-12-31", "2027-01-01"]  # oldest first
    per_loan = len([step for step in eod.STEPS if step.loans is not None])
    for row in table.values():
        # A chunk per loan and per-loan step, + one per whole-day step (transfers, figures).
        assert row["chunks"] == str(2 * per_loan + len(eod.STEPS) - per_loan)
        assert _steps(row)["classify"] == "2"
    assert out.rstrip().endswith("closed 3 date(s) through 2027-01-01")
    with session_factory() as session:
        for loan in (first, second):
            assert marketplace.get_loan(session, loan.loan_id).days_past_due == 4
        [chunk_sizes] = {
            len(c.loan_ids)
            for c in session.scalars(
                select(EodChunk).where(EodChunk.business_date == overdue_by(3), EodChunk.step == "classify")
            )
        }
        assert chunk_sizes == 1
    code, out = p2plend("eod", "status")
    assert code == 0, out
    assert out.splitlines()[0] == "business date 2027-01-01; last closed 2027-01-01"
    status = _table(out)
    assert list(status) == ["2027-01-01", "2026-12-31", "2026-12-30", "2026-12-29"]  # newest first
    row = status["2027-01-01"]
    assert (row["status"], row["step"]) == ("closed", eod.STEPS[-1].name)
    assert row["classify"] == "2/2 (2)" and row["figures"] == "1/1 (1)"
    assert all(row[step.name].startswith("2/2 ") for step in eod.STEPS if step.per_loan is not None)


def test_run_up_to_a_past_date_leaves_later_dates_open(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    spent_loan(session_factory, bank)
    lending.go_to(overdue_by(10))
    code, out = p2plend("eod", "run", "--date", overdue_by(2).isoformat())
    assert code == 0, out
    assert out.rstrip().endswith("closed 1 date(s) through 2026-12-30")
    with session_factory() as session:
        assert eod.last_closed(session) == overdue_by(2)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--date", "2026-02-30"), "Invalid value for '--date'"),
        (("--date", "tomorrow"), "Invalid value for '--date'"),
        (("--date", str(TEST_DATE + timedelta(days=1))), "eod_date_not_closable"),
        (("--chunk-size", "0"), "Invalid value for '--chunk-size'"),
        (("--chunk-size", "many"), "Invalid value for '--chunk-size'"),
    ],
)
def test_bad_input_exits_2_and_closes_nothing(
    p2plend: Run, session_factory: sessionmaker[Session], args: tuple[str, ...], says: str
) -> None:
    code, out = p2plend("eod", "run", *args)
    assert code == 2 and says in out, out
    assert _rows(session_factory) == (0, 0)


def test_a_future_date_says_which_day_it_is(p2plend: Run) -> None:
    code, out = p2plend("eod", "run", "--date", "2027-01-01")
    assert code == 2
    assert "2027-01-01 has not come yet (the business date is 2026-11-28)" in " ".join(out.split())


def test_status_before_any_run(p2plend: Run) -> None:
    code, out = p2plend("eod", "status")
    assert code == 0, out
    assert out.splitlines() == ["business date 2026-11-28; last closed none", "no end-of-day run yet"]
    code, out = p2plend("eod", "status", "--limit", "0")
    assert code == 2 and "--limit" in out
