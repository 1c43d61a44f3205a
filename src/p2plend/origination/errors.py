"""Origination's refusals, each with a stable code (the web pages translate ``error.<code>``).

Bad input and refusals of an act raise one of these and change nothing. An application that
is well formed but fails an eligibility rule (age, blacklist, caps, grade) is not an error:
it is stored as ``rejected`` with the rule's reason code (see ``vocabulary.AUTO_REJECTION_CODES``).
"""

from p2plend.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied

# --- products and the LPR ---------------------------------------------------------------------


class ProductNotFound(NotFound):
    code = "product_not_found"


class ProductInactive(Conflict):
    code = "product_inactive"


class ProductCodeTaken(Conflict):
    code = "product_code_taken"


class InvalidProductTerms(InvalidInput):
    """A product version's terms are inconsistent or outside DOMAIN.md's bounds (details.field)."""

    code = "invalid_product_terms"


class CostAboveLegalCap(InvalidInput):
    """R29: the annualised all-in cost would exceed 4 × the one-year LPR of the contract date."""

    code = "cost_above_legal_cap"


class LprMissing(Conflict):
    """No LPR is effective on the day asked: the legal cap cannot be computed."""

    code = "lpr_missing"


class LprDateTaken(Conflict):
    code = "lpr_date_taken"


class InvalidLpr(InvalidInput):
    code = "invalid_lpr"


# --- applications ------------------------------------------------------------------------------


class ApplicationNotFound(NotFound):
    """No such application — or not one the caller may see (others' look the same)."""

    code = "application_not_found"


class ApplicationStateConflict(Conflict):
    """The act does not fit the application's current status (details: status, expected)."""

    code = "application_state_conflict"


class DuplicateApplication(Conflict):
    """R18: the borrower already has an active application for this purpose."""

    code = "duplicate_application"


class ForbiddenPurpose(InvalidInput):
    """R7: stocks, margin (配资), futures, structured products, derivatives."""

    code = "forbidden_purpose"


class InvalidApplication(InvalidInput):
    """A field of the application is missing or not one of its allowed values (details.field)."""

    code = "invalid_application"


class AmountOutOfRange(InvalidInput):
    code = "amount_out_of_range"


class TermOutOfRange(InvalidInput):
    code = "term_out_of_range"


class MethodNotAllowed(InvalidInput):
    code = "method_not_allowed"


class ProductNotForBorrower(InvalidInput):
    """The product is for the other kind of borrower (institution ⇔ organisation) or channel."""

    code = "product_not_for_borrower"


class InvalidGuarantor(InvalidInput):
    code = "invalid_guarantor"


class CollateralRequired(InvalidInput):
    code = "collateral_required"


class LtvExceeded(InvalidInput):
    """A mortgage loan may be at most the collateral's appraised value × the product's LTV cap."""

    code = "ltv_exceeded"


# --- review --------------------------------------------------------------------------------------


class InvalidDecision(InvalidInput):
    """A review decision without what it needs (grade, rate, reason code, message)."""

    code = "invalid_decision"


class RateOutsideBand(InvalidInput):
    code = "rate_outside_band"


class GradeNotApprovable(InvalidInput):
    """The product auto-rejects this grade (HR by default)."""

    code = "grade_not_approvable"


class GradeAmountCapExceeded(InvalidInput):
    code = "grade_amount_cap_exceeded"


class BorrowingCapExceeded(Conflict):
    """R4 / R5: the borrower's principal on the platform would exceed the cap."""

    code = "borrowing_cap_exceeded"


class TotalDebtCapExceeded(Conflict):
    """R6: with declared other-platform debt the borrower would exceed the total cap."""

    code = "total_debt_cap_exceeded"


class FieldVerificationRequired(Conflict):
    """Mortgage loans and amounts above the version's threshold need a passed field verification."""

    code = "field_verification_required"


class FourEyesSameOfficer(PermissionDenied):
    """The second approval (四眼原则) must come from a different officer than the first."""

    code = "four_eyes_same_officer"


class InvalidFieldVerification(InvalidInput):
    code = "invalid_field_verification"


# --- documents ------------------------------------------------------------------------------------


class DocumentNotFound(NotFound):
    code = "document_not_found"


class UnsupportedDocumentType(InvalidInput):
    """Only PDF, JPEG and PNG, recognised by their first bytes (not the declared type)."""

    code = "unsupported_document_type"


class DocumentTooLarge(DomainError):
    code = "document_too_large"
    status = 413


class EmptyDocument(InvalidInput):
    code = "empty_document"


# --- blacklist ------------------------------------------------------------------------------------


class BlacklistEntryNotFound(NotFound):
    code = "blacklist_entry_not_found"


class AlreadyBlacklisted(Conflict):
    code = "already_blacklisted"
