"""The ``p2plend`` command: what operators run, on the test's database, with real exit codes."""

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from p2plend import clock
from p2plend.cli import app
from p2plend.custody import service as custody
from p2plend.custody.simulated.models import BankSubAccount, BankTransaction
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.sim import demo
from tests.audit.test_audit import bypass_guards

runner = CliRunner()


@pytest.fixture
def p2plend(database_url: str, monkeypatch: pytest.MonkeyPatch) -> "Run":
    monkeypatch.setenv("P2PLEND_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return Run()


class Run:
    def __call__(self, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output


@pytest.fixture
def seeded(p2plend: Run) -> Run:
    code, out = p2plend("demo", "--seed-only")
    assert code == 0, out
    return p2plend


def test_demo_seed_only_makes_people_and_money_through_the_bank(
    seeded: Run, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        assert identity.list_users(session, page=1, page_size=1).total == 11
        balances = {
            person.name: ledger.user_balances(session, identity.user_id_by_phone(session, person.phone))
            for person in demo.INVESTORS + demo.BORROWERS
        }
    # 张伟 paid in 500,000.00, took 10,000.00 out to his card and paid the 2.00 withdrawal fee.
    assert balances["张伟"].available == 50_000_000 - 1_000_000 - 200
    assert balances["王芳"].available == 20_000_000
    assert balances["陈静"].available == 200_000
    assert balances["杨磊"].available == 0


def test_demo_prints_every_login(p2plend: Run) -> None:
    code, out = p2plend("demo", "--seed-only")
    assert code == 0
    for phone in ("13800000001", "13900000001", "13700000001", "13600000001"):
        assert phone in out
    assert demo.DEMO_PASSWORD in out


def test_demo_refuses_a_database_that_has_users(seeded: Run) -> None:
    code, out = seeded("demo", "--seed-only")
    assert code == 1
    assert "already has users" in out


def test_ledger_verify_passes_on_sound_books(seeded: Run) -> None:
    code, out = seeded("ledger", "verify")
    assert (code, "ledger ok" in out) == (0, True)


def test_reconcile_agrees_and_stores_the_run(seeded: Run, session_factory: sessionmaker[Session]) -> None:
    code, out = seeded("custody", "reconcile", "--date", clock.today().isoformat())
    assert code == 0, out
    assert "books agree" in out and "¥742,000.00" in out  # 5 users' money and the platform's fee
    with session_factory() as session:
        [run] = custody.reconciliation_runs(session)
        assert (run.difference_count, run.sub_accounts_checked) == (0, 6)


@pytest.mark.corrupts_books
def test_reconcile_prints_each_difference_to_the_fen_and_fails(
    seeded: Run, session_factory: sessionmaker[Session], database_url: str
) -> None:
    with session_factory() as session:
        sub = custody.custody_account_of(session, identity.user_id_by_phone(session, "13700000001"))
        assert sub is not None
    bank = custody.simulated_custodian(database_url)
    try:
        with bank.session_factory.begin() as books:  # the bank's books are changed behind our back
            books.execute(
                update(BankSubAccount)
                .where(BankSubAccount.account_no == sub.sub_account_no)
                .values(balance=199_999)
            )
            account_id = books.query(BankSubAccount.id).filter_by(account_no=sub.sub_account_no).scalar()
            books.execute(
                update(BankTransaction)
                .where(BankTransaction.sub_account_id == account_id)
                .values(amount=199_999)
            )
    finally:
        bank.close()
    code, out = seeded("custody", "reconcile", "--date", clock.today().isoformat())
    assert code == 1
    assert sub.sub_account_no in out
    assert "¥2,000.00" in out and "¥1,999.99" in out and "-¥0.01" in out
    assert "1 difference(s)" in out


def test_reconcile_refuses_a_malformed_date(p2plend: Run) -> None:
    code, out = p2plend("custody", "reconcile", "--date", "2026-13-01")
    assert code == 2
    assert "--date" in out


def test_sweep_sends_and_delivers_what_is_pending(seeded: Run) -> None:
    code, out = seeded("custody", "sweep")
    assert code == 0, out
    assert "sent 0 withdrawal(s)" in out


def test_audit_verify_passes_then_finds_tampering(
    seeded: Run, session_factory: sessionmaker[Session], is_postgres: bool
) -> None:
    code, out = seeded("audit", "verify")
    assert (code, "audit log ok" in out) == (0, True)
    with session_factory() as session:
        bypass_guards(session, is_postgres, "audit_records")
        session.execute(
            text("UPDATE audit_records SET details = '{}' WHERE id = (SELECT MIN(id) FROM audit_records)")
        )
        session.commit()
    code, out = seeded("audit", "verify")
    assert code == 1
    assert "record_hash" in out


def test_totp_prints_a_code_and_refuses_garbage(p2plend: Run) -> None:
    code, out = p2plend("totp", "WQ627HY3ZLPBFXGCZXXDHTNPSG5DGFHV")
    assert code == 0 and out.strip().isdigit()
    code, out = p2plend("totp", "not base32!")
    assert code == 2 and "base32" in out
