"""Multi-message endpoints: the Segment-spec /v1 API (SPEC S2.1, R19).

One request may carry many messages about many people. Each becomes its own envelope on the
raw topic (keyed by its person); the answer is 200 `{"success": true}` only once the broker
acknowledged every one of them, 503 if any was not (the client retries the whole call;
duplicates carry the same messageId and are deduplicated downstream).

Rejections use the API's answer shape `{"success": false, "code", "message"}`: 401 for a bad
write key, 400 for everything else, including bodies over the API's size limits (as that API
defines them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import orjson
from aiohttp import web

from app.ingress.batcher import BrokerUnavailable, EnvelopeTooLarge, RawBatcher
from connectors.inbound import InboundError, PayloadTooLarge
from connectors.pipelines.api import AcceptedMessage
from contracts.events import Source
from contracts.records import RawEnvelope
from streams.runtime import metrics

log = logging.getLogger(__name__)


@runtime_checkable
class MessageSource(Protocol):
    source: Source

    def limit_for(self, path: str) -> int:
        """Largest body accepted on `path`, in bytes (after gzip inflation)."""
        ...

    def accept_messages(
        self, path: str, body: bytes, headers: Mapping[str, str], now: float
    ) -> list[AcceptedMessage]:
        """Verify and split; raise an InboundError subclass to reject."""
        ...


def _answer(status: int, doc: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(doc), content_type="application/json")


def _rejection(exc: InboundError) -> web.Response:
    # The API's own statuses: 401, else 400 (sizes too); 408/503 are about the connection.
    status = exc.status if exc.status in (401, 408, 503) else 400
    return _answer(status, {"success": False, "code": exc.reason, "message": exc.detail})


async def handle_messages(
    source: MessageSource, batcher: RawBatcher, request: web.Request, body: bytes
) -> web.Response:
    """Everything after the body was read (capped by the caller)."""
    name = source.source
    received = time.time()
    try:
        messages = source.accept_messages(request.path, body, request.headers, received)
    except InboundError as exc:
        return reject(name, exc)
    envelopes = [
        RawEnvelope(
            source=name,
            body=m.body,
            defaults=m.defaults,
            headers={"X-Message-Id": m.event_id},
            received_at=received,
            key=m.key,
            path=request.path,
        )
        for m in messages
    ]
    try:  # all or nothing: no message is written when one could not be
        for envelope in envelopes:
            batcher.check(envelope)
    except EnvelopeTooLarge as exc:
        return reject(name, PayloadTooLarge(str(exc)))
    results = await asyncio.gather(*(batcher.submit(e) for e in envelopes), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        metrics.EVENTS_REJECTED.labels(name, "broker_unavailable").inc()
        unexpected = [r for r in failed if not isinstance(r, BrokerUnavailable)]
        if unexpected:
            log.error("raw records for %s not acknowledged: %r", name, unexpected[0])
        return _answer(
            503, {"success": False, "code": "broker_unavailable", "message": "retry later"}
        )
    metrics.EVENTS_ACCEPTED.labels(name).inc()
    return _answer(200, {"success": True})


def reject(name: str, exc: InboundError) -> web.Response:
    """Count and log (reason only: no personal data) a rejected call, and answer it."""
    metrics.EVENTS_REJECTED.labels(name, exc.reason).inc()
    log.debug("rejected %s call: %s (%s)", name, exc.reason, exc.status)
    return _rejection(exc)
