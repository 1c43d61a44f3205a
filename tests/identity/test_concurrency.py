"""Races between workers, on PostgreSQL: counters and uniqueness hold in the database."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.errors import RecordedRefusal
from p2plend.identity.models import BankCard, User
from tests.builders import make_user, make_verified_user, valid_card_number, valid_id_number

pytestmark = pytest.mark.postgres_only

PHONE = "13800138000"


def race(factory: sessionmaker[Session], workers: int, act: Callable[[Session], object]) -> list[str]:
    """Run ``act`` in ``workers`` sessions at once, each its own transaction; the outcome codes."""
    barrier = Barrier(workers)

    def one() -> str:
        with factory() as session:
            barrier.wait()
            try:
                act(session)
            except RecordedRefusal as exc:
                session.commit()
                return exc.code
            except DomainError as exc:
                session.rollback()
                return exc.code
            session.commit()
            return "ok"

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: one(), range(workers)))


def test_concurrent_wrong_passwords_are_all_counted(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        user = make_user(session, phone=PHONE)
        session.commit()

    def wrong_login(session: Session) -> object:
        return identity.login(
            session, phone=PHONE, password="wrong-password-1", totp_code=None, client="api", ip=None
        )

    codes = race(session_factory, 4, wrong_login)
    assert codes.count("invalid_credentials") == 4
    with session_factory() as session:
        assert session.scalars(select(User.failed_login_count).where(User.id == user.id)).one() == 4
    # The fifth failure locks, whoever's request it was.
    codes = race(session_factory, 2, wrong_login)
    assert "account_locked" in codes


def test_one_card_bound_by_two_users_at_once_goes_to_one(session_factory: sessionmaker[Session]) -> None:
    number = valid_card_number()
    with session_factory() as session:
        users = [
            make_verified_user(session, id_number=valid_id_number(seq="501")).id,
            make_verified_user(session, id_number=valid_id_number(seq="502")).id,
        ]
        session.commit()
    turn = iter(users)

    def bind(session: Session) -> object:
        return identity.bind_card(
            session, next(turn), card_number=number, bank_name="中国银行", holder_name="张三"
        )

    codes = race(session_factory, 2, bind)
    assert sorted(codes) == ["card_taken", "ok"]
    with session_factory() as session:
        assert len(session.scalars(select(BankCard)).all()) == 1


def test_one_id_number_verified_by_two_accounts_at_once_goes_to_one(
    session_factory: sessionmaker[Session],
) -> None:
    number = valid_id_number(seq="503")
    with session_factory() as session:
        users = [make_user(session).id, make_user(session).id]
        session.commit()
    turn = iter(users)

    def verify(session: Session) -> object:
        return identity.verify_real_name(session, next(turn), name="张三", id_number=number)

    assert sorted(race(session_factory, 2, verify)) == ["id_number_taken", "ok"]
