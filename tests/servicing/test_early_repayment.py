"""Early repayment (提前还款, DOMAIN.md §2.5–2.6): full and partial, split among holders (R20, R25–R28)."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import InvalidInput
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method, PartialPrepaymentChoice
from p2plend.servicing import service as servicing
from p2plend.servicing.errors import InstallmentDueFirst, InvalidRepayment, NothingDue
from tests import lending
from tests.servicing import checks, oracle

LENT = (500_000, 300_000, 200_000)


def _loan(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    *,
    amount: int = 1_000_000,
    method: Method = Method.EQUAL_INSTALLMENT,
    rate: str = "0.10",
    months: int | None = 3,
    days: int | None = None,
    **overrides: object,
) -> tuple[int, int, oracle.Book]:
    """Held 50:30:20 by three investors; the borrower has 3,000.00 besides the loan."""
    borrower = lending.make_borrower(session_factory, bank, balance=300_000)
    investors = lending.make_investors(session_factory, bank, [amount] * 3)
    terms = lending.listing_terms(
        borrower, amount=amount, annual_rate=rate, method=method, months=months, days=days, **overrides
    )
    loan_id = lending.funded_loan(
        session_factory,
        bank,
        terms,
        [(i, amount * lent // 1_000_000) for i, lent in zip(investors, LENT, strict=True)],
    )
    return loan_id, borrower, checks.book_of(session_factory, loan_id)


def _schedule(session_factory: sessionmaker[Session], loan_id: int, *, with_superseded: bool = False) -> list:
    with session_factory() as session:
        return servicing.schedule(session, loan_id, with_superseded=with_superseded)


def test_full_early_repayment_mid_period_takes_interest_only_to_today(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """§2.5/§2.6 by hand: 10,000.00/10 %/3 months, installment 1 paid. On 2027-01-10, 13 of the
    31 days of period 2 have run: interest rd(55.79 × 13/31) = rd(23.3958) = 23.40; principal
    6,694.29; fee 1 % = rd(66.9429) = 66.94, split to the holders. Then the loan is settled."""
    loan_id, borrower, book = _loan(session_factory, bank, prepayment_fee_rate=Decimal("0.01"))
    lending.go_to(date(2026, 12, 28))
    checks.pay(session_factory, bank, loan_id, borrower, book)
    lending.go_to(date(2027, 1, 10))
    with session_factory() as session:
        quote = servicing.early_repayment_quote(session, loan_id)
    assert (quote.kind, quote.principal, quote.interest, quote.fee, quote.total) == (
        "early_full",
        669_429,
        2_340,
        6_694,
        678_463,
    )
    repayment = checks.pay_early(session_factory, bank, loan_id, borrower, book)
    assert repayment.amount == 678_463
    shares = {book.holders[h]: r for h, r in book.received.items()}
    # Each holder receives exactly their remaining claim; interest and fee split 50:30:20.
    assert [shares[h].prepayment_fee for h in sorted(shares)] == [3_347, 2_008, 1_339]
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert (loan.status, loan.principal_outstanding) == ("settled", 0)
        rows = servicing.schedule(session, loan_id, with_superseded=True)
        assert [(r.number, r.status) for r in rows] == [(1, "paid"), (2, "superseded"), (3, "superseded")]
        assert servicing.schedule(session, loan_id) == [rows[0]]
        # No further interest: the holders got 83.33 + 23.40 in all.
        assert sum(r.interest for r in book.received.values()) == 8_333 + 2_340
    with pytest.raises(NothingDue):
        lending.repay_early(session_factory, bank, loan_id, borrower)


def test_full_early_repayment_on_the_value_date_takes_no_interest(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, borrower, book = _loan(session_factory, bank)
    repayment = checks.pay_early(session_factory, bank, loan_id, borrower, book)
    assert (repayment.principal, repayment.interest, repayment.prepayment_fee) == (1_000_000, 0, 0)


@pytest.mark.parametrize(
    ("method", "choice", "rows_after"),
    [
        (Method.EQUAL_INSTALLMENT, PartialPrepaymentChoice.LOWER_INSTALLMENT, 10),
        (Method.EQUAL_INSTALLMENT, PartialPrepaymentChoice.SHORTER_TERM, 7),
        (Method.EQUAL_PRINCIPAL, PartialPrepaymentChoice.LOWER_INSTALLMENT, 10),
        (Method.EQUAL_PRINCIPAL, PartialPrepaymentChoice.SHORTER_TERM, 7),
        (Method.INTEREST_FIRST, PartialPrepaymentChoice.LOWER_INSTALLMENT, 10),
    ],
)
def test_partial_early_repayment_reschedules_and_is_repaid_to_the_end(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    method: Method,
    choice: PartialPrepaymentChoice,
    rows_after: int,
) -> None:
    """§2.6: 12,000.00/12 %/12 months, two installments paid; on 2027-02-10 (13 of 31 days of
    period 3) 3,000.00 is prepaid with its interest rd(rd(3000 × 1 %) × 13/31) = rd(12.58) and a
    1 % fee of 30.00. The unpaid rows are superseded by version 2 from installment 3 on the
    rest (R20: its principals sum to it exactly); the loan is then repaid to the end."""
    loan_id, borrower, book = _loan(
        session_factory,
        bank,
        amount=1_200_000,
        method=method,
        rate="0.12",
        months=12,
        prepayment_fee_rate=Decimal("0.01"),
    )
    for due in (date(2026, 12, 28), date(2027, 1, 28)):
        lending.go_to(due)
        checks.pay(session_factory, bank, loan_id, borrower, book)
    lending.go_to(date(2027, 2, 10))
    left = book.outstanding - 300_000
    old = _schedule(session_factory, loan_id)
    repayment = checks.pay_early(
        session_factory, bank, loan_id, borrower, book, principal=300_000, choice=choice
    )
    assert (repayment.kind, repayment.interest, repayment.prepayment_fee) == ("early_partial", 1_258, 3_000)

    rows = _schedule(session_factory, loan_id, with_superseded=True)
    superseded = [r for r in rows if r.status == "superseded"]
    assert [(r.number, r.principal, r.interest) for r in superseded] == [
        (r.number, r.principal, r.interest) for r in old[2:]
    ]
    assert {r.schedule_version for r in superseded} == {1}
    current = [r for r in rows if r.status != "superseded"]
    assert [(r.number, r.schedule_version) for r in current[:2]] == [(1, 1), (2, 1)]
    new = current[2:]
    assert [r.number for r in new] == list(range(3, 3 + rows_after))
    assert {r.schedule_version for r in new} == {2}
    assert new[0].due_date == date(2027, 2, 28)
    assert sum(r.principal for r in new) == left  # R20
    assert sum(r.principal for r in current) + 300_000 == 1_200_000  # R20 over the loan's life
    # The next period's interest is a full period's on what is left.
    assert new[0].interest == oracle.rd(left * Decimal("0.01"))
    if choice is PartialPrepaymentChoice.SHORTER_TERM:
        level = old[2].principal + old[2].interest if method is Method.EQUAL_INSTALLMENT else old[2].principal
        kept = [
            r.principal + r.interest if method is Method.EQUAL_INSTALLMENT else r.principal for r in new[:-1]
        ]
        assert set(kept) == {level}
    elif method is not Method.INTEREST_FIRST:
        assert new[0].principal + new[0].interest < old[2].principal + old[2].interest

    for row in new:
        lending.go_to(row.due_date)
        checks.pay(session_factory, bank, loan_id, borrower, book)
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"


def test_early_repayment_waits_for_an_installment_due(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """installment_due_first: on the due date and while overdue, an early repayment is refused."""
    loan_id, borrower, book = _loan(session_factory, bank)
    for day in (date(2026, 12, 28), date(2027, 1, 5)):
        lending.go_to(day)
        for principal in (None, 100_000):
            with pytest.raises(InstallmentDueFirst) as refused:
                lending.repay_early(session_factory, bank, loan_id, borrower, principal)
            assert refused.value.code == "installment_due_first"
    checks.pay(session_factory, bank, loan_id, borrower, book)
    checks.pay_early(session_factory, bank, loan_id, borrower, book, principal=100_000)


def test_invalid_early_repayments_are_refused(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id, borrower, _ = _loan(session_factory, bank)
    lending.go_to(date(2026, 12, 10))
    for principal in (0, -5):
        with pytest.raises(InvalidRepayment):
            lending.repay_early(session_factory, bank, loan_id, borrower, principal)
    with pytest.raises(InvalidInput):  # more than the outstanding principal
        lending.repay_early(session_factory, bank, loan_id, borrower, 1_000_001)
    lending.assert_loan_sound(session_factory, loan_id)


@pytest.mark.parametrize(
    ("months", "days", "on", "interest"),
    [
        # rd(720.00 × 74/181): 6-month bullet (interest rd(12000 × 12 % × 6/12) = 720.00),
        # 74 of the 181 days from 2026-11-28 to 2027-05-28 have run.
        (6, None, date(2027, 2, 10), 29_436),
        # rd(12000 × 12 % × 45/365) = rd(177.534): day-based bullet of 90 days.
        (None, 90, date(2027, 1, 12), 17_753),
    ],
)
def test_a_bullet_loans_early_repayment(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    months: int | None,
    days: int | None,
    on: date,
    interest: int,
) -> None:
    """一次性还本付息 repaid early in full: principal + interest to today (§2.5, by days for a
    day-based bullet) + the fee, split to the holders."""
    loan_id, borrower, book = _loan(
        session_factory,
        bank,
        amount=1_200_000,
        method=Method.BULLET,
        rate="0.12",
        months=months,
        days=days,
        prepayment_fee_rate=Decimal("0.005"),
    )
    lending.go_to(on)
    repayment = checks.pay_early(session_factory, bank, loan_id, borrower, book)
    assert (repayment.principal, repayment.interest, repayment.prepayment_fee) == (1_200_000, interest, 6_000)
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"


def test_a_day_based_bullet_partly_repaid_early_then_at_maturity(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """12,000.00/12 %/90 days: 5,000.00 prepaid on day 30 with rd(5000 × 12 % × 30/365) = 49.32;
    the rest pays rd(7000 × 12 % × 90/365) = 207.12 at maturity (2027-02-26)."""
    loan_id, borrower, book = _loan(
        session_factory, bank, amount=1_200_000, method=Method.BULLET, rate="0.12", months=None, days=90
    )
    lending.go_to(date(2026, 12, 28))
    part = checks.pay_early(session_factory, bank, loan_id, borrower, book, principal=500_000)
    assert part.interest == 4_932
    [row] = _schedule(session_factory, loan_id)
    assert (row.number, row.schedule_version, row.due_date, row.principal, row.interest) == (
        1,
        2,
        date(2027, 2, 26),
        700_000,
        20_712,
    )
    lending.go_to(row.due_date)
    checks.pay(session_factory, bank, loan_id, borrower, book)
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"


def test_full_early_repayment_counts_interest_already_paid_ahead(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Interest already paid for the current period counts: on 2026-12-10 the borrower pays
    100.00 of installment 1 ahead (its 83.33 interest and 16.67 principal); on 2026-12-20 the
    full early repayment owes the principal left and rd(83.33 × 22/30) = 61.11 of interest to
    today — already covered by the 83.33 paid, so no more interest (nor a refund, as for an
    installment paid ahead in full). The holders receive the period's interest once."""
    loan_id, borrower, book = _loan(session_factory, bank)
    lending.go_to(date(2026, 12, 10))
    checks.pay(session_factory, bank, loan_id, borrower, book, amount=10_000)
    lending.go_to(date(2026, 12, 20))
    with session_factory() as session:
        quote = servicing.early_repayment_quote(session, loan_id)
    assert (quote.principal, quote.interest) == (1_000_000 - 1_667, 0)
    repayment = lending.repay_early(session_factory, bank, loan_id, borrower)
    assert (repayment.principal, repayment.interest) == (1_000_000 - 1_667, 0)
    checks.check_step(session_factory, loan_id, book, repayment)
    assert sum(r.interest for r in book.received.values()) == 8_333
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"


def test_partial_early_repayment_carries_interest_already_paid_ahead(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """As above, but 3,000.00 is prepaid on 2026-12-20: its interest to today rd(25.00 × 22/30)
    = 18.33 is covered by the 83.33 paid ahead; of the remaining 65.00, the rescheduled
    installment 1's whole interest rd(6,983.33 × 10 %/12) = 58.19 counts as paid; the
    borrower then owes installment 1's principal only, and the rest of the loan as rescheduled."""
    loan_id, borrower, book = _loan(session_factory, bank, monthly_fee_rate=Decimal("0.003"))
    lending.go_to(date(2026, 12, 10))
    checks.pay(session_factory, bank, loan_id, borrower, book, amount=3_000 + 10_000)
    lending.go_to(date(2026, 12, 20))
    repayment = lending.repay_early(session_factory, bank, loan_id, borrower, 300_000)
    assert (repayment.principal, repayment.interest, repayment.fee) == (300_000, 0, 0)
    checks.check_step(session_factory, loan_id, book, repayment)
    first = _schedule(session_factory, loan_id)[0]
    assert (first.number, first.schedule_version, first.interest, first.paid_interest) == (1, 2, 5_819, 5_819)
    assert (first.fee, first.paid_fee, first.status) == (3_000, 3_000, "due")
    assert first.owed == first.principal
    for row in _schedule(session_factory, loan_id):
        lending.go_to(row.due_date)
        checks.pay(session_factory, bank, loan_id, borrower, book)
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"
        # Period 1's interest reached the holders once: 83.33, nothing more for it.
        repayments = servicing.repayments_of_loan(session, loan_id)
        assert [r.interest for r in repayments[:2]] == [8_333, 0]
