from p2plend.errors import Conflict, DomainError, InvalidInput, NotFound


class InvalidSignature(DomainError):
    """A callback whose HMAC does not verify: not from the bank; nothing is changed."""

    code = "invalid_signature"
    status = 401


class MalformedCallback(InvalidInput):
    code = "malformed_callback"


class CustodyAccountRequired(Conflict):
    code = "custody_account_required"


class DepositAmountOutOfRange(InvalidInput):
    code = "deposit_amount_out_of_range"


class OrderNotFound(NotFound):
    code = "order_not_found"


class ReconciliationDateInFuture(InvalidInput):
    """The bank's statement of a day that has not ended does not exist yet."""

    code = "reconciliation_date_in_future"
