"""借款申请 pages: borrowers, partners and staff, in Chinese and English; forms work and show refusals."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.origination import scoring
from p2plend.origination import service as origination
from p2plend.web.routes.origination import terms_form_values
from tests import builders
from tests.web.conftest import WebUser, csrf_of, next_totp_step, open_custody, sign_in
from tests.web.test_pages import assert_translated

MakeUser = Callable[..., WebUser]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
APPLICATION: dict[str, str] = {
    "product_code": "credit",
    "amount": "20000",
    "term_value": "12",
    "term_unit": "months",
    "method": "equal_installment",
    "purpose": "home_improvement",
    "purpose_description": "旧房翻新",
    "monthly_income": "15000",
    "employment": "salaried",
    "employment_years": "5",
    "housing": "rent",
    "industry": "信息技术",
    "repayment_source": "工资收入",
    "other_debts_amount": "0",
    "other_debts_count": "0",
    "overdues_6m": "0",
}


@pytest.fixture(autouse=True)
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2PLEND_DOCUMENTS_DIR", str(tmp_path / "documents"))
    monkeypatch.setattr(scoring, "load_model", lambda version=None: builders.FixedScorer("B"))


def _signed_in(client: TestClient, user: WebUser, totp_code: str | None = None) -> None:
    client.cookies.clear()  # whoever was signed in on this browser signs out
    sign_in(client, user, totp_code=totp_code)


def _borrower(client: TestClient, make_web_user: MakeUser) -> WebUser:
    user = make_web_user(verified=True)
    _signed_in(client, user)
    return user


def _staff(client: TestClient, make_web_user: MakeUser, *roles: Role) -> WebUser:
    staff = make_web_user(staff=True, roles=roles or (Role.RISK_OFFICER,))
    assert staff.authenticator is not None
    next_totp_step()
    _signed_in(client, staff, totp_code=staff.authenticator.at(clock.now()))
    return staff


def _post(client: TestClient, page: str, action: str, data: dict[str, str], **kwargs: Any) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data}, **kwargs)


def _apply(client: TestClient, **overrides: str) -> Any:
    return _post(client, "/borrow/apply", "/borrow/apply", APPLICATION | overrides)


def _application_id(response: Any) -> int:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    return int(location.split("/")[-1].split("?")[0])


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_borrower_pages_render_in_both_languages(
    client: TestClient, make_web_user: MakeUser, locale: str
) -> None:
    _borrower(client, make_web_user)
    application_id = _application_id(_apply(client))
    for page in (
        "/borrow/apply",
        "/borrow/apply?product=mortgage",
        "/borrow/apply?product=guaranteed",
        "/borrow/applications",
        f"/borrow/applications/{application_id}",
    ):
        response = client.get(f"{page}{'&' if '?' in page else '?'}lang={locale}")
        assert response.status_code == 200, page
        assert_translated(response.text, locale)
    detail = client.get(f"/borrow/applications/{application_id}?lang={locale}").text
    assert ("审核中" if locale == "zh" else "Under review") in detail


def test_a_borrower_applies_through_the_form(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    user = _borrower(client, make_web_user)
    response = _apply(client)
    application_id = _application_id(response)
    assert "notice=borrow.submitted" in response.headers["location"]
    page = client.get(response.headers["location"]).text
    assert "申请已提交" in page and "¥20,000.00" in page
    with session_factory() as session:
        application = origination.get_application(session, application_id)
        assert (application.borrower_id, application.amount, application.status) == (
            user.user_id,
            2_000_000,
            "under_review",
        )
    listing = client.get("/borrow/applications").text
    assert f"/borrow/applications/{application_id}" in listing


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"purpose_description": "借钱炒股"}, "purpose_description", "借款不得用于股票"),
        ({"amount": "2万"}, "amount", "请输入正确的金额"),
        ({"amount": "500"}, "amount", "借款金额超出该产品的范围"),
        ({"term_value": "十二"}, "term_value", "请输入整数"),
        ({"term_value": "48"}, "term_value", "借款期限超出该产品的范围"),
    ],
)
def test_refusals_show_next_to_their_field_and_store_nothing(
    client: TestClient,
    make_web_user: MakeUser,
    session_factory: sessionmaker[Session],
    overrides: dict[str, str],
    field: str,
    message: str,
) -> None:
    user = _borrower(client, make_web_user)
    response = _apply(client, **overrides)
    assert response.status_code == 422, response.text
    assert f'id="e-{field}" >' in response.text or f'id="e-{field}">' in response.text
    assert message in response.text
    with session_factory() as session:
        assert origination.of_borrower(session, user.user_id) == []


def test_a_duplicate_is_shown_above_the_form(client: TestClient, make_web_user: MakeUser) -> None:
    _borrower(client, make_web_user)
    _application_id(_apply(client))
    again = _apply(client)
    assert again.status_code == 409 and "您已有一笔相同用途的借款申请在处理中" in again.text


def test_documents_upload_download_and_wrong_types(client: TestClient, make_web_user: MakeUser) -> None:
    _borrower(client, make_web_user)
    application_id = _application_id(_apply(client))
    page = f"/borrow/applications/{application_id}"
    uploaded = _post(
        client,
        page,
        f"{page}/documents",
        {"kind": "income_proof"},
        files={"file": ("收入证明.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 303, uploaded.text
    detail = client.get(uploaded.headers["location"]).text
    assert "收入证明.pdf" in detail and "材料已上传" in detail
    [link] = [part.split('"')[0] for part in detail.split(f'href="{page}/documents/')[1:]]
    download = client.get(f"{page}/documents/{link}")
    assert download.status_code == 200 and download.content == PDF
    refused = _post(
        client,
        page,
        f"{page}/documents",
        {"kind": "other"},
        files={"file": ("x.pdf", b"GIF89a....", "image/gif")},
    )
    assert refused.status_code == 422 and "仅支持 PDF、JPG、PNG 文件" in refused.text


def test_the_borrower_withdraws_the_application(client: TestClient, make_web_user: MakeUser) -> None:
    _borrower(client, make_web_user)
    application_id = _application_id(_apply(client))
    page = f"/borrow/applications/{application_id}"
    cancelled = _post(client, page, f"{page}/cancel", {})
    assert cancelled.status_code == 303
    assert "已撤回" in client.get(cancelled.headers["location"]).text
    again = _post(client, page, f"{page}/cancel", {})
    assert again.status_code == 409 and "申请当前的状态不允许此操作" in again.text


def test_others_applications_are_not_found(client: TestClient, make_web_user: MakeUser) -> None:
    _borrower(client, make_web_user)
    application_id = _application_id(_apply(client))
    _borrower(client, make_web_user)  # another person signs in on the same browser
    assert client.get(f"/borrow/applications/{application_id}").status_code == 404


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_staff_pages_render_in_both_languages(
    client: TestClient, make_web_user: MakeUser, locale: str
) -> None:
    _borrower(client, make_web_user)
    application_id = _application_id(_apply(client))
    _staff(client, make_web_user)
    for page in (
        "/staff",
        "/staff/applications",
        "/staff/applications?status=all",
        f"/staff/applications/{application_id}",
        "/staff/applications/new",
        "/staff/products",
        "/staff/products/mortgage",
        "/staff/lpr",
        "/staff/blacklist",
    ):
        response = client.get(f"{page}{'&' if '?' in page else '?'}lang={locale}")
        assert response.status_code == 200, page
        assert_translated(response.text, locale)
    home = client.get(f"/staff?lang={locale}").text
    assert ("审核队列" if locale == "zh" else "Review queue") in home


def test_customers_and_other_staff_are_kept_out(client: TestClient, make_web_user: MakeUser) -> None:
    _borrower(client, make_web_user)
    for page in ("/staff/applications", "/staff/products", "/staff/blacklist", "/partner/referrals"):
        assert client.get(page).status_code == 403, page
    _staff(client, make_web_user, Role.FINANCE)
    for page in ("/staff/applications", "/staff/products", "/staff/blacklist", "/staff/lpr"):
        assert client.get(page).status_code == 403, page


def test_review_request_info_resubmit_verify_and_approve(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    borrower = _borrower(client, make_web_user)
    application_id = _application_id(_apply(client, amount="60000"))
    officer = _staff(client, make_web_user)
    page = f"/staff/applications/{application_id}"
    detail = client.get(page).text
    assert "fixed-test" in detail and "张*" in detail and "张三" not in detail  # masked (R47)
    asked = _post(client, page, f"{page}/decisions", {"action": "request_info", "message": "请补充收入证明"})
    assert asked.status_code == 303
    _signed_in(client, borrower)
    mine = f"/borrow/applications/{application_id}"
    assert "请补充收入证明" in client.get(mine).text
    assert _post(client, mine, f"{mine}/resubmit", {"reply": "已上传"}).status_code == 303
    assert officer.authenticator is not None
    next_totp_step()
    _signed_in(client, officer, totp_code=officer.authenticator.at(clock.now()))
    approve = {"action": "approve", "grade": "B", "annual_rate": "8"}
    needs = _post(client, page, f"{page}/decisions", approve)
    assert needs.status_code == 409 and "批准前须有通过的面审/实地认证记录" in needs.text
    verified = _post(
        client,
        page,
        f"{page}/field-verifications",
        {
            "fv_kind": "site_visit",
            "verified_on": clock.today().isoformat(),
            "result": "pass",
            "notes": "核实住址",
        },
    )
    assert verified.status_code == 303, verified.text
    outside = _post(client, page, f"{page}/decisions", approve | {"annual_rate": "9"})
    assert outside.status_code == 422 and "利率超出该信用等级的定价区间" in outside.text
    bad_rate = _post(client, page, f"{page}/decisions", approve | {"annual_rate": "8%"})
    assert bad_rate.status_code == 422 and "请输入百分比数字" in bad_rate.text
    approved = _post(client, page, f"{page}/decisions", approve)
    assert approved.status_code == 303, approved.text
    final = client.get(approved.headers["location"]).text
    assert "已发布" in final and "已生成借款项目" in final
    with session_factory() as session:
        assert origination.get_application(session, application_id).status == "listed"


def test_reject_with_a_reason(client: TestClient, make_web_user: MakeUser) -> None:
    _borrower(client, make_web_user)
    application_id = _application_id(_apply(client))
    _staff(client, make_web_user)
    page = f"/staff/applications/{application_id}"
    rejected = _post(
        client,
        page,
        f"{page}/decisions",
        {"action": "reject", "reason_code": "high_debt_burden", "note": "负债高"},
    )
    assert rejected.status_code == 303
    text = client.get(f"{page}?lang=en").text
    assert "Declined" in text and "Debt burden too high" in text


def test_four_eyes_on_the_page(client: TestClient, make_web_user: MakeUser) -> None:
    _borrower(client, make_web_user)
    application_id = _application_id(_apply(client, amount="120000", purpose="car"))
    page = f"/staff/applications/{application_id}"
    _staff(client, make_web_user)
    _post(
        client,
        page,
        f"{page}/field-verifications",
        {
            "fv_kind": "interview",
            "verified_on": clock.today().isoformat(),
            "result": "pass",
            "notes": "面审通过",
        },
    )
    first = _post(
        client, page, f"{page}/decisions", {"action": "approve", "grade": "B", "annual_rate": "7.5"}
    )
    assert first.status_code == 303
    assert "待复核" in client.get(page).text
    same = _post(client, page, f"{page}/decisions", {"action": "second_approve"})
    assert same.status_code == 403 and "复核须由另一位风控人员完成" in same.text
    _staff(client, make_web_user)
    second = _post(client, page, f"{page}/decisions", {"action": "second_approve"})
    assert second.status_code == 303 and "已发布" in client.get(page).text


def test_a_new_product_version_through_the_form(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    _staff(client, make_web_user)
    with session_factory() as session:
        current = origination.product_view(session, "credit").current.terms
    values = terms_form_values(current)
    page = "/staff/products/credit"
    unlawful = _post(client, page, f"{page}/versions", values | {"g_HR_fee": "1"})
    assert unlawful.status_code == 422 and "年化综合资金成本将超过一年期 LPR 的 4 倍" in unlawful.text
    typo = _post(client, page, f"{page}/versions", values | {"g_B_rate_max": "8,5"})
    assert typo.status_code == 422 and "请输入百分比数字" in typo.text
    saved = _post(client, page, f"{page}/versions", values | {"amount_max": "150000", "note": "降低上限"})
    assert saved.status_code == 303, saved.text
    text = client.get(saved.headers["location"]).text
    assert "当前条款（第 2 版）" in text and "降低上限" in text
    with session_factory() as session:
        assert origination.product_view(session, "credit").current.terms.amount_max == 15_000_000


def test_a_new_product_through_the_form(client: TestClient, make_web_user: MakeUser) -> None:
    _staff(client, make_web_user)
    page = client.get("/staff/products")
    assert page.status_code == 200
    with_values = {"code": "car-credit", "kind": "credit", "name_zh": "车主贷", "name_en": "Car owner loan"}
    created = _post(client, "/staff/products", "/staff/products", _prefilled(client) | with_values)
    assert created.status_code == 303, created.text
    assert "车主贷" in client.get("/staff/products").text
    taken = _post(client, "/staff/products", "/staff/products", _prefilled(client) | with_values)
    assert taken.status_code == 409 and "产品代码已存在" in taken.text


def _prefilled(client: TestClient) -> dict[str, str]:
    """The values the products page's creation form carries (inputs and checked boxes)."""
    html = client.get("/staff/products").text
    form = html.split('action="/staff/products"')[1].split("</form>")[0]
    values = {
        name: value for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form)
    }
    values |= {name: "on" for name in re.findall(r'<input type="checkbox" name="([^"]+)" checked', form)}
    values.pop("csrf_token", None)
    return values


def test_lpr_page_adds_a_fixing_and_explains_refusals(client: TestClient, make_web_user: MakeUser) -> None:
    _staff(client, make_web_user, Role.OPERATIONS)
    page = client.get("/staff/lpr")
    assert "3%" in page.text and "12%" in page.text
    bad = _post(client, "/staff/lpr", "/staff/lpr", {"effective_date": "2026-02-30", "rate": "2.95"})
    assert bad.status_code == 422 and "请输入有效日期" in bad.text
    saved = _post(client, "/staff/lpr", "/staff/lpr", {"effective_date": "2026-12-21", "rate": "2.95"})
    assert saved.status_code == 303
    assert "2.95%" in client.get("/staff/lpr").text
    again = _post(client, "/staff/lpr", "/staff/lpr", {"effective_date": "2026-12-21", "rate": "2.9"})
    assert again.status_code == 409 and "该日期已有 LPR 报价" in again.text


def test_blacklist_page(client: TestClient, make_web_user: MakeUser) -> None:
    _staff(client, make_web_user)
    number = builders.valid_id_number()
    added = _post(
        client,
        "/staff/blacklist",
        "/staff/blacklist",
        {"id_number": number, "kind": "related_party", "reason": "董事"},
    )
    assert added.status_code == 303
    text = client.get("/staff/blacklist").text
    assert number not in text and number[-4:] in text and "平台关联方" in text
    invalid = _post(
        client,
        "/staff/blacklist",
        "/staff/blacklist",
        {"id_number": "123", "kind": "blacklist", "reason": "x"},
    )
    assert invalid.status_code == 422 and "身份证号码无效" in invalid.text
    entry_id = text.split('action="/staff/blacklist/')[1].split("/")[0]
    removed = _post(client, "/staff/blacklist", f"/staff/blacklist/{entry_id}/remove", {})
    assert removed.status_code == 303 and "已于" in client.get("/staff/blacklist").text


def test_offline_entry_by_staff(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    borrower = make_web_user(verified=True)
    _staff(client, make_web_user)
    page = "/staff/applications/new"
    missing = _post(client, page, page, APPLICATION | {"borrower_id": "999999", "branch_code": "BJ-01"})
    assert missing.status_code == 404 and 'id="e-borrower_id"' in missing.text
    entered = _post(
        client, page, page, APPLICATION | {"borrower_id": str(borrower.user_id), "branch_code": "BJ-01"}
    )
    assert entered.status_code == 303, entered.text
    assert "线下门店" in client.get(entered.headers["location"]).text


def test_a_partner_refers_a_borrower(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    borrower = make_web_user(verified=True)
    phone = builders.next_phone()
    with session_factory() as session:
        partner = builders.make_organisation(session, phone=phone)
        open_custody(session, partner.id)
        session.commit()
        partner_id = partner.id
    sign_in(client, WebUser(partner_id, phone, builders.DEFAULT_PASSWORD))
    page = client.get("/partner/referrals?lang=en")
    assert page.status_code == 200 and "Refer a borrower" in page.text
    assert_translated(page.text, "en")
    unknown = _post(
        client, "/partner/referrals", "/partner/referrals", APPLICATION | {"borrower_phone": "13999999999"}
    )
    assert unknown.status_code == 404 and 'id="e-borrower_phone"' in unknown.text
    referred = _post(
        client, "/partner/referrals", "/partner/referrals", APPLICATION | {"borrower_phone": borrower.phone}
    )
    assert referred.status_code == 303, referred.text
    listing = client.get("/partner/referrals").text
    with session_factory() as session:
        [application] = origination.of_partner(session, partner_id)
        assert application.borrower_id == borrower.user_id
        assert identity.profile(session, borrower.user_id).roles >= {"borrower"}
    assert f"/borrow/applications/{application.id}" in listing
    assert client.get(f"/borrow/applications/{application.id}").status_code == 200  # the referrer may look
