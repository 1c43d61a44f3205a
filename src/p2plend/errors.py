"""Domain errors: typed, with a stable machine code and the HTTP status they map to.

The API renders them once as ``{"error": {"code", "message", "details"}}``; the CLI as a
message and a non-zero exit. Expected refusals are always one of these; anything else
reaching the user as a 500 is a bug.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400
    # A refusal whose bookkeeping must be committed although the act failed (a failed
    # sign-in counter that makes lock-outs hold). Raise such an error before the act has
    # written anything else: the transaction owner commits instead of rolling back.
    keep_bookkeeping: ClassVar[bool] = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


def commits_despite(exc: BaseException) -> bool:
    return isinstance(exc, DomainError) and exc.keep_bookkeeping


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status = 409
