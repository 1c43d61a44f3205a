"""Review: approval into a listing (disclosure, R47/R48), R29 at approval, four-eyes, field
verification, rejections and requests for information, versioning, R4 at approval."""

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import service as identity
from p2plend.identity.models import User
from p2plend.marketplace import service as marketplace
from p2plend.notifications import service as notifications
from p2plend.origination import service as origination
from p2plend.origination.errors import (
    ApplicationStateConflict,
    BorrowingCapExceeded,
    CostAboveLegalCap,
    FieldVerificationRequired,
    FourEyesSameOfficer,
    GradeAmountCapExceeded,
    GradeNotApprovable,
    InvalidDecision,
    InvalidFieldVerification,
    RateOutsideBand,
)
from tests import builders
from tests.builders import application_input, approve_application, make_application

D = Decimal


def _decide(session: Session, officer: User, application_id: int, action: str, **kwargs: object) -> object:
    return origination.decide(
        session,
        officer_id=officer.id,
        application_id=application_id,
        decision=origination.Decision(action=action, **kwargs),  # type: ignore[arg-type]
    )


def test_approval_lists_the_loan_with_its_terms_and_full_disclosure(
    session: Session, borrower: User, officer: User
) -> None:
    application = make_application(session, borrower.id, grade="B")
    _decide(session, officer, application.id, "approve", grade="A", annual_rate=D("0.072"), note="收入稳定")
    assert application.status == "listed" and application.loan_id is not None
    assert (application.approved_grade, application.risk_class, application.approved_by) == (
        "A",
        "R2",
        officer.id,
    )
    assert application.annualised_cost == D("0.072") and application.lpr_rate == D("0.03")
    loan = marketplace.get_loan(session, application.loan_id)
    assert (loan.status, loan.amount, loan.annual_rate, loan.grade, loan.risk_class) == (
        "pending",
        2_000_000,
        D("0.072"),
        "A",
        "R2",
    )
    assert (loan.application_id, loan.product_version_id, loan.product_code) == (
        application.id,
        application.product_version_id,
        "credit",
    )
    assert (loan.method, loan.term_months, loan.min_bid, loan.max_share) == (
        "equal_installment",
        12,
        10_000,
        D("0.5"),
    )
    assert set(marketplace.REQUIRED_DISCLOSURE) <= set(loan.disclosure)  # R48
    assert loan.disclosure["borrower_name_masked"] == "李*"  # R47
    assert "李四" not in str(loan.disclosure)
    assert loan.disclosure["income"] == {"monthly_min": "10000.00", "monthly_max": "20000.00"}
    assert loan.disclosure["credit_overdues_6m"] == {"count": 0, "source": "declared"}
    assert loan.disclosure["risk_assessment"]["score_band"] == "600-649"
    assert loan.disclosure["safeguards"] == {"kind": "none"}
    actions = [
        r.action for r in audit.list_records(session, object_type="application", object_id=application.id)
    ]
    assert actions[:2] == ["application.listed", "application.approved"]
    [approved] = [
        r for r in audit.list_records(session, actor_id=officer.id) if r.action == "application.approved"
    ]
    assert approved.details["note"] == "收入稳定" and approved.details["grade"] == "A"
    [message] = notifications.inbox(session, borrower.id)
    assert message.template == "application_approved"


@pytest.mark.parametrize(
    ("decision", "error"),
    [
        ({"grade": "B", "annual_rate": D("0.0699")}, RateOutsideBand),
        ({"grade": "B", "annual_rate": D("0.0851")}, RateOutsideBand),
        ({"grade": "HR", "annual_rate": D("0.10")}, GradeNotApprovable),
        ({"grade": "Z", "annual_rate": D("0.08")}, InvalidDecision),
        ({"grade": "B"}, InvalidDecision),
        ({"grade": "E", "annual_rate": D("0.09")}, GradeAmountCapExceeded),  # 20,001.00 > E's 20,000.00
    ],
)
def test_an_approval_outside_the_versions_terms_is_refused(
    session: Session, borrower: User, officer: User, decision: dict[str, object], error: type[Exception]
) -> None:
    application = make_application(session, borrower.id, amount=2_000_100)
    with pytest.raises(error), session.begin_nested():
        _decide(session, officer, application.id, "approve", **decision)
    session.refresh(application)
    assert application.status == "under_review" and application.loan_id is None


def test_r29_an_approval_above_4x_the_lpr_of_the_contract_date_is_refused(
    session: Session, borrower: User, officer: User
) -> None:
    application = make_application(session, borrower.id, grade="HR")  # rejected, HR
    assert application.status == "rejected"
    application = make_application(session, borrower.id, grade="E", amount=1_000_000, purpose="car")
    # The LPR falls to 2.45 %: 4 × LPR = 9.8 %, below E's 10 % maximum.
    origination.add_lpr(session, actor_id=None, effective_date=clock.today(), rate=D("0.0245"))
    with pytest.raises(CostAboveLegalCap) as refused, session.begin_nested():
        _decide(session, officer, application.id, "approve", grade="E", annual_rate=D("0.099"))
    assert refused.value.details["cap"] == "0.098"
    _decide(session, officer, application.id, "approve", grade="E", annual_rate=D("0.098"))
    assert application.status == "listed" and application.lpr_rate == D("0.0245")


def test_r29_the_service_fee_is_annualised_over_the_contract_term(
    session: Session, borrower: User, officer: User
) -> None:
    """Mortgage grade C: 9 % + a 1.25 % fee over 6 months (2.5 % a year) = 11.5 % ≤ 12 %."""
    collateral = origination.CollateralInput("real_estate", "住宅", 10_000_000, "unencumbered")
    application = make_application(
        session,
        borrower.id,
        grade="C",
        product_code="mortgage",
        amount=3_000_000,
        term_months=6,
        collateral=collateral,
    )
    builders.pass_field_verification(session, application.id, officer.id)
    _decide(session, officer, application.id, "approve", grade="C", annual_rate=D("0.09"))
    assert application.annualised_cost == D("0.115")
    loan = marketplace.get_loan(session, application.loan_id or 0)
    assert loan.service_fee_rate == D("0.0125")
    assert loan.disclosure["safeguards"]["kind"] == "collateral"
    assert loan.disclosure["safeguards"]["loan_to_value"] == "0.3000"


def test_four_eyes_above_the_threshold_needs_a_second_different_officer(
    session: Session, borrower: User, officer: User, second_officer: User
) -> None:
    application = make_application(session, borrower.id, grade="AA", amount=10_000_100)
    builders.pass_field_verification(session, application.id, officer.id)
    _decide(session, officer, application.id, "approve", grade="AA", annual_rate=D("0.065"))
    assert (application.status, application.first_approved_by, application.loan_id) == (
        "awaiting_second_approval",
        officer.id,
        None,
    )
    with pytest.raises(FourEyesSameOfficer):
        _decide(session, officer, application.id, "second_approve")
    with pytest.raises(FourEyesSameOfficer):
        _decide(session, officer, application.id, "second_reject", reason_code="policy")
    with pytest.raises(ApplicationStateConflict):
        _decide(session, second_officer, application.id, "approve", grade="AA", annual_rate=D("0.065"))
    _decide(session, second_officer, application.id, "second_approve", note="同意")
    assert (application.status, application.approved_by) == ("listed", second_officer.id)
    assert [d.action for d in origination.decisions_of(session, application.id)] == [
        "approve",
        "second_approve",
    ]


def test_four_eyes_the_second_officer_may_reject(
    session: Session, borrower: User, officer: User, second_officer: User
) -> None:
    application = make_application(session, borrower.id, grade="AA", amount=10_000_100)
    builders.pass_field_verification(session, application.id, officer.id)
    _decide(session, officer, application.id, "approve", grade="AA", annual_rate=D("0.065"))
    _decide(
        session,
        second_officer,
        application.id,
        "second_reject",
        reason_code="high_debt_burden",
        note="负债高",
    )
    assert (application.status, application.rejection_code, application.rejected_by) == (
        "rejected",
        "high_debt_burden",
        second_officer.id,
    )
    with pytest.raises(ApplicationStateConflict):
        _decide(session, second_officer, application.id, "second_approve")


def test_field_verification_is_required_above_the_threshold_and_must_pass(
    session: Session, borrower: User, officer: User
) -> None:
    application = make_application(session, borrower.id, grade="A", amount=5_000_100)
    with pytest.raises(FieldVerificationRequired), session.begin_nested():
        _decide(session, officer, application.id, "approve", grade="A", annual_rate=D("0.07"))
    origination.record_field_verification(
        session,
        officer_id=officer.id,
        application_id=application.id,
        kind="interview",
        verified_on=clock.today(),
        result="fail",
        notes="单位信息不符",
    )
    with pytest.raises(FieldVerificationRequired) as refused, session.begin_nested():
        _decide(session, officer, application.id, "approve", grade="A", annual_rate=D("0.07"))
    assert refused.value.details["latest"] == "fail"
    builders.pass_field_verification(session, application.id, officer.id)
    _decide(session, officer, application.id, "approve", grade="A", annual_rate=D("0.07"))
    assert application.status == "listed"
    assert [v.result for v in origination.field_verifications_of(session, application.id)] == ["fail", "pass"]


def test_a_mortgage_always_needs_field_verification(session: Session, borrower: User, officer: User) -> None:
    collateral = origination.CollateralInput("vehicle", "2023 年款轿车", 3_000_000, "registered")
    application = make_application(
        session, borrower.id, product_code="mortgage", amount=1_000_000, collateral=collateral
    )
    with pytest.raises(FieldVerificationRequired):
        _decide(session, officer, application.id, "approve", grade="B", annual_rate=D("0.08"))


def test_field_verification_records_are_checked(session: Session, borrower: User, officer: User) -> None:
    application = make_application(session, borrower.id)
    for bad in (
        {"kind": "phone_call"},
        {"result": "maybe"},
        {"verified_on": clock.today() + timedelta(days=1)},
        {"verified_on": date(2020, 1, 1)},
        {"notes": "  "},
    ):
        values = {"kind": "site_visit", "verified_on": clock.today(), "result": "pass", "notes": "ok"} | bad
        with pytest.raises(InvalidFieldVerification):
            origination.record_field_verification(
                session,
                officer_id=officer.id,
                application_id=application.id,
                **values,  # type: ignore[arg-type]
            )


def test_reject_with_a_reason_code_from_the_list(session: Session, borrower: User, officer: User) -> None:
    application = make_application(session, borrower.id)
    with pytest.raises(InvalidDecision):
        _decide(session, officer, application.id, "reject", reason_code="dislike")
    with pytest.raises(InvalidDecision):
        _decide(session, officer, application.id, "launch")
    _decide(
        session, officer, application.id, "reject", reason_code="insufficient_income", note="收入证明不足"
    )
    assert (application.status, application.rejection_code, application.rejection_note) == (
        "rejected",
        "insufficient_income",
        "收入证明不足",
    )
    with pytest.raises(ApplicationStateConflict):
        _decide(session, officer, application.id, "reject", reason_code="policy")
    [message] = notifications.inbox(session, borrower.id)
    assert message.template == "application_rejected"


def test_request_information_then_the_borrower_resubmits(
    session: Session, borrower: User, officer: User
) -> None:
    application = make_application(session, borrower.id)
    with pytest.raises(InvalidDecision):
        _decide(session, officer, application.id, "request_info", message=" ")
    _decide(session, officer, application.id, "request_info", message="请上传近 6 个月银行流水。")
    assert (application.status, application.info_request) == ("info_requested", "请上传近 6 个月银行流水。")
    [message] = notifications.inbox(session, borrower.id)
    assert message.template == "application_info_requested" and "银行流水" in (message.body or "")
    with pytest.raises(ApplicationStateConflict):
        _decide(session, officer, application.id, "approve", grade="B", annual_rate=D("0.08"))
    origination.resubmit(session, borrower_id=borrower.id, application_id=application.id, reply="已上传")
    assert (application.status, application.borrower_reply) == ("under_review", "已上传")
    with pytest.raises(ApplicationStateConflict):
        origination.resubmit(session, borrower_id=borrower.id, application_id=application.id)
    _decide(session, officer, application.id, "approve", grade="B", annual_rate=D("0.08"))
    assert application.status == "listed"


def test_versioning_a_new_version_never_changes_an_applications_terms(
    session: Session, borrower: User, officer: User
) -> None:
    application = make_application(session, borrower.id, grade="B")
    v1 = application.product_version_id
    old = origination.product_view(session, "credit").current.terms
    cheaper = tuple(
        dataclasses.replace(g, rate_min=D("0.05"), rate_max=D("0.06")) if g.grade == "B" else g
        for g in old.grades
    )
    origination.add_version(
        session,
        actor_id=None,
        code="credit",
        terms=dataclasses.replace(old, grades=cheaper, amount_min=3_000_000, funding_days=10),
    )
    # Still v1: its band (7 %–8.5 %) and its funding window, though v2 would refuse both.
    _decide(session, officer, application.id, "approve", grade="B", annual_rate=D("0.08"))
    loan = marketplace.get_loan(session, application.loan_id or 0)
    assert (loan.product_version_id, loan.funding_days) == (v1, 7)
    newer = make_application(session, borrower.id, amount=3_000_000, purpose="car")
    assert newer.product_version_id != v1 and str(newer.rate_max) == "0.06"


def test_r4_caps_are_checked_again_at_approval(
    session: Session, borrower: User, officer: User, second_officer: User
) -> None:
    """Two applications fit alone; once one is listed, approving the other would pass 200,000.00."""
    first = make_application(session, borrower.id, grade="AA", amount=12_000_000)
    second = make_application(session, borrower.id, grade="AA", amount=10_000_000, purpose="car")
    for application in (first, second):
        builders.pass_field_verification(session, application.id, officer.id)
    approve_application(session, first.id, officer.id, second_officer_id=second_officer.id)
    assert first.status == "listed"
    with pytest.raises(BorrowingCapExceeded) as refused, session.begin_nested():
        _decide(session, officer, second.id, "approve", grade="AA", annual_rate=D("0.06"))
    assert refused.value.details == {"principal": 22_000_000, "cap": 20_000_000}
    session.refresh(second)
    assert second.status == "under_review"


def test_r4_an_application_awaiting_its_second_approval_counts(
    session: Session, borrower: User, officer: User
) -> None:
    first = make_application(session, borrower.id, grade="AA", amount=15_000_000)
    builders.pass_field_verification(session, first.id, officer.id)
    _decide(session, officer, first.id, "approve", grade="AA", annual_rate=D("0.06"))
    assert first.status == "awaiting_second_approval"
    second = make_application(session, borrower.id, grade="AA", amount=6_000_000, purpose="car")
    assert (second.status, second.rejection_code) == ("rejected", "borrowing_cap_exceeded")


def test_r5_a_company_may_owe_up_to_one_million(
    session: Session, bank: SimulatedBank, officer: User, second_officer: User
) -> None:
    partner = builders.make_organisation(session, bank)
    company = builders.make_organisation(session, bank, roles=["borrower"], name="深圳某制造有限公司")
    phone = identity.phone_of(session, company.id)

    def refer(amount: int, purpose: str) -> origination.LoanApplication:
        data = application_input(
            product_code="p2b",
            amount=amount,
            purpose=purpose,
            institution_type="factoring_leasing",
            institution_risk_tier=1,
        )
        return origination.refer_borrower(session, partner_id=partner.id, borrower_phone=phone, data=data)

    first = refer(70_000_000, "working_capital")
    builders.pass_field_verification(session, first.id, officer.id)
    approve_application(session, first.id, officer.id, second_officer_id=second_officer.id)
    assert first.status == "listed"
    over = refer(30_000_100, "business")
    assert (over.status, over.rejection_code) == ("rejected", "borrowing_cap_exceeded")
    assert refer(30_000_000, "other").status == "under_review"
