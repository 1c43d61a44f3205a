"""API shape of the compliance report (合规检查)."""

from datetime import date

from pydantic import BaseModel, Field

from p2plend.compliance import service as compliance


class ComplianceCheckOut(BaseModel):
    code: str = Field(description="risk_reserve (R37), borrowing_caps (R4–R5), guarantor_shortfalls (R36)")
    flagged: bool
    message: str
    figures: dict[str, str | int | bool | None]

    @classmethod
    def of(cls, check: compliance.Check) -> "ComplianceCheckOut":
        return cls(code=check.code, flagged=check.flagged, message=check.message, figures=dict(check.figures))


class ComplianceReportOut(BaseModel):
    as_of: date
    flagged: int = Field(description="How many checks are flagged")
    checks: list[ComplianceCheckOut]

    @classmethod
    def of(cls, report: compliance.ComplianceReport) -> "ComplianceReportOut":
        return cls(
            as_of=report.as_of,
            flagged=len(report.flagged),
            checks=[ComplianceCheckOut.of(check) for check in report.checks],
        )
