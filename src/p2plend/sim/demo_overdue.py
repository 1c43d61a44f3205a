"""The demo's bad loans: borrowers who stopped paying, one in each overdue stage, and a
guaranteed loan the guarantee company compensated — then the end-of-day batch closes
every business date from the first of them to today, as it would have night after night.

Each borrower spends the loan (withdraws it to their card) but keeps what their first
installments need, so the batch's auto-debit (代扣) pays those and the next one goes
overdue. Days are numbered as in ``demo_loans`` (day 0 is ``HISTORY_DAYS`` before today),
so these stories start before the main one, on negative days.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.collections import service as collections
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.guarantee import service as guarantee
from p2plend.identity import service as identity
from p2plend.jobs import eod
from p2plend.ledger import service as ledger
from p2plend.servicing import service as servicing
from p2plend.sim.demo_loans import HISTORY_DAYS, YUAN, Story

FIRST_DAY = -250  # the first bad loan is listed this many days before the main story


@dataclass(frozen=True)
class BadLoan:
    borrower: str
    day: int  # listed, funded and disbursed on this day of the story
    amount: int  # yuan, over 12 months in equal installments
    grade: str
    rate: str
    installments_paid: int  # before the borrower stopped paying
    purpose: str
    description: str
    industry: str


# Today (day 100) the first unpaid installment of each is about 13, 45, 75, 140 and 250
# days overdue: M1, M2, M3, M3+ and M7+.
BAD_LOANS = (
    BadLoan("孙浩", 57, 20_000, "B", "0.0820", 0, "consumption", "手机与电脑更新", "零售"),
    BadLoan("周婷", -5, 30_000, "C", "0.0880", 1, "business", "服装店进货", "零售"),
    BadLoan("冯刚", -35, 40_000, "C", "0.0890", 1, "business", "货车首付与保险", "交通运输"),
    BadLoan("沈涛", -100, 25_000, "B", "0.0840", 1, "consumption", "婚礼酒席费用", "建筑装修"),
    BadLoan("曹磊", -240, 50_000, "C", "0.0900", 2, "business", "装修工程垫资", "建筑装修"),
)
# Guaranteed by the guarantee company, which compensates the lenders on DPD 2.
GUARANTEED_LOAN = BadLoan("韩梅", 20, 30_000, "B", "0.0800", 0, "education", "成人本科学费", "教育培训")
GUARANTOR = "浙江安信融资担保有限公司"
GUARANTOR_TERMS = {
    "coverage": guarantee.PRINCIPAL_INTEREST,
    "trigger_dpd": 2,
    "accelerate_dpd": 90,
    "fee_rate": Decimal("0.01"),
}
# Who lends, by grade: 钱进 (C3) may not lend to grade C (risk class R4, R16).
LENDERS = {
    "B": (("张伟", Decimal("0.5")), ("赵敏", Decimal("0.3")), ("钱进", Decimal("0.2"))),
    "C": (("张伟", Decimal("0.5")), ("赵敏", Decimal("0.5"))),
}


def play(story: Story) -> None:
    """List, fund and disburse the bad loans on their days; each borrower spends the money."""
    story.day(FIRST_DAY)
    guarantor = story.cast[GUARANTOR]
    story.act(lambda s: guarantee.set_terms(s, guarantor, actor_id=story.cast["李风控"], **GUARANTOR_TERMS))  # type: ignore[arg-type]
    for loan in sorted([*BAD_LOANS, GUARANTEED_LOAN], key=lambda loan: loan.day):
        _bad_loan(story, loan)


def _bad_loan(story: Story, loan: BadLoan) -> None:
    story.day(loan.day)
    terms: dict[str, object] = {
        "amount": loan.amount * YUAN,
        "purpose": loan.purpose,
        "purpose_description": loan.description,
        "industry": loan.industry,
        "term_months": 12,
    }
    if loan is GUARANTEED_LOAN:
        terms |= {"product_code": "guaranteed", "guarantor_id": story.cast[GUARANTOR]}
    loan_id = story.listing(loan.borrower, loan.grade, loan.rate, **terms)
    story.open(loan_id)
    for investor, share in LENDERS[loan.grade]:
        story.bid(investor, loan_id, int(loan.amount * share))
    story.disburse(loan_id)
    borrower_id = story.cast[loan.borrower]
    story.act(lambda s: _spend_all_but(s, story, loan_id, borrower_id, loan.installments_paid))
    story.bank.deliver_pending()


def _spend_all_but(session: Session, story: Story, loan_id: int, borrower_id: int, installments: int) -> None:
    """The borrower withdraws the loan to their card, keeping ``installments`` installments."""
    keep = sum(row.owed for row in servicing.schedule(session, loan_id)[:installments])
    fee = get_settings().withdrawal_fee_fen
    available = ledger.user_balances(session, borrower_id).available
    card = identity.list_cards(session, borrower_id)[0]
    custody.place_withdrawal_hold(session, borrower_id, amount=available - keep - fee, card_id=card.id)
    custody.submit_pending_withdrawals(session, story.bank)


def collections_work(story: Story) -> None:
    """Today, after the batch: collectors at work on the open cases, and a write-off of the
    M7+ loan proposed by a risk officer, waiting for a second person (finance) to approve."""
    story.day(HISTORY_DAYS)
    open_cases = story.act(lambda s: collections.cases(s, status="open", limit=50).items)
    by_borrower = {case.borrower_id: case for case in open_cases}
    steps = (
        ("周婷", collections.ActionInput(kind="call", detail="reached", note="本人接听，称店铺回款慢。")),
        (
            "周婷",
            collections.ActionInput(
                kind="promise_to_pay", amount=2_000 * YUAN, due_on=clock.today() + timedelta(days=7)
            ),
        ),
        ("冯刚", collections.ActionInput(kind="call", detail="no_answer", note="两次未接，已发短信。")),
        ("沈涛", collections.ActionInput(kind="visit", detail="not_home", note="上门未见本人，留下催告函。")),
        ("曹磊", collections.ActionInput(kind="legal", detail="demand_letter", note="律师函已寄出。")),
    )
    for borrower, action in steps:
        case = by_borrower[story.cast[borrower]]
        _log(story, case.collector_id or story.cast["吴催收"], case.id, action)
    bad = story.cast["曹磊"]
    story.act(
        lambda s: collections.propose(
            s, actor_id=story.cast["李风控"], loan_id=by_borrower[bad].loan_id, reason="dpd_over_180"
        )
    )


def _log(story: Story, collector: int, case_id: int, action: collections.ActionInput) -> None:
    story.act(lambda s: collections.log_action(s, actor_id=collector, case_id=case_id, action=action))


def close_every_day(factory: sessionmaker[Session], bank: SimulatedBank, first: date, end: datetime) -> None:
    """日终: close each business date from ``first`` to yesterday, at 23:00 of that date —
    what the server's scheduled batch would have done night after night. Today is left
    open: tonight's run (or ``p2plend eod run``) closes it."""
    business = clock.current()
    assert isinstance(business, clock.FixedClock)
    day = first
    while day < clock.business_date_of(end):
        business.set_business_date(day, hour=23)
        eod.close_date(factory, day, bank)
        day += timedelta(days=1)
    business.set(end)
