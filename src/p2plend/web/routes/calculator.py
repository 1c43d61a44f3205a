"""借款计算器 and 收益计算器: public pages, a GET form, the platform's own repayment math.

The form is read by ``schedules.calculator`` (the parsers the CLI and the API use) and the
schedule comes from ``build_schedule``; nothing is stored. Every refusal is shown next to
its field, all of them at once, in the visitor's language. The rate is typed as a
percentage ("12" for 12 %), as people read rates.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from p2plend import clock
from p2plend.errors import DomainError
from p2plend.money import parse_amount
from p2plend.schedules import calculator
from p2plend.schedules.service import Method, Terms, build_schedule
from p2plend.web.auth import OptionalUser
from p2plend.web.forms import FormErrors
from p2plend.web.i18n import Locale, error_message, translate
from p2plend.web.render import locale_of, render

router = APIRouter(include_in_schema=False)

Param = Annotated[str, Query(max_length=40)]

METHODS = list(calculator.METHOD_NAMES)
TERM_UNITS = ("months", "days")
DEFAULTS = {
    "amount": "10000.00",
    "annual_rate": "12",
    "term": "12",
    "term_unit": "months",
    "method": "equal-installment",
    "start_date": "",
    "fee_rate": calculator.rate_str(calculator.DEFAULT_INVESTOR_FEE_RATE * 100),
}
# The calculator's ``details["field"]`` → the form's field.
_FORM_FIELD = {
    "method": "method",
    "annual_rate": "annual_rate",
    "term": "term",
    "months": "term",
    "days": "term",
    "start_date": "start_date",
    "fee_rate": "fee_rate",
}


def _message(locale: Locale, exc: DomainError) -> str:
    """A specific sentence for the field at fault (``calc.error.<field>``), else the code's."""
    field = exc.details.get("field")
    if exc.code != "invalid_amount" and isinstance(field, str) and field in _FORM_FIELD:
        return translate(locale, f"calc.error.{field}")
    return error_message(locale, exc.code)


def _field(exc: DomainError) -> str | None:
    if exc.code == "invalid_amount":
        return "amount"
    field = exc.details.get("field")
    return _FORM_FIELD.get(field) if isinstance(field, str) else None


def _read_form(
    locale: Locale, form: dict[str, str], *, with_fee: bool
) -> tuple[Terms | None, Decimal | None, FormErrors]:
    """Every field checked, each refusal on its field; the terms (and fee rate) when all pass."""
    errors = FormErrors()

    def check(step: Callable[[], Any]) -> Any:
        try:
            return step()
        except DomainError as exc:
            name = _field(exc)
            if name is None:
                errors.form = errors.form or _message(locale, exc)
            else:
                errors.add(name, _message(locale, exc))
            return None

    method: Method | None = check(lambda: calculator.parse_method(form["method"]))
    principal: int | None = check(lambda: parse_amount(form["amount"]))
    rate: Decimal | None = check(lambda: calculator.parse_rate(form["annual_rate"], percent=True))
    start = form["start_date"]
    value_date: date | None = check(lambda: calculator.parse_start_date(start)) if start else clock.today()
    fee_rate: Decimal | None = None
    if with_fee:
        fee_rate = (
            check(lambda: calculator.parse_rate(form["fee_rate"], field="fee_rate", percent=True))
            if form["fee_rate"]
            else calculator.DEFAULT_INVESTOR_FEE_RATE
        )
    term: tuple[int | None, int | None] | None = None
    if method is not None:
        count = form["term"] or None
        by_days = form["term_unit"] == "days"
        term = check(
            lambda: calculator.parse_term(
                method, months=None if by_days else count, days=count if by_days else None
            )
        )
    if errors or method is None or principal is None or rate is None or value_date is None or term is None:
        return None, fee_rate, errors
    terms = Terms(principal, rate, method, value_date, months=term[0], days=term[1])
    return terms, fee_rate, errors


def _form(request: Request, fields: tuple[str, ...]) -> tuple[dict[str, str], bool]:
    """The form's values (defaults on a first visit) and whether it was submitted."""
    submitted = "amount" in request.query_params
    values = {name: request.query_params.get(name, "").strip() for name in fields}
    if not submitted:
        values = {name: DEFAULTS[name] for name in fields}
    if values.get("term_unit") not in TERM_UNITS:
        values["term_unit"] = "months"
    return values, submitted


_LOAN_FIELDS = ("amount", "annual_rate", "term", "term_unit", "method", "start_date")


@router.get("/calculator/loan")
def loan_calculator(
    request: Request,
    user: OptionalUser,
    *,
    amount: Param = "",
    annual_rate: Param = "",
    term: Param = "",
    term_unit: Param = "",
    method: Param = "",
    start_date: Param = "",
) -> Response:
    """借款计算器: a loan's repayment schedule (DOMAIN.md §2) for any amount, rate, term and method."""
    form, submitted = _form(request, _LOAN_FIELDS)
    context: dict[str, Any] = {"form": form, "methods": METHODS, "today": clock.today(), "rows": None}
    status = 200
    if submitted:
        terms, _, errors = _read_form(locale_of(request), form, with_fee=False)
        if terms is None:
            status = 422
            context.update(errors=errors.fields, form_error=errors.form)
        else:
            rows = build_schedule(terms)
            context.update(
                terms=terms,
                rows=rows,
                total_payment=sum(row.payment for row in rows),
                total_interest=sum(row.interest for row in rows),
            )
    return render(request, "calculator_loan.html", context, status_code=status)


@router.get("/calculator/returns")
def returns_calculator(
    request: Request,
    user: OptionalUser,
    *,
    amount: Param = "",
    annual_rate: Param = "",
    term: Param = "",
    term_unit: Param = "",
    method: Param = "",
    start_date: Param = "",
    fee_rate: Param = "",
) -> Response:
    """收益计算器: what an investor receives per installment — interest, the investor
    management fee on it (R27), and the net."""
    form, submitted = _form(request, (*_LOAN_FIELDS, "fee_rate"))
    context: dict[str, Any] = {"form": form, "methods": METHODS, "today": clock.today(), "returns": None}
    status = 200
    if submitted:
        terms, fee, errors = _read_form(locale_of(request), form, with_fee=True)
        if terms is None or fee is None:
            status = 422
            context.update(errors=errors.fields, form_error=errors.form)
        else:
            context["returns"] = calculator.investor_returns(terms, fee)
    return render(request, "calculator_returns.html", context, status_code=status)
