"""The page routers, in the order they are mounted."""

from fastapi import APIRouter

from p2plend.web.routes import account, auth, funds, public, setup, staff

ROUTERS: list[APIRouter] = [
    public.router,
    auth.router,
    account.router,
    setup.router,
    funds.router,
    staff.router,
]
