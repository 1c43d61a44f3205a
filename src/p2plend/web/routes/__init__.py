"""The page routers, in the order they are mounted."""

from fastapi import APIRouter

from p2plend.web.routes import (
    account,
    auth,
    calculator,
    collections,
    eod,
    funds,
    guarantee,
    lending,
    origination,
    public,
    setup,
    staff,
    statements,
)

ROUTERS: list[APIRouter] = [
    public.router,
    calculator.router,
    auth.router,
    account.router,
    setup.router,
    funds.router,
    statements.router,
    origination.router,
    lending.router,
    guarantee.router,
    staff.router,
    eod.router,
    collections.router,
]
