"""DOMAIN.md §9's worked example, to the fen: loan 10,000/10 %/3 months; holder A had 5,000
and after installment 1 holds 3,347.14; on day 10 of a 28-day period A's period interest
share 27.89 → accrued 9.96 → V = 3,357.10; at d = 0.5 % price 3,340.31; fee 16.70; A nets
3,323.61."""

from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.ledger import service as ledger
from p2plend.transfers import service as transfers
from tests import lending
from tests.transfers import market


def test_section_9_worked_example_to_the_fen(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    a = loan.holders[0]
    holding = market.holding_of(session_factory, loan.loan_id, a)
    assert holding.principal_outstanding == 334_714  # 3,347.14

    lending.go_to(market.DAY_10)
    with session_factory() as session:
        quote = transfers.quote(session, seller_id=a, holding_id=holding.id, discount_rate=Decimal("0.005"))
    assert (quote.period_start, quote.period_end) == (market.FIRST_DUE, market.SECOND_DUE)
    assert (quote.days_elapsed, quote.period_days) == (10, 28)
    assert quote.period_interest == 2_789  # A's share of 55.79: 27.89
    assert quote.price.accrued_interest == 996  # rd(27.89 × 10 / 28) = 9.96
    assert quote.price.value == 335_710  # 3,357.10
    assert quote.price.price == 334_031  # rd(3,357.10 × 0.995) = 3,340.31
    assert quote.fee_rate == Decimal("0.005")
    assert quote.price.fee == 1_670  # rd(3,340.31 × 0.5 %) = 16.70
    assert quote.price.seller_net == 332_361  # 3,323.61

    listing = market.list_holding(session_factory, a, holding.id, discount="0.005")
    assert (listing.principal, listing.price, listing.fee, listing.accrued_interest) == (
        334_714,
        334_031,
        1_670,
        996,
    )

    buyer = market.buyer(session_factory, bank)
    with session_factory() as session:
        fee_income = ledger.balance(session, ledger.PLATFORM_FEE_INCOME)
    seller_before = lending.balances(session_factory, a).available
    buyer_before = lending.balances(session_factory, buyer).available
    sale = market.buy(session_factory, bank, buyer, listing.id)

    assert (sale.principal, sale.accrued_interest, sale.price, sale.fee, sale.seller_net) == (
        334_714,
        996,
        334_031,
        1_670,
        332_361,
    )
    assert lending.balances(session_factory, buyer).available == buyer_before - 334_031
    assert lending.balances(session_factory, a).available == seller_before + 332_361
    with session_factory() as session:
        assert ledger.balance(session, ledger.PLATFORM_FEE_INCOME) == fee_income + 1_670
    assert market.holding_of(session_factory, loan.loan_id, buyer).principal_outstanding == 334_714
    lending.assert_loan_sound(session_factory, loan.loan_id)
