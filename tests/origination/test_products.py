"""Products, immutable versions, the LPR table and the legal cost cap (R29)."""

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.models import User
from p2plend.marketplace import service as marketplace
from p2plend.origination import service as origination
from p2plend.origination.errors import (
    CostAboveLegalCap,
    InvalidLpr,
    InvalidProductTerms,
    LprDateTaken,
    LprMissing,
    ProductCodeTaken,
    ProductNotFound,
)
from p2plend.origination.products import check_version_cost
from p2plend.schedules.service import Method
from p2plend.servicing.service import RepaymentOrder
from tests import builders

D = Decimal


def _terms(**overrides: object) -> origination.ProductTerms:
    bands = {g: (D("0.06"), D("0.08")) for g in ("AA", "A", "B", "C", "D", "E", "HR")}
    caps = dict.fromkeys(bands, 5_000_000)
    terms = origination.ProductTerms(
        amount_min=100_000,
        amount_max=5_000_000,
        term_min_months=6,
        term_max_months=24,
        methods=(Method.EQUAL_INSTALLMENT,),
        grades=origination.default_grades(bands, amount_caps=caps),
    )
    return dataclasses.replace(terms, **overrides)  # type: ignore[arg-type]


def test_the_four_default_products_are_seeded_at_version_one(session: Session) -> None:
    products = {p.code: p for p in origination.list_products(session)}
    assert {code: p.kind for code, p in products.items()} == {
        "credit": "credit",
        "mortgage": "mortgage",
        "guaranteed": "guaranteed",
        "p2b": "institution",
    }
    credit = products["credit"].current
    assert credit.version == 1
    assert (credit.terms.amount_min, credit.terms.amount_max) == (100_000, 20_000_000)  # DOMAIN.md §5
    assert (credit.terms.term_min_months, credit.terms.term_max_months) == (1, 36)
    assert credit.terms.investor_fee_rate == D("0.10") and credit.terms.max_share == D("0.5")
    assert (credit.terms.min_bid, credit.terms.bid_step, credit.terms.funding_days) == (10_000, 10_000, 7)
    risk = {g.grade: g.risk_class for g in credit.terms.grades}
    assert risk == {"AA": "R1", "A": "R2", "B": "R3", "C": "R4", "D": "R4", "E": "R5", "HR": "R5"}
    assert products["mortgage"].current.terms.ltv_cap == D("0.7")
    assert all(
        0 <= g.service_fee_rate <= D("0.03") for p in products.values() for g in p.current.terms.grades
    )


def test_r29_every_seeded_version_is_lawful_at_todays_lpr(session: Session) -> None:
    """R29: max rate + fees annualised over the shortest term ≤ 4 × 3.00 % for every grade."""
    assert origination.lpr_on(session, clock.today()) == D("0.03")
    for product in origination.list_products(session):
        check_version_cost(session, product.current.terms)


def test_lpr_on_takes_the_latest_fixing_on_or_before_the_day(session: Session) -> None:
    assert origination.lpr_on(session, date(2025, 5, 20)) == D("0.03")
    assert origination.lpr_on(session, date(2025, 5, 19)) == D("0.031")
    assert origination.lpr_on(session, date(2019, 8, 20)) == D("0.0425")
    assert len(origination.lpr_history(session)) == 13
    with pytest.raises(LprMissing):
        origination.lpr_on(session, date(2019, 8, 19))


def test_staff_add_an_lpr_fixing_once_per_date(session: Session, officer: object) -> None:
    added = origination.add_lpr(session, actor_id=None, effective_date=date(2026, 12, 22), rate=D("0.0295"))
    assert origination.lpr_on(session, date(2026, 12, 22)) == D("0.0295")
    assert origination.lpr_history(session)[0] == added
    with pytest.raises(LprDateTaken):
        origination.add_lpr(session, actor_id=None, effective_date=date(2026, 12, 22), rate=D("0.03"))
    for bad in (D(0), D("0.2"), D("-0.01"), D("0.0300001")):
        with pytest.raises(InvalidLpr):
            origination.add_lpr(session, actor_id=None, effective_date=date(2027, 1, 20), rate=bad)
    [record] = audit.list_records(session, object_type="lpr")
    assert record.details["rate"] == "0.0295"


def test_r29_annualised_cost_spreads_the_service_fee_over_the_term() -> None:
    cost = origination.annualised_cost(
        annual_rate=D("0.10"), monthly_fee_rate=D("0.003"), service_fee_rate=D("0.02"), term_months=6
    )
    assert cost == D("0.10") + D("0.036") + D("0.04")
    by_days = origination.annualised_cost(
        annual_rate=D("0.08"), monthly_fee_rate=D(0), service_fee_rate=D("0.01"), term_days=73
    )
    assert by_days == D("0.13")


def test_r29_a_version_whose_max_cost_breaks_4x_lpr_is_refused(session: Session) -> None:
    # AA at 7.5 % with a 1 % fee over one month costs 7.5 % + 12 % a year.
    grades = tuple(
        dataclasses.replace(g, service_fee_rate=D("0.01")) if g.grade == "AA" else g for g in _terms().grades
    )
    with pytest.raises(CostAboveLegalCap) as refused:
        origination.create_product(
            session,
            actor_id=None,
            code="fee-heavy",
            kind="credit",
            name_zh="高费贷",
            name_en="Fee heavy",
            terms=_terms(term_min_months=1, grades=grades),
        )
    assert refused.value.details["grade"] == "AA"
    assert refused.value.details["cap"] == "0.12"
    # The same fee over at least 6 months fits: 8 % + 2 %.
    origination.create_product(
        session,
        actor_id=None,
        code="fee-ok",
        kind="credit",
        name_zh="合规贷",
        name_en="Within the cap",
        terms=_terms(grades=grades),
    )


def test_r29_day_terms_are_checked_at_their_shortest(session: Session) -> None:
    grades = tuple(dataclasses.replace(g, service_fee_rate=D("0.005")) for g in _terms().grades)
    terms = _terms(
        methods=(Method.BULLET,), grades=grades, day_terms_allowed=True, term_min_days=7, term_max_days=90
    )
    with pytest.raises(CostAboveLegalCap) as refused:
        origination.create_product(
            session, actor_id=None, code="days", kind="credit", name_zh="短期", name_en="Short", terms=terms
        )
    assert refused.value.details["term_days"] == 7


def test_a_new_version_is_added_and_the_old_one_never_changes(session: Session) -> None:
    before = origination.product_view(session, "credit").current
    terms = dataclasses.replace(before.terms, amount_max=10_000_000, funding_days=5)
    added = origination.add_version(session, actor_id=None, code="credit", terms=terms, note="lower max")
    assert added.version == 2 and added.terms.amount_max == 10_000_000
    view = origination.product_view(session, "credit", with_history=True)
    assert [v.version for v in view.versions] == [2, 1]
    assert view.versions[1].terms == before.terms
    with pytest.raises(ProductNotFound):
        origination.add_version(session, actor_id=None, code="nope", terms=terms)


def test_the_database_refuses_to_rewrite_a_version(session: Session) -> None:
    with pytest.raises((IntegrityError, DBAPIError)), session.begin_nested():
        session.execute(text("UPDATE product_versions SET amount_max = 1 WHERE version = 1"))
    with pytest.raises((IntegrityError, DBAPIError)), session.begin_nested():
        session.execute(text("DELETE FROM product_grade_terms"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount_min": 0}, "amount_min"),
        ({"term_min_months": 30}, "term_min_months"),
        ({"methods": ()}, "methods"),
        ({"day_terms_allowed": True, "term_min_days": 10, "term_max_days": 20}, "day_terms_allowed"),
        ({"term_min_days": 10}, "term_min_days"),
        ({"ltv_cap": D("0.7")}, "ltv_cap"),
        ({"max_share": D("1.5")}, "max_share"),
        ({"monthly_fee_rate": D("0.02")}, "monthly_fee_rate"),
        ({"day_basis": 366}, "day_basis"),
        ({"funding_days": 0}, "funding_days"),
    ],
)
def test_inconsistent_terms_are_refused_naming_the_field(
    session: Session, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidProductTerms) as refused:
        origination.create_product(
            session,
            actor_id=None,
            code="bad",
            kind="credit",
            name_zh="坏",
            name_en="Bad",
            terms=_terms(**overrides),
        )
    assert refused.value.details["field"] == field


def test_grades_must_each_be_priced_once_within_the_fee_bound(session: Session) -> None:
    terms = _terms()
    with pytest.raises(InvalidProductTerms):
        origination.check_terms("credit", dataclasses.replace(terms, grades=terms.grades[:-1]))
    too_dear = tuple(dataclasses.replace(g, service_fee_rate=D("0.031")) for g in terms.grades)
    with pytest.raises(InvalidProductTerms) as refused:
        origination.check_terms("credit", dataclasses.replace(terms, grades=too_dear))
    assert refused.value.details["field"] == "grades.AA.service_fee_rate"
    with pytest.raises(InvalidProductTerms):
        origination.check_terms("mortgage", terms)  # a mortgage needs an LTV cap


def test_product_codes_are_unique_and_well_formed(session: Session) -> None:
    with pytest.raises(ProductCodeTaken):
        origination.create_product(
            session,
            actor_id=None,
            code="credit",
            kind="credit",
            name_zh="信用",
            name_en="Credit",
            terms=_terms(),
        )
    with pytest.raises(InvalidProductTerms):
        origination.create_product(
            session,
            actor_id=None,
            code="Bad Code",
            kind="credit",
            name_zh="信用",
            name_en="Credit",
            terms=_terms(),
        )


def test_the_loan_keeps_the_repayment_order_of_its_version(
    session: Session, bank: SimulatedBank, officer: User
) -> None:
    current = origination.product_view(session, "credit").current
    terms = dataclasses.replace(current.terms, repayment_order=RepaymentOrder.INSTALLMENTS)
    origination.add_version(session, actor_id=None, code="credit", terms=terms, note="installment order")
    borrower = builders.make_borrower(session, bank)
    application = builders.make_application(session, borrower.id)
    decided = builders.approve_application(session, application.id, officer.id)
    assert decided.loan_id is not None
    assert marketplace.get_loan(session, decided.loan_id).repayment_order == "installments"
