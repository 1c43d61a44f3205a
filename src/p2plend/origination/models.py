"""Origination tables: products and their immutable versions, the LPR, applications, credit
decisions, collateral, field verifications, review decisions, documents, the blacklist.

Money is integer fen (BIGINT); rates are exact decimals (NUMERIC), never floats. A product's
terms live in ``product_versions`` rows that are never updated (the database refuses it,
migration 0005): a change is a new version, and an application keeps the version it was made
under, so no later change alters its terms.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime
from p2plend.origination.vocabulary import ACTIVE_STATUSES

Rate = Numeric(9, 6)
Share = Numeric(5, 4)

_ACTIVE = "status IN ({})".format(", ".join(f"'{s}'" for s in ACTIVE_STATUSES))


class Product(Base):
    """A loan product (借款产品): what kind of loan, under which names. Its terms are versions."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("kind IN ('credit', 'mortgage', 'guaranteed', 'institution')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ProductVersion(Base):
    """One immutable set of a product's terms; the highest ``version`` is the current one."""

    __tablename__ = "product_versions"
    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        CheckConstraint("amount_min > 0 AND amount_min <= amount_max", name="amount_range"),
        CheckConstraint("term_min_months >= 1 AND term_min_months <= term_max_months", name="term_range"),
        CheckConstraint("min_bid > 0 AND bid_step > 0", name="bids_positive"),
        CheckConstraint("max_share > 0 AND max_share <= 1", name="max_share_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    amount_min: Mapped[int] = mapped_column(BigInteger)
    amount_max: Mapped[int] = mapped_column(BigInteger)
    term_min_months: Mapped[int] = mapped_column(Integer)
    term_max_months: Mapped[int] = mapped_column(Integer)
    day_terms_allowed: Mapped[bool] = mapped_column(Boolean, default=False)  # day-based bullets
    term_min_days: Mapped[int | None] = mapped_column(Integer)
    term_max_days: Mapped[int | None] = mapped_column(Integer)
    methods: Mapped[list[str]] = mapped_column(JSON)  # schedules.service.Method values
    monthly_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # 账户管理费, of principal per month
    investor_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # 利息管理费, of interest received
    prepayment_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # of principal repaid early
    repayment_order: Mapped[str] = mapped_column(String(16), default="components")  # RepaymentOrder
    funding_days: Mapped[int] = mapped_column(Integer)
    min_bid: Mapped[int] = mapped_column(BigInteger)
    bid_step: Mapped[int] = mapped_column(BigInteger)
    max_share: Mapped[Decimal] = mapped_column(Share)  # of a listing, per investor
    day_basis: Mapped[int] = mapped_column(Integer)
    ltv_cap: Mapped[Decimal | None] = mapped_column(Share)  # mortgage: amount ≤ appraised × cap
    field_verification_threshold: Mapped[int | None] = mapped_column(BigInteger)  # above: 面审 needed
    four_eyes_threshold: Mapped[int | None] = mapped_column(BigInteger)  # above: second approval
    max_age_at_maturity: Mapped[int] = mapped_column(Integer)
    auto_reject_hr: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ProductGradeTerms(Base):
    """A version's terms for one credit grade: rate band, service fee, risk class, amount cap."""

    __tablename__ = "product_grade_terms"
    __table_args__ = (
        UniqueConstraint("version_id", "grade"),
        CheckConstraint("rate_min >= 0 AND rate_min <= rate_max", name="rate_band"),
        CheckConstraint("service_fee_rate >= 0 AND service_fee_rate <= 0.03", name="service_fee_range"),
        CheckConstraint("amount_cap > 0", name="amount_cap_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("product_versions.id"), index=True)
    grade: Mapped[str] = mapped_column(String(4))
    rate_min: Mapped[Decimal] = mapped_column(Rate)
    rate_max: Mapped[Decimal] = mapped_column(Rate)
    service_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # 借款服务费, of principal at disbursement
    risk_class: Mapped[str] = mapped_column(String(4))
    amount_cap: Mapped[int] = mapped_column(BigInteger)


class LprRate(Base):
    """贷款市场报价利率: the one-year LPR effective from a date (R29's 4 × LPR cap)."""

    __tablename__ = "lpr_rates"
    __table_args__ = (CheckConstraint("rate > 0 AND rate < 1", name="rate_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    effective_date: Mapped[date] = mapped_column(Date, unique=True)
    rate: Mapped[Decimal] = mapped_column(Rate)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class LoanApplication(Base):
    """借款申请: from submission to a listing (or a rejection or cancellation).

    At most one active application per borrower and purpose (R18): a unique index over the
    active rows only, so two concurrent submissions cannot both pass.
    """

    __tablename__ = "loan_applications"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("(term_months IS NULL) <> (term_days IS NULL)", name="term_in_months_or_days"),
        Index(
            "uq_loan_applications_active_purpose",
            "borrower_id",
            "purpose",
            unique=True,
            postgresql_where=text(_ACTIVE),
            sqlite_where=text(_ACTIVE),
        ),
        Index("ix_loan_applications_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    borrower_kind: Mapped[str] = mapped_column(String(16))  # person | organisation
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_version_id: Mapped[int] = mapped_column(ForeignKey("product_versions.id"))
    channel: Mapped[str] = mapped_column(String(16))  # online | offline | partner
    branch_code: Mapped[str | None] = mapped_column(String(32))  # offline: the branch that took it
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # referrer
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who typed it in
    status: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int | None] = mapped_column(Integer)
    term_days: Mapped[int | None] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(24))
    purpose: Mapped[str] = mapped_column(String(32))
    purpose_description: Mapped[str] = mapped_column(String(500))
    monthly_income: Mapped[int] = mapped_column(BigInteger)
    employment: Mapped[str] = mapped_column(String(16))
    employment_years: Mapped[int] = mapped_column(Integer)
    housing: Mapped[str] = mapped_column(String(16))
    other_debts_amount: Mapped[int] = mapped_column(BigInteger)  # declared, other platforms/banks
    other_debts_count: Mapped[int] = mapped_column(Integer)
    overdues_6m: Mapped[int] = mapped_column(Integer)  # declared credit-report overdues, 6 months
    industry: Mapped[str] = mapped_column(String(64))
    repayment_source: Mapped[str] = mapped_column(String(200))
    guarantor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    institution_type: Mapped[str | None] = mapped_column(String(24))
    institution_risk_tier: Mapped[int | None] = mapped_column(Integer)
    # From the credit decision: the proposed grade and what the version gives it.
    grade: Mapped[str | None] = mapped_column(String(4))
    score: Mapped[int | None] = mapped_column(Integer)
    risk_class: Mapped[str | None] = mapped_column(String(4))
    rate_min: Mapped[Decimal | None] = mapped_column(Rate)
    rate_max: Mapped[Decimal | None] = mapped_column(Rate)
    service_fee_rate: Mapped[Decimal | None] = mapped_column(Rate)
    # From the approval: the terms of the contract.
    approved_grade: Mapped[str | None] = mapped_column(String(4))
    annual_rate: Mapped[Decimal | None] = mapped_column(Rate)
    annualised_cost: Mapped[Decimal | None] = mapped_column(Rate)  # R29, on the approval date
    lpr_rate: Mapped[Decimal | None] = mapped_column(Rate)  # the LPR that cost was held to
    first_approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rejection_code: Mapped[str | None] = mapped_column(String(40))
    rejection_note: Mapped[str | None] = mapped_column(String(500))
    rejected_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    info_request: Mapped[str | None] = mapped_column(String(500))  # the officer's question
    borrower_reply: Mapped[str | None] = mapped_column(String(500))
    loan_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)  # marketplace loans.id
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Collateral(Base):
    """抵押物登记: the collateral of a mortgage application."""

    __tablename__ = "application_collaterals"
    __table_args__ = (CheckConstraint("appraised_value > 0", name="appraised_value_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), unique=True)
    collateral_type: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(String(500))
    appraised_value: Mapped[int] = mapped_column(BigInteger)
    lien_status: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CreditDecision(Base):
    """The credit assessment of an application: which model, which score and grade, and why."""

    __tablename__ = "credit_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    score: Mapped[int | None] = mapped_column(Integer)  # None: not scored by a scorecard
    grade: Mapped[str] = mapped_column(String(4))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FieldVerification(Base):
    """面审 / 实地认证: an officer met the borrower or saw the collateral, and what came of it."""

    __tablename__ = "field_verifications"
    __table_args__ = (
        CheckConstraint("kind IN ('interview', 'site_visit')", name="kind"),
        CheckConstraint("result IN ('pass', 'fail')", name="result"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    verified_on: Mapped[date] = mapped_column(Date)
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    result: Mapped[str] = mapped_column(String(8))
    notes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApplicationDecision(Base):
    """One review act on an application, by whom and why (the audit log has them too)."""

    __tablename__ = "application_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(24))
    grade: Mapped[str | None] = mapped_column(String(4))
    annual_rate: Mapped[Decimal | None] = mapped_column(Rate)
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApplicationDocument(Base):
    """A supporting document: the file lives under ``settings.documents_dir`` by ``storage_key``."""

    __tablename__ = "application_documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))  # as sniffed from the bytes
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BlacklistEntry(Base):
    """A person or organisation who may not borrow: blacklisted, or a related party (R2).

    Keyed by the blind index of the resident ID / USCC (``identity`` computes it), so the
    table holds no ID number in clear; removal keeps the row as history.
    """

    __tablename__ = "borrower_blacklist"
    __table_args__ = (
        CheckConstraint("kind IN ('blacklist', 'related_party')", name="kind"),
        Index(
            "uq_borrower_blacklist_active_index",
            "id_number_index",
            unique=True,
            postgresql_where=text("removed_at IS NULL"),
            sqlite_where=text("removed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    id_number_index: Mapped[str] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
