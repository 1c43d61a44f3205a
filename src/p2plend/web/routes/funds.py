"""充值 and 提现 through the custodian bank, and the simulated bank's own pages (demo only).

A deposit is paid on the bank's page (here ``/sim-bank/…``, labelled 模拟存管银行); the bank
then sends its signed callback and only that moves the platform's books. A withdrawal
freezes amount + fee at once (authorised by a fresh TOTP code, R10); after the request has
committed, the instruction goes to the bank and its callback settles the hold.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from p2plend.api.deps import DbSession
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import transaction
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.money import Fen, format_cny, parse_amount
from p2plend.web.auth import ActingUser, AnonymousCsrf, CurrentUser
from p2plend.web.custodian import custodian_of, simulated_bank_of
from p2plend.web.forms import FormErrors, FormText, acting
from p2plend.web.i18n import error_message, translate
from p2plend.web.render import locale_of, redirect, render, settings_of
from p2plend.web.routes.common import not_found

router = APIRouter(include_in_schema=False)


def funds_holder(user: CurrentUser) -> identity.AuthContext:
    """A customer's own money (the API's ``funds:self``): staff hold no money here."""
    identity.require_permission(user, identity.Permission.FUNDS_SELF)  # else the 403 page
    return user


def funds_acting(user: ActingUser) -> identity.AuthContext:
    """A deposit or withdrawal form: CSRF checked first (as every POST), then ``funds:self``."""
    return funds_holder(user)


FundsHolder = Annotated[identity.AuthContext, Depends(funds_holder)]
FundsActing = Annotated[identity.AuthContext, Depends(funds_acting)]


@dataclass(frozen=True, slots=True)
class FeePreview:
    amount: Fen = 0
    fee: Fen = 0
    total: Fen = 0
    error: str | None = None


def _card_id(raw: str) -> int:
    """The chosen card; anything but a number is "no such card" (the domain's words for it)."""
    return int(raw) if raw.strip().isdigit() else 0


def _funds_context(session: Session, user: identity.AuthContext) -> dict[str, Any]:
    cards = identity.list_cards(session, user.user_id)
    return {
        "cards": cards,
        "balances": ledger.user_balances(session, user.user_id),
        "ready": user.real_name_verified and bool(cards),
    }


# --- deposit ---------------------------------------------------------------------------------


@router.get("/deposit")
def deposit_page(request: Request, session: DbSession, user: FundsHolder) -> Response:
    return render(request, "deposit.html", _funds_context(session, user))


@router.get("/deposit/check")
def deposit_check(request: Request, user: FundsHolder, amount: str = "") -> Response:
    """HTMX: the amount as it will be charged, or why it is not an amount."""
    context: dict[str, Any] = {"amount": None, "error": None}
    if amount.strip():
        try:
            context["amount"] = parse_amount(amount)
        except DomainError as exc:
            context["error"] = error_message(locale_of(request), exc.code)
    return render(request, "partials/amount_check.html", context)


@router.post("/deposit")
def deposit_start(
    request: Request, session: DbSession, user: FundsActing, amount: FormText = "", card_id: FormText = ""
) -> Response:
    """Create the deposit order and send the user to the bank's payment page."""
    try:
        with acting(session):
            order = custody.start_deposit(
                session,
                user.user_id,
                amount=parse_amount(amount),
                card_id=_card_id(card_id),
                custodian=custodian_of(request),
            )
    except DomainError as exc:
        errors = FormErrors.of(locale_of(request), exc, fields={"deposit_amount_out_of_range": "amount"})
        context = {
            **_funds_context(session, user),
            "form": {"amount": amount, "card_id": card_id},
            "errors": errors.fields,
            "form_error": errors.form,
        }
        return render(request, "deposit.html", context, status_code=exc.status)
    return redirect(request, order.payment_url)


@router.get("/deposit/{order_no}")
def deposit_result(request: Request, session: DbSession, user: FundsHolder, order_no: str) -> Response:
    """Back from the bank: the order's status (the bank's callback has credited it by now)."""
    order = custody.deposit_order(session, user.user_id, order_no)  # someone else's: 404
    return render(request, "deposit_result.html", {"order": order})


# --- withdraw --------------------------------------------------------------------------------


def _withdraw_context(request: Request, session: Session, user: identity.AuthContext) -> dict[str, Any]:
    return {**_funds_context(session, user), "fee": settings_of(request).withdrawal_fee_fen, "done": None}


@router.get("/withdraw")
def withdraw_page(request: Request, session: DbSession, user: FundsHolder) -> Response:
    return render(request, "withdraw.html", _withdraw_context(request, session, user))


@router.get("/withdraw/preview")
def withdraw_preview(request: Request, user: FundsHolder, amount: str = "") -> Response:
    """HTMX: amount + the 2.00 fee = what will be frozen."""
    fee = settings_of(request).withdrawal_fee_fen
    preview: FeePreview | None = None
    if amount.strip():
        try:
            fen = parse_amount(amount)
            preview = FeePreview(amount=fen, fee=fee, total=fen + fee)
        except DomainError as exc:
            preview = FeePreview(error=error_message(locale_of(request), exc.code))
    return render(request, "partials/fee_preview.html", {"preview": preview, "fee": fee})


def send_withdrawals_to_the_bank(sessions: sessionmaker[Session], custodian: Custodian) -> None:
    """After the request committed: instruct the bank, commit, then take its callbacks."""
    with transaction(sessions) as session:
        custody.submit_pending_withdrawals(session, custodian)
    if isinstance(custodian, SimulatedBank):
        custodian.deliver_pending()


@router.post("/withdraw")
def withdraw_request(
    request: Request,
    session: DbSession,
    user: FundsActing,
    background: BackgroundTasks,
    *,
    amount: FormText = "",
    card_id: FormText = "",
    totp_code: FormText = "",
) -> Response:
    """提现: amount + fee frozen now; paid out to the bound card when the bank confirms (R10, R11)."""
    locale = locale_of(request)
    try:
        with acting(session):
            order = custody.request_withdrawal(
                session,
                user.user_id,
                amount=parse_amount(amount),
                card_id=_card_id(card_id),
                totp_code=totp_code,
            )
    except DomainError as exc:
        errors = FormErrors.of(locale, exc)
        context = {
            **_withdraw_context(request, session, user),
            "form": {"amount": amount, "card_id": card_id},
            "errors": errors.fields,
            "form_error": errors.form,
        }
        return render(request, "withdraw.html", context, status_code=exc.status)
    # Background tasks run once the response is on its way, i.e. after the commit.
    background.add_task(
        send_withdrawals_to_the_bank, request.app.state.session_factory, custodian_of(request)
    )
    context = _withdraw_context(request, session, user)
    context["done"] = translate(locale, "withdraw.done", total=format_cny(order.amount + order.fee))
    return render(request, "withdraw.html", context)


# --- the simulated custodian bank (never in production) ------------------------------------------
#
# These pages stand for the bank's own web site: they use no platform session or
# transaction (the bank commits on its own books, then calls the platform back in a
# transaction of the platform's own — on SQLite, holding one here would block it).


def _bank(request: Request) -> SimulatedBank:
    bank = simulated_bank_of(request)
    if bank is None or settings_of(request).environment == "production":
        raise not_found()
    return bank


@router.get("/sim-bank")
def sim_bank_home(request: Request) -> Response:
    _bank(request)
    return render(request, "sim_bank.html", {"order": None})


@router.get("/sim-bank/deposits/{order_no}")
def sim_bank_payment_page(request: Request, order_no: str) -> Response:
    state = _bank(request).query_order(order_no)
    if state is None or state.kind != "deposit":
        raise not_found()
    return render(request, "sim_bank.html", {"order": state})


@router.post("/sim-bank/deposits/{order_no}", dependencies=[AnonymousCsrf])
def sim_bank_pay(request: Request, order_no: str) -> Response:
    """确认支付: the bank takes the money from the card, credits the sub-account, calls back."""
    bank = _bank(request)
    state = bank.query_order(order_no)
    if state is None or state.kind != "deposit":
        raise not_found()
    if state.status == "pending":
        bank.confirm_deposit_payment(order_no)
    return redirect(request, f"/deposit/{order_no}")
