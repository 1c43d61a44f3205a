from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.server import create_app


@pytest.fixture
def bank(database_url: str, session_factory: sessionmaker[Session]) -> Iterator[SimulatedBank]:
    bank = custody.simulated_custodian(database_url, session_factory)
    yield bank
    bank.close()


@pytest.fixture
def app(session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(get_settings(), session_factory)
