"""The order a part payment is applied in: R32's by component (the default) or the
product's alternative, installment by installment (DOMAIN.md §7, issue 4 item 2)."""

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.servicing import service as servicing
from tests import lending, overdue

EXTRA = 100  # 1.00 beyond the oldest installment's whole debt


def two_overdue(session_factory: sessionmaker[Session], bank: SimulatedBank, order: str) -> tuple[int, int]:
    """A loan whose first two installments are overdue (DPD 35 and 4), and the amount that
    pays the first one whole, with its penalty, plus 1.00."""
    loan = overdue.spent_loan(session_factory, bank, repayment_order=order)
    day = overdue.overdue_by(35)
    overdue.close_each_day(session_factory, bank, day - timedelta(days=1))
    lending.go_to(day)
    with session_factory.begin() as session:
        servicing.accrue_overdue(session, servicing.marketplace.get_loan(session, loan.loan_id), day)
        first = servicing.unpaid_installments(session, loan.loan_id)[0]
        amount = first.owed + EXTRA
    card = lending.card_of(session_factory, loan.borrower)
    lending.deposit(session_factory, bank, loan.borrower, card, amount)
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower, amount)
    return loan.loan_id, amount


def test_installment_order_pays_the_oldest_installment_off_first(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, _ = two_overdue(session_factory, bank, "installments")
    with session_factory() as session:
        first, second = servicing.schedule(session, loan_id)[:2]
        assert first.status == servicing.PAID and first.owed == 0
        # The 1.00 left goes to the second installment's penalty first.
        assert (second.paid_fee, second.paid_penalty + second.paid_interest, second.paid_principal) == (
            0,
            EXTRA,
            0,
        )


def test_component_order_r32_spreads_it_over_both_installments(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, amount = two_overdue(session_factory, bank, "components")
    with session_factory() as session:
        first, second = servicing.schedule(session, loan_id)[:2]
        assert first.status != servicing.PAID  # its principal waits for both interests
        assert (first.paid_penalty, second.paid_penalty) == (first.penalty, second.penalty)
        assert (first.paid_interest, second.paid_interest) == (first.interest, second.interest)
        assert second.paid_principal == 0
        paid = sum(r.paid_penalty + r.paid_interest + r.paid_principal for r in (first, second))
        assert paid == amount
