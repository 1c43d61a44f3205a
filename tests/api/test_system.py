"""Health, metrics, the OpenAPI document and the error format."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.server import create_app


def test_healthz_reaches_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "p2plend_http_requests_total" in response.text
    assert 'route="/healthz"' in response.text


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"


def test_unknown_path_uses_the_error_format(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_document_describes_money_as_strings(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"] == "p2plend API"
    assert "Idempotency-Key" in spec["info"]["description"]


def test_openapi_document_has_every_domain_and_unique_operation_ids(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    operation_ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path in (
        "/api/v1/auth/login",
        "/api/v1/me/risk-assessment",
        "/api/v1/deposits",
        "/api/v1/withdrawals",
    ):
        assert path in spec["paths"], path
    for path in ("/api/v1/me/messages", "/api/v1/staff/audit", "/api/v1/staff/custody/reconciliations"):
        assert path in spec["paths"], path


def test_simulated_bank_is_not_mounted_in_production(session_factory: sessionmaker[Session]) -> None:
    settings = get_settings().model_copy(update={"environment": "production"})
    with pytest.raises(RuntimeError, match="custodian"):
        create_app(settings, session_factory)
    url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
    bank = custody.simulated_custodian(url)  # stands for the real bank's adapter here
    try:
        paths = set(create_app(settings, session_factory, bank).openapi()["paths"])
    finally:
        bank.close()
    assert "/api/v1/deposits" in paths
    assert not any(path.startswith("/sim-bank") for path in paths)
