"""合规检查: the compliance report — what in the platform's own conduct a regulator would
question under the 2016 rules (《网络借贷信息中介机构业务活动管理暂行办法》), each as a check
that is clear or flagged, with the figures behind it.

* ``risk_reserve`` (R37): the platform pays holders from a risk reserve — a platform
  guarantee, forbidden to an intermediary. Flagged while the reserve is on or still stands
  behind loans it covered.
* ``borrowing_caps`` (R4–R5): a borrower whose principal on the platform (listed loans at their
  amount, loans in repayment at what is outstanding) is above the cap for its kind. Approval
  refuses such loans, so a flag means the caps were lowered after, or data was changed.
* ``guarantor_shortfalls`` (R36): a guarantor (or the reserve) could not pay in full what its
  agreement promised; the holders bore the shortfall.
* ``partner_claims`` (机构债权, P2B): claims partner institutions made outside the platform and
  sell here lengthen the credit chain (critics said this is not really P2P and spreads risk).
  Flagged while any is outstanding, with their count, principal and share of all outstanding.
"""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import get_settings
from p2plend.guarantee import reserve
from p2plend.guarantee.models import Compensation
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.money import yuan_str
from p2plend.p2b import service as p2b

RISK_RESERVE, BORROWING_CAPS, GUARANTOR_SHORTFALLS = "risk_reserve", "borrowing_caps", "guarantor_shortfalls"
PARTNER_CLAIMS = "partner_claims"
CHECKS = (RISK_RESERVE, BORROWING_CAPS, GUARANTOR_SHORTFALLS, PARTNER_CLAIMS)


@dataclass(frozen=True)
class Check:
    code: str
    flagged: bool
    message: str  # one line in English; pages show the Chinese of ``code``
    figures: dict[str, str | int | bool | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ComplianceReport:
    as_of: date
    checks: tuple[Check, ...]

    @property
    def flagged(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.flagged)


def report(session: Session) -> ComplianceReport:
    return ComplianceReport(
        as_of=clock.today(),
        checks=(
            _risk_reserve(session),
            _borrowing_caps(session),
            _guarantor_shortfalls(session),
            _partner_claims(session),
        ),
    )


def _risk_reserve(session: Session) -> Check:
    position = reserve.position(session)
    terms = position.settings
    figures: dict[str, str | int | bool | None] = {
        "enabled": terms.enabled,
        "enabled_since": terms.enabled_since.isoformat() if terms.enabled_since else None,
        "covered_loans": position.loans,
        "covered_principal": yuan_str(position.covered_principal),
        "balance": yuan_str(position.available),
        "compensated": yuan_str(position.compensated),
    }
    if terms.enabled:
        message = (
            "The platform risk reserve is ON: the platform pays lenders when borrowers do not, "
            "a platform guarantee the 2016 rules forbid (R37)."
        )
    elif position.loans:
        message = (
            f"The risk reserve is off but still stands behind {position.loans} loans it covered "
            "while it was on (R37)."
        )
    else:
        message = "The platform risk reserve is off; the platform guarantees nothing."
    return Check(RISK_RESERVE, position.flagged, message, figures)


def _borrowing_caps(session: Session) -> Check:
    settings = get_settings()
    borrowers = session.scalars(
        select(Loan.borrower_id)
        .where(Loan.status.in_((*marketplace.LISTED_STATES, marketplace.DISBURSED)))
        .distinct()
        .order_by(Loan.borrower_id)
    ).all()
    over: list[int] = []
    for borrower_id in borrowers:
        kind = identity.profile(session, borrower_id).kind
        cap = (
            settings.borrowing_cap_organisation_fen
            if kind == "organisation"
            else settings.borrowing_cap_person_fen
        )
        if marketplace.committed_principal(session, borrower_id) > cap:
            over.append(borrower_id)
    message = (
        f"{len(over)} borrowers are above the borrowing cap for their kind (R4–R5)."
        if over
        else "Every borrower is within the borrowing cap for its kind (R4–R5)."
    )
    return Check(
        BORROWING_CAPS,
        bool(over),
        message,
        {
            "borrowers": len(borrowers),
            "over_cap": len(over),
            "over_cap_ids": ",".join(str(i) for i in over[:20]),
            "person_cap": yuan_str(settings.borrowing_cap_person_fen),
            "organisation_cap": yuan_str(settings.borrowing_cap_organisation_fen),
        },
    )


def _guarantor_shortfalls(session: Session) -> Check:
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Compensation.shortfall), 0)).where(
            Compensation.shortfall > 0
        )
    ).one()
    message = (
        f"{count} compensations were short by {yuan_str(int(total))} in all (R36); the lenders bore it."
        if count
        else "Every compensation was paid in full."
    )
    return Check(
        GUARANTOR_SHORTFALLS,
        bool(count),
        message,
        {"compensations": int(count), "shortfall": yuan_str(int(total))},
    )


def _partner_claims(session: Session) -> Check:
    held = p2b.position(session)
    percent = f"{held.share * 100:.2f}"
    message = (
        f"{held.count} partner-originated claims (机构债权, P2B) are outstanding, "
        f"{yuan_str(held.outstanding)} or {percent} % of all outstanding principal: a longer "
        "credit chain (investor, platform, institution, debtor) and risk spread beyond the platform."
        if held.count
        else "No partner-originated claim (P2B) is outstanding."
    )
    return Check(
        PARTNER_CLAIMS,
        bool(held.count),
        message,
        {
            "claims": held.count,
            "outstanding": yuan_str(held.outstanding),
            "all_outstanding": yuan_str(held.all_outstanding),
            "share": format(held.share, "f"),
        },
    )
