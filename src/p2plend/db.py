"""Database: engine, sessions, the declarative Base and its naming convention.

One Session is one database transaction is one business act. Services only ``flush()``;
the caller that opened the session (an API request, a CLI command, a job) commits.

SQLite: every transaction starts with ``BEGIN IMMEDIATE`` so writers are serialised and
a read-modify-write can't interleave — the same guarantees the row locks and
conditional updates give us on PostgreSQL.
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

import psycopg
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeDecorator

from p2plend.errors import commits_despite

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT keys need this variant.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` URLs and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so we can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "sqlite"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One business act: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        if commits_despite(exc):
            session.commit()
        else:
            session.rollback()
        raise
    finally:
        session.close()


# --- set-based writes ----------------------------------------------------------------------


def insert_rows(
    session: Session,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    *,
    shared: Mapping[str, Any] | None = None,
) -> None:
    """Insert ``rows`` (dicts with the same keys), each with the ``shared`` values too, their
    ids in list order, with one statement whatever their number. On PostgreSQL a few rows
    go as one array per column, unnested (a statement per row, even pipelined, costs the
    client far more), and many rows by ``COPY`` (``_copy_rows``); elsewhere — SQLite, in
    process — as one executemany."""
    if not rows:
        return
    shared = shared or {}
    table, names = table_of(model), tuple(rows[0])
    if not _is_postgres(session):
        session.execute(insert(table), [{**shared, **row} for row in rows])
    elif len(rows) >= COPY_FROM_ROWS:
        _copy_rows(session, table, names, rows, shared)
    else:
        statement = _insert_unnested(table, names, tuple(shared))
        session.execute(statement, _arrays(names, rows) | {f"{n}_shared": v for n, v in shared.items()})


# From this many rows ``COPY`` is cheaper than an unnested INSERT: it takes two round trips
# instead of one, but neither the client nor the server works on each value as an array
# element (measured: 5,000 rows of 11 columns, 39 ms unnested, 10 ms copied).
COPY_FROM_ROWS = 64


def _copy_rows(
    session: Session,
    table: Table,
    names: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
    shared: Mapping[str, Any],
) -> None:
    """``COPY`` the rows in, in the session's transaction, as an INSERT would have: the
    columns left out get their scalar defaults, each value is bound as its column type
    binds it, and a database error is raised as SQLAlchemy's (``IntegrityError`` …)."""
    session.flush()  # as session.execute would: the rows may refer to pending objects
    connection = session.connection()
    fixed = dict(shared) | _scalar_defaults(table, set(names) | set(shared))
    columns = names + tuple(fixed)
    processors = [table.c[n].type.bind_processor(connection.dialect) for n in columns]
    quote = connection.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(map(quote, columns))}) FROM STDIN"
    # The values every row shares are processed once, the rows' own only where a type asks.
    tail = [v if p is None else p(v) for p, v in zip(processors[len(names) :], fixed.values(), strict=True)]
    processed = [(i, p) for i, p in enumerate(processors[: len(names)]) if p is not None]
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the session's connection is closed")
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = [row[n] for n in names]
                for i, process in processed:
                    values[i] = process(values[i])
                copy.write_row(values + tail)
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _scalar_defaults(table: Table, given: set[str]) -> dict[str, Any]:
    """The Python-side defaults of the columns not ``given`` (an INSERT applies them)."""
    defaults: dict[str, Any] = {}
    for column in table.c:
        if column.name in given or column.default is None:
            continue
        if not column.default.is_scalar:
            raise ValueError(f"{table.name}.{column.name}: give a value, its default is not a constant")
        defaults[column.name] = column.default.arg  # type: ignore[attr-defined]
    return defaults


def update_rows(
    session: Session, model: type[Base], rows: Sequence[Mapping[str, Any]], *, increment: bool = False
) -> None:
    """Update rows by primary key with one statement whatever their number: each of ``rows``
    (dicts with the same keys) names an ``id`` and its columns' new values — or, with
    ``increment``, the amounts to add to them. Unnested arrays on PostgreSQL, one
    executemany elsewhere (see ``insert_rows``). Loaded objects are not refreshed."""
    if not rows:
        return
    table, names = table_of(model), tuple(rows[0])
    if _is_postgres(session):
        session.execute(_update_unnested(table, names, increment), _arrays(names, rows))
    else:
        session.execute(
            _update_by_id(table, names, increment), [{f"new_{n}": row[n] for n in names} for row in rows]
        )


def among(session: Session, column: QueryableAttribute[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values`` for a batch's many values. On PostgreSQL one array parameter
    (``= ANY``): an IN list binds, casts and parses each value apart (5,000 ids: 50 ms
    against 21); elsewhere an IN list."""
    if _is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def table_of(model: type[Base]) -> Table:
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to one table")
    return table


def _arrays(names: tuple[str, ...], rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    return {f"{name}_values": [row[name] for row in rows] for name in names}


# The statements below depend only on the table and the columns: built once, reused.


@cache
def _insert_unnested(table: Table, names: tuple[str, ...], shared: tuple[str, ...]) -> Insert:
    batch = _unnested(table, names)
    values = [batch.c[n] for n in names] + [bindparam(f"{n}_shared", type_=table.c[n].type) for n in shared]
    return insert(table).from_select(names + shared, select(*values).order_by(batch.c.ordinality))


@cache
def _update_unnested(table: Table, names: tuple[str, ...], increment: bool) -> Update:
    batch = _unnested(table, names)
    new = {n: table.c[n] + batch.c[n] if increment else batch.c[n] for n in names if n != "id"}
    # The ids again, as an index condition: joined only to the batch, a big table may be read
    # whole (a merge join along its primary key: 500,000 holdings for 10,000 updated).
    ids = bindparam("id_values", type_=ARRAY(table.c.id.type))
    return update(table).where(table.c.id == batch.c.id, table.c.id == any_(ids)).values(new)


@cache
def _update_by_id(table: Table, names: tuple[str, ...], increment: bool) -> Update:
    # Bound names differ from the columns': those are reserved for the SET clause.
    new = {
        n: table.c[n] + bindparam(f"new_{n}") if increment else bindparam(f"new_{n}")
        for n in names
        if n != "id"
    }
    return update(table).where(table.c.id == bindparam("new_id")).values(new)


def _unnested(table: Table, names: tuple[str, ...]) -> TableValuedAlias:
    """``unnest(:name_values, …) WITH ORDINALITY AS batch(name, …, ordinality)``: the arrays
    bound by ``_arrays``, typed as the columns."""
    arrays = [bindparam(f"{name}_values", type_=ARRAY(table.c[name].type)) for name in names]
    unnested = func.unnest(*arrays).table_valued(*names, with_ordinality="ordinality", name="batch")
    return unnested.render_derived("batch")
