"""``p2plend fuzz api``: the longer fuzz on a throw-away database (docs/reliability.md)."""

import importlib.util
from collections import Counter

import pytest

from p2plend import fuzz
from tests.console import Run


def test_the_command_fuzzes_the_operations_asked_for_and_counts_each() -> None:
    code, output = Run()(
        "fuzz", "api", "--examples", "2", "--role", "investor", "--only", "GET /api/v1/me/account"
    )

    assert code == 0, output
    assert "GET /api/v1/me/account" in output
    assert "operations 1" in output
    assert "failures 0" in output


def test_a_failure_is_printed_and_the_command_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    failed = fuzz.OperationReport("GET /api/v1/me", "investor", calls=1, statuses=Counter({500: 1}))
    failed.failures.add("500 Server error")
    monkeypatch.setattr(fuzz, "prepare", lambda app: None)
    monkeypatch.setattr(fuzz, "fuzz_api", lambda *args, **kwargs: [failed])

    code, output = Run()("fuzz", "api")

    assert code == 1
    assert "GET /api/v1/me  calls     1  2xx 0  4xx 0  5xx 1  failures 1" in output
    assert "FAIL GET /api/v1/me as investor\n  500 Server error" in output


def test_an_unknown_role_is_refused() -> None:
    code, output = Run()("fuzz", "api", "--role", "emperor")

    assert code == 2
    assert "unknown role emperor" in output


def test_without_schemathesis_the_command_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "schemathesis" else find_spec(name, *rest),
    )

    code, output = Run()("fuzz", "api")

    assert code == 2
    assert "pip install -e '.[dev]'" in output
