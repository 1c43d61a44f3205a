"""A year and more of business days, closed one by one by the end-of-day batch.

One loan per repayment method, each borrower with nothing left to pay: the first
installment goes 1, 15, 31, 61, 91, 121, 181 and 361 days overdue. On each of those days
the stage, the five-tier classification and the penalty interest equal what DOMAIN.md §7
gives by hand — the penalty on each overdue installment's principal, 0 within grace, then
DPD × rd(principal × penalty rate / 365) — and the ledger verifies after every day.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.jobs import eod
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method
from p2plend.servicing import end_of_day
from p2plend.servicing import service as servicing
from p2plend.servicing.models import PenaltyAccrual
from tests import invariants, lending
from tests.conftest import TEST_DATE
from tests.servicing.oracle import rd

AMOUNT = 10_000_000  # 100,000.00

# DPD → (stage, classification), DOMAIN.md §7 written out by hand.
CHECKPOINTS = {
    1: ("m1", "special_mention"),
    2: ("m1", "special_mention"),
    3: ("m1", "special_mention"),
    4: ("m1", "special_mention"),
    15: ("m1", "special_mention"),
    31: ("m2", "special_mention"),
    61: ("m3", "special_mention"),
    91: ("m3_plus", "substandard"),
    121: ("m3_plus", "doubtful"),
    181: ("m7_plus", "loss"),
    361: ("m7_plus", "loss"),
}


@dataclass(frozen=True)
class Case:
    method: Method
    rate: str
    penalty_rate: str  # 1.5 × rate, capped so that rate + penalty ≤ 4 × LPR (3.00 %): by hand
    months: int | None
    days: int | None


CASES = (
    Case(Method.EQUAL_INSTALLMENT, "0.04", "0.06", 12, None),  # 6 % < 12 % − 4 %: not capped
    Case(Method.EQUAL_PRINCIPAL, "0.06", "0.06", 12, None),  # 9 % capped to 12 % − 6 %
    Case(Method.INTEREST_FIRST, "0.10", "0.02", 6, None),  # 15 % capped to 2 %
    Case(Method.BULLET, "0.05", "0.07", None, 90),  # 7.5 % capped to 7 %
)


def _penalty_by_hand(rows: list[tuple[date, int]], on: date, penalty_rate: str) -> int:
    total = 0
    for due, principal in rows:
        dpd = (on - due).days
        if dpd > 3:  # grace: 3 days [D]
            total += dpd * rd(Fraction(principal) * Fraction(Decimal(penalty_rate)) / 365)
    return total


def test_a_year_of_end_of_day_batches_one_loan_per_method(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investors = lending.make_investors(session_factory, bank, [AMOUNT * len(CASES) // 2] * 2)
    loans: dict[int, Case] = {}
    for case in CASES:
        borrower = lending.make_borrower(session_factory, bank)
        terms = lending.listing_terms(
            borrower,
            amount=AMOUNT,
            annual_rate=case.rate,
            method=case.method,
            months=case.months,
            days=case.days,
        )
        assert terms.penalty_rate == Decimal(case.penalty_rate)
        loan_id = lending.funded_loan(session_factory, bank, terms, [(i, AMOUNT // 2) for i in investors])
        lending.spend_all(session_factory, bank, borrower)
        loans[loan_id] = case
    with session_factory() as session:
        schedules = {
            loan_id: [(r.due_date, r.principal) for r in servicing.schedule(session, loan_id)]
            for loan_id in loans
        }
    first_due = {loan_id: rows[0][0] for loan_id, rows in schedules.items()}
    last_day = max(first_due.values()) + timedelta(days=361)

    seen: dict[int, set[int]] = {loan_id: set() for loan_id in loans}
    day = TEST_DATE
    while day <= last_day:
        lending.go_to(day)
        [report] = eod.close_through(session_factory, day, bank)
        assert report.business_date == day
        with session_factory() as session:
            invariants.assert_books_sound(session)
            for loan_id, case in loans.items():
                dpd = (day - first_due[loan_id]).days
                if dpd not in CHECKPOINTS:
                    continue
                loan = marketplace.get_loan(session, loan_id)
                assert (loan.days_past_due, loan.stage, loan.classification) == (dpd, *CHECKPOINTS[dpd])
                accrued = session.scalar(
                    select(func.coalesce(func.sum(PenaltyAccrual.penalty), 0)).where(
                        PenaltyAccrual.loan_id == loan_id
                    )
                )
                overdue_rows = [(due, p) for due, p in schedules[loan_id] if due < day]
                assert accrued == _penalty_by_hand(overdue_rows, day, case.penalty_rate), (case, dpd)
                history = end_of_day.risk_history(session, loan_id)
                assert history[-1].business_date == day and history[-1].days_past_due == dpd
                seen[loan_id].add(dpd)
        day += timedelta(days=1)

    assert all(s == set(CHECKPOINTS) for s in seen.values())
    with session_factory() as session:
        for loan_id in loans:
            history = end_of_day.risk_history(session, loan_id)
            # One history row per overdue day, without a gap, from DPD 1.
            assert [h.days_past_due for h in history] == list(range(1, len(history) + 1))
            assert sum(r.penalty for r in servicing.schedule(session, loan_id)) == sum(
                a.penalty for a in end_of_day.penalty_accruals(session, loan_id)
            )
