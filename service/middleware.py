"""HTTP middleware: request metrics (outermost), then API-key authentication."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import Response

from lcad.service import errors
from lcad.service.metrics import ServiceMetrics
from lcad.service.settings import Settings

OPEN_PATHS = ("/health/live", "/health/ready", "/metrics", "/ping", "/version")
# the viewer's page and scripts hold no data: they load without a key, then ask for one
# and send it with every /v1 call they make
PAGE_PATHS = ("/ui",)
CallNext = Callable[[Request], Awaitable[Response]]


def install(app: FastAPI, settings: Settings, metrics: ServiceMetrics) -> None:
    @app.middleware("http")
    async def authenticate(request: Request, call_next: CallNext) -> Response:
        if settings.api_keys and not request.url.path.startswith(OPEN_PATHS + PAGE_PATHS):
            key = request.headers.get("x-api-key")
            auth = request.headers.get("authorization", "")
            if key is None and auth.lower().startswith("bearer "):
                key = auth[7:].strip()
            if not key:
                return errors.envelope(401, "unauthorized", "API key required (X-API-Key "
                                       "header or Authorization: Bearer)",
                                       headers={"WWW-Authenticate": "Bearer"})
            if not key_ok(key, settings.api_keys):
                return errors.envelope(403, "forbidden", "API key not accepted")
        return await call_next(request)

    @app.middleware("http")  # added last: runs first
    async def measure(request: Request, call_next: CallNext) -> Response:
        t0 = time.perf_counter()
        status = 500
        counted = not request.url.path.startswith(OPEN_PATHS)
        if counted:
            metrics.in_flight.inc()
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            if counted:
                metrics.in_flight.dec()
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.requests.labels(path, request.method, str(status)).inc()
            metrics.latency.labels(path, request.method).observe(time.perf_counter() - t0)


def key_ok(key: str, keys: Sequence[str]) -> bool:
    """Whether `key` is one of `keys`, in a time that does not depend on which one."""
    ok = False
    for k in keys:
        ok |= hmac.compare_digest(key.encode(), k.encode())
    return ok
