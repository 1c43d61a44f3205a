"""绑卡: debit cards bound by real-name users, the only destinations of withdrawals (同卡进出, R11).

A card is in the holder's verified real name (R50), bound to one user at a time (a blind
index with a unique constraint, cleared on unbinding), at most ``MAX_BOUND_CARDS`` per user.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.identity import events, kyc, pii, records
from p2plend.identity.errors import (
    CardAlreadyBound,
    CardHolderMismatch,
    CardLimitReached,
    CardNotFound,
    CardTaken,
    InvalidName,
    RealNameRequired,
)
from p2plend.identity.models import BankCard, User
from p2plend.identity.validation import (
    normalise_bank_name,
    normalise_card_number,
    normalise_organisation_name,
    normalise_person_name,
    same_person_name,
)

MAX_BOUND_CARDS = 5


@dataclass(frozen=True, slots=True)
class BoundCard:
    """A bound card in clear, for a withdrawal instruction to the custodian."""

    id: int
    user_id: int
    card_number: str
    bank_name: str
    masked: str


@dataclass(frozen=True, slots=True)
class CardView:
    """A bound card as its owner sees it: masked (R47)."""

    id: int
    bank_name: str
    masked: str
    bound_at: datetime


def _holder_is(user: User, holder_name: str, real_name: str) -> bool:
    normalise = normalise_organisation_name if user.kind == "organisation" else normalise_person_name
    try:
        return same_person_name(normalise(holder_name), real_name)
    except InvalidName:
        return False


def _active_card(session: Session, user_id: int, card_id: int) -> BankCard:
    card = session.scalars(
        select(BankCard).where(
            BankCard.id == card_id, BankCard.user_id == user_id, BankCard.unbound_at.is_(None)
        )
    ).one_or_none()
    if card is None:  # another user's card looks exactly like no card (R11)
        raise CardNotFound("There is no such card on your account.", details={"card_id": card_id})
    return card


def _number(card: BankCard) -> str:
    return pii.decrypt(card.card_number_encrypted, context=records.CARD_NUMBER)


def _view(card: BankCard) -> CardView:
    return CardView(
        id=card.id, bank_name=card.bank_name, masked=pii.mask_card(_number(card)), bound_at=card.bound_at
    )


def _bound_count(session: Session, user_id: int) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(BankCard)
        .where(BankCard.user_id == user_id, BankCard.unbound_at.is_(None))
    )
    return count or 0


def bind_card(
    session: Session, user_id: int, *, card_number: str, bank_name: str, holder_name: str
) -> CardView:
    """绑卡 a debit card in the user's verified real name (R50)."""
    user = records.get_user(
        session, user_id, for_update=True
    )  # one binding at a time per user: the limit holds
    real_name = kyc.real_name_of(session, user_id)
    if real_name is None:
        raise RealNameRequired("Complete real-name verification before binding a card.")
    digits = normalise_card_number(card_number)
    bank = normalise_bank_name(bank_name)
    if not _holder_is(user, holder_name, real_name):
        raise CardHolderMismatch("The card holder must be the account's verified real name.")
    card_index = pii.blind_index(digits, context=records.CARD_NUMBER)
    owner = session.scalars(select(BankCard.user_id).where(BankCard.card_index == card_index)).one_or_none()
    if owner == user_id:
        raise CardAlreadyBound("This card is already bound to your account.")
    if owner is not None:
        raise CardTaken("This card is bound to another account.")
    if _bound_count(session, user_id) >= MAX_BOUND_CARDS:
        raise CardLimitReached(
            f"At most {MAX_BOUND_CARDS} cards can be bound.", details={"limit": MAX_BOUND_CARDS}
        )
    card = BankCard(
        user_id=user_id,
        card_number_encrypted=pii.encrypt(digits, context=records.CARD_NUMBER),
        card_index=card_index,
        bank_name=bank,
        bound_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(card)
            session.flush()
    except IntegrityError:  # bound elsewhere a moment ago
        raise CardTaken("This card is bound to another account.") from None
    events.record(
        session,
        "card.bound",
        actor_id=user_id,
        object_type="bank_card",
        object_id=card.id,
        card_masked=pii.mask_card(digits),
        bank_name=bank,
    )
    return _view(card)


def bound_card(session: Session, user_id: int, card_id: int) -> BoundCard:
    """One of this user's bound cards in clear; ``card_not_found`` if it is not theirs (R11)."""
    card = _active_card(session, user_id, card_id)
    number = _number(card)
    return BoundCard(
        id=card.id,
        user_id=user_id,
        card_number=number,
        bank_name=card.bank_name,
        masked=pii.mask_card(number),
    )


def list_cards(session: Session, user_id: int) -> list[CardView]:
    cards = session.scalars(
        select(BankCard)
        .where(BankCard.user_id == user_id, BankCard.unbound_at.is_(None))
        .order_by(BankCard.id)
    )
    return [_view(card) for card in cards]


def unbind_card(session: Session, user_id: int, card_id: int) -> None:
    """解绑: the card leaves the account (the row stays as history) and may be bound again later."""
    card = _active_card(session, user_id, card_id)
    card.unbound_at = clock.now()
    card.card_index = None
    session.flush()
    events.record(session, "card.unbound", actor_id=user_id, object_type="bank_card", object_id=card.id)
