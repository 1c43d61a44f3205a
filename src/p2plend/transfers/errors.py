"""The debt-transfer market's refusals, each with a stable code (DOMAIN.md §9, R38–R42)."""

from p2plend.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class HoldingNotFound(NotFound):
    """No such holding of yours (someone else's holding is not found either)."""

    code = "holding_not_found"


class TransferListingNotFound(NotFound):
    code = "transfer_listing_not_found"


class TransferListingNotOpen(Conflict):
    """The listing sold out, was cancelled (a payment, a prepayment, an overdue, the seller)
    or expired."""

    code = "transfer_listing_not_open"


# --- R38: eligibility, one code per rule ----------------------------------------------------


class TransferNotEligible(Conflict):
    code = "transfer_not_eligible"


class HoldingTooRecent(TransferNotEligible):
    """Held fewer than the holding period's days (30 [D])."""

    code = "transfer_holding_too_recent"


class LoanNotInRepayment(TransferNotEligible):
    """The loan is not being repaid (not yet disbursed, or repaid)."""

    code = "transfer_loan_not_in_repayment"


class LoanOverdue(TransferNotEligible):
    code = "transfer_loan_overdue"


class LoanInCollections(TransferNotEligible):
    code = "transfer_loan_in_collections"


class LoanCompensated(TransferNotEligible):
    """A guarantor compensated this loan's holders (代偿): its claims are no longer traded."""

    code = "transfer_loan_compensated"


class LoanWrittenOff(TransferNotEligible):
    code = "transfer_loan_written_off"


class DueDateToday(TransferNotEligible):
    code = "transfer_due_date_today"


class DueDateTooClose(TransferNotEligible):
    """The next due date is fewer than the blackout days away (3 [D])."""

    code = "transfer_due_date_too_close"


class FinalPeriod(TransferNotEligible):
    code = "transfer_final_period"


class InstallmentPaidAhead(TransferNotEligible):
    """The current installment was paid, in part or in full, before its date: the period's
    interest is no longer the holder's to price (DOMAIN.md §2.5)."""

    code = "transfer_installment_paid_ahead"


class AlreadyListed(Conflict):
    """One open listing per holding at a time (one claim per sale, no bundles)."""

    code = "transfer_already_listed"


# --- amounts and prices ---------------------------------------------------------------------


class TransferAmountInvalid(InvalidInput):
    """A part below the minimum bid, above the holding, or (buying) off the bid step."""

    code = "transfer_amount_invalid"


class TransferExceedsRemaining(Conflict):
    """More than the listing still offers (R42: never sold twice)."""

    code = "transfer_exceeds_remaining"


class DiscountOutOfRange(InvalidInput):
    """R39: 0 ≤ d ≤ the largest discount (5 % [D]); no premium."""

    code = "transfer_discount_out_of_range"


class OwnTransfer(PermissionDenied):
    """A seller cannot buy their own listing."""

    code = "transfer_own_listing"
