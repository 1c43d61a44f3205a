"""Idempotency keys with a request fingerprint (formance-style) for money-moving calls.

The record is written in the same transaction as the business act, so a replay sees
either nothing (the first attempt rolled back) or the committed answer.
"""

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.errors import Conflict, InvalidInput
from p2plend.idempotency.models import IdempotentRequest

KEY_PATTERN = r"^[A-Za-z0-9_\-:.]{8,128}$"
_KEY_RE = re.compile(KEY_PATTERN)


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def check_key(key: str) -> None:
    if not _KEY_RE.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key must be 8–128 characters of letters, digits, '-', '_', ':' or '.'.",
            details={"header": "Idempotency-Key"},
        )


def find_replay(
    session: Session, *, user_id: int, operation: str, key: str, request_fingerprint: str
) -> StoredResponse | None:
    """The stored answer to this key, or None if it is new; refuse a key reused for another body."""
    check_key(key)
    record = session.scalars(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == user_id,
            IdempotentRequest.operation == operation,
            IdempotentRequest.key == key,
        )
    ).first()
    if record is None:
        return None
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body.",
            details={"idempotency_key": key},
        )
    return StoredResponse(record.response_status, record.response_body)


def remember(
    session: Session,
    *,
    user_id: int,
    operation: str,
    key: str,
    request_fingerprint: str,
    status: int,
    body: str,
) -> StoredResponse | None:
    """Store the answer; if a concurrent request stored one first, return that one instead."""
    try:
        with session.begin_nested():
            session.add(
                IdempotentRequest(
                    user_id=user_id,
                    operation=operation,
                    key=key,
                    fingerprint=request_fingerprint,
                    response_status=status,
                    response_body=body,
                    created_at=clock.now(),
                )
            )
            session.flush()
    except IntegrityError:
        return find_replay(
            session, user_id=user_id, operation=operation, key=key, request_fingerprint=request_fingerprint
        )
    return None
