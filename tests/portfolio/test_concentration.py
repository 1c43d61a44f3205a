"""集中度: an investor's outstanding principal by loan, grade and borrower, and the warning
when one borrower's share is above the threshold [D 20 %], compared exactly."""

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.config import get_settings
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.marketplace import service as marketplace
from p2plend.portfolio import service as portfolio
from p2plend.servicing import statements
from tests import lending

Y = 100


def _book(session_factory: sessionmaker[Session], bank: SimulatedBank) -> tuple[int, list[int]]:
    """The investor lends 3,000 (grade B) and 1,000 (grade A) to 陈** and 1,000 (grade B) to 王**."""
    chen = lending.make_borrower(session_factory, bank)
    wang = lending.make_borrower(session_factory, bank)
    investor, other = lending.make_investors(session_factory, bank, [10_000 * Y, 10_000 * Y])
    wang_disclosure = dict(lending.DISCLOSURE, borrower_name_masked="王**")
    loans = [
        lending.funded_loan(
            session_factory,
            bank,
            lending.listing_terms(chen, amount=6_000 * Y, title="门店装修"),
            [(investor, 3_000 * Y), (other, 3_000 * Y)],
        ),
        lending.funded_loan(
            session_factory,
            bank,
            lending.listing_terms(chen, amount=2_000 * Y, grade="A", risk_class="R2", title="进货"),
            [(investor, 1_000 * Y), (other, 1_000 * Y)],
        ),
        lending.funded_loan(
            session_factory,
            bank,
            lending.listing_terms(wang, amount=2_000 * Y, disclosure=wang_disclosure, title="设备"),
            [(investor, 1_000 * Y), (other, 1_000 * Y)],
        ),
    ]
    return investor, loans


def test_exposure_by_loan_grade_and_borrower(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor, (shop, stock, kit) = _book(session_factory, bank)
    with session_factory() as session:
        c = portfolio.concentration(session, investor)
    assert c.total == 5_000 * Y
    assert c.threshold == Decimal("0.20")
    assert c.largest_loan == portfolio.LoanExposure(
        shop, "门店装修", "B", "陈**", 3_000 * Y, Decimal("0.6000")
    )
    assert [(g.grade, g.loans, g.amount, g.share) for g in c.by_grade] == [
        ("A", 1, 1_000 * Y, Decimal("0.2000")),
        ("B", 2, 4_000 * Y, Decimal("0.8000")),
    ]
    assert [
        (b.borrower_name_masked, b.loan_ids, b.amount, b.share, b.above_threshold) for b in c.by_borrower
    ] == [
        ("陈**", (shop, stock), 4_000 * Y, Decimal("0.8000"), True),
        ("王**", (kit,), 1_000 * Y, Decimal("0.2000"), False),  # exactly 20 %: not above
    ]
    assert c.largest_borrower == c.by_borrower[0]
    assert [b.borrower_name_masked for b in c.warnings] == ["陈**"]


def test_the_threshold_is_a_setting(
    session_factory: sessionmaker[Session], bank: SimulatedBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    investor, _ = _book(session_factory, bank)
    monkeypatch.setenv("P2PLEND_PORTFOLIO_BORROWER_SHARE_WARNING", "0.8")
    get_settings.cache_clear()
    with session_factory() as session:
        c = portfolio.concentration(session, investor)
    assert c.threshold == Decimal("0.8")
    assert c.warnings == ()  # 陈** holds exactly 80 %
    monkeypatch.setenv("P2PLEND_PORTFOLIO_BORROWER_SHARE_WARNING", "0.7999")
    get_settings.cache_clear()
    with session_factory() as session:
        assert len(portfolio.concentration(session, investor).warnings) == 1


def test_outstanding_principal_after_a_repayment(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor, (shop, _, _) = _book(session_factory, bank)
    with session_factory() as session:
        borrower = marketplace.get_loan(session, shop).borrower_id
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), 1_000 * Y)
    lending.go_to(lending.next_due_date(session_factory, shop))
    lending.repay(session_factory, bank, shop, borrower)
    with session_factory() as session:
        c = portfolio.concentration(session, investor)
        book = statements.portfolio(session, investor)
    assert c.total == book.principal_outstanding < 5_000 * Y
    assert sum(b.amount for b in c.by_borrower) == sum(g.amount for g in c.by_grade) == c.total


def test_nothing_held(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    investor = lending.make_investor(session_factory, bank, balance=0)
    with session_factory() as session:
        c = portfolio.concentration(session, investor)
    assert (c.total, c.largest_loan, c.largest_borrower, c.by_grade, c.by_borrower, c.warnings) == (
        0,
        None,
        None,
        (),
        (),
        (),
    )
