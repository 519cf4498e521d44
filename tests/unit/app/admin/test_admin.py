"""The admin listener: bearer token, Host check, and the settings that keep it private."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app.admin import build_admin_app, is_loopback
from app.settings import ConfigError, load_settings
from app.status.client import fetch_state
from tests.unit.app.ingress.helpers import FakeBatcher, build_app

TOKEN = "s3cret-admin-token-0123456789"


async def _healthy() -> tuple[bool, dict[str, object]]:
    return True, {}


async def _state(_: web.Request) -> web.Response:
    return web.json_response({"customer_key": "c:1"})


def _admin(token: str | None = None, allowed: tuple[str, ...] = ()) -> web.Application:
    return build_admin_app(
        _healthy, [web.get("/state/{identifier}", _state)], token=token, allowed_hosts=allowed
    )


@pytest.fixture
async def loopback() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(_admin(allowed=("tunnel.internal",)))) as client:
        yield client


@pytest.fixture
async def with_token() -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(_admin(token=TOKEN))) as client:
        yield client


class TestHostCheck:
    """Without a token only loopback (or allowed) Host names are served: no DNS rebinding."""

    @pytest.mark.parametrize("host", ["127.0.0.1:6067", "localhost", "[::1]:6067",
                                      "tunnel.internal:80"])
    async def test_loopback_hosts_served(self, loopback: TestClient, host: str) -> None:  # type: ignore[type-arg]
        for path in ("/state/a@example.com", "/metrics", "/healthz"):
            resp = await loopback.get(path, headers={"Host": host})
            assert resp.status == 200, (path, host)

    @pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:6067", "10.0.0.5"])
    async def test_other_hosts_refused(self, loopback: TestClient, host: str) -> None:  # type: ignore[type-arg]
        resp = await loopback.get("/state/a@example.com", headers={"Host": host})
        assert resp.status == 403


class TestToken:
    """With a token, every admin route needs `Authorization: Bearer <token>`."""

    @pytest.mark.parametrize(
        "header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "]
    )
    async def test_refused(self, with_token: TestClient, header: str | None) -> None:  # type: ignore[type-arg]
        headers = {"Authorization": header} if header is not None else {}
        for path in ("/state/a@example.com", "/metrics"):
            resp = await with_token.get(path, headers=headers)
            assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"

    async def test_accepted_from_any_host(self, with_token: TestClient) -> None:  # type: ignore[type-arg]
        resp = await with_token.get(
            "/state/a@example.com",
            headers={"Authorization": f"Bearer {TOKEN}", "Host": "supportsync.internal"},
        )
        assert resp.status == 200 and (await resp.json())["customer_key"] == "c:1"


class TestPublicListener:
    """The public listener serves webhooks and /healthz, never /metrics, / or /state."""

    async def test_admin_paths_absent(self) -> None:
        async with TestClient(TestServer(build_app(FakeBatcher()))) as client:
            for path in ("/metrics", "/", "/state/a@example.com"):
                assert (await client.get(path)).status in (404, 405), path
            assert (await client.get("/healthz")).status == 200


class TestAdminSettings:
    """Bound beyond loopback, the admin listener needs a token (a config error names it)."""

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "admin.internal"])
    def test_non_loopback_without_token(self, host: str) -> None:
        with pytest.raises(ConfigError, match="SUPPORTSYNC_ADMIN_TOKEN"):
            load_settings(admin_host=host)

    def test_non_loopback_with_token(self) -> None:
        assert load_settings(admin_host="0.0.0.0", admin_token=TOKEN).admin_port == 6068

    @pytest.mark.parametrize(("host", "loop"), [("127.0.0.1", True), ("::1", True),
                                                ("localhost", True), ("127.8.0.1", True),
                                                ("0.0.0.0", False), ("example.com", False)])
    def test_is_loopback(self, host: str, loop: bool) -> None:
        assert is_loopback(host) is loop


class TestStateShowClient:
    """`supportsync state show` sends the admin token; without it the listener refuses."""

    async def test_token_sent(self, with_token: TestClient) -> None:  # type: ignore[type-arg]
        base = str(with_token.make_url(""))
        status, doc = await asyncio.to_thread(fetch_state, base, "a@example.com", 5.0, TOKEN)
        assert (status, doc) == (200, {"customer_key": "c:1"})
        status, doc = await asyncio.to_thread(fetch_state, base, "a@example.com", 5.0, None)
        assert status == 401 and doc == {"error": "admin token required"}
