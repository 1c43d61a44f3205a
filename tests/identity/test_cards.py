"""绑卡: Luhn and length (R50), holder = verified real name, one user per card, at most five."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.models import BankCard
from tests.builders import bind_card, make_user, make_verified_user, valid_card_number, valid_id_number


def bind(session: Session, user_id: int, card_number: str, holder_name: str = "张三") -> identity.CardView:
    return identity.bind_card(
        session, user_id, card_number=card_number, bank_name="中国工商银行", holder_name=holder_name
    )


def test_bound_card_is_encrypted_and_shown_masked(session: Session) -> None:
    user = make_verified_user(session)
    number = valid_card_number(prefix="622202", length=19)
    view = bind(session, user.id, number)
    assert view.masked == f"{number[:4]} **** **** {number[-4:]}"
    row = session.scalars(select(BankCard)).one()
    assert number.encode() not in row.card_number_encrypted
    assert identity.list_cards(session, user.id) == [view]
    card = identity.bound_card(session, user.id, view.id)
    assert card.card_number == number and card.user_id == user.id and card.bank_name == "中国工商银行"


def test_real_name_comes_first(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        bind(session, user.id, valid_card_number())
    assert excinfo.value.code == "real_name_required"


def test_bad_luhn_digit_is_refused_r50(session: Session) -> None:
    user = make_verified_user(session)
    number = valid_card_number()
    with pytest.raises(DomainError) as excinfo:
        bind(session, user.id, number[:-1] + str((int(number[-1]) + 5) % 10))
    assert excinfo.value.code == "invalid_card_number"


def test_holder_must_be_the_verified_real_name_r50(session: Session) -> None:
    user = make_verified_user(session, name="张三")
    with pytest.raises(DomainError) as excinfo:
        bind(session, user.id, valid_card_number(), holder_name="李四")
    assert excinfo.value.code == "card_holder_mismatch"
    with pytest.raises(DomainError) as excinfo:
        bind(session, user.id, valid_card_number(), holder_name="not a name 1")
    assert excinfo.value.code == "card_holder_mismatch"


def test_latin_holder_name_matches_case_insensitively(session: Session) -> None:
    user = make_verified_user(session, name="John Smith")
    bind(session, user.id, valid_card_number(), holder_name="JOHN  SMITH")


def test_a_card_is_bound_to_one_user_only(session: Session) -> None:
    number = valid_card_number()
    first = make_verified_user(session)
    bind(session, first.id, number)
    with pytest.raises(DomainError) as excinfo:
        bind(session, first.id, number)
    assert excinfo.value.code == "card_already_bound"
    second = make_verified_user(session, id_number=valid_id_number(seq="777"))
    with pytest.raises(DomainError) as excinfo:
        bind(session, second.id, number)
    assert excinfo.value.code == "card_taken"


def test_at_most_five_cards(session: Session) -> None:
    user = make_verified_user(session)
    for _ in range(5):
        bind_card(session, user.id)
    with pytest.raises(DomainError) as excinfo:
        bind_card(session, user.id)
    assert excinfo.value.code == "card_limit_reached"


def test_another_users_card_is_not_found_r11(session: Session) -> None:
    owner = make_verified_user(session)
    card_id = bind_card(session, owner.id)
    stranger = make_verified_user(session, id_number=valid_id_number(seq="778"))
    with pytest.raises(DomainError) as excinfo:
        identity.bound_card(session, stranger.id, card_id)
    assert excinfo.value.code == "card_not_found"
    assert excinfo.value.status == 404
    with pytest.raises(DomainError):
        identity.unbind_card(session, stranger.id, card_id)


def test_unbound_card_is_gone_and_can_be_bound_by_someone_else(session: Session) -> None:
    number = valid_card_number()
    first = make_verified_user(session)
    view = bind(session, first.id, number)
    identity.unbind_card(session, first.id, view.id)
    assert identity.list_cards(session, first.id) == []
    with pytest.raises(DomainError):
        identity.bound_card(session, first.id, view.id)
    second = make_verified_user(session, id_number=valid_id_number(seq="779"))
    bind(session, second.id, number)
    assert len(session.scalars(select(BankCard)).all()) == 2  # history kept
