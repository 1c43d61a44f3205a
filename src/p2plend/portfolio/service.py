"""分散投资: portfolio plans executed as ordinary bids, and an investor's concentration.

A **plan** (``execute_plan``) spreads an amount over the open listings of the chosen grades
whose rate is at least the plan's minimum, as evenly as the bid steps allow across the most
listings (``spread``), never more than the plan's most per loan, what remains on a listing or
the investor's room under its per-investor cap (DOMAIN.md §5), and never on a listing the
investor may not lend to (R15, R16: their tier; not their own loan). The bids are
``marketplace.place_bid`` calls — the same checks, freezes, ledger entries and audit lines as
a bid by hand — placed in the caller's one transaction with the plan that records them: the
plan and its bids commit together or not at all. A plan that can place nothing is refused
(``portfolio_plan_unplaceable``) and changes nothing.

Every listing the plan matched is kept as a line: the bid placed on it, or why none was.

**Concentration** (``concentration``) reads the investor's claims (outstanding principal):
the largest single exposure, exposure by grade and by borrower (names masked, R47), and a
warning for each borrower above ``settings.portfolio_borrower_share_warning`` [D 20 %].
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.errors import CustodyAccountRequired
from p2plend.errors import Conflict, DomainError, InsufficientFunds, InvalidInput, NotFound
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.money import yuan_str
from p2plend.portfolio.models import PortfolioPlan, PortfolioPlanLine
from p2plend.portfolio.spread import Slot, next_amount, spread
from p2plend.suitability import service as suitability

# Credit grades, best first. origination.vocabulary.GRADES is the source; origination sits in
# this package's layer, so it cannot be imported here (tests/portfolio keep the two equal).
GRADES: tuple[str, ...] = ("AA", "A", "B", "C", "D", "E", "HR")
# [D] DOMAIN.md §5: the platform's default minimum bid and bid step, 100 yuan each. A plan's
# amount and its most per loan are whole steps of at least one minimum bid; each listing's own
# minimum and step still apply to the bid placed on it.
PLAN_MIN_BID = 10_000
PLAN_STEP = 10_000
MAX_PLAN_LISTINGS = 500  # a plan considers the newest 500 open listings at most
SHARE_PLACES = Decimal("0.0001")

COMPLETE, PARTIAL = "complete", "partial"
PLACED = "placed"
# Why a matching listing got no bid.
OWN_LOAN = "own_loan"
NOT_SUITABLE = "risk_class_not_suitable"
CAP_REACHED = "investor_cap_reached"  # the investor's room under the listing's cap is too small
BELOW_MINIMUM = "bid_below_minimum"  # the plan's most per loan is below the listing's minimum bid
USED_UP = "amount_used_up"  # the plan's amount went to other listings first
SKIP_REASONS = (OWN_LOAN, NOT_SUITABLE, CAP_REACHED, BELOW_MINIMUM, USED_UP)
# Why part of the amount was not placed.
TIER_CAP = "risk_tier_cap"  # the tier's outstanding cap (R16) left less room than the amount
LISTINGS_FULL = "listings_full"  # the matching listings could take no more


class InvalidPlan(InvalidInput):
    """A plan's terms are refused; ``details.field`` names which."""

    code = "invalid_portfolio_plan"


class PlanUnplaceable(Conflict):
    """No matching listing could take a bid: nothing was placed or recorded."""

    code = "portfolio_plan_unplaceable"


class PlanNotFound(NotFound):
    code = "portfolio_plan_not_found"


@dataclass(frozen=True, slots=True)
class PlanTerms:
    amount: int
    min_rate: Decimal
    max_per_loan: int
    grades: tuple[str, ...]  # in GRADES order, each once


@dataclass(frozen=True, slots=True)
class PlanLine:
    loan_id: int
    title: str
    grade: str
    annual_rate: Decimal
    term_months: int | None
    term_days: int | None
    method: str
    amount: int  # the bid placed; 0 when none
    bid_id: int | None
    outcome: str  # placed, or why not


@dataclass(frozen=True, slots=True)
class PlanView:
    id: int
    investor_id: int
    terms: PlanTerms
    placed: int
    status: str
    unplaced_reason: str | None
    matching_listings: int
    created_at: datetime
    lines: tuple[PlanLine, ...]  # placed first (largest first), then the rest, by listing id

    @property
    def unplaced(self) -> int:
        return self.terms.amount - self.placed

    @property
    def bids(self) -> int:
        return sum(1 for line in self.lines if line.outcome == PLACED)


def _refuse(field: str, message: str) -> InvalidPlan:
    return InvalidPlan(message, details={"field": field})


def check_terms(*, amount: int, min_rate: Decimal, max_per_loan: int, grades: Sequence[str]) -> PlanTerms:
    """A plan's terms, or ``invalid_portfolio_plan`` naming the field at fault: the amount and
    the most per loan whole steps of 100 yuan, at least one minimum bid; the most per loan not
    above the amount; a minimum rate in [0, 1); at least one known grade."""
    if amount < PLAN_MIN_BID or amount % PLAN_STEP:
        raise _refuse(
            "amount",
            f"The amount is at least {yuan_str(PLAN_MIN_BID)} in steps of {yuan_str(PLAN_STEP)} yuan.",
        )
    if max_per_loan < PLAN_MIN_BID or max_per_loan % PLAN_STEP:
        raise _refuse(
            "max_per_loan",
            f"The most per loan is at least {yuan_str(PLAN_MIN_BID)} in steps of {yuan_str(PLAN_STEP)} yuan.",
        )
    if max_per_loan > amount:
        raise _refuse("max_per_loan", "The most per loan cannot be more than the amount.")
    if not Decimal(0) <= min_rate < Decimal(1):
        raise _refuse("min_rate", "The minimum rate is a yearly rate from 0 up to (not including) 1.")
    if min_rate != min_rate.quantize(Decimal("0.000001")):
        raise _refuse("min_rate", "The minimum rate has at most six decimals.")
    unknown = [g for g in grades if g not in GRADES]
    if unknown or not grades:
        raise _refuse("grades", f"Choose one or more grades among {', '.join(GRADES)}.")
    return PlanTerms(amount, min_rate, max_per_loan, tuple(g for g in GRADES if g in set(grades)))


# --- executing a plan ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    loan: Loan
    slot: Slot | None  # None: the investor may not bid here
    reason: str | None


def execute_plan(session: Session, investor_id: int, terms: PlanTerms) -> PlanView:
    """Spread ``terms.amount`` over the matching open listings now, as ordinary bids.

    Refusals before anything is placed: ``real_name_required`` (R14),
    ``custody_account_required``, ``risk_assessment_required`` / ``_expired`` (R15),
    ``insufficient_funds`` (less available than the amount), ``portfolio_plan_unplaceable``.
    """
    identity.verified_identity(session, investor_id)
    if custody.custody_account_of(session, investor_id) is None:
        raise CustodyAccountRequired("Open your custody account before lending.")
    assessment = suitability.require_valid_assessment(session, investor_id)
    available = ledger.user_balances(session, investor_id).available
    if available < terms.amount:
        raise InsufficientFunds(
            "Your available balance is less than the plan's amount.",
            details={"available": yuan_str(available), "amount": yuan_str(terms.amount)},
        )
    candidates = [
        _candidate(session, loan, investor_id, assessment, terms) for loan in _matching(session, terms)
    ]
    budget = terms.amount
    cap = suitability.tier_cap_fen(assessment.tier)
    if cap is not None:
        budget = max(0, min(budget, cap - marketplace.lending_outstanding(session, investor_id)))
    slots = [c.slot for c in candidates if c.slot is not None]
    given = spread(budget, terms.max_per_loan, slots)
    lines: list[tuple[Loan, int, int | None, str]] = []  # loan, amount, bid id, outcome
    for candidate in candidates:
        amount = given.get(candidate.loan.id, 0)
        if candidate.reason is not None or amount == 0:
            lines.append((candidate.loan, 0, None, candidate.reason or USED_UP))
            continue
        lines.append(_place(session, investor_id, candidate.loan, amount))
    placed = sum(amount for _, amount, _, _ in lines)
    if placed == 0:
        reasons: dict[str, int] = {}
        for _, _, _, outcome in lines:
            reasons[outcome] = reasons.get(outcome, 0) + 1
        if budget == 0:
            reasons[TIER_CAP] = 1
        raise PlanUnplaceable(
            "No open listing matching the plan could take a bid.",
            details={"matching_listings": len(candidates), "reasons": reasons},
        )
    reason = None if placed == terms.amount else (TIER_CAP if budget < terms.amount else LISTINGS_FULL)
    plan = PortfolioPlan(
        investor_id=investor_id,
        amount=terms.amount,
        min_rate=terms.min_rate,
        max_per_loan=terms.max_per_loan,
        grades=",".join(terms.grades),
        placed=placed,
        status=COMPLETE if reason is None else PARTIAL,
        unplaced_reason=reason,
        matching_listings=len(candidates),
        created_at=clock.now(),
    )
    session.add(plan)
    session.flush()
    session.add_all(
        PortfolioPlanLine(plan_id=plan.id, loan_id=loan.id, bid_id=bid_id, amount=amount, outcome=outcome)
        for loan, amount, bid_id, outcome in lines
    )
    session.flush()
    audit.record(
        session,
        actor_id=investor_id,
        action="portfolio_plan.executed",
        object_type="portfolio_plan",
        object_id=plan.id,
        details={
            "amount": yuan_str(terms.amount),
            "placed": yuan_str(placed),
            "bids": [bid_id for _, _, bid_id, _ in lines if bid_id is not None],
            "status": plan.status,
        },
    )
    return _view(session, plan)


def _matching(session: Session, terms: PlanTerms) -> list[Loan]:
    """The open listings of the plan's grades at or above its rate, locked in id order (so
    plans never deadlock one another) and read afresh under the lock."""
    listed = marketplace.loans(session, statuses=[marketplace.OPEN], limit=MAX_PLAN_LISTINGS)
    ids = sorted(
        loan.id
        for loan in listed
        if loan.grade in terms.grades and Decimal(loan.annual_rate) >= terms.min_rate
    )
    now = clock.now()
    matching = []
    for loan_id in ids:
        loan = marketplace.lock_loan(session, loan_id)
        taking_bids = loan.status == marketplace.OPEN and loan.deadline is not None and loan.deadline > now
        if taking_bids and loan.funded < loan.amount:
            matching.append(loan)
    return matching


def _candidate(
    session: Session, loan: Loan, investor_id: int, assessment: suitability.Assessment, terms: PlanTerms
) -> _Candidate:
    if investor_id in (loan.borrower_id, loan.guarantor_id):
        return _Candidate(loan, None, OWN_LOAN)
    if not suitability.may_lend(assessment.tier, loan.risk_class):
        return _Candidate(loan, None, NOT_SUITABLE)
    mine = sum(
        b.amount
        for b in marketplace.bids_of_loan(session, loan.id)
        if b.investor_id == investor_id and b.status == "frozen"
    )
    slot = Slot(
        loan_id=loan.id,
        annual_rate=Decimal(loan.annual_rate),
        min_bid=loan.min_bid,
        bid_step=plan_step(loan.bid_step),
        remaining=loan.amount - loan.funded,
        room=marketplace.investor_cap(loan) - mine,
    )
    if next_amount(slot, 0, terms.max_per_loan) is not None:
        return _Candidate(loan, slot, None)
    unlimited = Slot(
        slot.loan_id, slot.annual_rate, slot.min_bid, slot.bid_step, slot.remaining, slot.remaining
    )
    reason = CAP_REACHED if next_amount(unlimited, 0, terms.max_per_loan) is not None else BELOW_MINIMUM
    return _Candidate(loan, None, reason)


def plan_step(bid_step: int) -> int:
    """The step a plan bids in on a listing: its own step when that is 100 yuan or more, else
    the smallest multiple of it from 100 yuan up (still a whole number of the listing's steps).
    It keeps a plan's work proportional to its amount in hundreds of yuan, whatever the step."""
    return bid_step * -(-PLAN_STEP // bid_step)


def _place(session: Session, investor_id: int, loan: Loan, amount: int) -> tuple[Loan, int, int | None, str]:
    """One bid, in a savepoint: a refusal the plan did not foresee is recorded with the
    marketplace's own code, and the plan goes on with the other listings."""
    try:
        with session.begin_nested():
            bid = marketplace.place_bid(
                session, investor_id=investor_id, loan_id=loan.id, amount=amount, fill_remaining=False
            )
    except DomainError as exc:
        return loan, 0, None, exc.code
    return loan, bid.amount, bid.id, PLACED


# --- reading plans --------------------------------------------------------------------------


def plans_of(session: Session, investor_id: int, *, limit: int = 50) -> list[PlanView]:
    """The investor's plans, newest first."""
    rows = session.scalars(
        select(PortfolioPlan)
        .where(PortfolioPlan.investor_id == investor_id)
        .order_by(PortfolioPlan.id.desc())
        .limit(max(1, min(limit, 500)))
    ).all()
    return [_view(session, row) for row in rows]


def plan_of(session: Session, investor_id: int, plan_id: int) -> PlanView:
    """One of the investor's plans; another's is not found."""
    row = session.get(PortfolioPlan, plan_id)
    if row is None or row.investor_id != investor_id:
        raise PlanNotFound("No such portfolio plan.", details={"plan_id": plan_id})
    return _view(session, row)


def _view(session: Session, plan: PortfolioPlan) -> PlanView:
    rows = session.scalars(select(PortfolioPlanLine).where(PortfolioPlanLine.plan_id == plan.id)).all()
    lines = []
    for row in rows:
        loan = marketplace.get_loan(session, row.loan_id)
        lines.append(
            PlanLine(
                loan_id=loan.id,
                title=loan.title,
                grade=loan.grade,
                annual_rate=Decimal(loan.annual_rate),
                term_months=loan.term_months,
                term_days=loan.term_days,
                method=loan.method,
                amount=row.amount,
                bid_id=row.bid_id,
                outcome=row.outcome,
            )
        )
    lines.sort(key=lambda line: (line.outcome != PLACED, -line.amount, line.loan_id))
    return PlanView(
        id=plan.id,
        investor_id=plan.investor_id,
        terms=PlanTerms(
            plan.amount,
            Decimal(plan.min_rate),
            plan.max_per_loan,
            tuple(g for g in plan.grades.split(",") if g),
        ),
        placed=plan.placed,
        status=plan.status,
        unplaced_reason=plan.unplaced_reason,
        matching_listings=plan.matching_listings,
        created_at=plan.created_at,
        lines=tuple(lines),
    )


# --- concentration ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoanExposure:
    loan_id: int
    title: str
    grade: str
    borrower_name_masked: str
    amount: int  # the investor's outstanding principal in this loan
    share: Decimal  # of the investor's outstanding, to 0.01 %


@dataclass(frozen=True, slots=True)
class GradeExposure:
    grade: str
    loans: int
    amount: int
    share: Decimal


@dataclass(frozen=True, slots=True)
class BorrowerExposure:
    borrower_id: int  # staff only: investors see the masked name and the loans
    borrower_name_masked: str
    loan_ids: tuple[int, ...]
    amount: int
    share: Decimal
    above_threshold: bool


@dataclass(frozen=True, slots=True)
class Concentration:
    total: int  # the investor's outstanding principal
    threshold: Decimal  # a borrower above this share is warned about
    largest_loan: LoanExposure | None
    largest_borrower: BorrowerExposure | None
    by_grade: tuple[GradeExposure, ...]  # in grade order, only grades held
    by_borrower: tuple[BorrowerExposure, ...]  # largest first

    @property
    def warnings(self) -> tuple[BorrowerExposure, ...]:
        return tuple(b for b in self.by_borrower if b.above_threshold)


def share_of(amount: int, total: int) -> Decimal:
    """``amount / total`` to 0.0001 (0.01 %), half up; 0 when there is no total."""
    if total <= 0:
        return Decimal(0)
    return (Decimal(amount) / Decimal(total)).quantize(SHARE_PLACES, rounding=ROUND_HALF_UP)


def masked_borrower(loan: Loan) -> str:
    """The borrower's name as the loan's disclosure shows it, already masked (R47)."""
    value = loan.disclosure.get("borrower_name_masked") if isinstance(loan.disclosure, dict) else None
    return value if isinstance(value, str) and value else "—"


def concentration(session: Session, holder_id: int) -> Concentration:
    """The investor's exposure from their live claims (outstanding principal).

    A borrower is *above the threshold* when their share is strictly more than
    ``settings.portfolio_borrower_share_warning``, compared exactly (not on the rounded share)."""
    threshold = Decimal(get_settings().portfolio_borrower_share_warning)
    by_loan: dict[int, int] = {}
    for holding in marketplace.holdings_of_holder(session, holder_id):
        if holding.principal_outstanding > 0:
            by_loan[holding.loan_id] = by_loan.get(holding.loan_id, 0) + holding.principal_outstanding
    total = sum(by_loan.values())
    loans = {loan_id: marketplace.get_loan(session, loan_id) for loan_id in sorted(by_loan)}
    per_loan = sorted(
        (
            LoanExposure(
                loan_id=loan.id,
                title=loan.title,
                grade=loan.grade,
                borrower_name_masked=masked_borrower(loan),
                amount=by_loan[loan.id],
                share=share_of(by_loan[loan.id], total),
            )
            for loan in loans.values()
        ),
        key=lambda e: (-e.amount, e.loan_id),
    )
    grades: dict[str, list[int]] = {}
    borrowers: dict[int, list[int]] = {}
    for loan in loans.values():
        grades.setdefault(loan.grade, []).append(loan.id)
        borrowers.setdefault(loan.borrower_id, []).append(loan.id)
    order = {grade: i for i, grade in enumerate(GRADES)}
    by_grade = tuple(
        GradeExposure(
            grade=grade,
            loans=len(ids),
            amount=sum(by_loan[i] for i in ids),
            share=share_of(sum(by_loan[i] for i in ids), total),
        )
        for grade, ids in sorted(grades.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    )
    by_borrower = tuple(
        sorted(
            (
                BorrowerExposure(
                    borrower_id=borrower_id,
                    borrower_name_masked=masked_borrower(loans[ids[0]]),
                    loan_ids=tuple(ids),
                    amount=sum(by_loan[i] for i in ids),
                    share=share_of(sum(by_loan[i] for i in ids), total),
                    above_threshold=Decimal(sum(by_loan[i] for i in ids)) > threshold * total,
                )
                for borrower_id, ids in borrowers.items()
            ),
            key=lambda b: (-b.amount, b.loan_ids[0]),
        )
    )
    return Concentration(
        total=total,
        threshold=threshold,
        largest_loan=per_loan[0] if per_loan else None,
        largest_borrower=by_borrower[0] if by_borrower else None,
        by_grade=by_grade,
        by_borrower=by_borrower,
    )
