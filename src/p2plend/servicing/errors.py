"""Servicing's refusals, each with a stable code."""

from p2plend.errors import Conflict, InvalidInput, PermissionDenied


class NotTheBorrower(PermissionDenied):
    code = "not_the_borrower"


class NothingDue(Conflict):
    """The loan has nothing left to repay."""

    code = "nothing_due"


class RepaymentExceedsDue(Conflict):
    """More than is due now: paying ahead is an early repayment (提前还款), a separate act."""

    code = "repayment_exceeds_due"


class InstallmentDueFirst(Conflict):
    """An early repayment waits until every installment already due is paid."""

    code = "installment_due_first"


class InvalidRepayment(InvalidInput):
    code = "invalid_repayment"


class InvalidDateRange(InvalidInput):
    """A report's date range that is backwards or longer than allowed."""

    code = "invalid_date_range"
