"""``p2plend autobid queue|run`` and the auto-bid in ``p2plend loans open|disburse``, on the test's
database with real exit codes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from tests import builders, lending
from tests.autobid.conftest import enable_rule
from tests.console import Run


@pytest.fixture
def console_columns() -> str:
    return "200"


def _staff(sessions: sessionmaker[Session], *roles: Role) -> str:
    phone = builders.next_phone()
    with sessions.begin() as session:
        builders.make_staff(session, phone=phone, roles=roles or (Role.RISK_OFFICER,))
    return phone


def test_the_queue_lists_who_is_first_in_line(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    first = lending.make_investor(session_factory, bank, balance=3_000_00)
    enable_rule(session_factory, first, reserve=500_00)
    second = lending.make_investor(session_factory, bank, balance=0)
    enable_rule(
        session_factory, second, amount_mode="share", balance_share=Decimal("0.1"), total_cap=9_000_00
    )
    off = lending.make_investor(session_factory, bank, balance=0)
    enable_rule(session_factory, off)
    with session_factory.begin() as session:
        autobid.disable(session, off, actor_id=off)
    code, out = p2plend("autobid", "queue")
    assert code == 0, out
    valid = (clock.today() + timedelta(days=365)).isoformat()
    assert out.splitlines() == [
        "place  investor  per bid  reserve  total cap  available  valid until",
        f"1  user:{first}  ¥1,000.00  ¥500.00  none  ¥3,000.00  {valid}",
        f"2  user:{second}  10.00% of balance  ¥0.00  ¥9,000.00  ¥0.00  {valid}",
        "2 rule(s) in the queue, 0 expired, 1 off",
    ]


def test_run_and_open_and_disburse_use_the_queue(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    officer = _staff(session_factory)
    borrower = lending.make_investor(session_factory, bank, balance=0)
    enable_rule(session_factory, borrower)
    investor = lending.make_investor(session_factory, bank, balance=5_000_00)
    enable_rule(session_factory, investor, fixed_amount=600_00)
    pending = lending.create_listing(session_factory, lending.listing_terms(borrower, amount=2_000_00))
    code, out = p2plend("loans", "open", str(pending), "--officer", officer)
    assert code == 0, out
    assert out.strip().endswith("; auto-bids took ¥400.00")  # 20 % of 2,000.00

    code, out = p2plend("autobid", "run", "--loan", str(pending), "--officer", officer)
    assert (code, out.strip()) == (
        0,
        f"listing {pending}: 0 auto-bid(s) for ¥0.00, 0 skipped; auto-bids now ¥400.00 of at most ¥1,200.00",
    )
    lending.bid(
        session_factory, lending.make_investor(session_factory, bank, balance=1_000_00), pending, 1_000_00
    )
    lending.bid(
        session_factory, lending.make_investor(session_factory, bank, balance=600_00), pending, 600_00
    )
    code, out = p2plend("loans", "disburse", str(pending), "--officer", officer)
    assert code == 0, out
    with session_factory() as session:
        view = autobid.rule_of(session, borrower)
        assert view is not None and (view.status, view.off_reason) == ("off", "borrower_disbursed")

    code, out = p2plend("autobid", "run", "--loan", str(pending), "--officer", officer)
    assert code == 1 and "listing_not_open" in out
    reader = _staff(session_factory, Role.FINANCE)
    code, out = p2plend("autobid", "run", "--loan", str(pending), "--officer", reader)
    assert code == 1 and "permission_denied" in out
