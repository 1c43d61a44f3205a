"""The KPI report (recovery by stage and by collector, roll rates) and the overdue analysis,
on small scenarios whose figures are worked out by hand.

The loans: 12,000.00 at 4 % over 12 months, equal installments, disbursed 2026-11-28 — each
installment 1,021.80 (the first: interest 40.00 + principal 981.80), due on the 28th. The
penalty rate is 6 % a year on overdue principal: rd(981.80 × 6 % / 365) = 0.16 a day, owed
from DPD 1 once grace (3 days) is exceeded.
"""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.collections import service as collections
from p2plend.collections.errors import InvalidAnalysisDimension, InvalidReportPeriod
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from tests import collecting, lending, overdue
from tests.lending import DISCLOSURE

INSTALLMENT = 102_180  # 1,021.80
DAILY_PENALTY = 16  # rd(98,180 × 0.06 / 365) = rd(16.14) fen


def test_recovery_by_stage_and_collector_and_roll_rates(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """A never pays (M1 on 12-29, M2 on 01-28); B pays on DPD 8 and keeps paying; C is never late.

    * M1: two spells of 1,021.80 each; B's repaid 1,023.08 (with 8 days' penalty, 1.28) counts
      as at most its entry balance: 1,021.80 / 2,043.60 = 0.5000. M2: A entered it with
      1,021.80 + 31 × 0.16 = 1,026.76 and repaid nothing: 0.0000.
    * Collectors (given the cases by a manager on 12-30, balance 1,021.80 each): B's collector
      recovered all of it (1.0000), A's nothing; A's collector took a promise that was broken.
    * Roll rates from month-ends 11-30 and 12-31 (each + 30 days closed): current → M1 2 of 4
      (A and B by 12-30; C twice current); M1 → M2 1 of 2 (A), the other cured (B).
    """
    a, b, c = (overdue.spent_loan(session_factory, bank, title=t) for t in ("A", "B", "C"))
    lending.deposit(
        session_factory, bank, c.borrower, lending.card_of(session_factory, c.borrower), 2 * INSTALLMENT
    )
    first, second = collecting.collectors(session_factory, 2)
    manager = collecting.make_staff(session_factory, Role.RISK_OFFICER, name="李经理")
    overdue.close(session_factory, bank, date(2026, 11, 30))
    overdue.close(session_factory, bank, date(2026, 12, 30))
    case_a, case_b = (collecting.case_of(session_factory, loan.loan_id) for loan in (a, b))
    assert case_a is not None and case_b is not None
    with session_factory.begin() as session:
        collections.assign(session, actor_id=manager, case_id=case_a.id, collector_id=first)
        collections.assign(session, actor_id=manager, case_id=case_b.id, collector_id=second)
        collections.log_action(
            session, actor_id=first, case_id=case_a.id, action=collections.ActionInput("call", "reached")
        )
        collections.log_action(
            session,
            actor_id=first,
            case_id=case_a.id,
            action=collections.ActionInput("promise_to_pay", amount=INSTALLMENT, due_on=date(2027, 1, 2)),
        )
        collections.log_action(
            session, actor_id=second, case_id=case_b.id, action=collections.ActionInput("call", "no_answer")
        )
    overdue.close(session_factory, bank, date(2027, 1, 4))
    lending.go_to(date(2027, 1, 5))
    paid = collecting.pay_what_is_due(
        session_factory, bank, b, extra=INSTALLMENT
    )  # the 01-28 installment too
    assert paid == INSTALLMENT + 8 * DAILY_PENALTY
    overdue.close(session_factory, bank, date(2027, 1, 31))

    with session_factory() as session:
        report = collections.kpi(session, date(2026, 12, 1), date(2027, 1, 31))
    m1, m2, m3, *_ = report.by_stage
    assert (m1.stage, m1.spells, m1.balance, m1.repaid, m1.recovered, m1.cured, m1.rolled) == (
        "m1",
        2,
        2 * INSTALLMENT,
        paid,
        INSTALLMENT,
        1,
        1,
    )
    assert m1.recovery_rate == Decimal("0.5000")
    assert (m2.spells, m2.balance, m2.recovered, m2.recovery_rate) == (
        1,
        INSTALLMENT + 31 * DAILY_PENALTY,
        0,
        Decimal("0.0000"),
    )
    assert (m3.spells, m3.recovery_rate) == (0, None)
    assert report.total.recovery_rate == Decimal("0.3328")  # 102,180 / (204,360 + 102,676)

    by_collector = {row.collector_id: row for row in report.by_collector}
    assert set(by_collector) == {first, second}
    mine, theirs = by_collector[first], by_collector[second]
    assert (theirs.name, theirs.assignments, theirs.balance, theirs.repaid, theirs.recovered) == (
        "催收员乙",
        1,
        INSTALLMENT,
        paid,
        INSTALLMENT,
    )
    assert (theirs.recovery_rate, theirs.cured, theirs.actions, theirs.calls, theirs.open_cases) == (
        Decimal("1.0000"),
        1,
        1,
        1,
        0,
    )
    assert (
        mine.recovery_rate,
        mine.actions,
        mine.calls,
        mine.promises,
        mine.promises_broken,
        mine.open_cases,
    ) == (Decimal("0.0000"), 2, 1, 1, 1, 1)

    assert report.roll_dates == [date(2026, 12, 31)]  # 11-30 is outside the period asked
    with session_factory() as session:
        dates, rows = collections.roll_rates(session, date(2026, 11, 1), date(2027, 1, 31))
    assert dates == [date(2026, 11, 30), date(2026, 12, 31)]  # 01-31 + 30 is not closed yet
    roll = {row.from_stage: row for row in rows}
    assert (roll["current"].loans, roll["current"].to) == (4, {"m1": 2, "current": 2})
    assert roll["current"].roll_rate == Decimal("0.5000")
    assert (roll["m1"].loans, roll["m1"].to) == (2, {"m2": 1, "current": 1})
    assert (roll["m1"].roll_rate, roll["m1"].cure_rate) == (Decimal("0.5000"), Decimal("0.5000"))
    assert (roll["m2"].loans, roll["m2"].roll_rate) == (0, None)
    assert roll["m7_plus"].next_stage is None


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2027, 1, 2), date(2027, 1, 1)),
        (date(2020, 1, 1), date(2026, 11, 28)),
        (date(2026, 11, 1), date(2026, 11, 29)),
    ],
)
def test_a_bad_period_is_refused(session_factory: sessionmaker[Session], first: date, last: date) -> None:
    with session_factory() as session, pytest.raises(InvalidReportPeriod):
        collections.kpi(session, first, last)


def test_overdue_loans_grouped_by_region_product_grade_and_industry(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Four loans: Beijing B retail (overdue), Shenzhen C catering (overdue), Shenzhen B retail
    "consumer" product (paid), Chengdu B retail (paid). Platform overdue rate 2 / 4."""
    beijing = overdue.spent_loan(session_factory, bank, region="110105")
    shenzhen = overdue.spent_loan(
        session_factory, bank, region="440305", grade="C", disclosure={**DISCLOSURE, "industry": "catering"}
    )
    paying = [
        overdue.spent_loan(session_factory, bank, region="440305", product_code="consumer"),
        overdue.spent_loan(session_factory, bank, region="510104"),
    ]
    for loan in paying:
        lending.deposit(
            session_factory, bank, loan.borrower, lending.card_of(session_factory, loan.borrower), INSTALLMENT
        )
    overdue.close(session_factory, bank, overdue.overdue_by(1))

    def groups(dimension: str) -> list[tuple[str, str, int, int, Decimal | None, Decimal | None]]:
        with session_factory() as session:
            found = collections.analysis(session, dimension)
        assert found.as_of == overdue.overdue_by(1)
        return [(g.key, g.label, g.loans, g.overdue_loans, g.overdue_rate, g.lift) for g in found.groups]

    half, one, none = Decimal("0.5000"), Decimal("1.0000"), Decimal("0.0000")
    assert groups("region") == [
        ("11", "北京市", 1, 1, one, Decimal("2.00")),
        ("44", "广东省", 2, 1, half, Decimal("1.00")),
        ("51", "四川省", 1, 0, none, Decimal("0.00")),
    ]
    assert groups("city") == [
        ("1101", "北京市", 1, 1, one, Decimal("2.00")),
        ("4403", "广东省深圳市", 2, 1, half, Decimal("1.00")),
        ("5101", "四川省成都市", 1, 0, none, Decimal("0.00")),
    ]
    assert groups("grade") == [
        ("C", "C", 1, 1, one, Decimal("2.00")),
        ("B", "B", 3, 1, Decimal("0.3333"), Decimal("0.67")),
    ]
    assert groups("industry") == [
        ("catering", "catering", 1, 1, one, Decimal("2.00")),
        ("retail", "retail", 3, 1, Decimal("0.3333"), Decimal("0.67")),
    ]
    assert groups("product") == [
        ("credit", "credit", 3, 2, Decimal("0.6667"), Decimal("1.33")),
        ("consumer", "consumer", 1, 0, none, Decimal("0.00")),
    ]
    with session_factory() as session:
        found = collections.analysis(session, "region")
    total = found.total
    assert (total.loans, total.overdue_loans, total.principal_outstanding, total.overdue_outstanding) == (
        4,
        2,
        4 * overdue.AMOUNT - 2 * (INSTALLMENT - 4_000),
        2 * overdue.AMOUNT,
    )
    assert (total.overdue_principal, total.non_performing, total.average_dpd) == (
        2 * 98_180,
        0,
        Decimal("1.0"),
    )
    assert total.amount_overdue_rate == Decimal("0.5213")  # 2,400,000 / 4,603,640 (two paid 981.80 each)
    assert [(p.region, p.product, p.grade, p.industry, p.overdue_loans, p.share) for p in found.profiles] == [
        ("北京市", "credit", "B", "retail", 1, half),
        ("广东省", "credit", "C", "catering", 1, half),
    ]
    with session_factory() as session, pytest.raises(InvalidAnalysisDimension):
        collections.analysis(session, "zodiac")
    del beijing, shenzhen


def test_region_labels_come_from_the_national_code_table() -> None:
    assert collections.region_label("110105") == ("11", "北京市")
    assert collections.region_label("440305", level="city") == ("4403", "广东省深圳市")
    assert collections.region_label("650102", level="city")[1].startswith("新疆维吾尔自治区")
    assert collections.region_label(None) == ("unknown", "unknown")
    assert collections.region_label("990000") == ("unknown", "unknown")
