"""Guarantee and compensation (担保 / 代偿), DOMAIN.md §8.

The platform never guarantees (R37). A third-party guarantee company (担保公司, a user of
kind organisation with the guarantor role and its own custody account) agrees standing
terms with the platform — coverage (principal, or principal + interest), the DPD on which
it pays an overdue installment, the DPD on which it pays everything that remains, its fee —
and each loan it guarantees gets an agreement copying them when the loan is listed.

The end-of-day batch calls :func:`compensate_due` for every loan in service, after the
loan's overdue position is known:

* an installment ``trigger_dpd`` days overdue [D 2] is paid to the holders by the guarantor,
  once (its principal, and its interest when covered);
* at ``accelerate_dpd`` [D 90] the guarantor pays all remaining principal and the unpaid
  interest, no penalty; the agreement is then ``accelerated``.

``servicing.compensate`` moves the money and the claim in one transaction (R35). A
guarantor short of money pays pro rata what it has and the shortfall is recorded (R36).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian
from p2plend.errors import InvalidInput, NotFound
from p2plend.guarantee.models import Compensation, GuaranteeAgreement, GuarantorTerms, ReserveCoverage
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.money import yuan_str
from p2plend.notifications import service as notifications
from p2plend.servicing import service as servicing

PRINCIPAL, PRINCIPAL_INTEREST = "principal", "principal_interest"
COVERAGES = (PRINCIPAL, PRINCIPAL_INTEREST)
DEFAULT_COVERAGE = PRINCIPAL_INTEREST  # [D] what guaranteed platforms promised
DEFAULT_TRIGGER_DPD = 2  # [D] "paid to investors on the second day of delay"
DEFAULT_ACCELERATE_DPD = 90  # [D]
DEFAULT_FEE_RATE = Decimal(0)
ACTIVE, ACCELERATED, CLOSED = "active", "accelerated", "closed"
ACCELERATION_NUMBER = 0  # the installment number an acceleration is recorded under


class NotAGuarantor(InvalidInput):
    code = "not_a_guarantor"


class InvalidGuaranteeTerms(InvalidInput):
    code = "invalid_guarantee_terms"


class AgreementNotFound(NotFound):
    code = "guarantee_agreement_not_found"


@dataclass(frozen=True)
class Terms:
    guarantor_id: int
    coverage: str
    trigger_dpd: int
    accelerate_dpd: int
    fee_rate: Decimal
    agreed: bool  # False: the defaults, no terms recorded yet


# --- standing terms ---------------------------------------------------------------------------


def terms_of(session: Session, guarantor_id: int) -> Terms:
    """The guarantor's standing terms, or the defaults [D] while none are recorded."""
    row = session.get(GuarantorTerms, guarantor_id)
    if row is None:
        return Terms(
            guarantor_id,
            DEFAULT_COVERAGE,
            DEFAULT_TRIGGER_DPD,
            DEFAULT_ACCELERATE_DPD,
            DEFAULT_FEE_RATE,
            False,
        )
    return Terms(guarantor_id, row.coverage, row.trigger_dpd, row.accelerate_dpd, Decimal(row.fee_rate), True)


def set_terms(
    session: Session,
    guarantor_id: int,
    *,
    coverage: str,
    trigger_dpd: int,
    accelerate_dpd: int,
    fee_rate: Decimal,
    actor_id: int | None,
) -> Terms:
    """Record the guarantor's standing terms (合作协议); loans listed later copy them."""
    require_guarantor(session, guarantor_id)
    check_terms(coverage, trigger_dpd, accelerate_dpd, fee_rate)
    row = session.get(GuarantorTerms, guarantor_id)
    if row is None:
        row = GuarantorTerms(guarantor_id=guarantor_id)
        session.add(row)
    row.coverage, row.trigger_dpd, row.accelerate_dpd, row.fee_rate = (
        coverage,
        trigger_dpd,
        accelerate_dpd,
        fee_rate,
    )
    row.updated_by, row.updated_at = actor_id, clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="guarantee.terms_set",
        object_type="user",
        object_id=guarantor_id,
        details={
            "coverage": coverage,
            "trigger_dpd": trigger_dpd,
            "accelerate_dpd": accelerate_dpd,
            "fee_rate": str(fee_rate),
        },
    )
    return terms_of(session, guarantor_id)


def check_terms(
    coverage: str,
    trigger_dpd: int,
    accelerate_dpd: int,
    rate: Decimal,
    *,
    rate_field: str = "fee_rate",
    refusal: type[InvalidInput] = InvalidGuaranteeTerms,
) -> None:
    """How a payer's terms fit together — a guarantor's, or the risk reserve's (its own
    ``refusal`` and rate field): a known coverage, 1 ≤ trigger < acceleration, 0 ≤ rate < 1."""
    if coverage not in COVERAGES:
        raise refusal("Coverage is principal or principal_interest.", details={"field": "coverage"})
    if trigger_dpd < 1:
        raise refusal("The trigger is at least 1 day overdue.", details={"field": "trigger_dpd"})
    if accelerate_dpd <= trigger_dpd:
        raise refusal(
            "Acceleration comes after the installment trigger.", details={"field": "accelerate_dpd"}
        )
    if not Decimal(0) <= rate < Decimal(1):
        rate_name = rate_field.replace("_", " ")
        raise refusal(f"The {rate_name} is a share of principal below 1.", details={"field": rate_field})


def require_guarantor(session: Session, user_id: int) -> None:
    """A guarantee company: an active organisation with the guarantor role and custody."""
    try:
        profile = identity.profile(session, user_id)
    except NotFound as exc:
        raise NotAGuarantor("No such guarantee company.", details={"guarantor_id": user_id}) from exc
    if (
        profile.kind != "organisation"
        or "guarantor" not in profile.roles
        or custody.custody_account_of(session, user_id) is None
    ):
        raise NotAGuarantor(
            "Only a guarantee company with a custody account guarantees loans.",
            details={"guarantor_id": user_id},
        )


def guarantors(session: Session) -> list[Terms]:
    """Every guarantee company on the platform with its terms."""
    page = identity.list_users(session, page=1, page_size=500, role="guarantor")
    return [terms_of(session, p.user_id) for p in page.items if p.kind == "organisation"]


# --- agreements ----------------------------------------------------------------------------------


def sign_agreement(session: Session, loan_id: int, *, actor_id: int | None) -> GuaranteeAgreement:
    """担保合同 of a listed guaranteed loan, on its guarantor's terms of today (once)."""
    existing = agreement_of(session, loan_id)
    if existing is not None:
        return existing
    loan = marketplace.get_loan(session, loan_id)
    if loan.guarantor_id is None:
        raise NotAGuarantor("This loan names no guarantor.", details={"loan_id": loan_id})
    terms = terms_of(session, loan.guarantor_id)
    agreement = GuaranteeAgreement(
        loan_id=loan.id,
        guarantor_id=loan.guarantor_id,
        coverage=terms.coverage,
        trigger_dpd=terms.trigger_dpd,
        accelerate_dpd=terms.accelerate_dpd,
        fee_rate=terms.fee_rate,
        status=ACTIVE,
        signed_at=clock.now(),
    )
    session.add(agreement)
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="guarantee.agreement_signed",
        object_type="loan",
        object_id=loan.id,
        details={"guarantor_id": loan.guarantor_id, "coverage": terms.coverage},
    )
    return agreement


def agreement_of(session: Session, loan_id: int) -> GuaranteeAgreement | None:
    return session.scalars(select(GuaranteeAgreement).where(GuaranteeAgreement.loan_id == loan_id)).first()


def require_agreement(session: Session, loan_id: int) -> GuaranteeAgreement:
    agreement = agreement_of(session, loan_id)
    if agreement is None:
        raise AgreementNotFound("This loan has no guarantee agreement.", details={"loan_id": loan_id})
    return agreement


# --- compensation (the batch) --------------------------------------------------------------------


def compensate_due(session: Session, loan_id: int, on: date, custodian: Custodian) -> int:
    """代偿 by the loan's guarantor on business date ``on``, under its agreement (see
    :func:`compensate_under`). Returns how many compensations were made."""
    agreement = agreement_of(session, loan_id)
    if agreement is None:
        return 0
    cover = Cover(agreement, agreement.guarantor_id, agreement.id)
    return compensate_under(session, loan_id, cover, on=on, custodian=custodian)


@dataclass(frozen=True)
class Cover:
    """Who pays the holders of a loan, on which terms: a guarantor under its agreement, or the
    risk reserve under its coverage (``agreement_id`` None). ``terms`` is that row: its
    coverage, triggers and status."""

    terms: GuaranteeAgreement | ReserveCoverage
    payer_id: int
    agreement_id: int | None


def compensate_under(session: Session, loan_id: int, cover: Cover, *, on: date, custodian: Custodian) -> int:
    """Acceleration once the loan's DPD reaches the cover's ``accelerate_dpd``, otherwise each
    installment that reached ``trigger_dpd`` and was not compensated yet; a cover whose loan is
    repaid closes."""
    terms = cover.terms
    if terms.status != ACTIVE:
        return 0
    loan = marketplace.lock_loan(session, loan_id)
    if loan.status != marketplace.DISBURSED:
        if loan.status == marketplace.SETTLED:
            terms.status = CLOSED
        return 0
    unpaid = servicing.unpaid_installments(session, loan.id)
    overdue = [row for row in unpaid if row.due_date < on]
    if not overdue:
        return 0
    dpd = (on - overdue[0].due_date).days
    if dpd >= terms.accelerate_dpd:
        _compensate(
            session,
            loan,
            cover,
            [r.number for r in unpaid],
            on=on,
            custodian=custodian,
            acceleration=True,
        )
        terms.status = ACCELERATED
        session.flush()
        return 1
    done = set(
        session.scalars(
            select(Compensation.installment_number).where(
                Compensation.loan_id == loan.id, Compensation.kind == "installment"
            )
        )
    )
    made = 0
    for row in overdue:
        if (on - row.due_date).days >= terms.trigger_dpd and row.number not in done:
            _compensate(session, loan, cover, [row.number], on=on, custodian=custodian, acceleration=False)
            made += 1
    return made


def _compensate(
    session: Session,
    loan: Loan,
    cover: Cover,
    numbers: list[int],
    *,
    on: date,
    custodian: Custodian,
    acceleration: bool,
) -> Compensation:
    kind = "acceleration" if acceleration else "installment"
    number = ACCELERATION_NUMBER if acceleration else numbers[0]
    outcome = servicing.compensate(
        session,
        loan.id,
        numbers,
        payer_id=cover.payer_id,
        cover_interest=cover.terms.coverage == PRINCIPAL_INTEREST,
        take_future_interest=acceleration,
        on=on,
        custodian=custodian,
        idempotency_key=f"eod:{on.isoformat()}:compensate:loan:{loan.id}:{kind}:{number}",
    )
    record = Compensation(
        loan_id=loan.id,
        agreement_id=cover.agreement_id,
        payer_id=cover.payer_id,
        kind=kind,
        installment_number=number,
        business_date=on,
        due=outcome.due,
        paid=outcome.paid,
        shortfall=outcome.shortfall,
        principal=outcome.principal,
        interest=outcome.interest,
        created_at=clock.now(),
    )
    session.add(record)
    session.flush()
    details = {
        "kind": kind,
        "installment": number,
        "due": yuan_str(outcome.due),
        "paid": yuan_str(outcome.paid),
        "shortfall": yuan_str(outcome.shortfall),
    }
    audit.record(
        session,
        actor_id=None,
        action="guarantee.compensated",
        object_type="loan",
        object_id=loan.id,
        details=details,
    )
    _notify(session, loan, cover.payer_id, outcome.paid, outcome.shortfall)
    return record


def _notify(session: Session, loan: Loan, guarantor_id: int, paid: int, shortfall: int) -> None:
    locales = identity.locales_of(session, [guarantor_id, loan.borrower_id])
    notifications.notify_user(
        session,
        user_id=guarantor_id,
        template="compensation_paid",
        params={"loan": loan.title, "amount": yuan_str(paid), "shortfall": yuan_str(shortfall)},
        locale=locales.get(guarantor_id, "zh"),
    )
    if paid:
        notifications.notify_user(
            session,
            user_id=loan.borrower_id,
            template="compensation_borrower_notice",
            params={"loan": loan.title, "amount": yuan_str(paid)},
            locale=locales.get(loan.borrower_id, "zh"),
        )


def repaid_under_active_agreements(session: Session) -> list[int]:
    """The loans repaid in full whose agreement is still active: the batch visits them, out of
    repayment as they are, to close the agreement."""
    return list(
        session.scalars(
            select(GuaranteeAgreement.loan_id)
            .join(Loan, Loan.id == GuaranteeAgreement.loan_id)
            .where(GuaranteeAgreement.status == ACTIVE, Loan.status == marketplace.SETTLED)
            .order_by(GuaranteeAgreement.loan_id)
        ).all()
    )


# --- reading -----------------------------------------------------------------------------------


def compensations_of_loan(session: Session, loan_id: int) -> list[Compensation]:
    return list(
        session.scalars(
            select(Compensation).where(Compensation.loan_id == loan_id).order_by(Compensation.id)
        ).all()
    )


def compensations(
    session: Session, *, guarantor_id: int | None = None, limit: int = 200
) -> list[Compensation]:
    """The latest compensations, newest first, of one guarantor or of all."""
    query = select(Compensation).order_by(Compensation.id.desc()).limit(limit)
    if guarantor_id is not None:
        query = query.where(Compensation.payer_id == guarantor_id)
    return list(session.scalars(query).all())


@dataclass(frozen=True)
class Exposure:
    """A guarantor's position (担保余额): what it guarantees, what it paid, what it lacked."""

    guarantor_id: int
    available: int
    loans: int
    guaranteed_principal: int  # outstanding principal of active agreements, not yet compensated
    compensated: int
    shortfall: int
    recovered: int  # what borrowers have paid it back since


def exposure(session: Session, guarantor_id: int) -> Exposure:
    claims = claims_of_guarantor(session, guarantor_id)
    guaranteed = [
        guaranteed_principal(agreement, loan, claims.get(loan.id))
        for agreement, loan in agreements_of_guarantor(session, guarantor_id)
        if agreement.status == ACTIVE and loan.status == marketplace.DISBURSED
    ]
    paid, short = paid_and_shortfall(session, guarantor_id)
    return Exposure(
        guarantor_id=guarantor_id,
        available=ledger.user_balances(session, guarantor_id).available,
        loans=len(guaranteed),
        guaranteed_principal=sum(guaranteed),
        compensated=paid,
        shortfall=short,
        recovered=sum(claim.recovered for claim in claims.values()),
    )


def paid_and_shortfall(session: Session, payer_id: int) -> tuple[int, int]:
    """What a payer (a guarantor, or the risk reserve's account) has compensated in all, and
    what it lacked."""
    paid, short = session.execute(
        select(
            func.coalesce(func.sum(Compensation.paid), 0), func.coalesce(func.sum(Compensation.shortfall), 0)
        ).where(Compensation.payer_id == payer_id)
    ).one()
    return int(paid), int(short)


def agreements_of_guarantor(session: Session, guarantor_id: int) -> list[tuple[GuaranteeAgreement, Loan]]:
    return [
        (agreement, loan)
        for agreement, loan in session.execute(
            select(GuaranteeAgreement, Loan)
            .join(Loan, Loan.id == GuaranteeAgreement.loan_id)
            .where(GuaranteeAgreement.guarantor_id == guarantor_id)
            .order_by(GuaranteeAgreement.id.desc())
        )
    ]


# --- reading for the guarantor's and staff's pages -----------------------------------------------


@dataclass(frozen=True)
class Claim:
    """代偿债权: the claim a payer acquired on one loan by compensating its holders."""

    loan_id: int
    principal_acquired: int
    principal_outstanding: int
    recovered: int  # principal, interest and penalty the borrower has paid the payer since


def claims_of_guarantor(session: Session, guarantor_id: int) -> dict[int, Claim]:
    """The guarantor's compensation claims, by loan (one per loan, however many installments)."""
    return {
        h.loan_id: Claim(
            loan_id=h.loan_id,
            principal_acquired=h.principal_acquired,
            principal_outstanding=h.principal_outstanding,
            recovered=h.principal_received + h.interest_received + h.penalty_received,
        )
        for h in marketplace.holdings_of_holder(session, guarantor_id)
        if h.source == servicing.COMPENSATION
    }


def guaranteed_principal(agreement: GuaranteeAgreement, loan: Loan, claim: Claim | None) -> int:
    """The principal the guarantor still stands behind on this loan (as :func:`exposure` counts
    it): while the agreement is active and the loan in repayment, what the holders other than
    the guarantor still hold; nothing once accelerated or closed."""
    if agreement.status != ACTIVE or loan.status != marketplace.DISBURSED:
        return 0
    return loan.principal_outstanding - (claim.principal_outstanding if claim is not None else 0)


@dataclass(frozen=True)
class LoanGuarantee:
    """One guaranteed loan's guarantee: its agreement, every compensation under it (oldest
    first), the guarantor's claim from them and the principal it still stands behind."""

    loan: Loan
    agreement: GuaranteeAgreement
    compensations: list[Compensation]
    claim: Claim | None
    guaranteed_principal: int


def loan_guarantee(session: Session, loan_id: int) -> LoanGuarantee | None:
    """The guarantee of ``loan_id``, or None when the loan has no agreement."""
    agreement = agreement_of(session, loan_id)
    if agreement is None:
        return None
    loan = marketplace.get_loan(session, loan_id)
    claim = claims_of_guarantor(session, agreement.guarantor_id).get(loan_id)
    return LoanGuarantee(
        loan=loan,
        agreement=agreement,
        compensations=compensations_of_loan(session, loan_id),
        claim=claim,
        guaranteed_principal=guaranteed_principal(agreement, loan, claim),
    )
