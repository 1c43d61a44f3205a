"""``p2plend bench``: a ratio to a baseline measured in the same run, on a scratch database
(PostgreSQL's when the suite runs on it), a table and then one JSON line."""

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from p2plend import clock
from p2plend.cli import app

runner = CliRunner()


def _db() -> list[str]:
    url = os.environ.get("P2PLEND_TEST_DATABASE_URL")
    return ["--db", url] if url else []


def test_repayment_bench_prints_both_timings_and_their_ratio() -> None:
    before = clock.now()
    result = runner.invoke(app, ["bench", "repayment", "--holders", "3", "--rounds", "2", *_db()])
    assert result.exit_code == 0, result.output
    assert "bench repayment: 3 holders, 2 rounds" in result.output
    act = float(re.search(r"act\s+([\d.]+) ms", result.output).group(1))  # type: ignore[union-attr]
    baseline = float(re.search(r"baseline\s+([\d.]+) ms", result.output).group(1))  # type: ignore[union-attr]
    ratio = float(re.search(r"ratio\s+([\d.]+)", result.output).group(1))  # type: ignore[union-attr]
    assert act > 0 and baseline > 0
    assert abs(ratio - act / baseline) < 0.05 * ratio + 0.01
    figures = json.loads(result.output.strip().splitlines()[-1])
    # act_ms and baseline_ms are rounded to 0.01 ms, the ratio is of the unrounded times
    assert abs(figures["ratio"] - figures["act_ms"] / figures["baseline_ms"]) < 0.005 * figures["ratio"]
    assert clock.now() == before  # the bench puts the business clock back


def test_bid_storm_funds_the_listing_exactly_and_prints_its_ratio_to_bare_transactions() -> None:
    result = runner.invoke(app, ["bench", "bid-storm", "--bidders", "4", "--bids", "3", *_db()])
    assert result.exit_code == 0, result.output
    assert "bench bid-storm: 4 bidders × 3 bids" in result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["overfunded_fen"] == 0
    assert figures["dangling_frozen_fen"] == 0
    assert figures["funded_exactly"] is True
    assert figures["ledger_ok"] is True
    assert figures["errors"] == 0
    assert figures["bids_per_s"] > 0 and figures["baseline_per_s"] > 0
    assert (
        figures["ratio"] == round(figures["bids_per_s"] / figures["baseline_per_s"], 3)
        or abs(figures["ratio"] - figures["bids_per_s"] / figures["baseline_per_s"]) < 0.01 * figures["ratio"]
    )


def test_bid_storm_through_the_http_api() -> None:
    result = runner.invoke(app, ["bench", "bid-storm", "--bidders", "3", "--bids", "2", "--http"])
    assert result.exit_code == 0, result.output
    assert "via the HTTP API" in result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert (figures["overfunded_fen"], figures["funded_exactly"], figures["ledger_ok"]) == (0, True, True)


def test_api_load_run_against_the_served_platform() -> None:
    """Uvicorn worker processes on the scratch database; the mix and the trivial endpoint."""
    args = ["bench", "api", "--clients", "2", "--seconds", "1", "--investors", "2", *_db()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["requests_per_s"] > 0 and figures["baseline_per_s"] > 0
    assert (figures["errors"], figures["overfunded_fen"], figures["ledger_ok"]) == (0, 0, True)
    assert "bid" in result.output and "browse_page" in result.output


def test_unknown_bench_is_refused_with_exit_2() -> None:
    result = runner.invoke(app, ["bench", "nonsense"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_a_db_that_is_not_postgresql_is_refused() -> None:
    result = runner.invoke(app, ["bench", "bid-storm", "--db", "mysql://localhost/x"])
    assert result.exit_code == 2
    assert "PostgreSQL server URL" in result.output


def test_autobid_bench_allocates_the_same_listing_at_three_queue_sizes_within_its_shares() -> None:
    result = runner.invoke(app, ["bench", "autobid", "--base", "20", "--listings", "1", *_db()])
    assert result.exit_code == 0, result.output
    assert "bench autobid: one listing of 10,000 yuan, 20 / 200 / 2,000 rules" in result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["base_rules"] == 20
    assert figures["ms_1k"] > 0 and figures["ms_10k"] > 0 and figures["ms_100k"] > 0
    growth = figures["ms_100k"] / figures["ms_1k"]
    # Both sides rounded (the ratio to 3 decimals, the times to 2): equal up to that rounding.
    assert figures["growth_ratio"] == pytest.approx(growth, rel=0.01, abs=0.001)
    assert figures["turns"] > 0
    assert figures["overfunded_fen"] <= 0
    assert figures["ledger_ok"] is True


def test_eod_bench_closes_a_date_on_a_book_and_again_on_ten_times_the_book() -> None:
    args = ["bench", "eod", "--loans", "60", "--holders", "3", "--scale-holders", "1", *_db()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "bench eod: 60 loans × 3 holders, 2 due per date, 1 worker" in result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert (figures["loans"], figures["due_loans"], figures["scale_loans"]) == (60, 2, 600)
    # Every due installment collected, split among its three holders, on both dates.
    assert (figures["installments"], figures["holder_postings"]) == (2, 6)
    assert figures["collected_all"] is True
    assert figures["ledger_ok"] is True
    assert figures["postings_per_s"] > 0 and figures["baseline_per_s"] > 0
    # Each figure is rounded (the ratios to 0.001, the times to 1 ms): compare within that.
    ratio = figures["postings_per_s"] / figures["baseline_per_s"]
    assert abs(figures["ratio"] - ratio) <= 0.0005 + 0.01 * ratio
    scale = figures["scale_seconds"] / figures["seconds"]
    assert abs(figures["scale_ratio"] - scale) <= 0.0005 + 0.01 * scale


@pytest.mark.postgres_only
def test_eod_crash_kills_the_batch_and_every_rerun_ends_as_the_uninterrupted_run() -> None:
    args = ["bench", "eod-crash", "--loans", "60", "--holders", "3", "--kills", "3", "--seed", "5", *_db()]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["kill_points"] == 3 and figures["statements"] > 3
    assert (figures["mismatches"], figures["unsound"], figures["not_killed"]) == (0, 0, 0)


def test_eod_crash_needs_postgresql() -> None:
    result = runner.invoke(app, ["bench", "eod-crash", "--kills", "1"])
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output


def test_the_benches_run_as_a_module_too() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "p2plend.bench", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for name in ("bid-storm", "autobid", "api", "repayment", "eod", "eod-crash"):
        assert name in result.stdout
