"""Spreading an amount over listings (分散投资): pure arithmetic, no database.

Each listing takes a bid that is a multiple of its bid step and at least its minimum bid —
or exactly what remains on it, which the marketplace accepts whatever its size because it
completes the listing (DOMAIN.md §5) — and never more than the plan's most per loan, what
remains on the listing, or the investor's room under the listing's per-investor cap.

The amount goes to the most listings first (each listing's smallest possible bid, smallest
first), then evenly: every further increment goes to the listing holding the least so far,
to its next possible amount. Ties go to the higher rate, then the lower listing id. The sum
never exceeds the amount.
"""

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Slot:
    """One listing a plan may bid on, as it stands now (amounts in fen)."""

    loan_id: int
    annual_rate: Decimal
    min_bid: int
    bid_step: int
    remaining: int  # what the listing still needs
    room: int  # the investor's room under the listing's per-investor cap


def ceiling(slot: Slot, max_per_loan: int) -> int:
    """The most one bid on ``slot`` may be."""
    return max(0, min(max_per_loan, slot.remaining, slot.room))


def next_amount(slot: Slot, current: int, max_per_loan: int) -> int | None:
    """The smallest amount above ``current`` the marketplace accepts on ``slot`` within the
    plan's limits, or None when there is none."""
    top = ceiling(slot, max_per_loan)
    candidates = []
    stepped = max(current // slot.bid_step + 1, -(-slot.min_bid // slot.bid_step)) * slot.bid_step
    if stepped <= top and stepped < slot.remaining:
        candidates.append(stepped)
    if current < slot.remaining <= top:  # the bid that completes the listing
        candidates.append(slot.remaining)
    return min(candidates) if candidates else None


def spread(amount: int, max_per_loan: int, slots: Sequence[Slot]) -> dict[int, int]:
    """How much to bid on each listing (by loan id; zero for a listing left out)."""
    given = {slot.loan_id: 0 for slot in slots}
    left = amount
    heap: list[tuple[int, int, Decimal, int]] = []
    by_id = {slot.loan_id: slot for slot in slots}
    for slot in slots:
        step = next_amount(slot, 0, max_per_loan)
        if step is not None:
            heap.append((0, step, -slot.annual_rate, slot.loan_id))
    heapq.heapify(heap)
    while heap and left > 0:
        current, target, _, loan_id = heapq.heappop(heap)
        if target - current > left:
            continue  # the budget only shrinks: this listing can take nothing more
        given[loan_id] = target
        left -= target - current
        slot = by_id[loan_id]
        following = next_amount(slot, target, max_per_loan)
        if following is not None:
            heapq.heappush(heap, (target, following, -slot.annual_rate, loan_id))
    return given
