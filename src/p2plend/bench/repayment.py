"""``repayment``: one installment of a loan with N holders — split, N+1 ledger legs, N
distribution rows, N holdings updated, one batch instruction to the bank — against the
baseline of posting N plain two-leg ledger transfers in one transaction."""

import statistics
import time
from collections.abc import Callable

from p2plend.bench.report import Report
from p2plend.bench.world import World, open_listing, person, risk_officer, world
from p2plend.db import transaction
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.servicing import service as servicing

LENT = 100_000  # 1,000.00 yuan from each holder


def repayment(*, holders: int = 100, rounds: int = 6, db: str | None = None) -> Report:
    """Time ``servicing.repay`` on a loan held by ``holders`` investors (a fresh database)."""
    with world(db) as w:
        investors = [person(w, n, deposit=LENT * 2) for n in range(holders)]
        borrower = person(w, 99_998, deposit=10_000_000, borrower=True)
        loan_id = _funded_loan(w, borrower, investors, months=rounds)
        act = statistics.median(_timed_rounds(w, loan_id, borrower, rounds))
        baseline = statistics.median(_baseline(w, investors, borrower, n) for n in range(rounds))
    return Report(
        f"bench repayment: {holders} holders, {rounds} rounds (medians)",
        [
            ("act", f"{act:9.1f} ms  (repay one installment and distribute it)"),
            ("baseline", f"{baseline:9.1f} ms  ({holders} plain two-leg ledger transfers)"),
            ("ratio", f"{act / baseline:9.2f}"),
        ],
        {"act_ms": round(act, 2), "baseline_ms": round(baseline, 2), "ratio": round(act / baseline, 3)},
    )


def _timed_rounds(w: World, loan_id: int, borrower: int, rounds: int) -> list[float]:
    timings = []
    for _ in range(rounds):
        with transaction(w.factory) as session:
            due = servicing.amount_due(session, loan_id).installments[0].due_date
        w.clock.set_business_date(due)
        timings.append(_ms(lambda: _repay(w, loan_id, borrower)))
    return timings


def _repay(w: World, loan_id: int, borrower: int) -> None:
    with transaction(w.factory) as session:
        servicing.repay(session, loan_id, payer_id=borrower, custodian=w.bank)


def _baseline(w: World, investors: list[int], borrower: int, n: int) -> float:
    def act() -> None:
        with transaction(w.factory) as session:
            for investor in investors:
                ledger.transfer(
                    session,
                    kind="bench",
                    source=ledger.user_available(borrower),
                    destination=ledger.user_available(investor),
                    amount=1,
                    idempotency_key=f"bench:{n}:{investor}",
                )

    return _ms(act)


def _ms(act: Callable[[], None]) -> float:
    start = time.perf_counter()
    act()
    return (time.perf_counter() - start) * 1000


def _funded_loan(w: World, borrower: int, investors: list[int], *, months: int) -> int:
    loan_id = open_listing(w, borrower, amount=LENT * len(investors), min_bid=LENT, months=months)
    for investor in investors:
        with transaction(w.factory) as session:
            marketplace.place_bid(session, investor_id=investor, loan_id=loan_id, amount=LENT)
    officer = risk_officer(w)
    with transaction(w.factory) as session:
        servicing.disburse_loan(session, loan_id, w.bank, actor_id=officer)
    return loan_id
