"""The platform risk reserve (风险备付金), DOMAIN.md §8 and R37.

The 2016 rules (《网络借贷信息中介机构业务活动管理暂行办法》) forbid an intermediary to
guarantee its lenders' principal or interest, and a reserve that pays holders when a borrower
does not is such a guarantee. So the reserve is **off by default**, and while it is on — or
still stands behind loans it covered — the compliance report flags it.

How it works when an operator does turn it on:

* **Its account.** The reserve's money sits in a custody sub-account of its own, separate from
  the platform's fee income: a platform-owned account (``holder_id``) under the platform's name
  and credit code, opened once. It is also the holder of the claims the reserve acquires.
* **Contribution rule (提取规则).** A loan without a guarantee agreement disbursed on or after
  the day the reserve was switched on is covered once, at the first end-of-day batch after its
  disbursement: ``contribution_rate`` of its principal moves from the platform's fee income to
  the reserve — never more than the fee income holds, so no money is created. The coverage
  copies the reserve's terms of that day, as a guarantee agreement copies its guarantor's.
* **Compensation.** Exactly as a guarantor's (``service.compensate_under``): the installment at
  ``trigger_dpd``, everything at ``accelerate_dpd``; the claim passes to the reserve's account
  in the same transaction, later recoveries reach it; a reserve short of money pays pro rata
  and the shortfall is recorded.
* Switching it off covers no new loan; loans already covered stay covered (their lenders were
  told so when they lent).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian, TransferLeg
from p2plend.errors import Conflict, InvalidInput
from p2plend.guarantee import service as guarantee
from p2plend.guarantee.models import Compensation, GuaranteeAgreement, ReserveCoverage, RiskReserve
from p2plend.identity import service as identity
from p2plend.identity.service import Permission
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.money import fen_times_rate, yuan_str

RESERVE_ROW = 1
PURPOSE = "风险备付金专户"
DEFAULT_CONTRIBUTION_RATE = Decimal("0.01")  # [D] 1 % of a covered loan's principal


class RiskReserveNotOpen(InvalidInput):
    code = "risk_reserve_not_open"


class RiskReserveAlreadyOpen(Conflict):
    code = "risk_reserve_already_open"


class InvalidReserveTerms(InvalidInput):
    code = "invalid_risk_reserve_terms"


@dataclass(frozen=True)
class ReserveSettings:
    holder_id: int | None  # the reserve's own account; None until opened
    enabled: bool
    enabled_since: date | None
    coverage: str
    trigger_dpd: int
    accelerate_dpd: int
    contribution_rate: Decimal

    @property
    def opened(self) -> bool:
        return self.holder_id is not None


def settings_of(session: Session) -> ReserveSettings:
    """The reserve's settings, or the defaults (off, not opened) while none are recorded."""
    row = session.get(RiskReserve, RESERVE_ROW)
    if row is None:
        return ReserveSettings(
            holder_id=None,
            enabled=False,
            enabled_since=None,
            coverage=guarantee.DEFAULT_COVERAGE,
            trigger_dpd=guarantee.DEFAULT_TRIGGER_DPD,
            accelerate_dpd=guarantee.DEFAULT_ACCELERATE_DPD,
            contribution_rate=DEFAULT_CONTRIBUTION_RATE,
        )
    return ReserveSettings(
        holder_id=row.holder_id,
        enabled=row.enabled,
        enabled_since=row.enabled_since,
        coverage=row.coverage,
        trigger_dpd=row.trigger_dpd,
        accelerate_dpd=row.accelerate_dpd,
        contribution_rate=Decimal(row.contribution_rate),
    )


def _row(session: Session) -> RiskReserve:
    row = session.get(RiskReserve, RESERVE_ROW, with_for_update=True)
    if row is None:
        defaults = settings_of(session)
        row = RiskReserve(
            id=RESERVE_ROW,
            holder_id=None,
            enabled=False,
            enabled_since=None,
            coverage=defaults.coverage,
            trigger_dpd=defaults.trigger_dpd,
            accelerate_dpd=defaults.accelerate_dpd,
            contribution_rate=defaults.contribution_rate,
            updated_at=clock.now(),
        )
        session.add(row)
        session.flush()
    return row


def _require_manager(session: Session, actor_id: int | None) -> None:
    """Staff with ``staff:risk_reserve:manage`` (the administrator), or the console (None)."""
    identity.require_actor(session, actor_id, Permission.STAFF_RISK_RESERVE_MANAGE)


def open_account(
    session: Session, custodian: Custodian, *, phone: str, actor_id: int | None
) -> ReserveSettings:
    """开立风险备付金专户: the reserve's own account and custody sub-account, under the
    platform's name and credit code (once). The reserve stays off."""
    _require_manager(session, actor_id)
    row = _row(session)
    if row.holder_id is not None:
        raise RiskReserveAlreadyOpen("The risk reserve's account is already open.")
    platform = get_settings()
    account = identity.create_platform_account(
        session,
        actor_id=actor_id,
        phone=phone,
        name=platform.platform_legal_name,
        uscc=platform.platform_credit_code,
        purpose=PURPOSE,
    )
    custody.open_account(session, account.id, custodian)
    row.holder_id, row.updated_by, row.updated_at = account.id, actor_id, clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="risk_reserve.opened",
        object_type="user",
        object_id=account.id,
        details={"sub_account": marketplace.sub_account_of(session, account.id)},
    )
    return settings_of(session)


def configure(
    session: Session,
    *,
    enabled: bool,
    coverage: str,
    trigger_dpd: int,
    accelerate_dpd: int,
    contribution_rate: Decimal,
    actor_id: int | None,
) -> ReserveSettings:
    """Switch the reserve on or off and set its terms; loans covered later copy them."""
    _require_manager(session, actor_id)
    guarantee.check_terms(
        coverage,
        trigger_dpd,
        accelerate_dpd,
        contribution_rate,
        rate_field="contribution_rate",
        refusal=InvalidReserveTerms,
    )
    row = _row(session)
    if enabled and row.holder_id is None:
        raise RiskReserveNotOpen("Open the risk reserve's account before switching it on.")
    switched_on = enabled and not row.enabled
    if switched_on:
        row.enabled_since = clock.today()
    row.enabled, row.coverage, row.trigger_dpd, row.accelerate_dpd = (
        enabled,
        coverage,
        trigger_dpd,
        accelerate_dpd,
    )
    row.contribution_rate, row.updated_by, row.updated_at = contribution_rate, actor_id, clock.now()
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="risk_reserve.configured",
        object_type="risk_reserve",
        object_id=RESERVE_ROW,
        details={
            "enabled": enabled,
            "coverage": coverage,
            "trigger_dpd": trigger_dpd,
            "accelerate_dpd": accelerate_dpd,
            "contribution_rate": str(contribution_rate),
        },
    )
    return settings_of(session)


# --- the batch --------------------------------------------------------------------------------


def compensate_due(session: Session, loan_id: int, on: date, custodian: Custodian) -> int:
    """On business date ``on``: cover the loan if the contribution rule says so, then pay its
    holders under the coverage as a guarantor would. Returns how many compensations were made."""
    coverage = session.get(ReserveCoverage, loan_id) or _cover(session, loan_id, on, custodian)
    if coverage is None:
        return 0
    holder_id = settings_of(session).holder_id
    assert holder_id is not None  # a coverage exists only once the account is open
    cover = guarantee.Cover(coverage, holder_id, None)
    return guarantee.compensate_under(session, loan_id, cover, on=on, custodian=custodian)


def _cover(session: Session, loan_id: int, on: date, custodian: Custodian) -> ReserveCoverage | None:
    """Cover a loan disbursed on or after the reserve was switched on and by ``on``, with no
    guarantee agreement, taking its contribution from the platform's fee income."""
    terms = settings_of(session)
    if not terms.enabled or terms.holder_id is None or terms.enabled_since is None:
        return None
    if guarantee.agreement_of(session, loan_id) is not None:
        return None
    loan = marketplace.get_loan(session, loan_id)
    if loan.status != marketplace.DISBURSED or loan.value_date is None:
        return None
    if loan.product_kind == marketplace.PARTNER_CLAIM:  # P2B: the institution's, never the platform's
        return None
    if not terms.enabled_since <= loan.value_date <= on:
        return None
    contribution = min(
        fen_times_rate(loan.amount, terms.contribution_rate),
        max(ledger.balance(session, ledger.PLATFORM_FEE_INCOME), 0),
    )
    if contribution:
        _contribute(session, loan_id, terms.holder_id, contribution, custodian)
    coverage = ReserveCoverage(
        loan_id=loan_id,
        coverage=terms.coverage,
        trigger_dpd=terms.trigger_dpd,
        accelerate_dpd=terms.accelerate_dpd,
        contribution=contribution,
        status=guarantee.ACTIVE,
        covered_on=on,
    )
    session.add(coverage)
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="risk_reserve.loan_covered",
        object_type="loan",
        object_id=loan_id,
        details={"contribution": yuan_str(contribution), "coverage": terms.coverage},
    )
    return coverage


def _contribute(session: Session, loan_id: int, holder_id: int, amount: int, custodian: Custodian) -> None:
    ledger.transfer(
        session,
        kind="risk_reserve_contribution",
        source=ledger.PLATFORM_FEE_INCOME,
        destination=ledger.user_available(holder_id),
        amount=amount,
        idempotency_key=f"risk_reserve:contribution:loan:{loan_id}",
        ref_type="loan",
        ref_id=loan_id,
        memo="风险备付金 contribution from fee income",
    )
    platform_sub = custody.open_platform_fee_account(session, custodian).sub_account_no
    legs = [TransferLeg(platform_sub, marketplace.sub_account_of(session, holder_id), amount)]
    custody.transfer_at_bank(session, custodian, f"RSV{loan_id}", legs)


def loans_to_visit(session: Session, on: date) -> list[int]:
    """The loans the batch visits for the reserve on ``on`` besides the overdue: those the
    contribution rule covers today (in repayment, disbursed since it was switched on, with no
    agreement or coverage yet), and the covered ones repaid in full, whose coverage closes."""
    visit = select(ReserveCoverage.loan_id).join(Loan, Loan.id == ReserveCoverage.loan_id)
    loans = set(
        session.scalars(
            visit.where(ReserveCoverage.status == guarantee.ACTIVE, Loan.status == marketplace.SETTLED)
        )
    )
    terms = settings_of(session)
    if terms.enabled and terms.holder_id is not None and terms.enabled_since is not None:
        uncovered = select(Loan.id).where(
            Loan.status == marketplace.DISBURSED,
            Loan.value_date.between(terms.enabled_since, on),
            Loan.product_kind != marketplace.PARTNER_CLAIM,
            ~select(ReserveCoverage.loan_id).where(ReserveCoverage.loan_id == Loan.id).exists(),
            ~select(GuaranteeAgreement.id).where(GuaranteeAgreement.loan_id == Loan.id).exists(),
        )
        loans.update(session.scalars(uncovered))
    return sorted(loans)


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReservePosition:
    """What the reserve holds, stands behind, has paid and has got back."""

    settings: ReserveSettings
    available: int
    loans: int  # loans in repayment it covers and has not accelerated
    covered_principal: int  # their outstanding principal less the claim it already holds
    contributions: int
    compensated: int
    shortfall: int
    recovered: int

    @property
    def flagged(self) -> bool:
        """R37: the platform is a compensation payer (on, or still standing behind loans)."""
        return self.settings.enabled or self.loans > 0


def position(session: Session) -> ReservePosition:
    terms = settings_of(session)
    if terms.holder_id is None:
        return ReservePosition(terms, 0, 0, 0, 0, 0, 0, 0)
    claims = guarantee.claims_of_guarantor(session, terms.holder_id)
    covered = [
        loan.principal_outstanding - (claims[loan.id].principal_outstanding if loan.id in claims else 0)
        for coverage, loan in coverages(session)
        if coverage.status == guarantee.ACTIVE and loan.status == marketplace.DISBURSED
    ]
    paid, short = guarantee.paid_and_shortfall(session, terms.holder_id)
    contributions = session.scalar(select(func.coalesce(func.sum(ReserveCoverage.contribution), 0)))
    return ReservePosition(
        settings=terms,
        available=ledger.user_balances(session, terms.holder_id).available,
        loans=len(covered),
        covered_principal=sum(covered),
        contributions=int(contributions or 0),
        compensated=paid,
        shortfall=short,
        recovered=sum(claim.recovered for claim in claims.values()),
    )


def coverages(session: Session, *, limit: int = 500) -> list[tuple[ReserveCoverage, Loan]]:
    """The loans the reserve covers (or covered), newest first."""
    return [
        (coverage, loan)
        for coverage, loan in session.execute(
            select(ReserveCoverage, Loan)
            .join(Loan, Loan.id == ReserveCoverage.loan_id)
            .order_by(ReserveCoverage.covered_on.desc(), ReserveCoverage.loan_id.desc())
            .limit(limit)
        )
    ]


def compensations(session: Session, *, limit: int = 200) -> list[Compensation]:
    holder_id = settings_of(session).holder_id
    if holder_id is None:
        return []
    return guarantee.compensations(session, guarantor_id=holder_id, limit=limit)
