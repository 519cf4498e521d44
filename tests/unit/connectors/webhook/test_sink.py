"""WebhookSink: signed POSTs that a receiver verifies with the documented scheme."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from connectors.webhook.sink import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    sign,
    verify_signature,
)
from contracts.actions import Action

SECRET = "s3cret"


class Receiver:
    """A collector that verifies signatures and fails the first `fail` requests with 503."""

    def __init__(self, fail: int = 0, status: int = 503) -> None:
        self.received: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.fail, self.status = fail, status

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(
            SECRET, body, request.headers[SIGNATURE_HEADER], request.headers[TIMESTAMP_HEADER],
            now=time.time(),
        )
        if not ok:
            return web.json_response({"error": "bad signature"}, status=401)
        if self.fail > 0:
            self.fail -= 1
            return web.json_response({"error": "nope"}, status=self.status)
        self.ids.append(request.headers[ID_HEADER])
        self.received.append(orjson.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hook"


def act(n: int) -> Action:
    return Action.for_transition(
        f"t{n}", sink="webhook", operation="support_state_changed", customer_key="ck1",
        person="ck1", one_off=True,
        payload={"transition_id": f"t{n}", "old_state": "clear", "new_state": "open"},
    )


def make_sink(url: str, session: aiohttp.ClientSession) -> WebhookSink:
    bucket = TokenBucket(1000, 100)
    return WebhookSink(
        client=HttpClient(session, bucket=bucket), url=url, secret=SECRET, bucket=bucket,
        store=InMemoryDeliveredStore(), dead_letters=InMemoryDeadLetterWriter(),
        policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0), rng=random.Random(4),
    )


class TestSignature:
    """The documented scheme: v1=hex(HMAC-SHA256(secret, "{ts}." + body))."""

    def test_sign_and_verify(self) -> None:
        body = b'{"a":1}'
        signature = sign(SECRET, 1_700_000_000, body)
        assert signature.startswith("v1=") and len(signature) == 67
        assert verify_signature(SECRET, body, signature, "1700000000", now=1_700_000_100)
        assert not verify_signature(SECRET, body + b" ", signature, "1700000000", now=1_700_000_100)
        assert not verify_signature(SECRET, body, signature, "1700000000", now=1_700_001_000)


class TestDelivery:
    """Envelopes arrive signed; 5xx is retried, other 4xx dead-lettered with the body."""

    async def test_delivers_with_retries(self, session: aiohttp.ClientSession) -> None:
        receiver = Receiver(fail=2)
        runner, url = await serve(receiver)
        try:
            report = await make_sink(url, session).deliver([act(1), act(2)])
        finally:
            await runner.cleanup()
        assert report.delivered == 2 and report.retries == 2
        assert sorted(r["data"]["transition_id"] for r in receiver.received) == ["t1", "t2"]
        assert receiver.received[0]["version"] == 1
        assert receiver.received[0]["type"] == "support_state_changed"

    async def test_client_error_dead_lettered(self, session: aiohttp.ClientSession) -> None:
        runner, url = await serve(Receiver(fail=1, status=422))
        try:
            sink = make_sink(url, session)
            report = await sink.deliver([act(1)])
        finally:
            await runner.cleanup()
        assert report.dead_lettered == 1
        assert isinstance(sink.dead_letters, InMemoryDeadLetterWriter)
        assert sink.dead_letters.letters[0].response_body == '{"error": "nope"}'
