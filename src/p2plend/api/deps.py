"""Request dependencies: the transaction, the caller, permissions, idempotency keys.

The request owns its transaction: services flush, ``get_session`` commits once the
endpoint has returned and *before* the response is sent (``scope="function"``), so a
client is never told "done" about something that was not committed.

The JSON API authenticates with bearer tokens only (no cookies, hence no CSRF surface);
the web pages have their own cookie sessions and CSRF tokens.
"""

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from p2plend.api.errors import ReplayResponse
from p2plend.config import Settings
from p2plend.custody.port import Custodian
from p2plend.db import transaction
from p2plend.errors import PermissionDenied, Unauthenticated
from p2plend.idempotency import service as idempotency
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext
from p2plend.marketplace.bid_queue import BidQueue

MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    with transaction(factory) as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def get_custodian(request: Request) -> Custodian:
    """The custodian the composition root wired into the app (API and pages alike)."""
    custodian: Custodian = request.app.state.custodian
    return custodian


def get_bid_queue(request: Request) -> BidQueue:
    """The process's queue of bids per listing (``marketplace.bid_queue``)."""
    queue: BidQueue = request.app.state.bid_queue
    return queue


BidsQueue = Annotated[BidQueue, Depends(get_bid_queue)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_user(request: Request, session: DbSession) -> AuthContext:
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("Sign in first: send 'Authorization: Bearer <token>'.")
    ctx = identity.authenticate(session, token)
    request.state.user_id = ctx.user_id
    return ctx


CurrentUser = Annotated[AuthContext, Depends(current_user)]


def require(permission: str) -> Callable[..., AuthContext]:
    """A dependency that admits only callers holding ``permission``."""

    def dependency(ctx: CurrentUser) -> AuthContext:
        identity.require_permission(ctx, permission)
        return ctx

    return dependency


def require_one_of(ctx: AuthContext, permissions: Sequence[str]) -> None:
    """Raise unless the caller holds at least one of ``permissions`` (API and pages alike):
    staff without an authenticator get ``totp_enrollment_required``, others ``permission_denied``."""
    if any(permission in ctx.permissions for permission in permissions):
        return
    if ctx.needs_2fa_enrollment:
        identity.require_permission(ctx, permissions[0])  # raises totp_enrollment_required
    raise PermissionDenied("You may not do this.", details={"permissions": list(permissions)})


def require_any(*permissions: str) -> Callable[..., AuthContext]:
    """A dependency that admits callers holding at least one of ``permissions``."""

    def dependency(ctx: CurrentUser) -> AuthContext:
        require_one_of(ctx, permissions)
        return ctx

    return dependency


class Idempotency:
    """The Idempotency-Key of a money-moving request and the fingerprint of its body."""

    def __init__(self, key: str | None, body: bytes) -> None:
        self.key = key
        self.fingerprint = idempotency.fingerprint(body)

    def replay(self, session: Session, *, user_id: int, operation: str) -> JSONResponse | None:
        if self.key is None:
            return None
        stored = idempotency.find_replay(
            session, user_id=user_id, operation=operation, key=self.key, request_fingerprint=self.fingerprint
        )
        if stored is None:
            return None
        return JSONResponse(json.loads(stored.body), status_code=stored.status)

    def respond(
        self, session: Session, *, user_id: int, operation: str, payload: BaseModel, status: int = 200
    ) -> JSONResponse:
        content: Any = jsonable_encoder(payload)
        if self.key is not None:
            earlier = idempotency.remember(
                session,
                user_id=user_id,
                operation=operation,
                key=self.key,
                request_fingerprint=self.fingerprint,
                status=status,
                body=json.dumps(content),
            )
            if earlier is not None:
                # A concurrent request with this key committed first: undo ours, answer with its.
                raise ReplayResponse(earlier.status, earlier.body)
        return JSONResponse(content, status_code=status)


async def idempotency_key(
    request: Request,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes a retried request safe: the first answer is replayed.",
            # Documented for clients and generators; ``check_key`` enforces it with its own refusal.
            json_schema_extra={"pattern": idempotency.KEY_PATTERN},
        ),
    ] = None,
) -> Idempotency:
    if key is not None:
        idempotency.check_key(key)
    return Idempotency(key, await request.body())


IdempotencyKey = Annotated[Idempotency, Depends(idempotency_key)]
