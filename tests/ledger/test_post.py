"""Posting entries: balance, idempotency, overdraft refusal, append-only history."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from p2plend.errors import InsufficientFunds
from p2plend.ledger import service as ledger
from p2plend.ledger.errors import IdempotencyConflict, UnbalancedEntry
from p2plend.ledger.service import CUSTODIAN_CLEARING, Leg, user_available, user_frozen


def deposit(session: Session, user_id: int, amount: int, key: str) -> ledger.Posted:
    return ledger.transfer(
        session,
        kind="deposit",
        source=CUSTODIAN_CLEARING,
        destination=user_available(user_id),
        amount=amount,
        idempotency_key=key,
    )


def test_deposit_moves_money_and_balances(session: Session) -> None:
    ledger.open_user_accounts(session, 1)
    deposit(session, 1, 10_000, "dep-1")
    session.commit()
    assert ledger.user_balances(session, 1) == ledger.Balances(available=10_000, frozen=0)
    assert ledger.balance(session, CUSTODIAN_CLEARING) == -10_000
    assert ledger.verify(session) == []


def test_same_key_same_legs_is_replayed_once(session: Session) -> None:
    ledger.open_user_accounts(session, 1)
    first = deposit(session, 1, 500, "dep-1")
    again = deposit(session, 1, 500, "dep-1")
    session.commit()
    assert first.created and not again.created
    assert again.entry.id == first.entry.id
    assert ledger.user_balances(session, 1).available == 500


def test_same_key_other_legs_is_refused(session: Session) -> None:
    ledger.open_user_accounts(session, 1)
    deposit(session, 1, 500, "dep-1")
    with pytest.raises(IdempotencyConflict):
        deposit(session, 1, 501, "dep-1")


def test_unbalanced_entry_is_refused(session: Session) -> None:
    ledger.open_user_accounts(session, 1)
    with pytest.raises(UnbalancedEntry):
        ledger.post(
            session,
            kind="bad",
            legs=[Leg(user_available(1), 100), Leg(CUSTODIAN_CLEARING, -99)],
            idempotency_key="bad",
        )


def test_overdraft_is_refused_and_nothing_is_written(session: Session) -> None:
    ledger.open_user_accounts(session, 1)
    deposit(session, 1, 100, "dep-1")
    with pytest.raises(InsufficientFunds):
        ledger.transfer(
            session,
            kind="freeze",
            source=user_available(1),
            destination=user_frozen(1),
            amount=101,
            idempotency_key="freeze-1",
        )
    session.commit()
    assert ledger.user_balances(session, 1) == ledger.Balances(available=100, frozen=0)
    assert session.scalar(text("SELECT count(*) FROM ledger_entries")) == 1


def test_database_refuses_negative_user_balance(session: Session) -> None:
    ledger.open_user_accounts(session, 1)
    session.commit()
    with pytest.raises(DBAPIError):
        session.execute(text("UPDATE ledger_accounts SET balance = -1 WHERE code = 'user:1:available'"))
    session.rollback()


@pytest.mark.parametrize("statement", ["UPDATE ledger_postings SET amount = 1", "DELETE FROM ledger_entries"])
def test_history_is_append_only(session: Session, statement: str) -> None:
    """R17: lending and money records are append-only."""
    ledger.open_user_accounts(session, 1)
    deposit(session, 1, 100, "dep-1")
    session.commit()
    with pytest.raises(DBAPIError):
        session.execute(text(statement))
    session.rollback()


def _freeze(user_id: int, amount: int, key: str) -> ledger.Transfer:
    return ledger.Transfer("bid_freeze", user_available(user_id), user_frozen(user_id), amount, key)


def test_transfer_many_posts_each_entry_once_and_replays_the_rest(session: Session) -> None:
    for user in (1, 2):
        ledger.open_user_accounts(session, user)
        deposit(session, user, 1_000, f"dep-{user}")
    first = ledger.transfer_many(
        session, [_freeze(1, 300, "f-1"), _freeze(2, 400, "f-2"), _freeze(1, 200, "f-3")]
    )
    again = ledger.transfer_many(session, [_freeze(2, 400, "f-2"), _freeze(2, 100, "f-4")])
    session.commit()
    assert [p.created for p in first] == [True, True, True]
    assert [p.created for p in again] == [False, True]
    assert again[0].entry.id == first[1].entry.id
    assert ledger.user_balances(session, 1) == ledger.Balances(available=500, frozen=500)
    assert ledger.user_balances(session, 2) == ledger.Balances(available=500, frozen=500)
    assert ledger.verify(session) == []
    with pytest.raises(IdempotencyConflict):
        ledger.transfer_many(session, [_freeze(1, 1, "f-1")])


def test_transfer_many_refuses_all_when_one_account_falls_short(session: Session) -> None:
    for user in (1, 2):
        ledger.open_user_accounts(session, user)
        deposit(session, user, 1_000, f"dep-{user}")
    session.commit()
    with pytest.raises(InsufficientFunds):
        ledger.transfer_many(
            session, [_freeze(1, 600, "f-1"), _freeze(2, 100, "f-2"), _freeze(1, 600, "f-3")]
        )
    session.rollback()
    assert ledger.user_balances(session, 1) == ledger.Balances(available=1_000, frozen=0)
    assert ledger.user_balances(session, 2) == ledger.Balances(available=1_000, frozen=0)
    assert ledger.verify(session) == []
