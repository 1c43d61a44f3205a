"""The platform risk reserve (风险备付金), DOMAIN.md §8 and R36–R37: off by default; when an
operator switches it on, loans disbursed from then on without a guarantor are covered once,
with a contribution from the platform's fee income, and the reserve pays their holders as a
guarantor would — and the compliance report flags it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.compliance import service as compliance
from p2plend.config import get_settings
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import PermissionDenied
from p2plend.guarantee import reserve
from p2plend.guarantee import service as guarantee
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.money import fen_times_rate
from p2plend.servicing import service as servicing
from tests import builders, lending, overdue
from tests.conftest import TEST_DATE
from tests.overdue import AMOUNT, FIRST_DUE

BIG = 20_000_000  # 200,000.00: its 2 % service fee (4,000.00) is fee income to contribute from


def switch_on(
    session_factory: sessionmaker[Session], bank: SimulatedBank, *, contribution_rate: str = "0.01"
) -> int:
    with session_factory.begin() as session:
        opened = reserve.open_account(session, bank, phone=builders.next_phone(), actor_id=None)
        reserve.configure(
            session,
            enabled=True,
            coverage=guarantee.PRINCIPAL_INTEREST,
            trigger_dpd=2,
            accelerate_dpd=90,
            contribution_rate=Decimal(contribution_rate),
            actor_id=None,
        )
    assert opened.holder_id is not None
    return opened.holder_id


def fee_income_loan(session_factory: sessionmaker[Session], bank: SimulatedBank) -> int:
    """A 200,000.00 loan whose borrower keeps the money (the auto-debit pays it)."""
    borrower = lending.make_borrower(session_factory, bank)
    investors = lending.make_investors(session_factory, bank, [BIG // 2] * 2)
    terms = lending.listing_terms(borrower, amount=BIG, annual_rate="0.04")
    return lending.funded_loan(session_factory, bank, terms, [(i, BIG // 2) for i in investors])


def reserve_check(session_factory: sessionmaker[Session]) -> compliance.Check:
    with session_factory() as session:
        [check] = [c for c in compliance.report(session).checks if c.code == compliance.RISK_RESERVE]
        return check


def test_off_by_default_the_platform_pays_nobody_r37(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = overdue.spent_loan(session_factory, bank)
    overdue.close_each_day(session_factory, bank, overdue.overdue_by(5))
    with session_factory() as session:
        assert guarantee.compensations_of_loan(session, loan.loan_id) == []
        assert reserve.settings_of(session).enabled is False
        assert reserve.coverages(session) == []
        # The fee income keeps every fen: the service fee and the borrower's withdrawal fee.
        fees = fen_times_rate(AMOUNT, Decimal("0.02")) + get_settings().withdrawal_fee_fen
        assert ledger.balance(session, ledger.PLATFORM_FEE_INCOME) == fees
    assert reserve_check(session_factory).flagged is False


def test_switched_on_it_covers_pays_on_the_trigger_day_and_is_flagged(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    holder = switch_on(session_factory, bank)
    assert reserve_check(session_factory).flagged is True  # on: flagged before it pays anyone
    fee_income_loan(session_factory, bank)
    loan = overdue.spent_loan(session_factory, bank)
    overdue.close(session_factory, bank, TEST_DATE)
    with session_factory() as session:
        covered = {c.loan_id: c.contribution for c, _ in reserve.coverages(session)}
        assert covered[loan.loan_id] == fen_times_rate(AMOUNT, Decimal("0.01"))
        assert sum(covered.values()) == fen_times_rate(BIG + AMOUNT, Decimal("0.01"))
        assert ledger.user_balances(session, holder).available == sum(covered.values())
        row = servicing.schedule(session, loan.loan_id)[0]
        p1, i1 = row.principal, row.interest
    overdue.close_each_day(session_factory, bank, overdue.overdue_by(1))
    with session_factory() as session:
        assert guarantee.compensations_of_loan(session, loan.loan_id) == []
    overdue.close_each_day(session_factory, bank, overdue.overdue_by(2))
    with session_factory() as session:
        [paid] = guarantee.compensations_of_loan(session, loan.loan_id)
        assert (paid.agreement_id, paid.payer_id, paid.paid, paid.shortfall) == (None, holder, p1 + i1, 0)
        held = {
            h.holder_id: h.principal_outstanding for h in marketplace.holdings_of_loan(session, loan.loan_id)
        }
        assert held[holder] == p1  # the claim passed to the reserve in the same act (R35)
        assert sum(held.values()) == AMOUNT
        position = reserve.position(session)
        assert (position.loans, position.compensated, position.shortfall) == (2, p1 + i1, 0)
    check = reserve_check(session_factory)
    assert check.flagged and check.figures["covered_loans"] == 2
    # The borrower pays later: the part the reserve owns goes to it first.
    day = overdue.overdue_by(6)
    overdue.close_each_day(session_factory, bank, day)
    lending.deposit(
        session_factory, bank, loan.borrower, lending.card_of(session_factory, loan.borrower), 300_000
    )
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower)
    with session_factory() as session:
        assert reserve.position(session).recovered > 0


def test_switched_off_it_covers_no_new_loan_but_keeps_its_word(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    switch_on(session_factory, bank)
    fee_income_loan(session_factory, bank)
    first = overdue.spent_loan(session_factory, bank)
    overdue.close(session_factory, bank, TEST_DATE)
    with session_factory.begin() as session:
        terms = reserve.settings_of(session)
        reserve.configure(
            session,
            enabled=False,
            coverage=terms.coverage,
            trigger_dpd=terms.trigger_dpd,
            accelerate_dpd=terms.accelerate_dpd,
            contribution_rate=terms.contribution_rate,
            actor_id=None,
        )
    lending.go_to(TEST_DATE + timedelta(days=1))
    later = overdue.spent_loan(session_factory, bank)
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=3))
    with session_factory() as session:
        assert {c.loan_id for c, _ in reserve.coverages(session)} >= {first.loan_id}
        assert later.loan_id not in {c.loan_id for c, _ in reserve.coverages(session)}
        assert len(guarantee.compensations_of_loan(session, first.loan_id)) == 1
    check = reserve_check(session_factory)
    assert check.flagged  # still standing behind loans it covered
    assert "off" in check.message


def test_a_guaranteed_loan_is_its_guarantor_s_not_the_reserve_s(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    switch_on(session_factory, bank)
    guarantor = lending.make_guarantor(session_factory, bank, 5_000_000)
    loan_id, _, _ = lending.guaranteed_loan(session_factory, bank, guarantor, [600_000, 600_000])
    overdue.close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))
    with session_factory() as session:
        assert loan_id not in {c.loan_id for c, _ in reserve.coverages(session)}
        [paid] = guarantee.compensations_of_loan(session, loan_id)
        assert paid.payer_id == guarantor


def test_an_empty_reserve_pays_nothing_and_records_the_shortfall_r36(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    holder = switch_on(session_factory, bank, contribution_rate="0")
    loan = overdue.spent_loan(session_factory, bank)
    overdue.close_each_day(session_factory, bank, overdue.overdue_by(2))
    with session_factory() as session:
        [paid] = guarantee.compensations_of_loan(session, loan.loan_id)
        assert (paid.paid, paid.shortfall) == (0, paid.due)
        assert ledger.user_balances(session, holder).available == 0
        held = {
            h.holder_id: h.principal_outstanding for h in marketplace.holdings_of_loan(session, loan.loan_id)
        }
        assert holder not in held or held[holder] == 0
    with session_factory() as session:
        [short] = [c for c in compliance.report(session).checks if c.code == compliance.GUARANTOR_SHORTFALLS]
    assert short.flagged and short.figures["compensations"] == 1


def test_switching_on_needs_the_account_and_the_administrator(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    with session_factory() as session, pytest.raises(reserve.RiskReserveNotOpen):
        reserve.configure(
            session,
            enabled=True,
            coverage=guarantee.PRINCIPAL,
            trigger_dpd=2,
            accelerate_dpd=90,
            contribution_rate=Decimal("0.01"),
            actor_id=None,
        )
    with session_factory() as session:
        officer = builders.make_staff(session, roles=["risk_officer"])[0].id
        with pytest.raises(PermissionDenied):
            reserve.open_account(session, bank, phone=builders.next_phone(), actor_id=officer)
    with session_factory() as session, pytest.raises(reserve.InvalidReserveTerms):
        reserve.configure(
            session,
            enabled=False,
            coverage=guarantee.PRINCIPAL,
            trigger_dpd=5,
            accelerate_dpd=5,
            contribution_rate=Decimal("0.01"),
            actor_id=None,
        )
    switch_on(session_factory, bank)
    with session_factory() as session, pytest.raises(reserve.RiskReserveAlreadyOpen):
        reserve.open_account(session, bank, phone=builders.next_phone(), actor_id=None)
