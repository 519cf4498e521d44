"""Header values that are not UTF-8 in signature and Authorization headers, over a real socket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from streams.runtime import metrics
from tests.unit.app.ingress.helpers import FakeBatcher, build_app

BODY = orjson.dumps({"type": "identify", "userId": "u1"})
RAW = b"\xff\xfe\x80 not utf-8 \xc3"


@pytest.fixture
async def port() -> AsyncIterator[int]:
    runner = web.AppRunner(build_app(FakeBatcher()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


async def _post(port: int, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n".encode() + head + b"\r\n" + BODY
    )
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


CASES = {
    "zendesk-signature": ("/webhooks/zendesk", [
        (b"X-Zendesk-Webhook-Signature", RAW),
        (b"X-Zendesk-Webhook-Signature-Timestamp", b"2026-11-01T10:00:00Z"),
    ]),
    "zendesk-timestamp": ("/webhooks/zendesk", [
        (b"X-Zendesk-Webhook-Signature", b"abc="),
        (b"X-Zendesk-Webhook-Signature-Timestamp", RAW),
    ]),
    "intercom": ("/webhooks/intercom", [(b"X-Hub-Signature", b"sha1=" + RAW)]),
    "customerio-signature": ("/webhooks/customerio", [
        (b"X-CIO-Signature", RAW), (b"X-CIO-Timestamp", b"1700000000"),
    ]),
    "customerio-timestamp": ("/webhooks/customerio", [
        (b"X-CIO-Signature", b"ab"), (b"X-CIO-Timestamp", RAW),
    ]),
    "bearer": ("/v1/identify", [(b"Authorization", b"Bearer " + RAW)]),
    "basic": ("/v1/identify", [(b"Authorization", b"Basic " + RAW)]),
    "basic-base64-of-non-utf8": ("/v1/identify", [(b"Authorization", b"Basic //7/")]),
}


class TestNonUtf8Headers:
    """Such a header is a 401, counted, with no ERROR log line (nor any above debug)."""

    @pytest.mark.parametrize("case", sorted(CASES))
    async def test_rejected_401_quietly(
        self, port: int, case: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        path, headers = CASES[case]
        source = path.split("/")[2] if path.startswith("/webhooks") else "pipelines"
        rejected = metrics.EVENTS_REJECTED.labels(source, "bad_signature")
        unauthorized = metrics.EVENTS_REJECTED.labels(source, "unauthorized")
        before = rejected._value.get() + unauthorized._value.get()
        with caplog.at_level(logging.INFO):
            assert await _post(port, path, headers) == 401
        assert rejected._value.get() + unauthorized._value.get() == before + 1
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
