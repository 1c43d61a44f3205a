"""实名认证: resident ID rules (R49), adults only (R14), one ID per account, organisations by USCC."""

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.models import RealNameIdentity
from tests.builders import make_staff, make_user, make_verified_user, valid_id_number

USCC = "91110000600037341L"


def test_verification_stores_encrypted_identity_and_birth_date(session: Session) -> None:
    user = make_user(session)
    number = valid_id_number(birth=date(1990, 5, 17))
    summary = identity.verify_real_name(session, user.id, name="张三丰", id_number=number)
    assert summary.name_masked == "张**"
    assert summary.id_number_masked == number[:3] + "*" * 11 + number[-4:]
    row = session.scalars(select(RealNameIdentity)).one()
    assert row.birth_date == date(1990, 5, 17)
    assert number.encode() not in row.id_number_encrypted
    assert "张三丰".encode() not in row.name_encrypted
    assert identity.verified_identity(session, user.id) == identity.VerifiedIdentity(
        name="张三丰", id_number=number, birth_date=date(1990, 5, 17), document_type="resident_id"
    )
    me = identity.profile(session, user.id)
    assert me.real_name_verified and me.name_masked == "张**"


def test_lowercase_x_check_character_is_normalised(session: Session) -> None:
    number = valid_id_number(birth=date(1990, 1, 1), seq="000")
    candidates = [valid_id_number(birth=date(1990, 1, 1), seq=f"{i:03d}") for i in range(30)]
    with_x = next(n for n in [number, *candidates] if n.endswith("X"))
    user = make_user(session)
    identity.verify_real_name(session, user.id, name="李四", id_number=with_x.lower())
    assert identity.verified_identity(session, user.id).id_number == with_x


def test_bad_check_character_is_refused_r49(session: Session) -> None:
    user = make_user(session)
    number = valid_id_number()
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    with pytest.raises(DomainError) as excinfo:
        identity.verify_real_name(session, user.id, name="张三", id_number=wrong)
    assert excinfo.value.code == "invalid_id_number"


def test_unknown_region_is_refused_r49(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_real_name(session, user.id, name="张三", id_number=valid_id_number(region="990000"))
    assert excinfo.value.code == "invalid_id_number"


def test_under_18_on_the_business_date_is_refused_r14(
    session: Session, business_clock: clock.FixedClock
) -> None:
    user = make_user(session)
    today = clock.today()
    turns_18_tomorrow = date(today.year - 18, today.month, today.day + 1)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_real_name(
            session, user.id, name="张三", id_number=valid_id_number(birth=turns_18_tomorrow)
        )
    assert excinfo.value.code == "underage"
    business_clock.set_business_date(date(today.year, today.month, today.day + 1))
    identity.verify_real_name(
        session, user.id, name="张三", id_number=valid_id_number(birth=turns_18_tomorrow)
    )


def test_one_id_number_per_account(session: Session) -> None:
    number = valid_id_number()
    make_verified_user(session, id_number=number)
    other = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_real_name(session, other.id, name="张三", id_number=number)
    assert excinfo.value.code == "id_number_taken"
    assert excinfo.value.status == 409


def test_an_account_is_verified_once(session: Session) -> None:
    user = make_verified_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_real_name(session, user.id, name="李四", id_number=valid_id_number())
    assert excinfo.value.code == "real_name_already_verified"


@pytest.mark.parametrize("name", ["张", "Zhang3", "张三@", "·张三"])
def test_bad_name_is_refused(session: Session, name: str) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_real_name(session, user.id, name=name, id_number=valid_id_number())
    assert excinfo.value.code == "invalid_name"


def test_foreigner_latin_name_is_accepted(session: Session) -> None:
    user = make_user(session)
    identity.verify_real_name(session, user.id, name="  John   Smith ", id_number=valid_id_number())
    assert identity.verified_identity(session, user.id).name == "John Smith"


def test_verified_identity_requires_verification(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.verified_identity(session, user.id)
    assert excinfo.value.code == "real_name_required"


def test_partner_organisation_is_verified_by_uscc(session: Session) -> None:
    admin, _ = make_staff(session)
    partner = identity.create_partner(
        session,
        actor_id=admin.id,
        phone="13800138000",
        password="secret123",
        name="北京某某融资担保有限公司",
        uscc=USCC,
        roles=["partner_institution", "guarantor"],
    )
    found = identity.verified_identity(session, partner.id)
    assert found == identity.VerifiedIdentity(
        name="北京某某融资担保有限公司", id_number=USCC, birth_date=None, document_type="uscc"
    )
    me = identity.profile(session, partner.id)
    assert me.kind == "organisation" and me.roles == {"partner_institution", "guarantor"}


def test_partner_with_bad_uscc_is_refused(session: Session) -> None:
    with pytest.raises(DomainError) as excinfo:
        identity.create_partner(
            session,
            actor_id=None,
            phone="13800138000",
            password="secret123",
            name="某某公司",
            uscc=USCC[:-1] + "M",
        )
    assert excinfo.value.code == "invalid_id_number"
