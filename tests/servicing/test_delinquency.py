"""Overdue rules (DOMAIN.md §7, §4): hand-computed values, then properties over random inputs."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2plend.servicing.delinquency import (
    GRACE_DAYS,
    PENALTY_MULTIPLIER,
    Classification,
    Stage,
    capped_penalty_rate,
    classification_of,
    daily_penalty,
    days_past_due,
    in_grace,
    is_non_performing,
    late_fee,
    overdue_cost_cap_rate,
    penalty_days,
    penalty_days_posted_on,
    penalty_for_days,
    penalty_rate,
    stage_of,
)

DUE = date(2026, 3, 15)
TEN_THOUSAND = 1_000_000  # 10,000.00 yuan in fen
TEN_PERCENT = Decimal("0.10")
LPR_3 = Decimal("0.03")  # 4 × LPR = 12 %


# --- days past due -------------------------------------------------------------------------------


def test_dpd_counts_calendar_days_after_the_due_date() -> None:
    assert days_past_due(DUE, DUE - timedelta(days=1), paid_in_full=False) == 0
    assert days_past_due(DUE, DUE, paid_in_full=False) == 0  # due today is not yet overdue
    assert days_past_due(DUE, date(2026, 3, 16), paid_in_full=False) == 1
    assert days_past_due(DUE, date(2026, 4, 15), paid_in_full=False) == 31
    assert days_past_due(DUE, date(2026, 4, 15), paid_in_full=True) == 0


# --- R33: stages and classification at every boundary -------------------------------------------


@pytest.mark.parametrize(
    ("dpd", "stage", "classification"),
    [
        (0, Stage.CURRENT, Classification.NORMAL),
        (1, Stage.M1, Classification.SPECIAL_MENTION),
        (30, Stage.M1, Classification.SPECIAL_MENTION),
        (31, Stage.M2, Classification.SPECIAL_MENTION),
        (60, Stage.M2, Classification.SPECIAL_MENTION),
        (61, Stage.M3, Classification.SPECIAL_MENTION),
        (90, Stage.M3, Classification.SPECIAL_MENTION),
        (91, Stage.M3_PLUS, Classification.SUBSTANDARD),
        (120, Stage.M3_PLUS, Classification.SUBSTANDARD),
        (121, Stage.M3_PLUS, Classification.DOUBTFUL),
        (180, Stage.M3_PLUS, Classification.DOUBTFUL),
        (181, Stage.M7_PLUS, Classification.LOSS),
    ],
)
def test_r33_stage_and_classification_bands(dpd: int, stage: Stage, classification: Classification) -> None:
    assert stage_of(dpd) is stage
    assert classification_of(dpd) is classification
    assert is_non_performing(dpd) is (dpd >= 91)


def test_negative_dpd_is_refused() -> None:
    for rule in (stage_of, classification_of, is_non_performing, penalty_days):
        with pytest.raises(ValueError, match="negative"):
            rule(-1)


# --- R31: penalty interest ---------------------------------------------------------------------------


def test_r31_penalty_on_10000_at_10_percent() -> None:
    assert penalty_rate(TEN_PERCENT) == Decimal("0.150")
    # 1,000,000 fen × 0.15 / 365 = 150,000 / 365 = 410.958… → 411 fen a day
    assert daily_penalty(TEN_THOUSAND, TEN_PERCENT, lpr=None) == 411
    # per day, as the batch posts it: 15 × 411 = 6,165 (rounding the span would give
    # rd(15 × 410.958…) = rd(6,164.38) = 6,164)
    assert penalty_for_days(TEN_THOUSAND, TEN_PERCENT, 15, lpr=None) == 6_165
    assert penalty_for_days(TEN_THOUSAND, TEN_PERCENT, 0, lpr=None) == 0


def test_r31_penalty_is_on_principal_only_and_its_basis_and_multiplier_are_parameters() -> None:
    # The function takes the overdue principal and nothing else: 500.00 of principal,
    # whatever interest is also overdue, earns rd(50,000 × 0.15 / 365) = rd(20.55) = 21 fen.
    assert daily_penalty(50_000, TEN_PERCENT, lpr=None) == 21
    # 1,000,000 × 0.10 × 2 / 360 = 555.56 → 556
    assert daily_penalty(TEN_THOUSAND, TEN_PERCENT, lpr=None, multiplier=Decimal(2), day_basis=360) == 556
    assert daily_penalty(0, TEN_PERCENT, lpr=None) == 0


# --- R30: grace ----------------------------------------------------------------------------------------


def test_r30_paid_within_grace_owes_no_penalty_and_no_late_fee() -> None:
    assert GRACE_DAYS == 3
    assert [in_grace(dpd) for dpd in (0, 1, 3, 4)] == [False, True, True, False]
    # paid on DPD 3: nothing; on DPD 4: four days, retroactive from DPD 1
    assert penalty_days(3) == 0
    assert penalty_days(4) == 4
    assert penalty_for_days(TEN_THOUSAND, TEN_PERCENT, penalty_days(3), lpr=None) == 0
    assert penalty_for_days(TEN_THOUSAND, TEN_PERCENT, penalty_days(4), lpr=None) == 4 * 411
    assert late_fee(3, amount=2_000) == 0
    assert late_fee(4, amount=2_000) == 2_000
    # in grace, the installment is still overdue for its stage and classification
    assert stage_of(1) is Stage.M1
    assert classification_of(3) is Classification.SPECIAL_MENTION


def test_late_fee_defaults_to_zero() -> None:
    assert late_fee(0) == late_fee(4) == late_fee(200) == 0
    assert late_fee(0, amount=2_000) == 0
    with pytest.raises(ValueError, match="negative"):
        late_fee(10, amount=-1)


def test_the_batch_posts_nothing_in_grace_then_catches_up() -> None:
    posted = [penalty_days_posted_on(dpd) for dpd in range(7)]
    assert posted == [0, 0, 0, 0, 4, 1, 1]
    assert [penalty_days_posted_on(dpd, grace_days=0) for dpd in range(3)] == [0, 1, 1]


# --- §4, R29/R31: the 4 × LPR cap --------------------------------------------------------------------


def test_the_cap_leaves_a_10_percent_loan_2_percent_of_penalty_at_lpr_3_percent() -> None:
    assert overdue_cost_cap_rate(LPR_3) == Decimal("0.12")
    # 12 % − 10 % = 2 %, below 1.5 × 10 % = 15 %
    assert capped_penalty_rate(TEN_PERCENT, PENALTY_MULTIPLIER, LPR_3) == Decimal("0.02")
    # 1,000,000 × 0.02 / 365 = 54.79 → 55 fen a day
    assert daily_penalty(TEN_THOUSAND, TEN_PERCENT, lpr=LPR_3) == 55
    assert penalty_for_days(TEN_THOUSAND, TEN_PERCENT, 15, lpr=LPR_3) == 15 * 55


def test_the_cap_does_not_bind_when_there_is_room() -> None:
    # 4 % contract: 4 % + 6 % = 10 % ≤ 12 %, the full 1.5 × runs
    assert capped_penalty_rate(Decimal("0.04"), PENALTY_MULTIPLIER, LPR_3) == Decimal("0.060")
    # exactly at the edge: 4.8 % + 7.2 % = 12 %
    assert capped_penalty_rate(Decimal("0.048"), PENALTY_MULTIPLIER, LPR_3) == Decimal("0.0720")


def test_the_cap_counts_late_fees_and_never_goes_negative() -> None:
    assert capped_penalty_rate(
        TEN_PERCENT, PENALTY_MULTIPLIER, LPR_3, late_fee_rate=Decimal("0.005")
    ) == Decimal("0.015")
    assert capped_penalty_rate(Decimal("0.12"), PENALTY_MULTIPLIER, LPR_3) == 0
    assert capped_penalty_rate(Decimal("0.13"), PENALTY_MULTIPLIER, LPR_3) == 0


def test_negative_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        daily_penalty(-1, TEN_PERCENT, lpr=None)
    with pytest.raises(ValueError, match="negative"):
        penalty_rate(Decimal("-0.01"))
    with pytest.raises(ValueError, match="negative"):
        overdue_cost_cap_rate(Decimal("-0.01"))
    with pytest.raises(ValueError, match="negative"):
        penalty_for_days(TEN_THOUSAND, TEN_PERCENT, -1, lpr=None)
    with pytest.raises(ValueError, match="positive"):
        daily_penalty(TEN_THOUSAND, TEN_PERCENT, lpr=None, day_basis=0)


# --- properties --------------------------------------------------------------------------------------

dpds = st.integers(min_value=0, max_value=2_000)
principals = st.integers(min_value=0, max_value=10**12)
rates = st.decimals(min_value=0, max_value=Decimal("0.36"), places=4)
lprs = st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.1"), places=4))
days = st.integers(min_value=0, max_value=1_000)


@given(dpds, dpds)
def test_stages_and_classes_never_improve_as_dpd_grows(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert list(Stage).index(stage_of(low)) <= list(Stage).index(stage_of(high))
    assert list(Classification).index(classification_of(low)) <= list(Classification).index(
        classification_of(high)
    )
    assert is_non_performing(high) or not is_non_performing(low)


@given(dpds)
def test_non_performing_is_substandard_or_worse(dpd: int) -> None:
    assert is_non_performing(dpd) is (
        classification_of(dpd) in {Classification.SUBSTANDARD, Classification.DOUBTFUL, Classification.LOSS}
    )


@given(st.dates(), st.integers(min_value=-400, max_value=400))
def test_dpd_is_the_days_after_the_due_date(due: date, offset: int) -> None:
    try:
        on = due + timedelta(days=offset)
    except OverflowError:
        return
    assert days_past_due(due, on, paid_in_full=False) == max(0, offset)
    assert days_past_due(due, on, paid_in_full=True) == 0


@given(principals, rates, days, days, lprs)
def test_penalty_is_linear_in_days_and_never_negative(
    principal: int, rate: Decimal, a: int, b: int, lpr: Decimal | None
) -> None:
    whole = penalty_for_days(principal, rate, a + b, lpr=lpr)
    assert whole == penalty_for_days(principal, rate, a, lpr=lpr) + penalty_for_days(
        principal, rate, b, lpr=lpr
    )
    assert whole == (a + b) * daily_penalty(principal, rate, lpr=lpr)
    assert whole >= 0


@given(principals, principals, rates, lprs)
def test_penalty_grows_with_principal_and_the_cap_only_lowers_it(
    a: int, b: int, rate: Decimal, lpr: Decimal | None
) -> None:
    low, high = sorted((a, b))
    assert daily_penalty(low, rate, lpr=lpr) <= daily_penalty(high, rate, lpr=lpr)
    assert daily_penalty(high, rate, lpr=lpr) <= daily_penalty(high, rate, lpr=None)


@given(
    rates,
    st.decimals(min_value=0, max_value=3, places=2),
    st.decimals(min_value=0, max_value="0.1", places=4),
)
def test_capped_rate_keeps_overdue_cost_within_4_lpr(
    rate: Decimal, multiplier: Decimal, lpr: Decimal
) -> None:
    capped = capped_penalty_rate(rate, multiplier, lpr)
    assert 0 <= capped <= penalty_rate(rate, multiplier)
    if rate <= overdue_cost_cap_rate(lpr):  # a contract that passed R29
        assert rate + capped <= overdue_cost_cap_rate(lpr)


@given(dpds, st.integers(min_value=0, max_value=30))
def test_grace_forgives_all_or_nothing(dpd: int, grace: int) -> None:
    owed = penalty_days(dpd, grace)
    assert owed in {0, dpd}
    assert (owed == 0) is (dpd <= grace)
    assert sum(penalty_days_posted_on(d, grace) for d in range(dpd + 1)) == owed
    assert (late_fee(dpd, amount=1_000, grace_days=grace) == 0) is (owed == 0)
