"""Marketplace API (投资): the listings the market shows, bids, and staff listing management.

Public: ``GET /listings`` and ``GET /listings/{id}`` (the per-loan disclosure, masked, R47/R48).
Investors: ``POST /listings/{id}/bids`` (Idempotency-Key, like deposits), ``GET /me/bids``.
Staff with ``staff:applications:review`` (and so a confirmed authenticator): the loans by
status, one loan with its bids and holdings, 发布, 撤标, 满标复审 → 放款, and 流标 now.
"""

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from p2plend.api.deps import BidsQueue, DbSession, Idempotency, IdempotencyKey, require
from p2plend.api.routers.custody import AppCustodian
from p2plend.autobid import service as autobid
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import LoanNotFound
from p2plend.marketplace.models import Bid, Loan
from p2plend.marketplace.schemas import (
    BidOut,
    BidRequest,
    ExpiredListingsOut,
    ListingDetail,
    ListingPage,
    ListingSummary,
    MyBidsOut,
    StaffLoanDetail,
    StaffLoanSummary,
    WithdrawListingRequest,
)
from p2plend.money import yuan_str

router = APIRouter(prefix="/api/v1", tags=["marketplace"])

MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)
LoanId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]

Investor = Annotated[identity.AuthContext, Depends(require(identity.Permission.INVEST_SELF))]
ListingManager = Annotated[
    identity.AuthContext, Depends(require(identity.Permission.STAFF_APPLICATIONS_REVIEW))
]

# What the market shows: listings that were opened (never a pending one, nor one withdrawn
# before it was published). By default, those taking bids and those just funded (满标).
PublicStatus = Literal["open", "funded", "disbursed", "settled", "failed", "withdrawn"]
LoanStatus = Literal["pending", "open", "funded", "disbursed", "settled", "failed", "withdrawn"]
DEFAULT_MARKET = (marketplace.OPEN, marketplace.FUNDED)


def scoped(idem: Idempotency, target: str) -> Idempotency:
    """The request's idempotency with the target (the loan) in its fingerprint: one key names
    one request, so the same key and body sent to another loan is ``idempotency_key_reused``,
    never the first loan's answer."""
    bound = Idempotency(idem.key, b"")
    bound.fingerprint = hashlib.sha256(f"{target}\n{idem.fingerprint}".encode()).hexdigest()
    return bound


def public_listing(session: Session, loan_id: int) -> Loan:
    """A loan the market has shown; a listing never published is not found."""
    loan = marketplace.get_loan(session, loan_id)
    if loan.opened_at is None:
        raise LoanNotFound("No such listing.", details={"loan_id": loan_id})
    return loan


def _page(loans: list[Loan], limit: int, offset: int) -> ListingPage:
    return ListingPage(
        items=[ListingSummary.of(loan) for loan in loans[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(loans) > limit else None,
    )


# --- public ----------------------------------------------------------------------------------


@router.get("/listings", summary="The market (投资): listings open for bids and just funded")
def list_listings(
    session: DbSession,
    status: Annotated[PublicStatus | None, Query(description="Only this status")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ListingPage:
    """Newest first. Without `status`: `open` and `funded` (满标, awaiting review). No sign-in."""
    statuses = [status] if status is not None else list(DEFAULT_MARKET)
    loans = marketplace.loans(session, statuses=statuses, limit=limit + 1, offset=offset)
    return _page([loan for loan in loans if loan.opened_at is not None], limit, offset)


@router.get("/listings/{loan_id}", summary="One listing with its disclosure (信息披露) and terms")
def get_listing(loan_id: LoanId, session: DbSession) -> ListingDetail:
    """Every per-loan disclosure field (R48), personal data masked (R47). `404 loan_not_found`
    for a listing never published. No sign-in."""
    return ListingDetail.of(public_listing(session, loan_id))


# --- investors -------------------------------------------------------------------------------


@router.post(
    "/listings/{loan_id}/bids",
    status_code=status.HTTP_201_CREATED,
    response_model=BidOut,
    summary="Bid (投标): freeze my funds for this listing",
)
def place_bid(
    *,
    loan_id: LoanId,
    body: BidRequest,
    ctx: Investor,
    session: DbSession,
    idem: IdempotencyKey,
    queue: BidsQueue,
) -> JSONResponse:
    """`amount` is frozen in my own sub-account until the listing is disbursed (then lent to the
    borrower) or fails (then returned). Above what remains, the bid is filled for what remains
    unless `fill_remaining` is false. Refusals: `invalid_amount`, `loan_not_found`,
    `listing_not_open`, `listing_fully_funded`, `own_loan`, `real_name_required`,
    `custody_account_required`, `bid_below_minimum`, `bid_not_in_steps`, `bid_exceeds_remaining`,
    `bid_cap_exceeded`, `risk_assessment_required`, `risk_assessment_expired`,
    `risk_class_not_suitable`, `risk_tier_cap_exceeded`, `insufficient_funds`,
    `idempotency_key_reused`."""
    request = scoped(idem, f"loan:{loan_id}")

    def replay_or_check(batch: Session) -> JSONResponse | None:
        replay = request.replay(batch, user_id=ctx.user_id, operation="bid.place")
        if replay is None:
            public_listing(batch, loan_id)
        return replay

    def respond(batch: Session, bid: Bid) -> JSONResponse:
        loan = marketplace.get_loan(batch, loan_id)
        return request.respond(
            batch, user_id=ctx.user_id, operation="bid.place", payload=BidOut.of(bid, loan.title), status=201
        )

    # The caller is known; the request's own transaction ends here so that it holds nothing
    # (on SQLite, the write lock) while the bid waits for its listing's next batch.
    session.commit()
    return queue.submit(
        loan_id,
        marketplace.BidOrder(ctx.user_id, body.amount_fen, body.fill_remaining),
        before=replay_or_check,
        after=respond,
        dedupe_key=None if idem.key is None else f"{ctx.user_id}:{idem.key}",
    )


@router.get("/me/bids", summary="My bids (我的投标) and the funds they hold frozen")
def my_bids(ctx: Investor, session: DbSession, limit: Annotated[int, Query(ge=1, le=100)] = 100) -> MyBidsOut:
    bids = marketplace.bids_of_investor(session, ctx.user_id, limit=limit)
    titles = {loan_id: marketplace.get_loan(session, loan_id).title for loan_id in {b.loan_id for b in bids}}
    held = sum(h.principal_outstanding for h in marketplace.holdings_of_holder(session, ctx.user_id))
    balances = ledger.user_balances(session, ctx.user_id)
    return MyBidsOut(
        frozen_in_bids=yuan_str(marketplace.lending_outstanding(session, ctx.user_id) - held),
        available=yuan_str(balances.available),
        frozen=yuan_str(balances.frozen),
        bids=[BidOut.of(bid, titles[bid.loan_id]) for bid in bids],
    )


# --- staff: 标的管理 ----------------------------------------------------------------------------


def _staff_detail(session: Session, loan: Loan) -> StaffLoanDetail:
    return StaffLoanDetail.build(
        loan, marketplace.bids_of_loan(session, loan.id), marketplace.holdings_of_loan(session, loan.id)
    )


@router.get("/staff/loans", summary="Listings and loans by status (标的管理)", tags=["staff"])
def staff_loans(
    ctx: ListingManager,
    session: DbSession,
    status: Annotated[LoanStatus | None, Query(description="Only this status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[StaffLoanSummary]:
    loans = marketplace.loans(session, statuses=[status] if status else None, limit=limit, offset=offset)
    return [StaffLoanSummary.of(loan) for loan in loans]


@router.get(
    "/staff/loans/{loan_id}", summary="One listing or loan with its bids and holdings", tags=["staff"]
)
def staff_loan(loan_id: LoanId, ctx: ListingManager, session: DbSession) -> StaffLoanDetail:
    return _staff_detail(session, marketplace.get_loan(session, loan_id))


@router.post("/staff/loans/{loan_id}/open", summary="Publish (发布) a pending listing", tags=["staff"])
def staff_open(loan_id: LoanId, ctx: ListingManager, session: DbSession) -> StaffLoanDetail:
    """It takes bids from now until its deadline (funding window); the auto-bid queue (自动投标)
    bids into it first, in the same transaction (at most 60 % of it). Refusals: `loan_not_found`,
    `loan_state_conflict` (not pending), `funding_window_too_long` (R8)."""
    loan = autobid.open_listing(session, loan_id, actor_id=ctx.user_id)
    return _staff_detail(session, loan)


@router.post("/staff/loans/{loan_id}/withdraw", summary="Withdraw (撤标) a listing", tags=["staff"])
def staff_withdraw(
    loan_id: LoanId, body: WithdrawListingRequest, ctx: ListingManager, session: DbSession
) -> StaffLoanDetail:
    """Pending, open or funded (also the refusal at 满标复审): every frozen bid is returned in
    full. Refusals: `loan_not_found`, `loan_state_conflict`, `invalid_input` (blank reason)."""
    loan = marketplace.withdraw_listing(session, loan_id, actor_id=ctx.user_id, reason=body.reason)
    return _staff_detail(session, loan)


@router.post(
    "/staff/loans/{loan_id}/disburse",
    summary="Approve a funded listing (满标复审) and disburse (放款)",
    tags=["staff"],
)
def staff_disburse(
    loan_id: LoanId, ctx: ListingManager, session: DbSession, custodian: AppCustodian
) -> StaffLoanDetail:
    """Each investor's frozen funds go straight to the borrower's sub-account at the custodian
    bank (R1), the service fee to the platform, holdings record the claims, and the repayment
    schedule is fixed — one act. A second call is `loan_state_conflict`. Refusals:
    `loan_not_found`, `loan_state_conflict` (not funded), `custody_account_required`,
    `custodian_refused` (502: nothing recorded; try again). The borrower's auto-bid, if on, is
    switched off (DOMAIN.md §10)."""
    loan = autobid.disburse_loan(session, loan_id, custodian, actor_id=ctx.user_id)
    return _staff_detail(session, loan)


@router.post(
    "/staff/listings/expire",
    summary="Fail every listing past its deadline now (流标)",
    tags=["staff"],
)
def staff_expire(ctx: ListingManager, session: DbSession) -> ExpiredListingsOut:
    """What the daily `p2plend listings expire` does: every open listing past its deadline
    fails and every frozen bid is returned in full (R8). Returns the failed loans' ids."""
    return ExpiredListingsOut(failed=marketplace.fail_expired_listings(session, actor_id=ctx.user_id))
