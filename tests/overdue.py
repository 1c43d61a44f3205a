"""Builders for overdue loans: a disbursed loan whose borrower spent everything, and the
end-of-day batch closing dates on the business clock."""

from datetime import date, timedelta
from typing import NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import records
from p2plend.identity.permissions import Role
from p2plend.jobs import eod
from tests import builders, lending
from tests.conftest import TEST_DATE

AMOUNT = 1_200_000  # 12,000.00 over 12 months at 4 %: penalty 6 % a year (under the cap)
FIRST_DUE = date(2026, 12, 28)  # disbursed on the tests' business date 2026-11-28


class OverdueLoan(NamedTuple):
    loan_id: int
    borrower: int
    investors: list[int]


def borrower_from(session_factory: sessionmaker[Session], bank: SimulatedBank, region: str) -> int:
    """A verified borrower whose resident ID was issued in ``region`` (a real code)."""
    with session_factory.begin() as session:
        user = builders.make_verified_user(
            session, id_number=builders.valid_id_number(region, birth=builders.adult_birth_date())
        )
        builders.bind_card(session, user.id)
        builders.open_custody_account(session, user.id, bank)
        records.grant_role(session, user.id, Role.BORROWER, granted_by=None)
        return user.id


def spent_loan(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    *,
    region: str = "110105",
    title: str = "Shop fit-out",
    keep: int = 0,
    **terms: object,
) -> OverdueLoan:
    """A 12-month loan held half and half by two investors, its borrower's money all spent
    but ``keep`` fen (paid back in): the auto-debit finds nothing, or only that, and the first
    installment goes overdue after 2026-12-28. ``region``: where the borrower's ID was issued."""
    borrower = borrower_from(session_factory, bank, region)
    investors = lending.make_investors(session_factory, bank, [AMOUNT // 2] * 2)
    listing = lending.listing_terms(borrower, amount=AMOUNT, annual_rate="0.04", title=title, **terms)
    loan_id = lending.funded_loan(session_factory, bank, listing, [(i, AMOUNT // 2) for i in investors])
    lending.spend_all(session_factory, bank, borrower)
    if keep:
        lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), keep)
    return OverdueLoan(loan_id, borrower, investors)


def close(session_factory: sessionmaker[Session], bank: SimulatedBank, day: date) -> list[eod.DayReport]:
    """Move the business clock to ``day`` and close every date not yet closed through it."""
    lending.go_to(day)
    return eod.close_through(session_factory, day, bank)


def close_each_day(session_factory: sessionmaker[Session], bank: SimulatedBank, last: date) -> None:
    """Close each date not yet closed, through ``last``, one at a time on its own business
    date — as the nightly batch would (the first ever is the tests' business date)."""
    with session_factory() as session:
        last_closed = eod.last_closed(session)
    day = last_closed + timedelta(days=1) if last_closed else TEST_DATE
    while day <= last:
        close(session_factory, bank, day)
        day += timedelta(days=1)


def overdue_by(days: int) -> date:
    """The business date on which the first installment is ``days`` past due."""
    return FIRST_DUE + timedelta(days=days)
