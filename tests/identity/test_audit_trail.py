"""Security events and staff acts reach the audit log (R17), without personal data in clear."""

import pytest
from sqlalchemy.orm import Session

from p2plend.audit import service as audit
from p2plend.config import get_settings
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.errors import RecordedRefusal
from tests.builders import (
    DEFAULT_PASSWORD,
    bind_card,
    make_staff,
    make_user,
    make_verified_user,
    valid_id_number,
)

PHONE = "13800138000"


def actions_about(session: Session, user_id: int) -> list[str]:
    return [r.action for r in reversed(audit.list_records(session, object_type="user", object_id=user_id))]


def test_sign_in_failures_and_lock_out_are_recorded(session: Session) -> None:
    user = make_user(session, phone=PHONE)
    session.commit()
    for _ in range(get_settings().login_max_failures):
        with pytest.raises(RecordedRefusal):
            identity.login(
                session, phone=PHONE, password="wrong-password-1", totp_code=None, client="web", ip="::1"
            )
        session.commit()
    actions = actions_about(session, user.id)
    assert actions.count("auth.login_failed") == get_settings().login_max_failures - 1
    assert actions[-1] == "auth.locked_out"
    assert audit.verify(session) == []


def test_kyc_card_and_role_changes_are_recorded_masked(session: Session) -> None:
    admin, _ = make_staff(session)
    number = valid_id_number()
    user = make_verified_user(session, id_number=number)
    card_id = bind_card(session, user.id)
    identity.add_role(session, actor_id=admin.id, user_id=user.id, role="borrower")
    assert {"kyc.verified", "role.granted"} <= set(actions_about(session, user.id))
    card_records = audit.list_records(session, object_type="bank_card", object_id=card_id)
    assert [r.action for r in card_records] == ["card.bound"]
    card_number = identity.bound_card(session, user.id, card_id).card_number
    everything = str([r.details for r in audit.list_records(session, limit=500)])
    assert number not in everything and card_number not in everything and "张三" not in everything


def test_an_id_number_already_used_is_recorded_although_refused(session: Session) -> None:
    number = valid_id_number()
    make_verified_user(session, id_number=number)
    intruder = make_user(session)
    session.commit()
    with pytest.raises(DomainError) as excinfo:
        identity.verify_real_name(session, intruder.id, name="张三", id_number=number)
    assert isinstance(excinfo.value, RecordedRefusal)
    session.commit()
    assert actions_about(session, intruder.id)[-1] == "kyc.refused_id_taken"


def test_successful_sign_in_is_recorded(session: Session) -> None:
    user = make_user(session, phone=PHONE)
    result = identity.login(
        session, phone=PHONE, password=DEFAULT_PASSWORD, totp_code=None, client="api", ip=None
    )
    records = audit.list_records(session, object_type="auth_session", object_id=result.session_id)
    assert [(r.action, r.actor_id) for r in records] == [("auth.login", user.id)]
