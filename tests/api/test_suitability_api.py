"""Risk assessment API: questionnaire, submit, my result (R15)."""

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from tests.api.helpers import sign_in
from tests.builders import answers_scoring, make_user

PHONE = "13800138000"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def investor(api: TestClient, session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    return sign_in(api, PHONE)


def test_questionnaire_is_public_and_hides_points(api: TestClient) -> None:
    zh = api.get("/api/v1/risk-assessment/questionnaire")
    en = api.get("/api/v1/risk-assessment/questionnaire", params={"locale": "en-US"})
    assert zh.status_code == en.status_code == 200
    assert zh.json()["locale"] == "zh" and en.json()["locale"] == "en"
    assert len(zh.json()["questions"]) == 10
    assert zh.json()["questions"][0]["text"] == "您的年龄是？"
    assert "points" not in zh.text


def test_unsupported_locale(api: TestClient) -> None:
    response = api.get("/api/v1/risk-assessment/questionnaire", params={"locale": "fr"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "unsupported_locale"


def test_take_the_assessment_then_see_it(api: TestClient, investor: dict[str, str]) -> None:
    before = api.get("/api/v1/me/risk-assessment", headers=investor)
    assert before.json() == {"status": "none", "assessment": None}

    taken = api.post("/api/v1/me/risk-assessment", headers=investor, json={"answers": answers_scoring(72)})
    assert taken.status_code == 201, taken.text
    body = taken.json()
    assert (body["tier"], body["tier_label"], body["score"]) == ("C4", "C4 成长型", 72)
    assert (body["assessed_on"], body["valid_until"], body["valid"]) == ("2026-11-28", "2027-11-27", True)

    mine = api.get("/api/v1/me/risk-assessment", headers=investor).json()
    assert mine["status"] == "valid" and mine["assessment"]["tier"] == "C4"


def test_expired_assessment_shows_as_expired(
    api: TestClient, investor: dict[str, str], business_clock: clock.FixedClock
) -> None:
    api.post("/api/v1/me/risk-assessment", headers=investor, json={"answers": answers_scoring(40)})
    business_clock.set_business_date(date(2027, 11, 28))
    headers = sign_in(api, PHONE)  # the first session has timed out by then
    mine = api.get("/api/v1/me/risk-assessment", headers=headers).json()
    assert mine["status"] == "expired" and mine["assessment"]["valid"] is False


def test_incomplete_answers_name_the_question(api: TestClient, investor: dict[str, str]) -> None:
    answers = answers_scoring(60)
    del answers["horizon"]
    response = api.post("/api/v1/me/risk-assessment", headers=investor, json={"answers": answers})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["details"]["question"] == "horizon"


def test_assessment_needs_sign_in(api: TestClient) -> None:
    response = api.post("/api/v1/me/risk-assessment", json={"answers": {}})
    assert response.status_code == 401
