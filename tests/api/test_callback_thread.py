"""The bank's callback endpoint does its database work in a worker thread, never on the
event loop: there, a wait for a row lock (the user's ledger account, held by a request whose
commit itself waits for the loop) froze the whole server process for good — every request
after it hung, and the locks it held stopped the other servers too. Found by
``p2plend chaos bank`` (docs/reliability.md)."""

import asyncio

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from p2plend.custody import service as custody


def test_the_callback_endpoint_handles_the_callback_off_the_event_loop(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[str] = []

    def handle(
        session: Session, body: bytes, signature: str, *, secret: str | None = None
    ) -> custody.CallbackOutcome:
        try:
            asyncio.get_running_loop()
            where.append("event loop")
        except RuntimeError:
            where.append("worker thread")
        return custody.CallbackOutcome("EV1", "D1", "applied")

    monkeypatch.setattr(custody, "handle_callback", handle)
    response = client.post(
        "/api/v1/custody/callbacks", content=b"{}", headers={"X-Custodian-Signature": "0" * 64}
    )

    assert response.status_code == 200
    assert where == ["worker thread"]
