"""The lending commands: ``p2plend listings expire`` (the daily 流标 run), ``p2plend loans
list|open|withdraw|disburse`` — on the test's database, with real exit codes."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.marketplace import service as marketplace
from tests import builders, lending
from tests.console import Run
from tests.custody.conftest import bank

__all__ = ["bank"]


@pytest.fixture
def console_columns() -> str:
    return "200"  # this module's reports are checked whole, on a wide terminal


def _staff(session_factory: sessionmaker[Session], *roles: Role, with_totp: bool = True) -> str:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_staff(session, phone=phone, roles=roles or (Role.RISK_OFFICER,), with_totp=with_totp)
    return phone


def _listing(
    session_factory: sessionmaker[Session], bank: SimulatedBank, *, funded: bool
) -> tuple[int, int, list[int]]:
    borrower = lending.make_borrower(session_factory, bank)
    investors = [lending.make_investor(session_factory, bank, balance=500_000) for _ in range(2)]
    loan_id = lending.open_listing(
        session_factory, lending.listing_terms(borrower, amount=1_000_000, months=3)
    )
    lending.bid(session_factory, investors[0], loan_id, 500_000 if funded else 300_000)
    if funded:
        lending.bid(session_factory, investors[1], loan_id, 500_000)
    return borrower, loan_id, investors


def test_listings_expire_fails_each_expired_listing_and_returns_the_bids(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R8: the daily run; one line per failed listing, exit 0, idempotent."""
    _, loan_id, investors = _listing(session_factory, bank, funded=False)
    code, out = p2plend("listings", "expire")
    assert (code, out.strip()) == (0, "0 listing(s) failed")
    lending.go_to(clock.today() + timedelta(days=8))
    code, out = p2plend("listings", "expire")
    assert code == 0, out
    assert out.splitlines() == [
        f"listing {loan_id} failed (流标): funded ¥3,000.00 of ¥10,000.00, every bid returned; Shop fit-out",
        "1 listing(s) failed",
    ]
    assert lending.balances(session_factory, investors[0]).available == 500_000
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "failed"
    code, out = p2plend("listings", "expire")
    assert (code, out.strip()) == (0, "0 listing(s) failed")


def test_loans_list_by_status(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    _, loan_id, _ = _listing(session_factory, bank, funded=False)
    code, out = p2plend("loans", "list", "--status", "open")
    assert code == 0, out
    header, line = out.splitlines()
    assert header.startswith("id  status  amount")
    assert line.startswith(f"{loan_id}  open  ¥10,000.00  ¥3,000.00  ¥0.00  10.00%  3m  B/R3  user:")
    assert line.endswith("Shop fit-out") and "2026-12-05 10:00" in line  # the deadline, Beijing time
    code, out = p2plend("loans", "list", "--status", "funded")
    assert (code, len(out.splitlines())) == (0, 1)
    code, out = p2plend("loans", "list", "--status", "lost")
    assert code == 2 and "unknown status" in out


def test_loans_disburse_by_an_officer(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower, loan_id, _ = _listing(session_factory, bank, funded=True)
    officer = _staff(session_factory)
    code, out = p2plend("loans", "disburse", str(loan_id), "--officer", officer)
    assert code == 0, out
    assert out.strip() == (
        f"loan {loan_id} disbursed on 2026-11-28: ¥10,000.00 to user:{borrower}, service fee ¥200.00, "
        "2 holding(s), 3 installment(s) from 2026-12-28"
    )
    lending.assert_loan_sound(session_factory, loan_id)  # the bank moved the same money as the ledger
    assert lending.balances(session_factory, borrower).available == 980_000
    code, out = p2plend("loans", "disburse", str(loan_id), "--officer", officer)
    assert code == 1 and "loan_state_conflict" in out
    assert lending.balances(session_factory, borrower).available == 980_000


def test_loans_disburse_refuses_who_may_not(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower, loan_id, _ = _listing(session_factory, bank, funded=True)
    with session_factory() as session:
        customer = identity.phone_of(session, borrower)
    for phone, code_word in [
        (_staff(session_factory, Role.FINANCE), "permission_denied"),
        (_staff(session_factory, with_totp=False), "permission_denied"),
        (customer, "permission_denied"),
        (builders.next_phone(), "user_not_found"),
    ]:
        code, out = p2plend("loans", "disburse", str(loan_id), "--officer", phone)
        assert code == 1 and code_word in out, out
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "funded"
    code, out = p2plend("loans", "disburse", "999999", "--officer", _staff(session_factory))
    assert code == 1 and "loan_not_found" in out


def test_loans_open_and_withdraw(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.create_listing(session_factory, lending.listing_terms(borrower))
    officer = _staff(session_factory)
    code, out = p2plend("loans", "open", str(loan_id), "--officer", officer)
    assert code == 0 and out.strip() == f"loan {loan_id} open for bids until 2026-12-05 10:00 (Beijing time)"
    investor = lending.make_investor(session_factory, bank, balance=100_000)
    lending.bid(session_factory, investor, loan_id, 100_000)
    code, out = p2plend("loans", "withdraw", str(loan_id), "--officer", officer, "--reason", "   ")
    assert code == 1 and "invalid_input" in out
    code, out = p2plend("loans", "withdraw", str(loan_id), "--officer", officer, "--reason", "借款人撤回")
    assert code == 0 and out.strip() == f"loan {loan_id} withdrawn: ¥1,000.00 of bids returned"
    assert lending.balances(session_factory, investor).available == 100_000
    code, out = p2plend("loans", "open", str(loan_id), "--officer", officer)
    assert code == 1 and "loan_state_conflict" in out
