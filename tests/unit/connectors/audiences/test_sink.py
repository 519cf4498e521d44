"""AudiencesSink: hashed-email batches, never without ads consent."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from connectors.audiences.sink import AudiencesSink, hash_email
from connectors.delivery.dlq import InMemoryDeadLetterWriter
from connectors.delivery.http import HttpClient
from connectors.delivery.idempotency import InMemoryDeliveredStore
from connectors.delivery.ratelimit import TokenBucket
from connectors.delivery.retry import RetryPolicy
from contracts.actions import Action


@pytest.fixture
async def collector() -> AsyncIterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(orjson.loads(await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/audiences", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield received, f"http://127.0.0.1:{runner.addresses[0][1]}/audiences"
    await runner.cleanup()


def act(n: int, email: str, op: str = "audience_add", **payload: Any) -> Action:
    return Action.for_transition(
        f"t{n}", sink="audiences", operation=op, customer_key=f"ck{n}", person=email,
        payload={"audience": "suppress_promos", **payload}, one_off=True, priority="analytics",
    )


async def make_sink(url: str, session: aiohttp.ClientSession) -> AudiencesSink:
    bucket = TokenBucket(1000, 100)
    return AudiencesSink(
        client=HttpClient(session, bucket=bucket), url=url, bucket=bucket,
        store=InMemoryDeliveredStore(), dead_letters=InMemoryDeadLetterWriter(),
        policy=RetryPolicy(base=0.01, max_backoff=0.05, deadline=5.0), rng=random.Random(6),
    )


class TestAudiences:
    """Members are normalised and hashed; consent gates everything."""

    def test_hash_normalises(self) -> None:
        expected = hashlib.sha256(b"ann@example.com").hexdigest()
        assert hash_email("  Ann@Example.COM ") == expected

    async def test_batches_and_refuses_without_consent(
        self, collector: tuple[list[dict[str, Any]], str]
    ) -> None:
        received, url = collector
        async with aiohttp.ClientSession() as session:
            sink = await make_sink(url, session)
            actions = [act(i, f"U{i}@Example.com", ads_consent=True) for i in range(5)]
            actions.append(act(10, "nope@example.com"))  # no consent
            actions.append(act(11, "r@example.com", "audience_remove", consent={"ads": True}))
            actions.append(act(12, "gone@example.com", "audience_remove"))  # withdrawn: removed
            report = await sink.deliver(actions)
        assert report.delivered == 7 and report.dead_lettered == 1
        adds = [r for r in received if r["operation"] == "add"]
        assert len(adds) == 1 and adds[0]["schema"] == "EMAIL_SHA256"
        expected = sorted(hash_email(f"u{i}@example.com") for i in range(5))
        assert sorted(adds[0]["members"]) == expected
        assert hash_email("nope@example.com") not in str(received)
        assert "@" not in orjson.dumps(received).decode()
        assert isinstance(sink.dead_letters, InMemoryDeadLetterWriter)
        assert sink.dead_letters.letters[0].error_class == "MissingAdsConsent"
        removes = [r for r in received if r["operation"] == "remove"]
        assert sorted(m for r in removes for m in r["members"]) == sorted(
            [hash_email("r@example.com"), hash_email("gone@example.com")])
