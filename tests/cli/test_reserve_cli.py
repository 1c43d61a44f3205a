"""``p2plend reserve status|open|set`` and ``p2plend compliance report``, on the test's
database with real exit codes: off and clear by default; switched on, flagged (exit 1)."""

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.guarantee import reserve
from tests import builders
from tests.console import Run
from tests.custody.conftest import bank

__all__ = ["bank"]


@pytest.fixture
def console_columns() -> str:
    return "200"  # the lines are checked whole


def test_off_and_clear_by_default(p2plend: Run) -> None:
    code, out = p2plend("reserve", "status")
    assert code == 0 and out.splitlines()[:2] == ["risk reserve: off", "account: not opened"]
    code, out = p2plend("compliance", "report")
    assert code == 0 and out.splitlines()[-1] == "0 of 4 checks flagged"
    assert "clear    risk_reserve: The platform risk reserve is off" in out


def test_open_switch_on_and_the_report_flags_it(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    code, out = p2plend("reserve", "set", "--on")
    assert code == 2 and "risk_reserve_not_open" in out
    code, out = p2plend("reserve", "open", "--phone", "123")
    assert code == 2 and "invalid_phone" in out
    phone = builders.next_phone()
    code, out = p2plend("reserve", "open", "--phone", phone)
    assert code == 0 and "the reserve is off" in out, out
    code, out = p2plend("reserve", "open", "--phone", builders.next_phone())
    assert code == 1 and "risk_reserve_already_open" in out
    code, out = p2plend("reserve", "set", "--on", "--contribution-rate", "2")
    assert code == 2 and "--contribution-rate" in out
    code, out = p2plend("reserve", "set", "--on", "--trigger-dpd", "30", "--accelerate-dpd", "10")
    assert code == 2 and "--accelerate-dpd" in out
    with session_factory() as session:
        assert reserve.settings_of(session).enabled is False  # refusals changed nothing
    code, out = p2plend("reserve", "set", "--on", "--coverage", "principal", "--trigger-dpd", "30")
    assert code == 0 and "flags the platform (R37)" in out
    code, out = p2plend("reserve", "status")
    assert code == 0 and "FLAGGED (R37)" in out.splitlines()[0]
    assert "coverage principal, trigger DPD 30, accelerate DPD 90, contribution 1.00% of principal" in out
    code, out = p2plend("compliance", "report")
    assert code == 1 and "FLAGGED  risk_reserve: The platform risk reserve is ON" in out
    with session_factory() as session:
        [configured] = audit.list_records(session, object_type="risk_reserve", object_id=1)
        assert (configured.action, configured.actor_id) == ("risk_reserve.configured", None)
    code, out = p2plend("reserve", "set", "--off")
    assert code == 0 and out.strip() == "risk reserve off"
    code, out = p2plend("compliance", "report")
    assert code == 0
