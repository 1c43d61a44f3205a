"""``p2plend collections cases|assign|kpi|analysis`` and ``p2plend writeoff
propose|approve|reject|list`` on the test's database, with real exit codes: 2 for bad input,
1 for a refusal."""

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.collections import service as collections
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from tests import builders, collecting, overdue
from tests.console import Run
from tests.custody.conftest import bank
from tests.overdue import overdue_by

__all__ = ["bank"]


@pytest.fixture
def console_columns() -> str:
    return "200"  # reports are checked line by line, on a wide terminal


def _staff(session_factory: sessionmaker[Session], *roles: Role, name: str = "王员工") -> tuple[int, str]:
    phone = builders.next_phone()
    return collecting.make_staff(session_factory, *roles, name=name, phone=phone), phone


@pytest.fixture
def loan(session_factory: sessionmaker[Session], bank: SimulatedBank) -> overdue.OverdueLoan:
    """A loan 12 days overdue: its case open, unassigned."""
    found = overdue.spent_loan(session_factory, bank, title="门店装修")
    overdue.close(session_factory, bank, overdue_by(12))
    return found


def test_cases_and_assignment(
    p2plend: Run, session_factory: sessionmaker[Session], loan: overdue.OverdueLoan
) -> None:
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    collector, collector_phone = _staff(session_factory, Role.COLLECTOR, name="催收员甲")
    manager, _ = _staff(session_factory, Role.RISK_OFFICER, name="李经理")
    code, out = p2plend("collections", "cases")
    assert code == 0, out
    header, line, total = out.splitlines()
    assert header.startswith("case  loan  status  stage  dpd")
    # Opened by the first batch, on DPD 12: 1,021.80 + 12 days of 0.16 penalty overdue.
    assert line == (
        f"{case.id}  {loan.loan_id}  open  m1  12  ¥12,000.00  ¥1,023.72  unassigned  "
        f"{overdue_by(12).isoformat()}  0  门店装修"
    )
    assert total == "1 of 1 case(s)"
    assert p2plend("collections", "cases", "--stage", "m2")[1].splitlines()[-1] == "0 of 0 case(s)"
    assert p2plend("collections", "cases", "--collector", "none")[1].splitlines()[-1] == "1 of 1 case(s)"

    code, out = p2plend(
        "collections",
        "assign",
        str(case.id),
        "--collector",
        collector_phone,
        "--manager",
        str(manager),
        "--reason",
        "本地",
    )
    assert (code, out.strip()) == (
        0,
        f"case {case.id} (loan {loan.loan_id}) assigned to user:{collector} 催收员甲",
    )
    code, out = p2plend("collections", "cases", "--collector", str(collector))
    assert code == 0 and f"user:{collector} 催收员甲" in out
    with session_factory() as session:
        [assignment] = collections.detail(session, case.id, reveal_contact=False).assignments
        assert (assignment.assigned_by, assignment.method, assignment.reason) == (manager, "manual", "本地")
    code, out = p2plend("collections", "assign", str(case.id), "--collector", "none")
    assert (code, out.strip()) == (0, f"case {case.id} (loan {loan.loan_id}) is unassigned")


@pytest.mark.parametrize(
    ("args", "exit_code", "says"),
    [
        (("collections", "cases", "--status", "lost"), 2, "--status is open, closed or all"),
        (("collections", "cases", "--stage", "m9"), 2, "--stage is one of m1"),
        (("collections", "cases", "--collector", "13999999999"), 2, "user_not_found"),
        (("collections", "assign", "{case}", "--collector", "{manager}"), 2, "invalid_collector"),
        (
            ("collections", "assign", "{case}", "--collector", "{collector}", "--manager", "{collector}"),
            1,
            "permission_denied",
        ),
        (("collections", "assign", "999999", "--collector", "{collector}"), 1, "collection_case_not_found"),
        (("collections", "assign", "{case}", "--collector", "not-a-phone"), 2, "invalid_phone"),
        (("collections", "kpi", "--from", "2027-02-01", "--to", "2027-01-01"), 2, "invalid_report_period"),
        (("collections", "kpi", "--to", "2099-01-01"), 2, "invalid_report_period"),
        (("collections", "kpi", "--from", "yesterday"), 2, "Invalid value for '--from'"),
        (("collections", "analysis", "--by", "zodiac"), 2, "--by is one of region"),
    ],
)
def test_bad_input_and_refusals_exit_non_zero(
    p2plend: Run,
    session_factory: sessionmaker[Session],
    loan: overdue.OverdueLoan,
    args: tuple[str, ...],
    exit_code: int,
    says: str,
) -> None:
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    collector, _ = _staff(session_factory, Role.COLLECTOR)
    manager, _ = _staff(session_factory, Role.RISK_OFFICER)
    filled = [a.format(case=case.id, collector=collector, manager=manager) for a in args]
    code, out = p2plend(*filled)
    assert code == exit_code and says in out, out
    with session_factory() as session:
        assert collections.summary(session, case.id).collector_id is None


def test_kpi_and_analysis_reports(p2plend: Run, loan: overdue.OverdueLoan) -> None:
    code, out = p2plend("collections", "kpi", "--from", "2026-12-01", "--to", overdue_by(12).isoformat())
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"recovery by stage, cases entering it 2026-12-01 to {overdue_by(12).isoformat()}"
    assert lines[1] == (
        "m1  entered 1  overdue ¥1,023.72  repaid ¥0.00  recovered ¥0.00  rate 0.00%  cured 0  rolled 0"
    )
    assert "roll rates, 30 days after month-ends: 2026-12-31" not in out  # 2027-01-30 is not closed
    assert any(line.startswith("current -> m1: ") for line in lines)
    code, out = p2plend("collections", "analysis", "--by", "grade")
    assert code == 0, out
    lines = out.splitlines()
    assert (
        lines[0]
        == f"as of {overdue_by(12).isoformat()}: 1 loan(s) being repaid, 1 overdue (100.00%; amount 100.00%)"
    )
    assert lines[2] == "B  1  1  100.00%  1.00  ¥12,000.00  ¥981.80  12.0  0"
    assert lines[-1] == "  北京市 · credit · B · retail: 1 (100.00%)"


def test_write_off_by_two_staff(
    p2plend: Run, session_factory: sessionmaker[Session], loan: overdue.OverdueLoan
) -> None:
    officer, officer_phone = _staff(session_factory, Role.RISK_OFFICER, Role.FINANCE)
    finance, _ = _staff(session_factory, Role.FINANCE)
    code, out = p2plend(
        "writeoff", "propose", str(loan.loan_id), "--officer", officer_phone, "--reason", "dpd_over_180"
    )
    assert code == 1 and "write_off_not_eligible" in out
    code, out = p2plend(
        "writeoff", "propose", str(loan.loan_id), "--officer", officer_phone, "--reason", "bad_luck"
    )
    assert code == 2 and "invalid_write_off" in out
    code, out = p2plend(
        "writeoff",
        "propose",
        str(loan.loan_id),
        "--officer",
        officer_phone,
        "--reason",
        "proof_of_loss",
        "--proof",
        "死亡证明",
    )
    assert code == 0, out
    first = out.splitlines()[0]
    assert (
        first.startswith("write-off ")
        and f"loan {loan.loan_id}  proposed  proof_of_loss  dpd 12  principal ¥12,000.00" in first
    )
    write_off_id = first.split()[1]
    code, out = p2plend("writeoff", "approve", write_off_id, "--approver", str(officer))
    assert code == 1 and "write_off_four_eyes" in out
    code, out = p2plend("writeoff", "approve", write_off_id, "--approver", "13999999999")
    assert code == 2 and "user_not_found" in out
    code, out = p2plend("writeoff", "approve", write_off_id, "--approver", str(finance), "--note", "同意")
    assert code == 0, out
    assert f"approved by user:{finance}" in out.splitlines()[0]
    assert out.splitlines()[1] == (
        "2 holding(s) marked lost (¥12,000.00); no money moved, later repayments still reach the holders"
    )
    code, out = p2plend("writeoff", "list", "--status", "approved")
    assert code == 0 and out.splitlines()[-1] == "1 write-off(s)" and "recovered since ¥0.00" in out
    code, out = p2plend("writeoff", "reject", write_off_id, "--approver", str(finance), "--note", "晚了")
    assert code == 1 and "write_off_not_pending" in out
    assert p2plend("writeoff", "list", "--status", "lost")[0] == 2
    with session_factory() as session:
        assert collections.written_off_loans(session, [loan.loan_id]) == {loan.loan_id}
