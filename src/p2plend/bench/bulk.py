"""Many investors (or borrowers) at once, for benchmarks that need a big book: set-based SQL,
not services.

One person is made through the services (``world.person``); every other is a copy of its
rows — user, role, verified real name, custody account, risk assessment, ledger accounts — made
by ``INSERT … SELECT`` over a table of numbers, with a deposit entry of their own from
``external:custodian_clearing`` (two postings), so ``ledger.verify`` holds; and the simulated
bank gets their sub-accounts holding the same deposit, so money can move for them there too.
A hundred thousand investors take seconds; through the services they would take hours.

The copies share the template's encrypted phone, name and document (their blind indexes are
made unique): they pass every check a bid makes, and they are never shown to anyone.
"""

import hashlib
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from p2plend import clock
from p2plend.bench.world import World, person
from p2plend.custody.models import CustodyAccount
from p2plend.custody.simulated.models import BankSubAccount, BankTransaction
from p2plend.db import Base, transaction
from p2plend.identity.models import RealNameIdentity, User, UserRole
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry, LedgerAccount, Posting
from p2plend.suitability.models import RiskAssessment

TEMPLATE_PERSON = 99_990  # world.person's number for the template investor
SUB_ACCOUNT_PREFIX = "SB"  # the copies' custody sub-accounts: SB{user id}
_numbers_metadata = MetaData()
NUMBERS = Table("bench_numbers", _numbers_metadata, Column("n", Integer, primary_key=True))


def fill_numbers(conn: Connection, count: int) -> None:
    """The table ``bench_numbers`` holds 1 … ``count`` (made once per database); it doubles
    in SQL, a few statements for millions of numbers."""
    NUMBERS.create(conn, checkfirst=True)
    have = int(conn.scalar(select(func.count()).select_from(NUMBERS)) or 0)
    if have == 0 and count > 0:
        conn.execute(insert(NUMBERS).values(n=1))
        have = 1
    while have < count:
        n = NUMBERS.c.n
        conn.execute(insert(NUMBERS).from_select(["n"], select(n + have).where(n + have <= count)))
        have = min(2 * have, count)


def make_template(w: World) -> int:
    """The investor the others copy, made through the services (once per database)."""
    return person(w, TEMPLATE_PERSON, deposit=0)


def people(w: World, template: int, count: int, *, deposit: int) -> range:
    """``count`` more people like ``template`` — verified, with its roles (investors or
    borrowers) and risk assessment if any, a custody account and ``deposit`` fen available
    each; returns their user ids."""
    with w.engine.begin() as conn:
        fill_numbers(conn, count)
        base = int(conn.scalar(select(func.max(User.id))) or 0)
        n = NUMBERS.c.n
        user_id = n + base
        numbered = literal(f"bench:{base}:") + cast(n, String)
        _copy(conn, User, {"id": user_id, "phone_index": numbered}, User.id == template, count=count)
        _copy(conn, UserRole, {"user_id": user_id}, UserRole.user_id == template, count=count)
        _copy(
            conn,
            RealNameIdentity,
            {"user_id": user_id, "id_number_index": numbered},
            RealNameIdentity.user_id == template,
            count=count,
        )
        _copy(
            conn,
            CustodyAccount,
            {"owner_id": user_id, "sub_account_no": literal(SUB_ACCOUNT_PREFIX) + cast(user_id, String)},
            CustodyAccount.owner_type == "user",
            CustodyAccount.owner_id == template,
            count=count,
        )
        _copy(conn, RiskAssessment, {"user_id": user_id}, RiskAssessment.user_id == template, count=count)
        _copy(
            conn,
            LedgerAccount,
            {
                "owner_id": user_id,
                "code": literal("user:") + cast(user_id, String) + literal(":") + LedgerAccount.kind,
                "balance": case((LedgerAccount.kind == "available", deposit), else_=0),
            },
            LedgerAccount.owner_type == "user",
            LedgerAccount.owner_id == template,
            count=count,
        )
        _deposits(conn, base, count, deposit)
        bump_sequences(conn, [User, JournalEntry])
    ids = range(base + 1, base + count + 1)
    _bank_accounts(w, ids, deposit)
    return ids


def _bank_accounts(w: World, ids: range, deposit: int) -> None:
    """The bank's side (its own database): each copy's sub-account, its deposit booked."""
    now = clock.now()
    with transaction(w.bank.session_factory) as books:
        first = int(books.scalar(select(func.max(BankSubAccount.id))) or 0)
        books.execute(
            insert(BankSubAccount),
            [
                {
                    "account_no": _sub_account(user_id),
                    "owner_ref": f"user:{user_id}",
                    "holder_name_masked": "测**",
                    "id_number_masked": "***",
                    "balance": deposit,
                    "opened_at": now,
                }
                for user_id in ids
            ],
        )
        if deposit:
            books.execute(
                insert(BankTransaction).from_select(
                    ["sub_account_id", "amount", "value_date", "kind", "order_no", "created_at"],
                    select(
                        BankSubAccount.id,
                        literal(deposit),
                        literal(clock.today()),
                        literal("deposit"),
                        literal("bench-deposit:") + BankSubAccount.account_no,
                        literal(now, BankTransaction.created_at.type),
                    ).where(BankSubAccount.id > first),
                )
            )


def _copy(
    conn: Connection,
    model: type[Base],
    overrides: dict[str, ColumnElement[Any]],
    *template_rows: ColumnElement[bool],
    count: int,
) -> None:
    """One copy of the template's rows of ``model`` for each of 1 … ``count`` in
    ``bench_numbers``, with ``overrides`` (expressions of its ``n``); other ids the database's."""
    table = model.__table__
    columns = [c for c in table.columns if c.name != "id" or "id" in overrides]
    rows = (
        select(*[overrides.get(c.name, c) for c in columns])
        .select_from(table.join(NUMBERS, true()))
        .where(NUMBERS.c.n <= count, *template_rows)
    )
    conn.execute(insert(model).from_select([c.name for c in columns], rows))


def _sub_account(user_id: int) -> str:
    return f"{SUB_ACCOUNT_PREFIX}{user_id}"


def _deposits(conn: Connection, base: int, count: int, deposit: int) -> None:
    """One deposit entry per copy, clearing → their available account: balances already set."""
    if not deposit:
        return
    n = NUMBERS.c.n
    first = int(conn.scalar(select(func.max(JournalEntry.id))) or 0)
    today, now = clock.today(), clock.now()
    fingerprint = hashlib.sha256(f"bench-deposit:{deposit}".encode()).hexdigest()
    conn.execute(
        insert(JournalEntry).from_select(
            ["id", "kind", "idempotency_key", "fingerprint", "business_date", "created_at", "memo"],
            select(
                n + first,
                literal("deposit"),
                literal(f"bench-deposit:{first}:") + cast(n, String),
                literal(fingerprint),
                literal(today),
                literal(now, JournalEntry.created_at.type),
                literal("bench"),
            ).where(n <= count),
        )
    )
    clearing = conn.scalar(select(LedgerAccount.id).where(LedgerAccount.code == ledger.CUSTODIAN_CLEARING))
    conn.execute(
        insert(Posting).from_select(
            ["entry_id", "account_id", "amount"],
            select(n + first, literal(clearing), literal(-deposit)).where(n <= count),
        )
    )
    conn.execute(
        insert(Posting).from_select(
            ["entry_id", "account_id", "amount"],
            select(LedgerAccount.owner_id - base + first, LedgerAccount.id, literal(deposit)).where(
                LedgerAccount.owner_type == "user",
                LedgerAccount.kind == "available",
                LedgerAccount.owner_id > base,
                LedgerAccount.owner_id <= base + count,
            ),
        )
    )
    conn.execute(
        update(LedgerAccount)
        .where(LedgerAccount.id == clearing)
        .values(balance=LedgerAccount.balance - deposit * count)
    )


def bump_sequences(conn: Connection, models: list[type[Base]]) -> None:
    """PostgreSQL hands out ids from a sequence: move it past the ids given here."""
    if conn.dialect.name != "postgresql":
        return
    for model in models:
        name = model.__tablename__
        conn.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence(name, "id"),
                    select(func.max(model.__table__.c.id)).scalar_subquery(),
                )
            )
        )
