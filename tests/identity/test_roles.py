"""Roles, permissions and staff accounts."""

from typing import get_args

import pytest
from sqlalchemy.orm import Session

from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.permissions import ROLE_PERMISSIONS, STAFF_ROLES, Permission, Role, permissions_for
from p2plend.identity.schemas import StaffRole
from tests.builders import make_staff, make_user


def test_every_role_has_permissions_and_staff_permissions_only_for_staff() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    for role, granted in ROLE_PERMISSIONS.items():
        assert granted
        has_staff_permission = any(p.is_staff for p in granted)
        assert has_staff_permission == (role in STAFF_ROLES)


def test_staff_permissions_need_totp() -> None:
    assert permissions_for(frozenset({"admin"}), totp_enabled=False) == {Permission.ACCOUNT_SELF}
    assert Permission.STAFF_USERS_MANAGE in permissions_for(frozenset({"admin"}), totp_enabled=True)


def test_user_may_become_a_borrower_but_not_staff(session: Session) -> None:
    user = make_user(session)
    assert identity.add_role(session, actor_id=user.id, user_id=user.id, role="borrower")
    assert not identity.add_role(session, actor_id=user.id, user_id=user.id, role="borrower")
    assert identity.profile(session, user.id).roles == {"investor", "borrower"}
    with pytest.raises(DomainError) as excinfo:
        identity.add_role(session, actor_id=user.id, user_id=user.id, role="admin")
    assert excinfo.value.code == "permission_denied"


def test_unknown_role_is_refused(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.add_role(session, actor_id=user.id, user_id=user.id, role="superuser")
    assert excinfo.value.code == "unknown_role"


def test_admin_creates_staff_and_grants_roles(session: Session) -> None:
    admin, _ = make_staff(session)
    staff = identity.create_staff(
        session, actor_id=admin.id, phone="13800138000", password="secret123", name="李四", roles=["finance"]
    )
    assert identity.profile(session, staff.id).roles == {"finance"}
    assert identity.add_role(session, actor_id=admin.id, user_id=staff.id, role="compliance")
    assert identity.remove_role(session, actor_id=admin.id, user_id=staff.id, role="finance")
    me = identity.profile(session, staff.id)
    assert me.roles == {"compliance"} and me.is_staff and me.display_name == "李四"


def test_admin_without_totp_cannot_manage_users(session: Session) -> None:
    admin, _ = make_staff(session, with_totp=False)
    with pytest.raises(DomainError) as excinfo:
        identity.create_staff(
            session,
            actor_id=admin.id,
            phone="13800138000",
            password="secret123",
            name="李四",
            roles=["finance"],
        )
    assert excinfo.value.code == "permission_denied"


def test_non_staff_cannot_create_staff(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.create_staff(
            session, actor_id=user.id, phone="13800138000", password="secret123", name="李四", roles=["admin"]
        )
    assert excinfo.value.code == "permission_denied"


@pytest.mark.parametrize("roles", [[], ["investor"], ["admin", "borrower"]])
def test_staff_accounts_take_staff_roles_only(session: Session, roles: list[str]) -> None:
    with pytest.raises(DomainError) as excinfo:
        identity.create_staff(
            session, actor_id=None, phone="13800138000", password="secret123", name="李四", roles=roles
        )
    assert excinfo.value.code == "role_not_allowed"


def test_a_person_cannot_be_a_partner_institution(session: Session) -> None:
    admin, _ = make_staff(session)
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.add_role(session, actor_id=admin.id, user_id=user.id, role="partner_institution")
    assert excinfo.value.code == "role_not_allowed"


def test_admin_cannot_drop_own_admin_role(session: Session) -> None:
    admin, _ = make_staff(session)
    with pytest.raises(DomainError) as excinfo:
        identity.remove_role(session, actor_id=admin.id, user_id=admin.id, role="admin")
    assert excinfo.value.code == "role_not_allowed"


def test_staff_user_list_is_masked_and_paginated(session: Session) -> None:
    make_staff(session)
    for _ in range(3):
        make_user(session)
    page = identity.list_users(session, page=1, page_size=2)
    assert page.total == 4 and len(page.items) == 2
    assert all("****" in item.phone_masked for item in page.items)
    investors = identity.list_users(session, role="investor")
    assert investors.total == 3


def test_api_staff_roles_are_the_staff_roles() -> None:
    assert set(get_args(StaffRole)) == {role.value for role in STAFF_ROLES}
