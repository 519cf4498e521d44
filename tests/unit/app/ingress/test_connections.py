"""Connection abuse against the real aiohttp server over real sockets: aborted uploads,
unfinished uploads in bulk, gzip bombs and slow headers."""

from __future__ import annotations

import asyncio
import gc
import gzip
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web

from app.ingress.server import BodyBudget, WebhookEndpoint, build_web_app, handler_options
from connectors.zendesk.webhook import ZendeskWebhooks
from tests.unit.app.ingress.helpers import ZENDESK_SECRET, FakeBatcher

MAX_BODY = 1024 * 1024 - 16 * 1024


@dataclass
class Server:
    port: int
    budget: BodyBudget


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    options = getattr(request, "param", {})
    budget = BodyBudget(options.get("budget", 64 * 1024 * 1024))
    endpoint = WebhookEndpoint(
        ZendeskWebhooks(ZENDESK_SECRET), FakeBatcher(), options.get("max_body", MAX_BODY), budget
    )

    async def healthy() -> tuple[bool, dict[str, object]]:
        return True, {}

    app = build_web_app({"/webhooks/zendesk": endpoint}, healthy, max_body_bytes=MAX_BODY)
    runner = web.AppRunner(
        app, access_log=None, **handler_options(options.get("header_timeout", 15.0))
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Server(port, budget)
    finally:
        await runner.cleanup()


def _head(length: int, extra: str = "") -> bytes:
    return (
        "POST /webhooks/zendesk HTTP/1.1\r\nHost: hooks.example.com\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


async def _closed(reader: asyncio.StreamReader, within: float = 20.0) -> bool:
    """True once the server closed the connection (EOF or reset), False if it stays open."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def _wait_until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Polls the server's counter (it has no event to wait on), bounded by `within`."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling a plain counter
            await asyncio.sleep(0.01)


class TestAbortedUploads:
    """An upload aborted before its end is freed at once, not when the GC gets to it."""

    async def test_aborted_bodies_do_not_stay_in_memory(self, server: Server) -> None:
        thresholds = gc.get_threshold()
        gc.collect()
        gc.set_threshold(50_000, 50, 100)  # the worker's settings (app/runtime.py)
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            for _ in range(20):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(_head(MAX_BODY) + b"a" * 800_000)
                await writer.drain()
                await _wait_until(lambda: server.budget.in_use > 0)
                writer.transport.abort()
                await _wait_until(lambda: server.budget.in_use == 0)
            held = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()
            gc.set_threshold(*thresholds)
        assert held < 4_000_000  # 20 x 800 KB aborted; ~16 MB stayed before


class TestBufferedTotal:
    """Unfinished uploads together never hold more than the budget; the rest get 503 + close."""

    @pytest.mark.parametrize("server", [{"budget": 1024 * 1024}], indirect=True)
    async def test_budget_bounds_concurrent_uploads(self, server: Server) -> None:
        connections = []
        for _ in range(6):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(_head(900_000) + b"b" * 400_000)
            await writer.drain()
            connections.append((reader, writer))
        answers = []
        for reader, _ in connections:
            try:
                async with asyncio.timeout(3):
                    answers.append(await reader.readline())
            except TimeoutError:
                answers.append(b"")  # still being read: its body is within the budget
            assert server.budget.in_use <= server.budget.limit
        busy = [(r, a) for (r, _), a in zip(connections, answers, strict=True) if b" 503 " in a]
        assert len(busy) >= 3  # 6 x 400 KB against 1 MiB
        for reader, _ in busy:
            assert await _closed(reader)
        for _, writer in connections:
            writer.close()
        await _wait_until(lambda: server.budget.in_use == 0)


class TestRejectedBodies:
    """A body refused before its end closes the connection instead of being drained."""

    @pytest.mark.parametrize("server", [{"max_body": 64 * 1024}], indirect=True)
    async def test_gzip_bomb_is_413_and_closed(self, server: Server) -> None:
        bomb = gzip.compress(b"0" * 50_000_000, compresslevel=9)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_head(len(bomb), "Content-Encoding: gzip\r\n") + bomb)
        await writer.drain()
        status = await reader.readline()
        assert b" 413 " in status
        assert await _closed(reader)  # kept open (keep-alive) after inflating it all, before
        writer.close()

    @pytest.mark.parametrize("server", [{"max_body": 64 * 1024}], indirect=True)
    async def test_oversized_body_is_413_and_closed(self, server: Server) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_head(200_000))  # declared too large: refused before any body byte
        await writer.drain()
        assert b" 413 " in await reader.readline()
        assert await _closed(reader)
        writer.close()


class TestWholeBodies:
    """A body that arrived whole with its headers is held to the same limits."""

    @pytest.mark.parametrize("server", [{"max_body": 64 * 1024}], indirect=True)
    async def test_chunked_body_over_the_limit_is_413(self, server: Server) -> None:
        body = b"x" * (100 * 1024)  # no Content-Length: only the body's size can tell
        head = (
            b"POST /webhooks/zendesk HTTP/1.1\r\nHost: hooks.example.com\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
        await writer.drain()
        assert b" 413 " in await reader.readline()
        writer.close()
        await _wait_until(lambda: server.budget.in_use == 0)

    @pytest.mark.parametrize("server", [{"budget": 1024}], indirect=True)
    async def test_body_over_the_budget_is_503(self, server: Server) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(_head(4096) + b"y" * 4096)
        await writer.drain()
        assert b" 503 " in await reader.readline()
        writer.close()
        await _wait_until(lambda: server.budget.in_use == 0)


class TestHeaderTimeout:
    """A connection that never finishes its headers is closed."""

    @pytest.mark.parametrize("server", [{"header_timeout": 0.5}], indirect=True)
    async def test_slow_headers_closed(self, server: Server) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /webhooks/zendesk HTTP/1.1\r\nHost: x\r\n")  # never ends
        await writer.drain()
        assert await _closed(reader)
        writer.close()
