"""R43 at scale: 1,000 rules and 50 listings. Every listing's auto-bids are compared, turn by
turn, with a plain model of DOMAIN.md §10's queue (served in queue order among the matching
rules, one turn each, the served to the back in the order served), and the invariants are
checked independently: one auto-bid per investor per listing, at most 20 % per bid, at most
60 % of each listing, no bidder's available balance below their reserve.

150 investors have money in custody; 850 are assessed but have none (a turn for them is a
skip, as for an investor whose money ran out), which keeps the build fast."""

import random
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.autobid import service as autobid
from p2plend.autobid.models import AutobidDecision, AutobidRule
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid
from p2plend.schedules.service import Method
from tests import lending
from tests.autobid.conftest import assessed_investors, bulk_rules, rule_terms

YUAN = 100
RULES, FUNDED, LISTINGS = 1_000, 150, 50
GRADE_CLASS = {"AA": "R1", "A": "R2", "B": "R3", "C": "R4", "D": "R4", "E": "R5", "HR": "R5"}


@dataclass
class Model:
    """What DOMAIN.md §10 says should happen, computed without the database."""

    queue: list[int]
    rules: dict[int, autobid.RuleTerms]
    available: dict[int, int]
    auto_total: dict[int, int] = field(default_factory=dict)

    def matches(self, terms: autobid.RuleTerms, loan: marketplace.NewListing) -> bool:
        months = loan.term_months if loan.term_months is not None else -(-(loan.term_days or 0) // 30)
        return (
            terms.min_rate <= loan.annual_rate <= terms.max_rate
            and terms.min_term_months <= months <= terms.max_term_months
            and loan.grade in terms.grades
            and loan.method.value in terms.methods
            and loan.product_kind in terms.product_kinds
        )

    def serve(self, loan: marketplace.NewListing) -> list[tuple[int, str, str, int]]:
        limit = int(loan.amount * Decimal("0.6"))
        cap = max(int(loan.amount * Decimal("0.2")) // loan.bid_step * loan.bid_step, loan.min_bid)
        funded = 0
        served: list[int] = []
        turns: list[tuple[int, str, str, int]] = []
        for investor in self.queue:
            room = min(limit - funded, loan.amount - funded)
            if room <= 0 or (room < loan.min_bid and room != loan.amount - funded):
                break
            terms = self.rules[investor]
            if not self.matches(terms, loan):
                continue
            served.append(investor)
            available = self.available.get(investor, 0)
            wanted = (
                terms.fixed_amount
                if terms.amount_mode == autobid.FIXED
                else int(available * terms.balance_share)
            )
            limits = [("amount_below_minimum", wanted), ("balance_below_reserve", available - terms.reserve)]
            if terms.total_cap is not None:
                limits.append(("total_cap_reached", terms.total_cap - self.auto_total.get(investor, 0)))
            limits.append(("investor_cap_reached", int(loan.amount * loan.max_share)))
            amount = min([cap, room] + [v for _, v in limits])
            if amount != loan.amount - funded:
                amount = amount // loan.bid_step * loan.bid_step
            if amount <= 0 or (amount < loan.min_bid and amount != loan.amount - funded):
                smallest = min(v for _, v in limits)
                reason = next(r for r, v in limits if v == smallest)
                turns.append((investor, "skip", reason, max(min(wanted, cap, room), 0)))
                continue
            turns.append((investor, "bid", "", amount))
            funded += amount
            self.available[investor] = available - amount
            self.auto_total[investor] = self.auto_total.get(investor, 0) + amount
        self.queue = [i for i in self.queue if i not in set(served)] + served
        return turns


def _random_terms(rng: random.Random) -> autobid.RuleTerms:
    low = Decimal(rng.choice(["0", "0.06", "0.08", "0.10"]))
    grades = tuple(g for g in autobid.GRADES if rng.random() < 0.8) or ("B",)
    if rng.random() < 0.7:
        amount = {
            "amount_mode": autobid.FIXED,
            "fixed_amount": rng.choice([50, 300, 500, 1_000, 2_500, 9_000]) * YUAN,
        }
    else:
        amount = {"amount_mode": autobid.SHARE, "balance_share": Decimal(rng.choice(["0.05", "0.1", "0.25"]))}
    return rule_terms(
        min_rate=low,
        max_rate=low + Decimal(rng.choice(["0.04", "0.06", "1"])).min(Decimal(1) - low),
        min_term_months=rng.choice([1, 1, 3, 6]),
        max_term_months=rng.choice([12, 24, 36, 360]),
        grades=grades,
        methods=tuple(m for m in autobid.METHODS if rng.random() < 0.85) or ("equal_installment",),
        product_kinds=rng.choice([autobid.PRODUCT_KINDS, ("credit",), ("credit", "mortgage")]),
        reserve=rng.choice([0, 0, 1_000, 5_000, 20_000]) * YUAN,
        total_cap=rng.choice([None, None, 3_000 * YUAN, 10_000 * YUAN]),
        **amount,
    )


def _random_listing(rng: random.Random, borrower: int) -> marketplace.NewListing:
    grade = rng.choice(["AA", "A", "B", "B", "C", "E"])
    method = rng.choice(list(Method))
    months, days = (
        (None, rng.choice([30, 90, 180]))
        if method is Method.BULLET
        else (rng.choice([3, 6, 12, 24, 36]), None)
    )
    return lending.listing_terms(
        borrower,
        amount=rng.choice([3_000, 5_000, 8_000, 12_000, 20_000, 50_000]) * YUAN,
        annual_rate=rng.choice(["0.07", "0.09", "0.11", "0.13"]),
        method=method,
        months=months,
        days=days,
        grade=grade,
        risk_class=GRADE_CLASS[grade],
        product_kind=rng.choice(["credit", "credit", "mortgage", "guaranteed"]),
        min_bid=rng.choice([50, 100]) * YUAN,
        bid_step=rng.choice([50, 100]) * YUAN,
    )


def test_a_thousand_rules_and_fifty_listings_follow_the_queue(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    rng = random.Random(43)
    funded = lending.make_investors(
        session_factory, bank, [rng.randrange(20, 400) * 100 * YUAN for _ in range(FUNDED)]
    )
    broke = assessed_investors(session_factory, RULES - FUNDED)
    investors = funded + broke
    rng.shuffle(investors)
    rules = {investor: _random_terms(rng) for investor in investors}
    with session_factory.begin() as session:
        bulk_rules(session, [(i, rules[i]) for i in investors])
        available = {i: ledger.user_balances(session, i).available for i in funded}
    model = Model(queue=list(investors), rules=rules, available=dict(available))
    borrowers = [lending.make_borrower(session_factory, bank) for _ in range(3)]

    loan_ids = []
    for n in range(LISTINGS):
        terms = _random_listing(rng, borrowers[n % len(borrowers)])
        loan_id = lending.create_listing(session_factory, terms)
        with session_factory.begin() as session:
            autobid.open_listing(session, loan_id, actor_id=None)
        with session_factory() as session:
            made = [
                (d.investor_id, d.outcome, d.reason, d.amount)
                for d in reversed(autobid.decisions(session, loan_id=loan_id, limit=1000))
            ]
            loan = marketplace.get_loan(session, loan_id)
            auto = sum(b.amount for b in marketplace.bids_of_loan(session, loan_id) if b.source == "auto_bid")
            cap = max(int(loan.amount * Decimal("0.2")) // loan.bid_step * loan.bid_step, loan.min_bid)
            bids = [d for d in made if d[1] == "bid"]
            assert auto == loan.funded == sum(d[3] for d in bids) <= int(loan.amount * Decimal("0.6"))
            assert all(0 < d[3] <= cap for d in bids)
            assert len({d[0] for d in made}) == len(made)  # one turn, so one bid at most, each
        assert made == model.serve(terms), f"listing {n}"
        loan_ids.append(loan_id)

    with session_factory() as session:
        assert [r.investor_id for r in _queue(session)] == model.queue  # the rotation, end to end
        per_listing = session.execute(
            select(Bid.loan_id, Bid.investor_id, func.count())
            .where(Bid.source == "auto_bid")
            .group_by(Bid.loan_id, Bid.investor_id)
        ).all()
        assert per_listing and all(count == 1 for _, _, count in per_listing)
        for investor in funded:
            assert ledger.user_balances(session, investor).available >= rules[investor].reserve or (
                available[investor] < rules[investor].reserve
                and not any(i == investor for _, i, _ in per_listing)
            )
        bidders = {i for _, i, _ in per_listing}
        assert len(bidders) > 60 and len(per_listing) > 200  # the test exercised the queue
        reasons = set(session.scalars(select(AutobidDecision.reason).distinct()))
        assert {"", "balance_below_reserve", "amount_below_minimum", "total_cap_reached"} <= reasons
    lending.assert_loan_sound(session_factory)


def _queue(session: Session) -> list[AutobidRule]:
    return list(session.scalars(select(AutobidRule).order_by(AutobidRule.queue_position)))
