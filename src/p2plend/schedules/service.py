"""Repayment schedules for the four methods, interest for part of a period, early repayment.

Everything follows DOMAIN.md §2 exactly:

* P principal (fen), n months, R annual rate (``Decimal``), r = R/12 for every month
  whatever its length; interest of a period = rd(remaining principal × r).
* The last installment absorbs every rounding residue: its principal is exactly what
  remains, so the principals always sum to P (R20).
* Installment k falls on the value date's day of month, k months later, or on the
  month's last day when it lacks that day (R24) — always counted from the value date,
  so Jan 31 → Feb 28 → Mar 31.

Investors' flows are never computed here: they derive from the borrower's schedule by
splitting each payment (``money.allocate``, DOMAIN.md §3).
"""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from enum import StrEnum

from p2plend.errors import InvalidInput
from p2plend.money import Fen, round_fen

MONTHS_PER_YEAR = 12
DEFAULT_DAY_BASIS = 365  # [D] day-count basis of day-based bullets, a product parameter
MAX_MONTHS = 360
MAX_DAYS = 3660


class Method(StrEnum):
    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_FIRST = "interest_first"  # 先息后本
    BULLET = "bullet"  # 一次性还本付息


class PartialPrepaymentChoice(StrEnum):
    """After a partial early repayment the borrower keeps either the installment or the term."""

    SHORTER_TERM = "shorter_term"  # same installment, fewer installments
    LOWER_INSTALLMENT = "lower_installment"  # same term, smaller installments


@dataclass(frozen=True, slots=True)
class Terms:
    """What a loan contract fixes. A bullet runs ``months`` or, day-based, ``days``."""

    principal: Fen
    annual_rate: Decimal
    method: Method
    value_date: date
    months: int | None = None
    days: int | None = None
    day_basis: int = DEFAULT_DAY_BASIS


@dataclass(frozen=True, slots=True)
class Installment:
    number: int  # 1-based, continuing across a reschedule
    due_date: date
    principal: Fen
    interest: Fen
    remaining_principal: Fen  # after this installment is paid

    @property
    def payment(self) -> Fen:
        return self.principal + self.interest


@dataclass(frozen=True, slots=True)
class EarlySettlement:
    """What a borrower pays to end the loan today (DOMAIN.md §2.6, full repayment)."""

    principal: Fen
    interest: Fen  # accrued in the current period only: no further interest
    fee: Fen

    @property
    def total(self) -> Fen:
        return self.principal + self.interest + self.fee


class InvalidTerms(InvalidInput):
    code = "invalid_loan_terms"


# --- dates -------------------------------------------------------------------------------


def due_date(value_date: date, months_later: int) -> date:
    """The value date's day of month, ``months_later`` months on; the month's last day if
    it lacks that day (R24)."""
    month_index = value_date.month - 1 + months_later
    year, month = value_date.year + month_index // MONTHS_PER_YEAR, month_index % MONTHS_PER_YEAR + 1
    return date(year, month, min(value_date.day, calendar.monthrange(year, month)[1]))


def period_bounds(terms: Terms, number: int) -> tuple[date, date]:
    """The first and last day (exclusive end: the due date) of installment ``number``'s period."""
    if terms.method is Method.BULLET and terms.days is not None:
        return terms.value_date, terms.value_date + timedelta(days=terms.days)
    if terms.method is Method.BULLET:
        return terms.value_date, due_date(terms.value_date, _months(terms))
    return due_date(terms.value_date, number - 1), due_date(terms.value_date, number)


# --- schedules ---------------------------------------------------------------------------


def monthly_rate(annual_rate: Decimal) -> Decimal:
    return annual_rate / MONTHS_PER_YEAR


def period_interest(remaining: Fen, annual_rate: Decimal) -> Fen:
    """rd(remaining principal × r)."""
    return round_fen(Decimal(remaining) * monthly_rate(annual_rate))


def equal_installment_payment(principal: Fen, annual_rate: Decimal, months: int) -> Fen:
    """A = rd(P·r·(1+r)^n / ((1+r)^n − 1)); rd(P/n) when R = 0."""
    if annual_rate == 0:
        return round_fen(Decimal(principal) / months)
    with localcontext() as ctx:
        ctx.prec = 60  # far beyond the fen at any realistic P, r and n
        r = monthly_rate(annual_rate)
        growth = (1 + r) ** months
        return round_fen(Decimal(principal) * r * growth / (growth - 1))


def build_schedule(terms: Terms) -> list[Installment]:
    """The borrower's whole schedule from the value date."""
    _check(terms)
    if terms.method is Method.BULLET:
        return [_bullet(terms)]
    return continue_schedule(
        remaining=terms.principal,
        annual_rate=terms.annual_rate,
        method=terms.method,
        value_date=terms.value_date,
        first_number=1,
        count=_months(terms),
    )


def continue_schedule(
    *,
    remaining: Fen,
    annual_rate: Decimal,
    method: Method,
    value_date: date,
    first_number: int,
    count: int,
    installment: Fen | None = None,
) -> list[Installment]:
    """``count`` monthly installments from number ``first_number`` on ``remaining`` principal.

    ``installment`` fixes the equal installment (equal-installment loans) or the principal
    part (equal-principal loans) instead of deriving it from ``remaining`` and ``count``;
    a reschedule that keeps the installment passes it. The last installment takes exactly
    what remains.
    """
    if method is Method.BULLET:
        raise InvalidTerms("A bullet loan has one installment; it is not continued month by month.")
    rows: list[Installment] = []
    level = installment if installment is not None else _level(method, remaining, annual_rate, count)
    for offset in range(count):
        number = first_number + offset
        interest = period_interest(remaining, annual_rate)
        last = offset == count - 1
        principal = remaining if last else min(_principal_part(method, level, interest), remaining)
        remaining -= principal
        rows.append(Installment(number, due_date(value_date, number), principal, interest, remaining))
    return rows


def _level(method: Method, remaining: Fen, annual_rate: Decimal, count: int) -> Fen:
    if method is Method.EQUAL_INSTALLMENT:
        return equal_installment_payment(remaining, annual_rate, count)
    if method is Method.EQUAL_PRINCIPAL:
        return round_fen(Decimal(remaining) / count)
    return 0  # interest first: no principal before the last installment


def _principal_part(method: Method, level: Fen, interest: Fen) -> Fen:
    if method is Method.EQUAL_INSTALLMENT:
        return max(level - interest, 0)
    return level


def _bullet(terms: Terms) -> Installment:
    if terms.days is not None:
        interest = accrued_bullet_interest_by_days(
            terms.principal, terms.annual_rate, terms.days, terms.day_basis
        )
        due = terms.value_date + timedelta(days=terms.days)
    else:
        months = _months(terms)
        interest = _bullet_interest_by_months(terms.principal, terms.annual_rate, months)
        due = due_date(terms.value_date, months)
    return Installment(1, due, terms.principal, interest, 0)


def _bullet_interest_by_months(principal: Fen, annual_rate: Decimal, months: int) -> Fen:
    """rd(P·R·m/12)."""
    return round_fen(Decimal(principal) * annual_rate * months / MONTHS_PER_YEAR)


def _months(terms: Terms) -> int:
    if terms.months is None:
        raise InvalidTerms("The loan's term in months is missing.")
    return terms.months


def _check(terms: Terms) -> None:
    if terms.principal <= 0:
        raise InvalidTerms("The principal must be positive.")
    if not Decimal(0) <= terms.annual_rate < Decimal(1):
        raise InvalidTerms("The annual rate must be at least 0 and below 100 %.")
    if terms.method is Method.BULLET and terms.days is not None:
        if terms.months is not None:
            raise InvalidTerms("A bullet loan runs either months or days, not both.")
        if not 1 <= terms.days <= MAX_DAYS:
            raise InvalidTerms(f"A day-based term must be 1 to {MAX_DAYS} days.")
        if terms.day_basis not in (360, 365):
            raise InvalidTerms("The day basis is 360 or 365.")
        return
    if terms.days is not None:
        raise InvalidTerms("Only a bullet loan may run a number of days.")
    if terms.months is None or not 1 <= terms.months <= MAX_MONTHS:
        raise InvalidTerms(f"The term must be 1 to {MAX_MONTHS} months.")


# --- part of a period (§2.5) ------------------------------------------------------------


def accrued_interest(period_interest_fen: Fen, period_start: date, period_end: date, on: date) -> Fen:
    """rd(Z·D1/D2): ``period_interest_fen`` (Z) for the days from the period's start to ``on``.

    D1 counts from the last due date (or the value date) to ``on``; D2 is the period's length.
    """
    if not period_start <= on <= period_end or period_end <= period_start:
        raise InvalidTerms("The calculation date must fall inside the period.")
    elapsed, length = (on - period_start).days, (period_end - period_start).days
    return round_fen(Decimal(period_interest_fen) * elapsed / length)


def accrued_bullet_interest_by_days(principal: Fen, annual_rate: Decimal, days: int, day_basis: int) -> Fen:
    """rd(P·R·D1/basis), for day-based bullets."""
    return round_fen(Decimal(principal) * annual_rate * days / day_basis)


# --- early repayment (§2.6) ---------------------------------------------------------------


def current_installment(schedule: list[Installment], on: date) -> Installment:
    """The first installment whose due date is after ``on``: the period ``on`` falls in."""
    for row in schedule:
        if row.due_date > on:
            return row
    raise InvalidTerms("The loan is past its last due date: nothing is repaid early.")


def full_early_repayment(
    terms: Terms, schedule: list[Installment], on: date, *, fee_rate: Decimal = Decimal(0)
) -> EarlySettlement:
    """Remaining principal + the current period's accrued interest + the prepayment fee.

    ``schedule`` is the loan's current schedule with every installment due on or before
    ``on`` already paid.
    """
    row = current_installment(schedule, on)
    remaining = row.principal + row.remaining_principal
    start, end = period_bounds(terms, row.number)
    if terms.method is Method.BULLET and terms.days is not None:
        interest = accrued_bullet_interest_by_days(
            remaining, terms.annual_rate, (on - start).days, terms.day_basis
        )
    else:
        interest = accrued_interest(row.interest, start, end, on)
    return EarlySettlement(remaining, interest, round_fen(Decimal(remaining) * fee_rate))


@dataclass(frozen=True, slots=True)
class PartialPrepayment:
    """A partial early repayment: what is paid today and the schedule from then on."""

    principal: Fen
    interest: Fen  # the current period's interest accrued on the prepaid principal
    fee: Fen
    schedule: list[Installment]  # from the current installment on, on the reduced principal


def partial_early_repayment(
    terms: Terms,
    schedule: list[Installment],
    on: date,
    amount: Fen,
    choice: PartialPrepaymentChoice,
    *,
    fee_rate: Decimal = Decimal(0),
) -> PartialPrepayment:
    """Pay ``amount`` of principal down today; the rest of the loan follows the same method.

    The prepaid principal carries its interest for the days of the current period already
    run; the remaining principal pays a full period's interest at the next due date.
    """
    row = current_installment(schedule, on)
    remaining = row.principal + row.remaining_principal
    if not 0 < amount < remaining:
        raise InvalidTerms("A partial repayment is more than nothing and less than the remaining principal.")
    if (
        terms.method in (Method.BULLET, Method.INTEREST_FIRST)
        and choice is PartialPrepaymentChoice.SHORTER_TERM
    ):
        raise InvalidTerms("Only equal-installment and equal-principal loans can shorten their term.")
    start, end = period_bounds(terms, row.number)
    fee = round_fen(Decimal(amount) * fee_rate)
    if terms.method is Method.BULLET:
        return _partial_bullet(terms, row, on, amount, fee=fee)
    interest = accrued_interest(period_interest(amount, terms.annual_rate), start, end, on)
    rows_left = len(schedule) - schedule.index(row)
    left = remaining - amount
    if choice is PartialPrepaymentChoice.LOWER_INSTALLMENT:
        count, level = rows_left, None
    else:
        level = _kept_level(terms, schedule)
        count = _installments_needed(terms.method, left, terms.annual_rate, level, rows_left)
    new_rows = continue_schedule(
        remaining=left,
        annual_rate=terms.annual_rate,
        method=terms.method,
        value_date=terms.value_date,
        first_number=row.number,
        count=count,
        installment=level,
    )
    return PartialPrepayment(amount, interest, fee, new_rows)


def _partial_bullet(terms: Terms, row: Installment, on: date, amount: Fen, *, fee: Fen) -> PartialPrepayment:
    """The prepaid part carries its interest to today; what is left keeps the bullet's terms."""
    start, end = period_bounds(terms, row.number)
    left = row.principal - amount
    if terms.days is not None:
        interest = accrued_bullet_interest_by_days(
            amount, terms.annual_rate, (on - start).days, terms.day_basis
        )
        new_interest = accrued_bullet_interest_by_days(left, terms.annual_rate, terms.days, terms.day_basis)
    else:
        months = _months(terms)
        interest = accrued_interest(
            _bullet_interest_by_months(amount, terms.annual_rate, months), start, end, on
        )
        new_interest = _bullet_interest_by_months(left, terms.annual_rate, months)
    return PartialPrepayment(amount, interest, fee, [Installment(1, row.due_date, left, new_interest, 0)])


def _kept_level(terms: Terms, schedule: list[Installment]) -> Fen:
    """The installment (or principal part) the borrower keeps: the first full one of the schedule."""
    first = schedule[0]
    return first.payment if terms.method is Method.EQUAL_INSTALLMENT else first.principal


def _installments_needed(method: Method, left: Fen, annual_rate: Decimal, level: Fen, at_most: int) -> int:
    """Fewest installments of ``level`` that repay ``left`` (the last takes the rest)."""
    count, remaining = 0, left
    while remaining > 0 and count < at_most:
        count += 1
        interest = period_interest(remaining, annual_rate)
        remaining -= _principal_part(method, level, interest)
    return max(count, 1)
