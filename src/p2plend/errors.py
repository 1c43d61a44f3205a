"""Domain errors: typed, with a stable machine code and the HTTP status they map to.

The API renders them once as ``{"error": {"code", "message", "details"}}``; the CLI as a
message and a non-zero exit. Expected refusals are always one of these; anything else
reaching the user as a 500 is a bug.
"""

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


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


def error_with_code(base: type[DomainError], code: str, message: str, **details: Any) -> DomainError:
    """An error of ``base``'s status carrying a specific stable code."""
    err = base(message, details=details or None)
    err.code = code  # type: ignore[misc]
    return err
