"""The admin listener: the status page (`/`), `/state/{identifier}`, `/metrics` and `/healthz`.

These answer questions about people (a customer's identities, tickets, consent) and about the
business, so they are not on the public listener that takes webhooks. The admin listener binds
to loopback by default (`SUPPORTSYNC_ADMIN_HOST`/`ADMIN_PORT`); bound anywhere else, it
requires `Authorization: Bearer <SUPPORTSYNC_ADMIN_TOKEN>` (compared in constant time), and the
settings refuse to start without a token. Without a token, a request must name a loopback host
(or one of `SUPPORTSYNC_ADMIN_ALLOWED_HOSTS`) in its Host header: a web page whose domain was
rebound to 127.0.0.1 sends its own domain there and is refused (DNS rebinding).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.settings import is_loopback
from streams.runtime import metrics

__all__ = ["admin_guard", "build_admin_app", "is_loopback"]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _host_name(header: str) -> str:
    """The host part of a Host header (`[::1]:6067` → `::1`, `a.b:1` → `a.b`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _refuse(status: int, error: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps({"error": error}), content_type="application/json",
        headers=headers,
    )


def admin_guard(token: str | None, allowed_hosts: Iterable[str] = ()) -> Callable[..., object]:
    """Middleware: the bearer token when one is set, else a loopback (or allowed) Host."""
    expected = token.encode() if token else None
    hosts = LOOPBACK_NAMES | {h.strip().lower() for h in allowed_hosts if h.strip()}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            try:
                presented = given.strip().encode()
            except UnicodeEncodeError:  # bytes that were not UTF-8 arrive as surrogates
                presented = b""
            if scheme.lower() != "bearer" or not hmac.compare_digest(presented, expected):
                metrics.ADMIN_REJECTED.labels("token").inc()
                return _refuse(401, "admin token required", {"WWW-Authenticate": "Bearer"})
        elif _host_name(request.headers.get("Host", "")) not in hosts:
            metrics.ADMIN_REJECTED.labels("host").inc()
            return _refuse(403, "host not allowed on the admin listener")
        return await handler(request)

    return guard


HealthCheck = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]


def build_admin_app(
    health: HealthCheck,
    routes: list[web.RouteDef] | None = None,
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] = (),
) -> web.Application:
    """`/metrics`, `/healthz` and `routes` (the status package's `/` and `/state/...`)."""
    app = web.Application(middlewares=[admin_guard(token, allowed_hosts)])  # type: ignore[list-item]

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        ok, detail = await health()
        return web.Response(
            status=200 if ok else 503, body=orjson.dumps({"ok": ok, **detail}),
            content_type="application/json",
        )

    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    if routes:
        app.router.add_routes(routes)
    return app
