"""贷款市场报价利率 (LPR) and the legal cap on a borrower's cost (DOMAIN.md §4, R29).

The LPR table holds dated one-year LPR values (seeded with the published history; staff add
each new fixing). ``lpr_on(day)`` is the latest value effective on or before ``day``.

R29 — the borrower's annualised all-in cost::

    cost = annual rate
         + 12 × monthly management fee rate
         + service fee rate × 12 / term months     (day-based terms: × 365 / term days)

must not exceed 4 × the one-year LPR of the contract date. The one-time service fee, taken
at disbursement, is spread over the term (a 1 % fee on a 3-month loan costs 4 % a year). A
product version whose maximum rates could break the cap at its shortest term, or an
approval that breaks it, is refused with ``cost_above_legal_cap``.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.origination.errors import CostAboveLegalCap, InvalidLpr, LprDateTaken, LprMissing
from p2plend.origination.models import LprRate

LEGAL_CAP_MULTIPLE = Decimal(4)
MONTHS_PER_YEAR = Decimal(12)
DAYS_PER_YEAR = Decimal(365)
MAX_LPR = Decimal("0.2")
RATE_PLACES = Decimal("0.000001")  # NUMERIC(9, 6)


@dataclass(frozen=True, slots=True)
class LprView:
    id: int
    effective_date: date
    rate: Decimal
    created_at: datetime
    created_by: int | None


def plain(rate: Decimal) -> Decimal:
    """A stored NUMERIC rate without its padding zeros: ``0.030000`` → ``0.03`` (never ``3E-2``)."""
    value = Decimal(rate)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _view(row: LprRate) -> LprView:
    return LprView(row.id, row.effective_date, plain(row.rate), row.created_at, row.created_by)


def lpr_on(session: Session, day: date) -> Decimal:
    """The one-year LPR effective on ``day``: the latest fixing on or before it."""
    rate = session.scalars(
        select(LprRate.rate).where(LprRate.effective_date <= day).order_by(LprRate.effective_date.desc())
    ).first()
    if rate is None:
        raise LprMissing(
            "No one-year LPR is recorded on or before this date.", details={"date": day.isoformat()}
        )
    return plain(rate)


def lpr_history(session: Session) -> list[LprView]:
    """Every fixing, newest first."""
    rows = session.scalars(select(LprRate).order_by(LprRate.effective_date.desc())).all()
    return [_view(row) for row in rows]


def add_lpr(session: Session, *, actor_id: int | None, effective_date: date, rate: Decimal) -> LprView:
    """Record a new one-year LPR fixing (risk or operations staff; the console)."""
    if not Decimal(0) < rate < MAX_LPR or rate != rate.quantize(RATE_PLACES):
        raise InvalidLpr(
            "The LPR is a fraction above 0 and below 0.2 with at most six decimals (0.0300 = 3.00 %).",
            details={"rate": str(rate)},
        )
    row = LprRate(effective_date=effective_date, rate=rate, created_at=clock.now(), created_by=actor_id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise LprDateTaken(
            "An LPR is already recorded for this date.", details={"date": effective_date.isoformat()}
        ) from None
    audit.record(
        session,
        actor_id=actor_id,
        action="lpr.added",
        object_type="lpr",
        object_id=effective_date.isoformat(),
        details={"rate": rate},
    )
    return _view(row)


# --- R29 ----------------------------------------------------------------------------------------


def annualised_cost(
    *,
    annual_rate: Decimal,
    monthly_fee_rate: Decimal,
    service_fee_rate: Decimal,
    term_months: int | None = None,
    term_days: int | None = None,
) -> Decimal:
    """The borrower's annualised all-in cost (see the module docstring), exact."""
    if (term_months is None) == (term_days is None):
        raise ValueError("give the term in months or in days")
    if term_months is not None:
        fee_per_year = service_fee_rate * MONTHS_PER_YEAR / Decimal(term_months)
    else:
        assert term_days is not None
        fee_per_year = service_fee_rate * DAYS_PER_YEAR / Decimal(term_days)
    return annual_rate + MONTHS_PER_YEAR * monthly_fee_rate + fee_per_year


def legal_cap(session: Session, contract_date: date) -> tuple[Decimal, Decimal]:
    """``(cap, lpr)``: 4 × the one-year LPR effective on ``contract_date``."""
    lpr = lpr_on(session, contract_date)
    return LEGAL_CAP_MULTIPLE * lpr, lpr


def check_legal_cap(cost: Decimal, cap: Decimal, lpr: Decimal, **details: object) -> None:
    """R29: refuse a cost above the cap, saying by how much."""
    if cost > cap:
        raise CostAboveLegalCap(
            "The annualised all-in cost would exceed 4 × the one-year LPR.",
            details={
                "annualised_cost": str(plain(cost.quantize(RATE_PLACES))),
                "cap": str(plain(cap)),
                "lpr": str(plain(lpr)),
                **details,
            },
        )
