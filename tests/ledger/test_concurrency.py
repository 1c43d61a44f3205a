"""The ledger under concurrent writers (PostgreSQL, many sessions at once)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.db import transaction
from p2plend.errors import InsufficientFunds
from p2plend.ledger import service as ledger
from p2plend.ledger.service import CUSTODIAN_CLEARING, user_available, user_frozen

pytestmark = pytest.mark.postgres_only


def _fund(session_factory: sessionmaker[Session], user_id: int, amount: int) -> None:
    with transaction(session_factory) as session:
        ledger.open_user_accounts(session, user_id)
        ledger.transfer(
            session,
            kind="deposit",
            source=CUSTODIAN_CLEARING,
            destination=user_available(user_id),
            amount=amount,
            idempotency_key=f"fund:{user_id}",
        )


def test_concurrent_freezes_never_overdraw(session_factory: sessionmaker[Session]) -> None:
    _fund(session_factory, 1, 10_000)

    def freeze(i: int) -> bool:
        try:
            with transaction(session_factory) as session:
                ledger.transfer(
                    session,
                    kind="freeze",
                    source=user_available(1),
                    destination=user_frozen(1),
                    amount=300,
                    idempotency_key=f"freeze:{i}",
                )
        except InsufficientFunds:
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(freeze, range(50)))

    assert sum(results) == 10_000 // 300
    with session_factory() as session:
        assert ledger.user_balances(session, 1) == ledger.Balances(available=10_000 % 300, frozen=33 * 300)


def test_concurrent_replays_of_one_key_post_once(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        ledger.open_user_accounts(session, 1)

    def deposit(_: int) -> bool:
        with transaction(session_factory) as session:
            return ledger.transfer(
                session,
                kind="deposit",
                source=CUSTODIAN_CLEARING,
                destination=user_available(1),
                amount=777,
                idempotency_key="deposit:order-1",
            ).created

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(deposit, range(50)))

    assert created.count(True) == 1
    with session_factory() as session:
        assert ledger.user_balances(session, 1).available == 777
