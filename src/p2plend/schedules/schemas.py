"""API shapes of the public calculators: money and rates as strings, never numbers.

The responses are exactly :func:`calculator.schedule_view` and :func:`calculator.returns_view`
— the JSON ``p2plend calc --json`` prints.
"""

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from p2plend.money import Yuan, YuanText, parse_amount
from p2plend.schedules import calculator

Rate = Annotated[str, Field(examples=["0.12"])]
MethodName = Annotated[
    str,
    Field(
        description="`equal-installment` 等额本息, `equal-principal` 等额本金, `interest-first` 先息后本, "
        "`bullet` 一次性还本付息.",
        json_schema_extra={"enum": list(calculator.METHOD_NAMES)},
        examples=["equal-installment"],
    ),
]


def _amount(value: object) -> str:
    parse_amount(value)  # refuses numbers, negatives, separators, > 2 decimals …: invalid_amount
    assert isinstance(value, str)
    return value


class _TermsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: MethodName
    annual_rate: str = Field(description='A decimal string: "0.12" is 12 % a year. At least 0, below 1.')
    months: StrictInt | None = Field(default=None, description="Term in months, 1–360. Give months or days.")
    days: StrictInt | None = Field(default=None, description="Term in days, 1–3650: bullet only.")
    start_date: date | None = Field(
        default=None, description="Value date (起息日), YYYY-MM-DD; default: today's business date."
    )

    @field_validator("annual_rate", mode="before")
    @classmethod
    def _check_rate(cls, value: object) -> str:
        calculator.parse_rate(value)  # a number or a bad string: invalid_loan_terms
        assert isinstance(value, str)
        return value


class ScheduleRequest(_TermsRequest):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"method": "equal-installment", "principal": "12000.00", "annual_rate": "0.12", "months": 12},
                {"method": "bullet", "principal": "12000.00", "annual_rate": "0.12", "days": 90},
            ]
        },
    )

    principal: YuanText = Field(description="Yuan, as a string with at most two decimals.")

    @field_validator("principal", mode="before")
    @classmethod
    def _check_principal(cls, value: object) -> str:
        return _amount(value)


class InstallmentResponse(BaseModel):
    period: int
    due_date: date
    payment: Yuan
    principal: Yuan
    interest: Yuan
    remaining_principal: Yuan = Field(description="Principal still owed after this installment.")


class ScheduleResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "method": "bullet",
                    "principal": "12000.00",
                    "annual_rate": "0.12",
                    "start_date": "2026-11-28",
                    "installments": [
                        {
                            "period": 1,
                            "due_date": "2027-02-26",
                            "payment": "12355.07",
                            "principal": "12000.00",
                            "interest": "355.07",
                            "remaining_principal": "0.00",
                        }
                    ],
                    "total_payment": "12355.07",
                    "total_interest": "355.07",
                }
            ]
        }
    )

    method: str
    principal: Yuan
    annual_rate: Rate
    start_date: date
    installments: list[InstallmentResponse]
    total_payment: Yuan
    total_interest: Yuan


class ReturnsRequest(_TermsRequest):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "method": "equal-installment",
                    "amount": "10000.00",
                    "annual_rate": "0.10",
                    "months": 3,
                    "fee_rate": "0.10",
                }
            ]
        },
    )

    amount: YuanText = Field(description="Yuan lent, as a string with at most two decimals.")
    fee_rate: str | None = Field(
        default=None,
        description='Investor management fee (利息管理费) on the interest received, e.g. "0.10"; '
        "default 10 %. At least 0, below 1.",
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return _amount(value)

    @field_validator("fee_rate", mode="before")
    @classmethod
    def _check_fee_rate(cls, value: object) -> str | None:
        if value is None:
            return None
        calculator.parse_rate(value, field="fee_rate")  # invalid_input
        assert isinstance(value, str)
        return value


class ReturnRowResponse(BaseModel):
    period: int
    due_date: date
    principal: Yuan
    interest: Yuan
    fee: Yuan = Field(description="rd(interest × fee rate): never on principal (R27).")
    net_interest: Yuan = Field(description="interest − fee")
    net: Yuan = Field(description="principal + interest − fee: the money received")


class ReturnsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "method": "interest-first",
                    "amount": "10000.00",
                    "annual_rate": "0.12",
                    "fee_rate": "0.1",
                    "start_date": "2026-11-28",
                    "installments": [
                        {
                            "period": 1,
                            "due_date": "2026-12-28",
                            "principal": "0.00",
                            "interest": "100.00",
                            "fee": "10.00",
                            "net_interest": "90.00",
                            "net": "90.00",
                        },
                        {
                            "period": 2,
                            "due_date": "2027-01-28",
                            "principal": "10000.00",
                            "interest": "100.00",
                            "fee": "10.00",
                            "net_interest": "90.00",
                            "net": "10090.00",
                        },
                    ],
                    "total_principal": "10000.00",
                    "total_interest": "200.00",
                    "total_fee": "20.00",
                    "total_net_interest": "180.00",
                    "total_net": "10180.00",
                }
            ]
        }
    )

    method: str
    amount: Yuan
    annual_rate: Rate
    fee_rate: Rate
    start_date: date
    installments: list[ReturnRowResponse]
    total_principal: Yuan
    total_interest: Yuan
    total_fee: Yuan
    total_net_interest: Yuan
    total_net: Yuan
