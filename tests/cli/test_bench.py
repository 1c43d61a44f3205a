"""``p2plend bench``: a ratio to a baseline measured in the same run, on a throw-away database."""

import re

from typer.testing import CliRunner

from p2plend import clock
from p2plend.cli import app

runner = CliRunner()


def test_repayment_bench_prints_both_timings_and_their_ratio() -> None:
    before = clock.now()
    result = runner.invoke(app, ["bench", "repayment", "--holders", "3", "--rounds", "2"])
    assert result.exit_code == 0, result.output
    assert "bench repayment: 3 holders, 2 rounds" in result.output
    act = float(re.search(r"act\s+([\d.]+) ms", result.output).group(1))  # type: ignore[union-attr]
    baseline = float(re.search(r"baseline\s+([\d.]+) ms", result.output).group(1))  # type: ignore[union-attr]
    ratio = float(re.search(r"ratio\s+([\d.]+)", result.output).group(1))  # type: ignore[union-attr]
    assert act > 0 and baseline > 0
    assert abs(ratio - act / baseline) < 0.05 * ratio + 0.01
    assert clock.now() == before  # the bench puts the business clock back


def test_unknown_bench_is_refused_with_exit_2() -> None:
    result = runner.invoke(app, ["bench", "nonsense"])
    assert result.exit_code == 2
    assert "unknown benchmark" in result.output
