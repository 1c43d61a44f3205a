"""One place that turns errors into responses: ``{"error": {"code", "message", "details"}}``."""

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from p2plend.errors import DomainError

log = structlog.get_logger()


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorResponse(BaseModel):
    """Every refusal's body (``error_body``)."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for refusals answered with ``ErrorResponse``."""
    return {status: {"model": ErrorResponse, "description": _REFUSALS[status]} for status in statuses}


_REFUSALS = {
    401: "Not signed in, or a wrong credential or code",
    403: "Signed in, but not allowed to do this",
    404: "Not found (or not yours)",
    409: "Refused in the current state (a conflict)",
    413: "Too large",
    422: "The request is not valid",
    423: "Locked after too many failures",
    429: "Too soon: wait before asking again",
}
# What any API operation may answer besides success: each authenticates (or may refuse a
# wrong credential), looks things up and checks input and state. Documented once here, so
# the schema promises what clients really get (422 included: our body, not FastAPI's).
COMMON_ERROR_RESPONSES = error_responses(401, 403, 404, 409, 422)


class ReplayResponse(Exception):
    """Raised to roll back the request's transaction and answer with a stored response."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        if exc.status >= 500:
            log.error("domain_error", code=exc.code, message=exc.message, details=exc.details)
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "problem": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_request", "The request is not valid.", {"problems": problems}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthenticated",
            403: "permission_denied",
        }.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(ReplayResponse)
    async def _replay(request: Request, exc: ReplayResponse) -> JSONResponse:
        from starlette.responses import Response

        return Response(exc.body, status_code=exc.status, media_type="application/json")  # type: ignore[return-value]

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return JSONResponse(
            error_body("internal_error", "Something went wrong on our side; nothing was changed."),
            status_code=500,
        )
