"""Credit scoring (信用评分): the run-time scorecard.

A scorecard is a points table trained offline (``scripts/train_scorecard.py``, WOE binning +
logistic regression on the German credit data, see ``docs/scorecard.md``) and shipped as a
versioned JSON artifact beside this module. Scoring an application is a table look-up: each
characteristic of the applicant falls into one bin, each bin gives whole points, and the score
is the base points plus the points of the bins. Only ``int`` and exact ``Fraction`` arithmetic:
no numpy, no floats, no database, so a model version always gives the same score for the same
application and a stored decision can be re-explained later from its ``model_version``.

Scaling (DOMAIN.md §6): points = offset − factor·ln(odds_bad), factor = PDO/ln 2, 600 points at
odds 1:19 with PDO 50 — 50 more points halve the odds of going bad. Grades AA … HR are bands of
points whose floors are stored in the artifact.

The bridge between our application and the training data is :func:`characteristics`: it turns
:class:`ApplicantFeatures` into the values the training script derives from the German
attributes (the mapping table is in ``docs/scorecard.md``). Both sides use the same bin labels
(:data:`CHARACTERISTICS`), so training and scoring agree.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import cache
from importlib import resources
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal

from p2plend.errors import InvalidInput, NotFound


class Grade(StrEnum):
    """Credit grades (信用等级), best first (DOMAIN.md §6)."""

    AA = "AA"
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    HR = "HR"  # high risk


GRADES_BEST_FIRST: tuple[Grade, ...] = tuple(Grade)


class InvalidApplicantFeatures(InvalidInput):
    code = "invalid_applicant_features"


class UnknownScorecardVersion(NotFound):
    code = "unknown_scorecard_version"


class ScorecardArtifactError(RuntimeError):
    """A shipped artifact is malformed or disagrees with this module: a bug, never user input."""


# --- our application -------------------------------------------------------------------------

EMPLOYMENT_TYPES = frozenset(
    {"salaried", "civil_servant", "self_employed", "retired", "unemployed", "student"}
)
HOUSING_TYPES = frozenset({"own", "mortgage", "rent", "family", "other"})
PURPOSES = frozenset(
    {
        "consumption",
        "education",
        "medical",
        "home_improvement",
        "car",
        "business",
        "working_capital",
        "debt_consolidation",
        "other",
    }
)
MIN_AGE = 18  # a borrower is an adult (完全民事行为能力人)
MAX_AGE = 100


@dataclass(frozen=True)
class ApplicantFeatures:
    """What a loan application tells the scorecard about the borrower."""

    age: int  # years, from the resident ID's birth date
    monthly_income_fen: int  # declared monthly income, fen (1 yuan = 100 fen)
    employment: str  # "salaried" | "civil_servant" | "self_employed" | "retired" | "unemployed" | "student"
    employment_years: int  # years in current employment (0 if none)
    housing: str  # "own" | "mortgage" | "rent" | "family" | "other"
    amount_fen: int  # loan amount requested, fen
    term_months: int  # term in months (a day-based loan passes ceil(days/30))
    purpose: str  # "consumption" | "education" | "medical" | "home_improvement" | "car" | "business"
    #               | "working_capital" | "debt_consolidation" | "other"
    other_debts_count: int  # number of other outstanding loans declared (other platforms, banks)
    prior_overdue: bool  # platform history: ever overdue on this platform
    repaid_loans: int  # platform history: loans repaid here on time


def validate(features: ApplicantFeatures) -> None:
    """Refuse features the scorecard cannot score, listing every problem at once."""
    problems: list[dict[str, str]] = []

    def problem(field: str, message: str) -> None:
        problems.append({"field": field, "message": message})

    def whole(field: str, minimum: int, maximum: int | None = None) -> None:
        value = getattr(features, field)
        if isinstance(value, bool) or not isinstance(value, int):
            problem(field, "must be a whole number")
        elif value < minimum:
            problem(field, f"must be at least {minimum}")
        elif maximum is not None and value > maximum:
            problem(field, f"must be at most {maximum}")

    def one_of(field: str, allowed: frozenset[str]) -> None:
        value = getattr(features, field)
        if not isinstance(value, str) or value not in allowed:
            problem(field, "must be one of " + ", ".join(sorted(allowed)))

    whole("age", MIN_AGE, MAX_AGE)
    whole("monthly_income_fen", 0)
    one_of("employment", EMPLOYMENT_TYPES)
    whole("employment_years", 0, MAX_AGE)
    one_of("housing", HOUSING_TYPES)
    whole("amount_fen", 1)
    whole("term_months", 1)
    one_of("purpose", PURPOSES)
    whole("other_debts_count", 0)
    if not isinstance(features.prior_overdue, bool):
        problem("prior_overdue", "must be true or false")
    whole("repaid_loans", 0)
    if problems:
        raise InvalidApplicantFeatures(
            "The applicant's features cannot be scored: "
            + "; ".join(f"{p['field']} {p['message']}" for p in problems)
            + ".",
            details={"errors": problems},
        )


# --- characteristics: what the scorecard looks at ---------------------------------------------

# A characteristic's value: whole numbers (age, term), an exact ratio (amount to income; None
# when the applicant declared no income: larger than any ratio), or a category label.
CharacteristicValue = int | Fraction | str | None
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class CharacteristicSpec:
    name: str
    kind: Kind
    reason_code: str  # stable code reported when this characteristic lowers the score
    labels: tuple[str, ...] = ()  # the bins of a categorical characteristic


# The characteristics this module can compute. A model may use any subset of them; an artifact
# naming another one refuses to load. The labels are the bins the training script maps the
# German attributes to (scripts/train_scorecard.py); the reason codes are part of the API.
CHARACTERISTICS: Mapping[str, CharacteristicSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            CharacteristicSpec("age", "numeric", "young_age"),
            CharacteristicSpec("term_months", "numeric", "long_term"),
            CharacteristicSpec("amount_to_income", "numeric", "high_amount_to_income"),
            CharacteristicSpec(
                "credit_history", "categorical", "repayment_history", ("adverse", "no_record", "repaid_here")
            ),
            CharacteristicSpec(
                "purpose",
                "categorical",
                "loan_purpose",
                ("car", "consumption", "education", "home_improvement", "other"),
            ),
            CharacteristicSpec(
                "employment_length",
                "categorical",
                "short_employment",
                ("none_or_under_1y", "1_to_4y", "4y_plus"),
            ),
            CharacteristicSpec("other_debts", "categorical", "other_debts", ("none", "some")),
            CharacteristicSpec(
                "job", "categorical", "employment_type", ("not_working", "employee", "self_employed")
            ),
            CharacteristicSpec("housing", "categorical", "housing_status", ("own", "rent", "free")),
        )
    }
)

_PURPOSE_BINS: Mapping[str, str] = MappingProxyType(
    {
        "car": "car",
        "consumption": "consumption",
        "education": "education",
        "home_improvement": "home_improvement",
        "medical": "other",
        "business": "other",
        "working_capital": "other",
        "debt_consolidation": "other",
        "other": "other",
    }
)
_NOT_WORKING = frozenset({"unemployed", "student", "retired"})
_JOB_BINS: Mapping[str, str] = MappingProxyType(
    {
        "salaried": "employee",
        "civil_servant": "employee",
        "self_employed": "self_employed",
        "retired": "not_working",
        "unemployed": "not_working",
        "student": "not_working",
    }
)
_HOUSING_BINS: Mapping[str, str] = MappingProxyType(
    {"own": "own", "mortgage": "own", "rent": "rent", "family": "free", "other": "free"}
)


def _credit_history(prior_overdue: bool, repaid_loans: int) -> str:
    if prior_overdue:
        return "adverse"
    return "repaid_here" if repaid_loans > 0 else "no_record"


def _employment_length(employment: str, employment_years: int) -> str:
    if employment in _NOT_WORKING or employment_years < 1:
        return "none_or_under_1y"
    return "1_to_4y" if employment_years < 4 else "4y_plus"


def characteristics(features: ApplicantFeatures) -> dict[str, CharacteristicValue]:
    """The applicant's value of every characteristic in :data:`CHARACTERISTICS`."""
    validate(features)
    amount_to_income = (
        Fraction(features.amount_fen, features.monthly_income_fen) if features.monthly_income_fen else None
    )
    return {
        "age": features.age,
        "term_months": features.term_months,
        "amount_to_income": amount_to_income,
        "credit_history": _credit_history(features.prior_overdue, features.repaid_loans),
        "purpose": _PURPOSE_BINS[features.purpose],
        "employment_length": _employment_length(features.employment, features.employment_years),
        "other_debts": "some" if features.other_debts_count > 0 else "none",
        "job": _JOB_BINS[features.employment],
        "housing": _HOUSING_BINS[features.housing],
    }


# --- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bin:
    label: str
    points: int
    upper: Fraction | None = None  # numeric bins: exclusive upper bound; None = no bound


@dataclass(frozen=True)
class ScoredCharacteristic:
    name: str
    kind: Kind
    reason_code: str
    bins: tuple[Bin, ...]

    @property
    def best_points(self) -> int:
        return max(b.points for b in self.bins)

    def bin_for(self, value: CharacteristicValue) -> Bin:
        if self.kind == "categorical":
            for candidate in self.bins:
                if candidate.label == value:
                    return candidate
            raise ScorecardArtifactError(f"{self.name}: no bin for {value!r}")
        if value is None:  # no bound: beyond every cut
            return self.bins[-1]
        if isinstance(value, str):
            raise ScorecardArtifactError(f"{self.name}: a number was expected, not {value!r}")
        for candidate in self.bins:
            if candidate.upper is None or value < candidate.upper:
                return candidate
        raise ScorecardArtifactError(f"{self.name}: the last bin must be unbounded")


@dataclass(frozen=True)
class FeaturePoints:
    """How one characteristic contributed: its bin, its points and the points it cost."""

    name: str
    bin_label: str
    points: int
    shortfall: int  # best bin's points − this bin's points (≥ 0)
    reason_code: str


@dataclass(frozen=True)
class ScoreResult:
    model_version: str
    score: int
    grade: Grade
    reasons: tuple[str, ...]  # up to 3 reason codes, the characteristic that cost most first


MAX_REASONS = 3


@dataclass(frozen=True)
class Scorecard:
    version: str
    base_points: int
    characteristics: tuple[ScoredCharacteristic, ...]
    # (grade, lowest points of that grade) for AA … E, descending; below E's floor is HR.
    grade_floors: tuple[tuple[Grade, int], ...]
    metadata: Mapping[str, Any]

    def grade_for(self, points: int) -> Grade:
        for grade, floor in self.grade_floors:
            if points >= floor:
                return grade
        return Grade.HR

    def breakdown_characteristics(
        self, values: Mapping[str, CharacteristicValue]
    ) -> tuple[FeaturePoints, ...]:
        out = []
        for characteristic in self.characteristics:
            chosen = characteristic.bin_for(values[characteristic.name])
            out.append(
                FeaturePoints(
                    name=characteristic.name,
                    bin_label=chosen.label,
                    points=chosen.points,
                    shortfall=characteristic.best_points - chosen.points,
                    reason_code=characteristic.reason_code,
                )
            )
        return tuple(out)

    def breakdown(self, features: ApplicantFeatures) -> tuple[FeaturePoints, ...]:
        """Each characteristic's bin and points for this applicant (for review and re-explaining)."""
        return self.breakdown_characteristics(characteristics(features))

    def score_characteristics(self, values: Mapping[str, CharacteristicValue]) -> ScoreResult:
        parts = self.breakdown_characteristics(values)
        score = self.base_points + sum(p.points for p in parts)
        # Stable order: the largest shortfall first, ties in the model's characteristic order.
        costly = sorted((p for p in parts if p.shortfall > 0), key=lambda p: -p.shortfall)
        return ScoreResult(
            model_version=self.version,
            score=score,
            grade=self.grade_for(score),
            reasons=tuple(p.reason_code for p in costly[:MAX_REASONS]),
        )

    def score(self, features: ApplicantFeatures) -> ScoreResult:
        return self.score_characteristics(characteristics(features))


# --- artifacts --------------------------------------------------------------------------------

ARTIFACT_FORMAT = 1
# Every version ever shipped stays here and loadable: stored decisions name their version.
ARTIFACTS: Mapping[str, str] = MappingProxyType({"german-woe-lr-v1": "scorecard_v1.json"})
DEFAULT_MODEL_VERSION = "german-woe-lr-v1"


def _bad(message: str) -> ScorecardArtifactError:
    return ScorecardArtifactError(f"Malformed scorecard artifact: {message}")


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{what} must be an object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _bad(f"{what} must be a non-empty list")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{what} must be an integer")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(f"{what} must be a non-empty string")
    return value


def _characteristic(raw: object) -> ScoredCharacteristic:
    data = _obj(raw, "a characteristic")
    name = _str(data.get("name"), "characteristic name")
    spec = CHARACTERISTICS.get(name)
    if spec is None:
        raise _bad(f"unknown characteristic {name!r}")
    if data.get("kind") != spec.kind:
        raise _bad(f"{name}: kind must be {spec.kind!r}")
    bins = []
    for i, raw_bin in enumerate(_list(data.get("bins"), f"{name}.bins")):
        b = _obj(raw_bin, f"{name}.bins[{i}]")
        label = _str(b.get("label"), f"{name}.bins[{i}].label")
        points = _int(b.get("points"), f"{name}.bins[{i}].points")
        upper = None
        if spec.kind == "numeric" and b.get("upper") is not None:
            try:
                upper = Fraction(_str(b.get("upper"), f"{name}.bins[{i}].upper"))
            except ValueError as exc:
                raise _bad(f"{name}.bins[{i}].upper is not a number") from exc
        bins.append(Bin(label=label, points=points, upper=upper))
    if spec.kind == "categorical":
        labels = [b.label for b in bins]
        if sorted(labels) != sorted(spec.labels):
            raise _bad(f"{name}: bins must be exactly {sorted(spec.labels)}")
    else:
        uppers = [b.upper for b in bins]
        if uppers[-1] is not None or any(u is None for u in uppers[:-1]):
            raise _bad(f"{name}: only the last bin is unbounded")
        bounded = [u for u in uppers if u is not None]
        if any(a >= b for a, b in pairwise(bounded)):
            raise _bad(f"{name}: bin bounds must increase")
    return ScoredCharacteristic(name=name, kind=spec.kind, reason_code=spec.reason_code, bins=tuple(bins))


def parse_artifact(data: object) -> Scorecard:
    """Build a :class:`Scorecard` from a decoded artifact, checking its shape."""
    root = _obj(data, "the artifact")
    if root.get("format") != ARTIFACT_FORMAT:
        raise _bad(f"format must be {ARTIFACT_FORMAT}")
    version = _str(root.get("version"), "version")
    characteristics_ = tuple(
        _characteristic(c) for c in _list(root.get("characteristics"), "characteristics")
    )
    names = [c.name for c in characteristics_]
    if len(set(names)) != len(names):
        raise _bad("a characteristic appears twice")
    floors = []
    for i, raw in enumerate(_list(root.get("grades"), "grades")):
        g = _obj(raw, f"grades[{i}]")
        try:
            grade = Grade(_str(g.get("grade"), f"grades[{i}].grade"))
        except ValueError as exc:
            raise _bad(f"grades[{i}].grade is not a grade") from exc
        if grade is not GRADES_BEST_FIRST[i]:
            raise _bad("grades must list AA … HR in order")
        if grade is Grade.HR:
            if g.get("min_points") is not None:
                raise _bad("HR has no floor")
        else:
            floors.append((grade, _int(g.get("min_points"), f"grades[{i}].min_points")))
    if len(floors) != len(GRADES_BEST_FIRST) - 1:
        raise _bad("grades must list AA … HR")
    if any(a[1] <= b[1] for a, b in pairwise(floors)):
        raise _bad("grade floors must decrease from AA to E")
    return Scorecard(
        version=version,
        base_points=_int(root.get("base_points"), "base_points"),
        characteristics=characteristics_,
        grade_floors=tuple(floors),
        metadata=MappingProxyType(_obj(root.get("metadata"), "metadata")),
    )


@cache
def _load(version: str) -> Scorecard:
    resource = resources.files("p2plend.origination").joinpath(ARTIFACTS[version])
    model = parse_artifact(json.loads(resource.read_text(encoding="utf-8")))
    if model.version != version:
        raise _bad(f"{ARTIFACTS[version]} holds version {model.version!r}, not {version!r}")
    return model


def load_model(version: str | None = None) -> Scorecard:
    """The scorecard of ``version`` (the current one by default); read once, then cached."""
    wanted = DEFAULT_MODEL_VERSION if version is None else version
    if wanted not in ARTIFACTS:
        raise UnknownScorecardVersion(
            f"There is no scorecard version {wanted!r}.",
            details={"version": wanted, "known": sorted(ARTIFACTS)},
        )
    return _load(wanted)


def grade_for(points: int, version: str | None = None) -> Grade:
    """The grade of ``points`` under a model version's bands (the current one by default)."""
    return load_model(version).grade_for(points)


def score(features: ApplicantFeatures, version: str | None = None) -> ScoreResult:
    """Score an application with a model version (the current one by default)."""
    return load_model(version).score(features)
