"""The HTTP server: signed webhooks in, plus /healthz, /readyz and /metrics (SPEC S2.1, S8).

`/readyz` answers 200 once the worker owns partitions and is not rebalancing (503 otherwise:
route no traffic to it for now); `/healthz` (liveness) stays 200 while the process works,
through rebalances, so an orchestrator does not restart healthy workers every rebalance.

Every webhook endpoint follows one path: read at most `max_body_bytes` (413 past it), let the
source verify the signature over the raw bytes and pick the routing key (401/400), hand the
envelope to the batcher and answer 200 only after the broker acknowledged it (503 if not).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.ingress.batcher import BrokerUnavailable, EnvelopeTooLarge, RawBatcher
from app.ingress.messages import MessageSource, handle_messages, reject
from connectors.inbound import BadPayload, InboundError, PayloadTooLarge, WebhookSource
from contracts.records import RawEnvelope
from streams.runtime import metrics

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def _json(status: int, doc: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(doc), content_type="application/json")


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The body (gzip already inflated by aiohttp), or PayloadTooLarge / BadPayload."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body over {limit} bytes")
            chunks.append(chunk)
    except web.RequestPayloadError as exc:  # e.g. a Content-Encoding that does not decode
        raise BadPayload("body could not be read or decoded", reason="bad_encoding") from exc
    return b"".join(chunks)


class WebhookEndpoint:
    """POST handler for one source: a signed webhook, or a multi-message API (/v1)."""

    def __init__(
        self, source: WebhookSource | MessageSource, batcher: RawBatcher, max_body_bytes: int
    ) -> None:
        self.source = source
        self.batcher = batcher
        self.max_body_bytes = max_body_bytes

    async def __call__(self, request: web.Request) -> web.Response:
        if isinstance(self.source, MessageSource):
            return await self._messages(self.source, request)
        return await self._webhook(self.source, request)

    async def _messages(self, source: MessageSource, request: web.Request) -> web.Response:
        metrics.EVENTS_RECEIVED.labels(source.source).inc()
        limit = min(self.max_body_bytes, source.limit_for(request.path))
        try:
            body = await read_capped(request, limit)
        except InboundError as exc:
            return reject(source.source, exc)
        return await handle_messages(source, self.batcher, request, body)

    async def _webhook(self, source: WebhookSource, request: web.Request) -> web.Response:
        name = source.source
        metrics.EVENTS_RECEIVED.labels(name).inc()
        received = time.time()
        try:
            body = await read_capped(request, self.max_body_bytes)
            accepted = source.accept(body, request.headers, received)
        except InboundError as exc:
            metrics.EVENTS_REJECTED.labels(name, exc.reason).inc()
            log.info("rejected %s webhook: %s (%s)", name, exc.reason, exc.status)  # no PII
            return _json(exc.status, {"error": exc.reason, "detail": exc.detail})
        envelope = RawEnvelope(
            source=name,
            body=body,
            headers=accepted.headers,
            received_at=received,
            key=accepted.key,
            path=request.path,
        )
        try:
            await self.batcher.submit(envelope)
        except EnvelopeTooLarge as exc:
            metrics.EVENTS_REJECTED.labels(name, "too_large").inc()
            return _json(413, {"error": "too_large", "detail": str(exc)})
        except BrokerUnavailable:
            metrics.EVENTS_REJECTED.labels(name, "broker_unavailable").inc()
            return _json(503, {"error": "broker_unavailable", "detail": "retry later"})
        metrics.EVENTS_ACCEPTED.labels(name).inc()
        return _json(200, {"status": "accepted"})


def build_web_app(
    endpoints: dict[str, WebhookEndpoint],
    health: HealthCheck,
    extra_routes: list[web.RouteDef] | None = None,
    max_body_bytes: int = 1024 * 1024,
    liveness: HealthCheck | None = None,
) -> web.Application:
    """`health` is readiness (`/readyz`); `liveness` (`/healthz`) defaults to it."""
    # aiohttp's own cap answers 413 too; keep it above ours so our handler decides.
    app = web.Application(client_max_size=max_body_bytes + 1)
    for path, endpoint in endpoints.items():
        app.router.add_post(path, endpoint)

    async def readyz(_: web.Request) -> web.Response:
        ok, detail = await health()
        return _json(200 if ok else 503, {"ok": ok, **detail})

    async def healthz(_: web.Request) -> web.Response:
        ok, detail = await (liveness or health)()
        return _json(200 if ok else 503, {"ok": ok, **detail})

    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(metrics.REGISTRY),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    if extra_routes:
        app.router.add_routes(extra_routes)
    return app
