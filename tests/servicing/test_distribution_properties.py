"""R25 as a property: the split servicing uses (``money.allocate`` over the holdings in
acquisition order) for any holdings and any payment components."""

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from p2plend.money import allocate
from tests.servicing import oracle

holdings = st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=60)


@st.composite
def payments(draw: st.DrawFn) -> tuple[list[int], int, int, int]:
    """Holdings and a payment: principal never more than they hold, any interest and fee."""
    held = draw(holdings)
    principal = draw(st.integers(min_value=0, max_value=sum(held)))
    interest = draw(st.integers(min_value=0, max_value=10**9))
    prepayment_fee = draw(st.integers(min_value=0, max_value=10**7))
    return held, principal, interest, prepayment_fee


@settings(max_examples=400, deadline=None)
@given(payments())
def test_r25_every_component_splits_exactly_within_a_fen(payment: tuple[list[int], int, int, int]) -> None:
    """R25: Σ shares == component; each share within 1 fen of its exact pro-rata value;
    principal shares never exceed a holding (so holdings stay ≥ 0 and sum to the
    outstanding principal, R26); the same as DOMAIN.md §3's rule, ties included."""
    held, *components = payment
    total = sum(held)
    start = datetime(2026, 11, 28, tzinfo=UTC)
    # Listed by acquisition (some at the same instant), then holding id: the order servicing uses.
    claims = [oracle.Claim(i + 1, h, start + timedelta(days=i // 3)) for i, h in enumerate(held)]
    for kind, amount in zip(("principal", "interest", "prepayment_fee"), components, strict=True):
        shares = allocate(amount, held)
        assert sum(shares) == amount
        for share, h in zip(shares, held, strict=True):
            assert abs(share - Fraction(amount * h, total)) < 1
            assert share >= 0
            if kind == "principal":
                assert share <= h
        assert shares == [oracle.split(amount, claims)[c.holding_id] for c in claims]
        assert allocate(amount, held) == shares  # deterministic


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=12), st.integers(0, 200))
def test_r25_ties_go_to_the_larger_holding_then_the_earlier(held: list[int], amount: int) -> None:
    """Small equal holdings force ties on the fractional remainder: DOMAIN.md §3 breaks them by
    the larger holding, then earlier acquisition, then lower holding id."""
    start = datetime(2026, 11, 28, tzinfo=UTC)
    claims = [oracle.Claim(i + 1, h, start) for i, h in enumerate(held)]
    assert allocate(amount, held) == [oracle.split(amount, claims)[c.holding_id] for c in claims]


def test_r25_the_domain_example() -> None:
    """83.33 split 5000:3000:2000 → 41.66 / 25.00 / 16.67 (naive rounding would pay 83.34)."""
    assert allocate(8_333, [500_000, 300_000, 200_000]) == [4_166, 2_500, 1_667]
