"""The demo's markets, today (day ``HISTORY_DAYS``), after the batch has closed every past date:
auto-bid rules that take their turn when a new listing opens, a portfolio plan spread over the
open listings, claims on the debt-transfer market — one partly bought, one waiting — and the
partner micro-loan company's claims (机构债权, P2B): one approved and partly bought, one in review;
and a purchase whose platform transaction was lost after the bank had moved the money, swept.
"""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.custody import service as custody
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Holding
from p2plend.p2b import service as p2b
from p2plend.p2b.models import PartnerClaim
from p2plend.portfolio import service as portfolio
from p2plend.sim.demo_loans import HISTORY_DAYS, YUAN, Story
from p2plend.transfers import service as transfers

EVERY_METHOD = autobid.METHODS
PLAIN_PRODUCTS = ("credit",)


def _rule(
    grades: tuple[str, ...],
    *,
    fixed: int = 0,
    share: str = "0",
    reserve: int,
    total_cap: int | None = None,
) -> autobid.RuleTerms:
    return autobid.RuleTerms(
        min_rate=Decimal("0.07"),
        max_rate=Decimal("0.10"),
        min_term_months=6,
        max_term_months=24,
        grades=grades,
        methods=EVERY_METHOD,
        product_kinds=PLAIN_PRODUCTS,
        amount_mode=autobid.FIXED if fixed else autobid.SHARE,
        fixed_amount=fixed * YUAN,
        balance_share=Decimal(share),
        reserve=reserve * YUAN,
        total_cap=None if total_cap is None else total_cap * YUAN,
        valid_until=clock.today() + timedelta(days=365),
    )


# Who lets the platform bid for them (自动投标), in the order they switched it on:
# 王芳 1,000.00 a loan keeping 10,000.00 back, within 50,000.00 in all; 赵敏 5 % of her
# balance keeping 20,000.00 back; 刘洋 grade AA only, so today's grade-A listing passes her by.
RULES = (
    ("王芳", _rule(("A", "B"), fixed=1_000, reserve=10_000, total_cap=50_000)),
    ("赵敏", _rule(("A", "B", "C"), share="0.05", reserve=20_000)),
    ("刘洋", _rule(("AA",), fixed=500, reserve=1_000)),
)


def play(story: Story) -> None:
    story.day(HISTORY_DAYS)
    _autobid(story)
    _plan(story)
    _transfers(story)
    _partner_claims(story)


def _autobid(story: Story) -> None:
    for name, terms in RULES:
        investor = story.cast[name]

        def enable(session: Session, investor: int = investor, terms: autobid.RuleTerms = terms) -> None:
            autobid.sign_authorisation(session, investor)
            autobid.save_rule(session, investor, terms, actor_id=investor)
            autobid.enable(session, investor, actor_id=investor)

        story.act(enable)
    # L10: 陈静, 20,000 — published today; the auto-bid queue takes its turn at once.
    l10 = story.listing(
        "陈静",
        "A",
        "0.0760",
        amount=20_000 * YUAN,
        purpose="education",
        purpose_description="在职 MBA 学费",
        term_months=12,
    )
    story.act(lambda s: autobid.open_listing(s, l10, actor_id=story.cast["李风控"]))


def _plan(story: Story) -> None:
    """钱进 spreads 4,000.00 over the open grade A–B listings, at most 2,000.00 on each."""
    terms = portfolio.check_terms(
        amount=4_000 * YUAN, min_rate=Decimal("0.07"), max_per_loan=2_000 * YUAN, grades=("A", "B")
    )
    investor = story.cast["钱进"]
    story.act(lambda s: portfolio.execute_plan(s, investor, terms))


def _transfers(story: Story) -> None:
    """张伟 offers 10,000.00 of his claim on 陈静's loan (L1) at 0.5 % off its value and 钱进
    buys 5,000.00 of it; 王芳 offers her whole claim on L1 at its value, not yet bought."""
    l1 = story.act(lambda s: _loan_of(s, story.cast["陈静"], 60_000 * YUAN))
    seller, buyer, other = story.cast["张伟"], story.cast["钱进"], story.cast["王芳"]
    listing = story.act(
        lambda s: (
            transfers.list_for_sale(
                s,
                seller_id=seller,
                holding_id=_holding(s, l1, seller).id,
                principal=10_000 * YUAN,
                discount_rate=Decimal("0.005"),
            ).id
        )
    )
    story.act(
        lambda s: transfers.buy(
            s, buyer_id=buyer, listing_id=listing, principal=5_000 * YUAN, custodian=story.bank
        )
    )
    story.act(lambda s: transfers.list_for_sale(s, seller_id=other, holding_id=_holding(s, l1, other).id))
    _orphaned_purchase(story, listing, buyer)


def _orphaned_purchase(story: Story, listing: int, buyer: int) -> None:
    """钱进 buys 1,000.00 more of 张伟's listing, but the platform's transaction is lost after the
    bank carried out the transfer (a dropped connection, say): an orphaned instruction. The
    sweep, once its grace has passed, voids it and has the bank reverse it — the staff
    reconciliation page lists it — and 钱进's retry buys under the number's retry mark (``~1``)."""
    with story.factory() as lost:
        transfers.buy(lost, buyer_id=buyer, listing_id=listing, principal=1_000 * YUAN, custodian=story.bank)
        lost.rollback()
    custody.sweep_orphaned_instructions(
        story.factory, story.bank, now=clock.now() + custody.SWEEP_GRACE + timedelta(seconds=1)
    )
    story.act(
        lambda s: transfers.buy(
            s, buyer_id=buyer, listing_id=listing, principal=1_000 * YUAN, custodian=story.bank
        )
    )


def _loan_of(session: Session, borrower_id: int, amount: int) -> int:
    [loan] = [
        loan
        for loan in marketplace.loans(session, statuses=[marketplace.DISBURSED], borrower_id=borrower_id)
        if loan.amount == amount
    ]
    return loan.id


def _holding(session: Session, loan_id: int, holder_id: int) -> Holding:
    [holding] = [h for h in marketplace.holdings_of_holder(session, holder_id) if h.loan_id == loan_id]
    return holding


PARTNER = "杭州西湖小额贷款股份有限公司"


def _claim(debtor: str, summary: str, amount: int, *, repurchase_dpd: int | None) -> p2b.ClaimInput:
    return p2b.ClaimInput(
        institution_type="micro_loan",
        institution_risk_tier=2,
        debtor_kind="person",
        debtor_name=debtor,
        industry="零售",
        region="浙江省杭州市",
        purpose="business",
        project_summary=summary,
        monthly_income=25_000 * YUAN,
        liabilities=20_000 * YUAN,
        credit_overdues_6m=0,
        repayment_source="店铺经营收入",
        amount=amount * YUAN,
        annual_rate=Decimal("0.0850"),
        method="equal_installment",
        term_months=12,
        original_value_date=clock.today() - timedelta(days=20),
        repurchase_dpd=repurchase_dpd,
        discount_rate=Decimal("0.002"),
    )


def _partner_claims(story: Story) -> None:
    """The micro-loan company offers a 50,000.00 claim with a repurchase commitment at DPD 30;
    a risk officer approves it at grade B and 王芳 buys 10,000.00 of it on the transfer market.
    A second claim waits for review."""
    partner = story.cast[PARTNER]
    first = story.act(
        lambda s: (
            p2b.submit_claim(
                s, partner, _claim("周明", "便利店连锁新开门店的装修与首批进货", 50_000, repurchase_dpd=30)
            ).id
        )
    )
    claim = story.act(lambda s: p2b.approve(s, first, officer_id=story.cast["李风控"], grade="B"))
    listing = story.act(lambda s: _open_listing_of(s, claim))
    buyer = story.cast["王芳"]
    story.act(
        lambda s: transfers.buy(
            s, buyer_id=buyer, listing_id=listing, principal=10_000 * YUAN, custodian=story.bank
        )
    )
    story.act(
        lambda s: p2b.submit_claim(
            s, partner, _claim("钱丽", "水果店冷柜与门面升级", 30_000, repurchase_dpd=None)
        )
    )


def _open_listing_of(session: Session, claim: PartnerClaim) -> int:
    listing = p2b.view(session, claim).open_listing
    assert listing is not None  # approval offers the claim
    return listing.id
