"""核销 (write-off): a reporting status for a loan judged lost (DOMAIN.md §7, R34).

* **Eligible**: a disbursed loan with principal outstanding, more than 180 days past due
  (M7+, 损失) as of the last batch — or, at any age, on a stated proof of loss (death with
  no estate, a court's finding of no enforceable assets, fraud confirmed…).
* **Four eyes**: a risk officer (``staff:risk:manage``) proposes it with the reason and the
  proof; a *different* staff member holding ``staff:write_off:approve`` (finance) approves
  or rejects it (``write_off_four_eyes`` when the same person tries; the database's CHECK
  refuses it too). Eligibility is checked again at approval.
* **No money moves.** Approval records the holders' claims as they stand — marked lost for
  reporting (holders see 已核销) — and tells each holder. The holdings, the schedule and the
  ledger are untouched: the borrower still owes everything, the case stays open for
  recovery, and any later repayment is distributed to whoever holds the claim on the day by
  the ordinary repayment code (``recovered``/``distributed`` report it).

At most one write-off is proposed or approved per loan (a partial unique index); a rejected
one leaves the loan free for a new proposal.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.collections import staff
from p2plend.collections.errors import (
    InvalidWriteOff,
    WriteOffAlreadyProposed,
    WriteOffFourEyes,
    WriteOffNotEligible,
    WriteOffNotFound,
    WriteOffNotPending,
)
from p2plend.collections.models import WriteOff, WriteOffClaim
from p2plend.errors import PermissionDenied
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.money import yuan_str
from p2plend.notifications import service as notifications
from p2plend.servicing import service as servicing
from p2plend.servicing.models import Distribution, Repayment

DPD_OVER_180, PROOF_OF_LOSS = "dpd_over_180", "proof_of_loss"
REASONS = (DPD_OVER_180, PROOF_OF_LOSS)
PROPOSED, APPROVED, REJECTED = "proposed", "approved", "rejected"
STATUSES = (PROPOSED, APPROVED, REJECTED)
LOSS_DPD = 180  # DPD > 180: 损失 (DOMAIN.md §7)
MAX_PROOF = 1000
MAX_NOTE = 500
HOLDER_TEMPLATE = "loan_written_off"


@dataclass(frozen=True, slots=True)
class Claim:
    holding_id: int
    holder_id: int
    principal: int


@dataclass(frozen=True, slots=True)
class WriteOffView:
    id: int
    loan_id: int
    loan_title: str
    reason: str
    proof: str
    status: str
    days_past_due: int  # when proposed
    principal: int  # outstanding when proposed; when approved, at approval
    interest: int  # overdue interest owed at approval
    penalty: int  # penalty interest owed at approval
    proposed_by: int
    proposed_on: date
    decided_by: int | None
    decided_on: date | None
    decision_note: str
    recovered: int  # repaid by the borrower since approval
    distributed: int  # of which reached the holders, net of fees
    claims: tuple[Claim, ...]


def propose(session: Session, *, actor_id: int, loan_id: int, reason: str, proof: str = "") -> WriteOffView:
    """提出核销: a risk officer proposes writing the loan off, with the reason and its proof."""
    _require_actor(session, actor_id, staff.PROPOSE_WRITE_OFF)
    proof = proof.strip()
    if reason not in REASONS:
        _refuse("reason", f"The reason is one of {', '.join(REASONS)}.")
    if len(proof) > MAX_PROOF or _has_control(proof):
        _refuse("proof", f"The proof is described in at most {MAX_PROOF} characters.")
    if reason == PROOF_OF_LOSS and not proof:
        _refuse("proof", "Describe the proof of loss (e.g. the court ruling or certificate, and its number).")
    loan = marketplace.lock_loan(session, loan_id)
    _check_eligible(loan, reason)
    if _live(session, loan.id) is not None:
        raise WriteOffAlreadyProposed(
            "This loan's write-off is already proposed or approved.", details={"loan_id": loan.id}
        )
    row = WriteOff(
        loan_id=loan.id,
        reason=reason,
        proof=proof,
        status=PROPOSED,
        days_past_due=loan.days_past_due,
        principal=loan.principal_outstanding,
        interest=0,
        penalty=0,
        proposed_by=actor_id,
        proposed_on=clock.today(),
        proposed_at=clock.now(),
        decision_note="",
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise WriteOffAlreadyProposed(
            "This loan's write-off is already proposed or approved.", details={"loan_id": loan.id}
        ) from None
    audit.record(
        session,
        actor_id=actor_id,
        action="write_off.proposed",
        object_type="loan",
        object_id=loan.id,
        details={
            "write_off_id": row.id,
            "reason": reason,
            "days_past_due": loan.days_past_due,
            "principal": yuan_str(loan.principal_outstanding),
        },
    )
    return view(session, row.id)


def approve(session: Session, *, actor_id: int, write_off_id: int, note: str = "") -> WriteOffView:
    """批准核销 by a second staff member: the claims are marked lost for reporting; no money moves."""
    row, loan, note = _deciding(session, actor_id, write_off_id, note)
    _check_eligible(loan, row.reason)
    today = clock.today()
    overdue = [r for r in servicing.unpaid_installments(session, loan.id) if r.due_date <= today]
    row.status, row.decided_by, row.decided_on, row.decided_at = APPROVED, actor_id, today, clock.now()
    row.decision_note = note
    row.principal = loan.principal_outstanding
    row.interest = sum(r.interest - r.paid_interest for r in overdue)
    row.penalty = sum(r.penalty - r.paid_penalty for r in overdue)
    holdings = marketplace.holdings_of_loan(session, loan.id)
    session.add_all(
        WriteOffClaim(
            write_off_id=row.id,
            loan_id=loan.id,
            holding_id=h.id,
            holder_id=h.holder_id,
            principal=h.principal_outstanding,
        )
        for h in holdings
    )
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="write_off.approved",
        object_type="loan",
        object_id=loan.id,
        details={
            "write_off_id": row.id,
            "proposed_by": row.proposed_by,
            "principal": yuan_str(row.principal),
            "interest": yuan_str(row.interest),
            "penalty": yuan_str(row.penalty),
            "holders": len({h.holder_id for h in holdings}),
        },
    )
    _tell_holders(session, loan, [h.holder_id for h in holdings], today)
    return view(session, row.id)


def reject(session: Session, *, actor_id: int, write_off_id: int, note: str) -> WriteOffView:
    """驳回核销 by a second staff member, saying why; the loan may be proposed again later."""
    row, loan, note = _deciding(session, actor_id, write_off_id, note)
    if not note:
        _refuse("note", "Say why the write-off is rejected.")
    row.status, row.decided_by, row.decided_on, row.decided_at = (
        REJECTED,
        actor_id,
        clock.today(),
        clock.now(),
    )
    row.decision_note = note
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="write_off.rejected",
        object_type="loan",
        object_id=loan.id,
        details={"write_off_id": row.id, "proposed_by": row.proposed_by},
    )
    return view(session, row.id)


def _deciding(session: Session, actor_id: int, write_off_id: int, note: str) -> tuple[WriteOff, Loan, str]:
    _require_actor(session, actor_id, staff.APPROVE_WRITE_OFF)
    note = note.strip()
    if len(note) > MAX_NOTE or _has_control(note):
        _refuse("note", f"A note is at most {MAX_NOTE} characters.")
    found = session.get(WriteOff, write_off_id)
    if found is None:
        raise WriteOffNotFound("No such write-off.", details={"write_off_id": write_off_id})
    loan = marketplace.lock_loan(session, found.loan_id)
    row = session.scalars(
        select(WriteOff)
        .where(WriteOff.id == write_off_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if row.status != PROPOSED:
        raise WriteOffNotPending(
            f"This write-off is already {row.status}.", details={"write_off_id": row.id, "status": row.status}
        )
    if row.proposed_by == actor_id:
        raise WriteOffFourEyes(
            "A write-off is decided by another staff member than the one who proposed it (四眼原则).",
            details={"proposed_by": row.proposed_by},
        )
    return row, loan, note


def _require_actor(session: Session, actor_id: int | None, permission: identity.Permission) -> None:
    if actor_id is None:  # both eyes are named people: the console cannot stand in for one
        raise PermissionDenied(
            "A write-off is proposed and decided by named staff.", details={"permission": permission.value}
        )
    staff.require(session, actor_id, permission)


def _check_eligible(loan: Loan, reason: str) -> None:
    if loan.status != marketplace.DISBURSED or loan.principal_outstanding <= 0:
        raise WriteOffNotEligible(
            "Only a loan being repaid, with principal outstanding, is written off.",
            details={"loan_id": loan.id, "status": loan.status},
        )
    if reason == DPD_OVER_180 and loan.days_past_due <= LOSS_DPD:
        raise WriteOffNotEligible(
            f"The loan is {loan.days_past_due} days past due: a write-off without proof of loss "
            f"needs more than {LOSS_DPD}.",
            details={"loan_id": loan.id, "days_past_due": loan.days_past_due, "needed": LOSS_DPD + 1},
        )


def _tell_holders(session: Session, loan: Loan, holder_ids: Iterable[int], on: date) -> None:
    ids = sorted(set(holder_ids))
    locales = identity.locales_of(session, ids)
    for holder_id in ids:
        notifications.notify_user(
            session,
            user_id=holder_id,
            template=HOLDER_TEMPLATE,
            params={"loan": loan.title, "date": on.isoformat()},
            locale=locales.get(holder_id, "zh"),
        )


def _refuse(field: str, message: str) -> None:
    raise InvalidWriteOff(message, details={"field": field})


def _has_control(text: str) -> bool:
    return any((ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F for c in text)


def _live(session: Session, loan_id: int) -> WriteOff | None:
    return session.scalars(
        select(WriteOff).where(WriteOff.loan_id == loan_id, WriteOff.status.in_((PROPOSED, APPROVED)))
    ).first()


# --- reading -------------------------------------------------------------------------------------


def view(session: Session, write_off_id: int) -> WriteOffView:
    row = session.get(WriteOff, write_off_id)
    if row is None:
        raise WriteOffNotFound("No such write-off.", details={"write_off_id": write_off_id})
    return _views(session, [row])[0]


def write_offs(
    session: Session, *, status: str | None = None, loan_id: int | None = None, limit: int = 100
) -> list[WriteOffView]:
    """Write-offs, newest first."""
    query = select(WriteOff).order_by(WriteOff.id.desc()).limit(min(max(limit, 1), 500))
    if status is not None:
        query = query.where(WriteOff.status == status)
    if loan_id is not None:
        query = query.where(WriteOff.loan_id == loan_id)
    return _views(session, list(session.scalars(query).all()))


def written_off_loans(session: Session, loan_ids: Iterable[int]) -> set[int]:
    """Which of ``loan_ids`` are written off (已核销), in one query."""
    ids = set(loan_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(WriteOff.loan_id).where(WriteOff.loan_id.in_(ids), WriteOff.status == APPROVED)
        )
    )


def _views(session: Session, rows: list[WriteOff]) -> list[WriteOffView]:
    if not rows:
        return []
    titles = dict(
        session.execute(select(Loan.id, Loan.title).where(Loan.id.in_({r.loan_id for r in rows}))).all()
    )
    claims: dict[int, list[Claim]] = {}
    for claim in session.scalars(
        select(WriteOffClaim)
        .where(WriteOffClaim.write_off_id.in_([r.id for r in rows]))
        .order_by(WriteOffClaim.id)
    ):
        claims.setdefault(claim.write_off_id, []).append(
            Claim(claim.holding_id, claim.holder_id, claim.principal)
        )
    views = []
    for row in rows:
        recovered = distributed = 0
        if row.status == APPROVED and row.decided_on is not None:
            recovered, distributed = _recoveries(session, row.loan_id, row.decided_on)
        views.append(
            WriteOffView(
                id=row.id,
                loan_id=row.loan_id,
                loan_title=titles.get(row.loan_id, ""),
                reason=row.reason,
                proof=row.proof,
                status=row.status,
                days_past_due=row.days_past_due,
                principal=row.principal,
                interest=row.interest,
                penalty=row.penalty,
                proposed_by=row.proposed_by,
                proposed_on=row.proposed_on,
                decided_by=row.decided_by,
                decided_on=row.decided_on,
                decision_note=row.decision_note,
                recovered=recovered,
                distributed=distributed,
                claims=tuple(claims.get(row.id, ())),
            )
        )
    return views


def _recoveries(session: Session, loan_id: int, since: date) -> tuple[int, int]:
    """What the borrower repaid from the approval day on, and what of it reached the holders."""
    repaid = session.scalar(
        select(func.coalesce(func.sum(Repayment.amount), 0)).where(
            Repayment.loan_id == loan_id, Repayment.business_date >= since
        )
    )
    distributed = session.scalar(
        select(func.coalesce(func.sum(Distribution.net), 0)).where(
            Distribution.loan_id == loan_id, Distribution.business_date >= since
        )
    )
    return int(repaid or 0), int(distributed or 0)
