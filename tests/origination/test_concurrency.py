"""Concurrency on PostgreSQL: duplicates (R18) and caps (R4) hold with many workers at once."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.origination import service as origination
from p2plend.origination.errors import BorrowingCapExceeded, DuplicateApplication
from p2plend.origination.models import LoanApplication
from tests import builders

WORKERS = 8


@pytest.mark.postgres_only
def test_r18_concurrent_submits_for_one_purpose_create_one_application(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    with session_factory.begin() as session:
        borrower_id = builders.make_borrower(session, bank).id

    def submit(_: int) -> str:
        try:
            with session_factory.begin() as session:
                return builders.make_application(session, borrower_id).status
        except DuplicateApplication:
            return "duplicate"

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(submit, range(WORKERS)))
    assert sorted(results) == ["duplicate"] * (WORKERS - 1) + ["under_review"]
    with session_factory() as session:
        count = session.scalar(select(func.count()).where(LoanApplication.borrower_id == borrower_id))
        assert count == 1


@pytest.mark.postgres_only
def test_r4_concurrent_approvals_never_take_a_borrower_past_the_cap(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Each of two 90,000.00 applications fits alone beside a listed 100,000.00 loan; not both."""
    purposes = ["car", "education", "medical"]
    with session_factory.begin() as session:
        borrower_id = builders.make_borrower(session, bank).id
        officers = [builders.make_officer(session)[0].id for _ in range(3)]
        ids = [
            builders.make_application(session, borrower_id, grade="AA", amount=amount, purpose=purpose).id
            for amount, purpose in zip((10_000_000, 9_000_000, 9_000_000), purposes, strict=True)
        ]
        for application_id in ids:
            builders.pass_field_verification(session, application_id, officers[0])
        builders.approve_application(session, ids[0], officers[0])

    def approve(n: int) -> str:
        try:
            with session_factory.begin() as session:
                return origination.decide(
                    session,
                    officer_id=officers[n + 1],
                    application_id=ids[n + 1],
                    decision=origination.Decision(action="approve", grade="AA", annual_rate=Decimal("0.06")),
                ).status
        except BorrowingCapExceeded:
            return "refused"

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(approve, range(2)))
    assert results == ["listed", "refused"]
