"""/readyz follows readiness (503 while rebalancing); /healthz (liveness) stays 200 then."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from app.ingress.server import build_web_app


async def _rebalancing() -> tuple[bool, dict[str, Any]]:
    return False, {"assigned_partitions": 0, "rebalancing": True}


async def _alive() -> tuple[bool, dict[str, Any]]:
    return True, {"ready": False}


async def _crashed() -> tuple[bool, dict[str, Any]]:
    return False, {"ready": False}


class TestReadinessAndLiveness:
    """An orchestrator stops routing to a rebalancing worker but does not restart it."""

    async def test_rebalancing_is_unready_but_alive(self) -> None:
        app = build_web_app({}, _rebalancing, liveness=_alive)
        async with TestClient(TestServer(app)) as client:
            ready = await client.get("/readyz")
            assert ready.status == 503 and (await ready.json())["rebalancing"] is True
            live = await client.get("/healthz")
            assert live.status == 200 and (await live.json())["ready"] is False

    async def test_crashed_worker_is_not_alive(self) -> None:
        app = build_web_app({}, _rebalancing, liveness=_crashed)
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/healthz")).status == 503
