"""R47 on the pages: a person's name, resident ID, phone and card appear masked, never in full."""

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.identity import service as identity
from p2plend.suitability import service as suitability
from tests import builders
from tests.web.conftest import WebUser, open_custody, sign_in
from tests.web.test_pages import CUSTOMER_PAGES

NAME = "欧阳明月"


def test_no_page_shows_personal_data_in_full(
    client: TestClient, session_factory: sessionmaker[Session], make_web_user: Callable[..., WebUser]
) -> None:
    """R47: the owner's own pages show 欧***, 110***********1234, 138****0001, 6222 **** **** 3446."""
    user = make_web_user()
    id_number = builders.valid_id_number(birth=builders.adult_birth_date())
    card = builders.valid_card_number()
    with session_factory() as session:
        identity.verify_real_name(session, user.user_id, name=NAME, id_number=id_number)
        open_custody(session, user.user_id)
        identity.bind_card(session, user.user_id, card_number=card, bank_name="中国银行", holder_name=NAME)
        suitability.submit_assessment(session, user.user_id, builders.answers_scoring(60))
        session.commit()
    sign_in(client, user)
    secrets = {
        "name": NAME,
        "id number": id_number,
        "phone": user.phone,
        "phone (E.164)": "+86" + user.phone,
        "card": card,
        "card (grouped)": " ".join(card[i : i + 4] for i in range(0, len(card), 4)),
    }
    pages = [*CUSTOMER_PAGES, "/", "/demo/sms"]
    for locale in ("zh", "en"):
        for page in pages:
            html = client.get(f"{page}?lang={locale}").text
            for what, value in secrets.items():
                assert value not in html, f"{page} shows the {what} in full"
    account = client.get("/account").text
    assert "欧***" in account
    assert f"110***********{id_number[-4:]}" in account
    assert f"{user.phone[:3]}****{user.phone[-4:]}" in account
    assert f"{card[:4]} **** **** {card[-4:]}" in account
