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


class CustodianRefused(DomainError):
    """The custodian bank refused an instruction: nothing is recorded; the act can be retried."""

    code = "custodian_refused"
    status = 502


class BankInstructionVoided(DomainError):
    """The act's bank instruction was voided by the orphan sweep (or recorded by another try)
    while the act was open: nothing is recorded; a retry gets a fresh instruction number."""

    code = "bank_instruction_voided"
    status = 503
