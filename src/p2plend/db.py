"""Database: engine, sessions, the declarative Base and its naming convention.

One Session is one database transaction is one business act. Services only ``flush()``;
the caller that opened the session (an API request, a CLI command, a job) commits.

SQLite: every transaction starts with ``BEGIN IMMEDIATE`` so writers are serialised and
a read-modify-write can't interleave — the same guarantees the row locks and
conditional updates give us on PostgreSQL.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
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
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.dml import Insert, Update
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
    ids in list order, with one statement whatever their number: on PostgreSQL each column
    goes as one array and the arrays are unnested (a statement per row, even pipelined,
    costs the client far more), the shared values once; elsewhere — SQLite, in process —
    as one executemany."""
    if not rows:
        return
    shared = shared or {}
    table, names = table_of(model), tuple(rows[0])
    if _is_postgres(session):
        statement = _insert_unnested(table, names, tuple(shared))
        session.execute(statement, _arrays(names, rows) | {f"{n}_shared": v for n, v in shared.items()})
    else:
        session.execute(insert(table), [{**shared, **row} for row in rows])


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
    return update(table).where(table.c.id == batch.c.id).values(new)


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
