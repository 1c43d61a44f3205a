"""核销 (write-off, R34): two different staff, a reporting status that moves no money, and
recoveries after it still reach the holders."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.collections import service as collections
from p2plend.collections.errors import (
    InvalidWriteOff,
    WriteOffAlreadyProposed,
    WriteOffFourEyes,
    WriteOffNotEligible,
    WriteOffNotPending,
)
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import PermissionDenied
from p2plend.identity.permissions import Role
from p2plend.ledger.models import JournalEntry
from p2plend.marketplace import service as marketplace
from p2plend.notifications import service as notifications
from p2plend.servicing.models import Distribution
from tests import collecting, lending, overdue
from tests.overdue import overdue_by

PROOF = "(2027)京0105执恢123号：法院终结本次执行，借款人名下无可供执行财产。"


def _entries(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(JournalEntry)) or 0)


def _balances(session_factory: sessionmaker[Session], *user_ids: int) -> list[tuple[int, int]]:
    return [(b.available, b.frozen) for b in (lending.balances(session_factory, u) for u in user_ids)]


def test_a_write_off_needs_two_different_staff_and_moves_no_money_r34(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    officer = collecting.make_staff(session_factory, Role.RISK_OFFICER, name="赵风控")
    finance = collecting.make_staff(session_factory, Role.FINANCE, name="钱财务")
    both = collecting.make_staff(session_factory, Role.RISK_OFFICER, Role.FINANCE, name="孙全能")
    [collector] = collecting.collectors(session_factory, 1)
    overdue.close(session_factory, bank, overdue_by(40))

    with session_factory() as session, pytest.raises(PermissionDenied):  # a collector cannot propose
        collections.propose(
            session, actor_id=collector, loan_id=loan.loan_id, reason="proof_of_loss", proof=PROOF
        )
    with session_factory() as session, pytest.raises(WriteOffNotEligible):  # 40 days, no proof
        collections.propose(session, actor_id=officer, loan_id=loan.loan_id, reason="dpd_over_180")
    with session_factory.begin() as session:
        proposed = collections.propose(
            session, actor_id=both, loan_id=loan.loan_id, reason="proof_of_loss", proof=PROOF
        )
    assert (proposed.status, proposed.days_past_due, proposed.principal) == (
        "proposed",
        40,
        overdue.AMOUNT,
    )
    with session_factory() as session, pytest.raises(WriteOffAlreadyProposed):
        collections.propose(
            session, actor_id=officer, loan_id=loan.loan_id, reason="proof_of_loss", proof=PROOF
        )
    with (
        session_factory() as session,
        pytest.raises(WriteOffFourEyes),
    ):  # the proposer may approve too, but not this one
        collections.approve(session, actor_id=both, write_off_id=proposed.id)
    with session_factory() as session, pytest.raises(PermissionDenied):  # approving is finance's
        collections.approve(session, actor_id=officer, write_off_id=proposed.id)

    holders_before = _balances(session_factory, *loan.investors, loan.borrower)
    entries_before = _entries(session_factory)
    with session_factory() as session:
        holdings = [
            (h.id, h.holder_id, h.principal_outstanding)
            for h in marketplace.holdings_of_loan(session, loan.loan_id)
        ]
    with session_factory.begin() as session:
        approved = collections.approve(session, actor_id=finance, write_off_id=proposed.id, note="同意核销")
    assert (approved.status, approved.decided_by, approved.decided_on) == (
        "approved",
        finance,
        overdue_by(40),
    )
    assert [(c.holding_id, c.holder_id, c.principal) for c in approved.claims] == holdings
    assert approved.principal == overdue.AMOUNT
    assert (
        approved.interest == 4_000 + 3_673
    )  # installments 1 and 2 overdue: 40.00 + rd(11,018.20 × 4 % / 12)
    assert _balances(session_factory, *loan.investors, loan.borrower) == holders_before  # no money moved
    assert _entries(session_factory) == entries_before
    with session_factory() as session:
        assert collections.written_off_loans(session, [loan.loan_id]) == {loan.loan_id}
        loan_row = marketplace.get_loan(session, loan.loan_id)
        assert (loan_row.status, loan_row.principal_outstanding) == (
            "disbursed",
            overdue.AMOUNT,
        )  # still owed
        for holder in loan.investors:
            [message] = [
                m for m in notifications.inbox(session, holder, limit=50) if m.template == "loan_written_off"
            ]
            assert message.body is not None and "核销" in message.body
        actions = [
            r.action for r in audit.list_records(session, object_type="loan", object_id=str(loan.loan_id))
        ]
        assert actions[:2] == ["write_off.approved", "write_off.proposed"]
    with session_factory() as session, pytest.raises(WriteOffNotPending):
        collections.approve(session, actor_id=finance, write_off_id=proposed.id)
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and case.status == "open" and case.written_off  # kept for recovery


def test_a_recovery_after_write_off_reaches_the_holders_r34(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    officer = collecting.make_staff(session_factory, Role.RISK_OFFICER)
    finance = collecting.make_staff(session_factory, Role.FINANCE)
    overdue.close(session_factory, bank, overdue_by(10))
    with session_factory.begin() as session:
        proposed = collections.propose(
            session, actor_id=officer, loan_id=loan.loan_id, reason="proof_of_loss", proof=PROOF
        )
        collections.approve(session, actor_id=finance, write_off_id=proposed.id)
    before = [lending.balances(session_factory, h).available for h in loan.investors]
    lending.go_to(overdue_by(11))
    paid = collecting.pay_what_is_due(session_factory, bank, loan)
    with session_factory() as session:
        view = collections.view(session, proposed.id)
        net = {
            holder: int(total)
            for holder, total in session.execute(
                select(Distribution.holder_id, func.sum(Distribution.net))
                .where(Distribution.loan_id == loan.loan_id)
                .group_by(Distribution.holder_id)
            )
        }
    assert view.recovered == paid and view.distributed == sum(net.values()) > 0
    after = [lending.balances(session_factory, h).available for h in loan.investors]
    assert [a - b for a, b in zip(after, before, strict=True)] == [net[h] for h in loan.investors]
    overdue.close(
        session_factory, bank, overdue_by(11)
    )  # current again: the case closes, the write-off stays
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None and (case.status, case.written_off) == ("closed", True)
    lending.assert_loan_sound(session_factory, loan.loan_id)


def test_without_proof_only_past_180_days(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    officer = collecting.make_staff(session_factory, Role.RISK_OFFICER)
    finance = collecting.make_staff(session_factory, Role.FINANCE)
    overdue.close(session_factory, bank, overdue_by(180))
    with session_factory() as session, pytest.raises(WriteOffNotEligible) as refused:
        collections.propose(session, actor_id=officer, loan_id=loan.loan_id, reason="dpd_over_180")
    assert refused.value.details["days_past_due"] == 180
    overdue.close(session_factory, bank, overdue_by(181))
    with session_factory.begin() as session:
        proposed = collections.propose(session, actor_id=officer, loan_id=loan.loan_id, reason="dpd_over_180")
    with session_factory.begin() as session:
        approved = collections.approve(session, actor_id=finance, write_off_id=proposed.id)
    assert (approved.reason, approved.days_past_due, approved.status) == ("dpd_over_180", 181, "approved")
    with session_factory() as session:
        assert marketplace.get_loan(session, loan.loan_id).classification == "loss"


def test_a_rejected_write_off_may_be_proposed_again(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    officer = collecting.make_staff(session_factory, Role.RISK_OFFICER)
    finance = collecting.make_staff(session_factory, Role.FINANCE)
    overdue.close(session_factory, bank, overdue_by(3))
    with session_factory.begin() as session:
        proposed = collections.propose(
            session, actor_id=officer, loan_id=loan.loan_id, reason="proof_of_loss", proof="死亡证明"
        )
    with session_factory() as session, pytest.raises(InvalidWriteOff):
        collections.reject(session, actor_id=finance, write_off_id=proposed.id, note=" ")
    with session_factory.begin() as session:
        rejected = collections.reject(
            session, actor_id=finance, write_off_id=proposed.id, note="证明材料不足，请补充法院裁定书"
        )
    assert (rejected.status, rejected.decision_note) == ("rejected", "证明材料不足，请补充法院裁定书")
    with session_factory.begin() as session:
        again = collections.propose(
            session, actor_id=officer, loan_id=loan.loan_id, reason="proof_of_loss", proof=PROOF
        )
    with session_factory() as session:
        assert [w.status for w in collections.write_offs(session, loan_id=loan.loan_id)] == [
            "proposed",
            "rejected",
        ]
        assert collections.written_off_loans(session, [loan.loan_id]) == set()
    assert again.id != proposed.id


@pytest.mark.parametrize(
    ("reason", "proof", "field"),
    [("bad_luck", PROOF, "reason"), ("proof_of_loss", "  ", "proof"), ("proof_of_loss", "x" * 1001, "proof")],
)
def test_bad_proposals_are_refused(
    session_factory: sessionmaker[Session], bank: SimulatedBank, reason: str, proof: str, field: str
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    officer = collecting.make_staff(session_factory, Role.RISK_OFFICER)
    with session_factory() as session, pytest.raises(InvalidWriteOff) as refused:
        collections.propose(session, actor_id=officer, loan_id=loan.loan_id, reason=reason, proof=proof)
    assert refused.value.details["field"] == field


def test_a_settled_loan_is_not_written_off(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank, months=1)
    officer = collecting.make_staff(session_factory, Role.RISK_OFFICER)
    overdue.close(session_factory, bank, overdue_by(2))
    collecting.pay_what_is_due(session_factory, bank, loan)
    with session_factory() as session, pytest.raises(WriteOffNotEligible):
        collections.propose(
            session, actor_id=officer, loan_id=loan.loan_id, reason="proof_of_loss", proof=PROOF
        )
