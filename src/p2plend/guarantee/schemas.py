"""API shapes of guarantee and compensation (担保 / 代偿): a guarantee company's terms and
exposure, the loans it guarantees, its compensations. Money is a two-decimal yuan string
(``money.yuan_str``), rates are decimal strings (``"0.015"`` is 1.5 %), never numbers.

:func:`read_terms` checks terms typed by a person or a client (API, pages, CLI alike) before
``guarantee.set_terms`` records them; every refusal is ``invalid_guarantee_terms`` with the
field in ``details``.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from p2plend.errors import InvalidInput
from p2plend.guarantee import reserve
from p2plend.guarantee import service as guarantee
from p2plend.guarantee.models import Compensation, GuaranteeAgreement, ReserveCoverage
from p2plend.identity.service import Profile
from p2plend.marketplace.models import Loan
from p2plend.money import Yuan, yuan_str

RateText = Annotated[str, Field(examples=["0.015"], description="A decimal fraction: 0.015 is 1.5 %.")]

# The most days past due a trigger may name: ten years, far beyond any term on the platform.
MAX_DPD = 3650
_RATE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{1,6})?$")  # what Numeric(9, 6) keeps exactly
_DAYS = re.compile(r"^[0-9]{1,6}$")

COVERAGE_DESCRIPTION = "principal (本金), or principal_interest (本息)"
AGREEMENT_STATUS_DESCRIPTION = (
    "active; accelerated (the guarantor paid all that remained and holds the whole claim); "
    "closed (the loan is repaid)"
)
STAGE_DESCRIPTION = "current, m1 (DPD 1–30), m2 (31–60), m3 (61–90), m3_plus (91–180), m7_plus (> 180)"


def rate_text(value: Decimal) -> str:
    """A stored rate as its shortest decimal string: ``Decimal("0.015000")`` → ``"0.015"``."""
    return format(Decimal(value).normalize(), "f")


# --- reading terms typed by people and clients -----------------------------------------------------


@dataclass(frozen=True)
class TermsInput:
    coverage: str
    trigger_dpd: int
    accelerate_dpd: int
    fee_rate: Decimal


def _days(field: str, value: int | str, refusal: type[InvalidInput]) -> int:
    if isinstance(value, str):
        if not _DAYS.fullmatch(value):
            raise refusal("Days past due are a whole number of days.", details={"field": field})
        value = int(value)
    if not 1 <= value <= MAX_DPD:
        raise refusal(f"Days past due are between 1 and {MAX_DPD}.", details={"field": field})
    return value


def read_terms(
    *,
    coverage: str,
    trigger_dpd: int | str,
    accelerate_dpd: int | str,
    fee_rate: str,
    rate_field: str = "fee_rate",
    refusal: type[InvalidInput] = guarantee.InvalidGuaranteeTerms,
) -> TermsInput:
    """Terms as typed (days as numbers or digit strings, the rate as a decimal string with at
    most 6 decimals); ``guarantee.check_terms`` then checks how they fit together. The risk
    reserve's terms are read alike, with its own ``refusal`` and ``rate_field``."""
    if coverage not in guarantee.COVERAGES:
        raise refusal("Coverage is principal or principal_interest.", details={"field": "coverage"})
    trigger = _days("trigger_dpd", trigger_dpd, refusal)
    accelerate = _days("accelerate_dpd", accelerate_dpd, refusal)
    if not _RATE.fullmatch(fee_rate):
        rate_name = rate_field.replace("_", " ")
        raise refusal(
            f'The {rate_name} is a decimal string such as "0.015" (at most 6 decimals).',
            details={"field": rate_field},
        )
    return TermsInput(coverage, trigger, accelerate, Decimal(fee_rate))


# --- requests ---------------------------------------------------------------------------------------


class GuaranteeTermsRequest(BaseModel):
    """A guarantee company's standing terms (担保合作协议); loans listed later copy them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "coverage": "principal_interest",
                    "trigger_dpd": 2,
                    "accelerate_dpd": 90,
                    "fee_rate": "0.015",
                }
            ]
        },
    )

    coverage: str = Field(description=COVERAGE_DESCRIPTION)
    trigger_dpd: StrictInt = Field(description="Pay an overdue installment on this day past due [D 2]")
    accelerate_dpd: StrictInt = Field(
        description="Pay all that remains (principal, unpaid interest, no penalty) on this DPD [D 90]"
    )
    fee_rate: RateText = Field(
        description="担保费, a share of the principal paid by the borrower at disbursement"
    )


# --- responses --------------------------------------------------------------------------------------


class GuaranteeTermsOut(BaseModel):
    guarantor_id: int
    coverage: str = Field(description=COVERAGE_DESCRIPTION)
    trigger_dpd: int
    accelerate_dpd: int
    fee_rate: RateText
    agreed: bool = Field(description="False: no terms recorded yet, these are the defaults [D]")

    @classmethod
    def of(cls, terms: guarantee.Terms) -> "GuaranteeTermsOut":
        return cls(
            guarantor_id=terms.guarantor_id,
            coverage=terms.coverage,
            trigger_dpd=terms.trigger_dpd,
            accelerate_dpd=terms.accelerate_dpd,
            fee_rate=rate_text(terms.fee_rate),
            agreed=terms.agreed,
        )


class GuarantorExposureOut(BaseModel):
    """担保余额: what the guarantee company stands behind, what it paid, lacked and got back."""

    available: Yuan = Field(description="Its available balance at the custodian bank")
    loans: int = Field(description="Loans in repayment under an active agreement")
    guaranteed_principal: Yuan = Field(description="Their outstanding principal not yet compensated")
    compensated: Yuan = Field(description="Everything it has paid holders (代偿金额)")
    shortfall: Yuan = Field(description="What it lacked when it had to pay (R36)")
    recovered: Yuan = Field(description="What borrowers have paid it back on its claims since")

    @classmethod
    def of(cls, exposure: guarantee.Exposure) -> "GuarantorExposureOut":
        return cls(
            available=yuan_str(exposure.available),
            loans=exposure.loans,
            guaranteed_principal=yuan_str(exposure.guaranteed_principal),
            compensated=yuan_str(exposure.compensated),
            shortfall=yuan_str(exposure.shortfall),
            recovered=yuan_str(exposure.recovered),
        )


class GuarantorOut(BaseModel):
    guarantor_id: int
    name: str | None = Field(description="The guarantee company's registered name")
    status: str = Field(description="active, locked or disabled")
    terms: GuaranteeTermsOut
    exposure: GuarantorExposureOut

    @classmethod
    def of(cls, profile: Profile, terms: guarantee.Terms, exposure: guarantee.Exposure) -> "GuarantorOut":
        return cls(
            guarantor_id=profile.user_id,
            name=profile.display_name,
            status=profile.status,
            terms=GuaranteeTermsOut.of(terms),
            exposure=GuarantorExposureOut.of(exposure),
        )


class GuaranteeAgreementOut(BaseModel):
    """担保合同 of one loan: the guarantor's terms copied when the loan was listed."""

    id: int
    loan_id: int
    guarantor_id: int
    coverage: str = Field(description=COVERAGE_DESCRIPTION)
    trigger_dpd: int
    accelerate_dpd: int
    fee_rate: RateText
    status: str = Field(description=AGREEMENT_STATUS_DESCRIPTION)
    signed_at: datetime

    @classmethod
    def of(cls, agreement: GuaranteeAgreement) -> "GuaranteeAgreementOut":
        return cls(
            id=agreement.id,
            loan_id=agreement.loan_id,
            guarantor_id=agreement.guarantor_id,
            coverage=agreement.coverage,
            trigger_dpd=agreement.trigger_dpd,
            accelerate_dpd=agreement.accelerate_dpd,
            fee_rate=rate_text(agreement.fee_rate),
            status=agreement.status,
            signed_at=agreement.signed_at,
        )


class GuaranteedLoanOut(BaseModel):
    """A loan the guarantee company guarantees, with its overdue position and the claim the
    company holds on it from compensating."""

    loan_id: int
    title: str
    loan_status: str = Field(
        description="pending, open, funded, disbursed (还款中), settled, failed, withdrawn"
    )
    amount: Yuan
    principal_outstanding: Yuan
    guaranteed_principal: Yuan = Field(description="Outstanding principal it still stands behind")
    claim_principal: Yuan = Field(description="代偿债权: principal of the claim it acquired by compensating")
    recovered: Yuan = Field(description="What the borrower has paid it back on that claim")
    days_past_due: int = Field(description="逾期天数 as of the last end-of-day batch")
    stage: str = Field(description=STAGE_DESCRIPTION)
    classification: str = Field(description="五级分类: normal, special_mention, substandard, doubtful, loss")
    guarantee_fee: Yuan = Field(description="担保费 it received at disbursement")
    status: str = Field(description="The agreement's status: " + AGREEMENT_STATUS_DESCRIPTION)
    agreement: GuaranteeAgreementOut

    @classmethod
    def of(
        cls, agreement: GuaranteeAgreement, loan: Loan, claim: guarantee.Claim | None
    ) -> "GuaranteedLoanOut":
        return cls(
            loan_id=loan.id,
            title=loan.title,
            loan_status=loan.status,
            amount=yuan_str(loan.amount),
            principal_outstanding=yuan_str(loan.principal_outstanding),
            guaranteed_principal=yuan_str(guarantee.guaranteed_principal(agreement, loan, claim)),
            claim_principal=yuan_str(claim.principal_outstanding if claim else 0),
            recovered=yuan_str(claim.recovered if claim else 0),
            days_past_due=loan.days_past_due,
            stage=loan.stage,
            classification=loan.classification,
            guarantee_fee=yuan_str(loan.guarantee_fee),
            status=agreement.status,
            agreement=GuaranteeAgreementOut.of(agreement),
        )


class CompensationOut(BaseModel):
    """代偿: what the guarantor paid the holders for one installment or, on acceleration
    (installment 0), for everything that remained."""

    id: int
    loan_id: int
    loan_title: str
    guarantor_id: int | None = Field(description="Who paid")
    kind: str = Field(description="installment or acceleration")
    installment_number: int = Field(description="0 for an acceleration")
    business_date: date
    due: Yuan = Field(description="What the holders were owed")
    paid: Yuan = Field(description="What the guarantor paid them")
    shortfall: Yuan = Field(description="due − paid: what it lacked (R36), recorded, never created")
    principal: Yuan = Field(description="Principal paid (the claim it acquired)")
    interest: Yuan = Field(description="Interest paid")
    created_at: datetime

    @classmethod
    def of(cls, row: Compensation, loan_title: str) -> "CompensationOut":
        return cls(
            id=row.id,
            loan_id=row.loan_id,
            loan_title=loan_title,
            guarantor_id=row.payer_id,
            kind=row.kind,
            installment_number=row.installment_number,
            business_date=row.business_date,
            due=yuan_str(row.due),
            paid=yuan_str(row.paid),
            shortfall=yuan_str(row.shortfall),
            principal=yuan_str(row.principal),
            interest=yuan_str(row.interest),
            created_at=row.created_at,
        )


class LoanGuaranteeOut(BaseModel):
    """A guaranteed loan's agreement and every compensation under it, oldest first."""

    loan_id: int
    title: str
    agreement: GuaranteeAgreementOut
    guaranteed_principal: Yuan = Field(description="Outstanding principal the guarantor still stands behind")
    claim_principal: Yuan = Field(description="代偿债权 the guarantor holds on the loan")
    recovered: Yuan = Field(description="What the borrower has paid the guarantor back")
    compensated: Yuan = Field(description="Sum paid by the guarantor")
    shortfall: Yuan = Field(description="Sum it lacked")
    compensations: list[CompensationOut]

    @classmethod
    def of(cls, view: guarantee.LoanGuarantee) -> "LoanGuaranteeOut":
        claim = view.claim
        return cls(
            loan_id=view.loan.id,
            title=view.loan.title,
            agreement=GuaranteeAgreementOut.of(view.agreement),
            guaranteed_principal=yuan_str(view.guaranteed_principal),
            claim_principal=yuan_str(claim.principal_outstanding if claim else 0),
            recovered=yuan_str(claim.recovered if claim else 0),
            compensated=yuan_str(sum(c.paid for c in view.compensations)),
            shortfall=yuan_str(sum(c.shortfall for c in view.compensations)),
            compensations=[CompensationOut.of(c, view.loan.title) for c in view.compensations],
        )


# --- the platform risk reserve (风险备付金) ---------------------------------------------------------


def read_reserve_terms(
    *, coverage: str, trigger_dpd: int | str, accelerate_dpd: int | str, contribution_rate: str
) -> TermsInput:
    """The reserve's terms as typed, read as a guarantor's are; refusals are
    ``invalid_risk_reserve_terms`` naming the field (``contribution_rate`` for the rate)."""
    return read_terms(
        coverage=coverage,
        trigger_dpd=trigger_dpd,
        accelerate_dpd=accelerate_dpd,
        fee_rate=contribution_rate,
        rate_field="contribution_rate",
        refusal=reserve.InvalidReserveTerms,
    )


class RiskReserveOpenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"phone": "13900000099"}]})

    phone: str = Field(description="The contact phone of the reserve's custody sub-account")


class RiskReserveRequest(BaseModel):
    """Switch the reserve on or off and set the terms loans covered from now on copy."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "enabled": False,
                    "coverage": "principal",
                    "trigger_dpd": 30,
                    "accelerate_dpd": 90,
                    "contribution_rate": "0.01",
                }
            ]
        },
    )

    enabled: bool = Field(description="On makes the compliance report flag the platform (R37)")
    coverage: str = Field(description=COVERAGE_DESCRIPTION)
    trigger_dpd: StrictInt = Field(description="Pay an overdue installment on this day past due")
    accelerate_dpd: StrictInt = Field(description="Pay all that remains on this day past due")
    contribution_rate: RateText = Field(
        description="提取比例: of each covered loan's principal, from the platform's fee income, once"
    )


class RiskReserveOut(BaseModel):
    """风险备付金: its settings and position."""

    opened: bool = Field(description="Its account and custody sub-account exist")
    holder_id: int | None = Field(description="The reserve's own account (holds its money and claims)")
    enabled: bool
    enabled_since: date | None = Field(description="Loans disbursed from this day on are covered")
    coverage: str = Field(description=COVERAGE_DESCRIPTION)
    trigger_dpd: int
    accelerate_dpd: int
    contribution_rate: RateText
    flagged: bool = Field(description="The compliance report flags it: on, or still covering loans (R37)")
    available: Yuan
    loans: int = Field(description="Loans in repayment it covers")
    covered_principal: Yuan = Field(description="Their outstanding principal less the claim it holds")
    contributions: Yuan = Field(description="Every contribution it received from fee income")
    compensated: Yuan
    shortfall: Yuan
    recovered: Yuan

    @classmethod
    def of(cls, position: reserve.ReservePosition) -> "RiskReserveOut":
        terms = position.settings
        return cls(
            opened=terms.opened,
            holder_id=terms.holder_id,
            enabled=terms.enabled,
            enabled_since=terms.enabled_since,
            coverage=terms.coverage,
            trigger_dpd=terms.trigger_dpd,
            accelerate_dpd=terms.accelerate_dpd,
            contribution_rate=rate_text(terms.contribution_rate),
            flagged=position.flagged,
            available=yuan_str(position.available),
            loans=position.loans,
            covered_principal=yuan_str(position.covered_principal),
            contributions=yuan_str(position.contributions),
            compensated=yuan_str(position.compensated),
            shortfall=yuan_str(position.shortfall),
            recovered=yuan_str(position.recovered),
        )


class ReserveCoverageOut(BaseModel):
    loan_id: int
    title: str
    coverage: str = Field(description=COVERAGE_DESCRIPTION)
    trigger_dpd: int
    accelerate_dpd: int
    contribution: Yuan
    status: str = Field(description=AGREEMENT_STATUS_DESCRIPTION)
    covered_on: date
    principal_outstanding: Yuan
    days_past_due: int

    @classmethod
    def of(cls, coverage: ReserveCoverage, loan: Loan) -> "ReserveCoverageOut":
        return cls(
            loan_id=loan.id,
            title=loan.title,
            coverage=coverage.coverage,
            trigger_dpd=coverage.trigger_dpd,
            accelerate_dpd=coverage.accelerate_dpd,
            contribution=yuan_str(coverage.contribution),
            status=coverage.status,
            covered_on=coverage.covered_on,
            principal_outstanding=yuan_str(loan.principal_outstanding),
            days_past_due=loan.days_past_due,
        )
