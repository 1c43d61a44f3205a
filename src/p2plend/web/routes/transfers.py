"""债权转让 pages: the transfer market (list, a listing with today's price and the buyer's
yield, the buy form), the sell flow from a holding (quote → confirm), 我的转让 (listed, sold,
bought; withdraw a listing) and the staff's 债权转让 page.

Thin callers of ``transfers.service``, with the API's permissions: investors with
``invest:self``; staff reading with ``staff:risk:manage``, ``staff:reports:read`` or
``staff:applications:review``, closing stale listings with ``staff:applications:review``.
The buy form carries a one-time ``request_key``: a double click buys once. A refusal is
shown next to its field in the reader's language and changes nothing.
"""

import secrets
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession, require_one_of
from p2plend.api.routers.transfers import EXPIRE_PERMISSION, READ_PERMISSIONS
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext, Permission
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.money import parse_amount
from p2plend.p2b import service as p2b
from p2plend.transfers import service as transfers
from p2plend.transfers.errors import HoldingNotFound
from p2plend.web.auth import ActingUser, CurrentUser, OptionalUser, StaffUser
from p2plend.web.custodian import custodian_of
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.lending import act_once, percent
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
ListingId = Annotated[int, Path(ge=1, le=MAX_ID)]
HoldingId = Annotated[int, Path(ge=1, le=MAX_ID)]
Text = Annotated[str, Form(max_length=200)]
MARKET_PAGE = 12
STATES = ("open", "sold", "cancelled", "expired")
NOTICES = frozenset({"transfers.bought", "transfers.listed", "transfers.cancelled"})
BUY_FIELDS = {
    "invalid_amount": "principal",
    "transfer_amount_invalid": "principal",
    "transfer_exceeds_remaining": "principal",
    "risk_tier_cap_exceeded": "principal",
    "insufficient_funds": "principal",
}
SELL_FIELDS = {
    "invalid_amount": "principal",
    "transfer_amount_invalid": "principal",
    "transfer_discount_out_of_range": "discount",
}


def _notice(request: Request) -> str | None:
    key = request.query_params.get("notice")
    return translate(locale_of(request), key) if key in NOTICES else None


def _new_key() -> str:
    return secrets.token_urlsafe(18)


def _principal(raw: str) -> int | None:
    return parse_amount(raw.strip()) if raw.strip() else None


def _discount_percent(raw: str) -> str:
    """The discount as typed in percent (``0.5``) → the rate's decimal string (``0.005``)."""
    text = raw.strip() or "0"
    try:
        rate = Decimal(text) / 100
    except InvalidOperation:
        return text  # refused by parse_discount with its own code
    return format(rate.normalize(), "f") if rate else "0"


# --- the market -------------------------------------------------------------------------------


@router.get("/transfers")
def market_page(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """债权转让: open listings, priced today, with the buyer's yield; no sign-in needed."""
    found = transfers.open_listings(session, limit=MARKET_PAGE + 1, offset=(page - 1) * MARKET_PAGE)
    context = {
        "views": [transfers.view(session, listing) for listing in found[:MARKET_PAGE]],
        "page": page,
        "has_next": len(found) > MARKET_PAGE,
        "pct": percent,
        "investor": user is not None and Permission.INVEST_SELF.value in user.permissions,
        "notice": _notice(request),
    }
    return render(request, "transfers_market.html", context)


def _listing_context(
    request: Request, session: Session, listing_id: int, user: AuthContext | None
) -> dict[str, Any]:
    view = transfers.view(session, transfers.get_listing(session, listing_id))
    investor = user is not None and Permission.INVEST_SELF.value in user.permissions
    return {
        "view": view,
        "listing": view.listing,
        "loan": view.loan,
        "pct": percent,
        "investor": investor,
        "own": user is not None and user.user_id == view.listing.seller_id,
        "balances": ledger.user_balances(session, user.user_id) if investor and user else None,
        "request_key": _new_key(),
        "form": {"principal": ""},
        "notice": _notice(request),
    }


@router.get("/transfers/mine")
def my_transfers_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """我的转让: my holdings (which can be listed today, or why not), my listings, what I sold
    and bought."""
    identity.require_permission(user, Permission.INVEST_SELF)
    sold = transfers.sales_by(session, user.user_id)
    bought = transfers.purchases_of(session, user.user_id)
    loan_ids = {s.loan_id for s in (*sold, *bought)}
    holdings = transfers.transferable_holdings(session, user.user_id)
    listings = [transfers.view(session, x) for x in transfers.listings_of(session, seller_id=user.user_id)]
    shown = loan_ids | {loan.id for _, loan, _ in holdings} | {v.loan.id for v in listings}
    context = {
        "holdings": holdings,
        "listings": listings,
        # 机构债权（P2B）: labelled with the warning wherever they appear.
        "partner_loans": p2b.partner_claim_loans(session, shown),
        "sold": sold,
        "bought": bought,
        "titles": {loan_id: marketplace.get_loan(session, loan_id).title for loan_id in loan_ids},
        "pct": percent,
        "notice": _notice(request),
    }
    return render(request, "transfers_mine.html", context)


@router.get("/transfers/{listing_id}")
def listing_page(request: Request, session: DbSession, user: OptionalUser, listing_id: ListingId) -> Response:
    """One listing: the claim, today's value, price and discount, the buyer's yield, the buy form."""
    return render(request, "transfers_listing.html", _listing_context(request, session, listing_id, user))


@router.post("/transfers/{listing_id}/buy")
def buy(
    request: Request,
    session: DbSession,
    user: ActingUser,
    listing_id: ListingId,
    *,
    principal: Text = "",
    request_key: Text = "",
) -> Response:
    """购买债权: all that remains (principal left blank) or a part, at today's price."""
    identity.require_permission(user, Permission.INVEST_SELF)
    transfers.get_listing(session, listing_id)

    def purchase() -> str:
        transfers.buy(
            session,
            buyer_id=user.user_id,
            listing_id=listing_id,
            principal=_principal(principal),
            custodian=custodian_of(request),
        )
        return "/transfers/mine?notice=transfers.bought"

    try:
        location = act_once(
            session,
            user,
            operation="web.transfer_buy",
            key=request_key,
            signature=f"{listing_id}|{principal.strip()}",
            act=purchase,
        )
    except DomainError as exc:
        errors = FormErrors.of(locale_of(request), exc, fields=BUY_FIELDS)
        session.expire_all()
        context = _listing_context(request, session, listing_id, user)
        context.update(
            form={"principal": principal},
            errors=errors.fields,
            form_error=errors.form,
            request_key=request_key or _new_key(),
        )
        return render(request, "transfers_listing.html", context, status_code=exc.status)
    return redirect(request, location)


# --- selling: quote → confirm --------------------------------------------------------------------


def _sell_context(
    session: Session, user: AuthContext, holding_id: int, principal: str, discount: str
) -> dict[str, Any]:
    holding = next(
        (h for h in marketplace.holdings_of_holder(session, user.user_id) if h.id == holding_id), None
    )
    if holding is None:
        raise HoldingNotFound("No such holding of yours.", details={"holding_id": holding_id})
    return {
        "holding": holding,
        "loan": marketplace.get_loan(session, holding.loan_id),
        "form": {"principal": principal, "discount": discount},
        "max_discount": rules_percent(),
        "pct": percent,
        "quote": None,
    }


def rules_percent() -> str:
    return f"{(transfers.rules().max_discount * 100).normalize():f}"


@router.get("/transfers/sell/{holding_id}")
def sell_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    holding_id: HoldingId,
    *,
    principal: Annotated[str, Query(max_length=32)] = "",
    discount: Annotated[str, Query(max_length=32)] = "",
    quote: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    """转让: the form; with ``quote=1`` the quote for what was typed, and the confirm button."""
    identity.require_permission(user, Permission.INVEST_SELF)
    context = _sell_context(session, user, holding_id, principal, discount)
    status = 200
    if quote:
        try:
            context["quote"] = transfers.quote(
                session,
                seller_id=user.user_id,
                holding_id=holding_id,
                principal=_principal(principal),
                discount_rate=transfers.parse_discount(_discount_percent(discount)),
            )
        except DomainError as exc:
            errors = FormErrors.of(locale_of(request), exc, fields=SELL_FIELDS)
            context.update(errors=errors.fields, form_error=errors.form)
            status = exc.status
    return render(request, "transfers_sell.html", context, status_code=status)


@router.post("/transfers/sell/{holding_id}")
def sell(
    request: Request,
    session: DbSession,
    user: ActingUser,
    holding_id: HoldingId,
    *,
    principal: Text = "",
    discount: Text = "",
) -> Response:
    """挂牌转让: list what the quote showed."""
    identity.require_permission(user, Permission.INVEST_SELF)
    try:
        with acting(session):
            transfers.list_for_sale(
                session,
                seller_id=user.user_id,
                holding_id=holding_id,
                principal=_principal(principal),
                discount_rate=transfers.parse_discount(_discount_percent(discount)),
            )
    except DomainError as exc:
        errors = FormErrors.of(locale_of(request), exc, fields=SELL_FIELDS)
        context = _sell_context(session, user, holding_id, principal, discount)
        context.update(errors=errors.fields, form_error=errors.form)
        return render(request, "transfers_sell.html", context, status_code=exc.status)
    return redirect(request, "/transfers/mine?notice=transfers.listed")


@router.post("/transfers/mine/{listing_id}/cancel")
def cancel(request: Request, session: DbSession, user: ActingUser, listing_id: ListingId) -> Response:
    """撤销转让: what is unsold is withdrawn."""
    identity.require_permission(user, Permission.INVEST_SELF)
    transfers.cancel_listing(session, seller_id=user.user_id, listing_id=listing_id)
    return redirect(request, "/transfers/mine?notice=transfers.cancelled")


# --- staff ---------------------------------------------------------------------------------------


def _staff_context(session: Session, user: AuthContext, status: str | None) -> dict[str, Any]:
    return {
        "views": [transfers.view(session, x) for x in transfers.listings_of(session, status=status)],
        "status": status or "",
        "states": STATES,
        "can_expire": EXPIRE_PERMISSION in user.permissions,
        "pct": percent,
        "closed": None,
    }


@router.get("/staff/transfers")
def staff_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """债权转让 (staff): every transfer listing, with its sales; an unknown status lists all."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, READ_PERMISSIONS)
    return render(
        request, "staff_transfers.html", _staff_context(session, user, status if status in STATES else None)
    )


@router.post("/staff/transfers/expire")
def staff_expire(request: Request, session: DbSession, user: StaffActing) -> Response:
    """Close stale transfer listings now, as the batch's ``transfers`` step does (R40)."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (EXPIRE_PERMISSION,))
    closed = transfers.close_stale_listings(session, clock.today())
    context = _staff_context(session, user, None)
    context["closed"] = closed
    return render(request, "staff_transfers.html", context)
