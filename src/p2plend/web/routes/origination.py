"""借款申请 pages: borrowers apply and follow their applications, partners refer borrowers,
staff keep products and the LPR, review applications (审核队列), verify, decide, and keep
the blacklist. Thin callers of ``origination.service``, with the API's permissions.

Rates on these pages are typed as percentages (``7.5`` = 7.5 % a year), amounts in yuan.
"""

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession
from p2plend.errors import DomainError, PermissionDenied
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext, Permission
from p2plend.money import parse_amount, yuan_str
from p2plend.origination import service as origination
from p2plend.origination import vocabulary as words
from p2plend.schedules.service import Method
from p2plend.servicing.service import RepaymentOrder
from p2plend.web.auth import ActingUser, CurrentUser, StaffUser
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import Locale, error_message, translate
from p2plend.web.render import locale_of, redirect, render, settings_of
from p2plend.web.routes.common import not_found
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

P = Permission
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
HUNDRED = Decimal(100)
_PERCENT = re.compile(r"^(0|[1-9][0-9]{0,2})(\.[0-9]{1,4})?$")
_WHOLE = re.compile(r"^[0-9]{1,9}$")
# Page-form fields named differently from the domain's ``details.field``.
_FIELD_ALIASES = {
    "term": "term_value",
    "term_months": "term_value",
    "term_days": "term_value",
    "collateral": "collateral_type",
    "collateral.collateral_type": "collateral_type",
    "collateral.description": "collateral_description",
    "collateral.appraised_value": "appraised_value",
    "collateral.lien_status": "lien_status",
}
APPLICATION_NOTICES = frozenset(
    {"borrow.submitted", "borrow.cancelled", "borrow.resubmitted", "borrow.uploaded", "partner.referred"}
)
STAFF_NOTICES = frozenset(
    {
        "staff.app.decided",
        "staff.app.verified",
        "staff.app.entered",
        "staff.products.saved",
        "staff.lpr.saved",
    }
)


async def form_data(request: Request) -> dict[str, str]:
    """Every text field of the posted form (the big forms name fields by product grade)."""
    form = await request.form()
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


FormData = Annotated[dict[str, str], Depends(form_data)]


class BadField(Exception):
    """A field a page could not read: its name and the message key saying why."""

    def __init__(self, field: str, key: str) -> None:
        super().__init__(field)
        self.field = field
        self.key = key


def _notice(request: Request, allowed: frozenset[str]) -> str | None:
    key = request.query_params.get("notice")
    return translate(locale_of(request), key) if key in allowed else None


def _errors(locale: Locale, exc: DomainError) -> FormErrors:
    """The refusal on its field: the domain names it in ``details.field``."""
    errors = FormErrors.of(locale, exc)
    field = exc.details.get("field")
    if isinstance(field, str) and not errors.fields:
        errors.form = None
        errors.fields[_FIELD_ALIASES.get(field, field.replace(".", "_"))] = error_message(locale, exc.code)
    return errors


def _bad_field(locale: Locale, bad: BadField) -> FormErrors:
    errors = FormErrors()
    errors.add(bad.field, translate(locale, bad.key))
    return errors


def _require_any(user: AuthContext, *permissions: Permission) -> None:
    if not any(p.value in user.permissions for p in permissions):
        identity.require_permission(user, permissions[0])  # the 403 page


def _staff_ready(request: Request, user: AuthContext) -> Response | None:
    return redirect(request, "/security/2fa") if user.needs_2fa_enrollment else None


# --- reading forms -----------------------------------------------------------------------------------


def _text(form: Mapping[str, str], name: str) -> str:
    return form.get(name, "").strip()


def _yuan(
    form: Mapping[str, str], name: str, *, allow_zero: bool = False, optional: bool = False
) -> int | None:
    raw = _text(form, name)
    if not raw and optional:
        return None
    try:
        return parse_amount(raw or ("0" if allow_zero else ""), allow_zero=allow_zero)
    except DomainError:
        raise BadField(name, "error.invalid_amount") from None


def _amount(form: Mapping[str, str], name: str, *, allow_zero: bool = False) -> int:
    value = _yuan(form, name, allow_zero=allow_zero)
    assert value is not None
    return value


def _whole(form: Mapping[str, str], name: str, *, default: int | None = None) -> int:
    raw = _text(form, name)
    if not raw and default is not None:
        return default
    if not _WHOLE.match(raw):
        raise BadField(name, "origination.form.bad_number")
    return int(raw)


def _percent(form: Mapping[str, str], name: str, *, optional: bool = False) -> Decimal | None:
    """``7.5`` → ``Decimal("0.075")``."""
    raw = _text(form, name)
    if not raw and optional:
        return None
    if not _PERCENT.match(raw):
        raise BadField(name, "origination.form.bad_percent")
    return Decimal(raw) / HUNDRED


def _repayment_order(form: Mapping[str, str]) -> RepaymentOrder:
    try:
        return RepaymentOrder(_text(form, "repayment_order") or RepaymentOrder.COMPONENTS)
    except ValueError:
        raise BadField("repayment_order", "origination.form.bad_choice") from None


def _rate(form: Mapping[str, str], name: str) -> Decimal:
    value = _percent(form, name)
    assert value is not None
    return value


def percent_text(rate: Decimal | None) -> str:
    """``0.075`` → ``7.5`` (for a form field or a table)."""
    return "" if rate is None else str(origination.plain_rate(rate * HUNDRED))


def application_input(form: Mapping[str, str]) -> origination.ApplicationInput:
    """An application from the page form (``BadField`` on a field that is not a number/amount)."""
    unit = _text(form, "term_unit") or "months"
    term = _whole(form, "term_value")
    product = _text(form, "product_code")
    collateral = None
    if _text(form, "collateral_type") or _text(form, "appraised_value"):
        collateral = origination.CollateralInput(
            collateral_type=_text(form, "collateral_type"),
            description=_text(form, "collateral_description"),
            appraised_value=_amount(form, "appraised_value"),
            lien_status=_text(form, "lien_status"),
        )
    guarantor = _text(form, "guarantor_id")
    tier = _text(form, "institution_risk_tier")
    return origination.ApplicationInput(
        product_code=product,
        amount=_amount(form, "amount"),
        term_months=term if unit == "months" else None,
        term_days=term if unit == "days" else None,
        method=_text(form, "method"),
        purpose=_text(form, "purpose"),
        purpose_description=_text(form, "purpose_description"),
        monthly_income=_amount(form, "monthly_income", allow_zero=True),
        employment=_text(form, "employment"),
        employment_years=_whole(form, "employment_years", default=0),
        housing=_text(form, "housing"),
        industry=_text(form, "industry"),
        repayment_source=_text(form, "repayment_source"),
        other_debts_amount=_amount(form, "other_debts_amount", allow_zero=True),
        other_debts_count=_whole(form, "other_debts_count", default=0),
        overdues_6m=_whole(form, "overdues_6m", default=0),
        guarantor_id=_whole(form, "guarantor_id") if guarantor else None,
        collateral=collateral,
        institution_type=_text(form, "institution_type") or None,
        institution_risk_tier=_whole(form, "institution_risk_tier") if tier else None,
    )


def _application_form_context(
    session: Session, *, kinds: tuple[str, ...], product_code: str | None
) -> dict[str, Any]:
    products = [p for p in origination.list_products(session, active_only=True) if p.kind in kinds]
    selected = next((p for p in products if p.code == product_code), products[0] if products else None)
    guarantors = [
        u
        for u in identity.list_users(session, page_size=100, role="guarantor").items
        if u.kind == "organisation" and u.status == "active"
    ]
    return {
        "products": products,
        "product": selected,
        "guarantor_options": [(g.user_id, g.display_name or f"#{g.user_id}") for g in guarantors],
        "w": words,
        "percent": percent_text,
    }


def _application_form_values(product: origination.ProductView | None) -> dict[str, str]:
    if product is None:
        return {}
    terms = product.current.terms
    return {
        "product_code": product.code,
        "term_unit": "months",
        "method": terms.methods[0].value,
        "other_debts_amount": "0",
        "other_debts_count": "0",
        "overdues_6m": "0",
    }


# --- borrowers ----------------------------------------------------------------------------------------

BORROWER_KINDS = (words.CREDIT, words.MORTGAGE, words.GUARANTEED)


@router.get("/borrow/apply")
def apply_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    product: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    context = _application_form_context(session, kinds=BORROWER_KINDS, product_code=product)
    context["form"] = _application_form_values(context["product"])
    return render(request, "borrow_apply.html", context)


@router.post("/borrow/apply")
def apply_submit(request: Request, session: DbSession, user: ActingUser, form: FormData) -> Response:
    locale = locale_of(request)
    context = _application_form_context(session, kinds=BORROWER_KINDS, product_code=form.get("product_code"))
    try:
        data = application_input(form)
        if user.is_staff:
            raise PermissionDenied("Staff accounts do not borrow.")
        with acting(session):
            application = origination.apply_online(session, user.user_id, data, settings=settings_of(request))
    except BadField as bad:
        errors, status = _bad_field(locale, bad), 422
    except DomainError as exc:
        errors, status = _errors(locale, exc), exc.status
    else:
        return redirect(request, f"/borrow/applications/{application.id}?notice=borrow.submitted")
    context |= {"form": form, "errors": errors.fields, "form_error": errors.form}
    return render(request, "borrow_apply.html", context, status_code=status)


@router.get("/borrow/applications")
def my_applications(request: Request, session: DbSession, user: CurrentUser) -> Response:
    applications = origination.of_borrower(session, user.user_id)
    return render(
        request,
        "borrow_applications.html",
        {"applications": applications, "products": _product_names(session), "notice": None},
    )


def _product_names(session: Session) -> dict[int, origination.ProductView]:
    return {p.id: p for p in origination.list_products(session)}


def _borrower_detail_context(
    session: Session, application: origination.LoanApplication, user: AuthContext
) -> dict[str, Any]:
    product, version, _ = origination.version_terms(session, application.product_version_id)
    return {
        "application": application,
        "product": origination.product_view(session, product.code),
        "version": version.version,
        "documents": origination.documents_of(session, application.id),
        "is_borrower": application.borrower_id == user.user_id,
        "rejection": _borrower_reason(application.rejection_code),
        "w": words,
        "percent": percent_text,
    }


def _borrower_reason(code: str | None) -> str | None:
    if code is None:
        return None
    return "not_eligible" if code in words.CONFIDENTIAL_REASONS else code


@router.get("/borrow/applications/{application_id}")
def my_application(request: Request, session: DbSession, user: CurrentUser, application_id: Id) -> Response:
    application = origination.visible(session, application_id, user.user_id, reviewer=False)
    context = _borrower_detail_context(session, application, user)
    context["notice"] = _notice(request, APPLICATION_NOTICES)
    return render(request, "borrow_application.html", context)


def _borrower_act_failed(
    request: Request, session: Session, user: AuthContext, application_id: int, exc: DomainError
) -> Response:
    application = origination.visible(session, application_id, user.user_id, reviewer=False)
    errors = _errors(locale_of(request), exc)
    context = _borrower_detail_context(session, application, user)
    context |= {
        "errors": errors.fields,
        "form_error": errors.form or next(iter(errors.fields.values()), None),
    }
    return render(request, "borrow_application.html", context, status_code=exc.status)


@router.post("/borrow/applications/{application_id}/cancel")
def cancel_application(
    request: Request, session: DbSession, user: ActingUser, application_id: Id
) -> Response:
    try:
        with acting(session):
            origination.cancel(session, borrower_id=user.user_id, application_id=application_id)
    except DomainError as exc:
        return _borrower_act_failed(request, session, user, application_id, exc)
    return redirect(request, f"/borrow/applications/{application_id}?notice=borrow.cancelled")


@router.post("/borrow/applications/{application_id}/resubmit")
def resubmit_application(
    request: Request,
    session: DbSession,
    user: ActingUser,
    application_id: Id,
    reply: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        with acting(session):
            origination.resubmit(
                session, borrower_id=user.user_id, application_id=application_id, reply=reply
            )
    except DomainError as exc:
        return _borrower_act_failed(request, session, user, application_id, exc)
    return redirect(request, f"/borrow/applications/{application_id}?notice=borrow.resubmitted")


def _upload(
    request: Request, session: Session, user: AuthContext, *, application_id: int, file: UploadFile, kind: str
) -> None:
    settings = settings_of(request)
    with acting(session):
        origination.upload_document(
            session,
            actor_id=user.user_id,
            application_id=application_id,
            kind=kind,
            filename=file.filename or "",
            declared_type=file.content_type,
            data=file.file.read(settings.document_max_bytes + 1),
            reviewer=P.STAFF_APPLICATIONS_REVIEW.value in user.permissions,
            settings=settings,
        )


@router.post("/borrow/applications/{application_id}/documents")
def upload_document(
    *,
    request: Request,
    session: DbSession,
    user: ActingUser,
    application_id: Id,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form(max_length=32)] = "other",
) -> Response:
    try:
        _upload(request, session, user, application_id=application_id, file=file, kind=kind)
    except DomainError as exc:
        return _borrower_act_failed(request, session, user, application_id, exc)
    return redirect(request, f"/borrow/applications/{application_id}?notice=borrow.uploaded")


def _download(
    request: Request, session: Session, user: AuthContext, application_id: int, document_id: int
) -> FileResponse:
    document, path = origination.open_document(
        session,
        viewer_id=user.user_id,
        application_id=application_id,
        document_id=document_id,
        reviewer=P.STAFF_APPLICATIONS_REVIEW.value in user.permissions,
        settings=settings_of(request),
    )
    return FileResponse(
        path,
        media_type=document.content_type,
        filename=document.filename,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


@router.get("/borrow/applications/{application_id}/documents/{document_id}")
def download_document(
    request: Request, session: DbSession, user: CurrentUser, application_id: Id, document_id: Id
) -> FileResponse:
    return _download(request, session, user, application_id, document_id)


# --- partners ------------------------------------------------------------------------------------------


def _partner_context(session: Session, user: AuthContext, product_code: str | None) -> dict[str, Any]:
    context = _application_form_context(session, kinds=words.PRODUCT_KINDS, product_code=product_code)
    context |= {"referrals": origination.of_partner(session, user.user_id), "names": _product_names(session)}
    return context


@router.get("/partner/referrals")
def referrals_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    product: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    identity.require_permission(user, P.PARTNER_SELF)
    context = _partner_context(session, user, product)
    context["form"] = _application_form_values(context["product"])
    context["notice"] = _notice(request, APPLICATION_NOTICES)
    return render(request, "partner_referrals.html", context)


@router.post("/partner/referrals")
def refer(request: Request, session: DbSession, user: ActingUser, form: FormData) -> Response:
    identity.require_permission(user, P.PARTNER_SELF)
    locale = locale_of(request)
    try:
        data = application_input(form)
        with acting(session):
            origination.refer_borrower(
                session,
                partner_id=user.user_id,
                borrower_phone=_text(form, "borrower_phone"),
                data=data,
                settings=settings_of(request),
            )
    except BadField as bad:
        errors, status = _bad_field(locale, bad), 422
    except DomainError as exc:
        errors, status = _errors(locale, exc), exc.status
        if exc.code in ("user_not_found", "invalid_phone"):
            errors = FormErrors(fields={"borrower_phone": error_message(locale, exc.code)})
    else:
        return redirect(request, "/partner/referrals?notice=partner.referred")
    context = _partner_context(session, user, form.get("product_code"))
    context |= {"form": form, "errors": errors.fields, "form_error": errors.form}
    return render(request, "partner_referrals.html", context, status_code=status)


# --- staff: products and the LPR ------------------------------------------------------------------------

PRODUCT_READERS = (P.STAFF_RISK_MANAGE, P.STAFF_APPLICATIONS_REVIEW, P.STAFF_OPERATIONS_MANAGE)


def terms_form_values(terms: origination.ProductTerms) -> dict[str, str]:
    """A version's terms as the product form shows them (percentages, yuan)."""
    values = {
        "amount_min": yuan_str(terms.amount_min),
        "amount_max": yuan_str(terms.amount_max),
        "term_min_months": str(terms.term_min_months),
        "term_max_months": str(terms.term_max_months),
        "term_min_days": "" if terms.term_min_days is None else str(terms.term_min_days),
        "term_max_days": "" if terms.term_max_days is None else str(terms.term_max_days),
        "monthly_fee_rate": percent_text(terms.monthly_fee_rate),
        "investor_fee_rate": percent_text(terms.investor_fee_rate),
        "prepayment_fee_rate": percent_text(terms.prepayment_fee_rate),
        "repayment_order": terms.repayment_order.value,
        "funding_days": str(terms.funding_days),
        "min_bid": yuan_str(terms.min_bid),
        "bid_step": yuan_str(terms.bid_step),
        "max_share": percent_text(terms.max_share),
        "day_basis": str(terms.day_basis),
        "ltv_cap": percent_text(terms.ltv_cap),
        "field_verification_threshold": (
            "" if terms.field_verification_threshold is None else yuan_str(terms.field_verification_threshold)
        ),
        "four_eyes_threshold": ""
        if terms.four_eyes_threshold is None
        else yuan_str(terms.four_eyes_threshold),
        "max_age_at_maturity": str(terms.max_age_at_maturity),
    }
    if terms.day_terms_allowed:
        values["day_terms_allowed"] = "on"
    if terms.auto_reject_hr:
        values["auto_reject_hr"] = "on"
    for method in terms.methods:
        values[f"method_{method.value}"] = "on"
    for g in terms.grades:
        values[f"g_{g.grade}_rate_min"] = percent_text(g.rate_min)
        values[f"g_{g.grade}_rate_max"] = percent_text(g.rate_max)
        values[f"g_{g.grade}_fee"] = percent_text(g.service_fee_rate)
        values[f"g_{g.grade}_risk"] = g.risk_class
        values[f"g_{g.grade}_cap"] = yuan_str(g.amount_cap)
    return values


def terms_from_form(form: Mapping[str, str]) -> origination.ProductTerms:
    grades = tuple(
        origination.GradeTerms(
            grade=grade,
            rate_min=_rate(form, f"g_{grade}_rate_min"),
            rate_max=_rate(form, f"g_{grade}_rate_max"),
            service_fee_rate=_rate(form, f"g_{grade}_fee"),
            risk_class=_text(form, f"g_{grade}_risk"),
            amount_cap=_amount(form, f"g_{grade}_cap"),
        )
        for grade in words.GRADES
    )
    day_terms = form.get("day_terms_allowed") == "on"
    return origination.ProductTerms(
        amount_min=_amount(form, "amount_min"),
        amount_max=_amount(form, "amount_max"),
        term_min_months=_whole(form, "term_min_months"),
        term_max_months=_whole(form, "term_max_months"),
        methods=tuple(m for m in Method if form.get(f"method_{m.value}") == "on"),
        grades=grades,
        day_terms_allowed=day_terms,
        term_min_days=_whole(form, "term_min_days") if day_terms else None,
        term_max_days=_whole(form, "term_max_days") if day_terms else None,
        monthly_fee_rate=_rate(form, "monthly_fee_rate"),
        investor_fee_rate=_rate(form, "investor_fee_rate"),
        prepayment_fee_rate=_rate(form, "prepayment_fee_rate"),
        repayment_order=_repayment_order(form),
        funding_days=_whole(form, "funding_days"),
        min_bid=_amount(form, "min_bid"),
        bid_step=_amount(form, "bid_step"),
        max_share=_rate(form, "max_share"),
        day_basis=_whole(form, "day_basis"),
        ltv_cap=_percent(form, "ltv_cap", optional=True),
        field_verification_threshold=_yuan(
            form, "field_verification_threshold", allow_zero=True, optional=True
        ),
        four_eyes_threshold=_yuan(form, "four_eyes_threshold", allow_zero=True, optional=True),
        max_age_at_maturity=_whole(form, "max_age_at_maturity"),
        auto_reject_hr=form.get("auto_reject_hr") == "on",
    )


def _terms_errors(locale: Locale, exc: DomainError) -> FormErrors:
    """Product refusals: grade fields are ``grades.B.rate_min`` in the domain, ``g_B_rate_min`` here."""
    field = exc.details.get("field")
    grade = exc.details.get("grade")
    errors = FormErrors()
    message = error_message(locale, exc.code)
    if isinstance(field, str) and field.startswith("grades."):
        _, name, part = [*field.split("."), "", ""][:3]
        suffix = {"service_fee_rate": "fee", "risk_class": "risk", "amount_cap": "cap"}.get(part, part)
        errors.add(f"g_{name}_{suffix}" if part else f"g_{words.GRADES[0]}_rate_min", message)
    elif isinstance(field, str):
        errors.add(field, message)
    elif isinstance(grade, str):
        errors.add(f"g_{grade}_rate_max", message)
        errors.form = message
    else:
        errors.form = message
    return errors


def _products_context(session: Session, user: AuthContext) -> dict[str, Any]:
    products = origination.list_products(session)
    return {
        "products": products,
        "can_manage": P.STAFF_RISK_MANAGE.value in user.permissions,
        "w": words,
        "percent": percent_text,
        "methods": list(Method),
    }


@router.get("/staff/products")
def staff_products(request: Request, session: DbSession, user: StaffUser) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    _require_any(user, *PRODUCT_READERS)
    context = _products_context(session, user)
    template = context["products"][0].current.terms if context["products"] else None
    context["form"] = {} if template is None else terms_form_values(template) | {"kind": words.CREDIT}
    context["notice"] = _notice(request, STAFF_NOTICES)
    return render(request, "staff_products.html", context)


@router.post("/staff/products")
def staff_create_product(request: Request, session: DbSession, user: StaffActing, form: FormData) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    locale = locale_of(request)
    try:
        terms = terms_from_form(form)
        with acting(session):
            product = origination.create_product(
                session,
                actor_id=user.user_id,
                code=_text(form, "code"),
                kind=_text(form, "kind"),
                name_zh=_text(form, "name_zh"),
                name_en=_text(form, "name_en"),
                terms=terms,
                note=_text(form, "note"),
            )
    except BadField as bad:
        errors, status = _bad_field(locale, bad), 422
    except DomainError as exc:
        errors, status = _terms_errors(locale, exc), exc.status
        if exc.code == "product_code_taken":
            errors = FormErrors(fields={"code": error_message(locale, exc.code)})
    else:
        return redirect(request, f"/staff/products/{product.code}?notice=staff.products.saved")
    context = _products_context(session, user) | {
        "form": form,
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "staff_products.html", context, status_code=status)


def _product_context(session: Session, user: AuthContext, code: str) -> dict[str, Any]:
    try:
        product = origination.product_view(session, code, with_history=True)
    except DomainError:
        raise not_found() from None
    return {
        "product": product,
        "can_manage": P.STAFF_RISK_MANAGE.value in user.permissions,
        "w": words,
        "percent": percent_text,
        "methods": list(Method),
    }


@router.get("/staff/products/{code}")
def staff_product(
    request: Request, session: DbSession, user: StaffUser, code: Annotated[str, Path(max_length=32)]
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    _require_any(user, *PRODUCT_READERS)
    context = _product_context(session, user, code)
    context["form"] = terms_form_values(context["product"].current.terms)
    context["notice"] = _notice(request, STAFF_NOTICES)
    return render(request, "staff_product.html", context)


@router.post("/staff/products/{code}/versions")
def staff_new_version(
    request: Request,
    session: DbSession,
    user: StaffActing,
    form: FormData,
    code: Annotated[str, Path(max_length=32)],
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    locale = locale_of(request)
    context = _product_context(session, user, code)
    try:
        terms = terms_from_form(form)
        with acting(session):
            origination.add_version(
                session, actor_id=user.user_id, code=code, terms=terms, note=_text(form, "note")
            )
    except BadField as bad:
        errors, status = _bad_field(locale, bad), 422
    except DomainError as exc:
        errors, status = _terms_errors(locale, exc), exc.status
    else:
        return redirect(request, f"/staff/products/{code}?notice=staff.products.saved")
    context |= {"form": form, "errors": errors.fields, "form_error": errors.form}
    return render(request, "staff_product.html", context, status_code=status)


def _lpr_context(session: Session, user: AuthContext) -> dict[str, Any]:
    return {
        "history": origination.lpr_history(session),
        "current": origination.lpr_on(session, clock.today()),
        "can_add": any(p.value in user.permissions for p in (P.STAFF_RISK_MANAGE, P.STAFF_OPERATIONS_MANAGE)),
        "percent": percent_text,
    }


@router.get("/staff/lpr")
def staff_lpr(request: Request, session: DbSession, user: StaffUser) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    _require_any(user, *PRODUCT_READERS)
    context = _lpr_context(session, user) | {"notice": _notice(request, STAFF_NOTICES)}
    context["form"] = {"effective_date": clock.today().isoformat()}
    return render(request, "staff_lpr.html", context)


@router.post("/staff/lpr")
def staff_add_lpr(
    request: Request,
    session: DbSession,
    user: StaffActing,
    effective_date: Annotated[str, Form(max_length=32)] = "",
    rate: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    _require_any(user, P.STAFF_RISK_MANAGE, P.STAFF_OPERATIONS_MANAGE)
    locale = locale_of(request)
    errors = FormErrors()
    status = 422
    try:
        day = date.fromisoformat(effective_date.strip())
    except ValueError:
        errors.add("effective_date", translate(locale, "origination.form.bad_date"))
    try:
        percent = _rate({"rate": rate}, "rate")
    except BadField as bad:
        errors.add("rate", translate(locale, bad.key))
    if not errors:
        try:
            with acting(session):
                origination.add_lpr(session, actor_id=user.user_id, effective_date=day, rate=percent)
        except DomainError as exc:
            field = "effective_date" if exc.code == "lpr_date_taken" else "rate"
            errors.add(field, error_message(locale, exc.code))
            status = exc.status
        else:
            return redirect(request, "/staff/lpr?notice=staff.lpr.saved")
    context = _lpr_context(session, user) | {
        "form": {"effective_date": effective_date, "rate": rate},
        "errors": errors.fields,
    }
    return render(request, "staff_lpr.html", context, status_code=status)


# --- staff: applications ------------------------------------------------------------------------------

QUEUE_PAGE = 50


@router.get("/staff/applications")
def staff_queue(
    request: Request,
    session: DbSession,
    user: StaffUser,
    status: Annotated[str, Query(max_length=32)] = words.UNDER_REVIEW,
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_APPLICATIONS_REVIEW)
    chosen = status if status in words.STATUSES else ""
    rows = origination.for_review(session, statuses=[chosen] if chosen else None, limit=QUEUE_PAGE)
    return render(
        request,
        "staff_applications.html",
        {"applications": rows, "status": chosen, "w": words, "names": _product_names(session)},
    )


def _staff_detail_context(session: Session, user: AuthContext, application_id: int) -> dict[str, Any]:
    detail = origination.application_detail(session, application_id)
    application = detail.application
    default_grade = application.approved_grade or application.grade or "B"
    band = detail.version.terms.for_grade(default_grade)
    return {
        "d": detail,
        "a": application,
        "w": words,
        "percent": percent_text,
        "me": user.user_id,
        "today": clock.today().isoformat(),
        "form": {
            "grade": default_grade,
            "annual_rate": percent_text(band.rate_min),
            "verified_on": clock.today(),
        },
    }


@router.get("/staff/applications/new")
def staff_offline_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    product: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    _require_any(user, P.STAFF_APPLICATIONS_REVIEW, P.STAFF_OPERATIONS_MANAGE)
    context = _application_form_context(session, kinds=BORROWER_KINDS, product_code=product)
    context["form"] = _application_form_values(context["product"])
    return render(request, "staff_application_new.html", context)


@router.post("/staff/applications/new")
def staff_offline_submit(request: Request, session: DbSession, user: StaffActing, form: FormData) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    _require_any(user, P.STAFF_APPLICATIONS_REVIEW, P.STAFF_OPERATIONS_MANAGE)
    locale = locale_of(request)
    try:
        data = application_input(form)
        borrower_id = _whole(form, "borrower_id")
        with acting(session):
            application = origination.enter_offline(
                session,
                officer_id=user.user_id,
                borrower_id=borrower_id,
                branch_code=_text(form, "branch_code"),
                data=data,
                settings=settings_of(request),
            )
    except BadField as bad:
        errors, status = _bad_field(locale, bad), 422
    except DomainError as exc:
        errors, status = _errors(locale, exc), exc.status
        if exc.code in ("user_not_found", "real_name_required", "custody_account_required"):
            errors = FormErrors(fields={"borrower_id": error_message(locale, exc.code)})
    else:
        if P.STAFF_APPLICATIONS_REVIEW.value in user.permissions:
            return redirect(request, f"/staff/applications/{application.id}?notice=staff.app.entered")
        return redirect(request, "/staff/applications/new?notice=staff.app.entered")
    context = _application_form_context(session, kinds=BORROWER_KINDS, product_code=form.get("product_code"))
    context |= {"form": form, "errors": errors.fields, "form_error": errors.form}
    return render(request, "staff_application_new.html", context, status_code=status)


@router.get("/staff/applications/{application_id}")
def staff_application(request: Request, session: DbSession, user: StaffUser, application_id: Id) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_APPLICATIONS_REVIEW)
    context = _staff_detail_context(session, user, application_id)
    context["notice"] = _notice(request, STAFF_NOTICES)
    return render(request, "staff_application.html", context)


def _staff_act_failed(
    request: Request,
    session: Session,
    user: AuthContext,
    application_id: int,
    *,
    errors: FormErrors,
    status: int,
    form: Mapping[str, Any],
) -> Response:
    context = _staff_detail_context(session, user, application_id)
    context["form"] = {**context["form"], **form}
    context |= {
        "errors": errors.fields,
        "form_error": errors.form or next(iter(errors.fields.values()), None),
    }
    return render(request, "staff_application.html", context, status_code=status)


@router.post("/staff/applications/{application_id}/decisions")
def staff_decide(
    request: Request, session: DbSession, user: StaffActing, form: FormData, application_id: Id
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_APPLICATIONS_REVIEW)
    locale = locale_of(request)
    action = _text(form, "action")
    try:
        rate = _percent(form, "annual_rate", optional=True) if action == words.APPROVE else None
        decision = origination.Decision(
            action=action,
            grade=_text(form, "grade") or None,
            annual_rate=rate,
            reason_code=_text(form, "reason_code") or None,
            note=_text(form, "note"),
            message=_text(form, "message"),
        )
        with acting(session):
            origination.decide(
                session,
                officer_id=user.user_id,
                application_id=application_id,
                decision=decision,
                settings=settings_of(request),
            )
    except BadField as bad:
        return _staff_act_failed(
            request, session, user, application_id, errors=_bad_field(locale, bad), status=422, form=form
        )
    except DomainError as exc:
        errors = _errors(locale, exc)
        return _staff_act_failed(
            request, session, user, application_id, errors=errors, status=exc.status, form=form
        )
    return redirect(request, f"/staff/applications/{application_id}?notice=staff.app.decided")


@router.post("/staff/applications/{application_id}/field-verifications")
def staff_verify(
    request: Request, session: DbSession, user: StaffActing, form: FormData, application_id: Id
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_APPLICATIONS_REVIEW)
    locale = locale_of(request)
    try:
        try:
            verified_on = date.fromisoformat(_text(form, "verified_on"))
        except ValueError:
            raise BadField("verified_on", "origination.form.bad_date") from None
        with acting(session):
            origination.record_field_verification(
                session,
                officer_id=user.user_id,
                application_id=application_id,
                kind=_text(form, "fv_kind"),
                verified_on=verified_on,
                result=_text(form, "result"),
                notes=_text(form, "notes"),
            )
    except BadField as bad:
        return _staff_act_failed(
            request, session, user, application_id, errors=_bad_field(locale, bad), status=422, form=form
        )
    except DomainError as exc:
        errors = _errors(locale, exc)
        if "kind" in errors.fields:
            errors.fields["fv_kind"] = errors.fields.pop("kind")
        return _staff_act_failed(
            request, session, user, application_id, errors=errors, status=exc.status, form=form
        )
    return redirect(request, f"/staff/applications/{application_id}?notice=staff.app.verified")


@router.post("/staff/applications/{application_id}/documents")
def staff_upload(
    *,
    request: Request,
    session: DbSession,
    user: StaffActing,
    application_id: Id,
    file: Annotated[UploadFile, File()],
    kind: Annotated[str, Form(max_length=32)] = "other",
) -> Response:
    identity.require_permission(user, P.STAFF_APPLICATIONS_REVIEW)
    try:
        _upload(request, session, user, application_id=application_id, file=file, kind=kind)
    except DomainError as exc:
        errors = _errors(locale_of(request), exc)
        return _staff_act_failed(
            request, session, user, application_id, errors=errors, status=exc.status, form={}
        )
    return redirect(request, f"/staff/applications/{application_id}")


@router.get("/staff/applications/{application_id}/documents/{document_id}")
def staff_download(
    request: Request, session: DbSession, user: StaffUser, application_id: Id, document_id: Id
) -> FileResponse:
    identity.require_permission(user, P.STAFF_APPLICATIONS_REVIEW)
    return _download(request, session, user, application_id, document_id)


# --- staff: blacklist -----------------------------------------------------------------------------------


def _blacklist_context(session: Session) -> dict[str, Any]:
    return {"entries": origination.blacklist_entries(session, include_removed=True), "w": words}


@router.get("/staff/blacklist")
def staff_blacklist(request: Request, session: DbSession, user: StaffUser) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    return render(
        request, "staff_blacklist.html", _blacklist_context(session) | {"form": {"kind": "blacklist"}}
    )


@router.post("/staff/blacklist")
def staff_blacklist_add(
    request: Request,
    session: DbSession,
    user: StaffActing,
    *,
    id_number: Annotated[str, Form(max_length=64)] = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    locale = locale_of(request)
    try:
        with acting(session):
            origination.add_blacklist_entry(
                session, actor_id=user.user_id, id_number=id_number, kind=kind, reason=reason
            )
    except DomainError as exc:
        errors = _errors(locale, exc)
        if exc.code in ("invalid_id_number", "already_blacklisted"):
            errors = FormErrors(fields={"id_number": error_message(locale, exc.code)})
        context = _blacklist_context(session) | {
            "form": {"kind": kind, "reason": reason},  # the ID number is not echoed back
            "errors": errors.fields,
            "form_error": errors.form,
        }
        return render(request, "staff_blacklist.html", context, status_code=exc.status)
    return redirect(request, "/staff/blacklist")


@router.post("/staff/blacklist/{entry_id}/remove")
def staff_blacklist_remove(request: Request, session: DbSession, user: StaffActing, entry_id: Id) -> Response:
    if (ready := _staff_ready(request, user)) is not None:
        return ready
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    origination.remove_blacklist_entry(session, actor_id=user.user_id, entry_id=entry_id)  # 404 page if gone
    return redirect(request, "/staff/blacklist")
