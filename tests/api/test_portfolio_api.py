"""分散投资 and 为您推荐 API: plans (Idempotency-Key, refusals), concentration, recommendations."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.marketplace import service as marketplace
from tests import builders, lending
from tests.api.helpers import sign_in
from tests.portfolio.test_concentration import _book

Y = 100
PLAN = {"amount": "500.00", "min_rate": "0.08", "max_per_loan": "300.00", "grades": ["B"]}


def _headers(client: TestClient, session_factory: sessionmaker[Session], user_id: int) -> dict[str, str]:
    with session_factory() as session:
        phone = identity.phone_of(session, user_id)
    return sign_in(client, phone)


def _market(app: FastAPI, session_factory: sessionmaker[Session]) -> tuple[int, list[int]]:
    bank = app.state.custodian
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=2_000 * Y)
    loans = [
        lending.open_listing(session_factory, lending.listing_terms(borrower, annual_rate=rate))
        for rate in ("0.10", "0.12", "0.06")
    ]
    return investor, loans


def test_create_list_and_read_a_plan(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    investor, (b10, b12, b06) = _market(app, session_factory)
    headers = _headers(client, session_factory, investor) | {"Idempotency-Key": "plan-0001"}
    created = client.post("/api/v1/me/portfolio-plans", json=PLAN, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["amount"], body["placed"], body["unplaced"], body["status"]) == (
        "500.00",
        "500.00",
        "0.00",
        "complete",
    )
    assert (body["min_rate"], body["max_per_loan"], body["grades"], body["matching_listings"]) == (
        "0.08",
        "300.00",
        ["B"],
        2,
    )
    # 100 each, then 12 % first: 300 / 200; the 6 % listing is below the minimum rate.
    assert [(line["loan_id"], line["amount"], line["outcome"]) for line in body["lines"]] == [
        (b12, "300.00", "placed"),
        (b10, "200.00", "placed"),
    ]
    assert all(line["bid_id"] for line in body["lines"])
    # A retry with the same key answers the same and places nothing more.
    again = client.post("/api/v1/me/portfolio-plans", json=PLAN, headers=headers)
    assert (again.status_code, again.json()) == (201, body)
    reused = client.post("/api/v1/me/portfolio-plans", json=PLAN | {"amount": "600.00"}, headers=headers)
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    with session_factory() as session:
        assert marketplace.get_loan(session, b12).funded == 300 * Y
        assert marketplace.get_loan(session, b06).funded == 0
    plain = _headers(client, session_factory, investor)
    listed = client.get("/api/v1/me/portfolio-plans", headers=plain).json()
    assert [p["id"] for p in listed] == [body["id"]]
    one = client.get(f"/api/v1/me/portfolio-plans/{body['id']}", headers=plain)
    assert one.json() == body


def test_plan_refusals(app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]) -> None:
    investor, _ = _market(app, session_factory)
    headers = _headers(client, session_factory, investor)
    bad = client.post("/api/v1/me/portfolio-plans", json=PLAN | {"max_per_loan": "250.00"}, headers=headers)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_portfolio_plan")
    assert bad.json()["error"]["details"] == {"field": "max_per_loan"}
    rate = client.post("/api/v1/me/portfolio-plans", json=PLAN | {"min_rate": "8%"}, headers=headers)
    assert rate.json()["error"]["details"] == {"field": "min_rate"}
    none = client.post("/api/v1/me/portfolio-plans", json=PLAN | {"grades": ["HR"]}, headers=headers)
    assert (none.status_code, none.json()["error"]["code"]) == (409, "portfolio_plan_unplaceable")
    poor = client.post("/api/v1/me/portfolio-plans", json=PLAN | {"amount": "3000.00"}, headers=headers)
    assert (poor.status_code, poor.json()["error"]["code"]) == (409, "insufficient_funds")
    extra = client.post("/api/v1/me/portfolio-plans", json=PLAN | {"source": "auto"}, headers=headers)
    assert extra.status_code == 422
    assert client.get("/api/v1/me/portfolio-plans", headers=headers).json() == []


def test_plans_are_private(app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]) -> None:
    investor, _ = _market(app, session_factory)
    created = client.post(
        "/api/v1/me/portfolio-plans", json=PLAN, headers=_headers(client, session_factory, investor)
    )
    stranger = lending.make_investor(session_factory, app.state.custodian, balance=0)
    other = client.get(
        f"/api/v1/me/portfolio-plans/{created.json()['id']}",
        headers=_headers(client, session_factory, stranger),
    )
    assert (other.status_code, other.json()["error"]["code"]) == (404, "portfolio_plan_not_found")
    assert client.get("/api/v1/me/portfolio-plans").status_code == 401
    with session_factory.begin() as session:
        staff, totp = builders.make_staff(session, roles=(Role.RISK_OFFICER,))
        phone = identity.phone_of(session, staff.id)
    assert (
        client.get("/api/v1/me/recommendations", headers=sign_in(client, phone, totp=totp)).status_code == 403
    )


def test_concentration(app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]) -> None:
    investor, (shop, stock, kit) = _book(session_factory, app.state.custodian)
    body = client.get(
        "/api/v1/me/portfolio/concentration", headers=_headers(client, session_factory, investor)
    ).json()
    assert (body["total_outstanding"], body["threshold"]) == ("5000.00", "0.2000")
    assert body["largest_loan"] == {
        "loan_id": shop,
        "title": "门店装修",
        "grade": "B",
        "borrower_name_masked": "陈**",
        "amount": "3000.00",
        "share": "0.6000",
    }
    assert body["by_grade"] == [
        {"grade": "A", "loans": 1, "amount": "1000.00", "share": "0.2000"},
        {"grade": "B", "loans": 2, "amount": "4000.00", "share": "0.8000"},
    ]
    assert [
        (b["borrower_name_masked"], b["loan_ids"], b["above_threshold"]) for b in body["by_borrower"]
    ] == [
        ("陈**", [shop, stock], True),
        ("王**", [kit], False),
    ]
    assert [b["borrower_name_masked"] for b in body["warnings"]] == ["陈**"]
    assert "borrower_id" not in body["by_borrower"][0]  # investors see masked names, not user ids


def test_recommendations(app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]) -> None:
    investor, (b10, b12, b06) = _market(app, session_factory)
    headers = _headers(client, session_factory, investor)
    plain = client.get("/api/v1/me/recommendations", headers=headers)
    assert plain.status_code == 200, plain.text
    body = plain.json()
    assert (body["tier"], body["preference"]) == ("C5", None)
    assert [item["listing"]["id"] for item in body["items"]] == [b10, b12, b06]  # a tie: by id
    assert body["items"][0]["explanation_en"] == "suits your risk level (C5 Aggressive): a class R3 loan"
    ranked = client.get(
        "/api/v1/me/recommendations",
        params={"term_min": 12, "term_max": 24, "grades": ["A", "B"], "rate_min": "0.11", "limit": 2},
        headers=headers,
    ).json()
    assert ranked["preference"]["source"] == "explicit"
    assert [(i["listing"]["id"], i["preference_points"]) for i in ranked["items"]] == [(b12, 25), (b10, 17)]
    assert ranked["items"][0]["explanation_zh"] == "符合您 12–24 个月、A–B 级、年利率 11%以上的偏好"
    assert (
        ranked["items"][0]["explanation_en"]
        == "matches your 12–24 month, grade A–B, at least 11 % rate preference"
    )
    bad = client.get("/api/v1/me/recommendations", params={"rate_min": "abc"}, headers=headers)
    assert (bad.status_code, bad.json()["error"]["details"]) == (422, {"field": "rate_min"})
