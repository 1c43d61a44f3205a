"""Repayment schedules (DOMAIN.md §2): the worked examples, and properties over random loans."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2plend.schedules.service import (
    EarlySettlement,
    Installment,
    InvalidTerms,
    Method,
    PartialPrepaymentChoice,
    Terms,
    accrued_interest,
    build_schedule,
    due_date,
    full_early_repayment,
    partial_early_repayment,
)

VALUE_DATE = date(2026, 1, 15)


def schedule(
    principal: int, rate: str, method: Method, months: int | None = None, days: int | None = None
) -> list[Installment]:
    return build_schedule(Terms(principal, Decimal(rate), method, VALUE_DATE, months=months, days=days))


def payments(rows: list[Installment]) -> list[int]:
    return [row.payment for row in rows]


# --- the worked examples (R21–R24) -----------------------------------------------------------


def test_r21_equal_installment_12000_at_12_percent_for_12_months() -> None:
    rows = schedule(1_200_000, "0.12", Method.EQUAL_INSTALLMENT, months=12)
    assert payments(rows)[:11] == [106_619] * 11
    assert (rows[0].principal, rows[0].interest) == (94_619, 12_000)
    assert rows[-1].payment == 106_614
    assert sum(row.interest for row in rows) == 79_423


def test_equal_installment_10000_at_10_percent_for_3_months() -> None:
    rows = schedule(1_000_000, "0.10", Method.EQUAL_INSTALLMENT, months=3)
    assert payments(rows) == [338_904, 338_904, 338_905]
    assert [row.interest for row in rows] == [8_333, 5_579, 2_801]


def test_r22_equal_principal_12000_at_12_percent_for_12_months() -> None:
    rows = schedule(1_200_000, "0.12", Method.EQUAL_PRINCIPAL, months=12)
    assert payments(rows) == [112_000 - 1_000 * k for k in range(12)]
    assert sum(row.interest for row in rows) == 78_000


def test_equal_principal_10000_at_10_percent_for_3_months() -> None:
    rows = schedule(1_000_000, "0.10", Method.EQUAL_PRINCIPAL, months=3)
    assert [row.principal for row in rows] == [333_333, 333_333, 333_334]
    assert [row.interest for row in rows] == [8_333, 5_556, 2_778]


def test_r23_interest_first_and_bullet_by_days() -> None:
    rows = schedule(1_200_000, "0.12", Method.INTEREST_FIRST, months=12)
    assert payments(rows) == [12_000] * 11 + [1_212_000]
    assert sum(row.interest for row in rows) == 144_000
    [bullet] = schedule(1_200_000, "0.12", Method.BULLET, days=90)
    assert (bullet.principal, bullet.interest, bullet.due_date) == (
        1_200_000,
        35_507,
        VALUE_DATE + timedelta(days=90),
    )


def test_bullet_by_months() -> None:
    [bullet] = schedule(1_200_000, "0.12", Method.BULLET, months=6)
    assert (bullet.interest, bullet.due_date) == (72_000, date(2026, 7, 15))


def test_zero_rate_equal_installment_is_principal_over_n() -> None:
    rows = schedule(1_000_000, "0", Method.EQUAL_INSTALLMENT, months=3)
    assert payments(rows) == [333_333, 333_333, 333_334]


def test_r24_due_dates_keep_the_value_dates_day_or_the_months_last() -> None:
    assert [due_date(date(2026, 1, 31), k) for k in range(1, 5)] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    assert due_date(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert due_date(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert due_date(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert due_date(date(2026, 12, 15), 1) == date(2027, 1, 15)


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        (Terms(0, Decimal("0.1"), Method.EQUAL_INSTALLMENT, VALUE_DATE, months=12), "principal"),
        (Terms(100, Decimal("-0.1"), Method.EQUAL_INSTALLMENT, VALUE_DATE, months=12), "rate"),
        (Terms(100, Decimal("1"), Method.EQUAL_INSTALLMENT, VALUE_DATE, months=12), "rate"),
        (Terms(100, Decimal("0.1"), Method.EQUAL_INSTALLMENT, VALUE_DATE, months=0), "term"),
        (Terms(100, Decimal("0.1"), Method.EQUAL_INSTALLMENT, VALUE_DATE), "term"),
        (Terms(100, Decimal("0.1"), Method.EQUAL_INSTALLMENT, VALUE_DATE, days=30), "bullet"),
        (Terms(100, Decimal("0.1"), Method.BULLET, VALUE_DATE, months=1, days=30), "not both"),
        (Terms(100, Decimal("0.1"), Method.BULLET, VALUE_DATE, days=30, day_basis=366), "basis"),
    ],
)
def test_invalid_terms_are_refused(terms: Terms, message: str) -> None:
    with pytest.raises(InvalidTerms, match=message):
        build_schedule(terms)


# --- properties (R19, R20) -------------------------------------------------------------------

monthly_methods = st.sampled_from([Method.EQUAL_INSTALLMENT, Method.EQUAL_PRINCIPAL, Method.INTEREST_FIRST])
principals = st.integers(min_value=100, max_value=100_000_000_00)  # 1 yuan to 100 million yuan
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.36"), places=4)
value_dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))


@st.composite
def monthly_terms(draw: st.DrawFn) -> Terms:
    return Terms(
        draw(principals),
        draw(rates),
        draw(monthly_methods),
        draw(value_dates),
        months=draw(st.integers(1, 60)),
    )


@given(monthly_terms())
def test_r20_principals_sum_to_the_loan_and_interest_is_on_the_remaining(terms: Terms) -> None:
    rows = build_schedule(terms)
    assert len(rows) == terms.months
    assert sum(row.principal for row in rows) == terms.principal
    remaining = terms.principal
    for row in rows:
        assert row.principal >= 0 and row.interest >= 0
        # rd(remaining × R/12), checked in exact integer arithmetic: |12·interest − rem·R| ≤ 6
        assert abs(row.interest * 12 - remaining * terms.annual_rate) <= 6
        remaining -= row.principal
        assert row.remaining_principal == remaining
    assert rows[-1].remaining_principal == 0


@given(monthly_terms())
def test_due_dates_are_monthly_from_the_value_date(terms: Terms) -> None:
    rows = build_schedule(terms)
    previous = terms.value_date
    for row in rows:
        assert row.due_date > previous
        assert 28 <= (row.due_date - previous).days <= 31
        assert row.due_date.day == terms.value_date.day or row.due_date.day < terms.value_date.day
        previous = row.due_date


@given(
    monthly_terms().filter(
        lambda t: t.method is Method.EQUAL_INSTALLMENT and (t.months or 0) > 1 and t.principal >= 100_000
    )
)
def test_equal_installments_are_level_but_the_last(terms: Terms) -> None:
    rows = build_schedule(terms)
    assert len({row.payment for row in rows[:-1]}) == 1
    # The last one absorbs the rounding residue. Each period A and the interest are each
    # rounded by at most half a fen, and that fen of principal grows with interest until the
    # end, so the last payment is within ((1+r)^n − 1)/r fen (+1 for its own rounding) of A.
    r = terms.annual_rate / 12
    n = len(rows)
    bound = Decimal(n) if r == 0 else ((1 + r) ** n - 1) / r
    assert abs(rows[-1].payment - rows[0].payment) <= bound + 1


# --- part of a period and early repayment ------------------------------------------------------


def test_accrued_interest_is_rd_z_d1_over_d2() -> None:
    # 120.00 of interest over a 31-day period, 10 days run: rd(12000 × 10 / 31) = 3871 fen
    assert accrued_interest(12_000, date(2026, 1, 15), date(2026, 2, 15), date(2026, 1, 25)) == 3_871
    assert accrued_interest(12_000, date(2026, 1, 15), date(2026, 2, 15), date(2026, 1, 15)) == 0
    assert accrued_interest(12_000, date(2026, 1, 15), date(2026, 2, 15), date(2026, 2, 15)) == 12_000
    with pytest.raises(InvalidTerms):
        accrued_interest(12_000, date(2026, 1, 15), date(2026, 2, 15), date(2026, 2, 16))


def test_full_early_repayment_mid_period() -> None:
    terms = Terms(1_200_000, Decimal("0.12"), Method.EQUAL_INSTALLMENT, VALUE_DATE, months=12)
    rows = build_schedule(terms)
    # Three installments paid (due Feb 15, Mar 15, Apr 15); repaid on May 5: 20 of April 15–May 15's 30 days.
    unpaid = rows[3:]
    remaining = rows[2].remaining_principal
    settlement = full_early_repayment(terms, unpaid, date(2026, 5, 5), fee_rate=Decimal("0.01"))
    interest = round(unpaid[0].interest * 20 / 30)
    assert settlement == EarlySettlement(remaining, interest, round(remaining / 100))
    assert unpaid[0].interest == round(remaining * 0.01)


def test_full_early_repayment_of_a_day_based_bullet() -> None:
    terms = Terms(1_200_000, Decimal("0.12"), Method.BULLET, VALUE_DATE, days=90)
    settlement = full_early_repayment(terms, build_schedule(terms), VALUE_DATE + timedelta(days=30))
    assert settlement == EarlySettlement(1_200_000, 11_836, 0)  # rd(12000 × 0.12 × 30/365) = 118.36


def test_partial_repayment_with_lower_installment_keeps_the_term() -> None:
    terms = Terms(1_200_000, Decimal("0.12"), Method.EQUAL_INSTALLMENT, VALUE_DATE, months=12)
    rows = build_schedule(terms)
    unpaid = rows[3:]  # 9 left
    remaining = rows[2].remaining_principal
    result = partial_early_repayment(
        terms, unpaid, date(2026, 4, 15), 300_000, PartialPrepaymentChoice.LOWER_INSTALLMENT
    )
    assert result.interest == 0  # on a due date: no days of the new period have run
    assert [row.number for row in result.schedule] == list(range(4, 13))
    assert [row.due_date for row in result.schedule] == [row.due_date for row in unpaid]
    assert sum(row.principal for row in result.schedule) == remaining - 300_000
    assert result.schedule[0].payment < unpaid[0].payment


def test_partial_repayment_with_shorter_term_keeps_the_installment() -> None:
    terms = Terms(1_200_000, Decimal("0.12"), Method.EQUAL_INSTALLMENT, VALUE_DATE, months=12)
    rows = build_schedule(terms)
    unpaid = rows[3:]
    result = partial_early_repayment(
        terms, unpaid, date(2026, 5, 1), 300_000, PartialPrepaymentChoice.SHORTER_TERM
    )
    assert 0 < result.interest < unpaid[0].interest
    assert len(result.schedule) < len(unpaid)
    assert {row.payment for row in result.schedule[:-1]} == {rows[0].payment}
    assert result.schedule[-1].payment <= rows[0].payment
    assert sum(row.principal for row in result.schedule) == rows[2].remaining_principal - 300_000


def test_partial_repayment_refusals() -> None:
    terms = Terms(1_200_000, Decimal("0.12"), Method.INTEREST_FIRST, VALUE_DATE, months=12)
    rows = build_schedule(terms)
    on = date(2026, 3, 1)
    with pytest.raises(InvalidTerms, match="shorten"):
        partial_early_repayment(terms, rows, on, 100_000, PartialPrepaymentChoice.SHORTER_TERM)
    for amount in (0, -1, 1_200_000):
        with pytest.raises(InvalidTerms, match="partial"):
            partial_early_repayment(terms, rows, on, amount, PartialPrepaymentChoice.LOWER_INSTALLMENT)
    with pytest.raises(InvalidTerms, match="past its last due date"):
        full_early_repayment(terms, rows, date(2027, 2, 1))


@given(
    monthly_terms().filter(lambda t: (t.months or 0) > 2 and t.principal > 10_000),
    st.integers(min_value=1, max_value=28),
    st.sampled_from(list(PartialPrepaymentChoice)),
    st.data(),
)
def test_partial_repayment_keeps_every_fen_of_principal(
    terms: Terms, day: int, choice: PartialPrepaymentChoice, data: st.DataObject
) -> None:
    rows = build_schedule(terms)
    paid = data.draw(st.integers(min_value=0, max_value=len(rows) - 1))
    unpaid = rows[paid:]
    start = rows[paid - 1].due_date if paid else terms.value_date
    on = min(start + timedelta(days=day), unpaid[0].due_date - timedelta(days=1))
    remaining = unpaid[0].principal + unpaid[0].remaining_principal
    amount = data.draw(st.integers(min_value=1, max_value=remaining - 1))
    if terms.method is Method.INTEREST_FIRST and choice is PartialPrepaymentChoice.SHORTER_TERM:
        with pytest.raises(InvalidTerms):
            partial_early_repayment(terms, unpaid, on, amount, choice)
        return
    result = partial_early_repayment(terms, unpaid, on, amount, choice)
    assert result.principal + sum(row.principal for row in result.schedule) == remaining
    assert 1 <= len(result.schedule) <= len(unpaid)
    assert result.schedule[0].number == unpaid[0].number
    assert all(row.principal >= 0 and row.interest >= 0 for row in result.schedule)
