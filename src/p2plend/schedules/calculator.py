"""The public repayment calculator (借款计算器) and returns calculator (收益计算器).

One place reads what a person typed (a method name, a yuan amount, a rate, a term, a
start date) into :class:`~p2plend.schedules.service.Terms`, and one place turns a
schedule into the JSON shape the CLI (``p2plend calc --json``) and the API
(``POST /api/v1/calculator/schedule``) both print. The math is ``build_schedule``'s:
nothing here computes an installment.

Refusals are the domain's: ``invalid_amount`` for the principal (``money.parse_amount``),
``invalid_loan_terms`` for everything else about the loan, ``invalid_input`` for the
investor's fee rate; ``details["field"]`` names the input at fault.

The returns calculator shows an investor holding the whole loan. Real receipts derive
from the borrower's schedule split among the holders (DOMAIN.md §3), so a holder of part
of a loan may see a fen more or less per installment than a pro-rata reading of this.
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypedDict

from p2plend import clock
from p2plend.errors import InvalidInput
from p2plend.money import Fen, fen_times_rate, parse_amount, yuan_str
from p2plend.schedules.service import (
    MAX_MONTHS,
    Installment,
    InvalidTerms,
    Method,
    Terms,
    build_schedule,
)

# The calculator's spelling of the methods (the CLI's and the API's): hyphens, not underscores.
METHOD_NAMES: dict[str, Method] = {
    "equal-installment": Method.EQUAL_INSTALLMENT,  # 等额本息
    "equal-principal": Method.EQUAL_PRINCIPAL,  # 等额本金
    "interest-first": Method.INTEREST_FIRST,  # 先息后本
    "bullet": Method.BULLET,  # 一次性还本付息
}
MAX_CALC_DAYS = 3650  # a day-based bullet runs at most ten years
# [D] The investor management fee (利息管理费): 10 % of the interest received (DOMAIN.md §4).
DEFAULT_INVESTOR_FEE_RATE = Decimal("0.10")
# Dates the calculator accepts as a start date: every due date stays a real date.
EARLIEST_START = date(1900, 1, 1)
LATEST_START = date(2199, 12, 31)

# A rate: digits, optionally a point and at most 8 more digits. No sign, exponent or percent sign.
_RATE_RE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,8})?$")
_COUNT_RE = re.compile(r"^[0-9]{1,6}$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _shown(value: object) -> str:
    """The refused input for ``details``: a string as typed (cut short), anything else as its repr."""
    return value[:40] if isinstance(value, str) else repr(value)[:40]


def method_name(method: Method) -> str:
    """The calculator's spelling of ``method``: ``Method.EQUAL_INSTALLMENT`` → ``"equal-installment"``."""
    return method.value.replace("_", "-")


def parse_method(text: object) -> Method:
    """``equal-installment``, ``equal-principal``, ``interest-first`` or ``bullet``."""
    method = METHOD_NAMES.get(text) if isinstance(text, str) else None
    if method is None:
        raise InvalidTerms(
            f"The method must be one of {', '.join(METHOD_NAMES)}.",
            details={"field": "method", "value": _shown(text)},
        )
    return method


def parse_rate(text: object, *, field: str = "annual_rate", percent: bool = False) -> Decimal:
    """A rate typed as a decimal string (``"0.12"``; with ``percent``, ``"12"`` for 12 %) into a
    ``Decimal`` fraction, at least 0 and below 1. Never a float."""
    error = InvalidTerms if field == "annual_rate" else InvalidInput
    example = '"12" for 12 %' if percent else '"0.12" for 12 %'
    if isinstance(text, bool) or not isinstance(text, str) or not _RATE_RE.fullmatch(text):
        raise error(
            f"The {field.replace('_', ' ')} must be a decimal string such as {example}.",
            details={"field": field, "value": _shown(text)},
        )
    rate = Decimal(text) / 100 if percent else Decimal(text)
    if not Decimal(0) <= rate < Decimal(1):
        raise error(
            f"The {field.replace('_', ' ')} must be at least 0 and below {'100' if percent else '1'}.",
            details={"field": field, "value": text},
        )
    return rate


def rate_str(rate: Decimal) -> str:
    """A rate as a plain string without trailing zeros: ``Decimal("0.1200")`` → ``"0.12"``."""
    return format(rate.normalize(), "f")


def parse_start_date(text: object) -> date:
    """``YYYY-MM-DD``, a real date between 1900 and 2199."""
    if isinstance(text, date):
        day = text
    else:
        if not isinstance(text, str) or not _DATE_RE.fullmatch(text):
            raise _bad_date(text)
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise _bad_date(text) from exc
    if not EARLIEST_START <= day <= LATEST_START:
        raise InvalidTerms(
            f"The start date must be between {EARLIEST_START} and {LATEST_START}.",
            details={"field": "start_date", "value": day.isoformat()},
        )
    return day


def _bad_date(text: object) -> InvalidTerms:
    return InvalidTerms(
        "The start date must be a real date written YYYY-MM-DD.",
        details={"field": "start_date", "value": _shown(text)},
    )


def _count(value: object, field: str, maximum: int) -> int:
    """A whole number of months or days, 1 to ``maximum``: an int, or a string of digits."""
    unit = field  # "months" or "days"
    if isinstance(value, str) and _COUNT_RE.fullmatch(value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise InvalidTerms(
            f"The term must be a whole number of {unit}.", details={"field": field, "value": _shown(value)}
        )
    if not 1 <= number <= maximum:
        raise InvalidTerms(
            f"The term must be 1 to {maximum} {unit}.", details={"field": field, "value": number}
        )
    return number


def parse_term(
    method: Method, *, months: object = None, days: object = None
) -> tuple[int | None, int | None]:
    """Months (1–360), or days (1–3650) for a bullet: exactly one of them."""
    if (months is None) == (days is None):
        raise InvalidTerms(
            "Give the term either in months or in days (days: bullet only), not both.",
            details={"field": "term"},
        )
    if days is not None and method is not Method.BULLET:
        raise InvalidTerms(
            "Only a bullet loan may run a number of days; give the term in months.",
            details={"field": "days", "value": _shown(days)},
        )
    if months is not None:
        return _count(months, "months", MAX_MONTHS), None
    return None, _count(days, "days", MAX_CALC_DAYS)


def read_terms(
    *,
    method: object,
    principal: object,
    annual_rate: object,
    months: object = None,
    days: object = None,
    start_date: object = None,
    percent: bool = False,
) -> Terms:
    """The calculator's input as loan terms, or the first refusal (method, principal, rate,
    term, start date — in that order). ``start_date`` defaults to the business date;
    ``percent`` reads the rate as a percentage (the web form's "12" for 12 %)."""
    chosen = parse_method(method)
    amount = parse_amount(principal)
    rate = parse_rate(annual_rate, percent=percent)
    n_months, n_days = parse_term(chosen, months=months, days=days)
    value_date = clock.today() if start_date is None else parse_start_date(start_date)
    return Terms(amount, rate, chosen, value_date, months=n_months, days=n_days)


# --- the borrower's schedule (借款计算器) -------------------------------------------------


class InstallmentView(TypedDict):
    period: int
    due_date: str
    payment: str
    principal: str
    interest: str
    remaining_principal: str


class ScheduleView(TypedDict):
    method: str
    principal: str
    annual_rate: str
    start_date: str
    installments: list[InstallmentView]
    total_payment: str
    total_interest: str


def schedule_view(terms: Terms, rows: list[Installment] | None = None) -> ScheduleView:
    """The borrower's schedule as JSON-ready values: money as two-decimal yuan strings."""
    rows = build_schedule(terms) if rows is None else rows
    return {
        "method": method_name(terms.method),
        "principal": yuan_str(terms.principal),
        "annual_rate": rate_str(terms.annual_rate),
        "start_date": terms.value_date.isoformat(),
        "installments": [
            {
                "period": row.number,
                "due_date": row.due_date.isoformat(),
                "payment": yuan_str(row.payment),
                "principal": yuan_str(row.principal),
                "interest": yuan_str(row.interest),
                "remaining_principal": yuan_str(row.remaining_principal),
            }
            for row in rows
        ],
        "total_payment": yuan_str(sum(row.payment for row in rows)),
        "total_interest": yuan_str(sum(row.interest for row in rows)),
    }


# --- the investor's returns (收益计算器) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReturnRow:
    """What the investor receives at one installment (fen)."""

    number: int
    due_date: date
    principal: Fen
    interest: Fen
    fee: Fen  # rd(interest × fee rate), never on principal (R27)

    @property
    def net_interest(self) -> Fen:
        return self.interest - self.fee

    @property
    def net(self) -> Fen:
        """Money received: principal + interest − fee."""
        return self.principal + self.interest - self.fee


@dataclass(frozen=True, slots=True)
class Returns:
    terms: Terms
    fee_rate: Decimal
    rows: list[ReturnRow]

    @property
    def total_principal(self) -> Fen:
        return sum(row.principal for row in self.rows)

    @property
    def total_interest(self) -> Fen:
        return sum(row.interest for row in self.rows)

    @property
    def total_fee(self) -> Fen:
        return sum(row.fee for row in self.rows)

    @property
    def total_net_interest(self) -> Fen:
        return self.total_interest - self.total_fee

    @property
    def total_net(self) -> Fen:
        return self.total_principal + self.total_net_interest


def investor_returns(terms: Terms, fee_rate: Decimal = DEFAULT_INVESTOR_FEE_RATE) -> Returns:
    """An investor holding the whole loan: each installment's principal and interest, the
    investor management fee rd(interest × rate) on the interest only (R27), and the net."""
    rows = [
        ReturnRow(
            row.number, row.due_date, row.principal, row.interest, fen_times_rate(row.interest, fee_rate)
        )
        for row in build_schedule(terms)
    ]
    return Returns(terms, fee_rate, rows)


class ReturnRowView(TypedDict):
    period: int
    due_date: str
    principal: str
    interest: str
    fee: str
    net_interest: str
    net: str


class ReturnsView(TypedDict):
    method: str
    amount: str
    annual_rate: str
    fee_rate: str
    start_date: str
    installments: list[ReturnRowView]
    total_principal: str
    total_interest: str
    total_fee: str
    total_net_interest: str
    total_net: str


def returns_view(returns: Returns) -> ReturnsView:
    """The investor's returns as JSON-ready values: money as two-decimal yuan strings."""
    terms = returns.terms
    return {
        "method": method_name(terms.method),
        "amount": yuan_str(terms.principal),
        "annual_rate": rate_str(terms.annual_rate),
        "fee_rate": rate_str(returns.fee_rate),
        "start_date": terms.value_date.isoformat(),
        "installments": [
            {
                "period": row.number,
                "due_date": row.due_date.isoformat(),
                "principal": yuan_str(row.principal),
                "interest": yuan_str(row.interest),
                "fee": yuan_str(row.fee),
                "net_interest": yuan_str(row.net_interest),
                "net": yuan_str(row.net),
            }
            for row in returns.rows
        ],
        "total_principal": yuan_str(returns.total_principal),
        "total_interest": yuan_str(returns.total_interest),
        "total_fee": yuan_str(returns.total_fee),
        "total_net_interest": yuan_str(returns.total_net_interest),
        "total_net": yuan_str(returns.total_net),
    }
