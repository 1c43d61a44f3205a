"""借款计算器 and 收益计算器: public GET forms, schedules to the fen, refusals on their fields."""

import re
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from p2plend.web.i18n import translate
from tests.web.test_pages import assert_translated

LOAN = "/calculator/loan"
RETURNS = "/calculator/returns"
R21 = {
    "amount": "12000.00",
    "annual_rate": "12",
    "term": "12",
    "term_unit": "months",
    "method": "equal-installment",
    "start_date": "2026-01-31",
}


def field_error(html: str, name: str) -> str | None:
    """The message shown under field ``name``, or None when its error line is hidden."""
    found = re.search(rf'<p class="field-error" id="e-{name}"\s*(hidden)?>([^<]*)</p>', html)
    assert found is not None, f"no error line for {name}"
    return None if found.group(1) else found.group(2)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_both_pages_render_for_anyone_in_both_languages(client: TestClient, locale: str) -> None:
    for page in (LOAN, RETURNS):
        response = client.get(f"{page}?lang={locale}")
        assert response.status_code == 200, page
        assert_translated(response.text, locale)
        assert 'data-testid="calc-form"' in response.text
        assert 'data-testid="calc-result"' not in response.text  # nothing computed before a submit
        response = client.get(f"{page}?{urlencode({**R21, 'lang': locale})}")
        assert response.status_code == 200, page
        assert_translated(response.text, locale)
        assert 'data-testid="calc-result"' in response.text


def test_the_site_links_both_calculators(client: TestClient) -> None:
    html = client.get("/").text
    assert 'href="/calculator/loan"' in html and 'href="/calculator/returns"' in html


def test_loan_schedule_r21_with_month_end_due_dates(client: TestClient) -> None:
    html = client.get(f"{LOAN}?{urlencode(R21)}").text
    table = html[html.index('data-testid="calc-schedule"') :]
    assert table.count("¥1,066.19") == 11 and "¥1,066.14" in table
    assert "2026-02-28" in table and "2026-03-31" in table and "2027-01-31" in table
    assert re.search(r'data-testid="calc-total-interest">¥794.23<', html)
    assert re.search(r'data-testid="calc-total-payment">¥12,794.23<', html)
    assert 'value="12000.00"' in html  # the form keeps what was typed


def test_loan_schedule_bullet_by_days_and_rate_as_percent(client: TestClient) -> None:
    query = {**R21, "method": "bullet", "term": "90", "term_unit": "days", "start_date": "2026-11-28"}
    html = client.get(f"{LOAN}?{urlencode(query)}").text
    assert re.search(r'data-testid="calc-total-interest">¥355.07<', html)  # R23
    assert "2027-02-26" in html
    query = {**R21, "method": "equal-principal", "annual_rate": "12.0"}
    html = client.get(f"{LOAN}?{urlencode(query)}").text
    assert "¥1,120.00" in html and re.search(r'data-testid="calc-total-interest">¥780.00<', html)  # R22


def test_blank_start_date_is_the_business_date(client: TestClient) -> None:
    html = client.get(f"{LOAN}?{urlencode({**R21, 'start_date': '', 'term': '1'})}").text
    assert "2026-12-28" in html  # one month after 2026-11-28


def test_returns_show_interest_fee_and_net(client: TestClient) -> None:
    """12,000.00 at 12 % for 12 months, interest first, the default 10 % fee: 120.00 interest,
    12.00 fee and 108.00 net each month (R27); principal back at the end."""
    query = {**R21, "method": "interest-first", "fee_rate": "10"}
    html = client.get(f"{RETURNS}?{urlencode(query)}").text
    table = html[html.index('data-testid="calc-returns"') :]
    assert table.count("¥12.00") >= 12 and table.count("¥108.00") >= 11 and "¥12,108.00" in table
    assert re.search(r'data-testid="calc-total-interest">¥1,440.00<', html)
    assert re.search(r'data-testid="calc-total-fee">¥144.00<', html)
    assert re.search(r'data-testid="calc-total-net-interest">¥1,296.00<', html)
    assert re.search(r'data-testid="calc-total-net">¥13,296.00<', html)
    assert translate("zh", "calc.returns.note")[:20] in html  # no promise of returns (R3)


def test_returns_fee_rate_defaults_when_blank_and_may_be_changed(client: TestClient) -> None:
    query = {**R21, "method": "interest-first", "fee_rate": ""}
    assert re.search(r'calc-total-fee">¥144.00<', client.get(f"{RETURNS}?{urlencode(query)}").text)
    query["fee_rate"] = "5"
    assert re.search(r'calc-total-fee">¥72.00<', client.get(f"{RETURNS}?{urlencode(query)}").text)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_refusal_shows_on_its_field_in_the_visitors_language(client: TestClient, locale: str) -> None:
    query = {
        **R21,
        "amount": "10,000",
        "annual_rate": "abc",
        "term": "0",
        "start_date": "2026-02-30",
        "lang": locale,
    }
    response = client.get(f"{LOAN}?{urlencode(query)}")
    assert response.status_code == 422
    html = response.text
    assert field_error(html, "amount") == translate(locale, "error.invalid_amount")
    assert field_error(html, "annual_rate") == translate(locale, "calc.error.annual_rate")
    assert field_error(html, "term") == translate(locale, "calc.error.months")
    assert field_error(html, "start_date") == translate(locale, "calc.error.start_date")
    assert field_error(html, "method") is None
    assert translate(locale, "form.fix_errors") in html
    assert 'data-testid="calc-result"' not in html
    assert 'value="10,000"' in html  # what was typed stays in the form


@pytest.mark.parametrize(
    ("change", "field", "key"),
    [
        ({"term_unit": "days", "term": "90"}, "term", "calc.error.days"),
        ({"method": "bullet", "term_unit": "days", "term": "3651"}, "term", "calc.error.days"),
        ({"term": "361"}, "term", "calc.error.months"),
        ({"term": ""}, "term", "calc.error.term"),
        ({"method": "annuity"}, "method", "calc.error.method"),
        ({"annual_rate": "100"}, "annual_rate", "calc.error.annual_rate"),
        ({"annual_rate": "-1"}, "annual_rate", "calc.error.annual_rate"),
        ({"amount": "1.234"}, "amount", "error.invalid_amount"),
        ({"amount": ""}, "amount", "error.invalid_amount"),
        ({"start_date": "31/01/2026"}, "start_date", "calc.error.start_date"),
    ],
)
def test_single_refusals(client: TestClient, change: dict[str, str], field: str, key: str) -> None:
    response = client.get(f"{LOAN}?{urlencode({**R21, **change, 'lang': 'en'})}")
    assert response.status_code == 422
    assert field_error(response.text, field) == translate("en", key)


def test_returns_refuse_a_bad_fee_rate(client: TestClient) -> None:
    response = client.get(f"{RETURNS}?{urlencode({**R21, 'fee_rate': '100', 'lang': 'en'})}")
    assert response.status_code == 422
    assert field_error(response.text, "fee_rate") == translate("en", "calc.error.fee_rate")
