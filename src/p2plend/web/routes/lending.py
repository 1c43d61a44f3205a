"""Lending pages: 投资 (the market, a listing's 信息披露 and its bid form), 我的投标, 我的借款
(schedule, 还款, 提前还款 with a quote step) and the staff's 标的管理 (发布, 撤标, 满标复审 → 放款, 流标).

Thin callers of ``marketplace.service`` and ``servicing.service``. Each money-moving form
carries a one-time ``request_key`` (an idempotency key): a double click or a resent form acts
once and shows the first result. A refusal is shown next to its field, in the reader's language,
and changes nothing (``forms.acting``).
"""

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession, require_one_of
from p2plend.api.routers import eod as eod_api
from p2plend.autobid import service as autobid
from p2plend.errors import DomainError
from p2plend.guarantee import service as guarantee
from p2plend.idempotency import service as idempotency
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext, Permission
from p2plend.jobs import eod
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import LoanNotFound
from p2plend.marketplace.models import Loan
from p2plend.money import fen_times_rate, format_cny, parse_amount
from p2plend.schedules.service import PartialPrepaymentChoice
from p2plend.servicing import end_of_day
from p2plend.servicing import service as servicing
from p2plend.servicing.errors import InvalidRepayment, NothingDue
from p2plend.web.auth import ActingUser, CurrentUser, OptionalUser, StaffUser
from p2plend.web.custodian import custodian_of
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import Locale, label_translator, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)
LoanId = Annotated[int, Path(ge=1, le=MAX_ID)]
Text = Annotated[str, Form(max_length=200)]
MARKET_PAGE = 12
STAFF_PAGE = 50
LOAN_STATES = ("pending", "open", "funded", "disbursed", "settled", "failed", "withdrawn")

NOTICES = frozenset(
    {
        "lending.bid.done",
        "lending.repay.done",
        "lending.early.done",
        "staff.loans.opened",
        "staff.loans.withdrawn",
        "staff.loans.disbursed",
    }
)
# Which field of the lending forms a refusal is about (others are shown above the form).
BID_FIELDS = {
    "bid_below_minimum": "amount",
    "bid_not_in_steps": "amount",
    "bid_exceeds_remaining": "amount",
    "bid_cap_exceeded": "amount",
    "risk_tier_cap_exceeded": "amount",
}
REPAY_FIELDS = {"repayment_exceeds_due": "amount", "invalid_repayment": "amount"}
EARLY_FIELDS = {
    "invalid_amount": "principal",
    "invalid_loan_terms": "principal",
    "insufficient_funds": "principal",
}

# Disclosure values that are amounts (yuan strings): shown as money.
_MONEY_KEYS = frozenset(
    {"monthly_min", "monthly_max", "platform_principal", "declared_other_debts", "amount", "appraised_value"}
)


# --- helpers -----------------------------------------------------------------------------


def _notice(request: Request) -> str | None:
    key = request.query_params.get("notice")
    return translate(locale_of(request), key) if key in NOTICES else None


def _require(user: AuthContext, permission: Permission) -> None:
    identity.require_permission(user, permission)  # else the 403 page


def percent(rate: Decimal | None) -> str:
    """A rate as people read it: ``Decimal("0.1")`` → ``"10.00%"``."""
    if rate is None:
        return "—"
    return f"{(Decimal(rate) * 100).quantize(Decimal('0.01'))}%"


def progress(loan: Loan) -> int:
    """Funded share of the amount in whole percent, rounded down (100 only when full)."""
    return loan.funded * 100 // loan.amount if loan.amount else 0


def _money_or_rate(key: str, value: str) -> str | None:
    """An amount (yuan string) as money, a loan-to-value ratio as percent; None if neither."""
    try:
        if key in _MONEY_KEYS:
            return format_cny(parse_amount(value, allow_zero=True))
        if key == "loan_to_value":
            return percent(Decimal(value))
    except (DomainError, ArithmeticError):
        return value
    return None


def _shown(locale: Locale, key: str, value: object) -> str:
    """One disclosed value as text: money as money, codes (``person``, ``declared``) in words."""
    text: str
    if value is None or value == "":
        text = "—"
    elif isinstance(value, bool):
        text = translate(locale, "common.yes" if value else "common.no")
    elif isinstance(value, str):
        words = "origination.purpose" if key == "purpose" else "lending.disclosure.value"
        text = _money_or_rate(key, value) or label_translator(locale)(words, value)
    elif isinstance(value, list):
        text = "、".join(_shown(locale, key, item) for item in value)
    else:
        text = str(value)
    return text


def disclosure_rows(locale: Locale, disclosure: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """信息披露 as ``(label, text)`` rows, or ``(label, [(label, text), …])`` for a group —
    every required field first, in DOMAIN.md §11's order (R48); the values are already masked (R47)."""
    label = label_translator(locale)
    order = [
        *marketplace.REQUIRED_DISCLOSURE,
        *sorted(k for k in disclosure if k not in marketplace.REQUIRED_DISCLOSURE),
    ]
    rows: list[tuple[str, Any]] = []
    for key in order:
        if key not in disclosure:
            continue
        value = disclosure[key]
        title = label("lending.disclosure", key)
        if isinstance(value, Mapping):
            parts = [
                (label("lending.disclosure.field", sub), _shown(locale, sub, item))
                for sub, item in value.items()
            ]
            rows.append((title, parts))
        else:
            rows.append((title, _shown(locale, key, value)))
    return rows


def _public_listing(session: Session, loan_id: int) -> Loan:
    loan = marketplace.get_loan(session, loan_id)
    if loan.opened_at is None:  # never published: not the market's
        raise LoanNotFound("No such listing.", details={"loan_id": loan_id})
    return loan


def _my_loan(session: Session, user: AuthContext, loan_id: int) -> Loan:
    loan = marketplace.get_loan(session, loan_id)
    if loan.borrower_id != user.user_id:
        raise LoanNotFound("No such loan.", details={"loan_id": loan_id})
    return loan


def _new_key() -> str:
    return secrets.token_urlsafe(18)


class _AlreadyDone(Exception):
    """The form's key was used by a request that finished first: show its result instead."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def act_once(
    session: Session, user: AuthContext, *, operation: str, key: str, signature: str, act: Callable[[], str]
) -> str:
    """Run ``act`` (which returns where to go next) once per form key: a resent form returns the
    first answer's location; the same key for another request is ``idempotency_key_reused``."""
    fingerprint = hashlib.sha256(signature.encode()).hexdigest()
    if key:
        stored = idempotency.find_replay(
            session, user_id=user.user_id, operation=operation, key=key, request_fingerprint=fingerprint
        )
        if stored is not None:
            location: str = json.loads(stored.body)["location"]
            return location
    try:
        with acting(session):
            location = act()
            if key:
                earlier = idempotency.remember(
                    session,
                    user_id=user.user_id,
                    operation=operation,
                    key=key,
                    request_fingerprint=fingerprint,
                    status=303,
                    body=json.dumps({"location": location}),
                )
                if earlier is not None:
                    raise _AlreadyDone(json.loads(earlier.body)["location"])
    except _AlreadyDone as done:
        return done.location
    return location


def _errors(request: Request, exc: DomainError, fields: dict[str, str]) -> FormErrors:
    return FormErrors.of(locale_of(request), exc, fields=fields)


# --- 投资: the market ---------------------------------------------------------------------


@router.get("/invest")
def market_page(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Listings open for bids and just funded (满标), newest first; no sign-in needed."""
    found = marketplace.loans(
        session,
        statuses=[marketplace.OPEN, marketplace.FUNDED],
        limit=MARKET_PAGE + 1,
        offset=(page - 1) * MARKET_PAGE,
    )
    context = {
        "listings": found[:MARKET_PAGE],
        "page": page,
        "has_next": len(found) > MARKET_PAGE,
        "pct": percent,
        "progress": progress,
        "cap": marketplace.investor_cap,
    }
    return render(request, "lending_listings.html", context)


def _listing_context(
    request: Request, session: Session, loan: Loan, user: AuthContext | None
) -> dict[str, Any]:
    investor = user is not None and Permission.INVEST_SELF.value in user.permissions
    mine = 0
    balances = None
    if investor and user is not None:
        balances = ledger.user_balances(session, user.user_id)
        mine = sum(
            b.amount
            for b in marketplace.bids_of_loan(session, loan.id)
            if b.investor_id == user.user_id and b.status == "frozen"
        )
    open_now = loan.status == marketplace.OPEN and loan.deadline is not None and loan.deadline > clock.now()
    return {
        "loan": loan,
        "disclosure": disclosure_rows(locale_of(request), loan.disclosure),
        "pct": percent,
        "progress": progress(loan),
        "remaining": loan.amount - loan.funded,
        "cap": marketplace.investor_cap(loan),
        "mine": mine,
        "balances": balances,
        "investor": investor,
        "open_now": open_now,
        "request_key": _new_key(),
        "form": {"amount": "", "fill_remaining": True},
        "notice": _notice(request),
    }


@router.get("/invest/bids")
def my_bids_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """我的投标: every bid with its status, and the money they hold frozen."""
    _require(user, Permission.INVEST_SELF)
    bids = marketplace.bids_of_investor(session, user.user_id)
    titles = {loan_id: marketplace.get_loan(session, loan_id).title for loan_id in {b.loan_id for b in bids}}
    held = sum(h.principal_outstanding for h in marketplace.holdings_of_holder(session, user.user_id))
    context = {
        "bids": bids,
        "titles": titles,
        "frozen_in_bids": marketplace.lending_outstanding(session, user.user_id) - held,
        "balances": ledger.user_balances(session, user.user_id),
        "notice": _notice(request),
    }
    return render(request, "lending_bids.html", context)


@router.get("/invest/{loan_id}")
def listing_page(request: Request, session: DbSession, user: OptionalUser, loan_id: LoanId) -> Response:
    """标的详情: every per-loan disclosure field (R48), masked (R47), then the bid form."""
    loan = _public_listing(session, loan_id)
    return render(request, "lending_listing.html", _listing_context(request, session, loan, user))


@router.post("/invest/{loan_id}/bid")
def bid(
    request: Request,
    session: DbSession,
    user: ActingUser,
    loan_id: LoanId,
    *,
    amount: Text = "",
    fill_remaining: Text = "",
    request_key: Text = "",
) -> Response:
    """投标: freeze the amount in my own sub-account for this listing."""
    _require(user, Permission.INVEST_SELF)
    loan = _public_listing(session, loan_id)
    fill = fill_remaining in ("1", "on", "true")

    def place() -> str:
        marketplace.place_bid(
            session,
            investor_id=user.user_id,
            loan_id=loan.id,
            amount=parse_amount(amount.strip()),
            fill_remaining=fill,
        )
        return "/invest/bids?notice=lending.bid.done"

    try:
        location = act_once(
            session,
            user,
            operation="web.bid",
            key=request_key,
            signature=f"{loan.id}|{amount.strip()}|{fill}",
            act=place,
        )
    except DomainError as exc:
        errors = _errors(request, exc, BID_FIELDS)
        session.expire_all()  # show the listing as it is now
        context = _listing_context(request, session, _public_listing(session, loan_id), user)
        context.update(
            form={"amount": amount, "fill_remaining": fill},
            errors=errors.fields,
            form_error=errors.form,
            request_key=request_key or _new_key(),
        )
        return render(request, "lending_listing.html", context, status_code=exc.status)
    return redirect(request, location)


# --- 我的借款: a borrower's loans ----------------------------------------------------------------


@router.get("/borrow/loans")
def my_loans_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    _require(user, Permission.BORROW_SELF)
    loans = marketplace.loans(session, borrower_id=user.user_id, limit=100)
    due = {
        loan.id: servicing.amount_due(session, loan.id)
        for loan in loans
        if loan.status == marketplace.DISBURSED
    }
    return render(request, "lending_loans.html", {"loans": loans, "due": due, "pct": percent})


def _loan_context(request: Request, session: Session, loan: Loan) -> dict[str, Any]:
    serviced = loan.status == marketplace.DISBURSED
    due = servicing.amount_due(session, loan.id) if serviced else None
    return {
        "loan": loan,
        "rows": servicing.schedule(session, loan.id),
        "repayments": servicing.repayments_of_loan(session, loan.id),
        "due": due,
        "serviced": serviced,
        "overdue": bool(due and due.installments and due.installments[0].due_date < clock.today()),
        "as_of": eod.last_closed(session),  # the loan's overdue position is the last batch's
        "balances": ledger.user_balances(session, loan.borrower_id),
        "pct": percent,
        "request_key": _new_key(),
        "form": {"amount": ""},
        "notice": _notice(request),
    }


@router.get("/borrow/loans/{loan_id}")
def my_loan_page(request: Request, session: DbSession, user: CurrentUser, loan_id: LoanId) -> Response:
    """还款计划 with what is paid, the amount due now, the 还款 form and the way to 提前还款."""
    _require(user, Permission.BORROW_SELF)
    loan = _my_loan(session, user, loan_id)
    return render(request, "lending_loan.html", _loan_context(request, session, loan))


@router.post("/borrow/loans/{loan_id}/repay")
def repay(
    request: Request,
    session: DbSession,
    user: ActingUser,
    loan_id: LoanId,
    *,
    amount: Text = "",
    request_key: Text = "",
) -> Response:
    """还款: everything due now (amount left blank), or part of it."""
    _require(user, Permission.BORROW_SELF)
    loan = _my_loan(session, user, loan_id)

    def pay() -> str:
        fen = parse_amount(amount.strip()) if amount.strip() else None
        servicing.repay(session, loan.id, payer_id=user.user_id, custodian=custodian_of(request), amount=fen)
        return f"/borrow/loans/{loan.id}?notice=lending.repay.done"

    try:
        location = act_once(
            session,
            user,
            operation="web.repay",
            key=request_key,
            signature=f"{loan.id}|{amount.strip()}",
            act=pay,
        )
    except DomainError as exc:
        errors = _errors(request, exc, REPAY_FIELDS)
        session.expire_all()
        context = _loan_context(request, session, _my_loan(session, user, loan_id))
        context.update(
            form={"amount": amount},
            errors=errors.fields,
            form_error=errors.form,
            request_key=request_key or _new_key(),
        )
        return render(request, "lending_loan.html", context, status_code=exc.status)
    return redirect(request, location)


def _choice(raw: str) -> PartialPrepaymentChoice:
    try:
        return PartialPrepaymentChoice(raw)
    except ValueError:
        return PartialPrepaymentChoice.LOWER_INSTALLMENT


def _early_context(
    request: Request, session: Session, loan: Loan, principal: str, choice: str
) -> dict[str, Any]:
    return {
        "loan": loan,
        "quote": None,
        "choices": [c.value for c in PartialPrepaymentChoice],
        "form": {"principal": principal, "choice": _choice(choice).value},
        "balances": ledger.user_balances(session, loan.borrower_id),
        "request_key": _new_key(),
        "pct": percent,
    }


def _quote(session: Session, loan: Loan, principal: str, choice: str) -> servicing.EarlyRepayment:
    if loan.status == marketplace.SETTLED:
        raise NothingDue("This loan is repaid.")
    if loan.status != marketplace.DISBURSED:
        raise InvalidRepayment("This loan has not been disbursed.", details={"status": loan.status})
    fen = parse_amount(principal.strip()) if principal.strip() else None
    return servicing.early_repayment_quote(session, loan.id, principal=fen, choice=_choice(choice))


@router.get("/borrow/loans/{loan_id}/early")
def early_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    loan_id: LoanId,
    *,
    principal: Annotated[str, Query(max_length=32)] = "",
    choice: Annotated[str, Query(max_length=32)] = "",
    quote: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    """提前还款, step 1: what would it take today (principal blank = all of it)? Step 2 confirms."""
    _require(user, Permission.BORROW_SELF)
    loan = _my_loan(session, user, loan_id)
    context = _early_context(request, session, loan, principal, choice)
    if not quote:
        return render(request, "lending_early.html", context)
    try:
        context["quote"] = _quote(session, loan, principal, choice)
    except DomainError as exc:
        errors = _errors(request, exc, EARLY_FIELDS)
        context.update(errors=errors.fields, form_error=errors.form)
        return render(request, "lending_early.html", context, status_code=exc.status)
    return render(request, "lending_early.html", context)


@router.post("/borrow/loans/{loan_id}/early")
def early_repay(
    request: Request,
    session: DbSession,
    user: ActingUser,
    loan_id: LoanId,
    *,
    principal: Text = "",
    choice: Text = "",
    request_key: Text = "",
) -> Response:
    """提前还款, step 2: pay what the quote said (recomputed now: the same day gives the same)."""
    _require(user, Permission.BORROW_SELF)
    loan = _my_loan(session, user, loan_id)

    def pay() -> str:
        _quote(session, loan, principal, choice)  # the quote's refusals, before anything moves
        fen = parse_amount(principal.strip()) if principal.strip() else None
        servicing.repay_early(
            session,
            loan.id,
            payer_id=user.user_id,
            custodian=custodian_of(request),
            principal=fen,
            choice=_choice(choice),
        )
        return f"/borrow/loans/{loan.id}?notice=lending.early.done"

    try:
        location = act_once(
            session,
            user,
            operation="web.repay_early",
            key=request_key,
            signature=f"{loan.id}|{principal.strip()}|{_choice(choice).value}",
            act=pay,
        )
    except DomainError as exc:
        errors = _errors(request, exc, EARLY_FIELDS)
        session.expire_all()
        loan = _my_loan(session, user, loan_id)
        context = _early_context(request, session, loan, principal, choice)
        try:
            context["quote"] = _quote(session, loan, principal, choice)
        except DomainError:
            context["quote"] = None
        context.update(errors=errors.fields, form_error=errors.form)
        return render(request, "lending_early.html", context, status_code=exc.status)
    return redirect(request, location)


# --- 标的管理: staff ---------------------------------------------------------------------------


def _staff_gate(request: Request, user: AuthContext) -> Response | None:
    """Staff without an authenticator enrol first; then the listing-management permission."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require(user, Permission.STAFF_APPLICATIONS_REVIEW)
    return None


def _staff_list_context(session: Session, status: str | None, page: int) -> dict[str, Any]:
    found = marketplace.loans(
        session, statuses=[status] if status else None, limit=STAFF_PAGE + 1, offset=(page - 1) * STAFF_PAGE
    )
    return {
        "loans": found[:STAFF_PAGE],
        "status": status,
        "states": LOAN_STATES,
        "page": page,
        "has_next": len(found) > STAFF_PAGE,
        "pct": percent,
        "expired": None,
    }


@router.get("/staff/loans")
def staff_loans_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """标的管理: listings and loans by status (an unknown status lists all)."""
    gate = _staff_gate(request, user)
    if gate is not None:
        return gate
    chosen = status if status in LOAN_STATES else None
    return render(request, "staff_loans.html", _staff_list_context(session, chosen, page))


@router.post("/staff/listings/expire")
def staff_expire(request: Request, session: DbSession, user: StaffActing) -> Response:
    """流标 now: what the daily ``p2plend listings expire`` does (R8)."""
    gate = _staff_gate(request, user)
    if gate is not None:
        return gate
    failed = marketplace.fail_expired_listings(session, actor_id=user.user_id)
    context = _staff_list_context(session, None, 1)
    context["expired"] = failed
    return render(request, "staff_loans.html", context)


def _staff_loan_context(request: Request, session: Session, loan: Loan, user: AuthContext) -> dict[str, Any]:
    return {
        "loan": loan,
        "can_manage": Permission.STAFF_APPLICATIONS_REVIEW in user.permissions,
        # 逾期状况 as of the last end-of-day batch, and its history newest first.
        "as_of": eod.last_closed(session),
        "risk_days": end_of_day.risk_history(session, loan.id)[::-1],
        "bids": marketplace.bids_of_loan(session, loan.id),
        "holdings": marketplace.holdings_of_loan(session, loan.id),
        "guarantee": guarantee.loan_guarantee(session, loan.id),  # 担保 and 代偿, when guaranteed
        "disclosure": disclosure_rows(locale_of(request), loan.disclosure),
        "progress": progress(loan),
        "cap": marketplace.investor_cap(loan),
        "service_fee": fen_times_rate(loan.amount, Decimal(loan.service_fee_rate)),
        "pct": percent,
        "notice": _notice(request),
    }


@router.get("/staff/loans/{loan_id}")
def staff_loan_page(request: Request, session: DbSession, user: StaffUser, loan_id: LoanId) -> Response:
    """One loan: terms, bids, holdings, disclosure, its overdue position and history. Read by
    listing managers and by those who read the overdue dashboard (逾期管理 links here); the
    actions are shown to listing managers only."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (Permission.STAFF_APPLICATIONS_REVIEW, *eod_api.READ_PERMISSIONS))
    loan = marketplace.get_loan(session, loan_id)
    return render(request, "staff_loans_detail.html", _staff_loan_context(request, session, loan, user))


def _staff_act(
    request: Request,
    session: Session,
    user: AuthContext,
    loan_id: int,
    *,
    act: Callable[[], object],
    notice: str,
) -> Response:
    gate = _staff_gate(request, user)
    if gate is not None:
        return gate
    try:
        with acting(session):
            act()
    except DomainError as exc:
        errors = _errors(request, exc, {"invalid_input": "reason"})
        session.expire_all()
        context = _staff_loan_context(request, session, marketplace.get_loan(session, loan_id), user)
        context.update(errors=errors.fields, form_error=errors.form, notice=None)
        return render(request, "staff_loans_detail.html", context, status_code=exc.status)
    return redirect(request, f"/staff/loans/{loan_id}?notice={notice}")


@router.post("/staff/loans/{loan_id}/open")
def staff_open(request: Request, session: DbSession, user: StaffActing, loan_id: LoanId) -> Response:
    """发布: the pending listing takes bids until its deadline; the auto-bid queue bids first."""
    return _staff_act(
        request,
        session,
        user,
        loan_id,
        act=lambda: autobid.open_listing(session, loan_id, actor_id=user.user_id),
        notice="staff.loans.opened",
    )


@router.post("/staff/loans/{loan_id}/withdraw")
def staff_withdraw(
    request: Request, session: DbSession, user: StaffActing, loan_id: LoanId, reason: Text = ""
) -> Response:
    """撤标 (also the refusal at 满标复审): every frozen bid is returned in full."""
    clean = "".join(char for char in reason if ord(char) >= 0x20 and ord(char) != 0x7F)
    return _staff_act(
        request,
        session,
        user,
        loan_id,
        act=lambda: marketplace.withdraw_listing(session, loan_id, actor_id=user.user_id, reason=clean),
        notice="staff.loans.withdrawn",
    )


@router.post("/staff/loans/{loan_id}/disburse")
def staff_disburse(request: Request, session: DbSession, user: StaffActing, loan_id: LoanId) -> Response:
    """满标复审 approved → 放款: the bids go to the borrower's sub-account, the schedule is fixed."""
    return _staff_act(
        request,
        session,
        user,
        loan_id,
        act=lambda: autobid.disburse_loan(session, loan_id, custodian_of(request), actor_id=user.user_id),
        notice="staff.loans.disbursed",
    )
