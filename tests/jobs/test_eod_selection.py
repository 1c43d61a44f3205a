"""Each step of the batch visits only the loans it chooses for the date (``Step.loans``), by
index, so that its cost follows the day's work and not the book. This checks that the choice
misses nothing: two months of the demo's book — loans repaid on time, overdue into every
stage, compensated by guarantors, repurchased by a partner, in collection, repaid in full —
closed once as the batch does, and once visiting at every step every loan that could have any
work (in service, under cover, with an open case, or paid that day), end in one state."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import or_, select, union
from sqlalchemy.orm import Session

from p2plend.bench import eod_worker, state
from p2plend.collections.models import CollectionCase
from p2plend.guarantee.models import GuaranteeAgreement, ReserveCoverage
from p2plend.jobs import eod
from p2plend.jobs.models import EodChunk
from p2plend.marketplace.models import Loan
from p2plend.servicing.models import Repayment
from tests import conftest, invariants
from tests.conftest import TEST_DATE

THROUGH = TEST_DATE + timedelta(days=62)
UNSTABLE = state.UNSTABLE | {"loan_ids"}  # the chunks' plans differ, by design


def _every_loan_with_possible_work(session: Session, on: date) -> list[int]:
    candidates = union(
        select(Loan.id).where(or_(Loan.status == "disbursed", Loan.days_past_due > 0)),
        select(GuaranteeAgreement.loan_id).where(GuaranteeAgreement.status == "active"),
        select(ReserveCoverage.loan_id).where(ReserveCoverage.status == "active"),
        select(CollectionCase.loan_id).where(CollectionCase.status == "open"),
        select(Repayment.loan_id).where(Repayment.business_date == on),
    )
    return sorted(session.scalars(select(candidates.subquery().c[0])))


@pytest.fixture
def demo_copies(
    demo_database: tuple[str, str], fresh_database: Callable[[], AbstractContextManager[str]]
) -> Iterator[tuple[str, str]]:
    with fresh_database() as chosen, fresh_database() as everything:
        for url in (chosen, everything):
            conftest.copy_database(demo_database[0], url)
        yield chosen, everything


def _close_two_months(url: str) -> None:
    with eod_worker.batch_on(url, THROUGH) as (_, factory, bank):
        eod.close_through(factory, THROUGH, bank)
        with factory() as session:
            invariants.assert_books_sound(session)


def test_visiting_only_the_chosen_loans_ends_as_visiting_every_loan(
    demo_copies: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen, everything = demo_copies
    _close_two_months(chosen)
    with monkeypatch.context() as patch:
        every = tuple(
            replace(step, loans=_every_loan_with_possible_work) if step.loans else step for step in eod.STEPS
        )
        patch.setattr(eod, "STEPS", every)
        _close_two_months(everything)
    chosen_tables = state.table_hashes(chosen, unstable=UNSTABLE)
    every_tables = state.table_hashes(everything, unstable=UNSTABLE)
    assert {t for t in chosen_tables if chosen_tables[t] != every_tables.get(t)} == set()
    visits, items = _visits(chosen)
    every_visit, _ = _visits(everything)
    assert sum(visits.values()) < sum(every_visit.values())
    # Every per-loan step had work in these two months: the comparison covers each choice.
    assert {step.name for step in eod.STEPS if step.per_loan and not items[step.name]} == set()


def _visits(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per step over the two months: loans visited, acts done."""
    visits: dict[str, int] = {}
    items: dict[str, int] = {}
    with eod_worker.batch_on(url, THROUGH) as (_, factory, _bank), factory() as session:
        for chunk in session.scalars(select(EodChunk).where(EodChunk.business_date > TEST_DATE)):
            visits[chunk.step] = visits.get(chunk.step, 0) + len(chunk.loan_ids)
            items[chunk.step] = items.get(chunk.step, 0) + chunk.items
    return visits, items
