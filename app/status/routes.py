"""HTTP routes of the status package: `GET /` (status page), `GET /state/{identifier}`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from app.status.explain import BadIdentifier, explain
from app.status.page import render
from app.status.updater import StatusUpdater
from streams.runtime import lastsent
from streams.runtime.faust_app import SINKS
from streams.state.model import SupportState


def _json(status: int, doc: object) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(doc, option=orjson.OPT_INDENT_2),
        content_type="application/json",
    )


def status_routes(updater: StatusUpdater) -> list[web.RouteDef]:
    """Routes handed to `build_web_app(extra_routes=...)`."""
    topology = updater.topology

    def lookup(key: str) -> str | None:
        value = topology.identity.get(key.encode())
        return value.decode() if value is not None else None

    def get_state(key: str) -> SupportState | None:
        raw = topology.state.get(key.encode())
        return SupportState.from_bytes(raw) if raw is not None else None

    def last_sent(customer_key: str) -> dict[str, dict[str, Any]]:
        # Written by the sinks' agents to the customer's partition: same worker as the state.
        return lastsent.read(lambda k: topology.last_sent.get(k.encode()), customer_key, SINKS)

    async def status_page(_: web.Request) -> web.Response:
        html = render(updater.page_data())
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def state_view(request: web.Request) -> web.Response:
        try:
            result = explain(
                request.match_info["identifier"], lookup, get_state, updater.partitions,
                last_sent,
            )
        except BadIdentifier as exc:
            return _json(400, {"error": "bad_identifier", "detail": str(exc)})
        owned = updater.owned_partitions(topology.app.consumer)
        if result.partition is not None and result.partition not in owned:
            # A standby copy may be here, but only the owner's state is current.
            return _json(404, {
                "error": "owned by another worker", "customer_key": result.customer_key,
                "partition": result.partition, "owned_here": sorted(owned),
            })
        return _json(200 if result.found else 404, result.body)

    return [web.get("/", status_page), web.get("/state/{identifier}", state_view)]
