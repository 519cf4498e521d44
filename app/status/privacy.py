"""Admin routes for personal data: `DELETE /state/{identifier}` (erasure) and
`GET /audit/{identifier}` (the audit trail), on the admin listener with its token rules.

Erasure is a DELETE: a browser sends one cross-site only after a CORS preflight this
listener never grants, so a web page cannot erase people through a loopback admin listener
that has no token. The identifier is resolved as `/state` does (app/status/explain.py); the
answer (202) carries the customer key and the erasure time, never the identifier. What is
removed and why a replay cannot bring it back: streams/erasure.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from app.status.explain import BadIdentifier, resolve
from contracts.partitioner import partition_for
from streams.erasure import linked_keys
from streams.runtime.audit import read_audit
from streams.runtime.erasures import request_erasure

if TYPE_CHECKING:
    from streams.runtime.agents import Pipeline


def _json(status: int, doc: object) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(doc, option=orjson.OPT_INDENT_2),
        content_type="application/json",
    )


def privacy_routes(pipeline: Pipeline, partitions: int) -> list[web.RouteDef]:
    topology = pipeline.topology

    def lookup(key: str) -> str | None:
        value = topology.identity.get(key.encode())
        return value.decode() if value is not None else None

    def identity_entries() -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in topology.identity.data.items() if v is not None]

    def customer_of(request: web.Request) -> str | None:
        return resolve(request.match_info["identifier"], lookup)

    async def audit_of(customers: list[str]) -> tuple[list[dict[str, object]], bool]:
        """The customers' audit entries, oldest first; False when a partition could not be
        read to its end in time (the list is then incomplete)."""
        entries: list[dict[str, object]] = []
        complete = True
        for partition in sorted({partition_for(c, partitions) for c in customers}):
            found, whole = await read_audit(
                topology.bootstrap_servers, topology.topics["audit"].get_topic_name(),
                partition, customers,
            )
            entries += found
            complete = complete and whole
        entries.sort(key=lambda e: str(e.get("at")))
        return entries, complete

    async def forget(request: web.Request) -> web.Response:
        try:
            customer = customer_of(request)
        except BadIdentifier as exc:
            return _json(400, {"error": "bad_identifier", "detail": str(exc)})
        entries = identity_entries()
        if customer is not None:
            _, links = linked_keys(customer, ((k.decode(), v.decode()) for k, v in entries))
            if not links and topology.state.get(customer.encode()) is None:
                customer = None
        if customer is None:
            return _json(404, {"error": "unknown identifier"})
        customers, _ = linked_keys(customer, ((k.decode(), v.decode()) for k, v in entries))
        audited, _ = await audit_of(customers)  # incomplete: fewer delivered ids removed
        delivered = [
            (str(e["customer_key"]), str(e["action_id"])) for e in audited if e.get("action_id")
        ]
        record = await request_erasure(
            customer, identity_entries=entries, topics=topology.topics,
            partitions=partitions, follower=pipeline.erasures, delivered=delivered,
        )
        return _json(202, {
            "customer_key": record.customer_key,
            "erased_at": datetime.fromtimestamp(record.erased_at, UTC).isoformat(),
            "identity_entries": record.links,
            "detail": "erasure recorded; the worker owning the customer removes its state, "
                      "identity links and last-sent entries",
        })

    async def audit(request: web.Request) -> web.Response:
        try:
            customer = customer_of(request)
        except BadIdentifier as exc:
            return _json(400, {"error": "bad_identifier", "detail": str(exc)})
        if customer is None:
            return _json(404, {"error": "unknown identifier"})
        customers, _ = linked_keys(
            customer, ((k.decode(), v.decode()) for k, v in identity_entries())
        )
        entries, complete = await audit_of(customers)
        return _json(200, {"customer_key": customer, "complete": complete, "entries": entries})

    return [web.delete("/state/{identifier}", forget), web.get("/audit/{identifier}", audit)]
