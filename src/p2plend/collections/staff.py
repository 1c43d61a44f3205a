"""Who works collections, as identity knows them.

* **Collectors** (催收员) hold ``staff:collections:manage`` (the collector role): they work
  their own cases and the unassigned ones.
* **Collections managers** hold ``staff:risk:manage`` (risk officers): they set the
  strategies, assign and reassign cases, and may act on any case.
* **Write-off** is proposed by a risk officer (``staff:risk:manage``) and approved by a
  different staff member holding ``staff:write_off:approve`` (finance).

Acts re-check the actor in the database, as ``identity``'s own staff acts do: active, with
a confirmed authenticator, holding the permission. ``None`` is the operator's console.
"""

from sqlalchemy.orm import Session

from p2plend.errors import PermissionDenied
from p2plend.identity import service as identity
from p2plend.identity.errors import UserNotFound
from p2plend.identity.permissions import permissions_for

P = identity.Permission
WORK = P.STAFF_COLLECTIONS_MANAGE
MANAGE = P.STAFF_RISK_MANAGE
PROPOSE_WRITE_OFF = P.STAFF_RISK_MANAGE
APPROVE_WRITE_OFF = P.STAFF_WRITE_OFF_APPROVE
_PAGE = 100


def permissions_of(session: Session, user_id: int) -> frozenset[str]:
    """What ``user_id`` may do now (nothing when not active)."""
    try:
        person = identity.profile(session, user_id)
    except UserNotFound:
        return frozenset()
    if person.status != "active":
        return frozenset()
    return permissions_for(person.roles, totp_enabled=person.totp_enabled)


def require(session: Session, actor_id: int | None, *permissions: identity.Permission) -> None:
    """Refuse unless the actor holds at least one of ``permissions`` (None: the console)."""
    if actor_id is None:
        return
    granted = permissions_of(session, actor_id)
    if not any(p.value in granted for p in permissions):
        raise PermissionDenied("You may not do this.", details={"permission": permissions[0].value})


def is_manager(session: Session, actor_id: int | None) -> bool:
    return actor_id is None or MANAGE.value in permissions_of(session, actor_id)


def active_collectors(session: Session) -> list[int]:
    """Every collector who can work cases now: the collector role, active, authenticator
    enrolled (staff permissions need it). By id."""
    ids: list[int] = []
    page = 1
    while True:
        found = identity.list_users(session, page=page, page_size=_PAGE, role=identity.Role.COLLECTOR.value)
        ids.extend(p.user_id for p in found.items if p.status == "active" and p.totp_enabled)
        if page * _PAGE >= found.total:
            return sorted(ids)
        page += 1


def is_active_collector(session: Session, user_id: int) -> bool:
    return WORK.value in permissions_of(session, user_id) and identity.Role.COLLECTOR.value in _roles(
        session, user_id
    )


def _roles(session: Session, user_id: int) -> frozenset[str]:
    try:
        return identity.profile(session, user_id).roles
    except UserNotFound:
        return frozenset()
