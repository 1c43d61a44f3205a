"""Guarantee and compensation (DOMAIN.md §8, R35–R37), driven by the end-of-day batch.

A 12,000.00 / 4 % / 12-month equal-installment loan held by three investors (5,000 :
4,000 : 3,000), guaranteed by a guarantee company; the borrower spent the loan and pays
nothing until the test says so.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.guarantee import service as guarantee
from p2plend.marketplace import service as marketplace
from p2plend.money import allocate, fen_times_rate
from p2plend.notifications import service as notifications
from p2plend.servicing import service as servicing
from p2plend.servicing import statements
from tests import lending, overdue
from tests.conftest import TEST_DATE
from tests.overdue import FIRST_DUE

AMOUNT = 1_200_000
LENT = [500_000, 400_000, 300_000]


def claims(session_factory: sessionmaker[Session], loan_id: int) -> dict[int, int]:
    with session_factory() as session:
        return {h.holder_id: h.principal_outstanding for h in marketplace.holdings_of_loan(session, loan_id)}


def first_installment(session_factory: sessionmaker[Session], loan_id: int) -> tuple[int, int]:
    with session_factory() as session:
        row = servicing.schedule(session, loan_id)[0]
        return row.principal, row.interest


def test_the_guarantor_pays_on_the_second_day_and_takes_the_claim_r35(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 5_000_000)
    loan_id, borrower, investors = lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    p1, i1 = first_installment(session_factory, loan_id)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=1))
    with session_factory() as session:
        assert guarantee.compensations_of_loan(session, loan_id) == []  # DPD 1: not yet
    before = {i: lending.balances(session_factory, i).available for i in investors}
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))  # DPD 2: the trigger day
    with session_factory() as session:
        [paid] = guarantee.compensations_of_loan(session, loan_id)
        assert (paid.kind, paid.installment_number, paid.business_date) == (
            "installment",
            1,
            FIRST_DUE + timedelta(days=2),
        )
        assert (paid.due, paid.paid, paid.shortfall, paid.principal, paid.interest) == (
            p1 + i1,
            p1 + i1,
            0,
            p1,
            i1,
        )
        loan = marketplace.get_loan(session, loan_id)
        assert loan.principal_outstanding == AMOUNT  # the borrower still owes all of it
    # Each investor received its share of principal and interest, less 10 % of the interest (R25, R27).
    principal_shares, interest_shares = allocate(p1, LENT), allocate(i1, LENT)
    for investor, p, i in zip(investors, principal_shares, interest_shares, strict=True):
        got = lending.balances(session_factory, investor).available - before[investor]
        assert got == p + i - fen_times_rate(i, Decimal("0.10"))
    # The claim moved in the same act (R35): holdings still sum to the outstanding principal.
    held = claims(session_factory, loan_id)
    assert held[guarantor] == p1
    assert [held[i] for i in investors] == [lent - p for lent, p in zip(LENT, principal_shares, strict=True)]
    assert sum(held.values()) == AMOUNT
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=5))
    with session_factory() as session:
        assert len(guarantee.compensations_of_loan(session, loan_id)) == 1  # once per installment
        assert notifications.inbox(session, guarantor)[0].template == "compensation_paid"

    # The borrower pays on DPD 10: principal, interest and the penalty of installment 1 all
    # go to the guarantor; the investors get nothing more of it.
    lending.go_to(FIRST_DUE + timedelta(days=10))
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id)
    assert due.penalty == 10 * round(p1 * 6 / 100 / 365)
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), due.total)
    investors_before = {i: lending.balances(session_factory, i).available for i in investors}
    guarantor_before = lending.balances(session_factory, guarantor).available
    lending.repay(session_factory, bank, loan_id, borrower)
    assert {i: lending.balances(session_factory, i).available for i in investors} == investors_before
    assert lending.balances(session_factory, guarantor).available - guarantor_before == due.total
    held = claims(session_factory, loan_id)
    assert guarantor not in held  # recovered in full
    assert sum(held.values()) == AMOUNT - p1
    with session_factory() as session:
        exposure = guarantee.exposure(session, guarantor)
        assert (exposure.compensated, exposure.recovered, exposure.shortfall) == (p1 + i1, due.total, 0)
    lending.assert_loan_sound(session_factory, loan_id)


def test_a_short_guarantor_pays_pro_rata_what_it_has_r36(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 50_000)  # 500.00, less than installment 1
    loan_id, borrower, investors = lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    p1, i1 = first_installment(session_factory, loan_id)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))
    with session_factory() as session:
        [paid] = guarantee.compensations_of_loan(session, loan_id)
        assert (paid.due, paid.paid, paid.shortfall) == (p1 + i1, 50_000, p1 + i1 - 50_000)
        principal = p1 * 50_000 // (p1 + i1)
        assert (paid.principal, paid.interest) == (principal, 50_000 - principal)
        row = servicing.schedule(session, loan_id)[0]
        assert (row.compensated_by, row.compensated_principal, row.compensated_interest) == (
            guarantor,
            principal,
            50_000 - principal,
        )
    assert lending.balances(session_factory, guarantor).available == 0  # no money created
    held = claims(session_factory, loan_id)
    assert held[guarantor] == principal and sum(held.values()) == AMOUNT

    # The borrower pays installment 1 in full on DPD 3 (grace: no penalty): the guarantor gets
    # back what it paid, the investors the rest.
    lending.go_to(FIRST_DUE + timedelta(days=3))
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id)
    assert (due.penalty, due.total) == (0, p1 + i1)
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), due.total)
    investors_before = sum(lending.balances(session_factory, i).available for i in investors)
    lending.repay(session_factory, bank, loan_id, borrower)
    assert lending.balances(session_factory, guarantor).available == 50_000
    rest_interest = i1 - (50_000 - principal)
    fees = sum(
        fen_times_rate(i, Decimal("0.10")) for i in allocate(rest_interest, [h for h in held.values()][:3])
    )
    got = sum(lending.balances(session_factory, i).available for i in investors) - investors_before
    assert got == (p1 - principal) + rest_interest - fees
    assert guarantor not in claims(session_factory, loan_id)
    lending.assert_loan_sound(session_factory, loan_id)


def test_principal_only_coverage_leaves_the_interest_to_the_investors(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(
        session_factory,
        bank,
        5_000_000,
        coverage="principal",
        trigger_dpd=2,
        accelerate_dpd=90,
        fee_rate=Decimal(0),
    )
    loan_id, borrower, investors = lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    p1, i1 = first_installment(session_factory, loan_id)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))
    with session_factory() as session:
        [paid] = guarantee.compensations_of_loan(session, loan_id)
        assert (paid.due, paid.principal, paid.interest) == (p1, p1, 0)
    lending.go_to(FIRST_DUE + timedelta(days=3))
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), p1 + i1)
    investors_before = sum(lending.balances(session_factory, i).available for i in investors)
    guarantor_before = lending.balances(session_factory, guarantor).available
    lending.repay(session_factory, bank, loan_id, borrower)
    assert lending.balances(session_factory, guarantor).available - guarantor_before == p1
    fees = sum(
        fen_times_rate(i, Decimal("0.10"))
        for i in allocate(i1, [lent - p for lent, p in zip(LENT, allocate(p1, LENT), strict=True)])
    )
    assert (
        sum(lending.balances(session_factory, i).available for i in investors) - investors_before == i1 - fees
    )
    lending.assert_loan_sound(session_factory, loan_id)


def test_acceleration_at_ninety_days_takes_every_claim_and_later_recovery_goes_to_the_guarantor(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 5_000_000)
    loan_id, borrower, investors = lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=89))
    with session_factory() as session:
        kinds = [c.kind for c in guarantee.compensations_of_loan(session, loan_id)]
        assert kinds == ["installment"] * 3  # installments 1–3, each on its DPD 2
        assert guarantee.require_agreement(session, loan_id).status == "active"
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=90))
    with session_factory() as session:
        last = guarantee.compensations_of_loan(session, loan_id)[-1]
        schedule = servicing.schedule(session, loan_id)
        remaining_principal = sum(r.principal for r in schedule[3:])
        assert (last.kind, last.installment_number, last.principal, last.interest) == (
            "acceleration",
            0,
            remaining_principal,
            0,
        )
        assert guarantee.require_agreement(session, loan_id).status == "accelerated"
    assert claims(session_factory, loan_id) == {guarantor: AMOUNT}  # all of it, R35
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=100))
    with session_factory() as session:
        assert len(guarantee.compensations_of_loan(session, loan_id)) == 4  # nothing after acceleration
    # A recovery: the borrower pays what is due; every fen of it goes to the guarantor.
    lending.go_to(FIRST_DUE + timedelta(days=101))
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id)
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), due.total)
    investors_before = [lending.balances(session_factory, i).available for i in investors]
    guarantor_before = lending.balances(session_factory, guarantor).available
    lending.repay(session_factory, bank, loan_id, borrower)
    assert [lending.balances(session_factory, i).available for i in investors] == investors_before
    assert lending.balances(session_factory, guarantor).available - guarantor_before == due.total
    lending.assert_loan_sound(session_factory, loan_id)


def test_the_guarantee_fee_is_paid_to_the_guarantor_at_disbursement(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    loan_id, _, _ = lending.guaranteed_loan(session_factory, bank, guarantor, LENT, fee_rate="0.015")
    assert lending.balances(session_factory, guarantor).available == 18_000  # 1.5 % of 12,000.00
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).guarantee_fee == 18_000


def test_terms_are_checked_and_only_a_guarantee_company_guarantees(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    borrower = lending.make_borrower(session_factory, bank)
    with session_factory() as session:
        for bad in (
            {"coverage": "everything"},
            {"trigger_dpd": 0},
            {"accelerate_dpd": 2},
            {"fee_rate": Decimal("1.5")},
        ):
            terms = {
                "coverage": "principal",
                "trigger_dpd": 2,
                "accelerate_dpd": 90,
                "fee_rate": Decimal(0),
            } | bad
            with pytest.raises(guarantee.InvalidGuaranteeTerms):
                guarantee.set_terms(session, guarantor, actor_id=None, **terms)  # type: ignore[arg-type]
        with pytest.raises(guarantee.NotAGuarantor):
            guarantee.set_terms(
                session,
                borrower,
                actor_id=None,
                coverage="principal",
                trigger_dpd=2,
                accelerate_dpd=90,
                fee_rate=Decimal(0),
            )
        assert guarantee.terms_of(session, guarantor).agreed is False


def test_the_agreement_of_a_loan_repaid_in_full_is_closed(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    loan_id, borrower, _ = lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    day = TEST_DATE + timedelta(days=10)
    overdue.close_each_day(session_factory, bank, day - timedelta(days=1))
    lending.go_to(day)
    with session_factory() as session:
        quote = servicing.early_repayment_quote(session, loan_id)
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), quote.total)
    lending.repay_early(session_factory, bank, loan_id, borrower)
    overdue.close_each_day(session_factory, bank, day)
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "settled"
        assert guarantee.require_agreement(session, loan_id).status == "closed"
        assert guarantee.repaid_under_active_agreements(session) == []


def test_the_repayment_calendar_shows_the_guarantor_its_part_and_the_investors_theirs(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """After a compensation each claim's projected principal still sums to what it holds:
    installment 1 to the guarantor, the rest to the investors pro rata."""
    guarantor = lending.make_guarantor(session_factory, bank, 5_000_000)
    loan_id, _, investors = lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    p1, i1 = first_installment(session_factory, loan_id)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))
    with session_factory() as session:
        mine = statements.repayment_calendar(session, guarantor)
        assert [(line.installment, line.principal, line.interest, line.fee) for line in mine] == [
            (1, p1, i1, 0)
        ]
        held = {h.id: h.principal_outstanding for h in marketplace.holdings_of_loan(session, loan_id)}
        for investor in investors:
            lines = statements.repayment_calendar(session, investor)
            assert 1 not in {line.installment for line in lines}
            for holding_id in {line.holding_id for line in lines}:
                assert (
                    sum(line.principal for line in lines if line.holding_id == holding_id) == held[holding_id]
                )
