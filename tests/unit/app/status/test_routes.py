"""GET /state/{identifier} answers only for partitions this worker owns."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app.status.routes import status_routes
from contracts.partitioner import partition_for
from tests.unit.app.status.test_explain import _state

PARTITIONS = 4


class _Table(dict[bytes, bytes]):
    """What the routes read of a Faust table: `get(key)`."""


def _updater(states: dict[str, bytes], owned: set[int]) -> Any:
    topology = SimpleNamespace(
        identity=_Table(), state=_Table({k.encode(): v for k, v in states.items()}),
        last_sent=_Table(), app=SimpleNamespace(consumer=object()),
    )
    return SimpleNamespace(
        topology=topology, partitions=PARTITIONS, owned_partitions=lambda _consumer: owned,
    )


async def _get(updater: Any, path: str) -> tuple[int, dict[str, Any]]:
    app = web.Application()
    app.add_routes(status_routes(updater))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(path)
        return resp.status, await resp.json()


class TestOwnership:
    """A standby copy of another worker's partition is never served as the state."""

    async def test_owned_partition_is_explained(self) -> None:
        key = "c:owned"
        updater = _updater({key: _state(key).to_bytes()}, {partition_for(key, PARTITIONS)})
        status, body = await _get(updater, f"/state/{key}")
        assert status == 200 and body["customer_key"] == key

    async def test_state_of_a_partition_owned_elsewhere_is_404(self) -> None:
        key = "c:elsewhere"
        partition = partition_for(key, PARTITIONS)
        others = set(range(PARTITIONS)) - {partition}
        status, body = await _get(updater=_updater({key: _state(key).to_bytes()}, others),
                                  path=f"/state/{key}")
        assert status == 404
        assert body["error"] == "owned by another worker" and body["partition"] == partition
