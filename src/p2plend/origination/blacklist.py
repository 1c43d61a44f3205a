"""The borrower blacklist (黑名单) and the platform's related parties (关联方, R2).

Staff keep it by resident ID / USCC; the table holds only the number's blind index (the
one identity keeps for verified users) and its masked form, so a listed number need not
belong to a user yet and matches whoever verifies with it later. Removing an entry keeps
the row as history; at most one live entry per number (a unique partial index).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.identity import service as identity
from p2plend.origination.errors import AlreadyBlacklisted, BlacklistEntryNotFound, InvalidApplication
from p2plend.origination.models import BlacklistEntry
from p2plend.origination.vocabulary import BLACKLIST_KINDS


@dataclass(frozen=True, slots=True)
class BlacklistView:
    id: int
    kind: str
    id_number_masked: str
    reason: str
    created_at: datetime
    created_by: int | None
    removed_at: datetime | None
    removed_by: int | None


def _view(row: BlacklistEntry) -> BlacklistView:
    return BlacklistView(
        id=row.id,
        kind=row.kind,
        id_number_masked=row.id_number_masked,
        reason=row.reason,
        created_at=row.created_at,
        created_by=row.created_by,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
    )


def entry_of(session: Session, id_number_index: str | None) -> BlacklistEntry | None:
    """The live entry for a blind index, if any."""
    if id_number_index is None:
        return None
    return session.scalars(
        select(BlacklistEntry).where(
            BlacklistEntry.id_number_index == id_number_index, BlacklistEntry.removed_at.is_(None)
        )
    ).first()


def add_entry(
    session: Session, *, actor_id: int | None, id_number: str, kind: str, reason: str
) -> BlacklistView:
    """List a resident ID / USCC as blacklisted or as a related party (``invalid_id_number`` if neither)."""
    if kind not in BLACKLIST_KINDS:
        raise InvalidApplication(
            f"The kind is one of {', '.join(BLACKLIST_KINDS)}.", details={"field": "kind"}
        )
    reason = reason.strip()
    if not 0 < len(reason) <= 200:
        raise InvalidApplication("Say why (1–200 characters).", details={"field": "reason"})
    document = identity.document_index(id_number)
    row = BlacklistEntry(
        kind=kind,
        id_number_index=document.index,
        id_number_masked=document.masked,
        reason=reason,
        created_at=clock.now(),
        created_by=actor_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise AlreadyBlacklisted(
            "This number is already listed.", details={"id_number": document.masked}
        ) from None
    audit.record(
        session,
        actor_id=actor_id,
        action="blacklist.added",
        object_type="blacklist",
        object_id=row.id,
        details={"kind": kind, "id_number": document.masked, "reason": reason},
    )
    return _view(row)


def remove_entry(session: Session, *, actor_id: int | None, entry_id: int) -> BlacklistView:
    row = session.scalars(
        select(BlacklistEntry)
        .where(BlacklistEntry.id == entry_id, BlacklistEntry.removed_at.is_(None))
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise BlacklistEntryNotFound("No such live entry.", details={"entry_id": entry_id})
    row.removed_at = clock.now()
    row.removed_by = actor_id
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="blacklist.removed",
        object_type="blacklist",
        object_id=row.id,
        details={"kind": row.kind, "id_number": row.id_number_masked},
    )
    return _view(row)


def entries(session: Session, *, include_removed: bool = False, limit: int = 200) -> list[BlacklistView]:
    query = select(BlacklistEntry).order_by(BlacklistEntry.id.desc()).limit(limit)
    if not include_removed:
        query = query.where(BlacklistEntry.removed_at.is_(None))
    return [_view(row) for row in session.scalars(query).all()]
