"""Collections reports: recovery by stage and by collector, roll rates, and the analysis of
overdue loans by region, product, grade and industry (寻求地域、贷款类别及所处行业的共性).

All figures come from what the end-of-day batch recorded (the cases' stage and assignment
history, the loans' daily overdue history ``loan_risk_days``) and from the repayments; they
are read-only aggregate SQL over those tables. Rates are ``Decimal`` to four places (0.1234
is 12.34 %); money is fen.

**Recovery rate by stage**, for a period [first, last]: every time a case *entered* a stage
during the period starts a *spell*, with the loan's overdue balance (principal + interest +
penalty past due) at the end of that day. The spell lasts until the case's next stage change
(or its closing), at the latest ``last``. Recovered = what the borrower repaid on the days
after the entry up to the spell's end, at most the entry balance::

    recovery rate(stage) = Σ min(repaid in spell, entry balance) / Σ entry balance

The raw ``repaid`` (which may include installments falling due meanwhile) is shown beside
it, with how many spells ended cured (the case closed) or rolled on to a later stage.

**Recovery rate by collector**: the same over *assignments* made during the period — from
the day a case was given to the collector to the day it was given to someone else or
closed — with the overdue balance on the assignment day. Beside it: the actions the
collector logged in the period, the promises to pay they took (and how many were kept or
broken), and the cases closed cured while theirs.

**Roll rates** (迁徙率): on each month-end ``d`` of the period, every loan in stage X
(current = disbursed, not settled, not overdue); 30 days later, where it is. The roll rate
X → X+1 is the share that moved exactly one stage on, pooled over the month-ends; the whole
row of destinations (including cured and settled) is reported. A month-end is used only if
the batch has closed ``d + 30``.

**Overdue analysis**: the loans being repaid, grouped by the borrower's region (province,
or prefecture-level city, from the resident ID / USCC region code), the product, the grade
or the industry; per group how many are overdue (DPD ≥ 1 as of the last batch), their
principal, the count and amount overdue rates, and the *lift* (the group's overdue rate over
the platform's: 2.0 means twice as likely to be overdue). The most frequent combinations
of the four among overdue loans show what overdue borrowers share.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum import numdb

from p2plend import clock
from p2plend.collections import strategies
from p2plend.collections.errors import InvalidAnalysisDimension, InvalidReportPeriod
from p2plend.collections.models import (
    CollectionAction,
    CollectionAssignment,
    CollectionCase,
    CollectionPromise,
    CollectionStageChange,
)
from p2plend.identity import service as identity
from p2plend.identity.errors import UserNotFound
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.servicing import delinquency
from p2plend.servicing.models import DailyFigures, LoanRiskDay, Repayment

MAX_PERIOD_DAYS = 3 * 366
ROLL_DAYS = 30
ROLL_STAGES: tuple[str, ...] = tuple(s.value for s in delinquency.Stage)  # current, m1 … m7_plus
SETTLED = "settled"
DIMENSIONS = ("region", "city", "product", "grade", "industry")
UNKNOWN = "unknown"
PROFILES_SHOWN = 10
_FOUR = Decimal("0.0001")


def rate(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator to four places (ROUND_HALF_UP); None when nothing to divide by."""
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(_FOUR, rounding=ROUND_HALF_UP)


def check_period(first: date, last: date) -> None:
    if first > last:
        raise InvalidReportPeriod(
            "The period's first day is on or before its last.", details={"field": "first"}
        )
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise InvalidReportPeriod("A report covers at most three years.", details={"field": "first"})
    if last > clock.today():
        raise InvalidReportPeriod("A report ends today at the latest.", details={"field": "last"})


# --- recovery ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageRecovery:
    stage: str
    spells: int  # cases that entered the stage in the period
    balance: int  # their overdue balance on entry
    repaid: int  # repaid while in the stage (up to the period's end)
    recovered: int  # repaid, at most the entry balance per spell
    cured: int  # spells ended by the case closing (current again or settled)
    rolled: int  # spells ended by moving on to a later stage

    @property
    def recovery_rate(self) -> Decimal | None:
        return rate(self.recovered, self.balance)


@dataclass(frozen=True, slots=True)
class CollectorRecovery:
    collector_id: int
    name: str
    assignments: int
    balance: int
    repaid: int
    recovered: int
    actions: int
    calls: int
    promises: int
    promises_kept: int
    promises_broken: int
    cured: int  # cases closed in the period while theirs
    open_cases: int  # now

    @property
    def recovery_rate(self) -> Decimal | None:
        return rate(self.recovered, self.balance)


@dataclass(frozen=True, slots=True)
class RollRow:
    from_stage: str
    loans: int  # loan-observations in the stage on the month-ends
    to: dict[str, int]  # destination 30 days later → loans (ROLL_STAGES and "settled")

    @property
    def next_stage(self) -> str | None:
        i = ROLL_STAGES.index(self.from_stage)
        return ROLL_STAGES[i + 1] if i + 1 < len(ROLL_STAGES) else None

    @property
    def roll_rate(self) -> Decimal | None:
        nxt = self.next_stage
        return None if nxt is None else rate(self.to.get(nxt, 0), self.loans)

    @property
    def cure_rate(self) -> Decimal | None:
        """Back to current or settled."""
        if self.from_stage == "current":
            return None
        return rate(self.to.get("current", 0) + self.to.get(SETTLED, 0), self.loans)


@dataclass(frozen=True, slots=True)
class KpiReport:
    first: date
    last: date
    by_stage: list[StageRecovery]
    by_collector: list[CollectorRecovery]
    roll_dates: list[date]  # the month-ends observed
    roll_rates: list[RollRow]

    @property
    def total(self) -> StageRecovery:
        return StageRecovery(
            "all",
            sum(s.spells for s in self.by_stage),
            sum(s.balance for s in self.by_stage),
            sum(s.repaid for s in self.by_stage),
            sum(s.recovered for s in self.by_stage),
            sum(s.cured for s in self.by_stage),
            sum(s.rolled for s in self.by_stage),
        )


def kpi(session: Session, first: date, last: date) -> KpiReport:
    """The KPI report of the period [first, last] (see the module docstring)."""
    check_period(first, last)
    dates, rows = roll_rates(session, first, last)
    return KpiReport(
        first,
        last,
        recovery_by_stage(session, first, last),
        recovery_by_collector(session, first, last),
        dates,
        rows,
    )


def _repayments(
    session: Session, loan_ids: Iterable[int], first: date, last: date
) -> dict[int, list[tuple[date, int]]]:
    ids = sorted(set(loan_ids))
    found: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        for loan_id, day, amount in session.execute(
            select(Repayment.loan_id, Repayment.business_date, Repayment.amount).where(
                Repayment.loan_id.in_(ids[start : start + 500]), Repayment.business_date.between(first, last)
            )
        ):
            found[int(loan_id)].append((day, int(amount)))
    return found


def _paid(payments: list[tuple[date, int]], after: date, through: date) -> int:
    return sum(amount for day, amount in payments if after < day <= through)


def recovery_by_stage(session: Session, first: date, last: date) -> list[StageRecovery]:
    entries = session.scalars(
        select(CollectionStageChange)
        .where(
            CollectionStageChange.business_date.between(first, last),
            CollectionStageChange.to_stage.in_(strategies.STAGES),
        )
        .order_by(CollectionStageChange.case_id, CollectionStageChange.business_date)
    ).all()
    changes: dict[int, list[CollectionStageChange]] = defaultdict(list)
    if entries:
        case_ids = sorted({e.case_id for e in entries})
        for start in range(0, len(case_ids), 500):
            for change in session.scalars(
                select(CollectionStageChange)
                .where(
                    CollectionStageChange.case_id.in_(case_ids[start : start + 500]),
                    CollectionStageChange.business_date > first,
                )
                .order_by(CollectionStageChange.business_date)
            ):
                changes[change.case_id].append(change)
    payments = _repayments(session, {e.loan_id for e in entries}, first, last)
    totals: dict[str, list[int]] = {stage: [0] * 6 for stage in strategies.STAGES}
    for entry in entries:
        ended = next((c for c in changes[entry.case_id] if c.business_date > entry.business_date), None)
        end = last if ended is None or ended.business_date > last else ended.business_date
        repaid = _paid(payments[entry.loan_id], entry.business_date, end)
        figures = totals[entry.to_stage]
        figures[0] += 1
        figures[1] += entry.balance
        figures[2] += repaid
        figures[3] += min(repaid, entry.balance)
        if ended is not None and ended.business_date <= last:
            if ended.to_stage == "current":
                figures[4] += 1
            elif ROLL_STAGES.index(ended.to_stage) > ROLL_STAGES.index(entry.to_stage):
                figures[5] += 1
    return [StageRecovery(stage, *totals[stage]) for stage in strategies.STAGES]


def recovery_by_collector(session: Session, first: date, last: date) -> list[CollectorRecovery]:
    given = session.scalars(
        select(CollectionAssignment)
        .where(
            CollectionAssignment.business_date.between(first, last),
            CollectionAssignment.collector_id.is_not(None),
        )
        .order_by(CollectionAssignment.id)
    ).all()
    later: dict[int, list[CollectionAssignment]] = defaultdict(list)
    closed_on: dict[int, date | None] = {}
    if given:
        case_ids = sorted({a.case_id for a in given})
        for start in range(0, len(case_ids), 500):
            chunk = case_ids[start : start + 500]
            for row in session.scalars(
                select(CollectionAssignment)
                .where(CollectionAssignment.case_id.in_(chunk), CollectionAssignment.business_date >= first)
                .order_by(CollectionAssignment.id)
            ):
                later[row.case_id].append(row)
            closed_on.update(
                session.execute(
                    select(CollectionCase.id, CollectionCase.closed_on).where(CollectionCase.id.in_(chunk))
                ).all()
            )
    payments = _repayments(session, {a.loan_id for a in given}, first, last)
    figures: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in given:
        assert row.collector_id is not None
        nxt = next((a for a in later[row.case_id] if a.id > row.id), None)
        ends = [last]
        if nxt is not None:
            ends.append(nxt.business_date)
        if closed_on.get(row.case_id) is not None:
            ends.append(closed_on[row.case_id])  # type: ignore[arg-type]
        repaid = _paid(payments[row.loan_id], row.business_date, min(ends))
        f = figures[row.collector_id]
        f[0] += 1
        f[1] += row.balance
        f[2] += repaid
        f[3] += min(repaid, row.balance)
    actions: dict[int, Counter[str]] = defaultdict(Counter)
    for actor_id, kind, count in session.execute(
        select(CollectionAction.actor_id, CollectionAction.kind, func.count(CollectionAction.id))
        .where(CollectionAction.business_date.between(first, last))
        .group_by(CollectionAction.actor_id, CollectionAction.kind)
    ):
        actions[int(actor_id)][kind] = int(count)
    promises: dict[int, Counter[str]] = defaultdict(Counter)
    for collector_id, status, count in session.execute(
        select(CollectionPromise.collector_id, CollectionPromise.status, func.count(CollectionPromise.id))
        .where(CollectionPromise.made_on.between(first, last))
        .group_by(CollectionPromise.collector_id, CollectionPromise.status)
    ):
        promises[int(collector_id)][status] = int(count)
    cured = dict(
        session.execute(
            select(CollectionCase.collector_id, func.count(CollectionCase.id))
            .where(
                CollectionCase.closed_on.between(first, last),
                CollectionCase.collector_id.is_not(None),
            )
            .group_by(CollectionCase.collector_id)
        ).all()
    )
    load = dict(
        session.execute(
            select(CollectionCase.collector_id, func.count(CollectionCase.id))
            .where(CollectionCase.status == "open", CollectionCase.collector_id.is_not(None))
            .group_by(CollectionCase.collector_id)
        ).all()
    )
    people = sorted(set(figures) | set(actions) | set(promises) | {int(c) for c in cured if c is not None})
    return [
        CollectorRecovery(
            collector_id=person,
            name=staff_name(session, person),
            assignments=figures[person][0],
            balance=figures[person][1],
            repaid=figures[person][2],
            recovered=figures[person][3],
            actions=sum(actions[person].values()),
            calls=actions[person]["call"],
            promises=sum(promises[person].values()),
            promises_kept=promises[person]["kept"],
            promises_broken=promises[person]["broken"],
            cured=int(cured.get(person, 0)),
            open_cases=int(load.get(person, 0)),
        )
        for person in people
    ]


def staff_name(session: Session, user_id: int) -> str:
    try:
        return identity.profile(session, user_id).display_name or f"#{user_id}"
    except UserNotFound:
        return f"#{user_id}"


# --- roll rates ----------------------------------------------------------------------------------


def month_ends(first: date, last: date) -> list[date]:
    days = []
    month = date(first.year, first.month, 1)
    while month <= last:
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        end = following - timedelta(days=1)
        if first <= end <= last:
            days.append(end)
        month = following
    return days


def roll_rates(session: Session, first: date, last: date) -> tuple[list[date], list[RollRow]]:
    """Stage → stage 30 days later, from each month-end of [first, last] whose + 30 days the
    batch has closed (see the module docstring)."""
    closed = session.scalar(select(func.max(DailyFigures.business_date)))
    dates = [
        d for d in month_ends(first, last) if closed is not None and d + timedelta(days=ROLL_DAYS) <= closed
    ]
    matrix: dict[str, Counter[str]] = {stage: Counter() for stage in ROLL_STAGES}
    if dates:
        later = [d + timedelta(days=ROLL_DAYS) for d in dates]
        stage_on: dict[tuple[int, date], str] = {
            (int(loan_id), day): stage
            for loan_id, day, stage, dpd in session.execute(
                select(
                    LoanRiskDay.loan_id,
                    LoanRiskDay.business_date,
                    LoanRiskDay.stage,
                    LoanRiskDay.days_past_due,
                ).where(LoanRiskDay.business_date.in_(dates + later))
            )
            if dpd > 0
        }
        loans = session.execute(
            select(Loan.id, Loan.value_date, Loan.closed_at, Loan.status).where(
                Loan.status.in_((marketplace.DISBURSED, marketplace.SETTLED)), Loan.value_date <= max(dates)
            )
        ).all()
        for loan_id, value_date, closed_at, status in loans:
            settled_on = (
                clock.business_date_of(closed_at) if status == marketplace.SETTLED and closed_at else None
            )
            for d in dates:
                if value_date is None or value_date > d or (settled_on is not None and settled_on <= d):
                    continue
                start = stage_on.get((loan_id, d), "current")
                after = d + timedelta(days=ROLL_DAYS)
                if settled_on is not None and settled_on <= after:
                    end = SETTLED
                else:
                    end = stage_on.get((loan_id, after), "current")
                matrix[start][end] += 1
    return dates, [RollRow(stage, sum(matrix[stage].values()), dict(matrix[stage])) for stage in ROLL_STAGES]


# --- overdue analysis ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupFigures:
    key: str
    label: str
    loans: int
    principal_outstanding: int
    overdue_loans: int
    overdue_outstanding: int  # outstanding principal of the overdue loans
    overdue_principal: int  # the part already past due
    non_performing: int  # DPD ≥ 91
    dpd_total: int
    overall_rate: Decimal | None  # the platform's overdue rate, for the lift

    @property
    def overdue_rate(self) -> Decimal | None:
        return rate(self.overdue_loans, self.loans)

    @property
    def amount_overdue_rate(self) -> Decimal | None:
        return rate(self.overdue_outstanding, self.principal_outstanding)

    @property
    def average_dpd(self) -> Decimal | None:
        if not self.overdue_loans:
            return None
        return (Decimal(self.dpd_total) / self.overdue_loans).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def lift(self) -> Decimal | None:
        mine = self.overdue_rate
        if mine is None or not self.overall_rate:
            return None
        return (mine / self.overall_rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class CommonProfile:
    """A combination of region, product, grade and industry among overdue loans."""

    region: str
    product: str
    grade: str
    industry: str
    overdue_loans: int
    share: Decimal | None  # of all overdue loans


@dataclass(frozen=True, slots=True)
class Analysis:
    dimension: str
    as_of: date | None  # the last batch's date (the loans' overdue position)
    total: GroupFigures
    groups: list[GroupFigures]
    profiles: list[CommonProfile]


@dataclass(frozen=True, slots=True)
class _LoanFacts:
    id: int
    borrower_id: int
    product: str
    grade: str
    industry: str
    dpd: int
    outstanding: int


def region_label(code: str | None, *, level: str = "region") -> tuple[str, str]:
    """(key, name) of a six-digit region code: the province (``region``) or the
    prefecture-level city (``city``), named from the national code table."""
    if code is None or len(code) != 6 or not code.isdigit():
        return UNKNOWN, UNKNOWN
    table = numdb.get("cn/loc")
    province = next((p.get("province") for _, p in table.info(code[:2]) if "province" in p), None)
    if province is None:
        return UNKNOWN, UNKNOWN
    if level == "region":
        return code[:2], province
    city = next((p.get("county") for _, p in table.info(code[:4] + "00")[1:] if "county" in p), None)
    city = _current_name(city)
    if (
        not city
        or city in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")
        or city == province
    ):
        return code[:4], province
    return code[:4], province + city


def _current_name(name: str | None) -> str | None:
    """The code table lists renamed places as ``[1983-1989]old,[1990-]new``: the latest name."""
    if not name:
        return name
    return name.split(",")[-1].split("]")[-1]


def analysis(session: Session, dimension: str) -> Analysis:
    """The loans being repaid grouped by ``dimension``, most overdue loans first."""
    if dimension not in DIMENSIONS:
        raise InvalidAnalysisDimension(
            f"Group by one of {', '.join(DIMENSIONS)}.",
            details={"field": "dimension", "dimensions": list(DIMENSIONS)},
        )
    facts = [
        _LoanFacts(
            int(loan_id),
            int(borrower),
            product or UNKNOWN,
            grade or UNKNOWN,
            _industry(disclosure),
            int(dpd),
            int(out),
        )
        for loan_id, borrower, product, grade, disclosure, dpd, out in session.execute(
            select(
                Loan.id,
                Loan.borrower_id,
                Loan.product_code,
                Loan.grade,
                Loan.disclosure,
                Loan.days_past_due,
                Loan.principal_outstanding,
            ).where(Loan.status == marketplace.DISBURSED)
        )
    ]
    past_due = _overdue_principal(session, [f.id for f in facts if f.dpd > 0])
    regions = (
        identity.region_codes(session, {f.borrower_id for f in facts})
        if dimension in ("region", "city")
        else {}
    )

    def key_of(f: _LoanFacts) -> tuple[str, str]:
        if dimension in ("region", "city"):
            return region_label(regions.get(f.borrower_id), level=dimension)
        value = {"product": f.product, "grade": f.grade, "industry": f.industry}[dimension]
        return value, value

    overall = rate(sum(1 for f in facts if f.dpd > 0), len(facts))
    groups: dict[str, list[_LoanFacts]] = defaultdict(list)
    labels: dict[str, str] = {}
    for f in facts:
        key, label = key_of(f)
        groups[key].append(f)
        labels[key] = label
    figures = [_figures(key, labels[key], members, past_due, overall) for key, members in groups.items()]
    figures.sort(key=lambda g: (-g.overdue_loans, -(g.overdue_rate or 0), g.key))
    return Analysis(
        dimension=dimension,
        as_of=session.scalar(select(func.max(DailyFigures.business_date))),
        total=_figures("all", "all", facts, past_due, overall),
        groups=figures,
        profiles=_profiles(session, [f for f in facts if f.dpd > 0]),
    )


def _industry(disclosure: object) -> str:
    value = disclosure.get("industry") if isinstance(disclosure, dict) else None
    return str(value).strip()[:64] if value not in (None, "") else UNKNOWN


def _overdue_principal(session: Session, loan_ids: list[int]) -> dict[int, int]:
    """The past-due principal of each overdue loan, from its latest daily history row."""
    found: dict[int, int] = {}
    for start in range(0, len(loan_ids), 500):
        chunk = loan_ids[start : start + 500]
        latest = (
            select(LoanRiskDay.loan_id, func.max(LoanRiskDay.business_date).label("day"))
            .where(LoanRiskDay.loan_id.in_(chunk))
            .group_by(LoanRiskDay.loan_id)
            .subquery()
        )
        for loan_id, principal in session.execute(
            select(LoanRiskDay.loan_id, LoanRiskDay.overdue_principal).join(
                latest,
                (LoanRiskDay.loan_id == latest.c.loan_id) & (LoanRiskDay.business_date == latest.c.day),
            )
        ):
            found[int(loan_id)] = int(principal)
    return found


def _figures(
    key: str, label: str, members: list[_LoanFacts], past_due: dict[int, int], overall: Decimal | None
) -> GroupFigures:
    overdue = [f for f in members if f.dpd > 0]
    return GroupFigures(
        key=key,
        label=label,
        loans=len(members),
        principal_outstanding=sum(f.outstanding for f in members),
        overdue_loans=len(overdue),
        overdue_outstanding=sum(f.outstanding for f in overdue),
        overdue_principal=sum(past_due.get(f.id, 0) for f in overdue),
        non_performing=sum(1 for f in overdue if delinquency.is_non_performing(f.dpd)),
        dpd_total=sum(f.dpd for f in overdue),
        overall_rate=overall,
    )


def _profiles(session: Session, overdue: list[_LoanFacts]) -> list[CommonProfile]:
    regions = identity.region_codes(session, {f.borrower_id for f in overdue})
    counts: Counter[tuple[str, str, str, str]] = Counter(
        (region_label(regions.get(f.borrower_id))[1], f.product, f.grade, f.industry) for f in overdue
    )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:PROFILES_SHOWN]
    return [CommonProfile(*combo, overdue_loans=n, share=rate(n, len(overdue))) for combo, n in ranked]
