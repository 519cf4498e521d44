from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from connectors.delivery.errors import (
    ClientError,
    Conflict,
    RateLimited,
    ServerError,
    TransportError,
)
from connectors.delivery.http import HttpClient
from connectors.delivery.ratelimit import TokenBucket


async def _ok(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "echo": body.decode(),
            "ctype": request.headers.get("Content-Type"),
            "auth": request.headers.get("Authorization"),
            "trace": request.headers.get("X-Trace"),
        },
        headers={"X-Rate-Limit-Remaining": "0", "ratelimit-reset": "4"},
    )


async def _status(request: web.Request) -> web.Response:
    status = int(request.match_info["code"])
    headers = {}
    if "retry_after" in request.query:
        headers["Retry-After"] = request.query["retry_after"]
    return web.Response(status=status, body=b'{"error":"nope %d"}' % status, headers=headers)


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(1.0)
    return web.Response(text="late")


async def _reset(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()  # the connection dies mid-request: a reset to the client
    await asyncio.sleep(0.05)
    return web.Response(text="never seen")


@dataclass
class Server:
    url: str


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    app = web.Application()
    app.router.add_route("*", "/ok", _ok)
    app.router.add_route("*", "/status/{code}", _status)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/reset", _reset)
    runner = web.AppRunner(app, shutdown_timeout=0.5)  # bounded stop
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        async with asyncio.timeout(5):
            await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


class TestHttpClientSuccess:
    """Successful responses come back as Response; JSON bodies go out via orjson."""

    async def test_json_request_and_response(
        self, server: Server, session: aiohttp.ClientSession
    ) -> None:
        client = HttpClient(
            session,
            base_url=server.url,
            headers={"X-Trace": "t1"},
            auth=("site", "key"),
        )
        resp = await client.post("/ok", json={"a": 1})
        assert resp.status == 200
        data = resp.json()
        assert data["method"] == "POST" and data["echo"] == '{"a":1}'
        assert data["ctype"] == "application/json"
        assert data["auth"] == "Basic c2l0ZTprZXk=" and data["trace"] == "t1"
        assert resp.headers["x-rate-limit-remaining"] == "0"

    async def test_feeds_bucket(self, server: Server, session: aiohttp.ClientSession) -> None:
        bucket = TokenBucket(100, 10)
        client = HttpClient(session, base_url=server.url, bucket=bucket)
        await client.get("/ok")
        assert 3.0 < bucket.paused_for() <= 4.0  # remaining 0 + ratelimit-reset 4


class TestHttpClientErrors:
    """Status codes and transport failures map onto the DeliveryError tree."""

    async def test_429_with_retry_after(
        self, server: Server, session: aiohttp.ClientSession
    ) -> None:
        bucket = TokenBucket(100, 10)
        client = HttpClient(session, base_url=server.url, bucket=bucket)
        with pytest.raises(RateLimited) as info:
            await client.get("/status/429?retry_after=2")
        assert info.value.retry_after == 2.0 and info.value.status == 429
        assert 1.0 < bucket.paused_for() <= 2.0

    async def test_429_with_http_date(self, server: Server, session: aiohttp.ClientSession) -> None:
        client = HttpClient(session, base_url=server.url)
        with pytest.raises(RateLimited) as info:
            await client.get("/status/429?retry_after=Wed, 21 Oct 2015 07:28:00 GMT")
        assert info.value.retry_after == 0.0  # a date in the past: retry now

    async def test_409_conflict(self, server: Server, session: aiohttp.ClientSession) -> None:
        with pytest.raises(Conflict) as info:
            await HttpClient(session, base_url=server.url).post("/status/409", json={})
        assert info.value.body == '{"error":"nope 409"}'

    async def test_422_client_error_keeps_body(
        self, server: Server, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(ClientError) as info:
            await HttpClient(session, base_url=server.url).put("/status/422", json={"x": 1})
        assert not isinstance(info.value, Conflict)
        assert info.value.status == 422 and info.value.body == '{"error":"nope 422"}'
        assert info.value.retriable is False

    @pytest.mark.parametrize("code", [500, 502, 503])
    async def test_5xx_server_error(
        self, code: int, server: Server, session: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(ServerError) as info:
            await HttpClient(session, base_url=server.url).get(f"/status/{code}?retry_after=1")
        assert info.value.status == code and info.value.retriable
        assert info.value.retry_after == 1.0

    async def test_408_is_transport(self, server: Server, session: aiohttp.ClientSession) -> None:
        with pytest.raises(TransportError):
            await HttpClient(session, base_url=server.url).get("/status/408")

    async def test_timeout(self, server: Server, session: aiohttp.ClientSession) -> None:
        client = HttpClient(session, base_url=server.url)
        with pytest.raises(TransportError) as info:
            await client.get("/slow", timeout=0.1)
        assert "timeout" in str(info.value)

    async def test_reset(self, server: Server, session: aiohttp.ClientSession) -> None:
        with pytest.raises(TransportError):
            await HttpClient(session, base_url=server.url).get("/reset")

    async def test_connection_refused(self, session: aiohttp.ClientSession) -> None:
        with socket.socket() as sock:  # grab a free port, then leave it closed
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(TransportError):
            await HttpClient(session).get(f"http://127.0.0.1:{port}/x", timeout=2)

    async def test_messages_hide_path_and_query(
        self, server: Server, session: aiohttp.ClientSession
    ) -> None:
        client = HttpClient(session, base_url=server.url)
        with pytest.raises(ClientError) as info:
            await client.put("/status/400?email=jane@example.com")
        assert "jane" not in str(info.value) and "/status" not in str(info.value)
