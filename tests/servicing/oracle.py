"""An independent oracle for what each holder must receive (DOMAIN.md §2.5, §3, §4, §7).

Written from DOMAIN.md, not from ``money.allocate`` or ``servicing``: exact fractions for
the pro-rata split, ``Decimal`` ROUND_HALF_UP for ``rd``. The tests compare the platform's
holdings, distributions and balances with what this oracle derives on its own.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def rd(value: Fraction | Decimal | int) -> int:
    """ROUND_HALF_UP to one fen of an amount already in fen."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_times_rate(amount: int, rate: Decimal) -> int:
    return rd(Fraction(amount) * Fraction(rate))


@dataclass(frozen=True)
class Claim:
    holding_id: int
    principal: int
    acquired_at: datetime


def split(amount: int, claims: Sequence[Claim]) -> dict[int, int]:
    """DOMAIN.md §3, largest remainder in fen: base_i = floor(amount·h_i/H); the residue goes
    one fen each to the largest fractional remainders; ties → larger h_i, then earlier
    acquisition, then lower holding id."""
    live = [c for c in claims if c.principal > 0]
    total = sum(c.principal for c in live)
    exact = {c.holding_id: Fraction(amount * c.principal, total) for c in live}
    shares = {c.holding_id: math.floor(exact[c.holding_id]) for c in live}
    residue = amount - sum(shares.values())
    assert 0 <= residue < max(len(live), 1)
    ranked = sorted(
        live,
        key=lambda c: (
            -(exact[c.holding_id] - shares[c.holding_id]),
            -c.principal,
            c.acquired_at,
            c.holding_id,
        ),
    )
    for claim in ranked[:residue]:
        shares[claim.holding_id] += 1
    return shares


@dataclass
class Received:
    principal: int = 0
    interest: int = 0
    prepayment_fee: int = 0
    fees: int = 0
    penalty: int = 0

    @property
    def net(self) -> int:
        return self.principal + self.interest + self.prepayment_fee + self.penalty - self.fees


@dataclass(frozen=True)
class Shares:
    principal: int
    interest: int
    prepayment_fee: int
    investor_fee: int
    penalty: int = 0


@dataclass
class Book:
    """One loan's claims as the oracle sees them, and what each holding has received."""

    fee_rate: Decimal
    claims: dict[int, Claim]
    holders: dict[int, int]  # holding id → holder id
    received: dict[int, Received] = field(default_factory=dict)
    interest_log: dict[int, list[int]] = field(default_factory=dict)  # each interest share, in order

    @property
    def outstanding(self) -> int:
        return sum(c.principal for c in self.claims.values())

    def pay(
        self, principal: int, interest: int, prepayment_fee: int = 0, penalty: int = 0
    ) -> dict[int, Shares]:
        """Split one payment's components among the claims on the payment date (R25, R27);
        penalty interest is split too, and bears no management fee (DOMAIN.md §4)."""
        claims = list(self.claims.values())
        p, i, f = split(principal, claims), split(interest, claims), split(prepayment_fee, claims)
        pen = split(penalty, claims)
        result = {}
        for holding_id in p:
            share = Shares(
                p[holding_id],
                i[holding_id],
                f[holding_id],
                fen_times_rate(i[holding_id], self.fee_rate),
                pen[holding_id],
            )
            claim = self.claims[holding_id]
            assert share.principal <= claim.principal  # a principal share never exceeds the claim
            self.claims[holding_id] = Claim(holding_id, claim.principal - share.principal, claim.acquired_at)
            got = self.received.setdefault(holding_id, Received())
            got.principal += share.principal
            got.interest += share.interest
            got.prepayment_fee += share.prepayment_fee
            got.fees += share.investor_fee
            got.penalty += share.penalty
            self.interest_log.setdefault(holding_id, []).append(share.interest)
            result[holding_id] = share
        return result

    def net_of_holder(self, holder_id: int) -> int:
        return sum(r.net for h, r in self.received.items() if self.holders[h] == holder_id)


# --- what the borrower pays --------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """An unpaid schedule row as it stands: what is still owed of each part."""

    number: int
    due_date: date
    fee: int
    interest: int
    principal: int
    penalty: int = 0
    late_fee: int = 0

    @property
    def owed(self) -> int:
        return self.fee + self.interest + self.principal + self.penalty + self.late_fee


@dataclass(frozen=True)
class Paid:
    principal: int
    interest: int
    fee: int
    penalty: int
    late_fee: int


def apply_partial(rows: Sequence[Row], amount: int, today: date) -> Paid:
    """R32 / DOMAIN.md §7: fees and late fees → penalty → overdue interest → overdue
    principal, each oldest installment first; the current installment last."""
    overdue = sorted((r for r in rows if r.due_date < today), key=lambda r: r.number)
    current = sorted((r for r in rows if r.due_date >= today), key=lambda r: r.number)
    queue = [
        (kind, getattr(r, kind))
        for kind in ("fee", "late_fee", "penalty", "interest", "principal")
        for r in overdue
    ]
    queue += [(kind, getattr(r, kind)) for r in current for kind in ("fee", "interest", "principal")]
    paid = dict.fromkeys(("principal", "interest", "fee", "penalty", "late_fee"), 0)
    left = amount
    for kind, owed in queue:
        take = min(owed, left)
        paid[kind] += take
        left -= take
    assert left == 0
    return Paid(**paid)


def penalty_days(dpd: int, grace: int = 3) -> int:
    """DOMAIN.md §7: no penalty within grace; past it, every day from DPD 1."""
    return dpd if dpd > grace else 0


def daily_penalty(overdue_principal: int, penalty_rate: Decimal) -> int:
    """R31: rd(overdue principal × penalty rate / 365), one day."""
    return rd(Fraction(overdue_principal) * Fraction(penalty_rate) / 365)


def accrued(period_interest: int, start: date, end: date, on: date) -> int:
    """DOMAIN.md §2.5: rd(Z·D1/D2)."""
    return rd(Fraction(period_interest * (on - start).days, (end - start).days))


def accrued_by_days(principal: int, annual_rate: Decimal, days: int, basis: int = 365) -> int:
    """DOMAIN.md §2.5, day-based bullets: rd(P·R·D1/365)."""
    return rd(Fraction(principal) * Fraction(annual_rate) * days / basis)
