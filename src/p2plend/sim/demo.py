"""Demo data: a small, believable marketplace, built only through the real services.

Every person is registered the way a real one is (SMS code read from the simulated SMS
outbox), verified, given a bank card, and funded through the simulated custodian bank, so
the demo exercises the same code paths as production.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import pyotp
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import transaction
from p2plend.errors import Conflict
from p2plend.identity import service as identity
from p2plend.notifications import service as notifications
from p2plend.sim import demo_loans, demo_markets, demo_overdue, numbers
from p2plend.suitability import service as suitability

T = TypeVar("T")

DEMO_PASSWORD = "Demo2026"  # noqa: S105 — printed for the newcomer on purpose


@dataclass(frozen=True)
class DemoLogin:
    role: str
    name: str
    phone: str
    password: str
    totp_secret: str | None
    note: str


@dataclass(frozen=True)
class Person:
    phone: str
    name: str
    region: str
    birth: date
    sequence: str
    bank: str
    card_prefix: str
    appetite: str  # "bold" | "balanced" | "careful": how they answer the risk questionnaire
    deposit_fen: int  # paid in at the custodian bank
    note: str
    withdrawal_fen: int = 0  # taken back out to the card afterwards


STAFF: list[tuple[str, str, list[str], str]] = [
    ("13800000001", "王建国", ["admin"], "平台管理员 administrator"),
    ("13800000002", "李风控", ["risk_officer"], "风控专员 risk officer"),
    ("13800000003", "赵财务", ["finance"], "财务 finance (reconciliation)"),
    ("13800000004", "孙合规", ["compliance"], "合规 compliance (audit log)"),
    ("13800000005", "周客服", ["customer_service"], "客服 customer service"),
    ("13800000006", "钱复核", ["risk_officer"], "风控复核 second risk officer (四眼 four-eyes)"),
    ("13800000007", "吴催收", ["collector"], "催收员 collector"),
    ("13800000008", "郑催收", ["collector"], "催收员 collector"),
]

# Organisations (企业用户), verified by their USCC at onboarding by the administrator:
# phone, name, USCC, roles, note.
ORGANISATIONS: list[tuple[str, str, str, list[str], str]] = [
    ("13500000001", "浙江安信融资担保有限公司", "91330106000000101Q", ["guarantor"], "担保公司 guarantor"),
    (
        "13500000002",
        "杭州西湖小额贷款股份有限公司",
        "91330106000000102U",
        ["partner_institution"],
        "合作机构（小贷公司）partner institution",
    ),
    (
        "13500000003",
        "杭州味道餐饮管理有限公司",
        "91330106000000103Y",
        ["borrower"],
        "企业借款人 company borrower",
    ),
]

INVESTORS: list[Person] = [
    Person(
        "13900000001",
        "张伟",
        "110105",
        date(1985, 3, 12),
        "231",
        "中国工商银行",
        "622202",
        "bold",
        50_000_000,
        "进取型出借人",
        withdrawal_fen=1_000_000,
    ),
    Person(
        "13900000002",
        "王芳",
        "310104",
        date(1990, 7, 1),
        "182",
        "招商银行",
        "621483",
        "balanced",
        20_000_000,
        "平衡型出借人",
    ),
    Person(
        "13900000003",
        "刘洋",
        "310104",
        date(1978, 11, 23),
        "415",
        "中国建设银行",
        "621700",
        "careful",
        5_000_000,
        "保守型出借人",
    ),
    Person(
        "13900000004",
        "赵敏",
        "310104",
        date(1983, 2, 14),
        "528",
        "交通银行",
        "622260",
        "bold",
        30_000_000,
        "进取型出借人",
    ),
    Person(
        "13900000005",
        "钱进",
        "320106",
        date(1987, 12, 5),
        "643",
        "中国民生银行",
        "622622",
        "balanced",
        10_000_000,
        "平衡型出借人",
    ),
]

BORROWERS: list[Person] = [
    Person(
        "13700000001",
        "陈静",
        "330106",
        date(1992, 5, 8),
        "326",
        "中国银行",
        "621661",
        "careful",
        200_000,
        "借款人",
    ),
    Person(
        "13700000002",
        "杨磊",
        "440106",
        date(1988, 9, 17),
        "157",
        "中国农业银行",
        "622848",
        "careful",
        0,
        "借款人",
    ),
    Person(
        "13700000003",
        "黄敏",
        "510104",
        date(1991, 4, 22),
        "284",
        "中国邮政储蓄银行",
        "621799",
        "careful",
        500_000,
        "借款人",
    ),
    Person(
        "13700000004",
        "吴强",
        "420106",
        date(1986, 8, 30),
        "379",
        "兴业银行",
        "622909",
        "careful",
        300_000,
        "借款人",
    ),
    Person(
        "13700000005",
        "郑丽",
        "320106",
        date(1993, 1, 9),
        "462",
        "浦发银行",
        "622521",
        "careful",
        0,
        "借款人",
    ),
    # Borrowers who stopped paying (demo_overdue): one in each overdue stage.
    Person(
        "13700000006",
        "孙浩",
        "330106",
        date(1995, 6, 3),
        "517",
        "中国工商银行",
        "622202",
        "careful",
        0,
        "逾期借款人 M1",
    ),
    Person(
        "13700000007",
        "周婷",
        "310104",
        date(1989, 10, 21),
        "628",
        "招商银行",
        "621483",
        "careful",
        0,
        "逾期借款人 M2",
    ),
    Person(
        "13700000008",
        "冯刚",
        "320106",
        date(1984, 3, 15),
        "739",
        "中国建设银行",
        "621700",
        "careful",
        0,
        "逾期借款人 M3",
    ),
    Person(
        "13700000009",
        "沈涛",
        "440106",
        date(1990, 12, 2),
        "841",
        "交通银行",
        "622260",
        "careful",
        0,
        "逾期借款人 M3+ 可疑",
    ),
    Person(
        "13700000010",
        "曹磊",
        "110105",
        date(1986, 7, 19),
        "952",
        "中国农业银行",
        "622848",
        "careful",
        0,
        "逾期借款人 M7+ 损失",
    ),
    Person(
        "13700000011",
        "韩梅",
        "420106",
        date(1994, 2, 27),
        "163",
        "兴业银行",
        "622909",
        "careful",
        0,
        "担保贷借款人，已由担保公司代偿",
    ),
]
GUARANTOR_DEPOSIT_FEN = 20_000_000  # 200,000.00: the guarantee company's own money in custody


def seed(session_factory: sessionmaker[Session], bank: SimulatedBank) -> list[DemoLogin]:
    """Create the demo's people, money and 100 days of lending. Refuses a database that already has users.

    The business clock is wound back to the story's first day and moves forward through it;
    it is put back when the story reaches today.
    """
    with transaction(session_factory) as session:
        if identity.list_users(session, page=1, page_size=1).total:
            raise Conflict("This database already has users; the demo seeds only an empty one.")
    real = clock.current()
    today = clock.today()
    start = today - timedelta(days=demo_loans.HISTORY_DAYS)
    story_clock = clock.FixedClock(real.now())
    story_clock.set_business_date(start + timedelta(days=demo_overdue.FIRST_DAY - 10), hour=9)
    clock.install(story_clock)
    try:
        logins: list[DemoLogin] = []
        for phone, name, roles, note in STAFF:
            logins.append(_seed_staff(session_factory, phone, name, roles, note))
        for person in INVESTORS:
            logins.append(_seed_person(session_factory, bank, person, borrower=False))
        for person in BORROWERS:
            logins.append(_seed_person(session_factory, bank, person, borrower=True))
        logins.append(_seed_unverified(session_factory, "13600000001"))
        for organisation in ORGANISATIONS:
            logins.append(_seed_organisation(session_factory, bank, organisation))
        cast = demo_loans.Cast(
            _act(
                session_factory,
                lambda s: {login.name: identity.user_id_by_phone(s, login.phone) for login in logins},
            )
        )
        story = demo_loans.Story(session_factory, bank, cast, start, real.now())
        demo_overdue.play(story)
        story.day(0)
        _act(session_factory, lambda s: _reassess(s, cast))  # yearly: today's assessments are fresh
        demo_loans.play(session_factory, bank, cast, start, real.now())
        demo_overdue.close_every_day(
            session_factory, bank, start + timedelta(days=demo_overdue.FIRST_DAY), real.now()
        )
        demo_overdue.collections_work(story)
        demo_markets.play(story)
    finally:
        clock.install(real)
    return logins


def _reassess(session: Session, cast: demo_loans.Cast) -> None:
    for person in INVESTORS:
        suitability.submit_assessment(session, cast[person.name], _answers(person.appetite))


def resident_id(person: Person) -> str:
    return numbers.resident_id(f"{person.region}{person.birth:%Y%m%d}{person.sequence}")


def card_number(person: Person) -> str:
    return numbers.card_number(person.card_prefix + person.phone[-9:] + "00")  # 17 digits + check


def _act(session_factory: sessionmaker[Session], act: Callable[[Session], T]) -> T:
    with transaction(session_factory) as session:
        return act(session)


def _enroll_totp(session: Session, user_id: int) -> str:
    enrollment = identity.begin_totp_enrollment(session, user_id)
    identity.confirm_totp_enrollment(session, user_id, pyotp.TOTP(enrollment.secret).at(clock.now()))
    return enrollment.secret


def _seed_staff(
    session_factory: sessionmaker[Session], phone: str, name: str, roles: list[str], note: str
) -> DemoLogin:
    def act(session: Session) -> str:
        user = identity.create_staff(
            session, actor_id=None, phone=phone, password=DEMO_PASSWORD, name=name, roles=roles
        )
        return _enroll_totp(session, user.id)

    secret = _act(session_factory, act)
    return DemoLogin("staff", name, phone, DEMO_PASSWORD, secret, note)


def _register(session_factory: sessionmaker[Session], phone: str) -> int:
    _act(session_factory, lambda s: identity.send_registration_code(s, phone))
    code = _act(session_factory, _latest_sms_code)
    user = _act(
        session_factory, lambda s: identity.register(s, phone=phone, password=DEMO_PASSWORD, sms_code=code)
    )
    return user.id


def _latest_sms_code(session: Session) -> str:
    """Read the code from the simulated SMS outbox, as a demo visitor would."""
    latest = notifications.recent_sms(session, limit=1)[0]
    found = re.search(r"\d{6}", latest.text or "")
    if found is None:
        raise RuntimeError("the simulated SMS outbox shows no code (is this production?)")
    return found.group()


def _seed_person(
    session_factory: sessionmaker[Session], bank: SimulatedBank, person: Person, *, borrower: bool
) -> DemoLogin:
    user_id = _register(session_factory, person.phone)

    def verify(session: Session) -> tuple[str, int]:
        if borrower:
            identity.add_role(session, actor_id=user_id, user_id=user_id, role="borrower")
        identity.verify_real_name(session, user_id, name=person.name, id_number=resident_id(person))
        card = identity.bind_card(
            session, user_id, card_number=card_number(person), bank_name=person.bank, holder_name=person.name
        )
        custody.open_account(session, user_id, bank)
        if not borrower:
            suitability.submit_assessment(session, user_id, _answers(person.appetite))
        return _enroll_totp(session, user_id), card.id

    secret, card_id = _act(session_factory, verify)
    if person.deposit_fen:
        _deposit(session_factory, bank, user_id, card_id, person.deposit_fen)
    if person.withdrawal_fen:
        _withdraw(
            session_factory, bank, user_id, card_id=card_id, totp_secret=secret, amount=person.withdrawal_fen
        )
    return DemoLogin(
        "borrower" if borrower else "investor", person.name, person.phone, DEMO_PASSWORD, secret, person.note
    )


def _seed_organisation(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    organisation: tuple[str, str, str, list[str], str],
) -> DemoLogin:
    """An organisation onboarded by the administrator, with its own custody sub-account."""
    phone, name, code, roles, note = organisation

    def act(session: Session) -> tuple[str, int, int]:
        admin = identity.user_id_by_phone(session, STAFF[0][0])
        user = identity.create_partner(
            session, actor_id=admin, phone=phone, password=DEMO_PASSWORD, name=name, uscc=code, roles=roles
        )
        custody.open_account(session, user.id, bank)
        card_id = 0
        if "guarantor" in roles:  # its settlement account, to fund compensations
            card_id = identity.bind_card(
                session, user.id, card_number=_company_card(code), bank_name="中国工商银行", holder_name=name
            ).id
        return _enroll_totp(session, user.id), user.id, card_id

    secret, user_id, card_id = _act(session_factory, act)
    if card_id:
        _deposit(session_factory, bank, user_id, card_id, GUARANTOR_DEPOSIT_FEN)
    return DemoLogin("organisation", name, phone, DEMO_PASSWORD, secret, note)


def _company_card(uscc: str) -> str:
    return numbers.card_number("622202" + "".join(c for c in uscc if c.isdigit())[-12:])


def _seed_unverified(session_factory: sessionmaker[Session], phone: str) -> DemoLogin:
    _register(session_factory, phone)
    return DemoLogin(
        "investor", "(未实名)", phone, DEMO_PASSWORD, None, "已注册，未实名认证 registered, not verified"
    )


def _deposit(
    session_factory: sessionmaker[Session], bank: SimulatedBank, user_id: int, card_id: int, amount: int
) -> None:
    """Start the deposit on the platform, pay it on the bank's page; the signed callback credits."""
    order = _act(
        session_factory,
        lambda s: custody.start_deposit(s, user_id, amount=amount, card_id=card_id, custodian=bank),
    )
    bank.confirm_deposit_payment(order.order_no)


def _withdraw(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    user_id: int,
    *,
    card_id: int,
    totp_secret: str,
    amount: int,
) -> None:
    """A withdrawal to the person's card, 2FA-authorised and paid out by the bank."""
    # The enrolment just used this time-step's code, and a code works once: take the next one.
    code = pyotp.TOTP(totp_secret).at(clock.now() + timedelta(seconds=30))
    _act(
        session_factory,
        lambda s: custody.request_withdrawal(s, user_id, amount=amount, card_id=card_id, totp_code=code),
    )
    _act(session_factory, lambda s: custody.submit_pending_withdrawals(s, bank))
    bank.deliver_pending()


def _answers(appetite: str) -> dict[str, str]:
    """Answer every question with its most daring, middle or most careful option."""
    answers: dict[str, str] = {}
    for question in suitability.questionnaire("zh"):
        ranked = sorted(question.options, key=lambda o: o.points)
        pick = {"bold": ranked[-1], "balanced": ranked[len(ranked) // 2], "careful": ranked[0]}[appetite]
        answers[question.key] = pick.key
    return answers
