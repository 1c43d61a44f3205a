"""借款申请: online, at a branch (offline) or referred by a partner institution.

Submitting checks the input against the product's current version (limits, method, purpose
— R7 refuses forbidden purposes, also when the free text reveals one), refuses a second
active application for the same purpose (R18, a unique partial index: concurrent submits
cannot both pass), then runs the automatic rules and the credit assessment in the same
transaction:

1. the platform itself or a related party (R2), the blacklist, the age (R14: 18 today and
   at most the version's age at maturity);
2. the scorecard (a consumer's features) or the referring institution's risk tier (a
   company): a grade, stored as a ``CreditDecision``, priced by the version's grade terms;
3. the grade: HR auto-rejected (configurable per version), the grade's amount cap;
4. the borrowing caps R4–R6 on principal: committed on the platform (listed + disbursed
   outstanding) + applications approved here but not yet listed + this amount.

A failed rule is not an error: the application is stored as ``rejected`` with the rule's
reason code. Otherwise it waits ``under_review`` for a risk officer (``review.py``).
Every transition is audited.
"""

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.config import Settings, get_settings
from p2plend.custody import service as custody
from p2plend.custody.errors import CustodyAccountRequired
from p2plend.errors import NotFound, PermissionDenied
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.origination import blacklist, products, scoring
from p2plend.origination.errors import (
    AmountOutOfRange,
    ApplicationNotFound,
    ApplicationStateConflict,
    CollateralRequired,
    DuplicateApplication,
    ForbiddenPurpose,
    InvalidApplication,
    InvalidGuarantor,
    LtvExceeded,
    MethodNotAllowed,
    ProductNotForBorrower,
    TermOutOfRange,
)
from p2plend.origination.models import Collateral, CreditDecision, LoanApplication, Product
from p2plend.origination.products import ProductTerms
from p2plend.origination.vocabulary import (
    ACTIVE_STATUSES,
    ALLOWED_PURPOSES,
    APPROVED_NOT_LISTED,
    CANCELLABLE_STATUSES,
    CANCELLED,
    COLLATERAL_TYPES,
    DEFAULT_RISK_CLASS,
    EMPLOYMENTS,
    FORBIDDEN_PURPOSE_WORDS,
    FORBIDDEN_PURPOSES,
    GRADE_OF_INSTITUTION_TIER,
    GUARANTEED,
    HOUSINGS,
    INFO_REQUESTED,
    INSTITUTION,
    INSTITUTION_RISK_TIERS,
    INSTITUTION_TIER_MODEL,
    INSTITUTION_TYPES,
    LIEN_STATUSES,
    MORTGAGE,
    OFFLINE,
    ONLINE,
    PARTNER,
    REJECTED,
    SUBMITTED,
    UNDER_REVIEW,
)
from p2plend.schedules.service import Method
from p2plend.servicing import end_of_day

MAX_TEXT = 500
MAX_SHORT_TEXT = 200
MAX_LIST = 200


class Scorer(Protocol):
    """The credit model port: the shipped scorecard, or a stand-in in tests."""

    def score(self, features: scoring.ApplicantFeatures) -> scoring.ScoreResult: ...


@dataclass(frozen=True, slots=True)
class CollateralInput:
    collateral_type: str
    description: str
    appraised_value: int  # fen
    lien_status: str


@dataclass(frozen=True, slots=True)
class ApplicationInput:
    """What a borrower (or the staff member or partner entering it) tells us."""

    product_code: str
    amount: int  # fen
    method: str
    purpose: str
    purpose_description: str
    monthly_income: int  # fen
    employment: str
    employment_years: int
    housing: str
    industry: str
    repayment_source: str
    term_months: int | None = None
    term_days: int | None = None
    other_debts_amount: int = 0  # declared debt on other platforms and banks, fen (R6)
    other_debts_count: int = 0
    overdues_6m: int = 0  # declared credit-report overdues in the last 6 months
    guarantor_id: int | None = None  # guaranteed products
    collateral: CollateralInput | None = None  # mortgage products
    institution_type: str | None = None  # institution (P2B) products
    institution_risk_tier: int | None = None


# --- submitting -----------------------------------------------------------------------------------


def apply_online(
    session: Session,
    borrower_id: int,
    data: ApplicationInput,
    *,
    scorer: Scorer | None = None,
    settings: Settings | None = None,
) -> LoanApplication:
    """申请借款: the borrower applies themself (taking the borrower role if they had not)."""
    return _submit(
        session,
        borrower_id=borrower_id,
        data=data,
        channel=ONLINE,
        entered_by=borrower_id,
        scorer=scorer,
        settings=settings,
    )


def enter_offline(
    session: Session,
    *,
    officer_id: int,
    borrower_id: int,
    branch_code: str,
    data: ApplicationInput,
    scorer: Scorer | None = None,
    settings: Settings | None = None,
) -> LoanApplication:
    """线下进件: staff (risk officer or operations) enter an application taken at a branch."""
    branch = branch_code.strip()
    if not 0 < len(branch) <= 32:
        raise InvalidApplication("Give the branch code (1–32 characters).", details={"field": "branch_code"})
    identity.user_kind(session, borrower_id)  # user_not_found
    return _submit(
        session,
        borrower_id=borrower_id,
        data=data,
        channel=OFFLINE,
        branch_code=branch,
        entered_by=officer_id,
        scorer=scorer,
        settings=settings,
    )


def refer_borrower(
    session: Session,
    *,
    partner_id: int,
    borrower_phone: str,
    data: ApplicationInput,
    scorer: Scorer | None = None,
    settings: Settings | None = None,
) -> LoanApplication:
    """推荐借款人: a partner institution refers a registered, verified borrower."""
    if "partner_institution" not in identity.profile(session, partner_id).roles:
        raise PermissionDenied("Only a partner institution refers borrowers.")
    borrower_id = identity.user_id_by_phone(session, borrower_phone)  # user_not_found
    if borrower_id == partner_id:
        raise ProductNotForBorrower("A partner cannot refer itself.")
    return _submit(
        session,
        borrower_id=borrower_id,
        data=data,
        channel=PARTNER,
        partner_id=partner_id,
        entered_by=partner_id,
        scorer=scorer,
        settings=settings,
    )


def _submit(
    session: Session,
    *,
    borrower_id: int,
    data: ApplicationInput,
    channel: str,
    entered_by: int,
    partner_id: int | None = None,
    branch_code: str | None = None,
    scorer: Scorer | None,
    settings: Settings | None,
) -> LoanApplication:
    settings = settings or get_settings()
    person = identity.verified_identity(session, borrower_id)  # real_name_required (R14)
    if custody.custody_account_of(session, borrower_id) is None:
        raise CustodyAccountRequired("The borrower needs an open custody account (存管账户) first.")
    kind = identity.user_kind(session, borrower_id)
    product, version, terms = products.current_for_application(session, data.product_code)
    _check_borrower_fits(product, kind, channel)
    _check_input(session, product, terms, data)
    _refuse_duplicate(session, borrower_id, data.purpose)
    now = clock.now()
    application = LoanApplication(
        borrower_id=borrower_id,
        borrower_kind=kind,
        product_id=product.id,
        product_version_id=version.id,
        channel=channel,
        branch_code=branch_code,
        partner_id=partner_id,
        entered_by=entered_by,
        status=SUBMITTED,
        amount=data.amount,
        term_months=data.term_months,
        term_days=data.term_days,
        method=data.method,
        purpose=data.purpose,
        purpose_description=data.purpose_description.strip(),
        monthly_income=data.monthly_income,
        employment=data.employment,
        employment_years=data.employment_years,
        housing=data.housing,
        other_debts_amount=data.other_debts_amount,
        other_debts_count=data.other_debts_count,
        overdues_6m=data.overdues_6m,
        industry=data.industry.strip(),
        repayment_source=data.repayment_source.strip(),
        guarantor_id=data.guarantor_id,
        institution_type=data.institution_type,
        institution_risk_tier=data.institution_risk_tier,
        submitted_at=now,
        updated_at=now,
    )
    try:
        # R18: the unique partial index over active rows decides between concurrent submits.
        with session.begin_nested():
            session.add(application)
            session.flush()
    except IntegrityError:
        raise _duplicate(data.purpose) from None
    # Applying makes a person a borrower (a self-service role); offline and partner
    # applications grant it on the platform's behalf.
    identity.add_role(
        session, actor_id=borrower_id if channel == ONLINE else None, user_id=borrower_id, role="borrower"
    )
    if data.collateral is not None:
        c = data.collateral
        session.add(
            Collateral(
                application_id=application.id,
                collateral_type=c.collateral_type,
                description=c.description.strip(),
                appraised_value=c.appraised_value,
                lien_status=c.lien_status,
                created_at=now,
            )
        )
        session.flush()
    record(
        session,
        entered_by,
        "application.submitted",
        application,
        channel=channel,
        product=product.code,
        version=version.version,
        amount=application.amount,
    )
    reason = _identity_rule(session, application, person, terms, settings)
    if reason is None:
        _assess(session, application, person, terms, scorer)
        reason = _grade_rule(application, terms) or cap_rule(session, application, settings)
    if reason is not None:
        reject(session, application, reason, officer_id=None)
    else:
        move(session, application, UNDER_REVIEW, actor_id=None)
    return application


def _duplicate(purpose: str) -> DuplicateApplication:
    return DuplicateApplication(
        "You already have an application for this purpose under way.", details={"purpose": purpose}
    )


def _refuse_duplicate(session: Session, borrower_id: int, purpose: str) -> None:
    """R18's fast path; the unique index is what holds under concurrency."""
    found = session.scalar(
        select(LoanApplication.id).where(
            LoanApplication.borrower_id == borrower_id,
            LoanApplication.purpose == purpose,
            LoanApplication.status.in_(ACTIVE_STATUSES),
        )
    )
    if found is not None:
        raise _duplicate(purpose)


# --- input checks -----------------------------------------------------------------------------------


def _invalid(field: str, message: str) -> InvalidApplication:
    return InvalidApplication(message, details={"field": field})


def _check_borrower_fits(product: Product, kind: str, channel: str) -> None:
    if product.kind == INSTITUTION:
        if kind != "organisation" or channel != PARTNER:
            raise ProductNotForBorrower(
                "This product is for companies referred by a partner institution.",
                details={"product": product.code},
            )
    elif kind != "person":
        raise ProductNotForBorrower(
            "This product is for natural persons; companies borrow through a partner referral.",
            details={"product": product.code},
        )


def reveals_forbidden_purpose(text: str) -> str | None:
    """The first forbidden-purpose word in ``text`` (R7), or None."""
    folded = "".join(unicodedata.normalize("NFKC", text).lower().split())
    for word in FORBIDDEN_PURPOSE_WORDS:
        if word in folded:
            return word
    return None


def _check_purpose(data: ApplicationInput) -> None:
    if data.purpose in FORBIDDEN_PURPOSES:
        raise ForbiddenPurpose(
            "Loans for stocks, margin trading, futures, structured products or derivatives are not allowed.",
            details={"field": "purpose", "purpose": data.purpose},
        )
    if data.purpose not in ALLOWED_PURPOSES:
        raise _invalid("purpose", f"The purpose is one of {', '.join(ALLOWED_PURPOSES)}.")
    description = data.purpose_description.strip()
    if not 0 < len(description) <= MAX_TEXT:
        raise _invalid("purpose_description", f"Describe the purpose in 1–{MAX_TEXT} characters.")
    word = reveals_forbidden_purpose(description)
    if word is not None:
        raise ForbiddenPurpose(
            "The purpose described is one the platform may not finance (securities, margin, "
            "futures, structured products, derivatives).",
            details={"field": "purpose_description", "word": word},
        )


def _check_profile(data: ApplicationInput) -> None:
    if data.employment not in EMPLOYMENTS:
        raise _invalid("employment", f"Employment is one of {', '.join(EMPLOYMENTS)}.")
    if data.housing not in HOUSINGS:
        raise _invalid("housing", f"Housing is one of {', '.join(HOUSINGS)}.")
    if not 0 <= data.employment_years <= 80:
        raise _invalid("employment_years", "Years in employment are 0–80.")
    if data.monthly_income < 0 or data.other_debts_amount < 0:
        raise _invalid("monthly_income", "Amounts are 0 or more.")
    if not 0 <= data.other_debts_count <= 1000:
        raise _invalid("other_debts_count", "The number of other debts is 0–1000.")
    if not 0 <= data.overdues_6m <= 1000:
        raise _invalid("overdues_6m", "The number of overdues is 0–1000.")
    if not 0 < len(data.industry.strip()) <= 64:
        raise _invalid("industry", "Name the industry (1–64 characters).")
    if not 0 < len(data.repayment_source.strip()) <= MAX_SHORT_TEXT:
        raise _invalid(
            "repayment_source", f"Describe the source of repayment (1–{MAX_SHORT_TEXT} characters)."
        )


def _check_amount_and_term(terms: ProductTerms, data: ApplicationInput) -> None:
    if not terms.amount_min <= data.amount <= terms.amount_max:
        raise AmountOutOfRange(
            "The amount is outside this product's range.",
            details={"field": "amount", "min": terms.amount_min, "max": terms.amount_max},
        )
    try:
        method = Method(data.method)
    except ValueError:
        method = None
    if method is None or method not in terms.methods:
        raise MethodNotAllowed(
            "This product does not offer this repayment method.",
            details={"field": "method", "allowed": [m.value for m in terms.methods]},
        )
    if (data.term_months is None) == (data.term_days is None):
        raise TermOutOfRange("Give the term in months or in days.", details={"field": "term"})
    if data.term_months is not None:
        if not terms.term_min_months <= data.term_months <= terms.term_max_months:
            raise TermOutOfRange(
                "The term is outside this product's range.",
                details={"field": "term_months", "min": terms.term_min_months, "max": terms.term_max_months},
            )
    elif (
        not terms.day_terms_allowed
        or method is not Method.BULLET
        or terms.term_min_days is None
        or terms.term_max_days is None
        or not terms.term_min_days <= (data.term_days or 0) <= terms.term_max_days
    ):
        raise TermOutOfRange(
            "Day-based terms are only for bullet repayment, within the product's range.",
            details={"field": "term_days", "min": terms.term_min_days, "max": terms.term_max_days},
        )


def _check_guarantor(session: Session, product: Product, data: ApplicationInput) -> None:
    if product.kind != GUARANTEED:
        if data.guarantor_id is not None:
            raise _invalid("guarantor_id", "Only a guaranteed product names a guarantor.")
        return
    if data.guarantor_id is None:
        raise InvalidGuarantor("Name the guarantor (担保机构).", details={"field": "guarantor_id"})
    try:
        guarantor = identity.profile(session, data.guarantor_id)
    except NotFound as exc:  # user_not_found
        raise InvalidGuarantor("No such guarantor.", details={"field": "guarantor_id"}) from exc
    if (
        guarantor.kind != "organisation"
        or "guarantor" not in guarantor.roles
        or guarantor.status != "active"
        or custody.custody_account_of(session, guarantor.user_id) is None
    ):
        raise InvalidGuarantor(
            "The guarantor must be an active guarantee company with a custody account.",
            details={"field": "guarantor_id"},
        )


def _check_collateral(product: Product, terms: ProductTerms, data: ApplicationInput) -> None:
    c = data.collateral
    if product.kind != MORTGAGE:
        if c is not None:
            raise _invalid("collateral", "Only a mortgage product takes collateral.")
        return
    if c is None:
        raise CollateralRequired(
            "A mortgage loan needs its collateral (抵押物).", details={"field": "collateral"}
        )
    if c.collateral_type not in COLLATERAL_TYPES:
        raise _invalid("collateral.collateral_type", f"Collateral is one of {', '.join(COLLATERAL_TYPES)}.")
    if c.lien_status not in LIEN_STATUSES:
        raise _invalid("collateral.lien_status", f"The lien status is one of {', '.join(LIEN_STATUSES)}.")
    if not 0 < len(c.description.strip()) <= MAX_TEXT:
        raise _invalid("collateral.description", f"Describe the collateral in 1–{MAX_TEXT} characters.")
    if c.appraised_value <= 0:
        raise _invalid("collateral.appraised_value", "The appraised value is a positive amount.")
    ltv_cap = terms.ltv_cap or Decimal(0)
    if Decimal(data.amount) > Decimal(c.appraised_value) * ltv_cap:
        raise LtvExceeded(
            "The amount is above the collateral's appraised value × the loan-to-value cap.",
            details={
                "field": "amount",
                "ltv_cap": str(ltv_cap),
                "max": int(Decimal(c.appraised_value) * ltv_cap),
            },
        )


def _check_institution(product: Product, data: ApplicationInput) -> None:
    if product.kind != INSTITUTION:
        if data.institution_type is not None or data.institution_risk_tier is not None:
            raise _invalid("institution_type", "Only an institution (P2B) product records these.")
        return
    if data.institution_type not in INSTITUTION_TYPES:
        raise _invalid("institution_type", f"The institution type is one of {', '.join(INSTITUTION_TYPES)}.")
    if data.institution_risk_tier not in INSTITUTION_RISK_TIERS:
        raise _invalid("institution_risk_tier", "The institution's risk tier is 1 (lowest risk) … 5.")


def _check_input(session: Session, product: Product, terms: ProductTerms, data: ApplicationInput) -> None:
    _check_purpose(data)
    _check_profile(data)
    _check_amount_and_term(terms, data)
    _check_guarantor(session, product, data)
    _check_collateral(product, terms, data)
    _check_institution(product, data)


# --- automatic rules --------------------------------------------------------------------------------


def maturity_of(application: LoanApplication, start: date) -> date:
    if application.term_months is not None:
        return start + relativedelta(months=application.term_months)
    return start + timedelta(days=application.term_days or 0)


def _identity_rule(
    session: Session,
    application: LoanApplication,
    person: identity.VerifiedIdentity,
    terms: ProductTerms,
    settings: Settings,
) -> str | None:
    """R2 (the platform, related parties), the blacklist, R14 (age)."""
    if person.id_number == settings.platform_credit_code:
        return "related_party"  # 自融: the platform never borrows on its own platform
    listed = blacklist.entry_of(session, identity.document_index_of(session, application.borrower_id))
    if listed is not None:
        return "related_party" if listed.kind == "related_party" else "blacklisted"
    if person.birth_date is not None:
        today = clock.today()
        at_maturity = identity.age_on(person.birth_date, maturity_of(application, today))
        if (
            identity.age_on(person.birth_date, today) < scoring.MIN_AGE
            or at_maturity > terms.max_age_at_maturity
        ):
            return "age_out_of_range"
    return None


def features_of(
    session: Session, application: LoanApplication, person: identity.VerifiedIdentity
) -> scoring.ApplicantFeatures:
    """What the scorecard sees. Platform history: loans settled here, and whether any of the
    borrower's loans here was ever overdue (the end-of-day batch's daily history)."""
    assert person.birth_date is not None
    repaid = marketplace.loans(session, statuses=["settled"], borrower_id=application.borrower_id, limit=1000)
    term_months = application.term_months or max(1, math.ceil((application.term_days or 0) / 30))
    return scoring.ApplicantFeatures(
        age=identity.age_on(person.birth_date, clock.today()),
        monthly_income_fen=application.monthly_income,
        employment=application.employment,
        employment_years=application.employment_years,
        housing=application.housing,
        amount_fen=application.amount,
        term_months=term_months,
        purpose=application.purpose,
        other_debts_count=application.other_debts_count,
        prior_overdue=end_of_day.ever_overdue(session, application.borrower_id),
        repaid_loans=len(repaid),
    )


def _assess(
    session: Session,
    application: LoanApplication,
    person: identity.VerifiedIdentity,
    terms: ProductTerms,
    scorer: Scorer | None,
) -> CreditDecision:
    """The credit decision: the scorecard for a person, the institution's tier for a company."""
    if application.borrower_kind == "organisation":
        tier = application.institution_risk_tier or max(GRADE_OF_INSTITUTION_TIER)
        model, score, grade = INSTITUTION_TIER_MODEL, None, GRADE_OF_INSTITUTION_TIER[tier]
        reasons = [f"institution_risk_tier_{tier}"]
    else:
        result = (scorer or scoring.load_model()).score(features_of(session, application, person))
        model, score, grade, reasons = (
            result.model_version,
            result.score,
            str(result.grade),
            list(result.reasons),
        )
    decision = CreditDecision(
        application_id=application.id,
        model_version=model,
        score=score,
        grade=grade,
        reasons=reasons,
        created_at=clock.now(),
    )
    session.add(decision)
    priced = terms.for_grade(grade)
    application.grade = grade
    application.score = score
    application.risk_class = priced.risk_class or DEFAULT_RISK_CLASS[grade]
    application.rate_min = priced.rate_min
    application.rate_max = priced.rate_max
    application.service_fee_rate = priced.service_fee_rate
    session.flush()
    record(
        session,
        None,
        "application.scored",
        application,
        model_version=model,
        score=score,
        grade=grade,
        reasons=reasons,
    )
    return decision


def _grade_rule(application: LoanApplication, terms: ProductTerms) -> str | None:
    assert application.grade is not None
    if application.grade == "HR" and terms.auto_reject_hr:
        return "grade_auto_rejected"
    if application.amount > terms.for_grade(application.grade).amount_cap:
        return "grade_amount_cap_exceeded"
    return None


def approved_not_listed(session: Session, borrower_id: int, *, excluding: int | None = None) -> int:
    """Principal of this borrower's applications approved here but not yet listed (R4)."""
    query = select(func.coalesce(func.sum(LoanApplication.amount), 0)).where(
        LoanApplication.borrower_id == borrower_id, LoanApplication.status.in_(APPROVED_NOT_LISTED)
    )
    if excluding is not None:
        query = query.where(LoanApplication.id != excluding)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True, slots=True)
class CapPosition:
    """The numbers R4–R6 compare, in fen."""

    platform: int  # committed here + approved-not-listed + this amount
    total: int  # platform + declared other debt
    cap: int
    total_cap: int

    @property
    def reason(self) -> str | None:
        if self.platform > self.cap:
            return "borrowing_cap_exceeded"
        if self.total > self.total_cap:
            return "total_debt_cap_exceeded"
        return None


def cap_position(session: Session, application: LoanApplication, settings: Settings) -> CapPosition:
    """R4 (person ≤ 200,000.00), R5 (company ≤ 1,000,000.00), R6 (with other debt ≤ 1M / 5M)."""
    platform = (
        marketplace.committed_principal(session, application.borrower_id)
        + approved_not_listed(session, application.borrower_id, excluding=application.id)
        + application.amount
    )
    if application.borrower_kind == "organisation":
        cap, total_cap = (
            settings.borrowing_cap_organisation_fen,
            settings.borrowing_cap_organisation_total_fen,
        )
    else:
        cap, total_cap = settings.borrowing_cap_person_fen, settings.borrowing_cap_person_total_fen
    return CapPosition(platform, platform + application.other_debts_amount, cap, total_cap)


def cap_rule(session: Session, application: LoanApplication, settings: Settings) -> str | None:
    return cap_position(session, application, settings).reason


# --- transitions ------------------------------------------------------------------------------------


def record(
    session: Session, actor_id: int | None, action: str, application: LoanApplication, **details: object
) -> None:
    audit.record(
        session,
        actor_id=actor_id,
        action=action,
        object_type="application",
        object_id=application.id,
        details={"status": application.status, **details},
    )


def move(
    session: Session, application: LoanApplication, status: str, *, actor_id: int | None, **details: object
) -> None:
    previous = application.status
    application.status = status
    application.updated_at = clock.now()
    if status not in ACTIVE_STATUSES:
        application.closed_at = application.updated_at
    session.flush()
    record(session, actor_id, f"application.{status}", application, previous=previous, **details)


def reject(
    session: Session, application: LoanApplication, reason: str, *, officer_id: int | None, note: str = ""
) -> None:
    """Rejected by an automatic rule (officer None) or by an officer, with the reason code."""
    application.rejection_code = reason
    application.rejection_note = note or None
    application.rejected_by = officer_id
    move(session, application, REJECTED, actor_id=officer_id, reason=reason, note=note)


def locked(session: Session, application_id: int) -> LoanApplication:
    """The application row, locked for the rest of the transaction."""
    application = session.scalars(
        select(LoanApplication)
        .where(LoanApplication.id == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if application is None:
        raise ApplicationNotFound("No such application.", details={"application_id": application_id})
    return application


def require_status(application: LoanApplication, allowed: Sequence[str], act: str) -> None:
    if application.status not in allowed:
        raise ApplicationStateConflict(
            f"Cannot {act} an application that is {application.status}.",
            details={"status": application.status, "expected": list(allowed)},
        )


def cancel(session: Session, *, borrower_id: int, application_id: int) -> LoanApplication:
    """The borrower withdraws their application before it is approved."""
    application = locked(session, application_id)
    if application.borrower_id != borrower_id:
        raise ApplicationNotFound("No such application.", details={"application_id": application_id})
    require_status(application, CANCELLABLE_STATUSES, "cancel")
    move(session, application, CANCELLED, actor_id=borrower_id)
    return application


def resubmit(session: Session, *, borrower_id: int, application_id: int, reply: str = "") -> LoanApplication:
    """After an officer asked for more information: back to review, with the borrower's answer."""
    application = locked(session, application_id)
    if application.borrower_id != borrower_id:
        raise ApplicationNotFound("No such application.", details={"application_id": application_id})
    require_status(application, (INFO_REQUESTED,), "resubmit")
    reply = reply.strip()
    if len(reply) > MAX_TEXT:
        raise _invalid("reply", f"A reply is at most {MAX_TEXT} characters.")
    application.borrower_reply = reply or None
    move(session, application, UNDER_REVIEW, actor_id=borrower_id, reply=reply)
    return application


# --- reading ------------------------------------------------------------------------------------------


def get(session: Session, application_id: int) -> LoanApplication:
    application = session.get(LoanApplication, application_id)
    if application is None:
        raise ApplicationNotFound("No such application.", details={"application_id": application_id})
    return application


def may_see(application: LoanApplication, viewer_id: int, *, reviewer: bool) -> bool:
    """The applicant, their referring partner, and staff who review applications."""
    return reviewer or viewer_id in (application.borrower_id, application.partner_id)


def visible(session: Session, application_id: int, viewer_id: int, *, reviewer: bool) -> LoanApplication:
    """An application the viewer may see; any other answers exactly like a missing one."""
    application = session.get(LoanApplication, application_id)
    if application is None or not may_see(application, viewer_id, reviewer=reviewer):
        raise ApplicationNotFound("No such application.", details={"application_id": application_id})
    return application


def of_borrower(session: Session, borrower_id: int, *, limit: int = 50) -> list[LoanApplication]:
    return list(
        session.scalars(
            select(LoanApplication)
            .where(LoanApplication.borrower_id == borrower_id)
            .order_by(LoanApplication.id.desc())
            .limit(min(limit, MAX_LIST))
        ).all()
    )


def of_partner(session: Session, partner_id: int, *, limit: int = 50) -> list[LoanApplication]:
    return list(
        session.scalars(
            select(LoanApplication)
            .where(LoanApplication.partner_id == partner_id)
            .order_by(LoanApplication.id.desc())
            .limit(min(limit, MAX_LIST))
        ).all()
    )


def for_review(
    session: Session, *, statuses: Sequence[str] | None = None, limit: int = 50, offset: int = 0
) -> list[LoanApplication]:
    """审核队列: oldest first for open work, newest first for everything."""
    query = select(LoanApplication)
    if statuses:
        query = query.where(LoanApplication.status.in_(statuses)).order_by(LoanApplication.id)
    else:
        query = query.order_by(LoanApplication.id.desc())
    return list(session.scalars(query.limit(min(limit, MAX_LIST)).offset(max(offset, 0))).all())


def credit_decisions(session: Session, application_id: int) -> list[CreditDecision]:
    return list(
        session.scalars(
            select(CreditDecision)
            .where(CreditDecision.application_id == application_id)
            .order_by(CreditDecision.id)
        ).all()
    )


def collateral_of(session: Session, application_id: int) -> Collateral | None:
    return session.scalars(
        select(Collateral).where(Collateral.application_id == application_id)
    ).one_or_none()
