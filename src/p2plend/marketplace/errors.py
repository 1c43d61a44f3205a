"""The marketplace's refusals, each with a stable code."""

from p2plend.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied


class LoanNotFound(NotFound):
    code = "loan_not_found"


class ListingNotOpen(Conflict):
    """The listing takes no bids: not yet opened, fully funded, failed, withdrawn or past its deadline."""

    code = "listing_not_open"


class ListingFullyFunded(Conflict):
    code = "listing_fully_funded"


class BidNotWritten(DomainError):
    """The batch of bids this one was queued in failed as a whole (``marketplace.bid_queue``):
    nothing was frozen, and the same bid may simply be sent again."""

    code = "bid_not_written"
    status = 503

    @classmethod
    def after(cls, cause: BaseException) -> "BidNotWritten":
        error = cls("Your bid was not placed and nothing was frozen; please try again.")
        error.__cause__ = cause
        return error


class LoanStateConflict(Conflict):
    """The act does not fit the loan's current state (e.g. disbursing a listing still open)."""

    code = "loan_state_conflict"


class BidBelowMinimum(InvalidInput):
    code = "bid_below_minimum"


class BidNotInSteps(InvalidInput):
    code = "bid_not_in_steps"


class BidExceedsRemaining(Conflict):
    """The bidder opted out of being filled for what remains, and asked for more."""

    code = "bid_exceeds_remaining"


class BidCapExceeded(Conflict):
    """One investor may hold at most the listing's maximum share (DOMAIN.md §5)."""

    code = "bid_cap_exceeded"


class OwnLoan(PermissionDenied):
    code = "own_loan"


class DisclosureIncomplete(InvalidInput):
    """R48: a listing shows every per-loan disclosure field before anyone may bid."""

    code = "disclosure_incomplete"


class FundingWindowTooLong(InvalidInput):
    """R8: a listing's funding window is at most 20 working days."""

    code = "funding_window_too_long"
