"""Message center API: list my messages, mark one read; nobody else's."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.notifications import service as notifications
from tests.api.helpers import sign_in
from tests.builders import make_user

PHONE, OTHER_PHONE = "13800138000", "13900139000"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_list_and_read_my_messages(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        user = make_user(session, phone=PHONE)
        make_user(session, phone=OTHER_PHONE)
        for amount in ("100.00", "200.00", "300.00"):
            notifications.notify_user(
                session, user_id=user.id, template="deposit_succeeded", params={"amount": amount}
            )
        session.commit()
    mine = sign_in(api, PHONE)

    page = api.get("/api/v1/me/messages", headers=mine, params={"limit": 2})
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["unread_count"] == 3
    assert [m["body"] for m in body["items"]] == [
        "您的充值300.00元已到账，可在存管账户中查看。",
        "您的充值200.00元已到账，可在存管账户中查看。",
    ]
    rest = api.get("/api/v1/me/messages", headers=mine, params={"before_id": body["next_before_id"]}).json()
    assert len(rest["items"]) == 1 and rest["next_before_id"] is None

    first_id = body["items"][0]["id"]
    read = api.post(f"/api/v1/me/messages/{first_id}/read", headers=mine)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = api.get("/api/v1/me/messages", headers=mine, params={"unread_only": True}).json()
    assert unread["unread_count"] == 2 and first_id not in [m["id"] for m in unread["items"]]

    others = sign_in(api, OTHER_PHONE)
    assert api.get("/api/v1/me/messages", headers=others).json()["items"] == []
    stolen = api.post(f"/api/v1/me/messages/{first_id}/read", headers=others)
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "not_found"


def test_messages_need_sign_in(api: TestClient) -> None:
    assert api.get("/api/v1/me/messages").status_code == 401
