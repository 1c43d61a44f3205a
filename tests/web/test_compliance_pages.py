"""合规检查 page with the risk reserve: readers see the report and the reserve, the
administrator opens the reserve's account and switches it on from the forms (refusals are
shown under their field and change nothing), and the report then flags it."""

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.guarantee import reserve
from p2plend.identity.permissions import Role
from tests import builders
from tests.web.conftest import WebUser, csrf_of
from tests.web.test_pages import assert_translated
from tests.web.test_staff import sign_in_staff

MakeUser = Callable[..., WebUser]
PAGE = "/staff/compliance"
ON = {
    "enabled": "on",
    "coverage": "principal",
    "trigger_dpd": "30",
    "accelerate_dpd": "90",
    "contribution_rate": "0.01",
}


def flagged(html: str, code: str) -> str:
    found = re.search(rf'data-check="{code}" data-flagged="(yes|no)"', html)
    assert found is not None, code
    return found.group(1)


def post(client: TestClient, action: str, data: dict[str, str]) -> object:
    return client.post(action, data={"csrf_token": csrf_of(client.get(PAGE).text), **data})


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_readers_see_the_report_clear_and_the_reserve_off(
    client: TestClient, make_web_user: MakeUser, locale: str
) -> None:
    sign_in_staff(client, make_web_user, Role.COMPLIANCE)
    page = client.get(f"{PAGE}?lang={locale}")
    assert page.status_code == 200, page.text
    assert_translated(page.text, locale)
    checks = ("risk_reserve", "borrowing_caps", "guarantor_shortfalls", "partner_claims")
    assert [flagged(page.text, c) for c in checks] == ["no"] * 4
    assert 'data-testid="reserve-form"' not in page.text  # reading only
    assert 'href="/staff/compliance"' in client.get("/staff").text
    refused = client.post("/staff/risk-reserve", data={"csrf_token": csrf_of(page.text), **ON})
    assert refused.status_code == 403
    client.cookies.clear()
    sign_in_staff(client, make_web_user, Role.COLLECTOR)
    assert client.get(PAGE).status_code == 403


def test_the_administrator_opens_and_switches_it_on(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    sign_in_staff(client, make_web_user, Role.ADMIN)
    page = client.get(PAGE)
    assert 'data-testid="reserve-open-form"' in page.text and 'data-testid="reserve-form"' in page.text
    not_open = post(client, "/staff/risk-reserve", ON)
    assert not_open.status_code == 422 and "请先开立风险备付金专户" in not_open.text  # type: ignore[attr-defined]
    bad_phone = post(client, "/staff/risk-reserve/account", {"phone": "12"})
    assert bad_phone.status_code == 422 and 'id="e-phone" >' in bad_phone.text  # type: ignore[attr-defined]
    opened = post(client, "/staff/risk-reserve/account", {"phone": builders.next_phone()})
    assert opened.status_code == 303  # type: ignore[attr-defined]
    bad = post(client, "/staff/risk-reserve", ON | {"contribution_rate": "2"})
    assert bad.status_code == 422 and 'id="e-contribution_rate" >' in bad.text  # type: ignore[attr-defined]
    with session_factory() as session:
        assert reserve.settings_of(session).enabled is False
    saved = post(client, "/staff/risk-reserve", ON)
    assert saved.status_code == 303  # type: ignore[attr-defined]
    page = client.get(saved.headers["location"])  # type: ignore[attr-defined]
    assert flagged(page.text, "risk_reserve") == "yes" and "风险备付金设置已保存" in page.text
    assert 'data-testid="reserve-open-form"' not in page.text  # opened once
    with session_factory() as session:
        terms = reserve.settings_of(session)
        assert (terms.enabled, terms.coverage, terms.trigger_dpd) == (True, "principal", 30)
    off = post(client, "/staff/risk-reserve", ON | {"enabled": ""})
    assert off.status_code == 303  # type: ignore[attr-defined]
    assert flagged(client.get(PAGE).text, "risk_reserve") == "no"
