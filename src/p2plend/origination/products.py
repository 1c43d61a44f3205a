"""Loan products (借款产品) and their versioned terms.

A product's terms are immutable ``ProductVersion`` rows: every change is a new version (the
database refuses UPDATE and DELETE), and an application keeps the version id it was made
under. The current version is the highest. Each version prices every grade (AA … HR): rate
band, service fee (0–3 % of principal, DOMAIN.md §4), risk class (R1–R5) and an amount cap.

A version is refused if, at its maximum rates and fees over the shortest term it allows, a
borrower's annualised cost would exceed 4 × today's one-year LPR (R29): every contract it
allows is lawful on the day it is made. Approvals check the actual contract again.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.origination import lpr
from p2plend.origination.errors import InvalidProductTerms, ProductCodeTaken, ProductInactive, ProductNotFound
from p2plend.origination.lpr import plain
from p2plend.origination.models import Product, ProductGradeTerms, ProductVersion
from p2plend.origination.vocabulary import DEFAULT_RISK_CLASS, GRADES, MORTGAGE, PRODUCT_KINDS, RISK_CLASSES
from p2plend.schedules.service import Method
from p2plend.servicing.service import RepaymentOrder

MAX_SERVICE_FEE = Decimal("0.03")  # DOMAIN.md §4: 0–3 % of principal
MAX_MONTHLY_FEE = Decimal("0.01")
MAX_PREPAYMENT_FEE = Decimal("0.05")
MAX_RATE = Decimal(1)
MAX_TERM_MONTHS = 360
MAX_TERM_DAYS = 3650
MAX_FUNDING_DAYS = 28  # the marketplace also holds a window to 20 working days (R8)
DAY_BASES = (360, 365)
_CODE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
_RATE_PLACES = Decimal("0.000001")
_SHARE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class GradeTerms:
    """What one grade gets under a version."""

    grade: str
    rate_min: Decimal
    rate_max: Decimal
    service_fee_rate: Decimal
    risk_class: str
    amount_cap: int  # fen


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """Every term of a product version; defaults are DOMAIN.md's [D] values."""

    amount_min: int
    amount_max: int
    term_min_months: int
    term_max_months: int
    methods: tuple[Method, ...]
    grades: tuple[GradeTerms, ...]  # AA, A, B, C, D, E, HR: each exactly once
    day_terms_allowed: bool = False
    term_min_days: int | None = None
    term_max_days: int | None = None
    monthly_fee_rate: Decimal = Decimal(0)
    investor_fee_rate: Decimal = Decimal("0.10")
    prepayment_fee_rate: Decimal = Decimal(0)
    repayment_order: RepaymentOrder = RepaymentOrder.COMPONENTS  # [D] R32
    funding_days: int = 7
    min_bid: int = 10_000
    bid_step: int = 10_000
    max_share: Decimal = Decimal("0.5")
    day_basis: int = 365
    ltv_cap: Decimal | None = None
    field_verification_threshold: int | None = None
    four_eyes_threshold: int | None = None
    max_age_at_maturity: int = 60
    auto_reject_hr: bool = True

    def for_grade(self, grade: str) -> GradeTerms:
        for terms in self.grades:
            if terms.grade == grade:
                return terms
        raise KeyError(grade)


@dataclass(frozen=True, slots=True)
class VersionView:
    id: int
    version: int
    terms: ProductTerms
    note: str
    created_at: datetime
    created_by: int | None


@dataclass(frozen=True, slots=True)
class ProductView:
    id: int
    code: str
    kind: str
    name_zh: str
    name_en: str
    active: bool
    current: VersionView
    versions: tuple[VersionView, ...] = field(default=())  # newest first, when asked for

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh


def default_grades(
    rate_bands: dict[str, tuple[Decimal, Decimal]],
    *,
    service_fees: dict[str, Decimal] | None = None,
    amount_caps: dict[str, int],
) -> tuple[GradeTerms, ...]:
    """Grade terms from bands, fees and caps, with the default risk classes (DOMAIN.md §5)."""
    fees = service_fees or {}
    return tuple(
        GradeTerms(
            grade=grade,
            rate_min=rate_bands[grade][0],
            rate_max=rate_bands[grade][1],
            service_fee_rate=fees.get(grade, Decimal(0)),
            risk_class=DEFAULT_RISK_CLASS[grade],
            amount_cap=amount_caps[grade],
        )
        for grade in GRADES
    )


# --- checks -------------------------------------------------------------------------------------


def _bad(field_name: str, message: str) -> InvalidProductTerms:
    return InvalidProductTerms(message, details={"field": field_name})


def _check_rate(name: str, value: Decimal, maximum: Decimal, places: Decimal = _RATE_PLACES) -> None:
    if not Decimal(0) <= value <= maximum or value != value.quantize(places):
        decimals = len(str(places).split(".")[1])
        raise _bad(name, f"{name} is a fraction from 0 to {maximum} with at most {decimals} decimals.")


def check_terms(kind: str, terms: ProductTerms) -> None:
    """Refuse inconsistent terms, naming the field (``invalid_product_terms``)."""
    if kind not in PRODUCT_KINDS:
        raise _bad("kind", f"A product kind is one of {', '.join(PRODUCT_KINDS)}.")
    _check_amounts_and_terms(terms)
    _check_grades(terms)
    _check_fees_and_listing(terms)
    _check_kind_specific(kind, terms)


def _check_amounts_and_terms(terms: ProductTerms) -> None:
    if not 0 < terms.amount_min <= terms.amount_max:
        raise _bad("amount_min", "The minimum amount is positive and at most the maximum.")
    if not 1 <= terms.term_min_months <= terms.term_max_months <= MAX_TERM_MONTHS:
        raise _bad("term_min_months", f"Terms run 1–{MAX_TERM_MONTHS} months, minimum ≤ maximum.")
    if not terms.methods or len(set(terms.methods)) != len(terms.methods):
        raise _bad("methods", "Name each allowed repayment method once.")
    if terms.day_terms_allowed:
        if Method.BULLET not in terms.methods:
            raise _bad("day_terms_allowed", "Day-based terms are for bullet repayment only.")
        lo, hi = terms.term_min_days, terms.term_max_days
        if lo is None or hi is None or not 1 <= lo <= hi <= MAX_TERM_DAYS:
            raise _bad("term_min_days", f"Day-based terms run 1–{MAX_TERM_DAYS} days, minimum ≤ maximum.")
    elif terms.term_min_days is not None or terms.term_max_days is not None:
        raise _bad("term_min_days", "Give day-based limits only when day-based terms are allowed.")
    if not 18 < terms.max_age_at_maturity <= 100:
        raise _bad("max_age_at_maturity", "The age at maturity is above 18 and at most 100.")


def _check_grades(terms: ProductTerms) -> None:
    if sorted(g.grade for g in terms.grades) != sorted(GRADES):
        raise _bad("grades", f"Price every grade exactly once: {', '.join(GRADES)}.")
    for g in terms.grades:
        _check_rate(f"grades.{g.grade}.rate_min", g.rate_min, MAX_RATE)
        _check_rate(f"grades.{g.grade}.rate_max", g.rate_max, MAX_RATE)
        if g.rate_min > g.rate_max:
            raise _bad(f"grades.{g.grade}.rate_min", "A rate band's minimum is at most its maximum.")
        _check_rate(f"grades.{g.grade}.service_fee_rate", g.service_fee_rate, MAX_SERVICE_FEE)
        if g.risk_class not in RISK_CLASSES:
            raise _bad(f"grades.{g.grade}.risk_class", "A risk class is R1 … R5.")
        if g.amount_cap <= 0:
            raise _bad(f"grades.{g.grade}.amount_cap", "A grade's amount cap is positive.")


def _check_fees_and_listing(terms: ProductTerms) -> None:
    _check_rate("monthly_fee_rate", terms.monthly_fee_rate, MAX_MONTHLY_FEE)
    _check_rate("investor_fee_rate", terms.investor_fee_rate, Decimal(1))
    _check_rate("prepayment_fee_rate", terms.prepayment_fee_rate, MAX_PREPAYMENT_FEE)
    if not 1 <= terms.funding_days <= MAX_FUNDING_DAYS:
        raise _bad("funding_days", f"A funding window is 1–{MAX_FUNDING_DAYS} days.")
    if terms.min_bid <= 0 or terms.bid_step <= 0:
        raise _bad("min_bid", "The minimum bid and the bid step are positive amounts.")
    if terms.max_share <= 0:
        raise _bad("max_share", "The per-investor share is above 0 and at most 1 (four decimals).")
    _check_rate("max_share", terms.max_share, Decimal(1), _SHARE_PLACES)
    if terms.day_basis not in DAY_BASES:
        raise _bad("day_basis", "The day basis is 365 or 360.")
    for name in ("field_verification_threshold", "four_eyes_threshold"):
        value = getattr(terms, name)
        if value is not None and value < 0:
            raise _bad(name, "A threshold is an amount of 0 or more.")


def _check_kind_specific(kind: str, terms: ProductTerms) -> None:
    if kind != MORTGAGE:
        if terms.ltv_cap is not None:
            raise _bad("ltv_cap", "Only a mortgage product has a loan-to-value cap.")
        return
    if terms.ltv_cap is None or terms.ltv_cap <= 0:
        raise _bad("ltv_cap", "A mortgage product has a loan-to-value cap above 0 and at most 1.")
    _check_rate("ltv_cap", terms.ltv_cap, Decimal(1), _SHARE_PLACES)


def check_version_cost(session: Session, terms: ProductTerms) -> None:
    """R29 at the version's worst case: each grade's maximum rate and fees, shortest term."""
    cap, rate = lpr.legal_cap(session, clock.today())
    shortest: list[dict[str, int]] = [{"term_months": terms.term_min_months}]
    if terms.day_terms_allowed and terms.term_min_days is not None:
        shortest.append({"term_days": terms.term_min_days})
    for g in terms.grades:
        for term in shortest:
            cost = lpr.annualised_cost(
                annual_rate=g.rate_max,
                monthly_fee_rate=terms.monthly_fee_rate,
                service_fee_rate=g.service_fee_rate,
                **term,
            )
            lpr.check_legal_cap(cost, cap, rate, grade=g.grade, **term)


# --- acts ---------------------------------------------------------------------------------------


def create_product(
    session: Session,
    *,
    actor_id: int | None,
    code: str,
    kind: str,
    name_zh: str,
    name_en: str,
    terms: ProductTerms,
    note: str = "",
) -> ProductView:
    """A new product with its first version (risk staff; the console)."""
    if not _CODE.match(code):
        raise _bad("code", "A product code is 2–32 of a-z, 0-9, '-', '_', starting with a letter.")
    name_zh, name_en = name_zh.strip(), name_en.strip()
    if not 0 < len(name_zh) <= 100 or not 0 < len(name_en) <= 100:
        raise _bad("name_zh", "A product has a Chinese and an English name of 1–100 characters.")
    check_terms(kind, terms)
    check_version_cost(session, terms)
    product = Product(
        code=code,
        kind=kind,
        name_zh=name_zh,
        name_en=name_en,
        active=True,
        created_at=clock.now(),
        created_by=actor_id,
    )
    try:
        with session.begin_nested():
            session.add(product)
            session.flush()
    except IntegrityError:
        raise ProductCodeTaken("A product with this code exists.", details={"code": code}) from None
    version = _insert_version(session, product, 1, terms, note=note, actor_id=actor_id)
    audit.record(
        session,
        actor_id=actor_id,
        action="product.created",
        object_type="product",
        object_id=code,
        details={"kind": kind, "version_id": version.id},
    )
    return product_view(session, code)


def add_version(
    session: Session, *, actor_id: int | None, code: str, terms: ProductTerms, note: str = ""
) -> VersionView:
    """A new version of a product's terms; existing applications keep theirs."""
    product = session.scalars(select(Product).where(Product.code == code).with_for_update()).one_or_none()
    if product is None:
        raise ProductNotFound("No such product.", details={"code": code})
    check_terms(product.kind, terms)
    check_version_cost(session, terms)
    latest = session.scalar(
        select(func.max(ProductVersion.version)).where(ProductVersion.product_id == product.id)
    )
    version = _insert_version(session, product, int(latest or 0) + 1, terms, note=note, actor_id=actor_id)
    audit.record(
        session,
        actor_id=actor_id,
        action="product.version_added",
        object_type="product",
        object_id=code,
        details={"version": version.version, "version_id": version.id, "note": note},
    )
    return _version_view(session, version)


def _insert_version(
    session: Session, product: Product, number: int, terms: ProductTerms, *, note: str, actor_id: int | None
) -> ProductVersion:
    if len(note) > 200:
        raise _bad("note", "A note is at most 200 characters.")
    version = ProductVersion(
        product_id=product.id,
        version=number,
        amount_min=terms.amount_min,
        amount_max=terms.amount_max,
        term_min_months=terms.term_min_months,
        term_max_months=terms.term_max_months,
        day_terms_allowed=terms.day_terms_allowed,
        term_min_days=terms.term_min_days,
        term_max_days=terms.term_max_days,
        methods=[m.value for m in terms.methods],
        monthly_fee_rate=terms.monthly_fee_rate,
        investor_fee_rate=terms.investor_fee_rate,
        prepayment_fee_rate=terms.prepayment_fee_rate,
        repayment_order=terms.repayment_order.value,
        funding_days=terms.funding_days,
        min_bid=terms.min_bid,
        bid_step=terms.bid_step,
        max_share=terms.max_share,
        day_basis=terms.day_basis,
        ltv_cap=terms.ltv_cap,
        field_verification_threshold=terms.field_verification_threshold,
        four_eyes_threshold=terms.four_eyes_threshold,
        max_age_at_maturity=terms.max_age_at_maturity,
        auto_reject_hr=terms.auto_reject_hr,
        note=note,
        created_at=clock.now(),
        created_by=actor_id,
    )
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except IntegrityError:  # two new versions at once: the product row lock makes this rare
        raise InvalidProductTerms("Another version was added meanwhile; try again.") from None
    for g in terms.grades:
        session.add(
            ProductGradeTerms(
                version_id=version.id,
                grade=g.grade,
                rate_min=g.rate_min,
                rate_max=g.rate_max,
                service_fee_rate=g.service_fee_rate,
                risk_class=g.risk_class,
                amount_cap=g.amount_cap,
            )
        )
    session.flush()
    return version


# --- reading ------------------------------------------------------------------------------------


def _terms_of(session: Session, version: ProductVersion) -> ProductTerms:
    rows = session.scalars(select(ProductGradeTerms).where(ProductGradeTerms.version_id == version.id)).all()
    order = {grade: i for i, grade in enumerate(GRADES)}
    grades = tuple(
        GradeTerms(
            grade=row.grade,
            rate_min=plain(row.rate_min),
            rate_max=plain(row.rate_max),
            service_fee_rate=plain(row.service_fee_rate),
            risk_class=row.risk_class,
            amount_cap=row.amount_cap,
        )
        for row in sorted(rows, key=lambda r: order.get(r.grade, 99))
    )
    return ProductTerms(
        amount_min=version.amount_min,
        amount_max=version.amount_max,
        term_min_months=version.term_min_months,
        term_max_months=version.term_max_months,
        methods=tuple(Method(m) for m in version.methods),
        grades=grades,
        day_terms_allowed=version.day_terms_allowed,
        term_min_days=version.term_min_days,
        term_max_days=version.term_max_days,
        monthly_fee_rate=plain(version.monthly_fee_rate),
        investor_fee_rate=plain(version.investor_fee_rate),
        prepayment_fee_rate=plain(version.prepayment_fee_rate),
        repayment_order=RepaymentOrder(version.repayment_order),
        funding_days=version.funding_days,
        min_bid=version.min_bid,
        bid_step=version.bid_step,
        max_share=plain(version.max_share),
        day_basis=version.day_basis,
        ltv_cap=None if version.ltv_cap is None else plain(version.ltv_cap),
        field_verification_threshold=version.field_verification_threshold,
        four_eyes_threshold=version.four_eyes_threshold,
        max_age_at_maturity=version.max_age_at_maturity,
        auto_reject_hr=version.auto_reject_hr,
    )


def _version_view(session: Session, version: ProductVersion) -> VersionView:
    return VersionView(
        id=version.id,
        version=version.version,
        terms=_terms_of(session, version),
        note=version.note,
        created_at=version.created_at,
        created_by=version.created_by,
    )


def _product(session: Session, code: str) -> Product:
    product = session.scalars(select(Product).where(Product.code == code)).one_or_none()
    if product is None:
        raise ProductNotFound("No such product.", details={"code": code})
    return product


def _current(session: Session, product_id: int) -> ProductVersion:
    version = session.scalars(
        select(ProductVersion)
        .where(ProductVersion.product_id == product_id)
        .order_by(ProductVersion.version.desc())
        .limit(1)
    ).one()
    return version


def product_view(session: Session, code: str, *, with_history: bool = False) -> ProductView:
    product = _product(session, code)
    return _view(session, product, with_history=with_history)


def _view(session: Session, product: Product, *, with_history: bool = False) -> ProductView:
    history: tuple[VersionView, ...] = ()
    if with_history:
        rows = session.scalars(
            select(ProductVersion)
            .where(ProductVersion.product_id == product.id)
            .order_by(ProductVersion.version.desc())
        ).all()
        history = tuple(_version_view(session, row) for row in rows)
    return ProductView(
        id=product.id,
        code=product.code,
        kind=product.kind,
        name_zh=product.name_zh,
        name_en=product.name_en,
        active=product.active,
        current=history[0] if history else _version_view(session, _current(session, product.id)),
        versions=history,
    )


def list_products(session: Session, *, active_only: bool = False) -> list[ProductView]:
    query = select(Product).order_by(Product.id)
    if active_only:
        query = query.where(Product.active.is_(True))
    return [_view(session, product) for product in session.scalars(query).all()]


def version_terms(session: Session, version_id: int) -> tuple[Product, ProductVersion, ProductTerms]:
    """A version by id, its product and its terms (an application's own terms)."""
    version = session.get(ProductVersion, version_id)
    if version is None:
        raise ProductNotFound("No such product version.", details={"version_id": version_id})
    product = session.get(Product, version.product_id)
    assert product is not None
    return product, version, _terms_of(session, version)


def current_for_application(session: Session, code: str) -> tuple[Product, ProductVersion, ProductTerms]:
    """The active product ``code`` and its current version, for a new application."""
    product = _product(session, code)
    if not product.active:
        raise ProductInactive("This product takes no new applications.", details={"code": code})
    version = _current(session, product.id)
    return product, version, _terms_of(session, version)
