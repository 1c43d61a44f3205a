"""Issue 3 acceptance: the lending core, end to end, for each repayment method, 50 holders.

For each method (bullet by months and by days): two loans, each funded by the same 50
investors with uneven amounts (deterministic pseudo-random, in bid steps, summing exactly to
the loan, under the 50 % cap; the last bid completes the listing off the step). The first
is repaid early with a 1 % prepayment fee (partial, an installment, then full for equal
installment / equal principal; full mid-period otherwise); the second, listed once the
first is settled, is repaid to the end with one installment overdue and paid in two parts,
with a 0.3 % monthly management fee (R32).

After every step: each repayment's components equal what the schedule says (§2, §2.5, R32);
each holder's share equals an independent split (DOMAIN.md §3, exact fractions, ties by
larger holding, earlier acquisition, lower id: ``tests/servicing/oracle.py``) with the fee
rd(share × 10 %) (R25, R27); Σ holdings == outstanding principal (R26); the ledger
invariants hold and the bank's books equal the ledger (R12). At the end, every investor's
money is exactly principal + their allocated interest (+ prepayment fee) − fees (R28).
"""

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method, PartialPrepaymentChoice
from p2plend.servicing import service as servicing
from tests import lending
from tests.servicing import checks, oracle

HOLDERS = 50
STEP = 10_000  # minimum bid and step: 100.00
LOAN_1 = 10_003_721  # 100,037.21
LOAN_2 = 8_000_055  # 80,000.55
RATE = "0.115"


@dataclass(frozen=True)
class Case:
    method: Method
    months: int | None
    days: int | None
    # The early loan: installments paid before the early repayment(s), the partial choice if any.
    paid_before: int
    partial: PartialPrepaymentChoice | None


CASES = {
    "equal_installment": Case(
        Method.EQUAL_INSTALLMENT, 12, None, 2, PartialPrepaymentChoice.LOWER_INSTALLMENT
    ),
    "equal_principal": Case(Method.EQUAL_PRINCIPAL, 12, None, 2, PartialPrepaymentChoice.SHORTER_TERM),
    "interest_first": Case(Method.INTEREST_FIRST, 12, None, 3, None),
    "bullet_by_months": Case(Method.BULLET, 6, None, 0, None),
    "bullet_by_days": Case(Method.BULLET, None, 90, 0, None),
}


def uneven_amounts(total: int, seed: int) -> list[int]:
    """50 bids in steps (the last one completing the listing off the step), heavy-tailed, each
    at least the minimum and at most the 50 % cap, summing exactly to ``total``."""
    rng = random.Random(seed)
    steps, odd = divmod(total, STEP)
    cap_steps = (total // 2) // STEP - 1
    weights = [rng.lognormvariate(0, 1) for _ in range(HOLDERS)]
    counts = [1] * HOLDERS
    for _ in range(steps - HOLDERS):
        i = rng.choices(range(HOLDERS), weights)[0]
        while counts[i] >= cap_steps:
            i = rng.randrange(HOLDERS)
        counts[i] += 1
    amounts = [c * STEP for c in counts]
    amounts[-1] += odd
    assert sum(amounts) == total
    assert max(amounts) <= total // 2 and min(amounts) >= STEP
    assert len(set(amounts)) >= 20 and max(amounts) >= 10 * min(amounts)  # uneven indeed
    return amounts


def _assert_r28(
    session_factory: sessionmaker[Session],
    investors: list[int],
    deposits: list[int],
    loans: list[tuple[int, oracle.Book, list[int]]],
) -> None:
    """R28: over each loan's life every investor received principal + allocated interest
    (+ prepayment fee, + penalty interest) − fees, to the fen — on their statements and in their money."""
    with session_factory() as session:
        for n, investor in enumerate(investors):
            expected_money = deposits[n]
            for loan_id, book, amounts in loans:
                mine = [r for h, r in book.received.items() if book.holders[h] == investor]
                principal = sum(r.principal for r in mine)
                interest = sum(r.interest for r in mine)
                prepayment_fee = sum(r.prepayment_fee for r in mine)
                penalty = sum(r.penalty for r in mine)
                fees = sum(
                    oracle.fen_times_rate(i, Decimal("0.10")) for i in _interest_shares(book, investor)
                )
                assert principal == amounts[n]  # every fen lent came back
                assert sum(r.fees for r in mine) == fees
                net = principal + interest + prepayment_fee + penalty - fees
                got = [
                    d for d in servicing.distributions_of_holder(session, investor) if d.loan_id == loan_id
                ]
                assert sum(d.net for d in got) == net
                expected_money += net - amounts[n]
            assert ledger.user_balances(session, investor) == ledger.Balances(expected_money, 0)


def _interest_shares(book: oracle.Book, investor: int) -> list[int]:
    return [s for h, shares in book.interest_log.items() if book.holders[h] == investor for s in shares]


@pytest.mark.parametrize("name", list(CASES))
def test_acceptance_fifty_holders_to_the_fen(
    session_factory: sessionmaker[Session], bank: SimulatedBank, name: str
) -> None:
    case = CASES[name]
    seed = list(CASES).index(name)
    amounts_early, amounts_full = uneven_amounts(LOAN_2, 100 + seed), uneven_amounts(LOAN_1, seed)[::-1]
    deposits = [max(a, b) for a, b in zip(amounts_early, amounts_full, strict=True)]
    investors = lending.make_investors(session_factory, bank, deposits)
    borrower = lending.make_borrower(session_factory, bank, balance=3_000_000)

    def listing(amount: int, **fees: Decimal) -> marketplace.NewListing:
        return lending.listing_terms(
            borrower,
            amount=amount,
            annual_rate=RATE,
            method=case.method,
            months=case.months,
            days=case.days,
            **fees,
        )

    # Loan 2 first: installments, then early repayment(s) mid-period, with a 1 % prepayment fee.
    early = lending.funded_loan(
        session_factory,
        bank,
        listing(LOAN_2, prepayment_fee_rate=Decimal("0.01")),
        list(zip(investors, amounts_early, strict=True)),
    )
    book_early = checks.book_of(session_factory, early)
    assert len(book_early.claims) == HOLDERS
    lending.assert_loan_sound(session_factory, early)
    for _ in range(case.paid_before):
        lending.go_to(lending.next_due_date(session_factory, early))
        checks.pay(session_factory, bank, early, borrower, book_early)
    if case.partial is not None:
        checks.go_after(lending.next_due_date(session_factory, early), -15)
        part = book_early.outstanding * 3 // 10
        checks.pay_early(
            session_factory, bank, early, borrower, book_early, principal=part, choice=case.partial
        )
        with session_factory() as session:
            current = [r for r in servicing.schedule(session, early) if r.status == "due"]
        assert sum(r.principal for r in current) == book_early.outstanding  # R20 after rescheduling
        lending.go_to(current[0].due_date)
        checks.pay(session_factory, bank, early, borrower, book_early)
    checks.go_after(lending.next_due_date(session_factory, early), -((case.days or 20) // 2))
    checks.pay_early(session_factory, bank, early, borrower, book_early)

    # Loan 1, listed the next day, bid by the same investors in reverse order, with a 0.3 %
    # monthly management fee: every installment on its due date, but one overdue and paid in
    # two parts (R32).
    checks.go_after(clock.today(), 1)
    full = lending.funded_loan(
        session_factory,
        bank,
        listing(LOAN_1, monthly_fee_rate=Decimal("0.003")),
        list(zip(reversed(investors), reversed(amounts_full), strict=True)),
    )
    book_full = checks.book_of(session_factory, full)
    assert len(book_full.claims) == HOLDERS
    lending.assert_loan_sound(session_factory, full)
    with session_factory() as session:
        rows = servicing.schedule(session, full)
    partial_at = rows[min(2, len(rows) - 1)].number
    for row in rows:
        if row.number != partial_at:
            lending.go_to(row.due_date)
            checks.pay(session_factory, bank, full, borrower, book_full)
            continue
        lending.go_to(row.due_date + timedelta(days=5))
        with session_factory() as session:
            owed = servicing.amount_due(session, full).total
        checks.pay(session_factory, bank, full, borrower, book_full, amount=owed * 2 // 5)
        checks.pay(session_factory, bank, full, borrower, book_full)

    with session_factory() as session:
        for loan_id in (early, full):
            loan = marketplace.get_loan(session, loan_id)
            assert (loan.status, loan.principal_outstanding) == ("settled", 0)
    _assert_r28(
        session_factory,
        investors,
        deposits,
        [(early, book_early, amounts_early), (full, book_full, amounts_full)],
    )
