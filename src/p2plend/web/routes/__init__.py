"""The page routers, in the order they are mounted."""

from fastapi import APIRouter

from p2plend.web.routes import (
    account,
    auth,
    autobid,
    calculator,
    collections,
    compliance,
    eod,
    funds,
    guarantee,
    lending,
    origination,
    p2b,
    portfolio,
    public,
    setup,
    staff,
    statements,
    transfers,
)

ROUTERS: list[APIRouter] = [
    public.router,
    calculator.router,
    auth.router,
    account.router,
    setup.router,
    funds.router,
    statements.router,
    portfolio.router,
    origination.router,
    autobid.router,  # before lending: /invest/autobid is not a listing id
    lending.router,
    transfers.router,
    guarantee.router,
    p2b.router,
    staff.router,
    eod.router,
    collections.router,
    compliance.router,
]
