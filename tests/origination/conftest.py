"""Origination fixtures: the simulated bank (custody accounts), officers, documents in tmp."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.models import User
from tests import builders


@pytest.fixture(autouse=True)
def documents_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploaded documents go to the test's own directory (settings are re-read per test)."""
    path = tmp_path / "documents"
    monkeypatch.setenv("P2PLEND_DOCUMENTS_DIR", str(path))
    return path


@pytest.fixture
def bank(database_url: str, session_factory: sessionmaker[Session]) -> Iterator[SimulatedBank]:
    bank = custody.simulated_custodian(database_url, session_factory)
    yield bank
    bank.close()


@pytest.fixture
def borrower(session: Session, bank: SimulatedBank) -> User:
    return builders.make_borrower(session, bank)


@pytest.fixture
def officer(session: Session) -> User:
    return builders.make_officer(session)[0]


@pytest.fixture
def second_officer(session: Session) -> User:
    return builders.make_officer(session, name="钱审批")[0]
