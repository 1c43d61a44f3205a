"""Statements: portfolio (待收/已收), repayment calendar (回款计划), realised return (XIRR), CSV."""

from datetime import date
from decimal import Decimal

import pyxirr
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from p2plend.servicing import statements
from tests import lending


def _loan_with_three_holders(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> tuple[int, int, list[int]]:
    borrower = lending.make_borrower(session_factory, bank, balance=50_000)
    investors = [lending.make_investor(session_factory, bank, balance=600_000) for _ in range(3)]
    loan_id = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(borrower, amount=1_000_000, months=6, method=Method.EQUAL_INSTALLMENT),
        list(zip(investors, [500_000, 300_000, 200_000], strict=True)),
    )
    return borrower, loan_id, investors


def _repay_next(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int, loan_id: int
) -> None:
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id).installments[0].due_date
    lending.go_to(due)
    with session_factory.begin() as session:
        servicing.repay(session, loan_id, payer_id=borrower, custodian=bank)


def test_calendar_projects_the_borrowers_schedule_onto_each_holding_exactly(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower, loan_id, investors = _loan_with_three_holders(session_factory, bank)
    _repay_next(session_factory, bank, borrower, loan_id)
    with session_factory() as session:
        rows = [r for r in servicing.schedule(session, loan_id) if r.status == "due"]
        holdings = marketplace.holdings_of_loan(session, loan_id)
        lines = [line for i in investors for line in statements.repayment_calendar(session, i)]
        for holding in holdings:
            mine = [line for line in lines if line.holding_id == holding.id]
            # Projected principal is exactly what the holding still has out (R26 going forward).
            assert sum(line.principal for line in mine) == holding.principal_outstanding
        for row in rows:
            on_day = [line for line in lines if line.installment == row.number]
            assert sum(line.principal for line in on_day) == row.principal
            assert sum(line.interest for line in on_day) == row.interest
            assert all(line.fee == int(Decimal(line.interest) / 10 + Decimal("0.5")) for line in on_day)
        dates = [line.due_date for line in statements.repayment_calendar(session, investors[0])]
        assert dates == sorted(dates)


def test_portfolio_adds_up_and_expected_plus_received_is_the_whole_interest(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower, loan_id, investors = _loan_with_three_holders(session_factory, bank)
    _repay_next(session_factory, bank, borrower, loan_id)
    _repay_next(session_factory, bank, borrower, loan_id)
    with session_factory() as session:
        total_interest = sum(r.interest for r in servicing.schedule(session, loan_id))
        books = [statements.portfolio(session, i) for i in investors]
        assert sum(p.interest_expected + p.interest_received for p in books) == total_interest
        loan = marketplace.get_loan(session, loan_id)
        assert sum(p.principal_outstanding for p in books) == loan.principal_outstanding
        first = books[0].holdings[0]
        assert first.principal_acquired == 500_000
        assert first.principal_received + first.principal_outstanding == 500_000
        assert first.fees_paid == sum(
            d.investor_fee for d in servicing.distributions_of_holder(session, investors[0])
        )


def test_realised_return_matches_an_independent_xirr(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower, loan_id, investors = _loan_with_three_holders(session_factory, bank)
    for _ in range(6):
        _repay_next(session_factory, bank, borrower, loan_id)
    with session_factory() as session:
        book = statements.portfolio(session, investors[1])
        holding = book.holdings[0]
        flows = [(holding.acquired_on, -holding.principal_acquired)] + [
            (d.business_date, d.net)
            for d in reversed(servicing.distributions_of_holder(session, investors[1]))
        ]
        oracle = pyxirr.xirr([d for d, _ in flows], [a for _, a in flows])
        assert holding.xirr is not None and oracle is not None
        assert abs(holding.xirr - Decimal(str(oracle))) <= Decimal("0.0001")
        # 10 % a year less the 10 % management fee on interest: about 9 % realised.
        assert Decimal("0.085") < holding.xirr < Decimal("0.10")
        assert book.xirr == holding.xirr  # one holding: the overall return is its return


def test_xirr_needs_money_both_ways() -> None:
    assert statements.xirr([]) is None
    assert statements.xirr([(date(2026, 1, 1), -100)]) is None
    assert statements.xirr([(date(2026, 1, 1), -100), (date(2026, 1, 1), 100)]) is None
    assert statements.xirr([(date(2026, 1, 1), -10_000), (date(2027, 1, 1), 11_000)]) == Decimal("0.1000")


def test_borrower_statement_and_csv(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    borrower, loan_id, _ = _loan_with_three_holders(session_factory, bank)
    _repay_next(session_factory, bank, borrower, loan_id)
    with session_factory() as session:
        statement = statements.borrower_statement(session, loan_id)
        assert statement.next_due is not None and statement.next_due.number == 2
        assert statement.paid + statement.unpaid == sum(
            r.principal + r.interest + r.fee for r in statement.installments
        )
    text = statements.csv_text(["期数", "金额"], [[1, "100.00"], [2, "李,四"]])
    assert text.startswith("\ufeff期数,金额\r\n1,100.00\r\n")
    assert '"李,四"' in text
