"""Custody API shapes: money as two-decimal yuan strings, parsed only by ``money.parse_amount``."""

import json
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from p2plend.custody.models import (
    BankInstruction,
    CustodyAnomaly,
    DepositOrder,
    ReconciliationDifference,
    ReconciliationRun,
    WithdrawalOrder,
)
from p2plend.custody.service import SWEEP_GRACE, CallbackOutcome, SweepReport
from p2plend.ledger.service import Balances, HistoryLine
from p2plend.money import Yuan, YuanText, parse_amount, yuan_str


def _amount(value: object) -> str:
    parse_amount(value)  # refuses floats, negatives, > 2 decimals …: invalid_amount
    assert isinstance(value, str)
    return value


class StartDepositRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": "1000.00", "card_id": 7}]})

    amount: YuanText = Field(description="Yuan, as a string with at most two decimals.")
    card_id: int = Field(ge=1, le=2**63 - 1, description="One of your bound cards (同卡进出).")

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return _amount(value)

    @property
    def amount_fen(self) -> int:
        return parse_amount(self.amount)


class WithdrawalRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": "500.00", "card_id": 7, "totp_code": "123456"}]}
    )

    amount: YuanText = Field(description="Yuan to receive on the card; the fee is added on top.")
    card_id: int = Field(ge=1, le=2**63 - 1)
    totp_code: str = Field(min_length=6, max_length=8, description="Authenticator code (R10).")

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return _amount(value)

    @property
    def amount_fen(self) -> int:
        return parse_amount(self.amount)


class DepositResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_no": "D20261128A1B2C3D4E5F6",
                    "amount": "1000.00",
                    "status": "pending",
                    "payment_url": "/sim-bank/deposits/D20261128A1B2C3D4E5F6",
                    "created_at": "2026-11-28T02:00:00Z",
                    "expires_at": "2026-11-28T02:30:00Z",
                    "finished_at": None,
                }
            ]
        }
    )

    order_no: str
    amount: Yuan
    status: str = Field(description="pending, succeeded, failed, expired or amount_mismatch.")
    payment_url: str = Field(description="The custodian bank's page where you pay.")
    created_at: datetime
    expires_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, order: DepositOrder) -> "DepositResponse":
        return cls(
            order_no=order.order_no,
            amount=yuan_str(order.amount),
            status=order.status,
            payment_url=order.payment_url,
            created_at=order.created_at,
            expires_at=order.expires_at,
            finished_at=order.finished_at,
        )


class WithdrawalResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_no": "W20261128A1B2C3D4E5F6",
                    "amount": "500.00",
                    "fee": "2.00",
                    "card": "6222 **** **** 3446",
                    "status": "pending",
                    "failure_reason": None,
                    "created_at": "2026-11-28T02:00:00Z",
                    "finished_at": None,
                }
            ]
        }
    )

    order_no: str
    amount: Yuan
    fee: Yuan
    card: str
    status: str = Field(description="pending, submitted, succeeded or failed.")
    failure_reason: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, order: WithdrawalOrder) -> "WithdrawalResponse":
        return cls(
            order_no=order.order_no,
            amount=yuan_str(order.amount),
            fee=yuan_str(order.fee),
            card=order.card_masked,
            status=order.status,
            failure_reason=order.failure_reason,
            created_at=order.created_at,
            finished_at=order.finished_at,
        )


class HistoryLineResponse(BaseModel):
    entry_id: int
    business_date: date
    kind: str
    account: str = Field(description="available or frozen")
    amount: Yuan = Field(description="Into the account if positive.")
    memo: str
    ref_type: str | None
    ref_id: str | None

    @classmethod
    def of(cls, line: HistoryLine) -> "HistoryLineResponse":
        return cls(
            entry_id=line.entry_id,
            business_date=line.business_date,
            kind=line.kind,
            account=line.account_kind,
            amount=yuan_str(line.amount),
            memo=line.memo,
            ref_type=line.ref_type,
            ref_id=line.ref_id,
        )


class AccountResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sub_account_no": "SA1A2B3C4D5E6F",
                    "available": "997.80",
                    "frozen": "0.00",
                    "total": "997.80",
                    "history": [],
                    "next_before_entry_id": None,
                }
            ]
        }
    )

    sub_account_no: str | None = Field(description="Your sub-account at the custodian bank, once open.")
    available: Yuan
    frozen: Yuan
    total: Yuan
    history: list[HistoryLineResponse]
    next_before_entry_id: int | None

    @classmethod
    def of(
        cls, sub_account_no: str | None, balances: Balances, history: list[HistoryLine], limit: int
    ) -> "AccountResponse":
        return cls(
            sub_account_no=sub_account_no,
            available=yuan_str(balances.available),
            frozen=yuan_str(balances.frozen),
            total=yuan_str(balances.total),
            history=[HistoryLineResponse.of(line) for line in history],
            next_before_entry_id=history[-1].entry_id if len(history) == limit else None,
        )


class CallbackAck(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"event_id": "EV0123456789ABCDEF", "order_no": "D2026…", "result": "applied"}]
        }
    )

    event_id: str
    order_no: str
    result: str

    @classmethod
    def of(cls, outcome: CallbackOutcome) -> "CallbackAck":
        return cls(event_id=outcome.event_id, order_no=outcome.order_no, result=outcome.result)


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"date": "2026-11-28"}]})

    date: date


class DifferenceResponse(BaseModel):
    sub_account_no: str
    owner_type: str | None
    owner_id: int | None
    platform_amount: Yuan
    bank_amount: Yuan
    difference: Yuan = Field(description="bank − platform")

    @classmethod
    def of(cls, row: ReconciliationDifference) -> "DifferenceResponse":
        return cls(
            sub_account_no=row.sub_account_no,
            owner_type=row.owner_type,
            owner_id=row.owner_id,
            platform_amount=yuan_str(row.platform_amount),
            bank_amount=yuan_str(row.bank_amount),
            difference=yuan_str(row.difference),
        )


class ReconciliationResponse(BaseModel):
    id: int
    date: date
    run_at: datetime
    run_by: int | None
    sub_accounts_checked: int
    platform_total: Yuan
    bank_total: Yuan
    balanced: bool
    differences: list[DifferenceResponse]

    @classmethod
    def of(
        cls, run: ReconciliationRun, differences: list[ReconciliationDifference]
    ) -> "ReconciliationResponse":
        return cls(
            id=run.id,
            date=run.business_date,
            run_at=run.run_at,
            run_by=run.run_by,
            sub_accounts_checked=run.sub_accounts_checked,
            platform_total=yuan_str(run.platform_total),
            bank_total=yuan_str(run.bank_total),
            balanced=run.difference_count == 0,
            differences=[DifferenceResponse.of(d) for d in differences],
        )


class AnomalyResponse(BaseModel):
    id: int
    kind: str = Field(
        description="amount_mismatch, unknown_order, sub_account_mismatch or conflicting_final_state"
    )
    order_no: str
    event_id: str | None
    sub_account_no: str | None
    details: dict[str, object]
    created_at: datetime

    @classmethod
    def of(cls, row: CustodyAnomaly) -> "AnomalyResponse":
        return cls(
            id=row.id,
            kind=row.kind,
            order_no=row.order_no,
            event_id=row.event_id,
            sub_account_no=row.sub_account_no,
            details=json.loads(row.details),
            created_at=row.created_at,
        )


class LegResponse(BaseModel):
    from_sub: str
    to_sub: str
    amount: Yuan


class VoidedInstructionResponse(BaseModel):
    """An orphaned bank transfer: the bank moved, no act recorded it; voided and reversed."""

    instruction_no: str
    base_no: str = Field(description="The act's number; its retries use base_no~k after k voids")
    amount: Yuan
    legs: list[LegResponse] = Field(description="What the bank moved")
    executed_at: datetime | None = Field(description="When the bank moved it")
    voided_at: datetime
    reversal_no: str | None
    reversal_status: str | None = Field(
        description="pending (the next sweep instructs it), succeeded, or refused (staff must act)"
    )
    reversed_at: datetime | None

    @classmethod
    def of(cls, row: BankInstruction) -> "VoidedInstructionResponse":
        return cls(
            instruction_no=row.instruction_no,
            base_no=row.base_no,
            amount=yuan_str(row.amount),
            legs=[
                LegResponse(from_sub=payer, to_sub=payee, amount=yuan_str(amount))
                for payer, payee, amount in json.loads(row.legs or "[]")
            ],
            executed_at=row.executed_at,
            voided_at=row.recorded_at,
            reversal_no=row.reversal_no,
            reversal_status=row.reversal_status,
            reversed_at=row.reversed_at,
        )


class OrphanSweepRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"grace_minutes": 15}]})

    grace_minutes: int = Field(
        default=int(SWEEP_GRACE.total_seconds() // 60),
        ge=0,
        le=7 * 24 * 60,
        description="Leave alone the bank's transfers younger than this: their acts may still commit.",
    )


class OrphanSweepResponse(BaseModel):
    checked: int = Field(description="The bank's transfers in the window")
    voided: list[str] = Field(description="Orphans found and voided by this sweep")
    reversed: list[str] = Field(description="Reversals the bank carried out in this sweep")
    refused: list[str] = Field(description="Reversals the bank refused: listed for staff")

    @classmethod
    def of(cls, report: SweepReport) -> "OrphanSweepResponse":
        return cls(
            checked=report.checked,
            voided=list(report.voided),
            reversed=list(report.reversed),
            refused=list(report.refused),
        )
