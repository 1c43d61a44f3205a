"""机构债权（P2B / 债权转让模式）: claims partner institutions originated outside the platform.

A partner institution (小贷公司, 保理/租赁公司, 持牌机构 — each with the risk tier its referral
form records) made a loan outside the platform. It submits the claim with the debtor's
disclosure (DOMAIN.md §11, masked), its guarantor if any and its repurchase commitment (回购承诺)
if its agreement has one; a risk officer approves it with a grade or rejects it. On approval,
in one transaction:

* ``marketplace.book_partner_claim`` books a loan directly in repayment — the institution is
  its borrower of record (it collects from the debtor outside and pays the installments in),
  value date today, one holding of the whole principal for the institution (source
  ``partner``); no money moves: the institution already lent it;
* ``servicing.fix_schedule`` writes the schedule; ``guarantee.sign_agreement`` if guaranteed;
* ``transfers.list_for_sale`` offers the whole holding on the debt-transfer market at the
  institution's discount (the 30-day holding period does not apply to a ``partner`` holding).

Investors buy parts through ``transfers.buy``: their money goes to the institution. Repayments
follow the holdings (the part the institution still holds receives its own share). The
end-of-day batch's ``compensate`` step calls :func:`repurchase_due`: once the loan's DPD
reaches the commitment's ``repurchase_dpd``, the institution pays every other holder all
remaining principal and the unpaid interest and takes their claims (``servicing.compensate``,
after any guarantor compensation), once; a short institution pays pro rata and the shortfall
is recorded (as R36). The risk reserve never covers a partner claim (R37).

The model lengthens the credit chain — investor → platform → institution → debtor — so every
page labels these claims 机构债权（P2B） and the compliance report counts them.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian
from p2plend.errors import Conflict, InvalidInput, NotFound
from p2plend.guarantee import service as guarantee
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Holding, Loan
from p2plend.marketplace.transfer_listings import TransferListing
from p2plend.money import yuan_str
from p2plend.origination import lpr
from p2plend.origination.applications import reveals_forbidden_purpose
from p2plend.origination.vocabulary import (
    ALLOWED_PURPOSES,
    DEFAULT_RISK_CLASS,
    GRADES,
    INSTITUTION_RISK_TIERS,
    INSTITUTION_TYPES,
)
from p2plend.p2b.models import PartnerClaim, PartnerRepurchase
from p2plend.schedules.service import Method
from p2plend.servicing import delinquency
from p2plend.servicing import service as servicing
from p2plend.servicing.models import Repayment
from p2plend.transfers import service as transfers

SUBMITTED, APPROVED, REJECTED = "submitted", "approved", "rejected"
STATUSES = (SUBMITTED, APPROVED, REJECTED)
PARTNER_CLAIM = marketplace.PARTNER_CLAIM
# The institutions that originate claims (the list); a guarantee company guarantees.
CLAIM_INSTITUTION_TYPES: tuple[str, ...] = tuple(t for t in INSTITUTION_TYPES if t != "guarantor")
DEBTOR_KINDS = ("person", "organisation")
# A claim is offered on the transfer market, which never trades a loan in its final period
# (R38): so at least two periods, and no bullet (one period).
METHODS: tuple[str, ...] = (
    Method.EQUAL_INSTALLMENT.value,
    Method.EQUAL_PRINCIPAL.value,
    Method.INTEREST_FIRST.value,
)
TERM_MIN_MONTHS, TERM_MAX_MONTHS = 2, 36  # [D] credit loans run to 36 months (DOMAIN.md §5)
MAX_REPURCHASE_DPD = 3650
INVESTOR_FEE_RATE = Decimal("0.10")  # [D] 利息管理费, as every product's default
MIN_PART = 10_000  # [D] a part bought is ≥ 100.00 in steps of 100.00, as bids
LABEL_ZH = "机构债权（P2B）"
WARNING_ZH = "本项目为合作机构在平台外发放的借款债权转让，信用链条更长，风险更高"
WARNING_EN = (
    "A claim on a loan a partner institution made outside the platform: a longer credit chain, more risk"
)


class InvalidPartnerClaim(InvalidInput):
    code = "invalid_partner_claim"


class NotAPartnerInstitution(InvalidInput):
    code = "not_a_partner_institution"


class PartnerClaimNotFound(NotFound):
    code = "partner_claim_not_found"


class PartnerClaimDecided(Conflict):
    code = "partner_claim_already_decided"


class PartnerClaimNotBooked(Conflict):
    code = "partner_claim_not_booked"


def _invalid(name: str, message: str, **details: object) -> InvalidPartnerClaim:
    return InvalidPartnerClaim(message, details={"field": name, **details})


# --- submission ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimInput:
    """What the institution submits: the claim's terms and the debtor's disclosure."""

    institution_type: str
    institution_risk_tier: int
    debtor_kind: str
    debtor_name: str  # stored masked only (R47)
    industry: str
    region: str
    purpose: str
    project_summary: str
    monthly_income: int  # fen
    liabilities: int  # fen: the debtor's other debts
    credit_overdues_6m: int
    repayment_source: str
    amount: int
    annual_rate: Decimal
    method: str
    term_months: int
    original_value_date: date
    guarantor_id: int | None = None
    repurchase_dpd: int | None = None
    discount_rate: Decimal = Decimal(0)


def require_institution(session: Session, user_id: int) -> identity.Profile:
    """A partner institution: an active organisation with the partner_institution role and custody."""
    try:
        profile = identity.profile(session, user_id)
    except NotFound as exc:
        raise NotAPartnerInstitution("No such partner institution.", details={"user_id": user_id}) from exc
    if (
        profile.kind != "organisation"
        or profile.status != "active"
        or identity.Role.PARTNER_INSTITUTION not in profile.roles
        or custody.custody_account_of(session, user_id) is None
    ):
        raise NotAPartnerInstitution(
            "Only an active partner institution with a custody account offers claims.",
            details={"user_id": user_id},
        )
    return profile


def _check_rate(session: Session, rate: Decimal, term_months: int) -> Decimal:
    """R29 on today's LPR: the claim's rate (no platform fees on it) within 4 × LPR. Returns the LPR."""
    if rate <= 0 or rate != rate.quantize(Decimal("0.000001")):
        raise _invalid("annual_rate", "The rate is a positive decimal fraction with at most 6 decimals.")
    cap, rate_lpr = lpr.legal_cap(session, clock.today())
    cost = lpr.annualised_cost(
        annual_rate=rate, monthly_fee_rate=Decimal(0), service_fee_rate=Decimal(0), term_months=term_months
    )
    lpr.check_legal_cap(cost, cap, rate_lpr)
    return rate_lpr


def _check(session: Session, data: ClaimInput) -> None:
    settings = get_settings()
    if data.institution_type not in CLAIM_INSTITUTION_TYPES:
        raise _invalid("institution_type", "Unknown institution type.", allowed=list(CLAIM_INSTITUTION_TYPES))
    if data.institution_risk_tier not in INSTITUTION_RISK_TIERS:
        raise _invalid("institution_risk_tier", "The institution's risk tier is 1 to 5.")
    if data.debtor_kind not in DEBTOR_KINDS:
        raise _invalid("debtor_kind", "The debtor is a person or an organisation.")
    for name in ("debtor_name", "industry", "region", "project_summary", "repayment_source"):
        if not str(getattr(data, name)).strip():
            raise _invalid(name, "Every disclosure field is needed (DOMAIN.md §11).")
    if data.purpose not in ALLOWED_PURPOSES:
        raise _invalid("purpose", "Unknown or forbidden purpose (R7).", allowed=list(ALLOWED_PURPOSES))
    word = reveals_forbidden_purpose(data.project_summary)
    if word is not None:
        raise _invalid("project_summary", "The summary reveals a forbidden purpose (R7).", word=word)
    if min(data.monthly_income, data.liabilities, data.credit_overdues_6m) < 0:
        raise _invalid("monthly_income", "Income, liabilities and overdues are not negative.")
    cap = (
        settings.borrowing_cap_organisation_fen
        if data.debtor_kind == "organisation"
        else settings.borrowing_cap_person_fen
    )
    if data.amount <= 0 or data.amount > cap:  # R4 / R5
        raise _invalid(
            "amount", f"The amount is above 0 and at most {yuan_str(cap)} yuan (R4–R5).", cap=yuan_str(cap)
        )
    _check_terms(session, data)


def _check_terms(session: Session, data: ClaimInput) -> None:
    if data.method not in METHODS:
        raise _invalid(
            "method", "Equal installment, equal principal or interest-first.", allowed=list(METHODS)
        )
    if not TERM_MIN_MONTHS <= data.term_months <= TERM_MAX_MONTHS:
        raise _invalid("term_months", f"The term is {TERM_MIN_MONTHS} to {TERM_MAX_MONTHS} months.")
    if data.original_value_date > clock.today():
        raise _invalid("original_value_date", "The partner's contract date is not in the future.")
    if data.repurchase_dpd is not None and not 1 <= data.repurchase_dpd <= MAX_REPURCHASE_DPD:
        raise _invalid("repurchase_dpd", f"The repurchase DPD is 1 to {MAX_REPURCHASE_DPD}.")
    limit = transfers.rules().max_discount
    if not Decimal(0) <= data.discount_rate <= limit or data.discount_rate != data.discount_rate.quantize(
        Decimal("0.0001")
    ):
        raise _invalid("discount_rate", f"The discount is 0 to {limit} (at most 4 decimals).")
    if data.guarantor_id is not None:
        guarantee.require_guarantor(session, data.guarantor_id)
    _check_rate(session, data.annual_rate, data.term_months)


def _income_band(fen: int) -> str:
    low = fen // 500_000 * 5_000  # 5,000-yuan bands: enough to judge, not to identify
    return f"{low}-{low + 5_000}/month"


def _disclosure(session: Session, institution: identity.Profile, data: ClaimInput) -> dict[str, Any]:
    """DOMAIN.md §11's per-loan fields (marketplace.REQUIRED_DISCLOSURE), masked (R47), and the
    P2B facts: who originated it, its tier, the original contract date, the commitment."""
    safeguards: dict[str, Any] = {"kind": "none"}
    if data.guarantor_id is not None:
        safeguards = {
            "kind": "guarantee",
            "guarantor": identity.profile(session, data.guarantor_id).display_name,
        }
    return {
        "borrower_type": data.debtor_kind,
        "borrower_name_masked": identity.mask_name(data.debtor_name.strip()),
        "industry": data.industry.strip(),
        "region": data.region.strip(),
        "income": _income_band(data.monthly_income),
        "liabilities": {"declared_other_debts": yuan_str(data.liabilities)},
        "credit_overdues_6m": {"count": data.credit_overdues_6m, "source": "partner"},
        "other_platform_borrowing": {"amount": yuan_str(data.liabilities), "source": "partner"},
        "project_summary": data.project_summary.strip(),
        "repayment_source": data.repayment_source.strip(),
        "safeguards": safeguards,
        "risk_assessment": {"institution_risk_tier": data.institution_risk_tier},
        "purpose": data.purpose,
        "partner_claim": {
            "institution": institution.display_name,
            "institution_type": data.institution_type,
            "institution_risk_tier": data.institution_risk_tier,
            "original_value_date": data.original_value_date.isoformat(),
            "repurchase_dpd": data.repurchase_dpd,
            "warning_zh": WARNING_ZH,
            "warning_en": WARNING_EN,
        },
    }


def submit_claim(session: Session, institution_id: int, data: ClaimInput) -> PartnerClaim:
    """提交机构债权: validated (caps R4–R5 by the debtor's kind, R29's rate cap, R7's purposes,
    method and term the transfer market can trade), stored for a risk officer's review. Audited."""
    institution = require_institution(session, institution_id)
    _check(session, data)
    claim = PartnerClaim(
        institution_id=institution_id,
        institution_type=data.institution_type,
        institution_risk_tier=data.institution_risk_tier,
        debtor_kind=data.debtor_kind,
        disclosure=_disclosure(session, institution, data),
        purpose=data.purpose,
        amount=data.amount,
        annual_rate=data.annual_rate,
        method=data.method,
        term_months=data.term_months,
        original_value_date=data.original_value_date,
        guarantor_id=data.guarantor_id,
        repurchase_dpd=data.repurchase_dpd,
        discount_rate=data.discount_rate,
        status=SUBMITTED,
        reason="",
        created_at=clock.now(),
    )
    session.add(claim)
    session.flush()
    audit.record(
        session,
        actor_id=institution_id,
        action="p2b.claim_submitted",
        object_type="partner_claim",
        object_id=claim.id,
        details={
            "amount": yuan_str(claim.amount),
            "annual_rate": format(claim.annual_rate, "f"),
            "term_months": claim.term_months,
            "repurchase_dpd": claim.repurchase_dpd,
            "guarantor_id": claim.guarantor_id,
        },
    )
    return claim


# --- review --------------------------------------------------------------------------------


def _locked_claim(session: Session, claim_id: int) -> PartnerClaim:
    claim = session.scalars(
        select(PartnerClaim)
        .where(PartnerClaim.id == claim_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if claim is None:
        raise PartnerClaimNotFound("No such partner claim.", details={"claim_id": claim_id})
    return claim


def approve(session: Session, claim_id: int, *, officer_id: int, grade: str) -> PartnerClaim:
    """审核通过: the loan booked in repayment, its schedule, its guarantee agreement, and the
    whole claim offered on the transfer market — one transaction, no money moved. Audited."""
    claim = _locked_claim(session, claim_id)
    if claim.status != SUBMITTED:
        raise PartnerClaimDecided("This claim was already decided.", details={"status": claim.status})
    if grade not in GRADES:
        raise _invalid("grade", "Unknown grade.", allowed=list(GRADES))
    require_institution(session, claim.institution_id)
    if claim.guarantor_id is not None:
        guarantee.require_guarantor(session, claim.guarantor_id)
    rate_lpr = _check_rate(session, Decimal(claim.annual_rate), claim.term_months)  # R29, today
    loan, holding = marketplace.book_partner_claim(
        session,
        marketplace.NewListing(
            borrower_id=claim.institution_id,
            borrower_kind="organisation",
            product_code="p2b",
            product_kind=PARTNER_CLAIM,
            title=f"机构债权-{claim.id:06d}",
            purpose=claim.purpose,
            amount=claim.amount,
            annual_rate=Decimal(claim.annual_rate),
            method=Method(claim.method),
            term_months=claim.term_months,
            term_days=None,
            grade=grade,
            risk_class=DEFAULT_RISK_CLASS[grade],
            service_fee_rate=Decimal(0),
            monthly_fee_rate=Decimal(0),
            investor_fee_rate=INVESTOR_FEE_RATE,
            prepayment_fee_rate=Decimal(0),
            penalty_rate=delinquency.capped_penalty_rate(
                Decimal(claim.annual_rate), delinquency.PENALTY_MULTIPLIER, rate_lpr
            ),
            min_bid=MIN_PART,
            bid_step=MIN_PART,
            max_share=Decimal(1),
            funding_days=1,
            disclosure={
                **claim.disclosure,
                "risk_assessment": {**claim.disclosure["risk_assessment"], "grade": grade},
            },
            guarantor_id=claim.guarantor_id,
        ),
        actor_id=officer_id,
    )
    servicing.fix_schedule(session, loan)
    if loan.guarantor_id is not None:
        guarantee.sign_agreement(session, loan.id, actor_id=officer_id)
    listing = transfers.list_for_sale(
        session,
        seller_id=claim.institution_id,
        holding_id=holding.id,
        discount_rate=Decimal(claim.discount_rate),
    )
    claim.status, claim.grade, claim.loan_id, claim.listing_id = APPROVED, grade, loan.id, listing.id
    claim.decided_by, claim.decided_at = officer_id, clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=officer_id,
        action="p2b.claim_approved",
        object_type="partner_claim",
        object_id=claim.id,
        details={"grade": grade, "loan_id": loan.id, "listing_id": listing.id},
    )
    return claim


def reject(session: Session, claim_id: int, *, officer_id: int, reason: str) -> PartnerClaim:
    """审核拒绝, with the reason the institution sees. Audited."""
    reason = reason.strip()
    if not reason:
        raise _invalid("reason", "A rejection gives its reason.")
    claim = _locked_claim(session, claim_id)
    if claim.status != SUBMITTED:
        raise PartnerClaimDecided("This claim was already decided.", details={"status": claim.status})
    claim.status, claim.reason = REJECTED, reason[:500]
    claim.decided_by, claim.decided_at = officer_id, clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=officer_id,
        action="p2b.claim_rejected",
        object_type="partner_claim",
        object_id=claim.id,
        details={"reason": claim.reason},
    )
    return claim


# --- the institution services and re-offers --------------------------------------------------


def _own_booked(session: Session, institution_id: int, claim_id: int) -> PartnerClaim:
    claim = get_claim(session, claim_id)
    if claim.institution_id != institution_id:
        raise PartnerClaimNotFound("No such claim of yours.", details={"claim_id": claim_id})
    if claim.loan_id is None:
        raise PartnerClaimNotBooked("This claim is not approved.", details={"status": claim.status})
    return claim


def repay(
    session: Session, claim_id: int, *, institution_id: int, custodian: Custodian, amount: int | None = None
) -> Repayment:
    """还款: the institution pays what is due now (all by default) from its custody balance,
    as the loan's borrower of record; split among the holders, itself included for what it
    still holds."""
    claim = _own_booked(session, institution_id, claim_id)
    assert claim.loan_id is not None
    return servicing.repay(
        session, claim.loan_id, payer_id=institution_id, custodian=custodian, amount=amount
    )


def offer(session: Session, claim_id: int, *, institution_id: int, discount_rate: Decimal) -> TransferListing:
    """重新挂牌: offer what the institution still holds of the claim again (a listing lasts
    3 days [D] and any payment closes it, R40) — the transfer market's rules apply (R38)."""
    claim = _own_booked(session, institution_id, claim_id)
    assert claim.loan_id is not None
    holding = partner_holding(session, claim.loan_id, institution_id)
    if holding is None or holding.principal_outstanding <= 0:
        raise PartnerClaimNotBooked("You hold nothing more of this claim.")
    return transfers.list_for_sale(
        session, seller_id=institution_id, holding_id=holding.id, discount_rate=discount_rate
    )


# --- repurchase (回购), the batch's compensate step -----------------------------------------


def repurchase_due(session: Session, loan_id: int, on: date, custodian: Custodian) -> int:
    """回购: at DPD ≥ the commitment's ``repurchase_dpd`` the institution pays every other
    holder the remaining principal and unpaid interest of the installments no guarantor
    compensated, and takes their claims — once (``partner_repurchases.loan_id`` unique).
    Short of money: pro rata, the shortfall recorded (as R36). Returns 1 when it acted."""
    claim = claim_of_loan(session, loan_id)
    if claim is None or claim.repurchase_dpd is None or repurchase_of(session, loan_id) is not None:
        return 0
    loan = marketplace.lock_loan(session, loan_id)
    if loan.status != marketplace.DISBURSED:
        return 0
    unpaid = servicing.unpaid_installments(session, loan.id)
    overdue = [row for row in unpaid if row.due_date < on]
    if not overdue:
        return 0
    dpd = (on - overdue[0].due_date).days
    if dpd < claim.repurchase_dpd:
        return 0
    numbers = [row.number for row in unpaid if row.compensated_by is None]
    outcome = servicing.compensate(
        session,
        loan.id,
        numbers,
        payer_id=claim.institution_id,
        cover_interest=True,
        take_future_interest=True,
        on=on,
        custodian=custodian,
        idempotency_key=f"eod:{on.isoformat()}:repurchase:loan:{loan.id}",
    )
    record = PartnerRepurchase(
        loan_id=loan.id,
        claim_id=claim.id,
        institution_id=claim.institution_id,
        days_past_due=dpd,
        due=outcome.due,
        paid=outcome.paid,
        shortfall=outcome.shortfall,
        principal=outcome.principal,
        interest=outcome.interest,
        business_date=on,
        created_at=clock.now(),
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="p2b.repurchased",
        object_type="loan",
        object_id=loan.id,
        details={
            "claim_id": claim.id,
            "days_past_due": dpd,
            "due": yuan_str(outcome.due),
            "paid": yuan_str(outcome.paid),
            "shortfall": yuan_str(outcome.shortfall),
        },
    )
    return 1


def bought_back(session: Session, loan_id: int) -> bool:
    """The institution repurchased this loan's claims and it is still being repaid: no guarantor
    compensates it any more (the investors it stood behind were paid out)."""
    if repurchase_of(session, loan_id) is None:
        return False
    return marketplace.get_loan(session, loan_id).status == marketplace.DISBURSED


# --- reading -------------------------------------------------------------------------------


def get_claim(session: Session, claim_id: int) -> PartnerClaim:
    claim = session.get(PartnerClaim, claim_id)
    if claim is None:
        raise PartnerClaimNotFound("No such partner claim.", details={"claim_id": claim_id})
    return claim


def claims(
    session: Session, *, institution_id: int | None = None, status: str | None = None, limit: int = 200
) -> list[PartnerClaim]:
    query = select(PartnerClaim).order_by(PartnerClaim.id.desc()).limit(limit)
    if institution_id is not None:
        query = query.where(PartnerClaim.institution_id == institution_id)
    if status is not None:
        query = query.where(PartnerClaim.status == status)
    return list(session.scalars(query).all())


def claim_of_loan(session: Session, loan_id: int) -> PartnerClaim | None:
    return session.scalars(select(PartnerClaim).where(PartnerClaim.loan_id == loan_id)).first()


def repurchase_of(session: Session, loan_id: int) -> PartnerRepurchase | None:
    return session.scalars(select(PartnerRepurchase).where(PartnerRepurchase.loan_id == loan_id)).first()


def repurchases(
    session: Session, *, institution_id: int | None = None, limit: int = 200
) -> list[PartnerRepurchase]:
    query = select(PartnerRepurchase).order_by(PartnerRepurchase.id.desc()).limit(limit)
    if institution_id is not None:
        query = query.where(PartnerRepurchase.institution_id == institution_id)
    return list(session.scalars(query).all())


def partner_holding(session: Session, loan_id: int, institution_id: int) -> Holding | None:
    for holding in marketplace.holdings_of_loan(session, loan_id):
        if holding.holder_id == institution_id and holding.source == marketplace.PARTNER:
            return holding
    return None


def is_partner_claim(loan: Loan) -> bool:
    return loan.product_kind == PARTNER_CLAIM


def partner_claim_loans(session: Session, loan_ids: Iterable[int]) -> set[int]:
    """Which of these loans are 机构债权 — for the pages that label them."""
    wanted = set(loan_ids)
    if not wanted:
        return set()
    found = session.scalars(select(Loan.id).where(Loan.id.in_(wanted), Loan.product_kind == PARTNER_CLAIM))
    return set(found.all())


@dataclass(frozen=True)
class ClaimView:
    """A claim with its loan's position: what investors hold, what the institution still
    holds (unsold), the next due installment, the open listing, the repurchase."""

    claim: PartnerClaim
    loan: Loan | None = None
    unsold: int = 0
    sold: int = 0
    next_due_date: date | None = None
    next_due_amount: int = 0
    due_now: int = 0
    open_listing: TransferListing | None = None
    repurchase: PartnerRepurchase | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def view(session: Session, claim: PartnerClaim) -> ClaimView:
    if claim.loan_id is None:
        return ClaimView(claim)
    loan = marketplace.get_loan(session, claim.loan_id)
    own = partner_holding(session, loan.id, claim.institution_id)
    unsold = own.principal_outstanding if own else 0
    unpaid = servicing.unpaid_installments(session, loan.id)
    today = clock.today()
    listing = next(
        (
            row
            for row in transfers.listings_of(session, seller_id=claim.institution_id, status=transfers.OPEN)
            if row.loan_id == loan.id
        ),
        None,
    )
    return ClaimView(
        claim,
        loan,
        unsold=unsold,
        sold=loan.principal_outstanding - unsold,
        next_due_date=unpaid[0].due_date if unpaid else None,
        next_due_amount=unpaid[0].owed if unpaid else 0,
        due_now=sum(row.owed for row in unpaid if row.due_date <= today),
        open_listing=listing,
        repurchase=repurchase_of(session, loan.id),
    )


@dataclass(frozen=True)
class Position:
    """Partner claims still being repaid, for the compliance report."""

    count: int
    outstanding: int
    all_outstanding: int

    @property
    def share(self) -> Decimal:
        if not self.all_outstanding:
            return Decimal(0)
        return (Decimal(self.outstanding) / Decimal(self.all_outstanding)).quantize(Decimal("0.0001"))


def position(session: Session) -> Position:
    count, outstanding = session.execute(
        select(func.count(Loan.id), func.coalesce(func.sum(Loan.principal_outstanding), 0)).where(
            Loan.product_kind == PARTNER_CLAIM, Loan.status == marketplace.DISBURSED
        )
    ).one()
    total = session.scalar(
        select(func.coalesce(func.sum(Loan.principal_outstanding), 0)).where(
            Loan.status == marketplace.DISBURSED
        )
    )
    return Position(int(count), int(outstanding), int(total or 0))
