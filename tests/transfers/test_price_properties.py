"""R39 as properties of the arithmetic: the price stays within [V × 0.95, V]; parts bought in any
sequence sum exactly to the listing's price, fee and accrued interest of the day; and for
every part buyer = seller + platform, to the fen (no fen created or lost)."""

from datetime import date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from p2plend.marketplace.transfer_listings import TransferListing
from p2plend.money import round_fen
from p2plend.transfers import service as transfers

START, END = date(2026, 2, 12), date(2026, 3, 12)


def _listing(principal: int, period_interest: int, discount: Decimal, fee_rate: Decimal) -> TransferListing:
    return TransferListing(
        principal=principal,
        sold=0,
        discount_rate=discount,
        fee_rate=fee_rate,
        installment_number=2,
        period_start=START,
        period_end=END,
        period_interest=period_interest,
        status="open",
        created_at=datetime(2026, 2, 22),
    )


discounts = st.integers(min_value=0, max_value=500).map(lambda bp: Decimal(bp) / 10_000)
fee_rates = st.sampled_from([Decimal("0.005"), Decimal(0)])


@given(
    principal=st.integers(min_value=10_000, max_value=50_000_000),
    rate_bp=st.integers(min_value=0, max_value=2_400),
    discount=discounts,
    fee_rate=fee_rates,
    day=st.integers(min_value=0, max_value=27),
    cuts=st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=12),
)
def test_r39_parts_sum_to_the_price_and_every_part_reconciles(
    principal: int, rate_bp: int, discount: Decimal, fee_rate: Decimal, day: int, cuts: list[int]
) -> None:
    interest = round_fen(Decimal(principal) * rate_bp / 10_000 / 12)
    listing = _listing(principal, interest, discount, fee_rate)
    on = date.fromordinal(START.toordinal() + day)
    whole = transfers.day_price(listing, on)
    # R39: V × 0.95 ≤ price ≤ V (rounded to the fen).
    assert round_fen(Decimal(whole.value) * Decimal("0.95")) <= whole.price <= whole.value
    assert whole.fee == round_fen(Decimal(whole.price) * fee_rate)

    # Buyers take parts in the order given (proportional cuts of the principal), the last takes the rest.
    total = sum(cuts)
    bounds = sorted({principal * c // total for c in _running(cuts)} | {principal})
    parts, start = [], 0
    for end in bounds:
        if end > start:
            parts.append(transfers.part_price(listing, start, end - start, on))
            start = end
    assert sum(p.principal for p in parts) == principal
    assert sum(p.price for p in parts) == whole.price
    assert sum(p.fee for p in parts) == whole.fee
    assert sum(p.accrued_interest for p in parts) == whole.accrued_interest
    for part in parts:
        assert 0 <= part.fee <= part.price
        assert part.price == part.seller_net + part.fee  # buyer pays = seller gets + platform gets
        assert part.price <= part.value


def _running(values: list[int]) -> list[int]:
    out, acc = [], 0
    for value in values:
        acc += value
        out.append(acc)
    return out


def test_section_9_example_arithmetic() -> None:
    listing = _listing(334_714, 2_789, Decimal("0.005"), Decimal("0.005"))
    price = transfers.day_price(listing, date(2026, 2, 22))
    assert (price.accrued_interest, price.value, price.price, price.fee, price.seller_net) == (
        996,
        335_710,
        334_031,
        1_670,
        332_361,
    )


def test_a_third_of_a_listing_never_costs_more_than_it_is_worth() -> None:
    """Found by the property above: 10,000 fen at 0.01 % off, bought in thirds — a slice of the
    price (9,999) rounded the first third up to 3,334 fen for 3,333 fen of value."""
    listing = _listing(10_000, 0, Decimal("0.0001"), Decimal("0.005"))
    on = date.fromordinal(START.toordinal() + 7)
    parts = [
        transfers.part_price(listing, start, size, on)
        for start, size in ((0, 3_333), (3_333, 3_333), (6_666, 3_334))
    ]
    assert [p.price for p in parts] == [3_333, 3_332, 3_334]  # the 1 fen of discount to the second
    assert all(p.price <= p.value for p in parts)
    assert sum(p.price for p in parts) == transfers.day_price(listing, on).price == 9_999
