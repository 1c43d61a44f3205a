"""员工工作台: a minimal staff home and the users list, personal data masked (R47)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from p2plend.api.deps import DbSession
from p2plend.identity import service as identity
from p2plend.web.auth import StaffUser
from p2plend.web.render import redirect, render

router = APIRouter(include_in_schema=False)

USERS_PAGE = 20


@router.get("/staff")
def staff_home(request: Request, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    can_read_users = identity.Permission.STAFF_USERS_READ in user.permissions
    return render(request, "staff_home.html", {"can_read_users": can_read_users})


@router.get("/staff/users")
def staff_users(
    request: Request,
    session: DbSession,
    user: StaffUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_USERS_READ)  # else the 403 page
    users = identity.list_users(session, page=page, page_size=USERS_PAGE)
    pages = max((users.total + USERS_PAGE - 1) // USERS_PAGE, 1)
    return render(request, "staff_users.html", {"users": users, "pages": pages})
