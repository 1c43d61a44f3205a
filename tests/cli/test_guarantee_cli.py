"""``p2plend guarantee list|terms|compensations``: guarantee companies from the console, on
the test's database, with real exit codes — after a real end-of-day compensation on DPD 2."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.guarantee import service as guarantee
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.money import format_cny
from tests import builders, lending
from tests.console import Run
from tests.custody.conftest import bank
from tests.guarantee.test_compensation import LENT, first_installment
from tests.overdue import FIRST_DUE, close_each_day

__all__ = ["bank"]

NAME = "浙江安信融资担保有限公司"
GOOD = ("--coverage", "principal", "--trigger-dpd", "3", "--accelerate-dpd", "60", "--fee-rate", "0.015")


@pytest.fixture
def console_columns() -> str:
    return "200"  # the lines are checked whole


def _officer(session_factory: sessionmaker[Session], *roles: Role, with_totp: bool = True) -> str:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_staff(session, phone=phone, roles=roles or (Role.RISK_OFFICER,), with_totp=with_totp)
    return phone


def _terms_set(session_factory: sessionmaker[Session], user_id: int) -> list[tuple[str, int | None]]:
    with session_factory() as session:
        return [
            (r.action, r.actor_id)
            for r in audit.list_records(session, object_type="user", object_id=user_id)
            if r.action.startswith("guarantee.")
        ]


def test_list_shows_terms_and_exposure(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    code, out = p2plend("guarantee", "list")
    assert (code, out.splitlines()[-1]) == (0, "0 guarantee companies")
    guarantor = lending.make_guarantor(session_factory, bank, 50_000)  # 500.00: short
    lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    other = lending.make_guarantor(
        session_factory,
        bank,
        0,
        coverage="principal",
        trigger_dpd=3,
        accelerate_dpd=60,
        fee_rate=Decimal("0.015"),
    )
    code, out = p2plend("guarantee", "list")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("guarantor  status  coverage  trigger/accelerate DPD  fee")
    assert lines[-1] == "2 guarantee companies"
    assert (
        f"user:{guarantor}  active  principal_interest  2/90  0.00%  default  ¥500.00  1  ¥12,000.00  "
        f"¥0.00  ¥0.00  ¥0.00  {NAME}"
    ) in lines
    assert (
        f"user:{other}  active  principal  3/60  1.50%  agreed  ¥0.00  0  ¥0.00  ¥0.00  ¥0.00  ¥0.00  {NAME}"
        in lines
    )


def test_compensations_after_the_batch_compensated(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 50_000)
    loan_id, _, _ = lending.guaranteed_loan(session_factory, bank, guarantor, LENT)
    code, out = p2plend("guarantee", "compensations")
    assert (code, out.strip()) == (0, "no compensation")
    p1, i1 = first_installment(session_factory, loan_id)
    close_each_day(session_factory, bank, FIRST_DUE + timedelta(days=2))
    with session_factory() as session:
        [row] = guarantee.compensations_of_loan(session, loan_id)
    short = p1 + i1 - 50_000
    line = (
        f"{(FIRST_DUE + timedelta(days=2)).isoformat()}  loan:{loan_id}  user:{guarantor}  installment 1  "
        f"{format_cny(p1 + i1)}  ¥500.00  {format_cny(short)}  {format_cny(row.principal)}  "
        f"{format_cny(row.interest)}  Shop fit-out"
    )
    for args in ((), ("--guarantor", str(guarantor))):
        code, out = p2plend("guarantee", "compensations", *args)
        assert code == 0, out
        assert out.splitlines()[1:] == [
            line,
            f"1 compensation(s): paid ¥500.00, shortfall {format_cny(short)}",
        ]
    code, out = p2plend("guarantee", "list")
    assert f"user:{guarantor}  active  principal_interest  2/90  0.00%  default  ¥0.00  1  " in out
    assert f"  ¥500.00  {format_cny(short)}  ¥0.00  {NAME}" in out


def test_terms_set_by_an_officer_and_audited(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    officer = _officer(session_factory)
    code, out = p2plend("guarantee", "terms", str(guarantor), "--officer", officer, *GOOD)
    assert code == 0, out
    assert out.strip() == (
        f"user:{guarantor} terms set: coverage principal, trigger DPD 3, accelerate DPD 60, fee 1.50%; "
        "loans listed from now on copy them"
    )
    with session_factory() as session:
        terms = guarantee.terms_of(session, guarantor)
        assert (terms.coverage, terms.trigger_dpd, terms.accelerate_dpd, terms.fee_rate, terms.agreed) == (
            "principal",
            3,
            60,
            Decimal("0.015"),
            True,
        )
        officer_id = identity.user_id_by_phone(session, officer)
    assert _terms_set(session_factory, guarantor) == [("guarantee.terms_set", officer_id)]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("--coverage", "everything"), "invalid_guarantee_terms (--coverage)"),
        (("--trigger-dpd", "0"), "invalid_guarantee_terms (--trigger-dpd)"),
        (("--accelerate-dpd", "3"), "invalid_guarantee_terms (--accelerate-dpd)"),
        (("--accelerate-dpd", "4000"), "invalid_guarantee_terms (--accelerate-dpd)"),
        (("--fee-rate", "1"), "invalid_guarantee_terms (--fee-rate)"),
        (("--fee-rate", "1.5%"), "invalid_guarantee_terms (--fee-rate)"),
        (("--fee-rate", "0.0000001"), "invalid_guarantee_terms (--fee-rate)"),
        (("--trigger-dpd", "two"), "Invalid value for '--trigger-dpd'"),
    ],
)
def test_bad_terms_exit_2_and_change_nothing(
    p2plend: Run,
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    change: tuple[str, str],
    says: str,
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    args = list(GOOD)
    at = args.index(change[0])
    args[at + 1] = change[1]
    code, out = p2plend("guarantee", "terms", str(guarantor), "--officer", _officer(session_factory), *args)
    assert code == 2 and says in out, out
    with session_factory() as session:
        assert guarantee.terms_of(session, guarantor).agreed is False
    assert _terms_set(session_factory, guarantor) == []


def test_only_a_guarantee_company_gets_terms_and_only_a_risk_officer_sets_them(
    p2plend: Run, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    borrower = lending.make_borrower(session_factory, bank)
    officer = _officer(session_factory)
    for user_id in (borrower, 999_999):
        code, out = p2plend("guarantee", "terms", str(user_id), "--officer", officer, *GOOD)
        assert code == 2 and "error not_a_guarantor:" in out, out
        code, out = p2plend("guarantee", "compensations", "--guarantor", str(user_id))
        assert code == 2 and "not_a_guarantor" in out, out
    with session_factory() as session:
        customer = identity.phone_of(session, borrower)
    for phone, word in [
        (_officer(session_factory, Role.FINANCE), "permission_denied"),
        (_officer(session_factory, with_totp=False), "permission_denied"),
        (customer, "permission_denied"),
        (builders.next_phone(), "user_not_found"),
    ]:
        code, out = p2plend("guarantee", "terms", str(guarantor), "--officer", phone, *GOOD)
        assert code == 1 and word in out, out
    code, out = p2plend("guarantee", "terms", str(guarantor), *GOOD)
    assert code == 2 and "Missing option '--officer'" in out
    code, out = p2plend("guarantee", "terms", "0", "--officer", officer, *GOOD)
    assert code == 2 and "Invalid value for 'guarantor'" in out.replace("GUARANTOR", "guarantor")
    assert _terms_set(session_factory, guarantor) == []
