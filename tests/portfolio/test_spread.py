"""分散投资's arithmetic (``portfolio.spread``): hand-computed cases, then properties.

Properties, for any amount, most per loan and listings: the bids never sum to more than the
amount; each bid is one the marketplace takes (DOMAIN.md §5: at least the minimum bid and on
the step, or exactly what remains) and within the most per loan, what remains and the
investor's room; nothing more could be placed; and as many listings as possible get a bid.
"""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from p2plend.portfolio.service import PLAN_STEP, plan_step
from p2plend.portfolio.spread import Slot, ceiling, next_amount, spread

Y = 100  # fen per yuan
BIG = 10_000_000 * Y


def slot(
    loan_id: int,
    rate: str = "0.10",
    *,
    min_bid: int = 100 * Y,
    step: int = 100 * Y,
    remaining: int = BIG,
    room: int = BIG,
) -> Slot:
    return Slot(loan_id, Decimal(rate), min_bid, step, remaining, room)


def test_evenly_across_every_listing_higher_rate_first() -> None:
    # 1,000 over three listings, at most 500 each: 100 each first, then 100 at a time to the
    # one holding least, the 12 % listing first on ties, then 10 %, then 8 %.
    given_ = spread(1_000 * Y, 500 * Y, [slot(1, "0.10"), slot(2, "0.12"), slot(3, "0.08")])
    assert given_ == {1: 300 * Y, 2: 400 * Y, 3: 300 * Y}


def test_the_most_per_loan_binds() -> None:
    assert spread(1_000 * Y, 200 * Y, [slot(1), slot(2), slot(3)]) == {1: 200 * Y, 2: 200 * Y, 3: 200 * Y}


def test_most_listings_first_then_the_higher_rates() -> None:
    # 200 reaches two of three listings at 100 each: the two best rates.
    assert spread(200 * Y, 200 * Y, [slot(1, "0.08"), slot(2, "0.10"), slot(3, "0.12")]) == {
        1: 0,
        2: 100 * Y,
        3: 100 * Y,
    }


def test_a_bid_completing_a_listing_may_be_below_the_minimum() -> None:
    # 50 left on listing 1 (below the 100 minimum): a 50 bid completes it. Listing 2 then gets
    # 100 and 200; the last 50 fits no step of listing 2, so 250 of 300 is placed.
    assert spread(300 * Y, 300 * Y, [slot(1, remaining=50 * Y), slot(2)]) == {1: 50 * Y, 2: 200 * Y}


def test_the_room_under_the_per_investor_cap_floors_to_the_step() -> None:
    # 150 of room, steps of 100: at most 100.
    assert spread(1_000 * Y, 1_000 * Y, [slot(1, room=150 * Y)]) == {1: 100 * Y}


def test_a_listing_whose_minimum_is_beyond_the_amount_is_left_out() -> None:
    assert spread(300 * Y, 300 * Y, [slot(1, min_bid=500 * Y), slot(2)]) == {1: 0, 2: 300 * Y}


def test_a_minimum_off_the_step_rounds_up_to_the_step() -> None:
    # Minimum 150, steps of 100: the smallest bid is 200 (on the step, at least the minimum).
    assert next_amount(slot(1, min_bid=150 * Y), 0, BIG) == 200 * Y


def test_plans_bid_in_steps_of_at_least_100_yuan() -> None:
    assert plan_step(100 * Y) == 100 * Y
    assert plan_step(50 * Y) == 100 * Y
    assert plan_step(1 * Y) == 100 * Y
    assert plan_step(30 * Y) == 120 * Y  # four steps of 30
    assert plan_step(500 * Y) == 500 * Y
    assert PLAN_STEP == 100 * Y


# --- properties -------------------------------------------------------------------------------


def _accepted(s: Slot, amount: int) -> bool:
    """The marketplace takes it (DOMAIN.md §5): the whole remainder, or ≥ minimum on the step."""
    return amount == s.remaining or (
        amount >= s.min_bid and amount % s.bid_step == 0 and amount < s.remaining
    )


slots = st.lists(
    st.builds(
        Slot,
        loan_id=st.integers(1, 10_000),
        annual_rate=st.sampled_from([Decimal("0.06"), Decimal("0.08"), Decimal("0.10"), Decimal("0.12")]),
        min_bid=st.integers(1, 2_000).map(lambda y: y * Y),
        bid_step=st.sampled_from([100 * Y, 200 * Y, 500 * Y, 1_000 * Y, 120 * Y]),
        remaining=st.integers(1, 100_000 * Y),
        room=st.integers(0, 100_000 * Y),
    ),
    max_size=12,
    unique_by=lambda s: s.loan_id,
)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(1, 200).map(lambda n: n * 100 * Y),
    max_per_loan=st.integers(1, 200).map(lambda n: n * 100 * Y),
    listings=slots,
)
def test_spread_properties(amount: int, max_per_loan: int, listings: list[Slot]) -> None:
    got = spread(amount, max_per_loan, listings)
    assert set(got) == {s.loan_id for s in listings}
    placed = sum(got.values())
    assert placed <= amount  # never more than the amount
    left = amount - placed
    for s in listings:
        bid = got[s.loan_id]
        if bid:
            assert _accepted(s, bid), (s, bid)
            assert bid <= max_per_loan and bid <= s.room and bid <= s.remaining
        # Nothing more could be placed: the next accepted amount costs more than what is left.
        following = next_amount(s, bid, max_per_loan)
        assert following is None or following - bid > left
    # The most listings: as many as the smallest first bids can pay for.
    entries = sorted(e for e in (next_amount(s, 0, max_per_loan) for s in listings) if e is not None)
    reachable, total = 0, 0
    for entry in entries:
        if total + entry > amount:
            break
        total, reachable = total + entry, reachable + 1
    assert sum(1 for bid in got.values() if bid) == reachable


@settings(max_examples=200, deadline=None)
@given(listings=slots, max_per_loan=st.integers(1, 200).map(lambda n: n * 100 * Y))
def test_next_amount_is_the_smallest_accepted_amount_above(listings: list[Slot], max_per_loan: int) -> None:
    for s in listings:
        top = ceiling(s, max_per_loan)
        step = next_amount(s, 0, max_per_loan)
        if step is None:
            # No accepted amount within the limits: none on the step, and no completing bid.
            assert not any(_accepted(s, a) for a in range(s.bid_step, top + 1, s.bid_step))
            assert not (0 < s.remaining <= top)
            continue
        assert _accepted(s, step) and step <= top
        assert not any(_accepted(s, a) for a in range(s.bid_step, step, s.bid_step))
        assert not (0 < s.remaining < step)  # nor a smaller bid completing the listing
