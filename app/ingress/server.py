"""The public HTTP server: signed webhooks in, plus /healthz and /readyz (SPEC S2.1). The
status page, `/state` and `/metrics` are on the admin listener (app/admin.py).

`/readyz` answers 200 once the worker owns partitions and is not rebalancing (503 otherwise:
route no traffic to it for now); `/healthz` (liveness) stays 200 while the process works,
through rebalances, so an orchestrator does not restart healthy workers every rebalance.

Every webhook endpoint follows one path: read at most `max_body_bytes` (413 past it), let the
source verify the signature over the raw bytes and pick the routing key (401/400), hand the
envelope to the batcher and answer 200 only after the broker acknowledged it (503 if not).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from app.ingress.batcher import BrokerUnavailable, EnvelopeTooLarge, RawBatcher
from app.ingress.messages import MessageSource, handle_messages, reject
from connectors.inbound import (
    BadPayload,
    BodyTimeout,
    ClientGone,
    InboundError,
    PayloadTooLarge,
    ServerBusy,
    WebhookSource,
)
from contracts.records import RawEnvelope
from streams.runtime import metrics

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def _json(status: int, doc: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(doc), content_type="application/json")


class BodyBudget:
    """Bytes of request bodies held while they are read and handled, for the whole process.

    Bodies are buffered before their signature can be checked (it covers the whole body), so
    without a bound anyone could make the process hold max_body_bytes per open connection.
    Past `limit`, a new chunk is refused (ServerBusy: 503, the platforms retry)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def take(self, size: int) -> None:
        if self.in_use + size > self.limit:
            raise ServerBusy("too many request bodies being read; retry later")
        self.in_use += size

    def give_back(self, size: int) -> None:
        self.in_use -= size


class _Reading:
    """What one request holds of the budget; `release` gives it all back."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.held = 0

    def take(self, size: int) -> None:
        self.budget.take(size)
        self.held += size

    def release(self) -> None:
        self.budget.give_back(self.held)
        self.held = 0


async def read_capped(
    request: web.Request, limit: int, reading: _Reading | None = None, timeout_s: float = 30.0
) -> bytes:
    """The body (gzip already inflated by aiohttp), or PayloadTooLarge / BadPayload /
    BodyTimeout / ServerBusy / ClientGone. Whatever ends the read early, the chunks read so
    far are dropped at once and the error carries no traceback: aiohttp keeps a connection
    error on the request's payload, and a traceback there would hold every frame (and the
    chunks they reference) in a reference cycle until the next full garbage collection."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    content = request.content
    if content.is_eof() and content.exception() is None:
        # The usual small webhook: the whole body arrived with the headers. Nothing to wait
        # for, so no timer and no chunk loop (they were a few % of the worker under load).
        body = content.read_nowait(-1)
        if len(body) > limit:
            raise PayloadTooLarge(f"body over {limit} bytes")
        if reading is not None:
            reading.take(len(body))
        return body
    chunks: list[bytes] = []
    size = 0
    failure: InboundError | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    failure = PayloadTooLarge(f"body over {limit} bytes")
                    break
                if reading is not None:
                    reading.take(len(chunk))
                chunks.append(chunk)
    except ServerBusy as exc:
        failure = ServerBusy(exc.detail)
    except TimeoutError as exc:
        _drop_traceback(exc)
        failure = BodyTimeout(f"body not received within {timeout_s:g} s")
    except web.RequestPayloadError as exc:  # e.g. a Content-Encoding that does not decode
        _drop_traceback(exc)
        failure = BadPayload("body could not be read or decoded", reason="bad_encoding")
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        _drop_traceback(exc)
        failure = ClientGone("connection closed before the body ended")
    if failure is not None:
        chunks.clear()
        raise failure
    return b"".join(chunks)


def _drop_traceback(exc: BaseException) -> None:
    exc.__traceback__ = None
    exc.__context__ = None


def _closing(response: web.Response, exc: InboundError) -> web.Response:
    """Close the connection after answering a body that was not read to its end (too large,
    a gzip bomb, too slow, or refused while busy): keeping it would mean reading, and
    inflating, the rest of a body that will never be used."""
    if isinstance(exc, PayloadTooLarge | BodyTimeout | ServerBusy | BadPayload):
        response.force_close()
    return response


def handler_options(header_timeout_s: float) -> dict[str, Any]:
    """aiohttp request-handler settings for the public listener.

    `keepalive_timeout` closes a connection whose request headers have not all arrived
    this long after it opened (or after the previous response): the header-read timeout.
    `lingering_time=0`: a connection whose body was not read to its end is closed at once
    rather than drained (aiohttp would otherwise read, and inflate, up to 10 s more of it)."""
    return {"keepalive_timeout": header_timeout_s, "lingering_time": 0.0}


class WebhookEndpoint:
    """POST handler for one source: a signed webhook, or a multi-message API (/v1)."""

    def __init__(
        self,
        source: WebhookSource | MessageSource,
        batcher: RawBatcher,
        max_body_bytes: int,
        budget: BodyBudget | None = None,
        body_timeout_s: float = 30.0,
    ) -> None:
        self.source = source
        self.batcher = batcher
        self.max_body_bytes = max_body_bytes
        # Unbounded unless given one (tests); the server always passes its shared budget.
        self.budget = budget if budget is not None else BodyBudget(1 << 62)
        self.body_timeout_s = body_timeout_s
        # Decided once: a runtime-checkable Protocol's isinstance costs ~10 µs per request.
        self._multi: MessageSource | None = None
        self._single: WebhookSource | None = None
        if isinstance(source, MessageSource):
            self._multi = source
        else:
            self._single = source
        # The counters' children for this source, looked up once (labels() per request
        # takes a lock and a dict look-up).
        self._received = metrics.EVENTS_RECEIVED.labels(source.source)
        self._accepted = metrics.EVENTS_ACCEPTED.labels(source.source)

    async def __call__(self, request: web.Request) -> web.Response:
        reading = _Reading(self.budget)
        try:
            if self._multi is not None:
                return await self._messages(self._multi, request, reading)
            assert self._single is not None
            return await self._webhook(self._single, request, reading)
        finally:
            reading.release()  # the body is on the broker, or refused: either way, let go

    async def _messages(
        self, source: MessageSource, request: web.Request, reading: _Reading
    ) -> web.Response:
        self._received.inc()
        limit = min(self.max_body_bytes, source.limit_for(request.path))
        try:
            body = await read_capped(request, limit, reading, self.body_timeout_s)
        except InboundError as exc:
            return _closing(reject(source.source, exc), exc)
        return await handle_messages(source, self.batcher, request, body)

    async def _webhook(
        self, source: WebhookSource, request: web.Request, reading: _Reading
    ) -> web.Response:
        name = source.source
        self._received.inc()
        received = time.time()
        try:
            body = await read_capped(request, self.max_body_bytes, reading, self.body_timeout_s)
            accepted = source.accept(body, request.headers, received)
        except InboundError as exc:
            metrics.EVENTS_REJECTED.labels(name, exc.reason).inc()
            log.debug("rejected %s webhook: %s (%s)", name, exc.reason, exc.status)  # no PII
            response = _json(exc.status, {"error": exc.reason, "detail": exc.detail})
            return _closing(response, exc)
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
        self._accepted.inc()
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

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if extra_routes:
        app.router.add_routes(extra_routes)
    return app
