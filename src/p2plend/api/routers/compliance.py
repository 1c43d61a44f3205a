"""The compliance report API (合规检查): read with ``staff:reports:read`` (operations, finance,
compliance, administrator)."""

from typing import Annotated

from fastapi import APIRouter, Depends

from p2plend.api.deps import DbSession, require
from p2plend.compliance import service as compliance
from p2plend.compliance.schemas import ComplianceReportOut
from p2plend.identity import service as identity

router = APIRouter(prefix="/api/v1", tags=["staff"])

Reader = Annotated[identity.AuthContext, Depends(require(identity.Permission.STAFF_REPORTS_READ))]


@router.get("/staff/compliance", summary="The compliance report (合规检查): each check clear or flagged")
def staff_compliance(ctx: Reader, session: DbSession) -> ComplianceReportOut:
    """Flagged when the platform risk reserve is on or still covers loans (R37), when a borrower
    is above the borrowing cap (R4–R5), when a compensation was short (R36)."""
    return ComplianceReportOut.of(compliance.report(session))
