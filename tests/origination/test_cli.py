"""``p2plend products list``, ``p2plend lpr list|add``, ``p2plend applications list``."""

from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.origination import service as origination
from tests import builders
from tests.console import Run


def test_products_list_shows_every_product_on_one_line(p2plend: Run) -> None:
    code, out = p2plend("products", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("code  kind  version")
    [credit] = [line for line in lines if line.startswith("credit ")]
    assert "v1" in credit and "¥1,000.00-¥200,000.00" in credit and "1-36m|30-365d" in credit
    assert "6.00%-11.00%" in credit and "信用贷 / Credit loan" in credit
    assert any(line.startswith("p2b  institution") for line in lines)


def test_lpr_list_and_add(p2plend: Run, session_factory: sessionmaker[Session]) -> None:
    code, out = p2plend("lpr", "list")
    assert code == 0
    assert out.splitlines()[0] == "2025-05-20  3.00%  cap 12.00%"
    assert len(out.splitlines()) == 13
    code, out = p2plend("lpr", "add", "--date", "2026-12-21", "--rate", "0.0295")
    assert (code, out.strip()) == (0, "LPR 2.95% from 2026-12-21 (cap 11.80%)")
    code, out = p2plend("lpr", "add", "--date", "2026-12-21", "--rate", "0.03")
    assert code == 1 and "lpr_date_taken" in out
    code, out = p2plend("lpr", "add", "--date", "2026-12-22", "--rate", "three")
    assert code == 2 and "--rate" in out
    code, out = p2plend("lpr", "add", "--date", "2026-12-22", "--rate", "0.5")
    assert code == 1 and "invalid_lpr" in out
    with session_factory() as session:
        assert len(origination.lpr_history(session)) == 14


def test_applications_list_by_status(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    code, out = p2plend("applications", "list")
    assert code == 0 and "no applications" in out
    with session_factory.begin() as session:
        borrower = builders.make_borrower(session, bank)
        first = builders.make_application(session, borrower.id)
        builders.make_application(session, borrower.id, grade="HR", purpose="car")
    code, out = p2plend("applications", "list", "--status", "under_review")
    assert code == 0, out
    [line] = out.splitlines()[1:]
    assert line.startswith(
        f"{first.id}  under_review  online  user:{borrower.id}  ¥20,000.00  12m  home_improvement  B  640"
    )
    code, out = p2plend("applications", "list")
    assert [line.split("  ")[1] for line in out.splitlines()[1:]] == ["rejected", "under_review"]
    code, out = p2plend("applications", "list", "--status", "lost")
    assert code == 2 and "--status" in out
