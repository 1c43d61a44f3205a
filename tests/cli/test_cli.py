"""The ``p2plend`` command: what operators run, on the test's database, with real exit codes."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, text, update
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.collections import service as collections
from p2plend.config import Settings
from p2plend.custody import service as custody
from p2plend.custody.simulated.models import BankSubAccount, BankTransaction
from p2plend.guarantee import service as guarantee
from p2plend.identity import service as identity
from p2plend.jobs import eod
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.money import format_cny
from p2plend.origination import service as origination
from p2plend.p2b import service as p2b
from p2plend.portfolio import service as portfolio
from p2plend.servicing import service as servicing
from p2plend.sim import demo
from p2plend.transfers import service as transfers
from tests import conftest
from tests.audit.test_audit import bypass_guards
from tests.console import Run


@pytest.fixture
def console_columns() -> str:
    return "200"  # this module's reports are checked whole, on a wide terminal


@pytest.fixture
def seeded(p2plend: Run, demo_database: tuple[str, str], database_url: str, engine: Engine) -> Run:
    """The test's database, replaced by a copy of the seeded demo."""
    engine.dispose()
    conftest.copy_database(demo_database[0], database_url)
    engine.dispose()
    return p2plend


def test_demo_seed_only_makes_people_and_money_through_the_bank(
    seeded: Run, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        assert identity.list_users(session, page=1, page_size=1).total == 28
        zhang = identity.user_id_by_phone(session, "13900000001")
        balances = ledger.user_balances(session, zhang)
        held = sum(h.principal_outstanding for h in marketplace.holdings_of_holder(session, zhang))
        earned = sum(
            d.interest + d.prepayment_fee + d.penalty - d.investor_fee
            for d in servicing.distributions_of_holder(session, zhang)
        )
        # What his transfer sale brought beyond the principal he sold (accrued interest, less
        # the discount and the fee): negative at a discount.
        sold = sum(sale.price - sale.fee - sale.principal for sale in transfers.sales_by(session, zhang))
    # 张伟 paid in 500,000.00, took 10,000.00 out to his card (2.00 fee) and lent the rest:
    # every fen is in his account, frozen in a bid, or still out on loan, plus what he earned.
    assert balances.available + balances.frozen + held - earned - sold == 50_000_000 - 1_000_000 - 200
    assert sold < 0
    assert earned > 0 and balances.frozen > 0 and held > 0


def test_demo_has_loans_in_every_state_and_repaid_installments(
    seeded: Run, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        loans = marketplace.loans(session, limit=100)
        assert {loan.status for loan in loans} == {
            "pending", "open", "funded", "disbursed", "settled", "failed", "withdrawn",
        }  # fmt: skip
        applications = origination.for_review(session, limit=100)
        statuses = {a.status for a in applications}
        assert {"under_review", "info_requested", "awaiting_second_approval", "rejected"} <= statuses
        assert {a.channel for a in applications} == {"online", "partner"}
        assert any(a.guarantor_id is not None for a in applications)
        repaying = [loan for loan in loans if loan.status == "disbursed"]
        paid = [r for loan in repaying for r in servicing.schedule(session, loan.id) if r.status == "paid"]
        assert len(paid) >= 4
        kinds = {r.kind for loan in loans for r in servicing.repayments_of_loan(session, loan.id)}
        assert kinds == {"installment", "early_full", "early_partial", "auto_debit", "compensation"}
        # The bad loans: one in each overdue stage, as the end-of-day batch left them.
        overdue = {loan.stage: loan.classification for loan in repaying if loan.days_past_due > 0}
        assert overdue == {
            "m1": "special_mention",
            "m2": "special_mention",
            "m3": "special_mention",
            "m3_plus": "doubtful",
            "m7_plus": "loss",
        }
        assert eod.last_closed(session) == clock.today() - timedelta(days=1)
        # A compensated guaranteed loan, open collection cases at work, a write-off waiting.
        assert {c.kind for c in guarantee.compensations(session)} == {"installment"}
        open_cases = collections.cases(session, status="open").items
        assert {c.stage for c in open_cases} == {"m1", "m2", "m3", "m3_plus", "m7_plus"}
        assert any(c.promise_due_on is not None for c in open_cases)
        assert [w.status for w in collections.write_offs(session)] == ["proposed"]
        for loan in loans:  # R26 on every loan of the demo
            held = sum(h.principal_outstanding for h in marketplace.holdings_of_loan(session, loan.id))
            assert held == loan.principal_outstanding


def test_demo_markets_auto_bids_a_plan_and_transfers(
    seeded: Run, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        [l10] = [loan for loan in marketplace.loans(session, statuses=["open"]) if loan.amount == 2_000_000]
        sources = {bid.source for bid in marketplace.bids_of_loan(session, l10.id)}
        assert "auto_bid" in sources  # the queue took its turn when the listing opened
        auto = sum(b.amount for b in marketplace.bids_of_loan(session, l10.id) if b.source == "auto_bid")
        assert 0 < auto <= l10.amount * 6 // 10  # at most 60 % (R43)
        listings = transfers.open_listings(session)
        assert sorted(listing.sold for listing in listings) == [0, 600_000, 1_000_000]
        # The purchase lost after the bank moved the money: voided, reversed, bought again (~1).
        [voided] = custody.voided_instructions(session)
        assert (voided.amount > 0, voided.reversal_status) == (True, "succeeded")
        retried = f"{voided.instruction_no}~1"
        assert retried in {
            sale.instruction_no
            for listing in listings
            for sale in transfers.sales_of_listing(session, listing.id)
        }
        # The partner's claim (P2B): booked, partly bought, labelled; a second waits for review.
        assert {
            p2b.is_partner_claim(marketplace.get_loan(session, listing.loan_id)) for listing in listings
        } == {
            True,
            False,
        }
        assert sorted(claim.status for claim in p2b.claims(session)) == ["approved", "submitted"]
        [plan] = portfolio.plans_of(session, identity.user_id_by_phone(session, "13900000005"))
        assert plan.placed > 0


def test_demo_prints_every_login(demo_database: tuple[str, str]) -> None:
    out = demo_database[1]
    for phone in ("13800000001", "13900000001", "13700000001", "13600000001", "13500000001"):
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
    # What came in by card less what went out to cards (the clearing account's mirror):
    # lending, fees and compensation only move money between sub-accounts.
    with session_factory() as session:
        in_custody = -ledger.balance(session, ledger.CUSTODIAN_CLEARING)
        [run] = custody.reconciliation_runs(session)
        assert (run.difference_count, run.sub_accounts_checked) == (0, 20)
    assert "books agree" in out and f"platform {format_cny(in_custody)}, bank {format_cny(in_custody)}" in out


@pytest.mark.corrupts_books
def test_reconcile_prints_each_difference_to_the_fen_and_fails(
    seeded: Run, session_factory: sessionmaker[Session], database_url: str
) -> None:
    with session_factory() as session:
        chen = identity.user_id_by_phone(session, "13700000001")
        sub = custody.custody_account_of(session, chen)
        assert sub is not None
        held = ledger.user_balances(session, chen).total
    bank = custody.simulated_custodian(database_url)
    try:
        with bank.session_factory.begin() as books:  # the bank's books lose a fen behind our back
            account_id = books.query(BankSubAccount.id).filter_by(account_no=sub.sub_account_no).scalar()
            books.execute(
                update(BankSubAccount).where(BankSubAccount.id == account_id).values(balance=held - 1)
            )
            last = books.query(func.max(BankTransaction.id)).filter_by(sub_account_id=account_id).scalar()
            books.execute(
                update(BankTransaction)
                .where(BankTransaction.id == last)
                .values(amount=BankTransaction.amount - 1)
            )
    finally:
        bank.close()
    code, out = seeded("custody", "reconcile", "--date", clock.today().isoformat())
    assert code == 1
    assert sub.sub_account_no in out
    assert format_cny(held) in out and format_cny(held - 1) in out and "-¥0.01" in out
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


def test_a_new_demo_starts_with_a_new_bank_too(tmp_path: Path) -> None:
    """`p2plend demo` recreates its SQLite file and the simulated bank's beside it: a bank
    that kept the last demo's balances would refuse the new demo's transfers."""
    from p2plend.cli import remove_demo_files

    platform = tmp_path / "demo.db"
    files = [
        platform,
        tmp_path / "demo.db-wal",
        tmp_path / "demo-custodian.db",
        tmp_path / "demo-custodian.db-shm",
    ]
    for file in files:
        file.write_text("old")
    kept = tmp_path / "other.db"
    kept.write_text("keep")
    remove_demo_files(Settings(database_url=f"sqlite:///{platform}"))
    assert [file.exists() for file in files] == [False] * 4 and kept.exists()
