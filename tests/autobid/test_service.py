"""Auto-bid (自动投标), DOMAIN.md §10: the rule, the authorisation, one allocation's limits
(R43: 20 % per bid, 60 % in all, reserve, total cap, one bid per listing), suitability (R15/R16),
the queue's rotation, the borrower switched off at disbursement."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.autobid import service as autobid
from p2plend.autobid.models import AutobidDecision
from p2plend.custody.errors import CustodyAccountRequired
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import DomainError
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid
from p2plend.origination import vocabulary
from p2plend.schedules.service import Method
from tests import lending
from tests.autobid.conftest import enable_rule, rule_terms

YUAN = 100
AMOUNT = 10_000 * YUAN  # the listing: 10,000.00, minimum bid and step 100.00


def _listing(sessions: sessionmaker[Session], bank: SimulatedBank, **overrides: object) -> int:
    borrower = overrides.pop("borrower", None) or lending.make_borrower(sessions, bank)
    terms = lending.listing_terms(borrower, amount=overrides.pop("amount", AMOUNT), **overrides)  # type: ignore[arg-type]
    return lending.create_listing(sessions, terms)


def _open(sessions: sessionmaker[Session], loan_id: int) -> None:
    with sessions.begin() as session:
        autobid.open_listing(session, loan_id, actor_id=None)


def _auto_bids(sessions: sessionmaker[Session], loan_id: int) -> list[tuple[int, int]]:
    with sessions() as session:
        rows = session.scalars(
            select(Bid).where(Bid.loan_id == loan_id, Bid.source == autobid.AUTO_BID).order_by(Bid.id)
        )
        return [(b.investor_id, b.amount) for b in rows]


def _decisions(sessions: sessionmaker[Session], loan_id: int) -> list[tuple[int, str, str, int]]:
    with sessions() as session:
        rows = autobid.decisions(session, loan_id=loan_id)
        return [(d.investor_id, d.outcome, d.reason, d.amount) for d in reversed(rows)]


def _investor(
    sessions: sessionmaker[Session], bank: SimulatedBank, balance: int = 100_000 * YUAN, **rule: object
) -> int:
    investor = lending.make_investor(sessions, bank, balance=balance, points=int(rule.pop("points", 90)))  # type: ignore[call-overload]
    enable_rule(sessions, investor, **rule)
    return investor


def _available(sessions: sessionmaker[Session], investor: int) -> int:
    return lending.balances(sessions, investor).available


# --- the rule and the authorisation -------------------------------------------------------------


def test_vocabularies_are_origination_and_schedule_ones() -> None:
    """The rule's sets name exactly the grades, methods and product kinds loans carry."""
    assert autobid.GRADES == vocabulary.GRADES
    assert autobid.PRODUCT_KINDS == vocabulary.PRODUCT_KINDS
    assert tuple(m.value for m in Method) == autobid.METHODS


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("min_rate", {"min_rate": Decimal("-0.01")}),
        ("min_rate", {"min_rate": Decimal("0.0000001")}),
        ("max_rate", {"min_rate": Decimal("0.10"), "max_rate": Decimal("0.09")}),
        ("max_rate", {"max_rate": Decimal("1.5")}),
        ("min_term_months", {"min_term_months": 0}),
        ("max_term_months", {"min_term_months": 12, "max_term_months": 6}),
        ("max_term_months", {"max_term_months": 361}),
        ("grades", {"grades": ()}),
        ("grades", {"grades": ("AAA",)}),
        ("methods", {"methods": ("monthly",)}),
        ("product_kinds", {"product_kinds": ()}),
        ("amount_mode", {"amount_mode": "all"}),
        ("fixed_amount", {"fixed_amount": 0}),
        ("balance_share", {"amount_mode": "share", "balance_share": Decimal(0)}),
        ("balance_share", {"amount_mode": "share", "balance_share": Decimal("1.01")}),
        ("balance_share", {"amount_mode": "share", "balance_share": Decimal("0.12345")}),
        ("reserve", {"reserve": -1}),
        ("total_cap", {"total_cap": 0}),
        ("valid_until", {"valid_until": "yesterday"}),
    ],
)
def test_a_rule_out_of_range_is_refused_naming_the_field(
    session_factory: sessionmaker[Session], bank: SimulatedBank, field: str, overrides: dict[str, object]
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=0)
    if overrides.get("valid_until") == "yesterday":
        overrides["valid_until"] = clock.today() - timedelta(days=1)
    with session_factory.begin() as session, pytest.raises(autobid.InvalidAutobidRule) as refused:
        autobid.save_rule(session, investor, rule_terms(**overrides), actor_id=investor)
    assert refused.value.details == {"field": field}
    with session_factory() as session:
        assert autobid.rule_of(session, investor) is None


def test_enabling_needs_a_rule_the_signed_authorisation_and_a_valid_assessment(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=0)
    with session_factory.begin() as session, pytest.raises(autobid.AutobidRuleNotFound):
        autobid.enable(session, investor, actor_id=investor)
    with session_factory.begin() as session:
        autobid.save_rule(session, investor, rule_terms(), actor_id=investor)
    with session_factory.begin() as session, pytest.raises(autobid.AutobidAuthorisationRequired) as refused:
        autobid.enable(session, investor, actor_id=investor)
    assert refused.value.code == "autobid_authorisation_required"
    with session_factory.begin() as session:
        signed = autobid.sign_authorisation(session, investor)
        again = autobid.sign_authorisation(session, investor)  # once per version
        assert again.id == signed.id and signed.version == autobid.AUTHORISATION_VERSION
        view = autobid.enable(session, investor, actor_id=investor)
    assert (view.status, view.queue_rank, view.authorised) == ("on", 1, True)
    with session_factory() as session:
        actions = [r.action for r in audit.list_records(session, object_type="autobid_rule", limit=20)]
    assert {"autobid.rule_saved", "autobid.authorised", "autobid.enabled"} <= set(actions)

    nobody = lending.make_borrower(session_factory, bank)  # never assessed (R15)
    with session_factory.begin() as session:
        autobid.sign_authorisation(session, nobody)
        autobid.save_rule(session, nobody, rule_terms(), actor_id=nobody)
    with session_factory.begin() as session, pytest.raises(DomainError) as refused:
        autobid.enable(session, nobody, actor_id=nobody)
    assert refused.value.code == "risk_assessment_required"


def test_an_expired_rule_is_not_served_and_cannot_be_enabled_again(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor = _investor(session_factory, bank, valid_until=clock.today())
    lending.go_to(clock.today() + timedelta(days=1))
    with session_factory() as session:
        view = autobid.rule_of(session, investor)
        assert view is not None and (view.status, view.queue_rank) == ("expired", None)
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _decisions(session_factory, loan_id) == []
    with session_factory.begin() as session:
        autobid.disable(session, investor, actor_id=investor)
    with session_factory.begin() as session, pytest.raises(autobid.AutobidRuleExpired):
        autobid.enable(session, investor, actor_id=investor)


# --- one allocation -------------------------------------------------------------------------------


def test_the_queue_is_served_in_order_and_each_served_investor_goes_to_the_back(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R43: in the order rules were enabled; a bid per investor; served ones to the back."""
    first, second, third = (_investor(session_factory, bank, fixed_amount=1_000 * YUAN) for _ in range(3))
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(first, 100_000), (second, 100_000), (third, 100_000)]
    assert [d[:2] for d in _decisions(session_factory, loan_id)] == [
        (first, "bid"),
        (second, "bid"),
        (third, "bid"),
    ]
    late = _investor(session_factory, bank, fixed_amount=1_000 * YUAN)
    with session_factory() as session:
        ranks = {i: autobid.rule_of(session, i).queue_rank for i in (first, second, third, late)}  # type: ignore[union-attr]
    assert ranks == {first: 1, second: 2, third: 3, late: 4}
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert (loan.status, loan.funded) == ("open", 300_000)


def test_one_auto_bid_takes_at_most_20_percent_floored_to_the_step(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor = _investor(session_factory, bank, fixed_amount=5_000 * YUAN)
    loan_id = _listing(session_factory, bank, amount=9_950 * YUAN, min_bid=100 * YUAN, bid_step=100 * YUAN)
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(investor, 1_900 * YUAN)]  # 20 % = 1,990 → 1,900


def test_the_per_bid_cap_is_never_below_the_minimum_bid(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor = _investor(session_factory, bank, fixed_amount=5_000 * YUAN)
    loan_id = _listing(session_factory, bank, amount=400 * YUAN, min_bid=100 * YUAN, max_share=Decimal(1))
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(investor, 100 * YUAN)]  # 20 % = 80 < 100


def test_auto_bids_fill_at_most_60_percent_and_the_rest_keep_their_place(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R43: manual bidders always get 40 %; investors not reached are not turns."""
    investors = [_investor(session_factory, bank, fixed_amount=2_000 * YUAN) for _ in range(5)]
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(i, 2_000 * YUAN) for i in investors[:3]]
    assert [d[0] for d in _decisions(session_factory, loan_id)] == investors[:3]
    with session_factory() as session:
        assert [autobid.rule_of(session, i).queue_rank for i in investors] == [3, 4, 5, 1, 2]  # type: ignore[union-attr]
    manual = lending.make_investor(session_factory, bank, balance=4_000 * YUAN)
    lending.bid(session_factory, manual, loan_id, 4_000 * YUAN)
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).status == "funded"


def test_the_share_stops_mid_bid_at_what_it_leaves(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investors = [_investor(session_factory, bank, fixed_amount=1_500 * YUAN) for _ in range(5)]
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert [a for _, a in _auto_bids(session_factory, loan_id)] == [150_000, 150_000, 150_000, 150_000]
    assert [i for i, _ in _auto_bids(session_factory, loan_id)] == investors[:4]


def test_the_reserve_balance_is_never_bid(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """保留金额: a bid never takes the available balance below it; nothing fits → skip."""
    trimmed = _investor(session_factory, bank, balance=1_550 * YUAN, reserve=1_000 * YUAN)
    short = _investor(session_factory, bank, balance=1_050 * YUAN, reserve=1_000 * YUAN)
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(trimmed, 500 * YUAN)]
    assert _decisions(session_factory, loan_id)[1] == (short, "skip", "balance_below_reserve", 1_000 * YUAN)
    assert _available(session_factory, trimmed) == 1_050 * YUAN
    assert _available(session_factory, short) == 1_050 * YUAN


def test_a_share_of_the_balance_per_bid(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    investor = _investor(
        session_factory, bank, balance=10_000 * YUAN, amount_mode="share", balance_share=Decimal("0.15")
    )
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(investor, 1_500 * YUAN)]


def test_the_total_cap_counts_auto_bids_not_returned(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor = _investor(session_factory, bank, total_cap=1_500 * YUAN)
    first = _listing(session_factory, bank)
    _open(session_factory, first)
    second = _listing(session_factory, bank)
    _open(session_factory, second)
    third = _listing(session_factory, bank)
    _open(session_factory, third)
    assert _auto_bids(session_factory, first) == [(investor, 1_000 * YUAN)]
    assert _auto_bids(session_factory, second) == [(investor, 500 * YUAN)]
    assert _decisions(session_factory, third) == [(investor, "skip", "total_cap_reached", 1_000 * YUAN)]
    with session_factory.begin() as session:  # 撤标: the bid comes back, and so does the room
        marketplace.withdraw_listing(session, first, actor_id=None, reason="test")
    fourth = _listing(session_factory, bank)
    _open(session_factory, fourth)
    assert _auto_bids(session_factory, fourth) == [(investor, 1_000 * YUAN)]


def test_a_rule_amount_below_the_minimum_bid_is_a_skip(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor = _investor(session_factory, bank, fixed_amount=50 * YUAN)
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _decisions(session_factory, loan_id) == [(investor, "skip", "amount_below_minimum", 50 * YUAN)]


def test_manual_bids_count_toward_the_investor_share(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """The per-investor 50 % cap holds across an investor's manual and automatic bids."""
    investor = lending.make_investor(session_factory, bank, balance=100_000 * YUAN)
    loan_id = _listing(session_factory, bank)
    with session_factory.begin() as session:
        marketplace.open_listing(session, loan_id, actor_id=None)
    lending.bid(session_factory, investor, loan_id, 4_500 * YUAN)
    enable_rule(session_factory, investor, fixed_amount=2_000 * YUAN)
    with session_factory.begin() as session:
        result = autobid.allocate(session, loan_id, actor_id=None)
    assert (result.bids, result.amount) == (1, 500 * YUAN)
    assert _auto_bids(session_factory, loan_id) == [(investor, 500 * YUAN)]
    other = lending.make_investor(session_factory, bank, balance=100_000 * YUAN)
    lending.bid(session_factory, other, loan_id, 4_500 * YUAN)
    late = _listing(session_factory, bank)
    with session_factory.begin() as session:
        marketplace.open_listing(session, late, actor_id=None)
    lending.bid(session_factory, investor, late, 5_000 * YUAN)
    with session_factory.begin() as session:
        autobid.allocate(session, late, actor_id=None)
    assert _decisions(session_factory, late) == [(investor, "skip", "investor_cap_reached", 2_000 * YUAN)]


def test_suitability_applies_as_for_manual_bids(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R15/R16: a C1 lender is not served an R3 loan; an expired assessment bids nothing; a
    tier's outstanding cap trims the bid."""
    careful = _investor(session_factory, bank, points=20)
    lapsing = _investor(session_factory, bank)
    capped = _investor(session_factory, bank, points=20, fixed_amount=2_000 * YUAN)
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _decisions(session_factory, loan_id)[0] == (
        careful,
        "skip",
        "risk_class_not_suitable",
        1_000 * YUAN,
    )
    safe = _listing(session_factory, bank, grade="AA", risk_class="R1")
    lending.go_to(clock.today() + timedelta(days=400))  # every assessment has expired
    with session_factory.begin() as session:
        for investor in (careful, lapsing, capped):
            autobid.save_rule(session, investor, rule_terms(), actor_id=investor)
    _open(session_factory, safe)
    assert {d[2] for d in _decisions(session_factory, safe)} == {"risk_assessment_expired"}
    assert _auto_bids(session_factory, safe) == []


def test_the_tier_cap_trims_an_auto_bid(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    """C1 may have 50,000.00 outstanding: 49,500.00 held in bids leaves 500.00."""
    investor = lending.make_investor(session_factory, bank, balance=60_000 * YUAN, points=20)
    for _ in range(11):
        loan_id = _listing(session_factory, bank, grade="AA", risk_class="R1")
        with session_factory.begin() as session:
            marketplace.open_listing(session, loan_id, actor_id=None)
        lending.bid(session_factory, investor, loan_id, 4_500 * YUAN)
    enable_rule(session_factory, investor, fixed_amount=2_000 * YUAN)
    loan_id = _listing(session_factory, bank, grade="AA", risk_class="R1")
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(investor, 500 * YUAN)]
    second = _listing(session_factory, bank, grade="AA", risk_class="R1")
    _open(session_factory, second)
    assert _decisions(session_factory, second) == [(investor, "skip", "risk_tier_cap_exceeded", 2_000 * YUAN)]


def test_a_refusal_of_place_bid_is_a_skip_under_its_code(
    session_factory: sessionmaker[Session], bank: SimulatedBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """place_bid runs in a savepoint: a refusal after it froze the money (as R16's second check
    can) leaves nothing but the skip, under the refusal's code, and the queue goes on."""
    refused, follower = _investor(session_factory, bank), _investor(session_factory, bank)
    real = marketplace.place_bid

    def refusing(session: Session, **kwargs: object) -> Bid:
        bid = real(session, **kwargs)  # type: ignore[arg-type]
        if kwargs["investor_id"] == refused:
            raise CustodyAccountRequired("refused after the freeze")
        return bid

    monkeypatch.setattr(marketplace, "place_bid", refusing)
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    assert _decisions(session_factory, loan_id) == [
        (refused, "skip", "custody_account_required", 1_000 * YUAN),
        (follower, "bid", "", 1_000 * YUAN),
    ]
    assert _auto_bids(session_factory, loan_id) == [(follower, 1_000 * YUAN)]
    assert lending.balances(session_factory, refused).frozen == 0
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).funded == 1_000 * YUAN


def test_non_matching_rules_keep_their_place(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    picky = _investor(session_factory, bank, min_rate=Decimal("0.12"))
    short = _investor(session_factory, bank, max_term_months=6)
    grades = _investor(session_factory, bank, grades=("AA", "A"))
    bullet = _investor(session_factory, bank, methods=("bullet",))
    mortgage = _investor(session_factory, bank, product_kinds=("mortgage",))
    taker = _investor(session_factory, bank)
    loan_id = _listing(session_factory, bank)  # 10 %, 12 months, B, equal installment, credit
    _open(session_factory, loan_id)
    assert [d[0] for d in _decisions(session_factory, loan_id)] == [taker]
    with session_factory() as session:
        assert [
            autobid.rule_of(session, i).queue_rank for i in (picky, short, grades, bullet, mortgage, taker)
        ] == [  # type: ignore[union-attr]
            1,
            2,
            3,
            4,
            5,
            6,
        ]
        assert autobid.explain(session, picky, loan_id) == ["rate_out_of_range"]
        assert autobid.explain(session, short, loan_id) == ["term_out_of_range"]
        assert autobid.explain(session, grades, loan_id) == ["grade_not_chosen"]
        assert autobid.explain(session, bullet, loan_id) == ["method_not_chosen"]
        assert autobid.explain(session, mortgage, loan_id) == ["product_kind_not_chosen"]
        assert autobid.explain(session, taker, loan_id) == ["already_auto_bid"]


def test_a_day_term_matches_as_started_months(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    three = _investor(session_factory, bank, min_term_months=3, max_term_months=3)
    loan_id = _listing(session_factory, bank, method=Method.BULLET, months=None, days=90)
    _open(session_factory, loan_id)
    assert _auto_bids(session_factory, loan_id) == [(three, 1_000 * YUAN)]


def test_never_on_ones_own_or_guaranteed_loan(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = _investor(session_factory, bank)
    loan_id = _listing(session_factory, bank, borrower=borrower)
    _open(session_factory, loan_id)
    assert _decisions(session_factory, loan_id) == []
    with session_factory() as session:
        assert autobid.explain(session, borrower, loan_id) == ["own_loan"]


def test_one_auto_bid_per_investor_per_listing(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Running the queue again for an open listing serves those without an auto-bid on it; the
    database refuses a second auto-bid decision for the same investor and listing."""
    first = _investor(session_factory, bank)
    loan_id = _listing(session_factory, bank)
    _open(session_factory, loan_id)
    second = _investor(session_factory, bank)
    with session_factory.begin() as session:
        again = autobid.allocate(session, loan_id, actor_id=None)
    assert (again.turns, again.bids) == (1, 1)
    assert _auto_bids(session_factory, loan_id) == [(first, 1_000 * YUAN), (second, 1_000 * YUAN)]
    with session_factory() as session:
        row = session.scalars(select(AutobidDecision).where(AutobidDecision.investor_id == first)).one()
        session.add(
            AutobidDecision(
                loan_id=loan_id,
                investor_id=first,
                outcome="bid",
                reason="",
                amount=1,
                bid_id=row.bid_id,
                bid_loan_id=loan_id,
                queue_position=0,
                created_at=clock.now(),
            )
        )
        with pytest.raises(IntegrityError):
            session.flush()


def test_allocating_a_listing_not_open_is_refused(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan_id = _listing(session_factory, bank)
    with session_factory.begin() as session, pytest.raises(DomainError) as refused:
        autobid.allocate(session, loan_id, actor_id=None)
    assert refused.value.code == "listing_not_open"


def test_editing_an_enabled_rule_sends_it_to_the_back(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    first, second = _investor(session_factory, bank), _investor(session_factory, bank)
    with session_factory.begin() as session:
        autobid.save_rule(session, first, rule_terms(fixed_amount=200_000), actor_id=first)
    with session_factory() as session:
        assert [autobid.rule_of(session, i).queue_rank for i in (first, second)] == [2, 1]  # type: ignore[union-attr]


def test_a_borrower_who_receives_a_disbursement_has_auto_bid_switched_off(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = _investor(session_factory, bank)
    loan_id = _listing(session_factory, bank, borrower=borrower, amount=2_000 * YUAN)
    with session_factory.begin() as session:
        marketplace.open_listing(session, loan_id, actor_id=None)
    for lender in lending.make_investors(session_factory, bank, [1_000 * YUAN, 1_000 * YUAN]):
        lending.bid(session_factory, lender, loan_id, 1_000 * YUAN)
    with session_factory.begin() as session:
        officer = lending._officer(session)
        autobid.disburse_loan(session, loan_id, bank, actor_id=officer)
    with session_factory() as session:
        view = autobid.rule_of(session, borrower)
        assert view is not None and (view.status, view.off_reason) == ("off", "borrower_disbursed")
        assert [
            (d.outcome, d.reason, d.loan_id) for d in autobid.decisions(session, investor_id=borrower)
        ] == [("off", "borrower_disbursed", loan_id)]
        assert any(
            r.action == "autobid.disabled" for r in audit.list_records(session, object_type="autobid_rule")
        )
    lending.assert_loan_sound(session_factory, loan_id)
