"""The migrations and the models describe the same schema: nothing drifts unnoticed."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from p2plend.schema import Base


def test_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migrations_give_the_tables_the_models_storage_parameters(engine: Engine) -> None:
    """PostgreSQL's storage parameters (fillfactor, migration 0018), which the comparison
    above does not see."""
    if engine.dialect.name != "postgresql":
        pytest.skip("storage parameters are PostgreSQL's")
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        declared = {k: str(v) for k, v in (table.dialect_options["postgresql"]["with"] or {}).items()}
        assert inspector.get_table_options(table.name).get("postgresql_with", {}) == declared, table.name
