"""The demo's lending story: 100 days of a small marketplace, through the real services.

The business clock starts ``HISTORY_DAYS`` before today and moves forward act by act, so
the demo shows loans in every state with a believable past: applications in review, a
four-eyes approval waiting, listings pending, open, fully funded (满标复审 waiting),
failed (流标) and withdrawn, loans being repaid (with a partial early repayment) and loans
settled (one at maturity, one repaid early).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import transaction
from p2plend.marketplace import service as marketplace
from p2plend.origination import service as origination
from p2plend.origination.service import ApplicationInput, CollateralInput, Decision
from p2plend.schedules.service import PartialPrepaymentChoice
from p2plend.servicing import service as servicing

T = TypeVar("T")

HISTORY_DAYS = 100
YUAN = 100


@dataclass(frozen=True)
class Cast:
    """Who is who in the story: user ids by demo name."""

    ids: dict[str, int]

    def __getitem__(self, name: str) -> int:
        return self.ids[name]


class Story:
    def __init__(
        self, factory: sessionmaker[Session], bank: SimulatedBank, cast: Cast, start: date, end: datetime
    ) -> None:
        self.factory = factory
        self.bank = bank
        self.cast = cast
        self.start = start
        self.end = end

    def day(self, n: int) -> None:
        """Move the business clock to day ``n`` of the story, 10:00 Beijing time; the last
        day is the real present, so nothing is stamped in the future."""
        business = clock.current()
        assert isinstance(business, clock.FixedClock)
        if n >= HISTORY_DAYS:
            business.set(self.end)
        else:
            business.set_business_date(self.start + timedelta(days=n))

    def act(self, work: Callable[[Session], T]) -> T:
        with transaction(self.factory) as session:
            return work(session)

    # --- origination ---------------------------------------------------------------------

    def apply(self, borrower: str, **terms: object) -> int:
        data = application(**terms)
        return self.act(lambda s: origination.apply_online(s, self.cast[borrower], data).id)

    def verify_in_person(self, application_id: int, officer: str = "李风控") -> None:
        self.act(
            lambda s: origination.record_field_verification(
                s,
                officer_id=self.cast[officer],
                application_id=application_id,
                kind="interview",
                verified_on=clock.today(),
                result="pass",
                notes="面审：身份、收入证明与借款用途核实无误。",
            )
        )

    def approve(self, application_id: int, grade: str, rate: str, officer: str = "李风控") -> int | None:
        """Approve; returns the listing's loan id (None while a second approval is awaited)."""
        decision = Decision(action="approve", grade=grade, annual_rate=Decimal(rate), note="资料齐全，同意。")

        def work(session: Session) -> int | None:
            application = origination.decide(
                session, officer_id=self.cast[officer], application_id=application_id, decision=decision
            )
            return application.loan_id

        return self.act(work)

    def listing(self, borrower: str, grade: str, rate: str, **terms: object) -> int:
        application_id = self.apply(borrower, **terms)
        if int(terms["amount"]) >= 50_000 * YUAN:  # type: ignore[call-overload]
            self.verify_in_person(application_id)
        loan_id = self.approve(application_id, grade, rate)
        assert loan_id is not None
        return loan_id

    # --- marketplace and servicing -------------------------------------------------------

    def open(self, loan_id: int) -> None:
        self.act(lambda s: marketplace.open_listing(s, loan_id, actor_id=self.cast["李风控"]))

    def bid(self, investor: str, loan_id: int, yuan: int) -> None:
        self.act(
            lambda s: marketplace.place_bid(
                s, investor_id=self.cast[investor], loan_id=loan_id, amount=yuan * YUAN
            )
        )

    def disburse(self, loan_id: int) -> None:
        self.act(lambda s: servicing.disburse_loan(s, loan_id, self.bank, actor_id=self.cast["李风控"]))

    def repay_due(self, loan_id: int, borrower: str) -> None:
        self.act(lambda s: servicing.repay(s, loan_id, payer_id=self.cast[borrower], custodian=self.bank))


# A believable borrower's declaration; each application overrides what differs.
_PROFILE: dict[str, object] = {
    "product_code": "credit",
    "method": "equal_installment",
    "purpose": "consumption",
    "purpose_description": "",
    "monthly_income": 18_000 * YUAN,
    "employment": "salaried",
    "employment_years": 6,
    "housing": "own",
    "industry": "信息技术",
    "repayment_source": "工资收入",
    "term_months": 12,
}


def application(**terms: object) -> ApplicationInput:
    """The believable declaration, with ``terms`` overriding what differs."""
    return ApplicationInput(**(_PROFILE | terms))  # type: ignore[arg-type]


def play(factory: sessionmaker[Session], bank: SimulatedBank, cast: Cast, start: date, end: datetime) -> None:
    """Run the story from day 1 of ``start`` to ``end``, the present (day ``HISTORY_DAYS``)."""
    story = Story(factory, bank, cast, start, end)
    _repaying_loans(story)
    _closed_listings(story)
    _live_listings(story)
    _pipeline(story)
    story.day(HISTORY_DAYS)


def _repaying_loans(story: Story) -> None:
    # L1: 陈静, 60,000 over 12 months, equal installments — repaid on time ever since.
    story.day(1)
    l1 = story.listing(
        "陈静", "A", "0.0720", amount=60_000 * YUAN, purpose_description="家电与家具更新", term_months=12
    )
    story.open(l1)
    for investor, yuan in (("张伟", 30_000), ("王芳", 20_000), ("赵敏", 10_000)):
        story.bid(investor, l1, yuan)
    story.day(2)
    story.disburse(l1)
    # L2: 杨磊, 30,000 over 6 months, equal principal; later a partial early repayment.
    story.day(3)
    l2 = story.listing(
        "杨磊",
        "B",
        "0.0780",
        amount=30_000 * YUAN,
        purpose="business",
        purpose_description="小餐馆添置厨房设备",
        method="equal_principal",
        term_months=6,
        employment="self_employed",
        industry="餐饮",
        repayment_source="经营收入",
    )
    story.open(l2)
    for investor, yuan in (("张伟", 15_000), ("钱进", 10_000), ("王芳", 5_000)):
        story.bid(investor, l2, yuan)
    story.day(4)
    story.disburse(l2)
    # L3: 黄敏, 10,000 for 30 days, bullet, grade AA (R1: even the careful 刘洋 may lend).
    story.day(8)
    l3 = story.listing(
        "黄敏",
        "AA",
        "0.0650",
        amount=10_000 * YUAN,
        purpose="medical",
        purpose_description="家人手术费用周转",
        method="bullet",
        term_months=None,
        term_days=30,
    )
    story.open(l3)
    story.bid("刘洋", l3, 5_000)
    story.bid("王芳", l3, 5_000)
    story.day(9)
    story.disburse(l3)
    # L4: 吴强, 20,000 over 3 months, interest first — repaid early in full.
    story.day(15)
    l4 = story.listing(
        "吴强",
        "A",
        "0.0750",
        amount=20_000 * YUAN,
        purpose="education",
        purpose_description="在职研究生学费",
        method="interest_first",
        term_months=3,
    )
    story.open(l4)
    story.bid("赵敏", l4, 10_000)
    story.bid("钱进", l4, 10_000)
    story.day(16)
    story.disburse(l4)
    # Every installment paid on its due date until yesterday; on day 50 吴强 repays L4 early
    # in full, on day 75 杨磊 prepays 8,000 of L2 and keeps the term (lower installments).
    specials: dict[int, Callable[[Session], object]] = {
        50: lambda s: servicing.repay_early(s, l4, payer_id=story.cast["吴强"], custodian=story.bank),
        75: lambda s: servicing.repay_early(
            s,
            l2,
            payer_id=story.cast["杨磊"],
            custodian=story.bank,
            principal=8_000 * YUAN,
            choice=PartialPrepaymentChoice.LOWER_INSTALLMENT,
        ),
    }
    borrowers = {l1: "陈静", l2: "杨磊", l3: "黄敏", l4: "吴强"}
    for n in range(17, HISTORY_DAYS):
        story.day(n)
        for loan_id in story.act(lambda s: _due_today(s, list(borrowers))):
            story.repay_due(loan_id, borrowers[loan_id])
        if n in specials:
            story.act(specials[n])


def _due_today(session: Session, loan_ids: list[int]) -> list[int]:
    """The loans, among ``loan_ids``, being repaid with an installment due today."""
    today = clock.today()
    return [
        loan_id
        for loan_id in loan_ids
        if marketplace.get_loan(session, loan_id).status == marketplace.DISBURSED
        and servicing.amount_due(session, loan_id).installments[0].due_date == today
    ]


def _closed_listings(story: Story) -> None:
    # L5: 郑丽, 50,000 — opened on day 90, only 12,000 raised by its deadline: 流标 on day 98.
    story.day(90)
    l5 = story.listing(
        "郑丽",
        "C",
        "0.0850",
        amount=50_000 * YUAN,
        purpose="business",
        purpose_description="服装店进货",
        employment="self_employed",
        industry="零售",
        repayment_source="经营收入",
    )
    story.open(l5)
    story.bid("张伟", l5, 12_000)
    # L9: 郑丽, 20,000 — withdrawn by staff after the borrower gave up the loan.
    story.day(92)
    l9 = story.listing(
        "郑丽", "B", "0.0800", amount=20_000 * YUAN, purpose_description="婚礼开支", term_months=6
    )
    story.open(l9)
    story.bid("钱进", l9, 5_000)
    story.day(93)
    story.act(
        lambda s: marketplace.withdraw_listing(
            s, l9, actor_id=story.cast["李风控"], reason="借款人申请撤回借款"
        )
    )
    story.day(98)
    story.act(marketplace.fail_expired_listings)


def _live_listings(story: Story) -> None:
    # L6: 黄敏, 40,000 — fully funded on day 98, waiting for 满标复审.
    story.day(98)
    l6 = story.listing(
        "黄敏",
        "B",
        "0.0790",
        amount=40_000 * YUAN,
        purpose="business",
        purpose_description="花店扩租与装修",
        employment="self_employed",
        industry="零售",
        repayment_source="经营收入",
        term_months=24,
    )
    story.open(l6)
    story.bid("张伟", l6, 20_000)
    story.bid("赵敏", l6, 20_000)
    # L7: 吴强, 30,000 — open, half funded.
    story.day(99)
    l7 = story.listing(
        "吴强",
        "A",
        "0.0740",
        amount=30_000 * YUAN,
        purpose="car",
        purpose_description="购买家用车",
        term_months=24,
    )
    story.open(l7)
    story.bid("张伟", l7, 10_000)
    story.bid("钱进", l7, 5_000)
    # L8: 陈静, 15,000 — approved today, not yet published.
    story.day(HISTORY_DAYS)
    story.listing(
        "陈静",
        "A",
        "0.0700",
        amount=15_000 * YUAN,
        purpose="car",
        purpose_description="车辆维修",
        term_months=6,
    )


def _pipeline(story: Story) -> None:
    story.day(HISTORY_DAYS)
    # Waiting for a risk officer.
    story.apply(
        "杨磊", amount=8_000 * YUAN, purpose="education", purpose_description="职业资格培训", term_months=6
    )
    # Sent back to the borrower for more information.
    medical = story.apply(
        "郑丽", amount=10_000 * YUAN, purpose="medical", purpose_description="牙科治疗", term_months=6
    )
    story.act(
        lambda s: origination.decide(
            s,
            officer_id=story.cast["李风控"],
            application_id=medical,
            decision=Decision(action="request_info", message="请上传医院出具的治疗费用清单。"),
        )
    )
    # Rejected by the officer.
    rejected = story.apply(
        "吴强",
        amount=5_000 * YUAN,
        purpose="business",
        purpose_description="代购生意周转",
        monthly_income=3_000 * YUAN,
    )
    story.act(
        lambda s: origination.decide(
            s,
            officer_id=story.cast["李风控"],
            application_id=rejected,
            decision=Decision(action="reject", reason_code="insufficient_income", note="收入无法覆盖月供"),
        )
    )
    # A mortgage loan with its house registered as collateral, verified in person: with the officer.
    mortgage = story.apply(
        "陈静",
        product_code="mortgage",
        amount=50_000 * YUAN,
        purpose="home_improvement",
        purpose_description="自住房装修",
        term_months=12,
        collateral=CollateralInput(
            collateral_type="real_estate",
            description="杭州市西湖区自住房一套，建筑面积 89 平方米",
            appraised_value=1_800_000 * YUAN,
            lien_status="unencumbered",
        ),
    )
    story.verify_in_person(mortgage)
    # 110,000 is above the four-eyes amount: approved once, waiting for a second officer (四眼).
    large = story.apply(
        "杨磊",
        amount=110_000 * YUAN,
        monthly_income=30_000 * YUAN,
        purpose="business",
        purpose_description="第二家门店装修与设备",
        employment="self_employed",
        industry="餐饮",
        repayment_source="经营收入",
        term_months=12,
    )
    story.verify_in_person(large)
    loan = story.approve(large, "B", "0.0800")
    assert loan is None, "a loan above the four-eyes amount needs a second approval"
    # A guaranteed loan (担保贷): 浙江安信融资担保 stands behind it.
    story.apply(
        "黄敏",
        product_code="guaranteed",
        amount=30_000 * YUAN,
        purpose="education",
        purpose_description="女儿出国留学学费",
        term_months=12,
        guarantor_id=story.cast["浙江安信融资担保有限公司"],
    )
    # A P2B loan referred by the partner micro-loan company, for a restaurant company.
    data = application(
        product_code="p2b",
        amount=300_000 * YUAN,
        purpose="working_capital",
        purpose_description="中央厨房设备采购",
        monthly_income=400_000 * YUAN,
        employment="self_employed",
        industry="餐饮",
        repayment_source="门店经营收入",
        term_months=12,
        institution_type="micro_loan",
        institution_risk_tier=2,
    )
    story.act(
        lambda s: origination.refer_borrower(
            s, partner_id=story.cast["杭州西湖小额贷款股份有限公司"], borrower_phone="13500000003", data=data
        )
    )
