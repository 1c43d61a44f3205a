"""Repayments (还款) and their split among holders (回款): R25–R27, R32, to the end of the loan."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import InsufficientFunds
from p2plend.ledger import service as ledger
from p2plend.ledger.models import LedgerAccount, Posting
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from p2plend.servicing.errors import InvalidRepayment, NothingDue, NotTheBorrower, RepaymentExceedsDue
from p2plend.servicing.models import Distribution, Repayment
from tests import lending
from tests.servicing import checks

# DOMAIN.md §2.1: 10,000.00 at 10 % for 3 months, equal installment; held 5000:3000:2000 (§3).
AMOUNT = 1_000_000
DEPOSIT = 600_000
LENT = (500_000, 300_000, 200_000)
DUE = (date(2026, 12, 28), date(2027, 1, 28), date(2027, 2, 28))


def _three_holders(
    session_factory: sessionmaker[Session], bank: SimulatedBank, **overrides: object
) -> tuple[int, int, list[int]]:
    borrower = lending.make_borrower(session_factory, bank, balance=200_000)
    investors = lending.make_investors(session_factory, bank, [DEPOSIT] * 3)
    loan_id = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(borrower, amount=AMOUNT, annual_rate="0.10", months=3, **overrides),
        list(zip(investors, LENT, strict=True)),
    )
    return loan_id, borrower, investors


def test_installments_repaid_to_the_end_settle_the_loan(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R21-style worked example end to end: 3389.04, 3389.04, 3389.05 on their due dates;
    every step split exactly (R25, R27), holdings = outstanding (R26), the bank reconciles;
    at the end the loan is settled, every holding 0, every investor paid back with interest."""
    loan_id, borrower, investors = _three_holders(session_factory, bank)
    book = checks.book_of(session_factory, loan_id)
    paid = []
    for due in DUE:
        lending.go_to(due)
        paid.append(checks.pay(session_factory, bank, loan_id, borrower, book))
    assert [(r.principal, r.interest, r.amount) for r in paid] == [
        (330_571, 8_333, 338_904),
        (333_325, 5_579, 338_904),
        (336_104, 2_801, 338_905),
    ]
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert (loan.status, loan.principal_outstanding, loan.closed_at) == ("settled", 0, clock.now())
        assert marketplace.holdings_of_loan(session, loan_id) == []
        assert lending.holdings_total(session, loan_id) == 0
        rows = servicing.schedule(session, loan_id)
        assert [(r.status, r.paid_on) for r in rows] == [("paid", d) for d in DUE]
        assert all(r.owed == 0 for r in rows)
        for investor, lent in zip(investors, LENT, strict=True):
            net = book.net_of_holder(investor)
            assert ledger.user_balances(session, investor) == ledger.Balances(DEPOSIT - lent + net, 0)
            assert servicing.received_by_holder(session, investor) == net
    # The whole interest reached the holders: 83.33 + 55.79 + 28.01.
    assert sum(r.interest for r in book.received.values()) == 16_713
    with pytest.raises(NothingDue) as refused:
        lending.repay(session_factory, bank, loan_id, borrower)
    assert refused.value.code == "nothing_due"


def test_r25_r27_the_domain_example_of_a_split(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R25 (DOMAIN.md §3): interest 83.33 split 5000:3000:2000 → 41.66 / 25.00 / 16.67, not the
    naive 41.67 + 25.00 + 16.67 = 83.34; principal 3305.71 → 1652.86 / 991.71 / 661.14, so A then
    holds 3347.14 (§9's example). R27: fee rd(share × 10 %) = 4.17 / 2.50 / 1.67, never on principal."""
    loan_id, borrower, investors = _three_holders(session_factory, bank)
    lending.go_to(DUE[0])
    repayment = lending.repay(session_factory, bank, loan_id, borrower)
    with session_factory() as session:
        rows = session.scalars(
            select(Distribution)
            .where(Distribution.repayment_id == repayment.id)
            .order_by(Distribution.holder_id)
        ).all()
        assert [(d.holder_id, d.interest, d.principal, d.investor_fee, d.net) for d in rows] == [
            (investors[0], 4_166, 165_286, 417, 165_286 + 4_166 - 417),
            (investors[1], 2_500, 99_171, 250, 99_171 + 2_500 - 250),
            (investors[2], 1_667, 66_114, 167, 66_114 + 1_667 - 167),
        ]
        holdings = marketplace.holdings_of_loan(session, loan_id)
        assert [h.principal_outstanding for h in holdings] == [334_714, 200_829, 133_886]
        # One entry: the borrower pays 3389.04; the holders get their net; the platform the fees.
        assert repayment.entry_id is not None
        postings = dict(
            session.execute(
                select(LedgerAccount.code, Posting.amount)
                .join(Posting, Posting.account_id == LedgerAccount.id)
                .where(Posting.entry_id == repayment.entry_id)
            ).all()
        )
        assert postings == {
            ledger.user_available(borrower): -338_904,
            ledger.user_available(investors[0]): 169_035,
            ledger.user_available(investors[1]): 101_421,
            ledger.user_available(investors[2]): 67_614,
            ledger.PLATFORM_FEE_INCOME: 417 + 250 + 167,
        }
    lending.assert_loan_sound(session_factory, loan_id)


def test_r32_a_partial_payment_goes_fees_then_interest_then_principal_oldest_first_current_last(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R32 with a monthly management fee of 0.3 % (30.00 per installment): on 2027-02-28
    installments 1 and 2 are overdue and 3 is due today (current). Payments go fee 1, fee 2,
    interest 1, interest 2, principal 1, principal 2, then installment 3's fee, interest, principal.
    (A contract without penalty interest, to keep the figures round; with it, see
    ``test_r32_penalty_and_late_fee_come_after_fees_before_interest``.)"""
    loan_id, borrower, _ = _three_holders(
        session_factory, bank, monthly_fee_rate=Decimal("0.003"), penalty_rate=Decimal(0)
    )
    book = checks.book_of(session_factory, loan_id)
    lending.go_to(DUE[2])

    def paid() -> list[tuple[int, int, int, str]]:
        with session_factory() as session:
            return [
                (r.paid_fee, r.paid_interest, r.paid_principal, r.status)
                for r in servicing.schedule(session, loan_id)
            ]

    first = checks.pay(session_factory, bank, loan_id, borrower, book, amount=4_500)  # fees only
    assert (first.fee, first.interest, first.principal) == (4_500, 0, 0)
    assert paid() == [(3_000, 0, 0, "due"), (1_500, 0, 0, "due"), (0, 0, 0, "due")]

    second = checks.pay(
        session_factory, bank, loan_id, borrower, book, amount=1_500 + 8_333 + 5_579 + 100_000
    )
    assert (second.fee, second.interest, second.principal) == (1_500, 13_912, 100_000)
    assert paid() == [(3_000, 8_333, 100_000, "due"), (3_000, 5_579, 0, "due"), (0, 0, 0, "due")]

    third = checks.pay(
        session_factory, bank, loan_id, borrower, book, amount=230_571 + 333_325 + 3_000 + 1_000
    )
    assert (third.fee, third.interest, third.principal) == (3_000, 1_000, 563_896)
    assert paid() == [
        (3_000, 8_333, 330_571, "paid"),
        (3_000, 5_579, 333_325, "paid"),
        (3_000, 1_000, 0, "due"),
    ]
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id)
        assert (due.fee, due.interest, due.principal) == (0, 1_801, 336_104)
    checks.pay(session_factory, bank, loan_id, borrower, book)
    assert paid()[2] == (3_000, 2_801, 336_104, "paid")
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"
        # The borrower's fees went to the platform, none of them to the holders.
        assert sum(r.fee for r in servicing.repayments_of_loan(session, loan_id)) == 9_000


def test_r32_a_partial_payment_of_the_next_installment_before_it_is_due(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """With nothing overdue the next installment is what is payable: fee, interest, then principal."""
    loan_id, borrower, _ = _three_holders(session_factory, bank, monthly_fee_rate=Decimal("0.003"))
    book = checks.book_of(session_factory, loan_id)
    lending.go_to(date(2026, 12, 10))
    part = checks.pay(session_factory, bank, loan_id, borrower, book, amount=3_000 + 8_333 + 1)
    assert (part.fee, part.interest, part.principal) == (3_000, 8_333, 1)
    rest = checks.pay(session_factory, bank, loan_id, borrower, book)
    assert (rest.fee, rest.interest, rest.principal) == (0, 0, 330_570)
    with session_factory() as session:
        rows = servicing.schedule(session, loan_id)
        assert (rows[0].status, rows[0].paid_on) == ("paid", date(2026, 12, 10))
        # Paid ahead, the next installment is still the one due on 2027-01-28.
        assert servicing.amount_due(session, loan_id).installments[0].number == 2


def test_an_overdue_and_a_current_installment_paid_in_one_go(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Everything due by today is paid at once and split once."""
    loan_id, borrower, _ = _three_holders(session_factory, bank)
    book = checks.book_of(session_factory, loan_id)
    lending.go_to(DUE[1])
    both = checks.pay(session_factory, bank, loan_id, borrower, book)
    assert (both.principal, both.interest) == (330_571 + 333_325, 8_333 + 5_579)
    lending.go_to(DUE[2])
    checks.pay(session_factory, bank, loan_id, borrower, book)


def _state(session_factory: sessionmaker[Session], loan_id: int, *users: int) -> tuple[object, ...]:
    with session_factory() as session:
        return (
            marketplace.get_loan(session, loan_id).principal_outstanding,
            tuple(
                (r.paid_fee, r.paid_interest, r.paid_principal, r.status)
                for r in servicing.schedule(session, loan_id)
            ),
            tuple((h.id, h.principal_outstanding) for h in marketplace.holdings_of_loan(session, loan_id)),
            tuple(ledger.user_balances(session, u) for u in users),
            session.scalar(select(func.count()).select_from(Repayment)),
        )


def test_refused_repayments_change_nothing(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """repayment_exceeds_due (paying ahead is an early repayment), not the borrower, nothing
    positive, not enough money: each refused with its code, nothing changed."""
    loan_id, borrower, investors = _three_holders(session_factory, bank)
    lending.go_to(DUE[0])
    before = _state(session_factory, loan_id, borrower, *investors)
    with pytest.raises(RepaymentExceedsDue) as exceeds:
        lending.repay(session_factory, bank, loan_id, borrower, amount=338_905)
    assert (exceeds.value.code, exceeds.value.details) == ("repayment_exceeds_due", {"due": "3389.04"})
    with pytest.raises(NotTheBorrower) as stranger:
        lending.repay(session_factory, bank, loan_id, investors[0])
    assert stranger.value.code == "not_the_borrower"
    for amount in (0, -1):
        with pytest.raises(InvalidRepayment):
            lending.repay(session_factory, bank, loan_id, borrower, amount=amount)
    assert _state(session_factory, loan_id, borrower, *investors) == before

    poor = lending.make_borrower(session_factory, bank)
    other = lending.make_investors(session_factory, bank, [600_000, 600_000])
    poor_loan = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(poor, amount=AMOUNT, months=3),
        [(other[0], 500_000), (other[1], 500_000)],
    )
    lending.go_to(DUE[1])
    with session_factory.begin() as session:  # spend 7,000.00 of the loan: 2,800.00 left, 6,778.08 due
        ledger.transfer(
            session,
            kind="test_spend",
            source=ledger.user_available(poor),
            destination=ledger.user_frozen(poor),
            amount=700_000,
            idempotency_key="spend",
        )
    before = _state(session_factory, poor_loan, poor, *other)
    with pytest.raises(InsufficientFunds):
        lending.repay(session_factory, bank, poor_loan, poor)
    assert _state(session_factory, poor_loan, poor, *other) == before
    with session_factory.begin() as session:  # give it back so the bank still reconciles
        ledger.transfer(
            session,
            kind="test_unspend",
            source=ledger.user_frozen(poor),
            destination=ledger.user_available(poor),
            amount=700_000,
            idempotency_key="unspend",
        )
    lending.assert_loan_sound(session_factory, loan_id, poor_loan)


def test_a_listing_not_yet_disbursed_takes_no_repayment(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower))
    with pytest.raises(InvalidRepayment) as refused:
        lending.repay(session_factory, bank, loan_id, borrower)
    assert refused.value.details == {"status": "open"}


def test_a_zero_rate_interest_first_loan_owes_nothing_until_maturity_and_settles(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Months that owe nothing are never due, so the loan can be repaid and settle."""
    borrower = lending.make_borrower(session_factory, bank, balance=10_000)  # covers the service fee
    investor = lending.make_investor(session_factory, bank, balance=1_000_000)
    other = lending.make_investor(session_factory, bank, balance=1_000_000)
    terms = lending.listing_terms(
        borrower, amount=200_000, annual_rate="0", method=Method.INTEREST_FIRST, months=3
    )
    loan_id = lending.funded_loan(session_factory, bank, terms, [(investor, 100_000), (other, 100_000)])
    with session_factory() as session:
        rows = servicing.schedule(session, loan_id)
        assert [r.status for r in rows] == ["paid", "paid", "due"]
        due = servicing.amount_due(session, loan_id)
        assert (due.total, due.installments[0].number) == (200_000, 3)
    lending.go_to(rows[-1].due_date)
    with session_factory.begin() as session:
        servicing.repay(session, loan_id, payer_id=borrower, custodian=bank)
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"
