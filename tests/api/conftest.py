"""API fixtures: the real app (the server's composition root) on the test's database."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.config import get_settings
from p2plend.server import create_app


@pytest.fixture
def app(session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(get_settings(), session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a bug must show as the 500 a client would see.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
