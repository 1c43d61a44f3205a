"""A database's state, table by table, for runs that must end alike (a batch killed and rerun
against one never interrupted).

Every table of the schema (platform and simulated bank — a file of its own on SQLite) is
hashed row by row in a stable order, without the columns that legitimately differ between
runs that agree: surrogate ids drawn from sequences (a killed transaction consumes them), the
columns that refer to such ids, which worker did a chunk and when, and ciphertext (a random
nonce each time). On PostgreSQL the rows are hashed in the database, so a big book is not
read into Python.
"""

import hashlib
import json

from sqlalchemy import Connection, inspect, text

from p2plend.custody.simulated.bank import bank_database_url
from p2plend.db import make_engine
from p2plend.schema import Base

UNSTABLE = frozenset({
    "id", "entry_id", "ref_id", "repayment_id", "reverses_entry_id", "case_id", "notification_id",
    "worker", "done_at", "sealed",
})  # fmt: skip


def table_hashes(url: str, *, unstable: frozenset[str] = UNSTABLE) -> dict[str, str]:
    """Each table's hash (the simulated bank's tables as ``custodian:<name>`` when they have a
    database of their own): comparing two databases' names the tables that differ."""
    hashes: dict[str, str] = {}
    for database in dict.fromkeys([url, bank_database_url(url)]):
        engine = make_engine(database)
        try:
            with engine.connect() as conn:
                present = set(inspect(conn).get_table_names())
                for table in Base.metadata.sorted_tables:
                    if table.name in present:
                        name = table.name if database == url else f"custodian:{table.name}"
                        columns = [c.name for c in table.columns if c.name not in unstable]
                        hashes[name] = _table_hash(conn, table.name, columns)
        finally:
            engine.dispose()
    return hashes


def state_hash(url: str, *, unstable: frozenset[str] = UNSTABLE) -> str:
    """The whole of ``table_hashes`` as one hash."""
    every = json.dumps(table_hashes(url, unstable=unstable), sort_keys=True)
    return hashlib.sha256(every.encode()).hexdigest()


def _table_hash(conn: Connection, table: str, columns: list[str]) -> str:
    if not columns:  # nothing but ids: only how many rows there are
        return str(conn.scalar(text(f'SELECT count(*) FROM "{table}"')))  # noqa: S608
    quoted = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        row = f"ROW({quoted})::text" if len(columns) > 1 else f'"{columns[0]}"::text'
        return str(
            conn.scalar(
                text(
                    f"SELECT md5(coalesce(string_agg(r, E'\\n' ORDER BY r COLLATE \"C\"), '')) "  # noqa: S608
                    f'FROM (SELECT {row} AS r FROM "{table}") rows'
                )
            )
        )
    digest = hashlib.md5(usedforsecurity=False)
    every_row = text(f'SELECT {quoted} FROM "{table}"')  # noqa: S608
    rows = sorted(json.dumps([str(v) for v in row]) for row in conn.execute(every_row))
    for row in rows:
        digest.update(row.encode() + b"\n")
    return digest.hexdigest()
