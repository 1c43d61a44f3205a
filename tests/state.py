"""A database's state as one hash, for tests that compare two runs which must agree."""

import hashlib
import json

from sqlalchemy import inspect, select

from p2plend.custody.simulated.bank import bank_database_url
from p2plend.db import make_engine
from p2plend.schema import Base

# Drawn from sequences, or pointing at rows that are: they differ between runs that agree.
UNSTABLE = frozenset({
    "id", "entry_id", "ref_id", "repayment_id", "reverses_entry_id", "case_id", "notification_id",
    "worker", "done_at",
})  # fmt: skip


def state_hash(url: str, *, unstable: frozenset[str] = UNSTABLE) -> str:
    """The whole of ``table_hashes`` as one hash."""
    return hashlib.sha256(
        json.dumps(table_hashes(url, unstable=unstable), sort_keys=True).encode()
    ).hexdigest()


def table_hashes(url: str, *, unstable: frozenset[str] = UNSTABLE) -> dict[str, str]:
    """Each table of the schema, platform and custodian bank (a file of its own on SQLite), as
    a hash of its rows in a stable order, without the ``unstable`` columns: comparing two
    databases' names the tables that differ."""
    hashes: dict[str, str] = {}
    for database in dict.fromkeys([url, bank_database_url(url)]):
        engine = make_engine(database)
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            for table in Base.metadata.sorted_tables:
                if table.name not in present:
                    continue
                columns = [c for c in table.columns if c.name not in unstable]
                rows = sorted(json.dumps([str(v) for v in row]) for row in conn.execute(select(*columns)))
                digest = hashlib.sha256(table.name.encode())
                for row in rows:
                    digest.update(row.encode())
                hashes[table.name if database == url else f"custodian:{table.name}"] = digest.hexdigest()
        engine.dispose()
    return hashes
