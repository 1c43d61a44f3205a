"""``p2plend portfolio concentration --user ID``: an investor's concentration for staff support,
on the test's database, with real exit codes."""

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from tests import lending
from tests.console import Run
from tests.custody.conftest import bank
from tests.portfolio.test_concentration import _book

__all__ = ["bank"]


@pytest.fixture
def console_columns() -> str:
    return "200"  # the lines are checked whole


def test_concentration_of_an_investor(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor, (shop, stock, kit) = _book(session_factory, bank)
    code, out = p2plend("portfolio", "concentration", "--user", str(investor))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"user:{investor}  outstanding ¥5,000.00  warning above 20.00%"
    assert lines[1] == f"largest loan: loan:{shop} 门店装修 (B) 陈** ¥3,000.00 60.00%"
    assert lines[2:5] == [
        "by grade:",
        "  A  1 loan(s)  ¥1,000.00  20.00%",
        "  B  2 loan(s)  ¥4,000.00  80.00%",
    ]
    assert lines[5] == "by borrower:"
    assert lines[6].endswith(f"陈**  loans {shop},{stock}  ¥4,000.00  80.00%  ABOVE")
    assert lines[7].endswith(f"王**  loans {kit}  ¥1,000.00  20.00%")
    assert lines[8] == "1 borrower(s) above 20.00%"


def test_nothing_held_and_unknown_user(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=0)
    code, out = p2plend("portfolio", "concentration", "--user", str(investor))
    assert (code, out.splitlines()[-1]) == (0, "nothing outstanding")
    code, out = p2plend("portfolio", "concentration", "--user", "999999")
    assert code == 1
    assert "not_found" in out
    code, _ = p2plend("portfolio", "concentration", "--user", "0")
    assert code == 2
