"""Plain, typed builders of test data. Each domain appends its own section."""

import itertools
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.custody.port import Custodian
from p2plend.identity import records
from p2plend.identity import service as identity
from p2plend.identity.models import User
from p2plend.identity.permissions import Role
from p2plend.identity.validation import normalise_phone
from p2plend.sim import numbers
from p2plend.suitability import service as suitability

if TYPE_CHECKING:
    from p2plend.origination import scoring
    from p2plend.origination.service import ApplicationInput, LoanApplication

# --- identity -----------------------------------------------------------------------------

DEFAULT_PASSWORD = "correct horse 42"
_phone_numbers = itertools.count(1)
_card_numbers = itertools.count(1)
_id_sequences = itertools.count(1)


def next_phone() -> str:
    """A fresh valid mainland mobile number, national format (``13800000001``)."""
    return f"138{next(_phone_numbers):08d}"


def valid_id_number(region: str = "110105", birth: date = date(1990, 1, 1), seq: str | None = None) -> str:
    """A resident ID with a correct check character (GB 11643) computed by ``stdnum.cn.ric``.

    ``region`` must be a real code (110105 = 北京市朝阳区); ``seq`` 3 digits, fresh by default.
    """
    sequence = seq if seq is not None else f"{next(_id_sequences) % 1000:03d}"
    return numbers.resident_id(f"{region}{birth:%Y%m%d}{sequence}")


def valid_card_number(prefix: str = "622202", length: int = 19) -> str:
    """A fresh card number with a correct Luhn check digit."""
    middle = f"{next(_card_numbers):0{length - len(prefix) - 1}d}"
    return numbers.card_number(prefix + middle)


def adult_birth_date(years: int = 30) -> date:
    today = clock.today()
    return today.replace(year=today.year - years)


def make_user(
    session: Session,
    *,
    phone: str | None = None,
    password: str = DEFAULT_PASSWORD,
    roles: Iterable[str] = (Role.INVESTOR,),
) -> User:
    """A registered person (skipping the SMS step), investor by default."""
    user = records.insert_user(
        session, kind="person", e164=normalise_phone(phone or next_phone()), password=password
    )
    for role in roles:
        records.grant_role(session, user.id, Role(role), granted_by=None)
    session.flush()
    return user


def make_verified_user(
    session: Session,
    *,
    phone: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str = "张三",
    id_number: str | None = None,
    roles: Iterable[str] = (Role.INVESTOR,),
) -> User:
    """A person who passed real-name verification (实名认证), 30 years old by default."""
    user = make_user(session, phone=phone, password=password, roles=roles)
    identity.verify_real_name(
        session, user.id, name=name, id_number=id_number or valid_id_number(birth=adult_birth_date())
    )
    return user


def enable_totp(session: Session, user_id: int) -> pyotp.TOTP:
    """Enrol and confirm TOTP for a user; returns the authenticator to make further codes.

    The confirming code uses the current time-step: a test that needs another code right
    away advances the business clock by 30 seconds first.
    """
    enrollment = identity.begin_totp_enrollment(session, user_id)
    authenticator = pyotp.TOTP(enrollment.secret)
    identity.confirm_totp_enrollment(session, user_id, authenticator.at(clock.now()))
    return authenticator


def make_staff(
    session: Session,
    *,
    roles: Iterable[str] = (Role.ADMIN,),
    phone: str | None = None,
    password: str = DEFAULT_PASSWORD,
    name: str = "王管理",
    with_totp: bool = True,
) -> tuple[User, pyotp.TOTP | None]:
    """A staff member created from the console, with TOTP enrolled unless told otherwise."""
    user = identity.create_staff(
        session, actor_id=None, phone=phone or next_phone(), password=password, name=name, roles=list(roles)
    )
    return user, (enable_totp(session, user.id) if with_totp else None)


def bind_card(
    session: Session, user_id: int, *, holder_name: str = "张三", bank_name: str = "中国工商银行"
) -> int:
    """Bind a fresh valid card to a verified user; returns the card id."""
    card = identity.bind_card(
        session, user_id, card_number=valid_card_number(), bank_name=bank_name, holder_name=holder_name
    )
    return card.id


# --- suitability --------------------------------------------------------------------------


def answers_scoring(total: int) -> dict[str, str]:
    """Questionnaire answers worth exactly ``total`` points (12…100).

    The "no loss of principal" answer, which forces C1, is used only when no other
    combination reaches the total.
    """
    questions = suitability.questionnaire("zh")

    def search(
        i: int, remaining: int, allow_no_loss: bool, memo: dict[tuple[int, int], bool]
    ) -> list[str] | None:
        if i == len(questions):
            return [] if remaining == 0 else None
        if memo.get((i, remaining)) is False:
            return None
        for option in questions[i].options:
            if questions[i].key == "loss_tolerance" and option.key == "a" and not allow_no_loss:
                continue
            if option.points <= remaining:
                rest = search(i + 1, remaining - option.points, allow_no_loss, memo)
                if rest is not None:
                    return [option.key, *rest]
        memo[(i, remaining)] = False
        return None

    for allow_no_loss in (False, True):
        found = search(0, total, allow_no_loss, {})
        if found is not None:
            return {q.key: key for q, key in zip(questions, found, strict=True)}
    raise ValueError(f"no answers score {total}")


def make_assessed_investor(session: Session, *, total: int = 60) -> User:
    """An investor with a risk assessment taken today worth ``total`` points (60 → C3)."""
    user = make_user(session)
    suitability.submit_assessment(session, user.id, answers_scoring(total))
    return user


# --- custody ------------------------------------------------------------------------------


def open_custody_account(session: Session, user_id: int, custodian: Custodian) -> str:
    """Open the user's sub-account at the custodian; returns its number."""
    from p2plend.custody import service as custody

    return custody.open_account(session, user_id, custodian).sub_account_no


def make_custody_user(session: Session, custodian: Custodian) -> tuple[User, int]:
    """A verified user with a bound card and an open custody account: ``(user, card_id)``."""
    user = make_verified_user(session)
    card_id = bind_card(session, user.id)
    open_custody_account(session, user.id, custodian)
    return user, card_id


# --- origination ----------------------------------------------------------------------------

_uscc_sequences = itertools.count(1)


def valid_uscc() -> str:
    """A fresh 统一社会信用代码 with a correct check character."""
    from stdnum.cn import uscc

    body = f"91110105{next(_uscc_sequences):09d}"
    return body + uscc.calc_check_digit(body)


def make_borrower(
    session: Session,
    custodian: Custodian,
    *,
    phone: str | None = None,
    name: str = "李四",
    birth: date | None = None,
    id_number: str | None = None,
) -> User:
    """A verified person (30 by default) with an open custody account, ready to apply."""
    user = make_verified_user(
        session,
        phone=phone,
        name=name,
        id_number=id_number or valid_id_number(birth=birth or adult_birth_date()),
    )
    open_custody_account(session, user.id, custodian)
    return user


def make_organisation(
    session: Session,
    custodian: Custodian | None = None,
    *,
    roles: Iterable[str] = (Role.PARTNER_INSTITUTION,),
    name: str = "北京某某科技有限公司",
    phone: str | None = None,
) -> User:
    """An organisation verified by its USCC at onboarding; with a custody account if a custodian is given."""
    user = identity.create_partner(
        session,
        actor_id=None,
        phone=phone or next_phone(),
        password=DEFAULT_PASSWORD,
        name=name,
        uscc=valid_uscc(),
        roles=list(roles),
    )
    if custodian is not None:
        open_custody_account(session, user.id, custodian)
    return user


def make_officer(
    session: Session, *, phone: str | None = None, name: str = "赵风控"
) -> tuple[User, pyotp.TOTP]:
    """A risk officer with TOTP (staff permissions need it)."""
    user, totp = make_staff(session, roles=(Role.RISK_OFFICER,), phone=phone, name=name)
    assert totp is not None
    return user, totp


class FixedScorer:
    """A stand-in scorecard giving every applicant the same grade (tests choose the grade)."""

    def __init__(self, grade: str = "B", score: int = 640, reasons: tuple[str, ...] = ("long_term",)) -> None:
        self.grade, self.score_points, self.reasons = grade, score, reasons
        self.seen: list[object] = []

    def score(self, features: "scoring.ApplicantFeatures") -> "scoring.ScoreResult":
        from p2plend.origination import scoring

        self.seen.append(features)
        return scoring.ScoreResult(
            model_version="fixed-test",
            score=self.score_points,
            grade=scoring.Grade(self.grade),
            reasons=self.reasons,
        )


def application_input(**overrides: object) -> "ApplicationInput":
    """A credit-product application that passes every rule: 20,000.00 over 12 months, 等额本息."""
    from p2plend.origination.service import ApplicationInput

    values: dict[str, object] = {
        "product_code": "credit",
        "amount": 2_000_000,
        "term_months": 12,
        "method": "equal_installment",
        "purpose": "home_improvement",
        "purpose_description": "旧房翻新，更换厨卫设施",
        "monthly_income": 1_500_000,
        "employment": "salaried",
        "employment_years": 5,
        "housing": "rent",
        "industry": "信息技术",
        "repayment_source": "工资收入",
    }
    values.update(overrides)
    return ApplicationInput(**values)  # type: ignore[arg-type]


def make_application(
    session: Session,
    borrower_id: int,
    *,
    grade: str = "B",
    scorer: object | None = None,
    **overrides: object,
) -> "LoanApplication":
    """An online application by ``borrower_id``, scored ``grade`` by a fixed scorer unless told."""
    from p2plend.origination import service as origination

    return origination.apply_online(
        session,
        borrower_id,
        application_input(**overrides),
        scorer=scorer or FixedScorer(grade),  # type: ignore[arg-type]
    )


def approve_application(
    session: Session,
    application_id: int,
    officer_id: int,
    *,
    grade: str | None = None,
    rate: str | None = None,
    second_officer_id: int | None = None,
) -> "LoanApplication":
    """Approve at the proposed grade and the bottom of its band; a second officer if four-eyes asks."""
    from decimal import Decimal

    from p2plend.origination import service as origination

    application = origination.get_application(session, application_id)
    chosen = grade or application.grade
    assert chosen is not None
    _, _, terms = origination.version_terms(session, application.product_version_id)
    annual_rate = Decimal(rate) if rate is not None else terms.for_grade(chosen).rate_min
    decided = origination.decide(
        session,
        officer_id=officer_id,
        application_id=application_id,
        decision=origination.Decision(action="approve", grade=chosen, annual_rate=annual_rate),
    )
    if decided.status == "awaiting_second_approval" and second_officer_id is not None:
        decided = origination.decide(
            session,
            officer_id=second_officer_id,
            application_id=application_id,
            decision=origination.Decision(action="second_approve"),
        )
    return decided


def pass_field_verification(session: Session, application_id: int, officer_id: int) -> None:
    from p2plend.origination import service as origination

    origination.record_field_verification(
        session,
        officer_id=officer_id,
        application_id=application_id,
        kind="site_visit",
        verified_on=clock.today(),
        result="pass",
        notes="见到借款人本人，核实工作单位与住址。",
    )
