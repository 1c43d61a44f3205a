from p2plend.errors import PermissionDenied


class RiskAssessmentRequired(PermissionDenied):
    """R15: no risk assessment on record; lending is blocked until one is taken."""

    code = "risk_assessment_required"


class RiskAssessmentExpired(PermissionDenied):
    """R15: the latest assessment is past its validity; it must be taken again."""

    code = "risk_assessment_expired"


class RiskClassNotSuitable(PermissionDenied):
    """R16: the loan's risk class is above the lender's tier."""

    code = "risk_class_not_suitable"


class TierCapExceeded(PermissionDenied):
    """R16: the lender's outstanding lending would pass their tier's cap."""

    code = "risk_tier_cap_exceeded"
