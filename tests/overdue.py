"""Builders for overdue loans: a disbursed loan whose borrower spent everything, and the
end-of-day batch closing dates on the business clock (as tests/jobs/test_eod.py does)."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.jobs import eod
from tests import lending

AMOUNT = 1_200_000  # 12,000.00 over 12 months at 4 %: penalty 6 % a year (under the cap)
FIRST_DUE = date(2026, 12, 28)  # disbursed on the tests' business date 2026-11-28


@dataclass(frozen=True)
class SpentLoan:
    loan_id: int
    borrower: int
    investors: list[int]


def spent_loan(
    session_factory: sessionmaker[Session], bank: SimulatedBank, *, title: str = "Shop fit-out"
) -> SpentLoan:
    """A 12-month loan held half and half by two investors, its borrower's money all spent:
    the auto-debit finds nothing and the first installment goes overdue after 2026-12-28."""
    borrower = lending.make_borrower(session_factory, bank)
    investors = lending.make_investors(session_factory, bank, [AMOUNT // 2] * 2)
    terms = lending.listing_terms(borrower, amount=AMOUNT, annual_rate="0.04", title=title)
    loan_id = lending.funded_loan(session_factory, bank, terms, [(i, AMOUNT // 2) for i in investors])
    lending.spend_all(session_factory, bank, borrower)
    return SpentLoan(loan_id, borrower, investors)


def close(session_factory: sessionmaker[Session], bank: SimulatedBank, day: date) -> list[eod.DayReport]:
    """Move the business clock to ``day`` and close every date not yet closed through it."""
    lending.go_to(day)
    return eod.close_through(session_factory, day, bank)


def overdue_by(days: int) -> date:
    """The business date on which the first installment is ``days`` past due."""
    return FIRST_DUE + timedelta(days=days)
