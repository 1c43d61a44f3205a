"""实名认证: real-name verification of a person (resident ID) or an organisation (USCC).

One ID per account and one account per ID (a blind index with a unique constraint).
Only adults (≥ 18 on the business date) are accepted (R14, R49).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, NoReturn

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.identity import events, pii, records
from p2plend.identity.errors import IdNumberTaken, InvalidIdNumber, RealNameAlreadyVerified, RealNameRequired
from p2plend.identity.models import RealNameIdentity, User
from p2plend.identity.validation import (
    check_adult,
    normalise_organisation_name,
    normalise_person_name,
    normalise_uscc,
    parse_resident_id,
)

DocumentType = Literal["resident_id", "uscc"]


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """The verified name and document in clear: for the custodian bank, never for display."""

    name: str
    id_number: str
    birth_date: date | None  # None for an organisation
    document_type: str = "resident_id"


@dataclass(frozen=True, slots=True)
class RealNameSummary:
    document_type: str
    name_masked: str
    id_number_masked: str
    verified_at: datetime


def _refuse_taken_id_number(session: Session, user_id: int, number: str) -> NoReturn:
    # Someone may be using another person's ID: kept in the audit log although refused.
    events.record(
        session,
        "kyc.refused_id_taken",
        actor_id=user_id,
        object_id=user_id,
        id_number_masked=pii.mask_id_number(number),
    )
    raise IdNumberTaken("This ID number is already used by another account.")


def store_real_name(
    session: Session,
    user: User,
    *,
    name: str,
    number: str,
    document_type: DocumentType,
    birth_date: date | None,
) -> RealNameIdentity:
    """Keep a checked name and document for ``user`` (callers validate first)."""
    number_index = pii.blind_index(number, context=records.ID_NUMBER)
    taken = session.scalars(
        select(RealNameIdentity.id).where(RealNameIdentity.id_number_index == number_index)
    ).one_or_none()
    if taken is not None:
        _refuse_taken_id_number(session, user.id, number)
    identity = RealNameIdentity(
        user_id=user.id,
        document_type=document_type,
        name_encrypted=pii.encrypt(name, context=records.REAL_NAME),
        id_number_encrypted=pii.encrypt(number, context=records.ID_NUMBER),
        id_number_index=number_index,
        birth_date=birth_date,
        verified_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(identity)
            session.flush()
    except IntegrityError:
        # Lost a race: either this user was verified meanwhile or the number was taken.
        if records.real_name_of(session, user.id) is not None:
            raise RealNameAlreadyVerified("This account is already verified.") from None
        _refuse_taken_id_number(session, user.id, number)
    return identity


def verify_real_name(session: Session, user_id: int, *, name: str, id_number: str) -> RealNameSummary:
    """实名认证 of a person (name + resident ID, adult) or an organisation (name + USCC)."""
    user = records.get_user(session, user_id, for_update=True)
    if records.real_name_of(session, user_id) is not None:
        raise RealNameAlreadyVerified("This account is already verified.")
    document_type: DocumentType
    if user.kind == "organisation":
        clean_name, number, birth_date = normalise_organisation_name(name), normalise_uscc(id_number), None
        document_type = "uscc"
    else:
        clean_name = normalise_person_name(name)
        resident_id = parse_resident_id(id_number)
        check_adult(resident_id.birth_date, clock.today())
        number, birth_date = resident_id.number, resident_id.birth_date
        document_type = "resident_id"
    identity = store_real_name(
        session, user, name=clean_name, number=number, document_type=document_type, birth_date=birth_date
    )
    events.record(
        session,
        "kyc.verified",
        actor_id=user_id,
        object_id=user_id,
        document_type=document_type,
        id_number_masked=pii.mask_id_number(number),
    )
    return RealNameSummary(
        document_type=document_type,
        name_masked=pii.mask_name(clean_name),
        id_number_masked=pii.mask_id_number(number),
        verified_at=identity.verified_at,
    )


def verified_identity(session: Session, user_id: int) -> VerifiedIdentity:
    """The verified name and ID in clear (for the custodian); ``real_name_required`` if none."""
    identity = records.real_name_of(session, user_id)
    if identity is None:
        raise RealNameRequired("Complete real-name verification first.")
    return VerifiedIdentity(
        name=pii.decrypt(identity.name_encrypted, context=records.REAL_NAME),
        id_number=pii.decrypt(identity.id_number_encrypted, context=records.ID_NUMBER),
        birth_date=identity.birth_date,
        document_type=identity.document_type,
    )


def verified_among(session: Session, user_ids: Sequence[int]) -> set[int]:
    """Those of ``user_ids`` who completed real-name verification (R14's lenders)."""
    return records.verified_among(session, user_ids)


def real_name_of(session: Session, user_id: int) -> str | None:
    """The verified name in clear, or None (card holder checks)."""
    identity = records.real_name_of(session, user_id)
    return None if identity is None else pii.decrypt(identity.name_encrypted, context=records.REAL_NAME)


@dataclass(frozen=True, slots=True)
class DocumentIndex:
    """A resident ID or USCC as lists of people keep it (a blacklist): blind index and mask only."""

    index: str  # equals real_name_identities.id_number_index of whoever verified with it
    masked: str
    document_type: str


def document_index(number: str) -> DocumentIndex:
    """Check a resident ID (or else a USCC) and give its blind index and masked form.

    ``invalid_id_number`` when it is neither. Nobody need have verified with it.
    """
    text = number.strip().upper()
    document_type: DocumentType
    try:
        normalised, document_type = parse_resident_id(text).number, "resident_id"
    except InvalidIdNumber:
        normalised, document_type = normalise_uscc(text), "uscc"
    return DocumentIndex(
        index=pii.blind_index(normalised, context=records.ID_NUMBER),
        masked=pii.mask_id_number(normalised),
        document_type=document_type,
    )


def document_index_of(session: Session, user_id: int) -> str | None:
    """The blind index of a user's verified resident ID / USCC, or None if not verified."""
    identity = records.real_name_of(session, user_id)
    return None if identity is None else identity.id_number_index


def region_codes(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """行政区划代码 (six digits) of each verified user's document, in one query: a resident
    ID's first six digits (where it was issued), a USCC's third to eighth characters (the
    registering authority's region). Users without a real-name record are left out. Only the
    region leaves this function, never the number (analyses by region, R47)."""
    ids = set(user_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(
            RealNameIdentity.user_id, RealNameIdentity.document_type, RealNameIdentity.id_number_encrypted
        ).where(RealNameIdentity.user_id.in_(ids))
    )
    codes: dict[int, str] = {}
    for user_id, document_type, encrypted in rows:
        number = pii.decrypt(encrypted, context=records.ID_NUMBER)
        code = number[2:8] if document_type == "uscc" else number[:6]
        if code.isascii() and code.isdigit():
            codes[user_id] = code
    return codes
