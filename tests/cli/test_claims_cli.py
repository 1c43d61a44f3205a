"""``p2plend claims list|decide``: partner claims (P2B) reviewed from the console, with real
exit codes; every line is labelled P2B."""

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.p2b import service as p2b
from tests import builders
from tests.console import Run
from tests.custody.conftest import bank
from tests.p2b import claims

__all__ = ["bank"]


@pytest.fixture
def console_columns() -> str:
    return "240"  # the lines are checked whole


def officer_phone(session_factory: sessionmaker[Session], role: Role = Role.RISK_OFFICER) -> str:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_staff(session, phone=phone, roles=(role,))
    return phone


def test_list_and_decide(p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    institution = claims.make_institution(session_factory, bank)
    first = claims.submitted(session_factory, institution)
    second = claims.submitted(session_factory, institution, purpose="working_capital")
    code, out = p2plend("claims", "list", "--status", "submitted")
    assert code == 0 and out.splitlines()[-1] == "2 partner claim(s)"
    assert all("  P2B  submitted  " in line for line in out.splitlines()[:2])
    assert p2plend("claims", "list", "--status", "nope")[0] == 2
    officer = officer_phone(session_factory)
    code, out = p2plend("claims", "decide", str(first), "--officer", officer, "--approve", "--grade", "ZZ")
    assert code == 2 and "invalid_partner_claim" in out
    collector = officer_phone(session_factory, Role.COLLECTOR)
    code, out = p2plend("claims", "decide", str(first), "--officer", collector, "--approve", "--grade", "B")
    assert code == 1 and "permission_denied" in out
    code, out = p2plend("claims", "decide", str(first), "--officer", officer, "--approve", "--grade", "B")
    assert code == 0 and "approved, loan:" in out and "offered on the transfer market" in out
    code, out = p2plend(
        "claims", "decide", str(second), "--officer", officer, "--reject", "--reason", "资料不全"
    )
    assert code == 0 and out.strip() == f"claim:{second} rejected"
    code, out = p2plend("claims", "decide", str(first), "--officer", officer, "--reject", "--reason", "x")
    assert code == 1 and "partner_claim_already_decided" in out
    code, out = p2plend("claims", "list")
    assert "loan:" in out and "sold ¥0.00 unsold ¥12,000.00" in out and "no repurchase" in out
    with session_factory() as session:
        assert p2b.get_claim(session, first).status == "approved"
        actions = {r.action for r in audit.list_records(session, limit=100)}
        assert {"p2b.claim_approved", "p2b.claim_rejected"} <= actions
