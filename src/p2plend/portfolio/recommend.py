"""为您推荐: the open listings an investor may lend to, ranked for them, each with a one-line reason.

Only listings the investor may bid on now are offered: open and not yet full, not their own
loan (nor one they guarantee), a risk class within their tier (R15, R16), and room left under
the listing's per-investor cap. The score is a sum of whole points anyone can recompute:

* **risk** (up to 30): how the loan's class sits in the investor's tier — 30 at their tier's
  class or one below it, 10 less for each class further below (a C5 investor is not pushed
  towards R1 loans, a C1 investor sees R1 loans only);
* **history** (up to 45): what they chose before — the amount-weighted shares of the grade
  (20), the term in months (15) and the repayment method (10) among their claims (principal
  acquired) and the bids still frozen; a listing of grade B scores 20 × the share of B;
* **preference** (up to 25): their stated preference — explicit (term range, grades, rate
  range, methods), else their auto-bid rule when they have one — 25 × the share of the stated
  criteria the listing meets.

Ties go to the lower listing id, so the order is deterministic. The reason names the strongest
ground: the preference it meets, else the choices it resembles, else the risk level.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.errors import InvalidInput
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.portfolio.service import GRADES
from p2plend.portfolio.spread import Slot, next_amount
from p2plend.schedules.service import Method
from p2plend.suitability import service as suitability

RISK_POINTS = 30
HISTORY_POINTS = {"grade": 20, "term": 15, "method": 10}
PREFERENCE_POINTS = 25
MAX_CANDIDATES = 500  # the newest 500 open listings are ranked
MAX_TERM_MONTHS = 360
METHODS: tuple[str, ...] = tuple(m.value for m in Method)
K = TypeVar("K")
EXPLICIT, AUTO_BID = "explicit", "auto_bid"  # where a preference comes from
COMPENSATION = "compensation"  # a guarantor's claim is not an investor's choice

METHOD_WORDS: dict[str, tuple[str, str]] = {
    "equal_installment": ("等额本息", "equal-installment"),
    "equal_principal": ("等额本金", "equal-principal"),
    "interest_first": ("先息后本", "interest-first"),
    "bullet": ("一次性还本付息", "bullet"),
}


class InvalidPreference(InvalidInput):
    """A stated preference is refused; ``details.field`` names which part."""

    code = "invalid_preference"


@dataclass(frozen=True, slots=True)
class Preference:
    """What an investor says they want (the auto-bid rule's fields, DOMAIN.md §10)."""

    term_min: int | None = None  # months, inclusive
    term_max: int | None = None
    grades: tuple[str, ...] = ()
    rate_min: Decimal | None = None  # yearly, inclusive
    rate_max: Decimal | None = None
    methods: tuple[str, ...] = ()
    source: str = EXPLICIT  # explicit | auto_bid

    def criteria(self) -> list[str]:
        """The criteria stated, in the order the reason names them."""
        stated = []
        if self.term_min is not None or self.term_max is not None:
            stated.append("term")
        if self.grades:
            stated.append("grade")
        if self.rate_min is not None or self.rate_max is not None:
            stated.append("rate")
        if self.methods:
            stated.append("method")
        return stated

    def met_by(self, loan: Loan) -> list[str]:
        """The stated criteria ``loan`` meets."""
        months, rate = term_months(loan), Decimal(loan.annual_rate)
        met = []
        for criterion in self.criteria():
            if criterion == "term":
                ok = (self.term_min is None or months >= self.term_min) and (
                    self.term_max is None or months <= self.term_max
                )
            elif criterion == "grade":
                ok = loan.grade in self.grades
            elif criterion == "rate":
                ok = (self.rate_min is None or rate >= self.rate_min) and (
                    self.rate_max is None or rate <= self.rate_max
                )
            else:
                ok = loan.method in self.methods
            if ok:
                met.append(criterion)
        return met


def check_preference(
    *,
    term_min: int | None = None,
    term_max: int | None = None,
    grades: Sequence[str] = (),
    rate_min: Decimal | None = None,
    rate_max: Decimal | None = None,
    methods: Sequence[str] = (),
    source: str = EXPLICIT,
) -> Preference:
    """A preference, or ``invalid_preference`` naming the field at fault."""

    def refuse(name: str, message: str) -> InvalidPreference:
        return InvalidPreference(message, details={"field": name})

    for name, months in (("term_min", term_min), ("term_max", term_max)):
        if months is not None and not 1 <= months <= MAX_TERM_MONTHS:
            raise refuse(name, f"A term is 1 to {MAX_TERM_MONTHS} months.")
    if term_min is not None and term_max is not None and term_min > term_max:
        raise refuse("term_max", "The longest term is not shorter than the shortest.")
    if any(g not in GRADES for g in grades):
        raise refuse("grades", f"Grades are among {', '.join(GRADES)}.")
    for name, rate in (("rate_min", rate_min), ("rate_max", rate_max)):
        if rate is not None and not Decimal(0) <= rate < Decimal(1):
            raise refuse(name, "A rate is a yearly rate from 0 up to (not including) 1.")
    if rate_min is not None and rate_max is not None and rate_min > rate_max:
        raise refuse("rate_max", "The highest rate is not below the lowest.")
    if any(m not in METHODS for m in methods):
        raise refuse("methods", f"Methods are among {', '.join(METHODS)}.")
    return Preference(
        term_min=term_min,
        term_max=term_max,
        grades=tuple(g for g in GRADES if g in set(grades)),
        rate_min=rate_min,
        rate_max=rate_max,
        methods=tuple(m for m in METHODS if m in set(methods)),
        source=source,
    )


def term_months(loan: Loan) -> int:
    """The loan's term in months; a term in days counts as started months (90 days → 3)."""
    if loan.term_months is not None:
        return loan.term_months
    return max(1, -(-(loan.term_days or 0) // 30))


# --- what the investor chose before -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """Amount-weighted choices: fen by grade, by term in months, by method."""

    total: int = 0
    grades: Mapping[str, int] = field(default_factory=dict)
    terms: Mapping[int, int] = field(default_factory=dict)
    methods: Mapping[str, int] = field(default_factory=dict)


def history_of(session: Session, investor_id: int) -> History:
    """The investor's claims (principal acquired, live or repaid) and their frozen bids."""
    weights: dict[int, int] = {}
    for holding in marketplace.holdings_of_holder(session, investor_id):
        if holding.source != COMPENSATION:
            weights[holding.loan_id] = weights.get(holding.loan_id, 0) + holding.principal_acquired
    for bid in marketplace.bids_of_investor(session, investor_id, limit=1000):
        if bid.status == "frozen":
            weights[bid.loan_id] = weights.get(bid.loan_id, 0) + bid.amount
    grades: dict[str, int] = {}
    terms: dict[int, int] = {}
    methods: dict[str, int] = {}
    for loan_id, amount in weights.items():
        loan = marketplace.get_loan(session, loan_id)
        grades[loan.grade] = grades.get(loan.grade, 0) + amount
        terms[term_months(loan)] = terms.get(term_months(loan), 0) + amount
        methods[loan.method] = methods.get(loan.method, 0) + amount
    return History(sum(weights.values()), grades, terms, methods)


# --- ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recommendation:
    loan: Loan
    score: int
    risk_points: int
    history_points: int
    preference_points: int
    reason: str  # preference | history | risk
    explanation_zh: str
    explanation_en: str

    def explanation(self, locale: str) -> str:
        return self.explanation_en if locale == "en" else self.explanation_zh


@dataclass(frozen=True, slots=True)
class Feed:
    tier: suitability.Tier
    preference: Preference | None
    history: History
    items: tuple[Recommendation, ...]


def recommendations(
    session: Session,
    investor_id: int,
    *,
    preference: Preference | None = None,
    limit: int = 20,
) -> Feed:
    """The investor's feed, best first (``limit`` items at most).

    ``preference`` is an explicit one (the page's or the API's filter); without one, the
    investor's auto-bid rule counts (:func:`rule_preference`). Refusals:
    ``risk_assessment_required`` / ``risk_assessment_expired`` (R15: no lending, so nothing
    to recommend)."""
    tier = suitability.require_valid_assessment(session, investor_id).tier
    chosen = preference if preference is not None and preference.criteria() else None
    if chosen is None:
        rule = rule_preference(session, investor_id)
        chosen = rule if rule is not None and rule.criteria() else None
    history = history_of(session, investor_id)
    items = [_rank(loan, tier, history, chosen) for loan in _lendable(session, investor_id, tier)]
    items.sort(key=lambda r: (-r.score, r.loan.id))
    return Feed(tier=tier, preference=chosen, history=history, items=tuple(items[: max(0, limit)]))


def rule_preference(session: Session, investor_id: int) -> Preference | None:
    """The investor's auto-bid rule (自动投标, on or off: it says what they want) as a
    preference, or None without one. A bound that takes everything (rates 0 to 100 %, terms 1
    to 360 months, every grade, every method) states nothing and is left out."""
    rule = autobid.rule_of(session, investor_id)
    if rule is None:
        return None
    terms = rule.terms
    return Preference(
        term_min=terms.min_term_months if terms.min_term_months > 1 else None,
        term_max=terms.max_term_months if terms.max_term_months < MAX_TERM_MONTHS else None,
        grades=() if set(GRADES) <= set(terms.grades) else tuple(g for g in GRADES if g in terms.grades),
        rate_min=terms.min_rate if terms.min_rate > 0 else None,
        rate_max=terms.max_rate if terms.max_rate < 1 else None,
        methods=() if set(METHODS) <= set(terms.methods) else tuple(m for m in METHODS if m in terms.methods),
        source=AUTO_BID,
    )


def _lendable(session: Session, investor_id: int, tier: suitability.Tier) -> list[Loan]:
    now = clock.now()
    found = []
    for loan in marketplace.loans(session, statuses=[marketplace.OPEN], limit=MAX_CANDIDATES):
        if loan.deadline is None or loan.deadline <= now or loan.funded >= loan.amount:
            continue
        if investor_id in (loan.borrower_id, loan.guarantor_id):
            continue
        if not suitability.may_lend(tier, loan.risk_class):
            continue
        mine = sum(
            b.amount
            for b in marketplace.bids_of_loan(session, loan.id)
            if b.investor_id == investor_id and b.status == "frozen"
        )
        remaining = loan.amount - loan.funded
        slot = Slot(
            loan.id,
            Decimal(loan.annual_rate),
            loan.min_bid,
            loan.bid_step,
            remaining,
            marketplace.investor_cap(loan) - mine,
        )
        if next_amount(slot, 0, remaining) is not None:
            found.append(loan)
    return found


def risk_points(tier: suitability.Tier, risk_class: str) -> int:
    """30 at the tier's class or one below; 10 less per class further below; never negative."""
    below = tier.number - suitability.RiskClass(risk_class).number
    return max(0, RISK_POINTS - 10 * max(0, below - 1))


def _points(points: int, part: int, whole: int) -> int:
    if whole <= 0:
        return 0
    return int((Decimal(points) * part / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def history_points(history: History, loan: Loan) -> int:
    return (
        _points(HISTORY_POINTS["grade"], history.grades.get(loan.grade, 0), history.total)
        + _points(HISTORY_POINTS["term"], history.terms.get(term_months(loan), 0), history.total)
        + _points(HISTORY_POINTS["method"], history.methods.get(loan.method, 0), history.total)
    )


def _rank(
    loan: Loan, tier: suitability.Tier, history: History, preference: Preference | None
) -> Recommendation:
    risk = risk_points(tier, loan.risk_class)
    past = history_points(history, loan)
    met = preference.met_by(loan) if preference is not None else []
    stated = preference.criteria() if preference is not None else []
    liked = _usual(history, loan)
    if preference is not None and met:
        reason = "preference"
        zh, en = _preference_text(preference, met)
    elif liked:
        reason = "history"
        zh, en = _history_text(loan, liked)
    else:
        reason = "risk"
        zh, en = _risk_text(tier, loan.risk_class)
    return Recommendation(
        loan=loan,
        score=risk + past + _points(PREFERENCE_POINTS, len(met), len(stated)),
        risk_points=risk,
        history_points=past,
        preference_points=_points(PREFERENCE_POINTS, len(met), len(stated)),
        reason=reason,
        explanation_zh=zh,
        explanation_en=en,
    )


def _most(weights: Mapping[K, int], value: K) -> bool:
    return bool(weights) and weights.get(value, 0) == max(weights.values())


def _usual(history: History, loan: Loan) -> list[str]:
    """The dimensions in which ``loan`` is what the investor chose most (by amount)."""
    usual = []
    if _most(history.terms, term_months(loan)):
        usual.append("term")
    if _most(history.grades, loan.grade):
        usual.append("grade")
    if _most(history.methods, loan.method):
        usual.append("method")
    return usual


# --- the one-line reason, in Chinese and English -------------------------------------------------


def spaced(chinese: str, text: str) -> str:
    """Chinese then ``text``, with the space Chinese typesetting puts before a Latin letter or
    a digit: ``符合您`` + ``12–24 个月`` → ``符合您 12–24 个月``; none before Chinese."""
    return f"{chinese} {text}" if text[:1].isascii() else chinese + text


def percent_text(rate: Decimal) -> str:
    """0.08 → ``8``, 0.085 → ``8.5``: a rate as a percentage without trailing zeros."""
    return format((Decimal(rate) * 100).normalize(), "f")


def grades_text(grades: Iterable[str], *, en: bool) -> str:
    """Consecutive grades as a range (``A–B``), others listed (``A、C`` / ``A/C``)."""
    chosen = [g for g in GRADES if g in set(grades)]
    positions = [GRADES.index(g) for g in chosen]
    if len(chosen) > 1 and positions == list(range(positions[0], positions[0] + len(chosen))):
        return f"{chosen[0]}–{chosen[-1]}"
    return ("/" if en else "、").join(chosen)


def _range(low: object, high: object, *, zh: bool, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low}–{high}{unit}" if low != high else f"{low}{unit}"
    if low is not None:
        return f"{low}{unit}以上" if zh else f"{low}+{unit}"
    return f"{high}{unit}以内" if zh else f"up to {high}{unit}"


def _term(low: int | None, high: int | None, *, en: bool) -> str:
    if en and low is not None and low == high:
        return f"{low}-month"
    return _range(low, high, zh=not en, unit=" month" if en else " 个月")


def _rate(low: Decimal | None, high: Decimal | None, *, en: bool) -> str:
    lo = percent_text(low) if low is not None else None
    hi = percent_text(high) if high is not None else None
    if en:
        return (f"at least {lo} %" if hi is None else _range(lo, hi, zh=False, unit=" %")) + " rate"
    return "年利率 " + _range(lo, hi, zh=True, unit="%")


def _methods(methods: Iterable[str], *, en: bool) -> str:
    return ("/" if en else "、").join(METHOD_WORDS[m][1 if en else 0] for m in methods if m in METHOD_WORDS)


def _preference_text(preference: Preference, met: list[str]) -> tuple[str, str]:
    def part(criterion: str, en: bool) -> str:
        if criterion == "term":
            return _term(preference.term_min, preference.term_max, en=en)
        if criterion == "grade":
            return (
                f"grade {grades_text(preference.grades, en=True)}"
                if en
                else f"{grades_text(preference.grades, en=False)} 级"
            )
        if criterion == "rate":
            return _rate(preference.rate_min, preference.rate_max, en=en)
        return _methods(preference.methods, en=en)

    zh = spaced("符合您", "、".join(part(c, False) for c in met)) + "的偏好"
    en = "matches your " + ", ".join(part(c, True) for c in met) + " preference"
    return zh, en


def _history_text(loan: Loan, usual: list[str]) -> tuple[str, str]:
    months = term_months(loan)

    def part(name: str, en: bool) -> str:
        if name == "term":
            return _term(months, months, en=en)
        if name == "grade":
            return f"grade {loan.grade}" if en else f"{loan.grade} 级"
        return _methods([loan.method], en=en)

    zh = spaced("与您常投的", "、".join(part(n, False) for n in usual)) + "项目相近"
    en = "like the " + ", ".join(part(n, True) for n in usual) + " loans you usually choose"
    return zh, en


def _risk_text(tier: suitability.Tier, risk_class: str) -> tuple[str, str]:
    return (
        f"适合您的风险等级（{tier.label('zh')}）：{risk_class} 级项目",
        f"suits your risk level ({tier.label('en')}): a class {risk_class} loan",
    )
