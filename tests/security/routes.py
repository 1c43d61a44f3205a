"""The app's routes as the security checks see them: API endpoints, pages, forms."""

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Path parameters that name nothing: the gate must answer before any lookup.
_PATH_VALUES = {
    "role": "investor",
    "day": "2026-12-01",
    "stage": "m1",
    "code": "no-such-product",
    "order_no": "NO-SUCH-ORDER",
}
_MISSING_ID = "999999"


def routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Every (method, path, route) the app answers, routers included (``app.routes`` nests them)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path is not None:
            for method in sorted(context.methods or ()):
                found.append((method, context.path, route))
    return found


def is_page(route: APIRoute) -> bool:
    """Served by the web package (HTML, cookie sessions, CSRF); everything else is the API's."""
    return route.endpoint.__module__.startswith("p2plend.web.")


def api_endpoints(app: FastAPI) -> set[str]:
    return {f"{method} {path}" for method, path, route in routes(app) if not is_page(route)}


def page_routes(app: FastAPI) -> set[str]:
    return {path for method, path, route in routes(app) if method == "GET" and is_page(route)}


def concrete(path: str) -> str:
    """``path`` with each ``{param}`` replaced by a value that names nothing."""
    parts = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            parts.append(_PATH_VALUES.get(part[1:-1], _MISSING_ID))
        else:
            parts.append(part)
    return "/".join(parts)


def form_routes(app: FastAPI) -> set[str]:
    """Every state-changing route of the pages: "METHOD path"."""
    return {
        f"{method} {path}"
        for method, path, route in routes(app)
        if method in STATE_CHANGING and is_page(route)
    }
