"""The risk tolerance questionnaire (风险承受能力评估问卷), its scoring and the tiers.

Ten questions; every option carries points. The total (12 … 100) gives the tier:

    ======  ==========  ==================
    tier    name        total points
    ======  ==========  ==================
    C1      保守型      0 – 29
    C2      稳健型      30 – 49
    C3      平衡型      50 – 69
    C4      成长型      70 – 84
    C5      进取型      85 – 100
    ======  ==========  ==================

One override (最低类别): whoever can accept no loss of principal is C1 whatever the
total — such a person must not be offered loans that can default beyond the safest class.

Bump ``VERSION`` whenever a question, option or point changes: each assessment stores
the version it was scored with.
"""

import enum
from dataclasses import dataclass

VERSION = "2026-11"


class Tier(enum.StrEnum):
    """Investor tier C1..C5 (投资者风险承受能力等级)."""

    C1 = "C1"
    C2 = "C2"
    C3 = "C3"
    C4 = "C4"
    C5 = "C5"

    @property
    def number(self) -> int:
        return int(self.value[1])

    def label(self, locale: str = "zh") -> str:
        return TIER_LABELS[self][1 if locale == "en" else 0]


class RiskClass(enum.StrEnum):
    """A loan's risk class R1..R5 (产品风险等级), from its credit grade."""

    R1 = "R1"
    R2 = "R2"
    R3 = "R3"
    R4 = "R4"
    R5 = "R5"

    @property
    def number(self) -> int:
        return int(self.value[1])


TIER_LABELS: dict[Tier, tuple[str, str]] = {
    Tier.C1: ("C1 保守型", "C1 Conservative"),
    Tier.C2: ("C2 稳健型", "C2 Cautious"),
    Tier.C3: ("C3 平衡型", "C3 Balanced"),
    Tier.C4: ("C4 成长型", "C4 Growth"),
    Tier.C5: ("C5 进取型", "C5 Aggressive"),
}

# Lowest total of each tier, highest tier first.
TIER_FLOORS: tuple[tuple[int, Tier], ...] = (
    (85, Tier.C5),
    (70, Tier.C4),
    (50, Tier.C3),
    (30, Tier.C2),
    (0, Tier.C1),
)


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    text: str
    points: int


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    text: str
    options: tuple[Option, ...]


@dataclass(frozen=True, slots=True)
class _Choice:
    key: str
    points: int
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class _Question:
    key: str
    zh: str
    en: str
    choices: tuple[_Choice, ...]


def _q(key: str, zh: str, en: str, *choices: tuple[int, str, str]) -> _Question:
    return _Question(
        key=key,
        zh=zh,
        en=en,
        choices=tuple(
            _Choice(key="abcde"[i], points=p, zh=czh, en=cen) for i, (p, czh, cen) in enumerate(choices)
        ),
    )


_QUESTIONS: tuple[_Question, ...] = (
    _q(
        "age",
        "您的年龄是？",
        "How old are you?",
        (8, "18–30岁", "18–30"),
        (10, "31–40岁", "31–40"),
        (8, "41–50岁", "41–50"),
        (4, "51–60岁", "51–60"),
        (2, "60岁以上", "Over 60"),
    ),
    _q(
        "annual_income",
        "您家庭的年收入约为？",
        "What is your household's annual income?",
        (2, "5万元以下", "Under 50,000 yuan"),
        (4, "5万–20万元", "50,000–200,000 yuan"),
        (6, "20万–50万元", "200,000–500,000 yuan"),
        (8, "50万–100万元", "500,000–1,000,000 yuan"),
        (10, "100万元以上", "Over 1,000,000 yuan"),
    ),
    _q(
        "investable_share",
        "您计划出借的资金占您可投资资产的比例是？",
        "What share of your investable assets do you plan to lend here?",
        (2, "50%以上", "Over 50%"),
        (4, "30%–50%", "30–50%"),
        (8, "10%–30%", "10–30%"),
        (10, "10%以下", "Under 10%"),
    ),
    _q(
        "experience",
        "您投资股票、基金、网络借贷等风险类产品的经验有多久？",
        "How long have you invested in risky products (stocks, funds, online lending)?",
        (0, "没有经验", "No experience"),
        (4, "1年以下", "Under 1 year"),
        (6, "1–3年", "1–3 years"),
        (8, "3–5年", "3–5 years"),
        (10, "5年以上", "Over 5 years"),
    ),
    _q(
        "loss_tolerance",
        "您能承受的最大本金损失是？",
        "What is the largest loss of principal you could accept?",
        (0, "不能承受任何本金损失", "No loss of principal at all"),
        (3, "5%以内", "Up to 5%"),
        (6, "5%–10%", "5–10%"),
        (8, "10%–30%", "10–30%"),
        (10, "30%以上", "Over 30%"),
    ),
    _q(
        "horizon",
        "您计划出借资金的期限是？",
        "For how long do you plan to lend this money?",
        (2, "3个月以内", "Under 3 months"),
        (4, "3–12个月", "3–12 months"),
        (8, "1–3年", "1–3 years"),
        (10, "3年以上", "Over 3 years"),
    ),
    _q(
        "p2p_risk_knowledge",
        "关于网络借贷的风险，以下哪项最符合您的理解？",
        "Which statement best matches your understanding of online lending risk?",
        (0, "平台保本保息，没有风险", "The platform guarantees principal and interest; there is no risk"),
        (3, "了解不多", "I know little about it"),
        (
            7,
            "借款人可能违约，我可能损失本金和利息",
            "Borrowers may default and I may lose principal and interest",
        ),
        (
            10,
            "充分了解信用风险、流动性风险，并知道平台不提供担保",
            "I understand credit and liquidity risk well and know the platform guarantees nothing",
        ),
    ),
    _q(
        "purpose",
        "您出借的主要目的是？",
        "What is the main purpose of your lending?",
        (2, "保住本金，略高于存款利息", "Keep my principal, earn a little more than a deposit"),
        (5, "获得稳定收益", "A steady income"),
        (8, "承担一定风险，使资产增值", "Grow my assets, accepting some risk"),
        (10, "追求高收益，愿意承担较高风险", "The highest returns, accepting high risk"),
    ),
    _q(
        "liquidity_need",
        "未来一年内，您是否可能需要动用这笔资金？",
        "Might you need this money within the next year?",
        (2, "很可能随时需要全部资金", "Very likely, all of it and at short notice"),
        (5, "可能需要部分资金", "Possibly part of it"),
        (8, "不太可能", "Unlikely"),
        (10, "不需要", "No"),
    ),
    _q(
        "loss_reaction",
        "如果您出借的资产价值下跌20%，您会？",
        "If the value of what you lent fell by 20%, what would you do?",
        (0, "立即全部转让或停止出借", "Sell or stop everything at once"),
        (4, "停止新的出借，观望", "Stop new lending and wait"),
        (7, "按原计划继续出借", "Keep lending as planned"),
        (10, "以更高利率追加出借", "Lend more at higher rates"),
    ),
)

# The option that caps the tier at C1 whatever the total (最低类别).
_CAPS_AT_C1 = {("loss_tolerance", "a")}


def questions(locale: str) -> list[Question]:
    """The questionnaire in ``locale`` ("zh" or "en"), options in display order."""
    english = locale == "en"
    return [
        Question(
            key=q.key,
            text=q.en if english else q.zh,
            options=tuple(
                Option(key=c.key, text=c.en if english else c.zh, points=c.points) for c in q.choices
            ),
        )
        for q in _QUESTIONS
    ]


def answer_problems(answers: dict[str, str]) -> dict[str, str]:
    """Question key → its problem: ``missing``, ``invalid_option`` or ``unknown_question``."""
    problems: dict[str, str] = {}
    for q in _QUESTIONS:
        chosen = answers.get(q.key)
        if chosen is None:
            problems[q.key] = "missing"
        elif chosen not in {c.key for c in q.choices}:
            problems[q.key] = "invalid_option"
    known = {q.key for q in _QUESTIONS}
    for key in answers:
        if key not in known:
            problems[key] = "unknown_question"
    return problems


def score(answers: dict[str, str]) -> int:
    """The total points of complete, valid answers."""
    points = {(q.key, c.key): c.points for q in _QUESTIONS for c in q.choices}
    return sum(points[(q.key, answers[q.key])] for q in _QUESTIONS)


def tier_for(total: int, answers: dict[str, str]) -> Tier:
    """The tier of a total, after the C1 override for whoever accepts no loss."""
    if any(answers.get(question) == option for question, option in _CAPS_AT_C1):
        return Tier.C1
    return next(tier for floor, tier in TIER_FLOORS if total >= floor)
