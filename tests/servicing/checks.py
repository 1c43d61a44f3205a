"""Repay through the services and check every step against the independent oracle.

Each step: the borrower pays; the repayment's components equal what the oracle derives
from the schedule (R32, §2.5, §2.6); every holder's share equals the oracle's split (R25,
R27); the holdings equal the oracle's claims and sum to the outstanding principal (R26);
the ledger is sound and the bank's books equal it (R12).
"""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Holding
from p2plend.schedules.service import PartialPrepaymentChoice, due_date
from p2plend.servicing import service as servicing
from p2plend.servicing.models import Distribution, Repayment
from tests import lending
from tests.servicing import oracle


def book_of(session_factory: sessionmaker[Session], loan_id: int) -> oracle.Book:
    """The oracle's view of a freshly disbursed loan: its claims as they were acquired."""
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        holdings = session.scalars(select(Holding).where(Holding.loan_id == loan_id)).all()
        return oracle.Book(
            fee_rate=Decimal(loan.investor_fee_rate),
            claims={h.id: oracle.Claim(h.id, h.principal_acquired, h.acquired_at) for h in holdings},
            holders={h.id: h.holder_id for h in holdings},
        )


def unpaid_rows(session: Session, loan_id: int) -> list[oracle.Row]:
    """The unpaid rows as they stand today: penalty and late fee include the days not yet
    posted, computed here by DOMAIN.md §7's formula from the last day posted."""
    loan = marketplace.get_loan(session, loan_id)
    today = clock.today()
    rows = []
    for r in servicing.schedule(session, loan_id):
        if r.status != "due":
            continue
        penalty, late_fee = r.penalty - r.paid_penalty, r.late_fee - r.paid_late_fee
        if r.due_date < today:
            posted = max(r.penalty_through or r.due_date, r.due_date)
            now_dpd, posted_dpd = (today - r.due_date).days, (posted - r.due_date).days
            days = oracle.penalty_days(now_dpd) - oracle.penalty_days(posted_dpd)
            penalty += days * oracle.daily_penalty(r.principal - r.paid_principal, Decimal(loan.penalty_rate))
            if posted_dpd <= 3 < now_dpd:
                late_fee += loan.late_fee
        rows.append(
            oracle.Row(
                r.number,
                r.due_date,
                r.fee - r.paid_fee,
                r.interest - r.paid_interest,
                r.principal - r.paid_principal,
                penalty,
                late_fee,
            )
        )
    return rows


def payable_rows(session: Session, loan_id: int) -> list[oracle.Row]:
    """What ``repay`` takes now: every installment due by today, or else the next one."""
    rows = unpaid_rows(session, loan_id)
    due = [r for r in rows if r.due_date <= clock.today()]
    return due or rows[:1]


def pay(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    loan_id: int,
    borrower: int,
    book: oracle.Book,
    amount: int | None = None,
) -> Repayment:
    """An installment repayment (all that is due, or ``amount`` of it), checked."""
    with session_factory() as session:
        rows = payable_rows(session, loan_id)
    owed = sum(r.owed for r in rows)
    expected = oracle.apply_partial(rows, owed if amount is None else amount, clock.today())
    repayment = lending.repay(session_factory, bank, loan_id, borrower, amount)
    got = oracle.Paid(
        repayment.principal, repayment.interest, repayment.fee, repayment.penalty, repayment.late_fee
    )
    assert (got, repayment.prepayment_fee) == (expected, 0)
    check_step(session_factory, loan_id, book, repayment)
    return repayment


def pay_early(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    loan_id: int,
    borrower: int,
    book: oracle.Book,
    principal: int | None = None,
    choice: PartialPrepaymentChoice = PartialPrepaymentChoice.LOWER_INSTALLMENT,
) -> Repayment:
    """An early repayment (提前还款), full or partial, checked against DOMAIN.md §2.5/§2.6 by hand."""
    with session_factory() as session:
        expected = expected_early(session, loan_id, book.outstanding if principal is None else principal)
    repayment = lending.repay_early(session_factory, bank, loan_id, borrower, principal, choice)
    assert (repayment.principal, repayment.interest, repayment.prepayment_fee, repayment.fee) == (
        *expected,
        0,
    )
    assert repayment.kind == ("early_full" if principal in (None, book.outstanding) else "early_partial")
    check_step(session_factory, loan_id, book, repayment)
    return repayment


def expected_early(session: Session, loan_id: int, principal: int) -> tuple[int, int, int]:
    """(principal, interest to today, prepayment fee) of repaying ``principal`` early today.

    Interest: the current period's, for the days already run (§2.5) — on the whole period
    interest Z when all is repaid, on the prepaid part's own period interest when partial;
    day-based bullets rd(P·R·D1/365). Fee: rd(principal × rate).
    """
    loan = marketplace.get_loan(session, loan_id)
    assert loan.value_date is not None
    current = unpaid_rows(session, loan_id)[0]
    rate = Decimal(loan.annual_rate)
    full = principal == loan.principal_outstanding
    if loan.method == "bullet":
        start = loan.value_date
        if loan.term_days is not None:
            interest = oracle.accrued_by_days(principal, rate, (clock.today() - start).days, loan.day_basis)
        else:
            assert loan.term_months is not None
            z = (
                current.interest
                if full
                else oracle.rd(Fraction(principal) * Fraction(rate) * loan.term_months / 12)
            )
            interest = oracle.accrued(z, start, current.due_date, clock.today())
    else:
        start = due_date(loan.value_date, current.number - 1)
        z = current.interest if full else oracle.rd(Fraction(principal) * Fraction(rate) / 12)
        interest = oracle.accrued(z, start, current.due_date, max(clock.today(), start))
    return principal, interest, oracle.fen_times_rate(principal, Decimal(loan.prepayment_fee_rate))


def check_step(
    session_factory: sessionmaker[Session], loan_id: int, book: oracle.Book, repayment: Repayment
) -> None:
    shares = book.pay(repayment.principal, repayment.interest, repayment.prepayment_fee, repayment.penalty)
    with session_factory() as session:
        rows = session.scalars(select(Distribution).where(Distribution.repayment_id == repayment.id)).all()
        got = {
            d.holding_id: oracle.Shares(d.principal, d.interest, d.prepayment_fee, d.investor_fee, d.penalty)
            for d in rows
        }
        assert got == shares
        holdings = session.scalars(select(Holding).where(Holding.loan_id == loan_id)).all()
        assert {h.id: h.principal_outstanding for h in holdings} == {
            h: c.principal for h, c in book.claims.items()
        }
        for h in holdings:
            got_total = book.received[h.id]
            assert (
                h.principal_received,
                h.interest_received,
                h.prepayment_fee_received,
                h.fees_paid,
                h.penalty_received,
            ) == (
                got_total.principal,
                got_total.interest,
                got_total.prepayment_fee,
                got_total.fees,
                got_total.penalty,
            )
        assert marketplace.get_loan(session, loan_id).principal_outstanding == book.outstanding
    lending.assert_loan_sound(session_factory, loan_id)


def go_after(day: date, days: int) -> None:
    lending.go_to(day + timedelta(days=days))
