"""Staff pages: 对账 (reconciliation), 异常回调 (custody anomalies), 审计日志 (the audit log)."""

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.custody import service as custody
from p2plend.custody.port import TransferLeg
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.custody.simulated.models import BankSubAccount, BankTransaction
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from tests import builders
from tests.audit.test_audit import bypass_guards
from tests.web.conftest import WebUser, csrf_of, next_totp_step, sign_in
from tests.web.test_pages import assert_translated

STAFF_PAGES = ["/staff/reconciliation", "/staff/custody/anomalies", "/staff/audit"]

MakeUser = Callable[..., WebUser]


def sign_in_staff(client: TestClient, make_web_user: MakeUser, *roles: Role) -> WebUser:
    staff = make_web_user(staff=True, roles=roles)
    assert staff.authenticator is not None
    next_totp_step()
    sign_in(client, staff, totp_code=staff.authenticator.at(clock.now()))
    return staff


def bank_of(client: TestClient) -> SimulatedBank:
    app: Any = client.app
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


def customer_with_money(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session], amount: int
) -> WebUser:
    """A verified customer whose deposit the app's simulated bank has paid and called back."""
    customer = make_web_user(verified=True, card=True)
    bank = bank_of(client)
    with session_factory.begin() as session:
        [card] = identity.list_cards(session, customer.user_id)
        order_no = custody.start_deposit(
            session, customer.user_id, amount=amount, card_id=card.id, custodian=bank
        ).order_no
    bank.confirm_deposit_payment(order_no)
    return customer


def sub_account_of(session_factory: sessionmaker[Session], user_id: int) -> str:
    with session_factory() as session:
        account = custody.custody_account_of(session, user_id)
        assert account is not None
        return account.sub_account_no


def run_count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return len(custody.reconciliation_runs(session))


def reconcile(client: TestClient, day: str, **extra: str) -> Any:
    page = client.get("/staff/reconciliation")
    assert page.status_code == 200
    return client.post("/staff/reconciliation", data={"csrf_token": csrf_of(page.text), "day": day, **extra})


# --- 对账 ------------------------------------------------------------------------------------------


def test_finance_reconciles_today_and_sees_no_difference(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    customer_with_money(client, make_web_user, session_factory, 123_456)
    staff = sign_in_staff(client, make_web_user, Role.FINANCE)
    home = client.get("/staff").text
    assert "/staff/reconciliation" in home and "/staff/custody/anomalies" in home
    assert "/staff/audit" not in home and "/staff/users" not in home  # finance holds neither

    page = client.get("/staff/reconciliation")
    assert page.status_code == 200 and "尚无对账记录" in page.text
    assert f'value="{clock.today().isoformat()}"' in page.text  # the day defaults to today

    response = reconcile(client, clock.today().isoformat())
    assert response.status_code == 303
    run_page_url = response.headers["location"]
    assert re.fullmatch(r"/staff/reconciliation/\d+", run_page_url)
    run_page = client.get(run_page_url)
    assert run_page.status_code == 200
    assert "无差异" in run_page.text
    assert 'data-testid="platform-total">¥1,234.56<' in run_page.text
    assert 'data-testid="bank-total">¥1,234.56<' in run_page.text

    listing = client.get("/staff/reconciliation").text
    assert f'href="{run_page_url}"' in listing and "¥1,234.56" in listing
    with session_factory() as session:
        [run] = custody.reconciliation_runs(session)
        assert (run.business_date, run.run_by, run.difference_count) == (clock.today(), staff.user_id, 0)
        [record] = audit.list_records(session, object_type="reconciliation", object_id=run.id)
        assert (record.action, record.actor_id) == ("custody.reconciled", staff.user_id)


@pytest.mark.corrupts_books
def test_a_difference_at_the_bank_shows_on_the_run_page_to_the_fen(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    customer = customer_with_money(client, make_web_user, session_factory, 10_000)
    sub = sub_account_of(session_factory, customer.user_id)
    with bank_of(client).session_factory.begin() as bank_session:
        account_id = bank_session.query(BankSubAccount.id).filter_by(account_no=sub).scalar()
        bank_session.execute(
            update(BankSubAccount).where(BankSubAccount.id == account_id).values(balance=10_001)
        )
        bank_session.execute(
            update(BankTransaction).where(BankTransaction.sub_account_id == account_id).values(amount=10_001)
        )
    sign_in_staff(client, make_web_user, Role.FINANCE)
    response = reconcile(client, clock.today().isoformat())
    assert response.status_code == 303
    run_page = client.get(response.headers["location"])
    assert "无差异" not in run_page.text and "发现 1 笔差异" in run_page.text
    table = run_page.text.split('data-testid="reconciliation-differences"', 1)[1]
    row = re.search(r"<tr>\s*<td[^>]*>" + re.escape(sub) + r"</td>(.*?)</tr>", table, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[0].strip() == f"用户 {customer.user_id}"
    assert cells[1:] == ["¥100.00", "¥100.01", "<strong>+¥0.01</strong>"]
    listing = client.get("/staff/reconciliation").text
    assert "<strong>1</strong>" in listing  # the run's difference count


@pytest.mark.parametrize(
    ("day", "message"),
    [
        ("not-a-date", "请输入有效日期"),
        ("2026-02-30", "请输入有效日期"),
        ("28/11/2026", "请输入有效日期"),
        ("", "请输入有效日期"),
        ("2026-11-29", "对账日期不能晚于当前营业日 2026-11-28"),
    ],
)
def test_a_bad_date_shows_an_error_and_stores_no_run(
    client: TestClient,
    make_web_user: MakeUser,
    session_factory: sessionmaker[Session],
    day: str,
    message: str,
) -> None:
    sign_in_staff(client, make_web_user, Role.FINANCE)
    response = reconcile(client, day)
    assert response.status_code == 422
    assert message in response.text and 'aria-invalid="true"' in response.text
    assert run_count(session_factory) == 0


def test_run_pages_that_do_not_exist(client: TestClient, make_web_user: MakeUser) -> None:
    sign_in_staff(client, make_web_user, Role.FINANCE)
    missing = client.get("/staff/reconciliation/999")
    assert missing.status_code == 404 and "页面不存在" in missing.text
    for bad in ("abc", "0", "-1", str(2**63), "1.5"):
        response = client.get(f"/staff/reconciliation/{bad}")
        assert response.status_code in (400, 404), bad
        assert "<html" in response.text


def test_reconcile_needs_the_csrf_token(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    sign_in_staff(client, make_web_user, Role.FINANCE)
    response = client.post("/staff/reconciliation", data={"day": clock.today().isoformat()})
    assert response.status_code == 403 and "请求已过期" in response.text
    assert run_count(session_factory) == 0


# --- 异常回调 -----------------------------------------------------------------------------------------


def test_open_anomalies_are_listed(client: TestClient, make_web_user: MakeUser) -> None:
    sign_in_staff(client, make_web_user, Role.FINANCE)
    assert "没有未处理的异常回调" in client.get("/staff/custody/anomalies").text
    bank = bank_of(client)
    bank.resend_callback(
        "D20261128NOSUCHORDER", type="deposit", status="succeeded", sub_account="SA0", amount=500, fee=0
    )
    bank.deliver_pending()
    page = client.get("/staff/custody/anomalies")
    assert page.status_code == 200
    assert "未知订单" in page.text and "D20261128NOSUCHORDER" in page.text
    assert "¥5.00" in page.text and "SA0" in page.text
    english = client.get("/staff/custody/anomalies?lang=en")
    assert "Unknown order" in english.text
    assert_translated(english.text, "en")


# --- who may see what ------------------------------------------------------------------------------


def test_customers_get_403_on_every_staff_page(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, make_web_user())
    for page in [*STAFF_PAGES, "/staff/reconciliation/1"]:
        response = client.get(page)
        assert response.status_code == 403 and "无权访问" in response.text, page
    token = csrf_of(client.get("/account").text)
    response = client.post(
        "/staff/reconciliation", data={"csrf_token": token, "day": clock.today().isoformat()}
    )
    assert response.status_code == 403
    assert run_count(session_factory) == 0


def test_staff_without_the_permission_get_403(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    sign_in_staff(client, make_web_user, Role.CUSTOMER_SERVICE)
    home = client.get("/staff").text
    assert all(page not in home for page in STAFF_PAGES)
    for page in STAFF_PAGES:
        response = client.get(page)
        assert response.status_code == 403 and "无权访问" in response.text, page
    token = csrf_of(home)
    response = client.post(
        "/staff/reconciliation", data={"csrf_token": token, "day": clock.today().isoformat()}
    )
    assert response.status_code == 403
    assert run_count(session_factory) == 0


def test_staff_without_an_authenticator_are_sent_to_enrol(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_staff(session, phone=phone, roles=[Role.FINANCE, Role.COMPLIANCE], with_totp=False)
    sign_in(client, WebUser(0, phone, builders.DEFAULT_PASSWORD))
    for page in [*STAFF_PAGES, "/staff/reconciliation/1"]:
        assert client.get(page).headers["location"] == "/security/2fa", page
    token = csrf_of(client.get("/security/2fa").text)
    response = client.post(
        "/staff/reconciliation", data={"csrf_token": token, "day": clock.today().isoformat()}
    )
    assert response.headers["location"] == "/security/2fa"
    assert run_count(session_factory) == 0


def test_compliance_reads_the_audit_log_but_does_not_reconcile(
    client: TestClient, make_web_user: MakeUser
) -> None:
    sign_in_staff(client, make_web_user, Role.COMPLIANCE)
    home = client.get("/staff").text
    assert "/staff/audit" in home and "/staff/reconciliation" not in home
    assert client.get("/staff/reconciliation").status_code == 403
    assert client.get("/staff/custody/anomalies").status_code == 403


# --- 审计日志 -----------------------------------------------------------------------------------------


def _record(session: Session, actor_id: int | None, object_id: str, action: str) -> audit.AuditRecord:
    return audit.record(
        session,
        actor_id=actor_id,
        action=action,
        object_type="withdrawal",
        object_id=object_id,
        details={"amount_fen": 10_000, "memo": "提现"},
    )


def page_words(page: str) -> str:
    """The page without the audit records' table, whose action codes (``totp.enabled``) are data
    that may look like catalogue keys."""
    head, found, rest = page.partition('data-testid="audit-records"')
    return head + rest.split("</table>", 1)[1] if found else page


def records_on(html: str) -> list[int]:
    if 'data-testid="audit-records"' not in html:
        return []
    table = html.split('data-testid="audit-records"', 1)[1].split("</table>", 1)[0]
    return [int(n) for n in re.findall(r"<tr>\s*<td>(\d+)</td>", table)]


def test_compliance_sees_filters_and_verifies_the_audit_log(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    officer = sign_in_staff(client, make_web_user, Role.COMPLIANCE)
    with session_factory.begin() as session:
        reviewed = _record(session, officer.user_id, "W1", "withdrawal.reviewed")
        system = _record(session, None, "W2", "withdrawal.settled")
    page = client.get("/staff/audit")
    assert page.status_code == 200
    shown = records_on(page.text)
    assert shown == sorted(shown, reverse=True) and {reviewed.id, system.id} <= set(shown)
    assert "withdrawal.reviewed" in page.text and "withdrawal:W1" in page.text
    assert '{"amount_fen":10000,"memo":"提现"}' in html.unescape(page.text)  # Chinese kept as written
    verification = page.text.split('data-testid="audit-verification"', 1)[1].split("</section>", 1)[0]
    assert "审计日志完整" in verification

    by_object = client.get("/staff/audit?object_type=withdrawal&object_id=W2")
    assert records_on(by_object.text) == [system.id]
    assert "系统" in by_object.text  # no actor: the system
    by_actor = client.get(f"/staff/audit?actor_id={officer.user_id}&object_type=withdrawal&object_id=")
    assert records_on(by_actor.text) == [reviewed.id]
    nothing = client.get("/staff/audit?object_type=withdrawal&object_id=W404")
    assert records_on(nothing.text) == [] and "没有符合条件的审计记录" in nothing.text

    english = client.get("/staff/audit?lang=en")
    assert "The audit log is intact" in english.text
    assert_translated(page_words(english.text), "en")


def test_the_audit_log_pages_newest_first(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    officer = sign_in_staff(client, make_web_user, Role.COMPLIANCE)
    with session_factory.begin() as session:
        ids = [_record(session, officer.user_id, "W7", f"withdrawal.step{i}").id for i in range(60)]
    first = client.get("/staff/audit?object_id=W7&object_type=withdrawal")
    assert records_on(first.text) == ids[::-1][:50]
    found = re.search(r'href="(/staff/audit\?[^"]+)" data-testid="audit-next"', first.text)
    assert found is not None
    next_url = found.group(1).replace("&amp;", "&")
    assert f"before_id={ids[10]}" in next_url and "object_id=W7" in next_url
    second = client.get(next_url)
    assert records_on(second.text) == ids[::-1][50:]
    assert 'data-testid="audit-next"' not in second.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("actor_id=abc", "请输入正整数编号"),
        ("actor_id=-1", "请输入正整数编号"),
        ("actor_id=1.5", "请输入正整数编号"),
        (f"actor_id={2**63}", "请输入正整数编号"),
        ("actor_id=%EF%BC%91", "请输入正整数编号"),  # a full-width digit
        ("before_id=x", "请输入正整数编号"),
        ("object_type=user%00", "不能包含控制字符"),  # PostgreSQL refuses NUL in text
        ("object_id=%00", "不能包含控制字符"),
    ],
)
def test_bad_audit_filters_show_a_message(
    client: TestClient, make_web_user: MakeUser, query: str, message: str
) -> None:
    sign_in_staff(client, make_web_user, Role.COMPLIANCE)
    response = client.get(f"/staff/audit?{query}")
    assert response.status_code == 422
    assert message in response.text and records_on(response.text) == []


def test_overlong_audit_filters_are_a_bad_request_page(client: TestClient, make_web_user: MakeUser) -> None:
    sign_in_staff(client, make_web_user, Role.COMPLIANCE)
    response = client.get(f"/staff/audit?object_type={'x' * 33}")
    assert response.status_code == 400 and "请求无效" in response.text


@pytest.mark.corrupts_books
def test_the_verification_panel_names_a_tampered_record(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session], is_postgres: bool
) -> None:
    officer = sign_in_staff(client, make_web_user, Role.COMPLIANCE)
    with session_factory() as session:
        record = _record(session, officer.user_id, "W9", "withdrawal.reviewed")
        session.commit()
        bypass_guards(session, is_postgres, "audit_records")
        session.execute(
            text("UPDATE audit_records SET action = 'withdrawal.approved' WHERE id = :id"), {"id": record.id}
        )
        session.commit()
    page = client.get("/staff/audit")
    verification = page.text.split('data-testid="audit-verification"', 1)[1].split("</section>", 1)[0]
    assert "完整性校验发现 1 处问题" in verification
    assert "record_hash" in verification and f"withdrawal:W9#1 (record {record.id})" in verification


def test_the_reconciliation_page_lists_voided_bank_instructions(
    client: TestClient,
    make_web_user: MakeUser,
    session_factory: sessionmaker[Session],
    business_clock: clock.FixedClock,
) -> None:
    """An orphan made by hand: the bank moved money between two customers, nothing recorded it."""
    payer = customer_with_money(client, make_web_user, session_factory, 10_000)
    payee = customer_with_money(client, make_web_user, session_factory, 10_000)
    bank = bank_of(client)
    legs = [
        TransferLeg(
            sub_account_of(session_factory, payer.user_id),
            sub_account_of(session_factory, payee.user_id),
            2_500,
        )
    ]
    bank.transfer("DSB999", legs)
    business_clock.advance(custody.SWEEP_GRACE + timedelta(minutes=1))
    custody.sweep_orphaned_instructions(session_factory, bank, now=clock.now())
    sign_in_staff(client, make_web_user, Role.FINANCE)

    page = client.get("/staff/reconciliation").text

    voided = page.split('data-testid="voided-instructions"', 1)[1].split("</table>", 1)[0]
    assert "DSB999" in voided and "¥25.00" in voided and "REVDSB999" in voided and "已冲回" in voided


# --- both languages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_staff_pages_render_in_both_languages(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session], locale: str
) -> None:
    customer_with_money(client, make_web_user, session_factory, 5_000)
    sign_in_staff(client, make_web_user, Role.FINANCE, Role.COMPLIANCE)
    run_url = reconcile(client, clock.today().isoformat()).headers["location"]
    for page in ["/staff", *STAFF_PAGES, run_url]:
        response = client.get(f"{page}?lang={locale}")
        assert response.status_code == 200, page
        assert_translated(page_words(response.text), locale)
    english = client.get(f"{run_url}?lang=en").text
    assert "No difference" in english and "Reconciliation #" in english
