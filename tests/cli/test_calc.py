"""``p2plend calc``: the repayment calculator's CLI contract (DOMAIN.md §2, R20–R24).

Expected schedules come from two places that share nothing with ``schedules.service``:
literal numbers checked by hand (DOMAIN.md's worked examples and a few more, worked out
with exact fractions), and ``reference_schedule`` below — the formulas of §2 written out
again in ``Decimal``, with due dates from ``dateutil.relativedelta`` (which clamps to the
month's end from the start date, as R24 asks).
"""

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from typer.testing import CliRunner

from p2plend import cli
from p2plend.cli import app

runner = CliRunner()
TODAY = date(2026, 11, 28)  # the tests' business date (tests/conftest.py)
CENT = Decimal("0.01")


def rd(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def reference_schedule(
    method: str, principal: str, rate: str, *, months: int | None = None, days: int | None = None, start: date
) -> dict[str, Any]:
    """DOMAIN.md §2, independently: what ``calc --json`` must print."""
    p, annual = Decimal(principal), Decimal(rate)
    rows: list[tuple[date, Decimal, Decimal]] = []  # due date, principal, interest
    if method == "bullet":
        if days is not None:
            rows.append((start + timedelta(days=days), p, rd(p * annual * days / 365)))
        else:
            assert months is not None
            rows.append((start + relativedelta(months=months), p, rd(p * annual * months / 12)))
    else:
        assert months is not None
        r = annual / 12
        with localcontext() as ctx:
            ctx.prec = 50
            growth = (1 + r) ** months
            level = (
                rd(p / months) if r == 0 or method == "equal-principal" else rd(p * r * growth / (growth - 1))
            )
        remaining = p
        for k in range(1, months + 1):
            interest = rd(remaining * r)
            if k == months:
                part = remaining
            elif method == "equal-installment":
                part = level - interest
            elif method == "equal-principal":
                part = level
            else:  # interest-first
                part = Decimal(0)
            remaining -= part
            rows.append((start + relativedelta(months=k), part, interest))
    installments, remaining = [], p
    for k, (due, part, interest) in enumerate(rows, start=1):
        remaining -= part
        installments.append(
            {
                "period": k,
                "due_date": due.isoformat(),
                "payment": f"{part + interest:.2f}",
                "principal": f"{part:.2f}",
                "interest": f"{interest:.2f}",
                "remaining_principal": f"{remaining:.2f}",
            }
        )
    return {
        "method": method,
        "principal": f"{p:.2f}",
        "annual_rate": rate,
        "start_date": start.isoformat(),
        "installments": installments,
        "total_payment": f"{sum(part + interest for _, part, interest in rows):.2f}",
        "total_interest": f"{sum(interest for _, _, interest in rows):.2f}",
    }


def calc_json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["calc", *args, "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def column(out: dict[str, Any], name: str) -> list[str]:
    return [row[name] for row in out["installments"]]


# --- the worked examples (R21–R23), as pinned literals -----------------------------------------


def test_r21_equal_installment_12000_at_12_percent_for_12_months() -> None:
    out = calc_json(
        "--method", "equal-installment", "--principal", "12000.00", "--annual-rate", "0.12", "--months", "12"
    )
    assert column(out, "payment") == ["1066.19"] * 11 + ["1066.14"]
    first = out["installments"][0]
    assert (first["principal"], first["interest"], first["remaining_principal"]) == (
        "946.19",
        "120.00",
        "11053.81",
    )
    assert out["installments"][-1]["remaining_principal"] == "0.00"
    assert (out["total_interest"], out["total_payment"]) == ("794.23", "12794.23")


def test_r22_equal_principal_12000_at_12_percent_for_12_months() -> None:
    out = calc_json(
        "--method", "equal-principal", "--principal", "12000", "--annual-rate", "0.12", "--months", "12"
    )
    assert column(out, "payment") == [f"{1120 - 10 * k}.00" for k in range(12)]
    assert column(out, "principal") == ["1000.00"] * 12
    assert out["total_interest"] == "780.00"


def test_r23_interest_first_and_bullet_90_days() -> None:
    out = calc_json(
        "--method", "interest-first", "--principal", "12000", "--annual-rate", "0.12", "--months", "12"
    )
    assert column(out, "payment") == ["120.00"] * 11 + ["12120.00"]
    assert out["total_interest"] == "1440.00"
    out = calc_json(
        "--method", "bullet", "--principal", "12000", "--annual-rate", "0.12", "--days", "90",
        "--start-date", "2026-11-28",
    )  # fmt: skip
    [row] = out["installments"]
    assert (row["due_date"], row["interest"], row["payment"]) == ("2027-02-26", "355.07", "12355.07")


def test_10000_at_10_percent_for_3_months_both_level_methods() -> None:
    out = calc_json(
        "--method", "equal-installment", "--principal", "10000", "--annual-rate", "0.10", "--months", "3"
    )
    assert column(out, "payment") == ["3389.04", "3389.04", "3389.05"]
    assert column(out, "interest") == ["83.33", "55.79", "28.01"]
    out = calc_json(
        "--method", "equal-principal", "--principal", "10000", "--annual-rate", "0.10", "--months", "3"
    )
    assert column(out, "principal") == ["3333.33", "3333.33", "3333.34"]
    assert column(out, "interest") == ["83.33", "55.56", "27.78"]


# --- more hand-checked schedules -----------------------------------------------------------------


def test_one_month_is_principal_plus_one_month_of_interest() -> None:
    for method in ("equal-installment", "equal-principal", "interest-first", "bullet"):
        out = calc_json("--method", method, "--principal", "12000", "--annual-rate", "0.12", "--months", "1")
        assert column(out, "payment") == ["12120.00"], method
        assert column(out, "due_date") == ["2026-12-28"], method


def test_36_months_100000_at_10_percent() -> None:
    """A = 3226.72, the textbook amortisation figure; the last installment takes 3199.97 + 26.67."""
    out = calc_json(
        "--method", "equal-installment", "--principal", "100000", "--annual-rate", "0.10", "--months", "36"
    )
    assert column(out, "payment") == ["3226.72"] * 35 + ["3226.64"]
    assert (out["installments"][0]["interest"], out["installments"][-1]["interest"]) == ("833.33", "26.67")
    assert out["total_interest"] == "16161.84"


def test_zero_rate_splits_the_principal_and_charges_nothing() -> None:
    for method in ("equal-installment", "equal-principal"):
        out = calc_json("--method", method, "--principal", "10000", "--annual-rate", "0", "--months", "3")
        assert column(out, "payment") == ["3333.33", "3333.33", "3333.34"], method
        assert (out["total_interest"], out["annual_rate"]) == ("0.00", "0")
    out = calc_json("--method", "bullet", "--principal", "10000", "--annual-rate", "0.00", "--days", "30")
    assert column(out, "payment") == ["10000.00"]


def test_100_yuan_principal() -> None:
    out = calc_json(
        "--method", "equal-installment", "--principal", "100", "--annual-rate", "0.12", "--months", "12"
    )
    assert out["principal"] == "100.00"
    assert column(out, "payment") == ["8.88"] * 11 + ["8.95"]
    assert out["total_interest"] == "6.63"


def test_200000_yuan_at_11_99_percent_for_36_months() -> None:
    out = calc_json(
        "--method",
        "equal-installment",
        "--principal",
        "200000.00",
        "--annual-rate",
        "0.1199",
        "--months",
        "36",
    )
    assert out["annual_rate"] == "0.1199"
    assert column(out, "payment") == ["6641.91"] * 35 + ["6641.81"]
    assert out["installments"][0]["interest"] == "1998.33"
    assert out["total_interest"] == "39108.66"


def test_jan_31_start_falls_on_each_month_end() -> None:
    """R24: Jan 31 → Feb 28 (Feb 29 in 2028) → Mar 31 → Apr 30, always counted from the start."""
    out = calc_json(
        "--method", "equal-principal", "--principal", "12000", "--annual-rate", "0.12", "--months", "14",
        "--start-date", "2027-01-31",
    )  # fmt: skip
    assert column(out, "due_date")[:4] == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
    assert column(out, "due_date")[11:] == ["2028-01-31", "2028-02-29", "2028-03-31"]
    assert out["start_date"] == "2027-01-31"


# --- every method against the independent reference --------------------------------------------

CASES = [
    ("equal-installment", "12000.00", "0.12", 12, None, date(2026, 1, 31)),
    ("equal-installment", "200000.00", "0.1199", 36, None, date(2028, 1, 31)),
    ("equal-installment", "100.00", "0.24", 36, None, date(2026, 3, 15)),
    ("equal-installment", "55555.55", "0", 7, None, date(2026, 8, 31)),
    ("equal-principal", "200000.00", "0.1199", 36, None, date(2026, 1, 31)),
    ("equal-principal", "100.00", "0.0999", 1, None, date(2026, 12, 31)),
    ("equal-principal", "33333.33", "0.18", 24, None, date(2026, 5, 30)),
    ("interest-first", "200000.00", "0.1199", 36, None, date(2026, 1, 31)),
    ("interest-first", "100.00", "0.07", 6, None, date(2026, 10, 31)),
    ("bullet", "12000.00", "0.12", 6, None, date(2026, 8, 31)),
    ("bullet", "200000.00", "0.1199", None, 365, date(2027, 2, 28)),
    ("bullet", "100.00", "0.05", None, 1, date(2026, 12, 31)),
]


@pytest.mark.parametrize(("method", "principal", "rate", "months", "days", "start"), CASES)
def test_json_matches_the_reference_schedule(
    method: str, principal: str, rate: str, months: int | None, days: int | None, start: date
) -> None:
    term = ["--months", str(months)] if months is not None else ["--days", str(days)]
    args = ["--method", method, "--principal", principal, "--annual-rate", rate, *term]
    out = calc_json(*args, "--start-date", start.isoformat())
    assert out == reference_schedule(method, principal, rate, months=months, days=days, start=start)
    # R20: the principals sum to the loan exactly.
    assert sum(Decimal(p) for p in column(out, "principal")) == Decimal(principal)


def test_json_shape_defaults_and_normalised_rate() -> None:
    out = calc_json(
        "--method", "interest-first", "--principal", "5000", "--annual-rate", "0.0800", "--months", "2"
    )
    assert list(out) == [
        "method",
        "principal",
        "annual_rate",
        "start_date",
        "installments",
        "total_payment",
        "total_interest",
    ]
    assert list(out["installments"][0]) == [
        "period",
        "due_date",
        "payment",
        "principal",
        "interest",
        "remaining_principal",
    ]
    assert (out["method"], out["principal"], out["annual_rate"]) == ("interest-first", "5000.00", "0.08")
    assert out["start_date"] == TODAY.isoformat()  # the business clock's today
    assert column(out, "due_date") == ["2026-12-28", "2027-01-28"]


# --- bad input: exit 2, one line on stderr, nothing on stdout ----------------------------------

GOOD = {"--method": "equal-installment", "--principal": "10000.00", "--annual-rate": "0.12", "--months": "12"}


def _args(**changes: str | None) -> list[str]:
    options = {**GOOD, **{f"--{k.replace('_', '-')}": v for k, v in changes.items()}}
    return [part for option, value in options.items() if value is not None for part in (option, value)]


BAD = {
    "unknown method": _args(method="annuity"),
    "underscore method": _args(method="equal_installment"),
    "thousands separator": _args(principal="10,000"),
    "negative amount": _args(principal="-5"),
    "three decimals": _args(principal="1.234"),
    "zero amount": _args(principal="0"),
    "exponent amount": _args(principal="1e4"),
    "negative rate": _args(annual_rate="-0.01"),
    "rate of one": _args(annual_rate="1"),
    "rate above one": _args(annual_rate="1.5"),
    "percent rate": _args(annual_rate="12%"),
    "words for a rate": _args(annual_rate="twelve"),
    "exponent rate": _args(annual_rate="1e-1"),
    "no term": _args(months=None),
    "both terms": [*_args(method="bullet"), "--days", "30"],
    "zero months": _args(months="0"),
    "361 months": _args(months="361"),
    "months not a number": _args(months="12.5"),
    "zero days": [*_args(method="bullet", months=None), "--days", "0"],
    "3651 days": [*_args(method="bullet", months=None), "--days", "3651"],
    "days for equal installment": [*_args(months=None), "--days", "90"],
    "days for interest first": [*_args(method="interest-first", months=None), "--days", "90"],
    "Feb 30": [*_args(), "--start-date", "2026-02-30"],
    "not ISO": [*_args(), "--start-date", "31/01/2026"],
    "no method": _args(method=None),
    "no principal": _args(principal=None),
}


@pytest.mark.parametrize("args", BAD.values(), ids=BAD.keys())
def test_bad_input_exits_2_with_one_line(args: list[str]) -> None:
    result = runner.invoke(app, ["calc", *args, "--json"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error"), result.stderr


def test_bad_input_names_the_code_and_the_option() -> None:
    result = runner.invoke(app, ["calc", *_args(principal="10,000")])
    assert "invalid_amount" in result.stderr and "--principal" in result.stderr
    result = runner.invoke(app, ["calc", *_args(months="361")])
    assert "invalid_loan_terms" in result.stderr and "--months" in result.stderr and "360" in result.stderr


# --- the table -----------------------------------------------------------------------------------


def test_table_renders_every_installment_and_the_totals() -> None:
    result = runner.invoke(app, ["calc", *_args(principal="12000"), "--start-date", "2026-01-31"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for header in ("period", "due date", "payment", "principal", "interest", "remaining"):
        assert header in out
    assert out.count("¥1,066.19") >= 11 and "¥1,066.14" in out
    assert "2026-02-28" in out and "2027-01-31" in out
    assert "total payment ¥12,794.23, total interest ¥794.23" in out


def test_table_is_never_cut_on_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "_width", 30)
    result = runner.invoke(app, ["calc", *_args(method="equal-principal", principal="200000", months="3")])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert "¥200,000.00" in result.stdout and "¥133,333.33" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ 1 "))
    assert len(row) > 30  # wider than the terminal rather than wrapped
