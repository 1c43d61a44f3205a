"""审核: a risk officer's decisions on an application, field verification, four-eyes, listing.

- **approve** with a grade and an annual rate inside the version's band for that grade;
  refused when the contract's annualised cost breaks 4 × LPR of today (R29), when the
  borrowing caps would be exceeded (R4–R6, re-checked with everything approved since),
  beyond the grade's amount cap, or without a passed field verification where one is
  needed (mortgage loans always; others above the version's threshold).
- Above the version's four-eyes threshold the first approval only moves the application to
  ``awaiting_second_approval``; a **different** officer must approve (or reject) it
  (``four_eyes_same_officer`` otherwise).
- **reject** with a reason code from a fixed list and a note; **request_info** sends the
  borrower a message and waits for them to resubmit.
- The final approval lists the loan through the marketplace (``create_listing``) with every
  per-loan disclosure field (DOMAIN.md §11), borrower data masked (R47), and the
  application becomes ``listed`` with the loan's id.

Every act locks the application row first, records an ``ApplicationDecision`` and an audit
record (who, what, why).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import Settings, get_settings
from p2plend.guarantee import service as guarantee
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.money import yuan_str
from p2plend.notifications import service as notifications
from p2plend.origination import applications, lpr, products
from p2plend.origination.errors import (
    BorrowingCapExceeded,
    FieldVerificationRequired,
    FourEyesSameOfficer,
    GradeAmountCapExceeded,
    GradeNotApprovable,
    InvalidDecision,
    InvalidFieldVerification,
    RateOutsideBand,
    TotalDebtCapExceeded,
)
from p2plend.origination.models import ApplicationDecision, FieldVerification, LoanApplication, Product
from p2plend.origination.products import ProductTerms
from p2plend.origination.vocabulary import (
    APPROVE,
    APPROVED,
    AWAITING_SECOND_APPROVAL,
    DECISION_ACTIONS,
    FIELD_VERIFICATION_KINDS,
    FIELD_VERIFICATION_RESULTS,
    GRADES,
    INFO_REQUESTED,
    LISTED,
    MORTGAGE,
    REJECT,
    REJECTION_REASONS,
    REQUEST_INFO,
    SECOND_APPROVE,
    SECOND_REJECT,
    UNDER_REVIEW,
)
from p2plend.schedules.service import Method
from p2plend.servicing import delinquency

MAX_NOTE = 500
MAX_VERIFICATION_NOTES = 2000
SCORE_BAND = 50
# Monthly income bands disclosed to lenders (yuan): a range, not the figure.
INCOME_BANDS_YUAN = (0, 3_000, 5_000, 10_000, 20_000, 50_000)


@dataclass(frozen=True, slots=True)
class Decision:
    """What an officer decides. ``approve`` needs grade and rate; ``reject`` and
    ``second_reject`` a reason code; ``request_info`` a message."""

    action: str
    grade: str | None = None
    annual_rate: Decimal | None = None
    reason_code: str | None = None
    note: str = ""
    message: str = ""


def decide(
    session: Session,
    *,
    officer_id: int,
    application_id: int,
    decision: Decision,
    settings: Settings | None = None,
) -> LoanApplication:
    """One review act on an application (see the module docstring)."""
    settings = settings or get_settings()
    if decision.action not in DECISION_ACTIONS:
        raise InvalidDecision(
            f"The action is one of {', '.join(DECISION_ACTIONS)}.", details={"field": "action"}
        )
    note = decision.note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidDecision(f"A note is at most {MAX_NOTE} characters.", details={"field": "note"})
    # Lock order: all of the borrower's applications by id (approvals count each other's
    # principal, R4–R6), then re-read this one — never this one first (deadlocks).
    _lock_borrower(session, applications.get(session, application_id).borrower_id)
    application = applications.locked(session, application_id)
    if decision.action == APPROVE:
        _approve(session, application, officer_id, decision, note=note, settings=settings)
    elif decision.action == SECOND_APPROVE:
        _second_approve(session, application, officer_id, note, settings)
    elif decision.action in (REJECT, SECOND_REJECT):
        _reject(session, application, officer_id, decision, note)
    else:
        _request_info(session, application, officer_id, decision.message, note)
    return application


# --- approval -----------------------------------------------------------------------------------


def _approve(
    session: Session,
    application: LoanApplication,
    officer_id: int,
    decision: Decision,
    *,
    note: str,
    settings: Settings,
) -> None:
    applications.require_status(application, (UNDER_REVIEW,), "approve")
    if decision.grade not in GRADES:
        raise InvalidDecision(f"Give the grade: one of {', '.join(GRADES)}.", details={"field": "grade"})
    if decision.annual_rate is None:
        raise InvalidDecision("Give the annual rate.", details={"field": "annual_rate"})
    product, _, terms = products.version_terms(session, application.product_version_id)
    grade = terms.for_grade(decision.grade)
    if decision.grade == "HR" and terms.auto_reject_hr:
        raise GradeNotApprovable("This product does not lend to grade HR.", details={"grade": "HR"})
    if not grade.rate_min <= decision.annual_rate <= grade.rate_max:
        raise RateOutsideBand(
            "The rate is outside the product's band for this grade.",
            details={
                "field": "annual_rate",
                "grade": grade.grade,
                "min": str(grade.rate_min),
                "max": str(grade.rate_max),
            },
        )
    application.approved_grade = grade.grade
    application.annual_rate = decision.annual_rate
    application.risk_class = grade.risk_class
    application.service_fee_rate = grade.service_fee_rate
    _check_contract(session, application, product, terms, settings)
    _record_decision(
        session, application, officer_id, APPROVE, note=note, grade=grade.grade, rate=decision.annual_rate
    )
    if needs_four_eyes(application, terms):
        application.first_approved_by = officer_id
        application.first_approved_at = clock.now()
        applications.move(
            session,
            application,
            AWAITING_SECOND_APPROVAL,
            actor_id=officer_id,
            grade=grade.grade,
            annual_rate=decision.annual_rate,
            note=note,
        )
        return
    _finalise(session, application, product, terms, officer_id=officer_id, note=note)


def _second_approve(
    session: Session, application: LoanApplication, officer_id: int, note: str, settings: Settings
) -> None:
    applications.require_status(application, (AWAITING_SECOND_APPROVAL,), "second-approve")
    _refuse_same_officer(application, officer_id)
    product, _, terms = products.version_terms(session, application.product_version_id)
    _check_contract(session, application, product, terms, settings)  # today's LPR, today's caps
    _record_decision(
        session,
        application,
        officer_id,
        SECOND_APPROVE,
        note=note,
        grade=application.approved_grade,
        rate=application.annual_rate,
    )
    _finalise(session, application, product, terms, officer_id=officer_id, note=note)


def _refuse_same_officer(application: LoanApplication, officer_id: int) -> None:
    if application.first_approved_by == officer_id:
        raise FourEyesSameOfficer(
            "A second approval must come from another officer (四眼原则).",
            details={"first_approved_by": officer_id},
        )


def needs_four_eyes(application: LoanApplication, terms: ProductTerms) -> bool:
    return terms.four_eyes_threshold is not None and application.amount > terms.four_eyes_threshold


def needs_field_verification(application: LoanApplication, product: Product, terms: ProductTerms) -> bool:
    threshold = terms.field_verification_threshold
    return product.kind == MORTGAGE or (threshold is not None and application.amount > threshold)


def _check_contract(
    session: Session, application: LoanApplication, product: Product, terms: ProductTerms, settings: Settings
) -> None:
    """Everything an approval must hold, on today's date."""
    assert application.approved_grade is not None and application.annual_rate is not None
    grade = terms.for_grade(application.approved_grade)
    if application.amount > grade.amount_cap:
        raise GradeAmountCapExceeded(
            "The amount is above this grade's cap.",
            details={"grade": grade.grade, "cap": grade.amount_cap},
        )
    if needs_field_verification(application, product, terms):
        latest = latest_field_verification(session, application.id)
        if latest is None or latest.result != "pass":
            raise FieldVerificationRequired(
                "A passed field verification (面审/实地认证) is needed before approval.",
                details={"latest": None if latest is None else latest.result},
            )
    cap, rate = lpr.legal_cap(session, clock.today())
    cost = lpr.annualised_cost(
        annual_rate=application.annual_rate,
        monthly_fee_rate=terms.monthly_fee_rate,
        service_fee_rate=grade.service_fee_rate,
        term_months=application.term_months,
        term_days=application.term_days,
    )
    lpr.check_legal_cap(cost, cap, rate)  # R29
    application.annualised_cost = cost.quantize(lpr.RATE_PLACES)
    application.lpr_rate = rate
    position = applications.cap_position(session, application, settings)
    if position.reason == "borrowing_cap_exceeded":
        raise BorrowingCapExceeded(
            "The borrower's principal on the platform would exceed the cap.",
            details={"principal": position.platform, "cap": position.cap},
        )
    if position.reason == "total_debt_cap_exceeded":
        raise TotalDebtCapExceeded(
            "With declared debt elsewhere the borrower would exceed the total cap.",
            details={"total": position.total, "cap": position.total_cap},
        )


def _lock_borrower(session: Session, borrower_id: int) -> None:
    """Serialise approvals of one borrower's applications: caps count each other's (R4–R6)."""
    session.scalars(
        select(LoanApplication.id)
        .where(LoanApplication.borrower_id == borrower_id)
        .order_by(LoanApplication.id)
        .with_for_update()
    ).all()


def _finalise(
    session: Session,
    application: LoanApplication,
    product: Product,
    terms: ProductTerms,
    *,
    officer_id: int,
    note: str,
) -> None:
    application.approved_by = officer_id
    application.approved_at = clock.now()
    applications.move(
        session,
        application,
        APPROVED,
        actor_id=officer_id,
        grade=application.approved_grade,
        annual_rate=application.annual_rate,
        annualised_cost=application.annualised_cost,
        lpr=application.lpr_rate,
        first_approved_by=application.first_approved_by,
        note=note,
    )
    loan = marketplace.create_listing(
        session, listing_of(session, application, product, terms), actor_id=officer_id
    )
    if loan.guarantor_id is not None:
        guarantee.sign_agreement(session, loan.id, actor_id=officer_id)
    application.loan_id = loan.id
    applications.move(session, application, LISTED, actor_id=officer_id, loan_id=loan.id)
    _notify(session, application, "application_approved", amount=yuan_str(application.amount))


def listing_of(
    session: Session, application: LoanApplication, product: Product, terms: ProductTerms
) -> marketplace.NewListing:
    """The listing an approved application becomes: every term fixed from its version."""
    assert application.approved_grade and application.annual_rate is not None
    assert application.risk_class and application.service_fee_rate is not None
    assert application.lpr_rate is not None
    return marketplace.NewListing(
        borrower_id=application.borrower_id,
        borrower_kind=application.borrower_kind,
        product_code=product.code,
        product_kind=product.kind,
        title=f"{product.name_zh}-{application.id:06d}",
        purpose=application.purpose,
        amount=application.amount,
        annual_rate=application.annual_rate,
        method=Method(application.method),
        term_months=application.term_months,
        term_days=application.term_days,
        grade=application.approved_grade,
        risk_class=application.risk_class,
        service_fee_rate=application.service_fee_rate,
        monthly_fee_rate=terms.monthly_fee_rate,
        investor_fee_rate=terms.investor_fee_rate,
        prepayment_fee_rate=terms.prepayment_fee_rate,
        repayment_order=terms.repayment_order.value,
        penalty_rate=delinquency.capped_penalty_rate(
            application.annual_rate, delinquency.PENALTY_MULTIPLIER, application.lpr_rate
        ),
        min_bid=terms.min_bid,
        bid_step=terms.bid_step,
        max_share=terms.max_share,
        funding_days=terms.funding_days,
        disclosure=disclosure_of(session, application),
        day_basis=terms.day_basis,
        application_id=application.id,
        product_version_id=application.product_version_id,
        guarantor_id=application.guarantor_id,
        guarantee_fee_rate=(
            guarantee.terms_of(session, application.guarantor_id).fee_rate
            if application.guarantor_id is not None
            else Decimal(0)
        ),
    )


def _income_band(fen: int) -> dict[str, str | None]:
    yuan = fen // 100
    lower = max(b for b in INCOME_BANDS_YUAN if b <= yuan)
    uppers = [b for b in INCOME_BANDS_YUAN if b > yuan]
    return {
        "monthly_min": yuan_str(lower * 100),
        "monthly_max": yuan_str(uppers[0] * 100) if uppers else None,
    }


def _safeguards(session: Session, application: LoanApplication) -> dict[str, Any]:
    if application.guarantor_id is not None:
        guarantor = identity.profile(session, application.guarantor_id)
        return {"kind": "guarantee", "guarantor": guarantor.display_name or ""}
    collateral = applications.collateral_of(session, application.id)
    if collateral is not None:
        ratio = Decimal(application.amount) / Decimal(collateral.appraised_value)
        return {
            "kind": "collateral",
            "collateral_type": collateral.collateral_type,
            "appraised_value": yuan_str(collateral.appraised_value),
            "lien_status": collateral.lien_status,
            "loan_to_value": str(ratio.quantize(Decimal("0.0001"))),
        }
    return {"kind": "none"}


def disclosure_of(session: Session, application: LoanApplication) -> dict[str, Any]:
    """DOMAIN.md §11's per-loan disclosure, masked for investors (R47, R48).

    Credit-report overdues and other-platform borrowing are the borrower's declarations
    (``source: declared``) until a credit-bureau port exists.
    """
    person = identity.verified_identity(session, application.borrower_id)
    decisions = applications.credit_decisions(session, application.id)
    latest = decisions[-1] if decisions else None
    score_band = None
    if latest is not None and latest.score is not None:
        low = latest.score // SCORE_BAND * SCORE_BAND
        score_band = f"{low}-{low + SCORE_BAND - 1}"
    return {
        "borrower_type": application.borrower_kind,
        "borrower_name_masked": identity.mask_name(person.name),
        "industry": application.industry,
        "income": _income_band(application.monthly_income),
        "liabilities": {
            "platform_principal": yuan_str(marketplace.committed_principal(session, application.borrower_id)),
            "declared_other_debts": yuan_str(application.other_debts_amount),
            "declared_other_debts_count": application.other_debts_count,
        },
        "credit_overdues_6m": {"count": application.overdues_6m, "source": "declared"},
        "other_platform_borrowing": {
            "amount": yuan_str(application.other_debts_amount),
            "count": application.other_debts_count,
            "source": "declared",
        },
        "project_summary": application.purpose_description,
        "repayment_source": application.repayment_source,
        "safeguards": _safeguards(session, application),
        "risk_assessment": {
            "grade": application.approved_grade,
            "risk_class": application.risk_class,
            "score_band": score_band,
            "model_version": None if latest is None else latest.model_version,
        },
        "purpose": application.purpose,
    }


# --- rejection and requests for information ------------------------------------------------------


def _reject(
    session: Session, application: LoanApplication, officer_id: int, decision: Decision, note: str
) -> None:
    if decision.action == SECOND_REJECT:
        applications.require_status(application, (AWAITING_SECOND_APPROVAL,), "second-reject")
        _refuse_same_officer(application, officer_id)
    else:
        applications.require_status(application, (UNDER_REVIEW, INFO_REQUESTED), "reject")
    if decision.reason_code not in REJECTION_REASONS:
        raise InvalidDecision(
            f"The reason is one of {', '.join(REJECTION_REASONS)}.", details={"field": "reason_code"}
        )
    _record_decision(
        session, application, officer_id, decision.action, note=note, reason=decision.reason_code
    )
    applications.reject(session, application, decision.reason_code, officer_id=officer_id, note=note)
    _notify(session, application, "application_rejected")


def _request_info(
    session: Session, application: LoanApplication, officer_id: int, message: str, note: str
) -> None:
    applications.require_status(application, (UNDER_REVIEW,), "request information on")
    message = message.strip()
    if not 0 < len(message) <= MAX_NOTE:
        raise InvalidDecision(
            f"Write the borrower a message (1–{MAX_NOTE} characters).", details={"field": "message"}
        )
    application.info_request = message
    application.borrower_reply = None
    _record_decision(session, application, officer_id, REQUEST_INFO, note=note or message)
    applications.move(session, application, INFO_REQUESTED, actor_id=officer_id, message=message)
    _notify(session, application, "application_info_requested", message=message)


def _notify(session: Session, application: LoanApplication, template: str, **params: str) -> None:
    """站内信 to the borrower, in their language."""
    locale = identity.profile(session, application.borrower_id).locale
    notifications.notify_user(
        session,
        user_id=application.borrower_id,
        template=template,
        params={"application_id": str(application.id), **params},
        locale=locale,
    )


def _record_decision(
    session: Session,
    application: LoanApplication,
    officer_id: int,
    action: str,
    *,
    note: str,
    grade: str | None = None,
    rate: Decimal | None = None,
    reason: str | None = None,
) -> None:
    session.add(
        ApplicationDecision(
            application_id=application.id,
            officer_id=officer_id,
            action=action,
            grade=grade,
            annual_rate=rate,
            reason_code=reason,
            note=note,
            created_at=clock.now(),
        )
    )
    session.flush()


def decisions_of(session: Session, application_id: int) -> list[ApplicationDecision]:
    return list(
        session.scalars(
            select(ApplicationDecision)
            .where(ApplicationDecision.application_id == application_id)
            .order_by(ApplicationDecision.id)
        ).all()
    )


# --- field verification ------------------------------------------------------------------------


def record_field_verification(
    session: Session,
    *,
    officer_id: int,
    application_id: int,
    kind: str,
    verified_on: date,
    result: str,
    notes: str,
) -> FieldVerification:
    """面审 / 实地认证: what an officer found meeting the borrower or seeing the collateral."""
    application = applications.locked(session, application_id)
    applications.require_status(
        application, (UNDER_REVIEW, INFO_REQUESTED, AWAITING_SECOND_APPROVAL), "verify"
    )
    if kind not in FIELD_VERIFICATION_KINDS:
        raise InvalidFieldVerification(
            f"The kind is one of {', '.join(FIELD_VERIFICATION_KINDS)}.", details={"field": "kind"}
        )
    if result not in FIELD_VERIFICATION_RESULTS:
        raise InvalidFieldVerification("The result is pass or fail.", details={"field": "result"})
    submitted_on = application.submitted_at.astimezone(clock.BUSINESS_TZ).date()
    if not submitted_on <= verified_on <= clock.today():
        raise InvalidFieldVerification(
            "The date is between the application's submission and today.", details={"field": "verified_on"}
        )
    notes = notes.strip()
    if not 0 < len(notes) <= MAX_VERIFICATION_NOTES:
        raise InvalidFieldVerification(
            f"Write what was verified (1–{MAX_VERIFICATION_NOTES} characters).", details={"field": "notes"}
        )
    row = FieldVerification(
        application_id=application.id,
        kind=kind,
        verified_on=verified_on,
        officer_id=officer_id,
        result=result,
        notes=notes,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    applications.record(
        session,
        officer_id,
        "application.field_verified",
        application,
        verification_id=row.id,
        kind=kind,
        verified_on=verified_on,
        result=result,
    )
    return row


def latest_field_verification(session: Session, application_id: int) -> FieldVerification | None:
    return session.scalars(
        select(FieldVerification)
        .where(FieldVerification.application_id == application_id)
        .order_by(FieldVerification.id.desc())
        .limit(1)
    ).first()


def field_verifications_of(session: Session, application_id: int) -> list[FieldVerification]:
    return list(
        session.scalars(
            select(FieldVerification)
            .where(FieldVerification.application_id == application_id)
            .order_by(FieldVerification.id)
        ).all()
    )
