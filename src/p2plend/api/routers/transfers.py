"""Debt-transfer market API (债权转让), DOMAIN.md §9, R38–R42.

Public: ``GET /transfers`` (open listings priced today, with the buyer's yield) and
``GET /transfers/{id}``. Investors (``invest:self``): ``GET /transfers/{id}/purchase-quote``,
``POST /transfers/{id}/buy`` (Idempotency-Key, like the repayment endpoints), a holding's
``GET /me/holdings/{id}/transfer-quote``, ``POST /me/transfers`` (list for sale),
``POST /me/transfers/{id}/cancel``, ``GET /me/transfers`` (listed, sold, bought). Staff
reading with ``staff:risk:manage``, ``staff:reports:read`` or ``staff:applications:review``:
``GET /staff/transfers``; ``POST /staff/transfers/expire`` (what the batch step does) with
``staff:applications:review``.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession, IdempotencyKey, require, require_any
from p2plend.api.routers.custody import AppCustodian
from p2plend.api.routers.marketplace import scoped
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.money import parse_amount
from p2plend.transfers import service as transfers
from p2plend.transfers.schemas import (
    BuyRequest,
    MyListingOut,
    MyTransfersOut,
    PurchaseQuoteOut,
    PurchaseResult,
    SaleOut,
    StaffListingOut,
    TransferListingOut,
    TransferListingPage,
    TransferQuoteOut,
    TransferRequest,
)

router = APIRouter(prefix="/api/v1", tags=["transfers"])

P = identity.Permission
MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)
READ_PERMISSIONS = (P.STAFF_RISK_MANAGE, P.STAFF_REPORTS_READ, P.STAFF_APPLICATIONS_REVIEW)
EXPIRE_PERMISSION = P.STAFF_APPLICATIONS_REVIEW

ListingId = Annotated[int, Path(ge=1, le=MAX_ID)]
HoldingId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Investor = Annotated[identity.AuthContext, Depends(require(P.INVEST_SELF))]
Reader = Annotated[identity.AuthContext, Depends(require_any(*READ_PERMISSIONS))]
Expirer = Annotated[identity.AuthContext, Depends(require(EXPIRE_PERMISSION))]
ListingStatus = Literal["open", "sold", "cancelled", "expired"]


def _principal(raw: str | None) -> int | None:
    return None if raw is None or raw == "" else parse_amount(raw)


def _titles(session: Session, loan_ids: set[int]) -> dict[int, str]:
    return {loan_id: marketplace.get_loan(session, loan_id).title for loan_id in loan_ids}


# --- public ---------------------------------------------------------------------------------


@router.get("/transfers", summary="The transfer market (债权转让): open listings, priced today")
def list_transfers(session: DbSession, limit: Limit = 20, offset: Offset = 0) -> TransferListingPage:
    """Newest first. Each with what remains, its value (principal + interest accrued to today),
    price, discount and the buyer's yield to maturity (XIRR) for buying all of it. No sign-in."""
    found = transfers.open_listings(session, limit=limit + 1, offset=offset)
    return TransferListingPage(
        items=[TransferListingOut.of(transfers.view(session, listing)) for listing in found[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(found) > limit else None,
    )


@router.get("/transfers/{listing_id}", summary="One transfer listing, priced today")
def get_transfer(listing_id: ListingId, session: DbSession) -> TransferListingOut:
    """A closed listing shows its status and reason, without a price. Refusals:
    `transfer_listing_not_found`. No sign-in."""
    return TransferListingOut.of(transfers.view(session, transfers.get_listing(session, listing_id)))


# --- investors: buying -------------------------------------------------------------------------


@router.get("/transfers/{listing_id}/purchase-quote", summary="What buying a part costs today")
def purchase_quote(
    listing_id: ListingId,
    ctx: Investor,
    session: DbSession,
    principal: Annotated[
        str | None, Query(description="Yuan of principal; omitted: all that remains")
    ] = None,
) -> PurchaseQuoteOut:
    """Nothing is stored. Refusals: `invalid_amount`, `transfer_listing_not_found`,
    `transfer_listing_not_open`, `transfer_amount_invalid`, `transfer_exceeds_remaining`,
    the loan's `transfer_loan_*` / `transfer_due_date_today` / `transfer_installment_paid_ahead`."""
    price, xirr = transfers.purchase_quote(session, listing_id, _principal(principal))
    return PurchaseQuoteOut.of(listing_id, price, xirr)


@router.post(
    "/transfers/{listing_id}/buy",
    status_code=status.HTTP_201_CREATED,
    response_model=PurchaseResult,
    summary="Buy (购买债权) all or part of a transfer listing",
)
def buy(
    *,
    listing_id: ListingId,
    body: BuyRequest,
    ctx: Investor,
    session: DbSession,
    custodian: AppCustodian,
    idem: IdempotencyKey,
) -> JSONResponse:
    """At today's price: my money goes straight to the seller's sub-account, the seller's fee
    to the platform; the claim becomes mine at once and the next installment's whole share
    comes to me (R41). Refusals: `invalid_amount`, `transfer_listing_not_found`,
    `transfer_listing_not_open`, `transfer_own_listing`, `own_loan`, `real_name_required`,
    `custody_account_required`, `transfer_amount_invalid` (below the minimum bid or off the
    step, unless all that remains), `transfer_exceeds_remaining`, the loan's `transfer_loan_*`,
    `risk_assessment_required`, `risk_assessment_expired`, `risk_class_not_suitable`,
    `risk_tier_cap_exceeded`, `insufficient_funds`, `custodian_refused`, `idempotency_key_reused`."""
    request = scoped(idem, f"transfer:{listing_id}")
    replay = request.replay(session, user_id=ctx.user_id, operation="transfer.buy")
    if replay is not None:
        return replay
    sale = transfers.buy(
        session,
        buyer_id=ctx.user_id,
        listing_id=listing_id,
        principal=body.principal_fen,
        custodian=custodian,
    )
    loan = marketplace.get_loan(session, sale.loan_id)
    xirr = transfers.sale_xirr(session, sale)
    payload = PurchaseResult(
        **SaleOut.of(sale, loan.title, "buyer").model_dump(),
        buyer_xirr=None if xirr is None else format(xirr, "f"),
    )
    return request.respond(
        session, user_id=ctx.user_id, operation="transfer.buy", payload=payload, status=201
    )


# --- investors: selling ------------------------------------------------------------------------


@router.get(
    "/me/holdings/{holding_id}/transfer-quote",
    summary="Quote a transfer (转让报价) of one of my holdings today: nothing is stored",
)
def transfer_quote(
    holding_id: HoldingId,
    ctx: Investor,
    session: DbSession,
    principal: Annotated[
        str | None, Query(description="Yuan of principal; omitted: the whole holding")
    ] = None,
    discount_rate: Annotated[str, Query(description="0 to 0.05, at most 4 decimals")] = "0",
) -> TransferQuoteOut:
    """V = principal + interest accrued to today (rd(Z × D1 / D2)), price = V × (1 − d), the
    fee (0.5 % of the price, 0 once held more than 90 days) and the buyer's yield. Refusals:
    `holding_not_found`, `invalid_amount`, `transfer_discount_out_of_range`,
    `transfer_amount_invalid`, and R38's: `transfer_holding_too_recent`,
    `transfer_loan_not_in_repayment`, `transfer_loan_overdue`, `transfer_loan_in_collections`,
    `transfer_loan_compensated`, `transfer_loan_written_off`, `transfer_due_date_today`,
    `transfer_due_date_too_close`, `transfer_final_period`, `transfer_installment_paid_ahead`."""
    rate = transfers.parse_discount(discount_rate)
    quote = transfers.quote(
        session,
        seller_id=ctx.user_id,
        holding_id=holding_id,
        principal=_principal(principal),
        discount_rate=rate,
    )
    return TransferQuoteOut.of(quote)


@router.post(
    "/me/transfers",
    status_code=status.HTTP_201_CREATED,
    summary="List a holding for transfer (挂牌转让), whole or a part",
)
def list_for_sale(body: TransferRequest, ctx: Investor, session: DbSession) -> MyListingOut:
    """Open for the listing days (3 [D]); cancelled by any payment on the loan, a prepayment or
    an overdue (R40). Refusals: as the quote, plus `transfer_already_listed`."""
    listing = transfers.list_for_sale(
        session,
        seller_id=ctx.user_id,
        holding_id=body.holding_id,
        principal=body.principal_fen,
        discount_rate=transfers.parse_discount(body.discount_rate),
    )
    return MyListingOut.mine(transfers.view(session, listing))


@router.post("/me/transfers/{listing_id}/cancel", summary="Withdraw my transfer listing (撤销转让)")
def cancel(listing_id: ListingId, ctx: Investor, session: DbSession) -> MyListingOut:
    """What is unsold is withdrawn; parts already sold stay sold. Refusals:
    `transfer_listing_not_found` (not mine), `transfer_listing_not_open`."""
    listing = transfers.cancel_listing(session, seller_id=ctx.user_id, listing_id=listing_id)
    return MyListingOut.mine(transfers.view(session, listing))


@router.get("/me/transfers", summary="My transfers (我的转让): listed, sold and bought")
def my_transfers(ctx: Investor, session: DbSession) -> MyTransfersOut:
    mine = transfers.listings_of(session, seller_id=ctx.user_id)
    sold = transfers.sales_by(session, ctx.user_id)
    bought = transfers.purchases_of(session, ctx.user_id)
    titles = _titles(session, {s.loan_id for s in (*sold, *bought)})
    return MyTransfersOut(
        listings=[MyListingOut.mine(transfers.view(session, listing)) for listing in mine],
        sold=[SaleOut.of(s, titles[s.loan_id], "seller") for s in sold],
        bought=[SaleOut.of(s, titles[s.loan_id], "buyer") for s in bought],
    )


# --- staff ---------------------------------------------------------------------------------------


@router.get("/staff/transfers", summary="Transfer listings (债权转让) with their sales", tags=["staff"])
def staff_transfers(
    ctx: Reader,
    session: DbSession,
    status: Annotated[ListingStatus | None, Query(description="Only this status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[StaffListingOut]:
    rows = transfers.listings_of(session, status=status, limit=limit)
    return [StaffListingOut.staff(transfers.view(session, listing)) for listing in rows]


@router.post(
    "/staff/transfers/expire",
    summary="Close stale transfer listings now (expired, or of overdue loans)",
    tags=["staff"],
)
def staff_expire(ctx: Expirer, session: DbSession) -> dict[str, int]:
    """What the batch's `transfers` step and `p2plend transfers expire` do (R40)."""
    closed = transfers.close_stale_listings(session, clock.today())
    return {"expired": closed.expired, "cancelled": closed.cancelled}
