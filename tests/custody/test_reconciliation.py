"""Reconciliation (对账, R12): the ledger against the bank's statement, to the fen."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.custody.simulated.models import BankSubAccount, BankTransaction
from p2plend.ledger import service as ledger
from tests import invariants
from tests.custody.conftest import Depositor, deposit


def _sub(session_factory: sessionmaker[Session], user_id: int) -> str:
    with session_factory() as session:
        account = custody.custody_account_of(session, user_id)
        assert account is not None
        return account.sub_account_no


def test_books_that_agree_reconcile_with_no_difference(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    make_depositor: Callable[[int], Depositor],
    business_clock: clock.FixedClock,
) -> None:
    user = make_depositor(50_000)
    with session_factory.begin() as session:
        custody.request_withdrawal(
            session, user.user_id, amount=10_000, card_id=user.card_id, totp_code=user.code()
        )
        custody.submit_pending_withdrawals(session, bank)
    bank.deliver_pending()
    with session_factory.begin() as session:
        report = custody.reconcile(session, bank, clock.today())
    assert report.balanced
    assert report.platform_total == report.bank_total == 50_000 - 10_000  # fee stays in custody, platform's
    with session_factory() as session:
        [run] = custody.reconciliation_runs(session)
        assert run.difference_count == 0 and run.sub_accounts_checked == 2


@pytest.mark.corrupts_books
def test_a_difference_injected_at_the_bank_is_found_to_the_fen(
    session_factory: sessionmaker[Session], bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    user = make_depositor(10_000)
    sub = _sub(session_factory, user.user_id)
    with bank.session_factory.begin() as bank_session:
        account_id = bank_session.query(BankSubAccount.id).filter_by(account_no=sub).scalar()
        bank_session.execute(
            update(BankSubAccount).where(BankSubAccount.id == account_id).values(balance=10_001)
        )
        bank_session.execute(
            update(BankTransaction).where(BankTransaction.sub_account_id == account_id).values(amount=10_001)
        )
    with session_factory.begin() as session:
        report = custody.reconcile(session, bank, clock.today())
    [difference] = report.differences
    assert difference.sub_account_no == sub
    assert (difference.owner_type, difference.owner_id) == ("user", user.user_id)
    assert (difference.platform_amount, difference.bank_amount, difference.difference) == (10_000, 10_001, 1)
    with session_factory() as session:
        [stored] = custody.reconciliation_differences(session, report.run_id or 0)
        assert (stored.platform_amount, stored.bank_amount, stored.difference) == (10_000, 10_001, 1)
        # The test invariant catches it too.
        with pytest.raises(AssertionError, match="difference 1"):
            invariants.assert_custody_reconciles(session)


def test_in_flight_deposit_shows_on_the_day_and_clears_the_next(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    make_depositor: Callable[[int], Depositor],
    business_clock: clock.FixedClock,
) -> None:
    """Paid at the bank at 23:59, reported to the platform after midnight: day 1 shows the
    difference (bank ahead by the deposit), day 2 reconciles."""
    user = make_depositor(0)
    day1 = clock.today()
    business_clock.set_business_date(day1, hour=23)
    with session_factory.begin() as session:
        order_no = custody.start_deposit(
            session, user.user_id, amount=7_777, card_id=user.card_id, custodian=bank
        ).order_no
    bank.confirm_deposit_payment(order_no, deliver=False)
    business_clock.advance(timedelta(hours=2))
    bank.deliver_pending()
    with session_factory.begin() as session:
        on_day1 = custody.reconcile(session, bank, day1)
        on_day2 = custody.reconcile(session, bank, clock.today())
    [difference] = on_day1.differences
    assert difference.difference == 7_777 and difference.platform_amount == 0
    assert on_day2.balanced


def test_reconciliation_uses_end_of_day_balances(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    make_depositor: Callable[[int], Depositor],
    business_clock: clock.FixedClock,
) -> None:
    user = make_depositor(1_000)
    day1 = clock.today()
    business_clock.advance(timedelta(days=1))
    deposit(session_factory, bank, user.user_id, user.card_id, 2_000)
    with session_factory.begin() as session:
        report = custody.reconcile(session, bank, day1)
        assert ledger.user_balances(session, user.user_id).available == 3_000
    assert report.balanced and report.platform_total == 1_000


def test_bank_journal_and_balance_agree(
    bank: SimulatedBank, make_depositor: Callable[[int], Depositor]
) -> None:
    make_depositor(4_321)
    statement = bank.statement(clock.today())
    assert {line.sub_account_no: line.balance for line in statement.lines} == bank.balances()
    with bank.session_factory() as session:
        assert session.execute(text("SELECT COUNT(*) FROM bank_transactions")).scalar() == 1
