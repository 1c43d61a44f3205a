"""R38 (DOMAIN.md §9): a holding is offered for transfer only when held ≥ 30 days, the loan is
current (DPD 0), not in collections, compensation or write-off, the next due date is ≥ 3 days
away, today is not a due date and the claim is not in its final period — each refusal with its
own code; and the amounts, the discount (R39) and one listing per holding."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.collections import service as collections
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import DomainError
from p2plend.identity.permissions import Role
from p2plend.transfers import service as transfers
from tests import builders, lending
from tests.overdue import FIRST_DUE as SPENT_FIRST_DUE
from tests.overdue import close_each_day, spent_loan
from tests.transfers import market


def _refusal(
    session_factory: sessionmaker[Session],
    seller: int,
    holding_id: int,
    *,
    principal: int | None = None,
    discount: str = "0",
) -> str:
    with session_factory() as session, pytest.raises(DomainError) as refused:
        transfers.quote(
            session,
            seller_id=seller,
            holding_id=holding_id,
            principal=principal,
            discount_rate=Decimal(discount),
        )
    return refused.value.code


def _a(session_factory: sessionmaker[Session], loan: market.Market) -> int:
    return market.holding_of(session_factory, loan.loan_id, loan.holders[0]).id


def test_r38_a_holding_is_transferable_from_its_30th_day(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.worked_example_loan(session_factory, bank)
    a, holding = loan.holders[0], _a(session_factory, loan)
    lending.go_to(market.VALUE_DATE + timedelta(days=29))
    assert _refusal(session_factory, a, holding) == "transfer_holding_too_recent"
    lending.go_to(market.VALUE_DATE + timedelta(days=30))  # 2026-02-11: the day before the due date
    assert _refusal(session_factory, a, holding) == "transfer_due_date_too_close"
    lending.go_to(market.FIRST_DUE - timedelta(days=3))  # 3 days before the due date: too soon still
    assert _refusal(session_factory, a, holding) == "transfer_holding_too_recent"


def test_r38_the_due_date_blackout_and_today_not_a_due_date(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)  # today: 2026-02-12, a due date
    a, holding = loan.holders[0], _a(session_factory, loan)
    assert _refusal(session_factory, a, holding) == "transfer_due_date_today"
    lending.go_to(market.SECOND_DUE - timedelta(days=2))
    assert _refusal(session_factory, a, holding) == "transfer_due_date_too_close"
    lending.go_to(market.SECOND_DUE - timedelta(days=3))  # exactly 3 days away: allowed
    with session_factory() as session:
        quote = transfers.quote(session, seller_id=a, holding_id=holding)
    assert quote.price.principal == 334_714 and quote.installment_number == 2


def test_r38_not_in_the_final_period(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.SECOND_DUE)
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower)
    lending.go_to(market.SECOND_DUE + timedelta(days=8))
    assert _refusal(session_factory, loan.holders[0], _a(session_factory, loan)) == "transfer_final_period"


def test_r38_an_overdue_loan_is_not_transferable(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.worked_example_loan(session_factory, bank)
    lending.go_to(market.FIRST_DUE + timedelta(days=1))  # installment 1 unpaid: DPD 1
    assert _refusal(session_factory, loan.holders[0], _a(session_factory, loan)) == "transfer_loan_overdue"


def test_r38_a_current_installment_paid_ahead_is_not_priced(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower)  # installment 2, ahead of 03-12
    code = _refusal(session_factory, loan.holders[0], _a(session_factory, loan))
    assert code == "transfer_installment_paid_ahead"


def test_r38_a_settled_loan_is_not_in_repayment(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    a, holding = loan.holders[0], _a(session_factory, loan)
    lending.go_to(market.DAY_10)
    lending.repay_early(session_factory, bank, loan.loan_id, loan.borrower)
    assert _refusal(session_factory, a, holding) == "transfer_loan_not_in_repayment"


def test_r38_a_written_off_loan_is_not_transferable(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    with session_factory.begin() as session:
        officer, _ = builders.make_staff(session, roles=(Role.RISK_OFFICER,))
        finance, _ = builders.make_staff(session, roles=(Role.FINANCE,))
        proposed = collections.propose(
            session,
            actor_id=officer.id,
            loan_id=loan.loan_id,
            reason="proof_of_loss",
            proof="法院裁定 (2026)001",
        )
        collections.approve(session, actor_id=finance.id, write_off_id=proposed.id)
    assert (
        _refusal(session_factory, loan.holders[0], _a(session_factory, loan)) == "transfer_loan_written_off"
    )


def test_r38_a_loan_in_collections_is_not_transferable(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Overdue one day, a collection case opened by the batch; the borrower then pays all that
    is due: the loan is paid up but its case stays open until the next batch."""
    loan = spent_loan(session_factory, bank)
    close_each_day(session_factory, bank, SPENT_FIRST_DUE + timedelta(days=1))
    with session_factory() as session:
        assert loan.loan_id in collections.loans_with_open_cases(session)
    due = 120_000  # more than installment 1 with its penalty
    lending.deposit(
        session_factory, bank, loan.borrower, lending.card_of(session_factory, loan.borrower), due
    )
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower)
    holding = market.holding_of(session_factory, loan.loan_id, loan.investors[0])
    assert _refusal(session_factory, loan.investors[0], holding.id) == "transfer_loan_in_collections"


def test_r38_a_compensated_loan_is_not_transferable(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 10_000_000)
    loan_id, _, investors = lending.guaranteed_loan(session_factory, bank, guarantor, [600_000, 600_000])
    close_each_day(session_factory, bank, SPENT_FIRST_DUE + timedelta(days=2))  # compensated on DPD 2
    holding = market.holding_of(session_factory, loan_id, investors[0])
    assert _refusal(session_factory, investors[0], holding.id) == "transfer_loan_compensated"


def test_amounts_discount_ownership_and_one_listing_per_holding(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    a, b = loan.holders[0], loan.holders[1]
    holding = _a(session_factory, loan)
    lending.go_to(market.DAY_10)
    assert _refusal(session_factory, a, holding, principal=9_999) == "transfer_amount_invalid"  # < min bid
    assert _refusal(session_factory, a, holding, principal=334_715) == "transfer_amount_invalid"  # > held
    assert _refusal(session_factory, a, holding, discount="0.0501") == "transfer_discount_out_of_range"
    assert _refusal(session_factory, a, holding, discount="-0.01") == "transfer_discount_out_of_range"
    assert _refusal(session_factory, b, holding) == "holding_not_found"  # someone else's
    for text in ("0.05", "0.005", "0", "0.0125"):
        assert transfers.parse_discount(text) == Decimal(text)
    for text in ("0.06", "1", "0.00001", "-0", "5%", "", "0.5e-2"):
        with pytest.raises(DomainError) as refused:
            transfers.parse_discount(text)
        assert refused.value.code == "transfer_discount_out_of_range"

    market.list_holding(session_factory, a, holding, principal=100_000)
    with session_factory() as session, pytest.raises(DomainError) as refused:
        transfers.list_for_sale(session, seller_id=a, holding_id=holding)
    assert refused.value.code == "transfer_already_listed"


def test_listing_period_and_expiry_come_from_the_settings(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    listing = market.list_holding(
        session_factory, loan.holders[0], _a(session_factory, loan), discount="0.01"
    )
    assert listing.listed_on == market.DAY_10
    assert listing.expires_at - listing.created_at == timedelta(days=3)
    assert (listing.period_start, listing.period_end, listing.installment_number) == (
        market.FIRST_DUE,
        market.SECOND_DUE,
        2,
    )
