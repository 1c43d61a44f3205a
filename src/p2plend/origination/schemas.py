"""Origination API shapes: money as two-decimal yuan strings, rates as decimal strings
(``"0.0725"`` is 7.25 % a year), never JSON numbers for either."""

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from p2plend.identity.service import Profile
from p2plend.money import Yuan, parse_amount, yuan_str
from p2plend.origination.applications import ApplicationInput, CollateralInput
from p2plend.origination.blacklist import BlacklistView
from p2plend.origination.documents import DocumentView
from p2plend.origination.lpr import LprView, plain
from p2plend.origination.models import (
    ApplicationDecision,
    Collateral,
    CreditDecision,
    FieldVerification,
    LoanApplication,
)
from p2plend.origination.products import GradeTerms, ProductTerms, ProductView, VersionView
from p2plend.origination.service import ApplicationDetail
from p2plend.origination.vocabulary import CONFIDENTIAL_REASONS
from p2plend.schedules.service import Method
from p2plend.servicing.service import RepaymentOrder

RateText = Annotated[str, Field(examples=["0.0725"], description="A decimal fraction: 0.0725 is 7.25 %.")]
_RATE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{1,6})?$")


def _amount(value: object, *, allow_zero: bool = False) -> str:
    parse_amount(value, allow_zero=allow_zero)  # invalid_amount for numbers, signs, > 2 decimals …
    assert isinstance(value, str)
    return value


def _rate(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str) or not _RATE.fullmatch(value):
        raise ValueError('a rate is a decimal string such as "0.0725" (at most 6 decimals), never a number')
    return value


def rate_text(value: Decimal | None) -> str | None:
    return None if value is None else str(plain(value))


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else yuan_str(fen)


# --- products ------------------------------------------------------------------------------------


class GradeTermsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grade: str = Field(description="AA, A, B, C, D, E or HR.")
    rate_min: RateText
    rate_max: RateText
    service_fee_rate: RateText = Field(description="Of principal, at disbursement: 0–0.03.")
    risk_class: str = Field(description="R1 … R5.")
    amount_cap: Yuan

    @field_validator("rate_min", "rate_max", "service_fee_rate", mode="before")
    @classmethod
    def _check_rate(cls, value: object) -> str:
        return _rate(value)

    @field_validator("amount_cap", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return _amount(value)

    def to_terms(self) -> GradeTerms:
        return GradeTerms(
            grade=self.grade,
            rate_min=Decimal(self.rate_min),
            rate_max=Decimal(self.rate_max),
            service_fee_rate=Decimal(self.service_fee_rate),
            risk_class=self.risk_class,
            amount_cap=parse_amount(self.amount_cap),
        )

    @classmethod
    def of(cls, g: GradeTerms) -> "GradeTermsBody":
        return cls(
            grade=g.grade,
            rate_min=str(plain(g.rate_min)),
            rate_max=str(plain(g.rate_max)),
            service_fee_rate=str(plain(g.service_fee_rate)),
            risk_class=g.risk_class,
            amount_cap=yuan_str(g.amount_cap),
        )


class TermsBody(BaseModel):
    """Every term of a product version; omitted ones take DOMAIN.md's defaults."""

    model_config = ConfigDict(extra="forbid")

    amount_min: Yuan
    amount_max: Yuan
    term_min_months: StrictInt
    term_max_months: StrictInt
    methods: list[str] = Field(description="equal_installment, equal_principal, interest_first, bullet.")
    grades: list[GradeTermsBody] = Field(description="All seven grades, AA … HR.")
    day_terms_allowed: StrictBool = False
    term_min_days: StrictInt | None = None
    term_max_days: StrictInt | None = None
    monthly_fee_rate: RateText = "0"
    investor_fee_rate: RateText = "0.10"
    prepayment_fee_rate: RateText = "0"
    repayment_order: RepaymentOrder = Field(
        default=RepaymentOrder.COMPONENTS,
        description="components (R32, the default) or installments: how a partial payment is applied",
    )
    funding_days: StrictInt = 7
    min_bid: Yuan = "100.00"
    bid_step: Yuan = "100.00"
    max_share: RateText = "0.5"
    day_basis: StrictInt = 365
    ltv_cap: RateText | None = Field(default=None, description="Mortgage products only, e.g. 0.7.")
    field_verification_threshold: Yuan | None = None
    four_eyes_threshold: Yuan | None = None
    max_age_at_maturity: StrictInt = 60
    auto_reject_hr: StrictBool = True

    @field_validator("amount_min", "amount_max", "min_bid", "bid_step", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return _amount(value)

    @field_validator("field_verification_threshold", "four_eyes_threshold", mode="before")
    @classmethod
    def _check_threshold(cls, value: object) -> str | None:
        return None if value is None else _amount(value, allow_zero=True)

    @field_validator(
        "monthly_fee_rate", "investor_fee_rate", "prepayment_fee_rate", "max_share", "ltv_cap", mode="before"
    )
    @classmethod
    def _check_rate(cls, value: object) -> str | None:
        return None if value is None else _rate(value)

    @field_validator("methods")
    @classmethod
    def _check_methods(cls, value: list[str]) -> list[str]:
        for method in value:
            Method(method)  # ValueError: not a repayment method
        return value

    def to_terms(self) -> ProductTerms:
        return ProductTerms(
            amount_min=parse_amount(self.amount_min),
            amount_max=parse_amount(self.amount_max),
            term_min_months=self.term_min_months,
            term_max_months=self.term_max_months,
            methods=tuple(Method(m) for m in self.methods),
            grades=tuple(g.to_terms() for g in self.grades),
            day_terms_allowed=self.day_terms_allowed,
            term_min_days=self.term_min_days,
            term_max_days=self.term_max_days,
            monthly_fee_rate=Decimal(self.monthly_fee_rate),
            investor_fee_rate=Decimal(self.investor_fee_rate),
            prepayment_fee_rate=Decimal(self.prepayment_fee_rate),
            repayment_order=self.repayment_order,
            funding_days=self.funding_days,
            min_bid=parse_amount(self.min_bid),
            bid_step=parse_amount(self.bid_step),
            max_share=Decimal(self.max_share),
            day_basis=self.day_basis,
            ltv_cap=None if self.ltv_cap is None else Decimal(self.ltv_cap),
            field_verification_threshold=(
                None
                if self.field_verification_threshold is None
                else parse_amount(self.field_verification_threshold, allow_zero=True)
            ),
            four_eyes_threshold=(
                None
                if self.four_eyes_threshold is None
                else parse_amount(self.four_eyes_threshold, allow_zero=True)
            ),
            max_age_at_maturity=self.max_age_at_maturity,
            auto_reject_hr=self.auto_reject_hr,
        )

    @classmethod
    def of(cls, t: ProductTerms) -> "TermsBody":
        return cls(
            amount_min=yuan_str(t.amount_min),
            amount_max=yuan_str(t.amount_max),
            term_min_months=t.term_min_months,
            term_max_months=t.term_max_months,
            methods=[m.value for m in t.methods],
            grades=[GradeTermsBody.of(g) for g in t.grades],
            day_terms_allowed=t.day_terms_allowed,
            term_min_days=t.term_min_days,
            term_max_days=t.term_max_days,
            monthly_fee_rate=str(plain(t.monthly_fee_rate)),
            investor_fee_rate=str(plain(t.investor_fee_rate)),
            prepayment_fee_rate=str(plain(t.prepayment_fee_rate)),
            repayment_order=t.repayment_order,
            funding_days=t.funding_days,
            min_bid=yuan_str(t.min_bid),
            bid_step=yuan_str(t.bid_step),
            max_share=str(plain(t.max_share)),
            day_basis=t.day_basis,
            ltv_cap=rate_text(t.ltv_cap),
            field_verification_threshold=_yuan(t.field_verification_threshold),
            four_eyes_threshold=_yuan(t.four_eyes_threshold),
            max_age_at_maturity=t.max_age_at_maturity,
            auto_reject_hr=t.auto_reject_hr,
        )


class VersionResponse(BaseModel):
    id: int
    version: int
    note: str
    created_at: datetime
    terms: TermsBody

    @classmethod
    def of(cls, v: VersionView) -> "VersionResponse":
        return cls(
            id=v.id, version=v.version, note=v.note, created_at=v.created_at, terms=TermsBody.of(v.terms)
        )


class ProductResponse(BaseModel):
    code: str
    kind: str = Field(description="credit 信用贷, mortgage 抵押贷, guaranteed 担保贷, institution P2B.")
    name_zh: str
    name_en: str
    active: bool
    current: VersionResponse
    versions: list[VersionResponse] = Field(default_factory=list, description="Newest first, when asked for.")

    @classmethod
    def of(cls, p: ProductView) -> "ProductResponse":
        return cls(
            code=p.code,
            kind=p.kind,
            name_zh=p.name_zh,
            name_en=p.name_en,
            active=p.active,
            current=VersionResponse.of(p.current),
            versions=[VersionResponse.of(v) for v in p.versions],
        )


class CreateProductRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=32, description="2–32 of a-z, 0-9, '-', '_'.")
    kind: str = Field(max_length=16)
    name_zh: str = Field(max_length=100)
    name_en: str = Field(max_length=100)
    terms: TermsBody
    note: str = Field(default="", max_length=200)


class NewVersionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terms: TermsBody
    note: str = Field(default="", max_length=200)


class LprRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"effective_date": "2026-12-21", "rate": "0.0295"}]}
    )

    effective_date: date
    rate: RateText

    @field_validator("rate", mode="before")
    @classmethod
    def _check_rate(cls, value: object) -> str:
        return _rate(value)


class LprResponse(BaseModel):
    effective_date: date
    rate: RateText
    created_at: datetime
    created_by: int | None

    @classmethod
    def of(cls, v: LprView) -> "LprResponse":
        return cls(
            effective_date=v.effective_date,
            rate=str(v.rate),
            created_at=v.created_at,
            created_by=v.created_by,
        )


# --- applications ---------------------------------------------------------------------------------


class CollateralBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collateral_type: str = Field(
        max_length=24, description="real_estate, vehicle, land_use_right, equipment, other."
    )
    description: str = Field(max_length=500)
    appraised_value: Yuan
    lien_status: str = Field(
        max_length=24, description="unencumbered, encumbered, registration_pending, registered."
    )

    @field_validator("appraised_value", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return _amount(value)

    @classmethod
    def of(cls, c: Collateral) -> "CollateralBody":
        return cls(
            collateral_type=c.collateral_type,
            description=c.description,
            appraised_value=yuan_str(c.appraised_value),
            lien_status=c.lien_status,
        )


_APPLICATION_EXAMPLE: dict[str, Any] = {
    "product_code": "credit",
    "amount": "20000.00",
    "term_months": 12,
    "method": "equal_installment",
    "purpose": "home_improvement",
    "purpose_description": "旧房翻新，更换厨卫设施",
    "monthly_income": "15000.00",
    "employment": "salaried",
    "employment_years": 5,
    "housing": "rent",
    "other_debts_amount": "0.00",
    "other_debts_count": 0,
    "industry": "信息技术",
    "repayment_source": "工资收入",
}


class ApplicationRequest(BaseModel):
    """申请借款. Term in months, or in days for a day-based bullet where the product allows."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_APPLICATION_EXAMPLE]})

    product_code: str = Field(max_length=32)
    amount: Yuan
    term_months: StrictInt | None = Field(default=None, ge=0, le=1000)
    term_days: StrictInt | None = Field(default=None, ge=0, le=10000)
    method: str = Field(
        max_length=24, description="equal_installment, equal_principal, interest_first, bullet."
    )
    purpose: str = Field(
        max_length=32,
        description="consumption, education, medical, home_improvement, car, business, working_capital, "
        "debt_consolidation, other. Stocks, margin, futures, structured products and derivatives "
        "are refused (R7).",
    )
    purpose_description: str = Field(max_length=500)
    monthly_income: Yuan
    employment: str = Field(
        max_length=16, description="salaried, civil_servant, self_employed, retired, unemployed, student."
    )
    employment_years: StrictInt = Field(ge=0, le=80)
    housing: str = Field(max_length=16, description="own, mortgage, rent, family, other.")
    industry: str = Field(max_length=64)
    repayment_source: str = Field(max_length=200)
    other_debts_amount: Yuan = Field(
        default="0.00", description="Declared debt on other platforms and banks."
    )
    other_debts_count: StrictInt = Field(default=0, ge=0, le=1000)
    overdues_6m: StrictInt = Field(
        default=0, ge=0, le=1000, description="Declared credit-report overdues, 6 months."
    )
    guarantor_id: StrictInt | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Guaranteed products: the guarantee company."
    )
    collateral: CollateralBody | None = Field(default=None, description="Mortgage products.")
    institution_type: str | None = Field(default=None, max_length=24)
    institution_risk_tier: StrictInt | None = Field(default=None, ge=0, le=100)

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return _amount(value)

    @field_validator("monthly_income", "other_debts_amount", mode="before")
    @classmethod
    def _check_zero_amount(cls, value: object) -> str:
        return _amount(value, allow_zero=True)

    def to_input(self) -> ApplicationInput:
        c = self.collateral
        return ApplicationInput(
            product_code=self.product_code,
            amount=parse_amount(self.amount),
            term_months=self.term_months,
            term_days=self.term_days,
            method=self.method,
            purpose=self.purpose,
            purpose_description=self.purpose_description,
            monthly_income=parse_amount(self.monthly_income, allow_zero=True),
            employment=self.employment,
            employment_years=self.employment_years,
            housing=self.housing,
            industry=self.industry,
            repayment_source=self.repayment_source,
            other_debts_amount=parse_amount(self.other_debts_amount, allow_zero=True),
            other_debts_count=self.other_debts_count,
            overdues_6m=self.overdues_6m,
            guarantor_id=self.guarantor_id,
            collateral=None
            if c is None
            else CollateralInput(
                c.collateral_type, c.description, parse_amount(c.appraised_value), c.lien_status
            ),
            institution_type=self.institution_type,
            institution_risk_tier=self.institution_risk_tier,
        )


class OfflineApplicationRequest(ApplicationRequest):
    """线下进件: staff enter an application taken at a branch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{**_APPLICATION_EXAMPLE, "borrower_id": 42, "branch_code": "BJ-CY-01"}]
        },
    )

    borrower_id: StrictInt = Field(ge=1, le=2**63 - 1)
    branch_code: str = Field(max_length=32)


class ReferralRequest(ApplicationRequest):
    """推荐借款人: a partner institution refers a registered, verified borrower by phone."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    **_APPLICATION_EXAMPLE,
                    "borrower_phone": "13800000001",
                    "product_code": "p2b",
                    "amount": "300000.00",
                    "purpose": "working_capital",
                    "institution_type": "micro_loan",
                    "institution_risk_tier": 2,
                }
            ]
        },
    )

    borrower_phone: str = Field(max_length=20)


class ResubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply: str = Field(default="", max_length=500, description="Your answer to the officer's question.")


class DocumentResponse(BaseModel):
    id: int
    kind: str
    filename: str
    content_type: str = Field(
        description="As detected from the file: application/pdf, image/jpeg, image/png."
    )
    size_bytes: int
    sha256: str
    created_at: datetime

    @classmethod
    def of(cls, d: DocumentView) -> "DocumentResponse":
        return cls(
            id=d.id,
            kind=d.kind,
            filename=d.filename,
            content_type=d.content_type,
            size_bytes=d.size_bytes,
            sha256=d.sha256,
            created_at=d.created_at,
        )


class ApplicationResponse(BaseModel):
    """An application as its borrower (or referring partner) sees it."""

    id: int
    product_code: str
    product_version: int
    channel: str
    status: str = Field(
        description="submitted, under_review, info_requested, awaiting_second_approval, approved, listed, "
        "rejected, cancelled."
    )
    amount: Yuan
    term_months: int | None
    term_days: int | None
    method: str
    purpose: str
    purpose_description: str
    grade: str | None = Field(description="The approved grade, else the assessed one.")
    rate_min: RateText | None
    rate_max: RateText | None
    annual_rate: RateText | None = Field(description="Once approved.")
    service_fee_rate: RateText | None
    rejection_code: str | None = Field(description="Why it was declined; some reasons read 'not_eligible'.")
    info_request: str | None
    borrower_reply: str | None
    loan_id: int | None
    submitted_at: datetime
    updated_at: datetime
    documents: list[DocumentResponse]

    @classmethod
    def of(
        cls, a: LoanApplication, product_code: str, version: int, documents: list[DocumentView]
    ) -> "ApplicationResponse":
        code = a.rejection_code
        return cls(
            id=a.id,
            product_code=product_code,
            product_version=version,
            channel=a.channel,
            status=a.status,
            amount=yuan_str(a.amount),
            term_months=a.term_months,
            term_days=a.term_days,
            method=a.method,
            purpose=a.purpose,
            purpose_description=a.purpose_description,
            grade=a.approved_grade or a.grade,
            rate_min=rate_text(a.rate_min),
            rate_max=rate_text(a.rate_max),
            annual_rate=rate_text(a.annual_rate),
            service_fee_rate=rate_text(a.service_fee_rate),
            rejection_code="not_eligible" if code in CONFIDENTIAL_REASONS else code,
            info_request=a.info_request,
            borrower_reply=a.borrower_reply,
            loan_id=a.loan_id,
            submitted_at=a.submitted_at,
            updated_at=a.updated_at,
            documents=[DocumentResponse.of(d) for d in documents],
        )


class ApplicationListResponse(BaseModel):
    items: list[ApplicationResponse]


class PersonResponse(BaseModel):
    """A user as staff see them here: personal data masked (R47)."""

    user_id: int
    kind: str
    name: str | None
    id_number_masked: str | None
    phone_masked: str

    @classmethod
    def of(cls, p: Profile) -> "PersonResponse":
        name = p.display_name if p.kind == "organisation" else p.name_masked
        return cls(
            user_id=p.user_id,
            kind=p.kind,
            name=name,
            id_number_masked=p.id_number_masked,
            phone_masked=p.phone_masked,
        )


class CreditDecisionResponse(BaseModel):
    model_version: str
    score: int | None
    grade: str
    reasons: list[str]
    created_at: datetime

    @classmethod
    def of(cls, d: CreditDecision) -> "CreditDecisionResponse":
        return cls(
            model_version=d.model_version,
            score=d.score,
            grade=d.grade,
            reasons=list(d.reasons),
            created_at=d.created_at,
        )


class FieldVerificationResponse(BaseModel):
    id: int
    kind: str
    verified_on: date
    officer_id: int
    result: str
    notes: str
    created_at: datetime

    @classmethod
    def of(cls, v: FieldVerification) -> "FieldVerificationResponse":
        return cls(
            id=v.id,
            kind=v.kind,
            verified_on=v.verified_on,
            officer_id=v.officer_id,
            result=v.result,
            notes=v.notes,
            created_at=v.created_at,
        )


class DecisionResponse(BaseModel):
    action: str
    officer_id: int
    grade: str | None
    annual_rate: RateText | None
    reason_code: str | None
    note: str
    created_at: datetime

    @classmethod
    def of(cls, d: ApplicationDecision) -> "DecisionResponse":
        return cls(
            action=d.action,
            officer_id=d.officer_id,
            grade=d.grade,
            annual_rate=rate_text(d.annual_rate),
            reason_code=d.reason_code,
            note=d.note,
            created_at=d.created_at,
        )


class StaffApplicationResponse(BaseModel):
    """审核: everything a reviewer needs, personal data masked."""

    id: int
    status: str
    channel: str
    branch_code: str | None
    partner_id: int | None
    entered_by: int | None
    borrower: PersonResponse
    product_code: str
    product_version: int
    product_version_id: int
    amount: Yuan
    term_months: int | None
    term_days: int | None
    method: str
    purpose: str
    purpose_description: str
    monthly_income: Yuan
    employment: str
    employment_years: int
    housing: str
    other_debts_amount: Yuan
    other_debts_count: int
    overdues_6m: int
    industry: str
    repayment_source: str
    guarantor_id: int | None
    institution_type: str | None
    institution_risk_tier: int | None
    collateral: CollateralBody | None
    grade: str | None
    score: int | None
    risk_class: str | None
    rate_min: RateText | None
    rate_max: RateText | None
    service_fee_rate: RateText | None
    approved_grade: str | None
    annual_rate: RateText | None
    annualised_cost: RateText | None
    lpr_rate: RateText | None
    first_approved_by: int | None
    approved_by: int | None
    rejection_code: str | None
    rejection_note: str | None
    info_request: str | None
    borrower_reply: str | None
    loan_id: int | None
    needs_field_verification: bool
    needs_four_eyes: bool
    credit_decisions: list[CreditDecisionResponse]
    field_verifications: list[FieldVerificationResponse]
    decisions: list[DecisionResponse]
    documents: list[DocumentResponse]
    submitted_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, detail: ApplicationDetail) -> "StaffApplicationResponse":
        a = detail.application
        return cls(
            id=a.id,
            status=a.status,
            channel=a.channel,
            branch_code=a.branch_code,
            partner_id=a.partner_id,
            entered_by=a.entered_by,
            borrower=PersonResponse.of(detail.borrower),
            product_code=detail.product.code,
            product_version=detail.version.version,
            product_version_id=a.product_version_id,
            amount=yuan_str(a.amount),
            term_months=a.term_months,
            term_days=a.term_days,
            method=a.method,
            purpose=a.purpose,
            purpose_description=a.purpose_description,
            monthly_income=yuan_str(a.monthly_income),
            employment=a.employment,
            employment_years=a.employment_years,
            housing=a.housing,
            other_debts_amount=yuan_str(a.other_debts_amount),
            other_debts_count=a.other_debts_count,
            overdues_6m=a.overdues_6m,
            industry=a.industry,
            repayment_source=a.repayment_source,
            guarantor_id=a.guarantor_id,
            institution_type=a.institution_type,
            institution_risk_tier=a.institution_risk_tier,
            collateral=None if detail.collateral is None else CollateralBody.of(detail.collateral),
            grade=a.grade,
            score=a.score,
            risk_class=a.risk_class,
            rate_min=rate_text(a.rate_min),
            rate_max=rate_text(a.rate_max),
            service_fee_rate=rate_text(a.service_fee_rate),
            approved_grade=a.approved_grade,
            annual_rate=rate_text(a.annual_rate),
            annualised_cost=rate_text(a.annualised_cost),
            lpr_rate=rate_text(a.lpr_rate),
            first_approved_by=a.first_approved_by,
            approved_by=a.approved_by,
            rejection_code=a.rejection_code,
            rejection_note=a.rejection_note,
            info_request=a.info_request,
            borrower_reply=a.borrower_reply,
            loan_id=a.loan_id,
            needs_field_verification=detail.needs_field_verification,
            needs_four_eyes=detail.needs_four_eyes,
            credit_decisions=[CreditDecisionResponse.of(d) for d in detail.credit_decisions],
            field_verifications=[FieldVerificationResponse.of(v) for v in detail.field_verifications],
            decisions=[DecisionResponse.of(d) for d in detail.decisions],
            documents=[DocumentResponse.of(d) for d in detail.documents],
            submitted_at=a.submitted_at,
            updated_at=a.updated_at,
        )


class StaffApplicationSummary(BaseModel):
    id: int
    status: str
    channel: str
    borrower_id: int
    borrower_kind: str
    product_version_id: int
    amount: Yuan
    term_months: int | None
    term_days: int | None
    purpose: str
    grade: str | None
    score: int | None
    submitted_at: datetime

    @classmethod
    def of(cls, a: LoanApplication) -> "StaffApplicationSummary":
        return cls(
            id=a.id,
            status=a.status,
            channel=a.channel,
            borrower_id=a.borrower_id,
            borrower_kind=a.borrower_kind,
            product_version_id=a.product_version_id,
            amount=yuan_str(a.amount),
            term_months=a.term_months,
            term_days=a.term_days,
            purpose=a.purpose,
            grade=a.approved_grade or a.grade,
            score=a.score,
            submitted_at=a.submitted_at,
        )


class FieldVerificationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "site_visit",
                    "verified_on": "2026-11-28",
                    "result": "pass",
                    "notes": "核实住址与工作单位",
                }
            ]
        },
    )

    kind: str = Field(max_length=16, description="interview 面审, site_visit 实地认证.")
    verified_on: date
    result: str = Field(max_length=8, description="pass or fail.")
    notes: str = Field(max_length=2000)


class DecisionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "approve", "grade": "B", "annual_rate": "0.08", "note": "收入稳定"},
                {"action": "reject", "reason_code": "insufficient_income", "note": "收入证明不足"},
                {"action": "request_info", "message": "请上传近 6 个月银行流水。"},
                {"action": "second_approve"},
            ]
        },
    )

    action: str = Field(
        max_length=24, description="approve, reject, request_info, second_approve, second_reject."
    )
    grade: str | None = Field(default=None, max_length=4)
    annual_rate: RateText | None = None
    reason_code: str | None = Field(default=None, max_length=40)
    note: str = Field(default="", max_length=500)
    message: str = Field(
        default="", max_length=500, description="request_info: what the borrower should add."
    )

    @field_validator("annual_rate", mode="before")
    @classmethod
    def _check_rate(cls, value: object) -> str | None:
        return None if value is None else _rate(value)


class BlacklistRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(max_length=32, description="Resident ID or USCC; only its blind index is kept.")
    kind: str = Field(max_length=16, description="blacklist, or related_party (R2).")
    reason: str = Field(max_length=200)


class BlacklistResponse(BaseModel):
    id: int
    kind: str
    id_number_masked: str
    reason: str
    created_at: datetime
    created_by: int | None
    removed_at: datetime | None
    removed_by: int | None

    @classmethod
    def of(cls, b: BlacklistView) -> "BlacklistResponse":
        return cls(
            id=b.id,
            kind=b.kind,
            id_number_masked=b.id_number_masked,
            reason=b.reason,
            created_at=b.created_at,
            created_by=b.created_by,
            removed_at=b.removed_at,
            removed_by=b.removed_by,
        )
