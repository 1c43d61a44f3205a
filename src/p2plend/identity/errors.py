"""Identity errors: each a stable ``code`` the API, the CLI and the web pages rely on.

Named for what happened (``PhoneTaken``, ``TotpBlocked``), as ``p2plend.errors`` does.
"""

from p2plend.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied, Unauthenticated


class RecordedRefusal(DomainError):
    """A refusal whose bookkeeping must be committed although the act failed.

    A wrong password, TOTP or SMS code increments a counter in the database (that is what
    makes lock-outs hold across workers). Rolling back would hand an attacker unlimited
    attempts, so every transaction owner commits before answering with it (``keep_bookkeeping``).
    """

    keep_bookkeeping = True


# --- phone, password, SMS code ----------------------------------------------------------


class InvalidPhone(InvalidInput):
    code = "invalid_phone"


class WeakPassword(InvalidInput):
    code = "weak_password"


class PhoneTaken(Conflict):
    code = "phone_taken"


class SmsResendTooSoon(DomainError):
    code = "sms_resend_too_soon"
    status = 429


class SmsCodeInvalid(RecordedRefusal):
    code = "invalid_sms_code"
    status = 422


class SmsCodeExpired(DomainError):
    code = "sms_code_expired"
    status = 422


class SmsCodeAttemptsExceeded(DomainError):
    code = "sms_code_attempts_exceeded"
    status = 422


# --- login, sessions, TOTP ----------------------------------------------------------------


class InvalidCredentials(RecordedRefusal):
    """Unknown phone and wrong password look the same from outside."""

    code = "invalid_credentials"
    status = 401


class AccountLocked(RecordedRefusal):
    code = "account_locked"
    status = 423


class AccountDisabled(PermissionDenied):
    code = "account_disabled"


class TotpRequired(Unauthenticated):
    code = "totp_required"


class TotpInvalid(RecordedRefusal):
    code = "totp_invalid"
    status = 401


class TotpBlocked(DomainError):
    code = "totp_blocked"
    status = 423


class TotpNotEnrolled(Conflict):
    code = "totp_not_enrolled"


class TotpAlreadyEnabled(Conflict):
    code = "totp_already_enabled"


class TotpEnrollmentRequired(PermissionDenied):
    """Staff get no staff permission until they have enrolled a TOTP authenticator."""

    code = "totp_enrollment_required"


# --- roles ----------------------------------------------------------------------------------


class UnknownRole(InvalidInput):
    code = "unknown_role"


class RoleNotAllowed(PermissionDenied):
    code = "role_not_allowed"


# --- real name (实名认证) -------------------------------------------------------------------


class InvalidName(InvalidInput):
    code = "invalid_name"


class InvalidIdNumber(InvalidInput):
    code = "invalid_id_number"


class Underage(InvalidInput):
    code = "underage"


class IdNumberTaken(RecordedRefusal, Conflict):
    """Recorded: someone may be trying another person's ID."""

    code = "id_number_taken"


class RealNameAlreadyVerified(Conflict):
    code = "real_name_already_verified"


class RealNameRequired(PermissionDenied):
    code = "real_name_required"


# --- bank cards (绑卡) ----------------------------------------------------------------------


class InvalidCardNumber(InvalidInput):
    code = "invalid_card_number"


class InvalidBankName(InvalidInput):
    code = "invalid_bank_name"


class CardHolderMismatch(InvalidInput):
    code = "card_holder_mismatch"


class CardTaken(Conflict):
    code = "card_taken"


class CardAlreadyBound(Conflict):
    code = "card_already_bound"


class CardLimitReached(Conflict):
    code = "card_limit_reached"


class CardNotFound(NotFound):
    code = "card_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"
