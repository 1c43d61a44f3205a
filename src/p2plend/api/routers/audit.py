"""Audit log API (审计日志), staff with `staff:audit:read` only."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from p2plend.api.deps import MAX_ID, DbSession, require
from p2plend.audit import service as audit
from p2plend.audit.schemas import (
    AuditPageResponse,
    AuditRecordResponse,
    AuditVerificationResponse,
    AuditViolationResponse,
)
from p2plend.identity import service as identity

router = APIRouter(prefix="/api/v1", tags=["staff"])

PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # no control characters (PostgreSQL refuses NUL)

AuditReader = Annotated[identity.AuthContext, Depends(require(identity.Permission.STAFF_AUDIT_READ))]


@router.get("/staff/audit", summary="Audit records, newest first")
def list_audit_records(
    *,
    ctx: AuditReader,
    session: DbSession,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only acts by this user.")] = None,
    object_type: Annotated[str | None, Query(max_length=32, pattern=PRINTABLE, examples=["user"])] = None,
    object_id: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Page on: the previous page's `next_before_id`.")
    ] = None,
) -> AuditPageResponse:
    records = audit.list_records(
        session,
        actor_id=actor_id,
        object_type=object_type,
        object_id=object_id,
        limit=limit,
        before_id=before_id,
    )
    return AuditPageResponse(
        items=[AuditRecordResponse.of(r) for r in records],
        next_before_id=records[-1].id if len(records) == limit else None,
    )


@router.get(
    "/staff/audit/verification",
    summary="Check every hash chain of the audit log (as `p2plend audit verify`)",
)
def verify_audit_log(ctx: AuditReader, session: DbSession) -> AuditVerificationResponse:
    violations = audit.verify(session)
    return AuditVerificationResponse(
        intact=not violations,
        violations=[
            AuditViolationResponse(rule=v.rule, subject=v.subject, detail=v.detail) for v in violations
        ],
    )
