"""资金流水 pages: newest first, never cutting an entry's lines across two pages."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.ledger import service as ledger
from p2plend.ledger.service import CUSTODIAN_CLEARING, user_available, user_frozen
from p2plend.web.routes.account import history_page
from tests import builders
from tests.web.conftest import WebUser, sign_in


def _entries(session: Session, user_id: int, count: int) -> None:
    """``count`` deposits, each followed by a freeze (two lines for this user)."""
    ledger.open_user_accounts(session, user_id)
    for n in range(count):
        ledger.transfer(
            session,
            kind="deposit",
            source=CUSTODIAN_CLEARING,
            destination=user_available(user_id),
            amount=1000,
            idempotency_key=f"test:deposit:{n}",
        )
        ledger.transfer(
            session,
            kind="withdrawal_freeze",
            source=user_available(user_id),
            destination=user_frozen(user_id),
            amount=100,
            idempotency_key=f"test:freeze:{n}",
        )
    session.flush()


def test_pages_cover_every_line_once_and_keep_entries_whole(session: Session) -> None:
    user = builders.make_user(session)
    _entries(session, user.id, 7)  # 7 one-line + 7 two-line entries = 21 lines
    seen: list[tuple[int, str]] = []
    before = None
    pages = 0
    while True:
        page = history_page(session, user.id, before=before, size=4)
        pages += 1
        ids = [line.entry_id for line in page.lines]
        assert ids == sorted(ids, reverse=True)
        seen += [(line.entry_id, line.account_kind) for line in page.lines]
        if page.next_before is None:
            break
        # an entry never continues on the next page
        assert all(line.entry_id >= page.next_before for line in page.lines)
        before = page.next_before
    assert len(seen) == 21 and len(set(seen)) == 21
    assert pages > 5


def test_history_page_of_a_user_without_accounts_is_empty(session: Session) -> None:
    user = builders.make_user(session)
    page = history_page(session, user.id, before=None, size=20)
    assert page.lines == [] and page.next_before is None


def test_load_more_is_an_htmx_fragment(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = make_web_user()
    with session_factory() as session:
        _entries(session, user.user_id, 15)  # 45 lines
        session.commit()
    sign_in(client, user)
    first = client.get("/account/history").text
    found = re.search(r'hx-get="/account/history\?before=(\d+)"', first)
    assert found is not None and first.count("<tr data-entry=") == 20
    more = client.get(
        f"/account/history?before={found.group(1)}",
        headers={"HX-Request": "true", "HX-Target": "history-more"},
    )
    assert "<html" not in more.text and more.text.count("<tr data-entry=") in (19, 20)  # entries whole
    assert 'id="history-more"' in more.text
