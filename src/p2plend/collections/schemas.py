"""API shapes of collections (催收) and write-off (核销): money as two-decimal yuan strings,
rates as decimal strings (``"0.1234"`` is 12.34 %), never JSON numbers for either."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from p2plend.collections.cases import (
    CaseDetail,
    CaseSummary,
    QueueItem,
)
from p2plend.collections.models import (
    CollectionAction,
    CollectionAssignment,
    CollectionPromise,
    CollectionReminder,
    CollectionStageChange,
)
from p2plend.collections.reports import (
    Analysis,
    CollectorRecovery,
    GroupFigures,
    KpiReport,
    RollRow,
    StageRecovery,
)
from p2plend.collections.strategies import Strategy, StrategyChange
from p2plend.collections.writeoff import WriteOffView
from p2plend.money import Yuan, YuanText, parse_amount, yuan_str
from p2plend.servicing.models import Repayment

RateText = Annotated[
    str | None, Field(examples=["0.5000"], description="A decimal fraction; null: nothing to divide by.")
]
Stage = Literal["m1", "m2", "m3", "m3_plus", "m7_plus"]
MAX_ID = 2**63 - 1


def _rate(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# --- cases ---------------------------------------------------------------------------------------


class CaseResponse(BaseModel):
    id: int
    loan_id: int
    loan_title: str
    borrower_id: int
    status: Literal["open", "closed"]
    stage: Stage
    stage_since: date
    opened_on: date
    closed_on: date | None
    close_reason: Literal["cured", "settled"] | None
    days_past_due: int = Field(description="The loan's, as of the last end-of-day batch")
    principal_outstanding: Yuan
    opening_balance: Yuan = Field(description="Principal + interest + penalty past due when the case opened")
    collector_id: int | None
    assigned_on: date | None
    last_action_on: date | None
    next_contact_on: date | None
    broken_promises: int
    promise_due_on: date | None = Field(description="The earliest promise to pay still pending")
    written_off: bool

    @classmethod
    def of(cls, case: CaseSummary) -> "CaseResponse":
        return cls(
            id=case.id,
            loan_id=case.loan_id,
            loan_title=case.loan_title,
            borrower_id=case.borrower_id,
            status=case.status,
            stage=case.stage,
            stage_since=case.stage_since,
            opened_on=case.opened_on,
            closed_on=case.closed_on,
            close_reason=case.close_reason,
            days_past_due=case.days_past_due,
            principal_outstanding=yuan_str(case.principal_outstanding),
            opening_balance=yuan_str(case.opening_balance),
            collector_id=case.collector_id,
            assigned_on=case.assigned_on,
            last_action_on=case.last_action_on,
            next_contact_on=case.next_contact_on,
            broken_promises=case.broken_promises,
            promise_due_on=case.promise_due_on,
            written_off=case.written_off,
        )


class CaseListResponse(BaseModel):
    items: list[CaseResponse]
    total: int


class QueueItemResponse(BaseModel):
    priority: Literal["promise_due", "broken_promise", "contact_due", "scheduled"] = Field(
        description="promise_due: a promise falls due today or has passed; broken_promise: the last "
        "promise was broken; contact_due: a contact is due by the stage's strategy; scheduled: not yet"
    )
    case: CaseResponse

    @classmethod
    def of(cls, item: QueueItem) -> "QueueItemResponse":
        return cls(priority=item.priority, case=CaseResponse.of(item.case))


class PositionResponse(BaseModel):
    as_of: date | None = Field(description="The business date of the last overdue history row")
    days_past_due: int
    stage: str
    classification: str
    overdue_principal: Yuan
    overdue_interest: Yuan
    penalty_owed: Yuan
    principal_outstanding: Yuan
    owed_now: Yuan = Field(description="What a repayment today would take (penalty up to today)")


class ContactResponse(BaseModel):
    name: str | None
    phone: str
    masked: bool = Field(description="false only for staff with staff:pii:read (need-to-know, R47)")


class StageChangeResponse(BaseModel):
    business_date: date
    from_stage: str
    to_stage: str
    days_past_due: int
    balance: Yuan

    @classmethod
    def of(cls, row: CollectionStageChange) -> "StageChangeResponse":
        return cls(
            business_date=row.business_date,
            from_stage=row.from_stage,
            to_stage=row.to_stage,
            days_past_due=row.days_past_due,
            balance=yuan_str(row.balance),
        )


class AssignmentResponse(BaseModel):
    business_date: date
    collector_id: int | None
    previous_collector_id: int | None
    method: Literal["round_robin", "by_load", "manual"]
    assigned_by: int | None = Field(
        description="null: the end-of-day batch (round_robin, by_load) or the operator's console (manual)"
    )
    reason: str
    balance: Yuan

    @classmethod
    def of(cls, row: CollectionAssignment) -> "AssignmentResponse":
        return cls(
            business_date=row.business_date,
            collector_id=row.collector_id,
            previous_collector_id=row.previous_collector_id,
            method=row.method,
            assigned_by=row.assigned_by,
            reason=row.reason,
            balance=yuan_str(row.balance),
        )


class ActionResponse(BaseModel):
    id: int
    case_id: int
    kind: str
    detail: str
    note: str
    actor_id: int
    business_date: date
    created_at: datetime

    @classmethod
    def of(cls, row: CollectionAction) -> "ActionResponse":
        return cls(
            id=row.id,
            case_id=row.case_id,
            kind=row.kind,
            detail=row.detail,
            note=row.note,
            actor_id=row.actor_id,
            business_date=row.business_date,
            created_at=row.created_at,
        )


class PromiseResponse(BaseModel):
    id: int
    action_id: int
    collector_id: int
    amount: Yuan
    made_on: date
    due_on: date
    status: Literal["pending", "kept", "broken"]
    repaid: Yuan = Field(description="Repaid between the promise and its date, when resolved")
    resolved_on: date | None

    @classmethod
    def of(cls, row: CollectionPromise) -> "PromiseResponse":
        return cls(
            id=row.id,
            action_id=row.action_id,
            collector_id=row.collector_id,
            amount=yuan_str(row.amount),
            made_on=row.made_on,
            due_on=row.due_on,
            status=row.status,
            repaid=yuan_str(row.repaid),
            resolved_on=row.resolved_on,
        )


class ReminderResponse(BaseModel):
    business_date: date
    channel: Literal["sms", "app"]
    stage: str
    days_past_due: int
    amount: Yuan

    @classmethod
    def of(cls, row: CollectionReminder) -> "ReminderResponse":
        return cls(
            business_date=row.business_date,
            channel=row.channel,
            stage=row.stage,
            days_past_due=row.days_past_due,
            amount=yuan_str(row.amount),
        )


class RepaymentLine(BaseModel):
    business_date: date
    kind: str
    amount: Yuan

    @classmethod
    def of(cls, row: Repayment) -> "RepaymentLine":
        return cls(business_date=row.business_date, kind=row.kind, amount=yuan_str(row.amount))


class CaseDetailResponse(BaseModel):
    case: CaseResponse
    loan_amount: Yuan
    position: PositionResponse
    contact: ContactResponse
    stage_changes: list[StageChangeResponse]
    assignments: list[AssignmentResponse]
    actions: list[ActionResponse] = Field(description="Newest first")
    promises: list[PromiseResponse] = Field(description="Newest first")
    reminders: list[ReminderResponse] = Field(description="The batch's automatic reminders, newest first")
    repayments: list[RepaymentLine] = Field(description="Repayments since the case opened")

    @classmethod
    def of(cls, detail: CaseDetail) -> "CaseDetailResponse":
        p = detail.position
        return cls(
            case=CaseResponse.of(detail.case),
            loan_amount=yuan_str(detail.loan_amount),
            position=PositionResponse(
                as_of=p.business_date,
                days_past_due=p.days_past_due,
                stage=p.stage,
                classification=p.classification,
                overdue_principal=yuan_str(p.overdue_principal),
                overdue_interest=yuan_str(p.overdue_interest),
                penalty_owed=yuan_str(p.penalty_owed),
                principal_outstanding=yuan_str(p.principal_outstanding),
                owed_now=yuan_str(p.owed_now),
            ),
            contact=ContactResponse(
                name=detail.contact.name, phone=detail.contact.phone, masked=detail.contact.masked
            ),
            stage_changes=[StageChangeResponse.of(r) for r in detail.stage_changes],
            assignments=[AssignmentResponse.of(r) for r in detail.assignments],
            actions=[ActionResponse.of(r) for r in detail.actions],
            promises=[PromiseResponse.of(r) for r in detail.promises],
            reminders=[ReminderResponse.of(r) for r in detail.reminders],
            repayments=[RepaymentLine.of(r) for r in detail.repayments],
        )


class ActionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "call", "detail": "reached", "note": "借款人承诺周五前还款"},
                {"kind": "promise_to_pay", "amount": "1021.80", "due_on": "2027-01-08"},
                {"kind": "message", "detail": "sms"},
                {"kind": "legal", "detail": "demand_letter"},
            ]
        },
    )

    kind: Literal["call", "message", "visit", "promise_to_pay", "legal", "note"]
    detail: str = Field(
        default="",
        max_length=32,
        description="call: reached | no_answer | wrong_number | refused | third_party; "
        "message: sms | app (sends the standard reminder now) | letter; visit: met | not_home | moved; "
        "legal: demand_letter | lawsuit_filed | judgment | enforcement | outsourced",
    )
    note: str = Field(
        default="", max_length=2000, description="At most 500 characters (checked by the service)"
    )
    amount: YuanText | None = Field(default=None, description="promise_to_pay: yuan promised")
    due_on: date | None = Field(default=None, description="promise_to_pay: paid by (today … today + 30 days)")

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str | None:
        if value is None:
            return None
        parse_amount(value)  # invalid_amount
        assert isinstance(value, str)
        return value

    @property
    def amount_fen(self) -> int | None:
        return None if self.amount is None else parse_amount(self.amount)


class AssignRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"collector_id": 12, "reason": "熟悉该客户"}]}
    )

    collector_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = Field(
        description="An active collector; null takes the case back (unassigned)"
    )
    reason: str = Field(default="", max_length=1000)


class CollectorResponse(BaseModel):
    user_id: int
    name: str
    open_cases: int


# --- strategies ----------------------------------------------------------------------------------


class StrategyResponse(BaseModel):
    stage: Stage
    treatment: Literal["reminder", "phone", "visit", "legal", "outsourcing"]
    reminder_sms: bool
    reminder_app: bool
    reminder_every_days: int
    assignment: Literal["none", "round_robin", "by_load"]
    team: list[int] = Field(description="Collector ids; empty: every active collector")
    contact_every_days: int
    updated_by: int | None
    updated_at: datetime | None = Field(description="null: the default, never changed")

    @classmethod
    def of(cls, strategy: Strategy) -> "StrategyResponse":
        return cls(
            stage=strategy.stage,
            treatment=strategy.treatment,
            reminder_sms=strategy.reminder_sms,
            reminder_app=strategy.reminder_app,
            reminder_every_days=strategy.reminder_every_days,
            assignment=strategy.assignment,
            team=list(strategy.team),
            contact_every_days=strategy.contact_every_days,
            updated_by=strategy.updated_by,
            updated_at=strategy.updated_at,
        )


class StrategyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "treatment": "phone",
                    "reminder_sms": False,
                    "reminder_app": True,
                    "reminder_every_days": 7,
                    "assignment": "round_robin",
                    "team": [],
                    "contact_every_days": 3,
                }
            ]
        },
    )

    # Checked by the service (invalid_collection_strategy with details.field).
    treatment: str = Field(max_length=32, description="reminder | phone | visit | legal | outsourcing")
    reminder_sms: StrictBool
    reminder_app: StrictBool
    reminder_every_days: StrictInt = Field(description="1–90")
    assignment: str = Field(max_length=32, description="none | round_robin | by_load")
    team: list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=200)
    contact_every_days: StrictInt = Field(description="1–90")

    def change(self) -> StrategyChange:
        return StrategyChange(
            treatment=self.treatment,
            reminder_sms=self.reminder_sms,
            reminder_app=self.reminder_app,
            reminder_every_days=self.reminder_every_days,
            assignment=self.assignment,
            team=tuple(self.team),
            contact_every_days=self.contact_every_days,
        )


# --- reports -------------------------------------------------------------------------------------


class StageRecoveryResponse(BaseModel):
    stage: str
    spells: int = Field(description="Cases that entered the stage in the period")
    balance: Yuan = Field(description="Their overdue balance on entry")
    repaid: Yuan
    recovered: Yuan = Field(description="Repaid while in the stage, at most the entry balance per case")
    recovery_rate: RateText = Field(description="recovered / balance")
    cured: int
    rolled: int

    @classmethod
    def of(cls, row: StageRecovery) -> "StageRecoveryResponse":
        return cls(
            stage=row.stage,
            spells=row.spells,
            balance=yuan_str(row.balance),
            repaid=yuan_str(row.repaid),
            recovered=yuan_str(row.recovered),
            recovery_rate=_rate(row.recovery_rate),
            cured=row.cured,
            rolled=row.rolled,
        )


class CollectorRecoveryResponse(BaseModel):
    collector_id: int
    name: str
    assignments: int
    balance: Yuan
    repaid: Yuan
    recovered: Yuan
    recovery_rate: RateText
    actions: int
    calls: int
    promises: int
    promises_kept: int
    promises_broken: int
    cured: int
    open_cases: int

    @classmethod
    def of(cls, row: CollectorRecovery) -> "CollectorRecoveryResponse":
        return cls(
            collector_id=row.collector_id,
            name=row.name,
            assignments=row.assignments,
            balance=yuan_str(row.balance),
            repaid=yuan_str(row.repaid),
            recovered=yuan_str(row.recovered),
            recovery_rate=_rate(row.recovery_rate),
            actions=row.actions,
            calls=row.calls,
            promises=row.promises,
            promises_kept=row.promises_kept,
            promises_broken=row.promises_broken,
            cured=row.cured,
            open_cases=row.open_cases,
        )


class RollRateResponse(BaseModel):
    from_stage: str
    loans: int = Field(description="Loans in the stage on the month-ends observed (pooled)")
    to: dict[str, int] = Field(description="Where they were 30 days later (stages, or settled)")
    roll_rate: RateText = Field(description="Share that moved exactly one stage on")
    cure_rate: RateText = Field(description="Share back to current or settled")

    @classmethod
    def of(cls, row: RollRow) -> "RollRateResponse":
        return cls(
            from_stage=row.from_stage,
            loans=row.loans,
            to=dict(row.to),
            roll_rate=_rate(row.roll_rate),
            cure_rate=_rate(row.cure_rate),
        )


class KpiResponse(BaseModel):
    first: date
    last: date
    by_stage: list[StageRecoveryResponse]
    total: StageRecoveryResponse
    by_collector: list[CollectorRecoveryResponse]
    roll_dates: list[date] = Field(description="The month-ends observed (each + 30 days closed by the batch)")
    roll_rates: list[RollRateResponse]

    @classmethod
    def of(cls, report: KpiReport) -> "KpiResponse":
        return cls(
            first=report.first,
            last=report.last,
            by_stage=[StageRecoveryResponse.of(s) for s in report.by_stage],
            total=StageRecoveryResponse.of(report.total),
            by_collector=[CollectorRecoveryResponse.of(c) for c in report.by_collector],
            roll_dates=report.roll_dates,
            roll_rates=[RollRateResponse.of(r) for r in report.roll_rates],
        )


class GroupResponse(BaseModel):
    key: str
    label: str
    loans: int
    principal_outstanding: Yuan
    overdue_loans: int
    overdue_outstanding: Yuan = Field(description="Outstanding principal of the overdue loans")
    overdue_principal: Yuan = Field(description="The part of it already past due")
    non_performing: int = Field(description="Loans 91 days or more past due")
    overdue_rate: RateText = Field(description="overdue_loans / loans")
    amount_overdue_rate: RateText = Field(description="overdue_outstanding / principal_outstanding")
    average_dpd: str | None
    lift: str | None = Field(
        description="The group's overdue rate over the platform's (2.00: twice as likely)"
    )

    @classmethod
    def of(cls, g: GroupFigures) -> "GroupResponse":
        return cls(
            key=g.key,
            label=g.label,
            loans=g.loans,
            principal_outstanding=yuan_str(g.principal_outstanding),
            overdue_loans=g.overdue_loans,
            overdue_outstanding=yuan_str(g.overdue_outstanding),
            overdue_principal=yuan_str(g.overdue_principal),
            non_performing=g.non_performing,
            overdue_rate=_rate(g.overdue_rate),
            amount_overdue_rate=_rate(g.amount_overdue_rate),
            average_dpd=_rate(g.average_dpd),
            lift=_rate(g.lift),
        )


class ProfileResponse(BaseModel):
    region: str
    product: str
    grade: str
    industry: str
    overdue_loans: int
    share: RateText


class AnalysisResponse(BaseModel):
    dimension: str
    as_of: date | None
    total: GroupResponse
    groups: list[GroupResponse]
    profiles: list[ProfileResponse] = Field(
        description="The commonest region · product · grade · industry among overdue loans"
    )

    @classmethod
    def of(cls, found: Analysis) -> "AnalysisResponse":
        return cls(
            dimension=found.dimension,
            as_of=found.as_of,
            total=GroupResponse.of(found.total),
            groups=[GroupResponse.of(g) for g in found.groups],
            profiles=[
                ProfileResponse(
                    region=p.region,
                    product=p.product,
                    grade=p.grade,
                    industry=p.industry,
                    overdue_loans=p.overdue_loans,
                    share=_rate(p.share),
                )
                for p in found.profiles
            ],
        )


# --- write-off -----------------------------------------------------------------------------------


class ClaimResponse(BaseModel):
    holding_id: int
    holder_id: int
    principal: Yuan


class WriteOffResponse(BaseModel):
    id: int
    loan_id: int
    loan_title: str
    reason: Literal["dpd_over_180", "proof_of_loss"]
    proof: str
    status: Literal["proposed", "approved", "rejected"]
    days_past_due: int = Field(description="When proposed")
    principal: Yuan = Field(description="Outstanding when proposed; once approved, at approval")
    interest: Yuan = Field(description="Overdue interest owed at approval")
    penalty: Yuan = Field(description="Penalty interest owed at approval")
    proposed_by: int
    proposed_on: date
    decided_by: int | None
    decided_on: date | None
    decision_note: str
    recovered: Yuan = Field(description="Repaid by the borrower since approval")
    distributed: Yuan = Field(description="Of which paid to the holders, net of fees")
    claims: list[ClaimResponse] = Field(description="The holders' claims marked lost at approval")

    @classmethod
    def of(cls, w: WriteOffView) -> "WriteOffResponse":
        return cls(
            id=w.id,
            loan_id=w.loan_id,
            loan_title=w.loan_title,
            reason=w.reason,
            proof=w.proof,
            status=w.status,
            days_past_due=w.days_past_due,
            principal=yuan_str(w.principal),
            interest=yuan_str(w.interest),
            penalty=yuan_str(w.penalty),
            proposed_by=w.proposed_by,
            proposed_on=w.proposed_on,
            decided_by=w.decided_by,
            decided_on=w.decided_on,
            decision_note=w.decision_note,
            recovered=yuan_str(w.recovered),
            distributed=yuan_str(w.distributed),
            claims=[
                ClaimResponse(holding_id=c.holding_id, holder_id=c.holder_id, principal=yuan_str(c.principal))
                for c in w.claims
            ],
        )


class ProposeWriteOffRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"loan_id": 7, "reason": "proof_of_loss", "proof": "(2027)京0105执恢123号 终结本次执行"}
            ]
        },
    )

    loan_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
    reason: str = Field(max_length=32, description="dpd_over_180 | proof_of_loss (checked by the service)")
    proof: str = Field(
        default="", max_length=4000, description="The evidence of loss; needed for proof_of_loss"
    )


class DecideWriteOffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "同意核销"}]})

    note: str = Field(default="", max_length=2000, description="Needed to reject")
