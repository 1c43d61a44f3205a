"""Properties of ``p2plend.money``: parsing, formatting, rounding and allocation (R19, R25)."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from p2plend.money import MAX_FEN, InvalidAmount, allocate, fen_times_rate, parse_amount, round_fen, yuan_str

fens = st.integers(min_value=0, max_value=MAX_FEN)
positive_fens = st.integers(min_value=1, max_value=MAX_FEN)
canonical_amounts = st.from_regex(r"\A(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?\Z")


# --- parsing and formatting ------------------------------------------------------------------


@given(positive_fens)
@example(1)
@example(MAX_FEN)
def test_format_then_parse_round_trips(fen: int) -> None:
    assert parse_amount(yuan_str(fen)) == fen


@given(canonical_amounts)
def test_parse_then_format_gives_the_two_decimal_form(text: str) -> None:
    fen = parse_amount(text, allow_zero=True)
    whole, _, frac = text.partition(".")
    assert yuan_str(fen) == f"{whole}.{(frac + '00')[:2]}"


def test_zero_is_refused_unless_allowed() -> None:
    with pytest.raises(InvalidAmount):
        parse_amount("0.00")
    assert parse_amount("0.00", allow_zero=True) == 0


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.booleans(), st.none()))
def test_parse_refuses_anything_but_a_string(value: object) -> None:
    """R19: a float (or any number) never becomes money."""
    with pytest.raises(InvalidAmount):
        parse_amount(value)


@given(canonical_amounts)
def test_parse_refuses_negatives(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount("-" + text)


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "1E3",
        "1.5e2",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1,000",
        "1,000.00",
        "1.234",
        "0.001",
        "+1",
        ".5",
        "1.",
        "01",
        "0x10",
        "１００",  # full-width digits
        "",
        "1 000",
        "¥100",
    ],
)
def test_parse_refuses_malformed_amounts(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text)


@pytest.mark.parametrize("text", [" 1", "1 ", "\t1.00", "1.00\n"])
def test_parse_refuses_surrounding_whitespace(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(text)


@given(st.decimals(min_value=1, max_value=2, places=2))
@example(Decimal("2.00"))
def test_parse_refuses_anything_above_bigint_with_two_decimals(step: Decimal) -> None:
    too_big = MAX_FEN + int(step * 100)
    with pytest.raises(InvalidAmount):
        parse_amount(yuan_str(too_big))


def test_the_largest_bigint_amount_parses() -> None:
    assert parse_amount("92233720368547758.07") == MAX_FEN
    with pytest.raises(InvalidAmount):
        parse_amount("92233720368547758.08")
    with pytest.raises(InvalidAmount):
        parse_amount("9" * 40)


# --- rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fen"),
    [("0.5", 1), ("1.5", 2), ("2.5", 3), ("0.49999", 0), ("-0.5", -1), ("-2.5", -3), ("8333.5", 8334)],
)
def test_round_fen_is_half_up(value: str, fen: int) -> None:
    """ROUND_HALF_UP: halves go away from zero, never to the even neighbour."""
    assert round_fen(Decimal(value)) == fen


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=99_999))
def test_round_fen_matches_exact_half_up(whole: int, frac: int) -> None:
    value = Decimal(whole) + Decimal(frac) / Decimal(100_000)
    assert round_fen(value) == (whole + 1 if frac >= 50_000 else whole)


@given(fens.filter(lambda f: f < 10**15), st.decimals(min_value=0, max_value=1, places=6))
def test_fee_rate_rounds_the_exact_product_half_up(fen: int, rate: Decimal) -> None:
    exact = Fraction(fen) * Fraction(rate)
    assert fen_times_rate(fen, rate) == int(exact + Fraction(1, 2))


# --- allocation (DOMAIN.md §3) ----------------------------------------------------------------

weights_lists = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30).filter(
    lambda ws: sum(ws) > 0
)
totals = st.integers(min_value=0, max_value=10**12)


def test_domain_example_interest_split() -> None:
    """DOMAIN.md §3: 83.33 split 5000:3000:2000 → 41.66 / 25.00 / 16.67."""
    assert allocate(8333, [5000, 3000, 2000]) == [4166, 2500, 1667]


@given(totals, weights_lists)
def test_parts_sum_to_the_total_exactly(total: int, weights: list[int]) -> None:
    """R25."""
    assert sum(allocate(total, weights)) == total


@given(totals, weights_lists)
def test_each_part_is_within_one_fen_of_its_exact_share(total: int, weights: list[int]) -> None:
    """R25: |part − total·w/W| < 1 fen."""
    weight_sum = sum(weights)
    for part, weight in zip(allocate(total, weights), weights, strict=True):
        assert abs(Fraction(part) - Fraction(total * weight, weight_sum)) < 1


@given(totals, weights_lists)
def test_allocation_is_deterministic(total: int, weights: list[int]) -> None:
    assert allocate(total, weights) == allocate(total, list(weights))


@given(totals, weights_lists)
def test_residue_goes_by_remainder_then_weight_then_position(total: int, weights: list[int]) -> None:
    """Ties: the larger fractional remainder first, then the larger weight, then the earlier position."""
    weight_sum = sum(weights)
    parts = allocate(total, weights)
    bases = [total * w // weight_sum for w in weights]
    got_extra = [i for i, part in enumerate(parts) if part == bases[i] + 1]
    passed_over = [i for i, part in enumerate(parts) if part == bases[i]]
    assert len(got_extra) + len(passed_over) == len(weights)

    def rank(i: int) -> tuple[int, int, int]:
        return (-(total * weights[i] % weight_sum), -weights[i], i)

    for winner in got_extra:
        for loser in passed_over:
            assert rank(winner) < rank(loser)


def test_equal_weights_break_ties_by_position() -> None:
    assert allocate(2, [1, 1, 1]) == [1, 1, 0]
    assert allocate(1, [1, 2, 2]) == [0, 1, 0]


def test_zero_weight_gets_nothing() -> None:
    assert allocate(101, [0, 1, 1]) == [0, 51, 50]


@pytest.mark.parametrize(
    ("total", "weights"),
    [(-1, [1]), (1, []), (1, [0, 0]), (1, [1, -1])],
)
def test_allocation_refuses_nonsense(total: int, weights: list[int]) -> None:
    with pytest.raises(ValueError):
        allocate(total, weights)
