"""Applications: the three channels, input checks, duplicates (R18), forbidden purposes (R7),
the automatic rules — related party (R2), blacklist, age (R14), grade, caps (R4–R6) — scoring."""

import dataclasses
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.config import get_settings
from p2plend.custody.errors import CustodyAccountRequired
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import service as identity
from p2plend.identity.errors import RealNameRequired, UserNotFound
from p2plend.identity.models import User
from p2plend.origination import scoring
from p2plend.origination import service as origination
from p2plend.origination.errors import (
    AmountOutOfRange,
    ApplicationNotFound,
    ApplicationStateConflict,
    CollateralRequired,
    DuplicateApplication,
    ForbiddenPurpose,
    InvalidApplication,
    InvalidGuarantor,
    LtvExceeded,
    MethodNotAllowed,
    ProductNotForBorrower,
    TermOutOfRange,
)
from p2plend.origination.models import CreditDecision
from tests import builders
from tests.builders import FixedScorer, application_input, make_application


def test_an_online_application_is_scored_and_waits_for_review(session: Session, borrower: User) -> None:
    scorer = FixedScorer("B", 640, ("long_term", "housing_status"))
    application = make_application(session, borrower.id, scorer=scorer)
    assert application.status == "under_review"
    assert (application.channel, application.entered_by, application.partner_id) == (
        "online",
        borrower.id,
        None,
    )
    assert (application.grade, application.score, application.risk_class) == ("B", 640, "R3")
    assert (str(application.rate_min), str(application.rate_max)) == ("0.07", "0.085")
    assert "borrower" in identity.profile(session, borrower.id).roles  # took the role themself
    [decision] = origination.credit_decisions(session, application.id)
    assert (decision.model_version, decision.score, decision.grade) == ("fixed-test", 640, "B")
    assert decision.reasons == ["long_term", "housing_status"]
    [features] = scorer.seen
    assert isinstance(features, scoring.ApplicantFeatures)
    assert (features.age, features.amount_fen, features.term_months, features.repaid_loans) == (
        30,
        2_000_000,
        12,
        0,
    )
    actions = [
        r.action for r in audit.list_records(session, object_type="application", object_id=application.id)
    ]
    assert actions == ["application.under_review", "application.scored", "application.submitted"]


def test_the_shipped_scorecard_scores_a_real_application(session: Session, borrower: User) -> None:
    application = origination.apply_online(session, borrower.id, application_input())
    [decision] = session.scalars(select(CreditDecision)).all()
    assert decision.model_version == scoring.DEFAULT_MODEL_VERSION
    assert decision.score == application.score and decision.grade == application.grade
    assert application.status in ("under_review", "rejected")


def test_a_day_based_bullet_passes_its_term_in_whole_months_to_the_scorecard(
    session: Session, borrower: User
) -> None:
    scorer = FixedScorer("A")
    make_application(session, borrower.id, scorer=scorer, method="bullet", term_months=None, term_days=61)
    [features] = scorer.seen
    assert isinstance(features, scoring.ApplicantFeatures) and features.term_months == 3


def test_r14_only_verified_borrowers_with_a_custody_account_apply(
    session: Session, bank: SimulatedBank
) -> None:
    unverified = builders.make_user(session)
    with pytest.raises(RealNameRequired):
        make_application(session, unverified.id)
    no_account = builders.make_verified_user(session)
    with pytest.raises(CustodyAccountRequired):
        make_application(session, no_account.id)


def test_r14_too_old_at_maturity_is_rejected(session: Session, bank: SimulatedBank) -> None:
    today = clock.today()
    older = builders.make_borrower(session, bank, birth=date(today.year - 59, today.month, today.day))
    application = make_application(session, older.id, term_months=24)
    assert (application.status, application.rejection_code) == ("rejected", "age_out_of_range")
    assert application.closed_at is not None
    # Repaid before turning 60 (at most 60 at maturity): accepted.
    ok = make_application(session, older.id, term_months=12, purpose="medical")
    assert ok.status == "under_review"


@pytest.mark.parametrize("purpose", ["stocks", "margin", "futures", "structured_products", "derivatives"])
def test_r7_a_forbidden_purpose_is_refused(session: Session, borrower: User, purpose: str) -> None:
    with pytest.raises(ForbiddenPurpose):
        make_application(session, borrower.id, purpose=purpose)
    assert origination.of_borrower(session, borrower.id) == []


@pytest.mark.parametrize(
    "description",
    [
        "用于炒股",
        "买 股 票",
        "股票配资周转",
        "投资期货账户",
        "购买银行理财产品",
        "for stock market investing",
        "FUTURES",
    ],
)
def test_r7_a_description_revealing_a_forbidden_purpose_is_refused(
    session: Session, borrower: User, description: str
) -> None:
    with pytest.raises(ForbiddenPurpose) as refused:
        make_application(session, borrower.id, purpose="other", purpose_description=description)
    assert refused.value.details["field"] == "purpose_description"


def test_r7_ordinary_words_are_not_mistaken_for_forbidden_ones() -> None:
    assert origination.reveals_forbidden_purpose("为小店进货（stock up the shop）") is None
    assert origination.reveals_forbidden_purpose("孩子的教育费用") is None


def test_r18_one_active_application_per_borrower_and_purpose(session: Session, borrower: User) -> None:
    first = make_application(session, borrower.id)
    with pytest.raises(DuplicateApplication):
        make_application(session, borrower.id)
    other = make_application(session, borrower.id, purpose="education")  # another purpose: fine
    assert other.status == "under_review"
    origination.cancel(session, borrower_id=borrower.id, application_id=first.id)
    again = make_application(session, borrower.id)  # the first is no longer active
    assert again.status == "under_review"


def test_r18_a_rejected_application_does_not_block_a_new_one(session: Session, borrower: User) -> None:
    rejected = make_application(session, borrower.id, grade="HR")
    assert rejected.status == "rejected"
    assert make_application(session, borrower.id).status == "under_review"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"amount": 99_999}, AmountOutOfRange),
        ({"amount": 20_000_001}, AmountOutOfRange),
        ({"term_months": 37}, TermOutOfRange),
        ({"term_months": 0}, TermOutOfRange),
        ({"term_months": None}, TermOutOfRange),
        ({"term_months": None, "term_days": 90}, TermOutOfRange),  # days: bullet only
        ({"method": "bullet", "term_months": None, "term_days": 400}, TermOutOfRange),
        ({"method": "weekly"}, MethodNotAllowed),
        ({"purpose": "holiday"}, InvalidApplication),
        ({"employment": "astronaut"}, InvalidApplication),
        ({"housing": "castle"}, InvalidApplication),
        ({"industry": " "}, InvalidApplication),
        ({"repayment_source": ""}, InvalidApplication),
        ({"purpose_description": ""}, InvalidApplication),
        ({"other_debts_count": -1}, InvalidApplication),
        ({"guarantor_id": 1}, InvalidApplication),
        ({"institution_type": "micro_loan"}, InvalidApplication),
        ({"product_code": "p2b"}, ProductNotForBorrower),
    ],
)
def test_input_outside_the_product_is_refused_and_nothing_is_stored(
    session: Session, borrower: User, overrides: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        make_application(session, borrower.id, **overrides)
    assert origination.of_borrower(session, borrower.id) == []


def test_r2_a_related_party_or_a_blacklisted_person_is_rejected(
    session: Session, bank: SimulatedBank
) -> None:
    related_id, listed_id = builders.valid_id_number(), builders.valid_id_number()
    origination.add_blacklist_entry(
        session, actor_id=None, id_number=related_id, kind="related_party", reason="董事"
    )
    origination.add_blacklist_entry(
        session, actor_id=None, id_number=listed_id, kind="blacklist", reason="欺诈"
    )
    related = builders.make_borrower(session, bank, id_number=related_id)
    listed = builders.make_borrower(session, bank, id_number=listed_id)
    scorer = FixedScorer("AA")
    first = make_application(session, related.id, scorer=scorer)
    second = make_application(session, listed.id, scorer=scorer)
    assert (first.status, first.rejection_code) == ("rejected", "related_party")
    assert (second.status, second.rejection_code) == ("rejected", "blacklisted")
    assert scorer.seen == []  # refused before scoring
    assert first.grade is None


def test_r2_the_platform_itself_may_not_borrow(
    session: Session, bank: SimulatedBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform_code = builders.valid_uscc()
    monkeypatch.setenv("P2PLEND_PLATFORM_CREDIT_CODE", platform_code)
    get_settings.cache_clear()
    origination_org = identity.create_partner(
        session,
        actor_id=None,
        phone=builders.next_phone(),
        password=builders.DEFAULT_PASSWORD,
        name="p2plend 网络借贷信息中介有限公司",
        uscc=platform_code,
        roles=["borrower"],
    )
    builders.open_custody_account(session, origination_org.id, bank)
    partner = builders.make_organisation(session)
    application = origination.refer_borrower(
        session,
        partner_id=partner.id,
        borrower_phone=identity.phone_of(session, origination_org.id),
        data=application_input(
            product_code="p2b", amount=20_000_000, institution_type="micro_loan", institution_risk_tier=1
        ),
    )
    assert (application.status, application.rejection_code) == ("rejected", "related_party")


def test_a_removed_blacklist_entry_no_longer_rejects(session: Session, bank: SimulatedBank) -> None:
    number = builders.valid_id_number()
    entry = origination.add_blacklist_entry(
        session, actor_id=None, id_number=number, kind="blacklist", reason="误列"
    )
    person = builders.make_borrower(session, bank, id_number=number)
    assert make_application(session, person.id).rejection_code == "blacklisted"
    origination.remove_blacklist_entry(session, actor_id=None, entry_id=entry.id)
    assert make_application(session, person.id).status == "under_review"
    assert origination.blacklist_entries(session) == []
    [removed] = origination.blacklist_entries(session, include_removed=True)
    assert removed.removed_at is not None and removed.id_number_masked.startswith("110")


def test_hr_is_rejected_automatically_and_grades_have_amount_caps(session: Session, borrower: User) -> None:
    hr = make_application(session, borrower.id, grade="HR")
    assert (hr.status, hr.rejection_code, hr.grade) == ("rejected", "grade_auto_rejected", "HR")
    # Grade E may borrow at most 20,000.00 on the credit product.
    capped = make_application(session, borrower.id, grade="E", amount=2_000_100, purpose="car")
    assert (capped.status, capped.rejection_code) == ("rejected", "grade_amount_cap_exceeded")
    assert make_application(session, borrower.id, grade="E", purpose="medical").status == "under_review"


def test_hr_auto_rejection_is_configurable_per_version(session: Session, borrower: User) -> None:
    terms = origination.product_view(session, "credit").current.terms
    origination.add_version(
        session, actor_id=None, code="credit", terms=dataclasses.replace(terms, auto_reject_hr=False)
    )
    hr = make_application(session, borrower.id, grade="HR", amount=1_000_000)
    assert hr.status == "under_review"


def test_r6_declared_debt_elsewhere_counts_towards_the_total_cap(session: Session, borrower: User) -> None:
    application = make_application(session, borrower.id, other_debts_amount=98_000_001)
    assert (application.status, application.rejection_code) == ("rejected", "total_debt_cap_exceeded")
    fits = make_application(session, borrower.id, other_debts_amount=98_000_000, purpose="car")
    assert fits.status == "under_review"


def test_r4_listed_principal_counts_towards_a_persons_cap(
    session: Session, borrower: User, officer: User, second_officer: User
) -> None:
    first = make_application(session, borrower.id, grade="AA", amount=15_000_000)
    builders.pass_field_verification(session, first.id, officer.id)
    builders.approve_application(session, first.id, officer.id, second_officer_id=second_officer.id)
    assert first.status == "listed"
    over = make_application(session, borrower.id, grade="AA", amount=5_000_100, purpose="car")
    assert (over.status, over.rejection_code) == ("rejected", "borrowing_cap_exceeded")
    at_cap = make_application(session, borrower.id, grade="AA", amount=5_000_000, purpose="education")
    assert at_cap.status == "under_review"
    position = origination.cap_position(session, at_cap, get_settings())
    assert (position.platform, position.cap) == (20_000_000, 20_000_000)


def test_mortgage_needs_collateral_within_the_ltv_cap(session: Session, borrower: User) -> None:
    collateral = origination.CollateralInput(
        "real_estate", "朝阳区某小区住宅 89㎡", 20_000_000, "unencumbered"
    )
    with pytest.raises(CollateralRequired):
        make_application(session, borrower.id, product_code="mortgage", amount=5_000_000)
    with pytest.raises(LtvExceeded) as refused:
        make_application(
            session, borrower.id, product_code="mortgage", amount=14_000_100, collateral=collateral
        )
    assert refused.value.details["max"] == 14_000_000
    with pytest.raises(InvalidApplication):
        make_application(
            session,
            borrower.id,
            product_code="mortgage",
            amount=5_000_000,
            collateral=dataclasses.replace(collateral, lien_status="maybe"),
        )
    application = make_application(
        session, borrower.id, product_code="mortgage", amount=14_000_000, collateral=collateral
    )
    assert application.status == "under_review"
    stored = origination.collateral_of(session, application.id)
    assert stored is not None and stored.appraised_value == 20_000_000


def test_a_guaranteed_loan_names_a_guarantee_company(
    session: Session, bank: SimulatedBank, borrower: User
) -> None:
    guarantor = builders.make_organisation(session, bank, roles=["guarantor"], name="杭州某融资担保有限公司")
    partner = builders.make_organisation(session, bank)
    with pytest.raises(InvalidGuarantor):
        make_application(session, borrower.id, product_code="guaranteed")
    for wrong in (partner.id, borrower.id, 999_999):
        with pytest.raises(InvalidGuarantor):
            make_application(session, borrower.id, product_code="guaranteed", guarantor_id=wrong)
    application = make_application(session, borrower.id, product_code="guaranteed", guarantor_id=guarantor.id)
    assert application.guarantor_id == guarantor.id and application.status == "under_review"


def test_a_partner_refers_a_company_for_the_p2b_product(session: Session, bank: SimulatedBank) -> None:
    partner = builders.make_organisation(session, bank, name="某小额贷款有限公司")
    company = builders.make_organisation(session, bank, roles=["borrower"], name="上海某贸易有限公司")
    data = application_input(
        product_code="p2b", amount=30_000_000, institution_type="micro_loan", institution_risk_tier=2
    )
    application = origination.refer_borrower(
        session, partner_id=partner.id, borrower_phone=identity.phone_of(session, company.id), data=data
    )
    assert (application.channel, application.partner_id, application.borrower_kind) == (
        "partner",
        partner.id,
        "organisation",
    )
    assert (application.institution_type, application.institution_risk_tier) == ("micro_loan", 2)
    assert (application.status, application.grade, application.score) == ("under_review", "B", None)
    [decision] = origination.credit_decisions(session, application.id)
    assert decision.model_version == "institution-tier-v1"
    assert origination.of_partner(session, partner.id) == [application]
    # A company cannot apply online, nor for a consumer product; the tier is required.
    with pytest.raises(ProductNotForBorrower):
        origination.apply_online(session, company.id, data)
    with pytest.raises(InvalidApplication):
        origination.refer_borrower(
            session,
            partner_id=partner.id,
            borrower_phone=identity.phone_of(session, company.id),
            data=dataclasses.replace(data, institution_risk_tier=None, purpose="business"),
        )


def test_a_partner_refers_a_person_and_only_partners_refer(
    session: Session, bank: SimulatedBank, borrower: User
) -> None:
    partner = builders.make_organisation(session, bank)
    phone = identity.phone_of(session, borrower.id)
    application = origination.refer_borrower(
        session, partner_id=partner.id, borrower_phone=phone, data=application_input(), scorer=FixedScorer()
    )
    assert (application.channel, application.partner_id, application.entered_by) == (
        "partner",
        partner.id,
        partner.id,
    )
    stranger = builders.make_user(session)
    with pytest.raises(Exception, match="partner"):
        origination.refer_borrower(
            session, partner_id=stranger.id, borrower_phone=phone, data=application_input(purpose="car")
        )
    with pytest.raises(UserNotFound):
        origination.refer_borrower(
            session,
            partner_id=partner.id,
            borrower_phone="13999999999",
            data=application_input(purpose="car"),
        )


def test_staff_enter_an_offline_application_with_its_branch(
    session: Session, borrower: User, officer: User
) -> None:
    application = origination.enter_offline(
        session,
        officer_id=officer.id,
        borrower_id=borrower.id,
        branch_code="BJ-CY-01",
        data=application_input(),
        scorer=FixedScorer(),
    )
    assert (application.channel, application.branch_code, application.entered_by) == (
        "offline",
        "BJ-CY-01",
        officer.id,
    )
    [submitted] = [
        r
        for r in audit.list_records(session, object_type="application", object_id=application.id)
        if r.action == "application.submitted"
    ]
    assert submitted.actor_id == officer.id
    with pytest.raises(InvalidApplication):
        origination.enter_offline(
            session, officer_id=officer.id, borrower_id=borrower.id, branch_code=" ", data=application_input()
        )


def test_the_borrower_cancels_before_approval_only(
    session: Session, borrower: User, officer: User, bank: SimulatedBank
) -> None:
    application = make_application(session, borrower.id)
    other = builders.make_borrower(session, bank)
    with pytest.raises(ApplicationNotFound):
        origination.cancel(session, borrower_id=other.id, application_id=application.id)
    cancelled = origination.cancel(session, borrower_id=borrower.id, application_id=application.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(ApplicationStateConflict):
        origination.cancel(session, borrower_id=borrower.id, application_id=application.id)
    listed = make_application(session, borrower.id, purpose="car")
    builders.approve_application(session, listed.id, officer.id)
    with pytest.raises(ApplicationStateConflict) as refused:
        origination.cancel(session, borrower_id=borrower.id, application_id=listed.id)
    assert refused.value.details["status"] == "listed"


def test_visibility_the_applicant_the_referrer_and_reviewers(
    session: Session, bank: SimulatedBank, borrower: User
) -> None:
    partner = builders.make_organisation(session, bank)
    application = origination.refer_borrower(
        session,
        partner_id=partner.id,
        borrower_phone=identity.phone_of(session, borrower.id),
        data=application_input(),
        scorer=FixedScorer(),
    )
    stranger = builders.make_user(session)
    assert origination.visible(session, application.id, borrower.id, reviewer=False) is application
    assert origination.visible(session, application.id, partner.id, reviewer=False) is application
    assert origination.visible(session, application.id, stranger.id, reviewer=True) is application
    with pytest.raises(ApplicationNotFound):
        origination.visible(session, application.id, stranger.id, reviewer=False)
