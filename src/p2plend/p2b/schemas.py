"""API shapes of 机构债权 (P2B): the partner's submission, a claim with its position, the decision."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from p2plend.money import Yuan, YuanText, parse_amount, yuan_str
from p2plend.p2b import service as p2b

WARNING = f"{p2b.LABEL_ZH}: {p2b.WARNING_ZH} / {p2b.WARNING_EN}"


def _rate(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise p2b.InvalidPartnerClaim("Not a decimal.", details={"field": name}) from exc
    if not value.is_finite():
        raise p2b.InvalidPartnerClaim("Not a decimal.", details={"field": name})
    return value


class ClaimRequest(BaseModel):
    """提交机构债权. Money as yuan strings; rates as decimal fractions ("0.08" is 8 % a year)."""

    model_config = ConfigDict(extra="forbid")

    institution_type: str = Field(description="micro_loan, factoring_leasing or licensed_institution")
    institution_risk_tier: int = Field(
        ge=1, le=5, description="1 = lowest risk, as the referral form records it"
    )
    debtor_kind: Literal["person", "organisation"]
    debtor_name: str = Field(min_length=1, max_length=100, description="Stored and shown masked only (R47)")
    industry: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)
    purpose: str
    project_summary: str = Field(min_length=1, max_length=500)
    monthly_income: YuanText = Field(description="Yuan a month, the debtor's")
    liabilities: YuanText = Field(description="Yuan, the debtor's other debts")
    credit_overdues_6m: int = Field(ge=0, le=999)
    repayment_source: str = Field(min_length=1, max_length=200)
    amount: YuanText
    annual_rate: str = Field(examples=["0.08"])
    method: str = Field(description="equal_installment, equal_principal or interest_first")
    term_months: int = Field(ge=1, le=360)
    original_value_date: date = Field(description="The partner's own contract date (informative)")
    guarantor_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    repurchase_dpd: int | None = Field(default=None, description="回购承诺: buy back every claim at this DPD")
    discount_rate: str = Field(
        default="0", description="Off the claim's value on the transfer market, ≤ 0.05"
    )

    @field_validator("monthly_income", "liabilities", mode="before")
    @classmethod
    def _money_or_zero(cls, value: object) -> object:
        if value in ("0", "0.00"):
            return "0.00"
        parse_amount(value)
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: object) -> object:
        parse_amount(value)
        return value

    def to_input(self) -> p2b.ClaimInput:
        def fen(text: str) -> int:
            return 0 if text == "0.00" else parse_amount(text)

        return p2b.ClaimInput(
            institution_type=self.institution_type,
            institution_risk_tier=self.institution_risk_tier,
            debtor_kind=self.debtor_kind,
            debtor_name=self.debtor_name,
            industry=self.industry,
            region=self.region,
            purpose=self.purpose,
            project_summary=self.project_summary,
            monthly_income=fen(self.monthly_income),
            liabilities=fen(self.liabilities),
            credit_overdues_6m=self.credit_overdues_6m,
            repayment_source=self.repayment_source,
            amount=parse_amount(self.amount),
            annual_rate=_rate(self.annual_rate, "annual_rate"),
            method=self.method,
            term_months=self.term_months,
            original_value_date=self.original_value_date,
            guarantor_id=self.guarantor_id,
            repurchase_dpd=self.repurchase_dpd,
            discount_rate=_rate(self.discount_rate, "discount_rate"),
        )


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool
    grade: str | None = Field(default=None, description="On approval: AA … HR (→ risk class R1–R5)")
    reason: str | None = Field(default=None, max_length=500, description="On rejection: why")


class OfferRequest(BaseModel):
    """Offer what the institution still holds of a claim on the transfer market again."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"discount_rate": "0"}]})

    discount_rate: str = Field(default="0", description='Off the value, "0.005" is 0.5 % (0–0.05, R39)')


class RepurchaseOut(BaseModel):
    business_date: date
    days_past_due: int
    due: Yuan
    paid: Yuan
    shortfall: Yuan


class ClaimOut(BaseModel):
    """A partner claim: always labelled (``partner_claim`` true, ``warning``)."""

    id: int
    partner_claim: bool = Field(default=True, description="机构债权（P2B）: a longer credit chain, more risk")
    warning: str = WARNING
    institution_id: int
    institution_type: str
    institution_risk_tier: int
    status: str = Field(description="submitted, approved or rejected")
    amount: Yuan
    annual_rate: str
    method: str
    term_months: int
    original_value_date: date
    guarantor_id: int | None
    repurchase_dpd: int | None
    discount_rate: str
    grade: str | None
    reason: str
    decided_at: datetime | None
    created_at: datetime
    disclosure: dict[str, Any]
    loan_id: int | None
    principal_outstanding: Yuan | None = Field(description="Of the loan, once approved")
    unsold: Yuan | None = Field(description="What the institution still holds")
    sold: Yuan | None = Field(description="What investors hold")
    next_due_date: date | None
    next_due_amount: Yuan | None
    due_now: Yuan | None
    open_listing_id: int | None
    repurchase: RepurchaseOut | None

    @classmethod
    def of(cls, view: p2b.ClaimView) -> "ClaimOut":
        claim, loan = view.claim, view.loan
        repurchase = view.repurchase
        return cls(
            id=claim.id,
            institution_id=claim.institution_id,
            institution_type=claim.institution_type,
            institution_risk_tier=claim.institution_risk_tier,
            status=claim.status,
            amount=yuan_str(claim.amount),
            annual_rate=format(Decimal(claim.annual_rate).normalize(), "f"),
            method=claim.method,
            term_months=claim.term_months,
            original_value_date=claim.original_value_date,
            guarantor_id=claim.guarantor_id,
            repurchase_dpd=claim.repurchase_dpd,
            discount_rate=format(Decimal(claim.discount_rate).normalize(), "f"),
            grade=claim.grade,
            reason=claim.reason,
            decided_at=claim.decided_at,
            created_at=claim.created_at,
            disclosure=claim.disclosure,
            loan_id=claim.loan_id,
            principal_outstanding=yuan_str(loan.principal_outstanding) if loan else None,
            unsold=yuan_str(view.unsold) if loan else None,
            sold=yuan_str(view.sold) if loan else None,
            next_due_date=view.next_due_date,
            next_due_amount=yuan_str(view.next_due_amount) if loan else None,
            due_now=yuan_str(view.due_now) if loan else None,
            open_listing_id=view.open_listing.id if view.open_listing else None,
            repurchase=(
                RepurchaseOut(
                    business_date=repurchase.business_date,
                    days_past_due=repurchase.days_past_due,
                    due=yuan_str(repurchase.due),
                    paid=yuan_str(repurchase.paid),
                    shortfall=yuan_str(repurchase.shortfall),
                )
                if repurchase
                else None
            ),
        )
