"""The public calculators (借款计算器, 收益计算器): no sign-in, no database, nothing stored."""

from fastapi import APIRouter

from p2plend.schedules import calculator
from p2plend.schedules.schemas import ReturnsRequest, ReturnsResponse, ScheduleRequest, ScheduleResponse

router = APIRouter(prefix="/api/v1", tags=["calculator"])


@router.post("/calculator/schedule", summary="Repayment schedule of a loan (借款计算器)")
def repayment_schedule(body: ScheduleRequest) -> ScheduleResponse:
    """The borrower's schedule by the platform's own repayment math — the same JSON as
    `p2plend calc --json`. Give `months`, or `days` for a bullet.

    Refusals (422): `invalid_amount` (principal), `invalid_loan_terms` (method, rate, term,
    start date; `details.field` names it), `invalid_request` (wrong JSON types, unknown fields).
    """
    terms = calculator.read_terms(
        method=body.method,
        principal=body.principal,
        annual_rate=body.annual_rate,
        months=body.months,
        days=body.days,
        start_date=body.start_date,
    )
    return ScheduleResponse.model_validate(calculator.schedule_view(terms))


@router.post("/calculator/returns", summary="An investor's returns on a loan (收益计算器)")
def investor_returns(body: ReturnsRequest) -> ReturnsResponse:
    """Per installment: principal and interest received, the investor management fee
    rd(interest × fee rate) (R27; default 10 %), and the net — for an investor holding the
    whole loan. An estimate, not a promise: repayments depend on the borrower (R3).

    Refusals (422): `invalid_amount`, `invalid_loan_terms` (`details.field`), `invalid_input`
    (fee rate), `invalid_request`.
    """
    terms = calculator.read_terms(
        method=body.method,
        principal=body.amount,
        annual_rate=body.annual_rate,
        months=body.months,
        days=body.days,
        start_date=body.start_date,
    )
    fee_rate = (
        calculator.DEFAULT_INVESTOR_FEE_RATE
        if body.fee_rate is None
        else calculator.parse_rate(body.fee_rate, field="fee_rate")
    )
    return ReturnsResponse.model_validate(
        calculator.returns_view(calculator.investor_returns(terms, fee_rate))
    )
