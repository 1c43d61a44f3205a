from p2plend.errors import Conflict, DomainError


class UnbalancedEntry(DomainError):
    """A bug, never a user's mistake: an entry whose legs don't sum to zero."""

    code = "unbalanced_entry"
    status = 500


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"


class UnknownAccount(DomainError):
    code = "unknown_account"
    status = 500
