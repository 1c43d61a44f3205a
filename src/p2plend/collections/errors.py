"""Refusals of collections (催收) and write-off (核销), each with a stable code.

Bad input names its field in ``details.field``; a refusal changes nothing.
"""

from p2plend.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class CaseNotFound(NotFound):
    code = "collection_case_not_found"


class CaseClosed(Conflict):
    """The case is closed (the loan is current again or settled): nothing more is logged on it."""

    code = "collection_case_closed"


class NotYourCase(PermissionDenied):
    """The case is another collector's; only they or a collections manager work it."""

    code = "collection_case_not_yours"


class InvalidCollectionAction(InvalidInput):
    """An action's kind, outcome, amount, date or note is missing or out of range (details.field)."""

    code = "invalid_collection_action"


class InvalidCollector(InvalidInput):
    """Not an active collector (the collector role, an authenticator enrolled)."""

    code = "invalid_collector"


class UnknownStage(InvalidInput):
    code = "unknown_collection_stage"


class InvalidStrategy(InvalidInput):
    """A strategy's treatment, channels, intervals, assignment or team is out of range (details.field)."""

    code = "invalid_collection_strategy"


class InvalidReportPeriod(InvalidInput):
    """A report's period: the first day on or before the last, at most 3 years, not in the future."""

    code = "invalid_report_period"


class InvalidAnalysisDimension(InvalidInput):
    code = "invalid_analysis_dimension"


class WriteOffNotFound(NotFound):
    code = "write_off_not_found"


class WriteOffNotEligible(Conflict):
    """Only a disbursed loan with principal outstanding, past 180 days overdue or with a
    stated proof of loss, is written off (DOMAIN.md §7)."""

    code = "write_off_not_eligible"


class WriteOffAlreadyProposed(Conflict):
    """The loan already has a write-off proposed or approved."""

    code = "write_off_already_proposed"


class WriteOffNotPending(Conflict):
    """The write-off was already approved or rejected."""

    code = "write_off_not_pending"


class WriteOffFourEyes(PermissionDenied):
    """The write-off is decided by a different staff member than the one who proposed it (R34)."""

    code = "write_off_four_eyes"


class InvalidWriteOff(InvalidInput):
    """A proposal's reason, proof or note is missing or too long (details.field)."""

    code = "invalid_write_off"
