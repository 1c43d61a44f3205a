"""Test harness: a fresh migrated database per test, on SQLite or PostgreSQL.

The suite runs twice: on SQLite (default) and on PostgreSQL when
``P2PLEND_TEST_DATABASE_URL`` names one. The schema always comes from the Alembic
migrations. Each test gets its own database cloned from a migrated template (a file
copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so tests that use several
connections — concurrency, the custodian's own session — are isolated too.

After every test that used the database the ledger invariants are verified.
"""

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

os.environ.setdefault("P2PLEND_ENVIRONMENT", "test")
os.environ.setdefault("P2PLEND_PASSWORD_HASH_PROFILE", "fast")

from p2plend import clock, migrate
from p2plend.config import get_settings
from p2plend.custody.simulated.bank import bank_database_url
from p2plend.db import make_engine, make_session_factory, normalise_url
from tests import invariants
from tests.console import Run

TEST_DATE = date(2026, 11, 28)
TEST_NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # the business clock of every test


def _worker() -> str:
    # Unique per process: two suites running at once on one server must not drop each other's databases.
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _postgres_url() -> str | None:
    url = os.environ.get("P2PLEND_TEST_DATABASE_URL", "")
    return normalise_url(url) if url.startswith("postgres") else None


def pytest_report_header() -> str:
    return f"p2plend database: {'postgresql' if _postgres_url() else 'sqlite'}"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head, to clone for each test: a file path or a PG database name."""
    pg = _postgres_url()
    if pg is None:
        path = tmp_path_factory.mktemp("db") / "template.sqlite"
        migrate.upgrade(f"sqlite:///{path}")
        yield str(path)
        return
    name = f"p2plend_tpl_{_worker()}"
    _pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    migrate.upgrade(_pg_url_for(pg, name))
    yield name
    _pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def fresh_database(
    template: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], AbstractContextManager[str]]:
    """Another database cloned from the template, per use: for tests needing many (hypothesis machines)."""
    pg = _postgres_url()
    numbers = itertools.count()

    @contextmanager
    def clone() -> Iterator[str]:
        n = next(numbers)
        if pg is None:
            path = tmp_path_factory.mktemp("clone") / f"clone{n}.sqlite"
            shutil.copyfile(template, path)
            yield f"sqlite:///{path}"
            return
        name = f"p2plend_clone_{_worker()}_{n}"
        _pg_admin(
            pg,
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{template}"',
        )
        try:
            yield _pg_url_for(pg, name)
        finally:
            _pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return clone


# The modules that use ``demo_database``. Under ``pytest -n 2 --dist loadfile`` (./run test)
# each worker would seed its own demo; these modules go to one worker together instead.
DEMO_MODULES = frozenset(
    {"tests/cli/test_cli.py", "tests/security/test_demo_exposure.py", "tests/jobs/test_eod_selection.py"}
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None  # xdist's own scheduler
    from xdist.scheduler import LoadFileScheduling

    class DemoModulesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "demo_database" if scope in DEMO_MODULES else scope

    return DemoModulesTogether(config, log)


@pytest.fixture(scope="session")
def demo_database(fresh_database: Callable[[], AbstractContextManager[str]]) -> Iterator[tuple[str, str]]:
    """``p2plend demo --seed-only`` run once per test run (it plays a year of business days)
    under the tests' business clock: the database and what the command printed. Shared by
    every module that needs the demo (list it in ``DEMO_MODULES``): tests take a copy
    (``copy_database``), never change it."""
    previous = clock.current()
    clock.install(clock.FixedClock(TEST_NOW))
    try:
        with fresh_database() as url, pytest.MonkeyPatch.context() as env:
            env.setenv("P2PLEND_DATABASE_URL", url)
            env.setenv("COLUMNS", "200")
            get_settings.cache_clear()
            code, out = Run()("demo", "--seed-only")
            get_settings.cache_clear()
            assert code == 0, out
            yield url, out
    finally:
        clock.install(previous)


def copy_database(source_url: str, target_url: str) -> None:
    """Make the database at ``target_url`` a copy of ``source_url``, the simulated bank's too
    (its own file beside the platform's on SQLite, the same database on PostgreSQL)."""
    source, target = make_url(source_url), make_url(target_url)
    if source.get_backend_name() == "sqlite":
        banks = (bank_database_url(source_url), bank_database_url(target_url))
        for src, dst in ((source_url, target_url), banks):
            shutil.copyfile(str(make_url(src).database), str(make_url(dst).database))
        return
    admin = target.set(database=source.database).render_as_string(hide_password=False)
    _pg_admin(
        admin,
        f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)',
        f'CREATE DATABASE "{target.database}" TEMPLATE "{source.database}"',
    )


@pytest.fixture
def database_url(template: str, tmp_path: Path) -> Iterator[str]:
    pg = _postgres_url()
    if pg is None:
        path = tmp_path / "test.sqlite"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"p2plend_test_{_worker()}"
    _pg_admin(
        pg,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{template}"',
    )
    yield _pg_url_for(pg, name)


@pytest.fixture
def engine(database_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    if request.node.get_closest_marker("corrupts_books") is None:
        factory = make_session_factory(engine)
        with factory() as session:
            invariants.assert_books_sound(session)
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for the test body; commit explicitly where the test needs it."""
    with session_factory() as session:
        yield session


@pytest.fixture(autouse=True)
def business_clock() -> Iterator[clock.FixedClock]:
    fixed = clock.FixedClock(TEST_NOW)
    previous = clock.current()
    clock.install(fixed)
    yield fixed
    clock.install(previous)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def console_columns() -> str:
    """The terminal width ``p2plend`` sees: narrow, so lines must not wrap or be cut."""
    return "60"


@pytest.fixture
def p2plend(database_url: str, monkeypatch: pytest.MonkeyPatch, console_columns: str) -> Run:
    """The ``p2plend`` command on the test's database."""
    monkeypatch.setenv("P2PLEND_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", console_columns)
    return Run()


@pytest.fixture
def is_postgres() -> bool:
    return _postgres_url() is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _postgres_url() is not None:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set P2PLEND_TEST_DATABASE_URL)")
    for item in items:
        if item.get_closest_marker("postgres_only"):
            item.add_marker(skip)


def _pg_url_for(base: str, database: str) -> str:
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def _pg_admin(base: str, *statements: str) -> None:
    admin: Engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()
