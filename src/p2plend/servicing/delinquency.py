"""Overdue rules (逾期): days past due, stages, five-tier classification, penalty interest.

Pure arithmetic on DOMAIN.md §7 and the cap of §4: no database and no clock — the business
date is always a parameter, so the end-of-day batch (日终批处理) can replay any past day and
the tests can name theirs.

* DPD (逾期天数) counts calendar days, not working days: DOMAIN.md §7 says "calendar days
  after the due date", and a due date on a holiday is not moved.
* Penalty interest (罚息) is simple and daily: each day the overdue principal earns
  rd(P × 1.5R / 365), rounded **per day**, because that is the amount the end-of-day batch
  posts to the holders each day; a span of n days is n × that daily amount (R31).
* Grace (宽限期, R30): paid in full within ``GRACE_DAYS`` → no penalty, no late fee. Once
  grace is exceeded the penalty runs retroactively from DPD 1.
* The cap (DOMAIN.md §4, R29): the contract rate + the penalty rate (+ any late fee,
  annualised) stays within 4 × the one-year LPR of the contract date.

The order in which a partial payment is applied (R32) lives in ``servicing.service``.
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum

from p2plend.money import Fen, round_fen

GRACE_DAYS = 3  # [D] 宽限期, calendar days
PENALTY_MULTIPLIER = Decimal("1.5")  # [D] 罚息利率 = 1.5 × 合同利率
PENALTY_DAY_BASIS = 365  # [D] 罚息 per day = annual penalty rate / 365
LATE_FEE_FEN: Fen = 0  # [D] 逾期管理费, a fixed amount per overdue installment
# 4 × the one-year LPR, the limit courts enforce on private lending. The same figure as
# ``origination.lpr.LEGAL_CAP_MULTIPLE``, restated because servicing sits below origination
# in the import layers.
LEGAL_CAP_MULTIPLE = Decimal(4)
NON_PERFORMING_DPD = 91  # 不良: 次级 and worse


class Stage(StrEnum):
    """Collection stage (逾期阶段) by DPD (R33)."""

    CURRENT = "current"  # DPD 0, 正常
    M1 = "m1"  # DPD 1–30
    M2 = "m2"  # DPD 31–60
    M3 = "m3"  # DPD 61–90
    M3_PLUS = "m3_plus"  # DPD 91–180 (M3+)
    M7_PLUS = "m7_plus"  # DPD > 180 (M7+), 可核销


class Classification(StrEnum):
    """Five-tier loan classification (贷款五级分类), consumer-credit bands [D] (R33)."""

    NORMAL = "normal"  # 正常, DPD 0
    SPECIAL_MENTION = "special_mention"  # 关注, DPD 1–90
    SUBSTANDARD = "substandard"  # 次级, DPD 91–120
    DOUBTFUL = "doubtful"  # 可疑, DPD 121–180
    LOSS = "loss"  # 损失, DPD > 180


# Upper DPD bound (inclusive) of each band; the last band is open-ended.
_STAGE_BANDS: tuple[tuple[int, Stage], ...] = (
    (0, Stage.CURRENT),
    (30, Stage.M1),
    (60, Stage.M2),
    (90, Stage.M3),
    (180, Stage.M3_PLUS),
)
_CLASSIFICATION_BANDS: tuple[tuple[int, Classification], ...] = (
    (0, Classification.NORMAL),
    (90, Classification.SPECIAL_MENTION),
    (120, Classification.SUBSTANDARD),
    (180, Classification.DOUBTFUL),
)


# --- days past due, stage, classification -------------------------------------------------


def days_past_due(due_date: date, on: date, *, paid_in_full: bool) -> int:
    """逾期天数 of one installment on business date ``on``.

    0 when the installment is paid in full or not yet past its due date; otherwise the
    calendar days since the due date, so the day after the due date is DPD 1. A loan's DPD
    is that of its oldest unpaid installment (the largest), which the caller takes.
    """
    if paid_in_full or on <= due_date:
        return 0
    return (on - due_date).days


def stage_of(dpd: int) -> Stage:
    """The stage (M1, M2, …) for a DPD, by DOMAIN.md §7's bands exactly (R33)."""
    _check_dpd(dpd)
    for upper, stage in _STAGE_BANDS:
        if dpd <= upper:
            return stage
    return Stage.M7_PLUS


def classification_of(dpd: int) -> Classification:
    """五级分类 for a DPD: 正常 / 关注 / 次级 / 可疑 / 损失 (R33)."""
    _check_dpd(dpd)
    for upper, classification in _CLASSIFICATION_BANDS:
        if dpd <= upper:
            return classification
    return Classification.LOSS


def is_non_performing(dpd: int) -> bool:
    """不良贷款: DPD ≥ 91, i.e. classified 次级, 可疑 or 损失."""
    _check_dpd(dpd)
    return dpd >= NON_PERFORMING_DPD


# --- grace ----------------------------------------------------------------------------------


def in_grace(dpd: int, grace_days: int = GRACE_DAYS) -> bool:
    """Overdue but still within the 宽限期 (1 ≤ DPD ≤ grace).

    Grace only waives money (R30): the installment is still overdue for its stage, its
    classification and disclosure, which is why ``stage_of(1)`` is M1 even in grace.
    """
    _check_dpd(dpd)
    _check_grace(grace_days)
    return 1 <= dpd <= grace_days


def penalty_days(dpd: int, grace_days: int = GRACE_DAYS) -> int:
    """How many days of 罚息 are owed on an installment that is ``dpd`` days past due.

    0 while DPD ≤ grace: paid in full within grace, nothing is owed (R30). Once DPD exceeds
    grace, every day from DPD 1 is owed — the grace is forgiven only to those who use it,
    so on DPD 4 (grace 3) four days are owed, not one.
    """
    _check_dpd(dpd)
    _check_grace(grace_days)
    return 0 if dpd <= grace_days else dpd


def penalty_days_posted_on(dpd: int, grace_days: int = GRACE_DAYS) -> int:
    """Days of 罚息 the end-of-day batch posts on the day the installment reaches ``dpd``.

    The increment of ``penalty_days``: nothing during grace, the whole grace plus that day on
    the first day after it (the retroactive catch-up), one day after that. Summed over the
    days of an overdue spell it equals ``penalty_days`` of the last one, so the batch never
    posts during grace what it might have to reverse when the borrower pays in time.
    """
    if dpd == 0:
        return 0
    return penalty_days(dpd, grace_days) - penalty_days(dpd - 1, grace_days)


# --- the cap ----------------------------------------------------------------------------------


def overdue_cost_cap_rate(lpr: Decimal) -> Decimal:
    """The annual cap on overdue cost: 4 × the one-year LPR of the contract date (DOMAIN.md §4)."""
    if lpr < 0:
        raise ValueError("the LPR is not negative")
    return LEGAL_CAP_MULTIPLE * lpr


def penalty_rate(contract_rate: Decimal, multiplier: Decimal = PENALTY_MULTIPLIER) -> Decimal:
    """罚息利率 before the cap: ``multiplier`` × the contract's annual rate (1.5 × [D])."""
    if contract_rate < 0 or multiplier < 0:
        raise ValueError("rates and the penalty multiplier are not negative")
    return contract_rate * multiplier


def capped_penalty_rate(
    contract_rate: Decimal,
    multiplier: Decimal,
    lpr: Decimal,
    *,
    late_fee_rate: Decimal = Decimal(0),
) -> Decimal:
    """The annual penalty rate after the cap of DOMAIN.md §4 (R29, R31)::

        min(multiplier × R, max(0, 4 × LPR − R − late_fee_rate))

    so that R + penalty rate + late fees ≤ 4 × LPR. The contract rate R is counted as still
    running on the overdue principal: that is the reading under which the sum stays within
    the cap whether "overdue rate" means the contract rate plus the penalty or the penalty
    alone. ``late_fee_rate`` is the late fee annualised by the caller (0 by default, as the
    late fee is 0 [D]). With the default 1.5 × and LPR 3.00 % the cap binds from R = 4.8 %.
    """
    if late_fee_rate < 0:
        raise ValueError("the late fee rate is not negative")
    room = overdue_cost_cap_rate(lpr) - contract_rate - late_fee_rate
    return min(penalty_rate(contract_rate, multiplier), max(Decimal(0), room))


# --- penalty interest and late fee ----------------------------------------------------------


def daily_penalty(
    overdue_principal: Fen,
    contract_rate: Decimal,
    *,
    lpr: Decimal | None,
    multiplier: Decimal = PENALTY_MULTIPLIER,
    day_basis: int = PENALTY_DAY_BASIS,
) -> Fen:
    """One day of 罚息: rd(overdue principal × penalty rate / 365) (R31).

    On overdue **principal** only — the function takes nothing else, so interest, fees and
    earlier penalty never compound. ``lpr`` is the one-year LPR of the contract date and
    caps the rate (``capped_penalty_rate``); it is a required keyword so that no caller
    forgets the cap by accident. ``None`` computes the uncapped contractual figure.
    """
    if overdue_principal < 0:
        raise ValueError("overdue principal is not negative")
    if day_basis <= 0:
        raise ValueError("the day basis is a positive number of days")
    rate = (
        penalty_rate(contract_rate, multiplier)
        if lpr is None
        else capped_penalty_rate(contract_rate, multiplier, lpr)
    )
    return penalty_per_day(overdue_principal, rate, day_basis=day_basis)


def penalty_per_day(
    overdue_principal: Fen, annual_penalty_rate: Decimal, *, day_basis: int = PENALTY_DAY_BASIS
) -> Fen:
    """One day of 罚息 at a penalty rate already fixed (and capped) by the contract."""
    if overdue_principal < 0:
        raise ValueError("overdue principal is not negative")
    return round_fen(Decimal(overdue_principal) * annual_penalty_rate / day_basis)


def penalty_for_days(
    overdue_principal: Fen,
    contract_rate: Decimal,
    days: int,
    *,
    lpr: Decimal | None,
    multiplier: Decimal = PENALTY_MULTIPLIER,
    day_basis: int = PENALTY_DAY_BASIS,
) -> Fen:
    """罚息 for ``days`` days on a constant overdue principal: ``days`` × the daily amount.

    Rounded per day, not over the span, so it is exactly what the batch posts day by day
    (15 days on 10,000.00 at 10 % is 15 × 411 = 6,165 fen, not rd(6,164.38) = 6,164). When the
    overdue principal changes within a span (a partial payment), the caller splits the span.
    Pass ``penalty_days(dpd)`` as ``days`` to apply the grace rule.
    """
    if days < 0:
        raise ValueError("days is not negative")
    daily = daily_penalty(
        overdue_principal, contract_rate, lpr=lpr, multiplier=multiplier, day_basis=day_basis
    )
    return days * daily


def late_fee(dpd: int, *, amount: Fen = LATE_FEE_FEN, grace_days: int = GRACE_DAYS) -> Fen:
    """逾期管理费 of one overdue installment: the fixed ``amount`` once grace is exceeded.

    0 while not overdue or within grace (R30); 0 by default [D]. A non-zero fee counts
    against the cap: annualise it and pass it to ``capped_penalty_rate``.
    """
    if amount < 0:
        raise ValueError("the late fee is not negative")
    return amount if penalty_days(dpd, grace_days) > 0 else 0


# --- checks -----------------------------------------------------------------------------------


def _check_dpd(dpd: int) -> None:
    if dpd < 0:
        raise ValueError("days past due is not negative")


def _check_grace(grace_days: int) -> None:
    if grace_days < 0:
        raise ValueError("the grace period is not negative")
