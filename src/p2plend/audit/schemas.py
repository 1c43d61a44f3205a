"""API shapes of the audit log (staff only)."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from p2plend.audit.service import AuditRecord


class AuditRecordResponse(BaseModel):
    id: int
    stream: str
    seq: int
    actor_id: int | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
    business_date: date
    created_at: datetime
    hash: str

    @classmethod
    def of(cls, record: AuditRecord) -> "AuditRecordResponse":
        return cls(
            id=record.id,
            stream=record.stream,
            seq=record.seq,
            actor_id=record.actor_id,
            action=record.action,
            object_type=record.object_type,
            object_id=record.object_id,
            details=record.details,
            business_date=record.business_date,
            created_at=record.created_at,
            hash=record.hash,
        )


class AuditPageResponse(BaseModel):
    items: list[AuditRecordResponse]
    next_before_id: int | None


class AuditViolationResponse(BaseModel):
    rule: str = Field(examples=["record_hash"])
    subject: str = Field(examples=["withdrawal:W1#2 (record 17)"])
    detail: str


class AuditVerificationResponse(BaseModel):
    intact: bool = Field(description="True when every chain is unbroken and matches its head.")
    violations: list[AuditViolationResponse]
