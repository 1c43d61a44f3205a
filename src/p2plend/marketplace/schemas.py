"""Marketplace API shapes: money as two-decimal yuan strings (``money.yuan_str``), rates as
decimal strings (``"0.1"`` is 10 % a year), never JSON numbers for either; inputs are parsed
with ``money.parse_amount`` only.

What the public and investors see of a listing is the loan's own terms and its masked
disclosure (R47, R48) — never the borrower's identity, and never a promise of principal or
interest (R3).
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from p2plend.marketplace.models import Bid, Holding, Loan
from p2plend.marketplace.service import investor_cap
from p2plend.money import Yuan, YuanText, parse_amount, yuan_str

RateText = Annotated[str, Field(examples=["0.1"], description="A decimal fraction: 0.1 is 10 % a year.")]

RISK_NOTICE = (
    "Lending carries risk. The platform is an information intermediary: it does not guarantee "
    "principal or interest, and repayment depends on the borrower."
)


def rate_text(value: Decimal) -> str:
    """A rate as a plain decimal string: ``Decimal("0.100000")`` → ``"0.1"``."""
    return format(Decimal(value).normalize(), "f")


def progress_percent(funded: int, amount: int) -> str:
    """Funded share of the amount in percent, two decimals, rounded down (never 100.00 before full)."""
    basis_points = funded * 10_000 // amount if amount else 0
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def checked_amount(value: object) -> str:
    parse_amount(value)  # invalid_amount for numbers, signs, > 2 decimals, zero …
    assert isinstance(value, str)
    return value


# --- listings ------------------------------------------------------------------------------------


class ListingSummary(BaseModel):
    """A listing as the market shows it (投资列表)."""

    id: int
    title: str
    status: str = Field(
        description="open, funded (满标, awaiting review), disbursed, settled, failed, withdrawn"
    )
    product_kind: str
    partner_claim: bool = Field(
        description="机构债权（P2B）: a partner institution's claim, a longer credit chain"
    )
    amount: Yuan
    funded: Yuan
    remaining: Yuan
    progress_percent: str = Field(examples=["45.00"], description="funded ÷ amount, percent, rounded down")
    annual_rate: RateText
    method: str = Field(description="equal_installment, equal_principal, interest_first or bullet")
    term_months: int | None
    term_days: int | None
    grade: str
    risk_class: str = Field(description="R1–R5: a lender may bid only up to their own tier (R16)")
    opened_at: datetime | None
    deadline: datetime | None
    min_bid: Yuan
    bid_step: Yuan
    investor_cap: Yuan = Field(description="The most one investor may lend to this loan")

    @classmethod
    def fields_of(cls, loan: Loan) -> dict[str, Any]:
        return {
            "id": loan.id,
            "title": loan.title,
            "status": loan.status,
            "product_kind": loan.product_kind,
            "partner_claim": loan.product_kind == "partner_claim",
            "amount": yuan_str(loan.amount),
            "funded": yuan_str(loan.funded),
            "remaining": yuan_str(loan.amount - loan.funded),
            "progress_percent": progress_percent(loan.funded, loan.amount),
            "annual_rate": rate_text(loan.annual_rate),
            "method": loan.method,
            "term_months": loan.term_months,
            "term_days": loan.term_days,
            "grade": loan.grade,
            "risk_class": loan.risk_class,
            "opened_at": loan.opened_at,
            "deadline": loan.deadline,
            "min_bid": yuan_str(loan.min_bid),
            "bid_step": yuan_str(loan.bid_step),
            "investor_cap": yuan_str(investor_cap(loan)),
        }

    @classmethod
    def of(cls, loan: Loan) -> "ListingSummary":
        return cls(**cls.fields_of(loan))


class ListingPage(BaseModel):
    items: list[ListingSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null on the last one")


class LoanTermsOut(BaseModel):
    """The product and fee terms fixed on the loan (DOMAIN.md §4)."""

    product_code: str
    product_kind: str
    borrower_service_fee_rate: RateText = Field(description="借款服务费: of principal, once, at disbursement")
    monthly_management_fee_rate: RateText = Field(description="账户管理费: of principal, per installment")
    investor_management_fee_rate: RateText = Field(description="利息管理费: of interest each holder receives")
    prepayment_fee_rate: RateText = Field(description="Of principal repaid early, to the holders")
    repayment_order: str = Field(
        description="How a partial payment is applied: components (R32: fees, penalty, interest, "
        "principal across every overdue installment) or installments (each overdue installment whole, "
        "oldest first)"
    )
    day_basis: int
    funding_days: int
    max_share: RateText = Field(description="The most of the amount one investor may lend")

    @classmethod
    def of(cls, loan: Loan) -> "LoanTermsOut":
        return cls(
            product_code=loan.product_code,
            product_kind=loan.product_kind,
            borrower_service_fee_rate=rate_text(loan.service_fee_rate),
            monthly_management_fee_rate=rate_text(loan.monthly_fee_rate),
            investor_management_fee_rate=rate_text(loan.investor_fee_rate),
            prepayment_fee_rate=rate_text(loan.prepayment_fee_rate),
            repayment_order=loan.repayment_order,
            day_basis=loan.day_basis,
            funding_days=loan.funding_days,
            max_share=rate_text(loan.max_share),
        )


class ListingDetail(ListingSummary):
    """标的详情: the listing, its per-loan disclosure (信息披露, masked) and its terms."""

    purpose: str
    disclosure: dict[str, Any] = Field(
        description="DOMAIN.md §11 per loan: borrower type, industry, income, liabilities, credit-report "
        "overdues, other-platform borrowing, project summary, repayment source, safeguards, risk "
        "assessment — personal data masked (R47)"
    )
    terms: LoanTermsOut
    funded_at: datetime | None
    value_date: date | None
    closed_at: datetime | None
    risk_notice: str

    @classmethod
    def of(cls, loan: Loan) -> "ListingDetail":
        return cls(
            **cls.fields_of(loan),
            purpose=loan.purpose,
            disclosure=dict(loan.disclosure),
            terms=LoanTermsOut.of(loan),
            funded_at=loan.funded_at,
            value_date=loan.value_date,
            closed_at=loan.closed_at,
            risk_notice=RISK_NOTICE,
        )


# --- bids ----------------------------------------------------------------------------------------


class BidRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": "1000.00", "fill_remaining": True}]}
    )

    amount: YuanText = Field(description="Yuan, as a string with at most two decimals.")
    fill_remaining: StrictBool = Field(
        default=True,
        description="Above what remains: true fills what remains, false refuses (`bid_exceeds_remaining`).",
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str:
        return checked_amount(value)

    @property
    def amount_fen(self) -> int:
        return parse_amount(self.amount)


class BidOut(BaseModel):
    """投标: ``amount`` is what was filled and frozen, ``requested`` what was asked."""

    id: int
    loan_id: int
    loan_title: str
    amount: Yuan
    requested: Yuan
    source: str = Field(description="bid or auto_bid")
    status: str = Field(
        description="frozen (waiting for the listing), disbursed (lent) or refunded (流标/撤标)"
    )
    created_at: datetime
    settled_at: datetime | None

    @classmethod
    def of(cls, bid: Bid, loan_title: str) -> "BidOut":
        return cls(
            id=bid.id,
            loan_id=bid.loan_id,
            loan_title=loan_title,
            amount=yuan_str(bid.amount),
            requested=yuan_str(bid.requested),
            source=bid.source,
            status=bid.status,
            created_at=bid.created_at,
            settled_at=bid.settled_at,
        )


class MyBidsOut(BaseModel):
    """我的投标: my bids, newest first, and what my bids hold frozen."""

    frozen_in_bids: Yuan = Field(description="Sum of my bids still waiting for their listing")
    available: Yuan
    frozen: Yuan = Field(description="Everything frozen in my sub-account (bids and withdrawals)")
    bids: list[BidOut]


# --- staff ---------------------------------------------------------------------------------------


class StaffLoanSummary(ListingSummary):
    borrower_id: int
    application_id: int | None
    created_at: datetime
    principal_outstanding: Yuan
    close_reason: str

    @classmethod
    def of(cls, loan: Loan) -> "StaffLoanSummary":
        return cls(
            **cls.fields_of(loan),
            borrower_id=loan.borrower_id,
            application_id=loan.application_id,
            created_at=loan.created_at,
            principal_outstanding=yuan_str(loan.principal_outstanding),
            close_reason=loan.close_reason,
        )


class StaffBidOut(BaseModel):
    id: int
    investor_id: int
    amount: Yuan
    requested: Yuan
    source: str
    status: str
    created_at: datetime
    settled_at: datetime | None

    @classmethod
    def of(cls, bid: Bid) -> "StaffBidOut":
        return cls(
            id=bid.id,
            investor_id=bid.investor_id,
            amount=yuan_str(bid.amount),
            requested=yuan_str(bid.requested),
            source=bid.source,
            status=bid.status,
            created_at=bid.created_at,
            settled_at=bid.settled_at,
        )


class HoldingOut(BaseModel):
    """债权: a holder's claim on the loan."""

    id: int
    holder_id: int
    principal_acquired: Yuan
    principal_outstanding: Yuan
    acquired_at: datetime
    source: str

    @classmethod
    def of(cls, holding: Holding) -> "HoldingOut":
        return cls(
            id=holding.id,
            holder_id=holding.holder_id,
            principal_acquired=yuan_str(holding.principal_acquired),
            principal_outstanding=yuan_str(holding.principal_outstanding),
            acquired_at=holding.acquired_at,
            source=holding.source,
        )


class StaffLoanDetail(StaffLoanSummary):
    purpose: str
    disclosure: dict[str, Any]
    terms: LoanTermsOut
    funded_at: datetime | None
    disbursed_at: datetime | None
    value_date: date | None
    closed_at: datetime | None
    service_fee: Yuan
    bids: list[StaffBidOut]
    holdings: list[HoldingOut] = Field(description="After disbursement: the live claims")

    @classmethod
    def build(cls, loan: Loan, bids: list[Bid], holdings: list[Holding]) -> "StaffLoanDetail":
        return cls(
            **cls.fields_of(loan),
            borrower_id=loan.borrower_id,
            application_id=loan.application_id,
            created_at=loan.created_at,
            principal_outstanding=yuan_str(loan.principal_outstanding),
            close_reason=loan.close_reason,
            purpose=loan.purpose,
            disclosure=dict(loan.disclosure),
            terms=LoanTermsOut.of(loan),
            funded_at=loan.funded_at,
            disbursed_at=loan.disbursed_at,
            value_date=loan.value_date,
            closed_at=loan.closed_at,
            service_fee=yuan_str(loan.service_fee),
            bids=[StaffBidOut.of(b) for b in bids],
            holdings=[HoldingOut.of(h) for h in holdings],
        )


class WithdrawListingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "借款人撤回申请"}]})

    reason: str = Field(
        min_length=1, max_length=200, description="Why (kept on the loan and in the audit log)"
    )

    @field_validator("reason")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            raise ValueError("the reason is one line of text, without control characters")
        return value


class ExpiredListingsOut(BaseModel):
    """流标: the listings failed by this run; every frozen bid was returned in full (R8)."""

    failed: list[int]
