"""A big book of disbursed loans, for the end-of-day benchmark: set-based SQL, not services.

One loan is made through the services (listed, bid on, disbursed: ``templates``); every
other is a copy of its rows made by ``INSERT … SELECT`` over ``bench_numbers``, as
``bulk.people`` copies people:

* the loan row, with its own borrower, amount (``holders`` claims of 1,000 yuan), value
  date and disbursement time; the value dates are 30 consecutive days, so each loan's
  first installment falls due on one of 30 days;
* its schedule (version 1, 12 equal installments, all still due): the template's rows with
  the due dates and amounts ``build_schedule`` gives for the copy's own value date and
  amount, computed once per (value date, amount) into ``bench_schedules``;
* ``holders`` claims (holdings) of 1,000 yuan each, from investors taken in turn;
* the ledger entries disbursement would have left: per investor, one ``bid_freeze`` entry
  of all their new lending (their bids, one per claim, in one entry), and per loan one
  ``disbursement`` entry (each holder's frozen funds to the borrower's available balance,
  idempotency key ``loan:{id}:disburse`` as the real one); the accounts' balances moved by
  the sum of their new postings, so ``ledger.verify`` holds;
* at the simulated bank, each sub-account's balance moved by the same amounts, one journal
  line each, so custody reconciles.

What a copy lacks that a real loan has: its bids, its audit records (a hash chain cannot
be copied) and its bank orders leg by leg; the batch reads none of them. Its borrower keeps
the money lent in their available balance (never withdrawn), so every auto-debit succeeds
in full.

On PostgreSQL the copies are loaded as bulk loads are: the written tables' indexes that back
no constraint are dropped first and built again after the load; and, when the bench's role
is a superuser, triggers and foreign-key checks are off for the load
(``session_replication_role = replica``) — the deferred balanced-entry trigger would re-sum
every entry once per posting, minutes at this size. The ledger is verified afterwards
instead (``ledger.verify``: every entry balances).
"""

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from p2plend import clock
from p2plend.bench import bulk
from p2plend.bench.world import World, open_listing, person, risk_officer
from p2plend.custody.models import CustodyAccount
from p2plend.custody.simulated.models import BankSubAccount, BankTransaction
from p2plend.db import Base, UtcDateTime, transaction
from p2plend.ledger.models import JournalEntry, LedgerAccount, Posting
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Holding, Loan
from p2plend.schedules.service import build_schedule
from p2plend.servicing import service as servicing
from p2plend.servicing.models import ScheduledInstallment

SHARE = 100_000  # 1,000 yuan: each claim
LOANS_PER_BORROWER = 10
DAYS = 30  # value dates: 30 consecutive days, so each day 1/30 of the book falls due
BORROWER_PERSON, LENDER_PERSON = 99_998, 99_997  # world.person numbers of the templates
FINGERPRINT = hashlib.sha256(b"bench-book").hexdigest()  # copies' entries are never replayed

_metadata = MetaData()
DAYS_TABLE = Table(
    "bench_days",
    _metadata,
    Column("k", Integer, primary_key=True),
    Column("value_date", Date),
    Column("disbursed_at", UtcDateTime),
)
SCHEDULES = Table(
    "bench_schedules",
    _metadata,
    Column("value_date", Date, primary_key=True),
    Column("amount", BigInteger, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("due_date", Date),
    Column("principal", BigInteger),
    Column("interest", BigInteger),
)


@dataclass(frozen=True)
class Templates:
    loan: int  # the real loan the others copy
    investor: int  # the investor bulk.people copies
    borrower: int  # the borrower bulk.people copies


def templates(w: World, first_value_date: date) -> Templates:
    """The template investor and borrower, and the template loan: listed, fully bid by one
    lender and disbursed through the services on the last of the book's 30 value dates
    (``first_value_date`` and the 29 days after it)."""
    investor = bulk.make_template(w)
    borrower = person(w, BORROWER_PERSON, deposit=0, borrower=True)
    lender = person(w, LENDER_PERSON, deposit=SHARE)
    officer = risk_officer(w)
    days = [first_value_date + timedelta(days=k) for k in range(DAYS)]
    w.clock.set_business_date(days[-1])
    loan_id = open_listing(w, borrower, amount=SHARE, min_bid=SHARE)
    with transaction(w.factory) as session:
        marketplace.place_bid(session, investor_id=lender, loan_id=loan_id, amount=SHARE)
    with transaction(w.factory) as session:
        servicing.disburse_loan(session, loan_id, w.bank, actor_id=officer)
    with w.engine.begin() as conn:
        _metadata.create_all(conn)
        conn.execute(
            insert(DAYS_TABLE),
            [{"k": k, "value_date": day, "disbursed_at": _disbursed_at(day)} for k, day in enumerate(days)],
        )
    return Templates(loan_id, investor, borrower)


def first_due_date(w: World, template: Templates, day: int) -> date:
    """When the loans of value day ``day`` (0 … 29) first fall due."""
    with transaction(w.factory) as session:
        value_date = session.scalar(select(DAYS_TABLE.c.value_date).where(DAYS_TABLE.c.k == day))
        terms = servicing.terms_of(marketplace.get_loan(session, template.loan))
    assert value_date is not None
    return build_schedule(replace(terms, value_date=value_date))[0].due_date


def add_loans(
    w: World,
    template: Templates,
    *,
    count: int,
    holders: int,
    day_of: ColumnElement[Any],
    investors: range,
    borrowers: range,
) -> range:
    """``count`` more disbursed loans like the template, each held by ``holders`` of
    ``investors`` (taken in turn) and owed by one of ``borrowers`` (ten loans each, in
    turn); ``day_of`` gives each copy's value day (0 … 29) as an expression of
    ``bulk.NUMBERS.c.n``, the copy's number. Returns the new loans' ids."""
    if holders > len(investors):
        raise ValueError("a loan's holders are distinct investors: more investors needed")
    with w.engine.begin() as conn:
        _fast_writes(conn)
        rebuild = _drop_indexes(conn, [Holding, ScheduledInstallment, JournalEntry, Posting])
        bulk.fill_numbers(conn, max(count, holders))
        base = int(conn.scalar(select(func.max(Loan.id))) or 0)
        first_holding = int(conn.scalar(select(func.max(Holding.id))) or 0)
        first_entry = int(conn.scalar(select(func.max(JournalEntry.id))) or 0)
        _schedules(conn, template.loan, holders * SHARE)
        _loans(conn, template.loan, base, count=count, holders=holders, day_of=day_of, borrowers=borrowers)
        loans = range(base + 1, base + count + 1)
        _holdings(conn, template.loan, loans, holders, investors)
        _installments(conn, template.loan, loans)
        _analyze(conn, [Loan, Holding, LedgerAccount])
        _freeze_entries(conn, first_entry, first_holding, investors, on=_first_value_date(conn))
        _disbursement_entries(conn, first_entry + len(investors), loans, first_holding)
        for definition in rebuild:
            conn.exec_driver_sql(definition)
        _move_balances(conn, first_entry)
        bulk.bump_sequences(conn, [Loan, JournalEntry])
    _move_bank_balances(w, loans, first_holding)
    return loans


def _disbursed_at(day: date) -> datetime:
    """10:00 in Beijing on ``day``, as the clock's business dates are."""
    return datetime.combine(day, time(10), clock.BUSINESS_TZ).astimezone(UTC)


def _fast_writes(conn: Connection) -> None:
    """On PostgreSQL, memory for this transaction's sorts and hashes (the index builds, the
    joins of millions of rows); triggers and foreign-key checks off, where the role may."""
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
    conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    if conn.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")):
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def _drop_indexes(conn: Connection, models: list[type[Base]]) -> list[str]:
    """On PostgreSQL, drop the tables' indexes that back no constraint and return their
    definitions: built once after the load, by sorting, instead of grown row by row."""
    if conn.dialect.name != "postgresql":
        return []
    indexes = conn.execute(
        text(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = ANY(CAST(:tables AS regclass[])) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)"
        ),
        {"tables": [model.__tablename__ for model in models]},
    ).all()
    for name, _definition in indexes:
        conn.exec_driver_sql(f"DROP INDEX {name}")
    return [definition for _name, definition in indexes]


def _analyze(conn: Connection, models: list[type[Base]]) -> None:
    """The planner's statistics of tables just loaded: without them it joins a million
    rows by nested loops."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE " + ", ".join(model.__tablename__ for model in models))


def _first_value_date(conn: Connection) -> date:
    day = conn.scalar(select(DAYS_TABLE.c.value_date).where(DAYS_TABLE.c.k == 0))
    assert isinstance(day, date)
    return day


def _schedules(conn: Connection, template: int, amount: int) -> None:
    """Each value date's schedule of a loan of ``amount`` (once per amount)."""
    if conn.scalar(select(func.count()).select_from(SCHEDULES).where(SCHEDULES.c.amount == amount)):
        return
    with Session(conn) as session:
        terms = servicing.terms_of(marketplace.get_loan(session, template))
    rows = [
        {
            "value_date": day,
            "amount": amount,
            "number": row.number,
            "due_date": row.due_date,
            "principal": row.principal,
            "interest": row.interest,
        }
        for day in conn.scalars(select(DAYS_TABLE.c.value_date)).all()
        for row in build_schedule(replace(terms, principal=amount, value_date=day))
    ]
    conn.execute(insert(SCHEDULES), rows)


def _loans(
    conn: Connection,
    template: int,
    base: int,
    *,
    count: int,
    holders: int,
    day_of: ColumnElement[Any],
    borrowers: range,
) -> None:
    n, day = bulk.NUMBERS.c.n, DAYS_TABLE.c
    amount = literal(holders * SHARE, BigInteger)
    overrides: dict[str, ColumnElement[Any]] = {
        "id": n + base,
        "borrower_id": borrowers.start + ((n - 1) // LOANS_PER_BORROWER) % len(borrowers),
        "amount": amount,
        "funded": amount,
        "principal_outstanding": amount,
        "created_at": day.disbursed_at,
        "opened_at": day.disbursed_at,
        "funded_at": day.disbursed_at,
        "disbursed_at": day.disbursed_at,
        "deadline": day.disbursed_at,
        "value_date": day.value_date,
    }
    source = Loan.__table__.join(bulk.NUMBERS, true()).join(DAYS_TABLE, DAYS_TABLE.c.k == day_of)
    _copy(conn, Loan, overrides, source, Loan.id == template, n <= count)


def _holdings(conn: Connection, template: int, loans: range, holders: int, investors: range) -> None:
    """Claim ``slot`` (1 … holders) of the loan numbered ``n`` belongs to investor
    ``n × holders + slot - 1`` (modulo their number): distinct investors within a loan."""
    copy, slot = Loan.__table__.alias("copy"), bulk.NUMBERS.alias("slot")
    n = copy.c.id - (loans.start - 1)
    overrides: dict[str, ColumnElement[Any]] = {
        "loan_id": copy.c.id,
        "holder_id": investors.start + (n * holders + slot.c.n - 1) % len(investors),
        "principal_outstanding": literal(SHARE, BigInteger),
        "principal_acquired": literal(SHARE, BigInteger),
        "acquired_at": copy.c.disbursed_at,
    }
    source = Holding.__table__.join(copy, copy.c.id.between(loans.start, loans.stop - 1)).join(
        slot, slot.c.n <= holders
    )
    _copy(conn, Holding, overrides, source, Holding.loan_id == template)


def _installments(conn: Connection, template: int, loans: range) -> None:
    copy, row = Loan.__table__.alias("copy"), ScheduledInstallment
    overrides: dict[str, ColumnElement[Any]] = {
        "loan_id": copy.c.id,
        "due_date": SCHEDULES.c.due_date,
        "principal": SCHEDULES.c.principal,
        "interest": SCHEDULES.c.interest,
    }
    source = row.__table__.join(copy, copy.c.id.between(loans.start, loans.stop - 1)).join(
        SCHEDULES,
        and_(
            SCHEDULES.c.value_date == copy.c.value_date,
            SCHEDULES.c.amount == copy.c.amount,
            SCHEDULES.c.number == row.number,
        ),
    )
    _copy(conn, row, overrides, source, row.loan_id == template)


def _freeze_entries(
    conn: Connection, first_entry: int, first_holding: int, investors: range, *, on: date
) -> None:
    """One ``bid_freeze`` entry per investor for their new claims: available → frozen."""
    lent = (
        select(Holding.holder_id, func.sum(Holding.principal_acquired).label("lent"))
        .where(Holding.id > first_holding)
        .group_by(Holding.holder_id)
        .subquery()
    )
    entry_id = lent.c.holder_id + (first_entry - investors.start + 1)
    conn.execute(
        insert(JournalEntry).from_select(
            ["id", "kind", "idempotency_key", "fingerprint", "business_date", "created_at", "memo"],
            select(
                entry_id,
                literal("bid_freeze"),
                literal(f"bench:bid_freeze:{first_entry}:") + cast(lent.c.holder_id, String),
                literal(FINGERPRINT),
                literal(on),
                literal(_disbursed_at(on), JournalEntry.created_at.type),
                literal("bids on the bench book"),
            ),
        )
    )
    for kind, sign in (("available", -1), ("frozen", 1)):
        conn.execute(
            insert(Posting).from_select(
                ["entry_id", "account_id", "amount"],
                select(entry_id, LedgerAccount.id, sign * lent.c.lent).join(
                    LedgerAccount, _user_account(lent.c.holder_id, kind)
                ),
            )
        )


def _disbursement_entries(conn: Connection, offset: int, loans: range, first_holding: int) -> None:
    """One ``disbursement`` entry per loan: each holder's frozen claim to the borrower."""
    copy = Loan.__table__.alias("copy")
    in_book = copy.c.id.between(loans.start, loans.stop - 1)
    shift = offset - (loans.start - 1)
    loan_id = cast(copy.c.id, String)
    conn.execute(
        insert(JournalEntry).from_select(
            [
                "id",
                "kind",
                "idempotency_key",
                "fingerprint",
                "business_date",
                "created_at",
                "ref_type",
                "ref_id",
                "memo",
            ],
            select(
                copy.c.id + shift,
                literal("disbursement"),
                literal("loan:") + loan_id + literal(":disburse"),
                literal(FINGERPRINT),
                copy.c.value_date,
                copy.c.disbursed_at,
                literal("loan"),
                loan_id,
                literal("loan ") + loan_id + literal(" disbursed"),
            ).where(in_book),
        )
    )
    conn.execute(
        insert(Posting).from_select(
            ["entry_id", "account_id", "amount"],
            select(Holding.loan_id + shift, LedgerAccount.id, -Holding.principal_acquired)
            .join(LedgerAccount, _user_account(Holding.holder_id, "frozen"))
            .where(Holding.id > first_holding),
        )
    )
    conn.execute(
        insert(Posting).from_select(
            ["entry_id", "account_id", "amount"],
            select(copy.c.id + shift, LedgerAccount.id, copy.c.amount)
            .join(LedgerAccount, _user_account(copy.c.borrower_id, "available"))
            .where(in_book),
        )
    )


def _user_account(owner: ColumnElement[Any] | InstrumentedAttribute[int], kind: str) -> ColumnElement[bool]:
    return and_(
        LedgerAccount.owner_type == "user", LedgerAccount.owner_id == owner, LedgerAccount.kind == kind
    )


def _move_balances(conn: Connection, first_entry: int) -> None:
    """Each account's balance moved by the sum of its postings after ``first_entry``."""
    moved = (
        select(Posting.account_id, func.sum(Posting.amount).label("amount"))
        .where(Posting.entry_id > first_entry)
        .group_by(Posting.account_id)
        .subquery()
    )
    conn.execute(
        update(LedgerAccount)
        .where(LedgerAccount.id == moved.c.account_id)
        .values(balance=LedgerAccount.balance + moved.c.amount)
    )


def _move_bank_balances(w: World, loans: range, first_holding: int) -> None:
    """At the bank, what the disbursements moved: each investor's sub-account less their new
    claims, each borrower's plus their new loans; one journal line per sub-account."""
    with w.engine.connect() as conn:
        sub_accounts = dict(
            conn.execute(
                select(CustodyAccount.owner_id, CustodyAccount.sub_account_no).where(
                    CustodyAccount.owner_type == "user"
                )
            ).all()
        )
        lent = conn.execute(
            select(Holding.holder_id, func.sum(Holding.principal_acquired))
            .where(Holding.id > first_holding)
            .group_by(Holding.holder_id)
        ).all()
        borrowed = conn.execute(
            select(Loan.borrower_id, func.sum(Loan.amount))
            .where(Loan.id.between(loans.start, loans.stop - 1))
            .group_by(Loan.borrower_id)
        ).all()
    by_sub_account: dict[str, int] = {}
    for owner, amount in [*((o, -int(a)) for o, a in lent), *((o, int(a)) for o, a in borrowed)]:
        no = sub_accounts[owner]
        by_sub_account[no] = by_sub_account.get(no, 0) + amount
    moved = [(no, amount) for no, amount in by_sub_account.items() if amount]
    if not moved:
        return
    now, today = clock.now(), clock.today()
    with transaction(w.bank.session_factory) as books:
        ids = dict(books.execute(select(BankSubAccount.account_no, BankSubAccount.id)).all())
        books.connection().execute(
            update(BankSubAccount)
            .where(BankSubAccount.id == bindparam("sub_id"))
            .values(balance=BankSubAccount.balance + bindparam("moved")),
            [{"sub_id": ids[no], "moved": amount} for no, amount in moved],
        )
        books.execute(
            insert(BankTransaction),
            [
                {
                    "sub_account_id": ids[no],
                    "amount": amount,
                    "value_date": today,
                    "kind": "transfer",
                    "order_no": f"bench-book:{loans.start}",
                    "created_at": now,
                }
                for no, amount in moved
            ],
        )


def _copy(
    conn: Connection,
    model: type[Base],
    overrides: dict[str, ColumnElement[Any]],
    source: Any,
    *where: ColumnElement[bool],
) -> None:
    """The template's rows of ``model`` joined to ``source``, with ``overrides``."""
    table = model.__table__
    columns = [c for c in table.columns if c.name != "id" or "id" in overrides]
    rows = select(*[overrides.get(c.name, c) for c in columns]).select_from(source).where(*where)
    conn.execute(insert(model).from_select([c.name for c in columns], rows))
