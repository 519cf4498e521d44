"""``FakeCustomerIO``: Track v1/v2 and App API, checked by ``connectors.customerio.contract``."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connectors.customerio.contract import ContractViolation, ValidRequest, check_request
from connectors.testing.fakes.base import Call, FakeServer, Rejection

# where validate() leaves the parsed request for the handler
_VALID = web.RequestKey("cio_valid_request", ValidRequest)


@dataclass
class Person:
    """What Customer.io knows about one person, for assertions on final state."""

    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    suppressed: bool = False
    relationships: list[Any] = field(default_factory=list)
    #: every attribute write in arrival order, as (time.time(), attributes): how the final
    #: attributes came about, for failure messages
    writes: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def identify(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)
        self.writes.append((time.time(), attributes))


class FakeCustomerIO(FakeServer):
    """Serves Track (``/api/v1``, ``/api/v2``) and App (``/v1``) on one port."""

    name = "FakeCustomerIO"

    def __init__(
        self,
        *,
        site_id: str = "test-site",
        api_key: str = "test-key",
        app_api_key: str | None = "test-app-key",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.site_id, self.api_key, self.app_api_key = site_id, api_key, app_api_key
        self.people: dict[str, Person] = {}
        self.deleted: set[str] = set()
        self.triggers: list[tuple[int, dict[str, Any]]] = []
        self.segments: dict[int, dict[str, Any]] = {}  # id -> {"name": ..., "members": set}
        self._event_ids: set[str] = set()
        self._trigger_ids = itertools.count(1)
        # the contract module already matched the route (percent-decoding identifiers that
        # may contain "/"), so one catch-all handler dispatches on its result
        self.route("*", ".*", self._serve)

    @property
    def track_url(self) -> str:
        """Base URL to use instead of https://track.customer.io."""
        return self.base_url

    @property
    def app_url(self) -> str:
        """Base URL to use instead of https://api.customer.io."""
        return self.base_url

    def error_body(self, status: int, reason: str) -> Any:
        return {"meta": {"error": reason}}

    async def validate(self, request: web.Request, body: bytes) -> Rejection | None:
        try:
            valid = check_request(
                request.method,
                request.raw_path,
                request.headers,
                body,
                site_id=self.site_id,
                api_key=self.api_key,
                app_api_key=self.app_api_key,
            )
        except ContractViolation as violation:
            return Rejection(violation.status, violation.reason)
        request[_VALID] = valid
        return None

    def person(self, identifier: str) -> Person:
        """The person stored under ``identifier`` (created empty on first use)."""
        return self.people.setdefault(identifier, Person())

    # -- dispatch --------------------------------------------------------------------------
    async def _serve(self, call: Call) -> web.StreamResponse:
        valid: ValidRequest = call.request[_VALID]
        name, params, body = valid.route.name, valid.params, valid.body
        if name.startswith("app."):
            return self._app(name, params, body)
        if name == "v2.entity":
            self._entity(body)
        elif name == "v2.batch":
            for item in body["batch"]:
                self._entity(item)
        elif name == "v1.merge":
            self._merge(_ident(body["primary"]), _ident(body["secondary"]))
        elif name == "v1.anonymous_event":
            self._event("", body.get("name"), body.get("data"), body.get("id"), body)
        else:
            self._v1_person(name, params["identifier"], body)
        return web.json_response({})

    def _v1_person(self, name: str, identifier: str, body: dict[str, Any]) -> None:
        if name == "v1.identify":
            self.deleted.discard(identifier)
            attrs = {k: v for k, v in body.items() if k not in ("_timestamp", "_update")}
            self.person(identifier).identify(attrs)
        elif name == "v1.delete":
            self.people.pop(identifier, None)
            self.deleted.add(identifier)
        elif name == "v1.event":
            self._event(identifier, body.get("name"), body.get("data"), body.get("id"), body)
        elif name in ("v1.suppress", "v1.unsuppress"):
            self.person(identifier).suppressed = name == "v1.suppress"

    def _event(
        self, identifier: str, name: Any, data: Any, event_id: Any, raw: dict[str, Any]
    ) -> None:
        if event_id is not None:
            if str(event_id) in self._event_ids:
                return  # Customer.io deduplicates events by id: accepted, not stored twice
            self._event_ids.add(str(event_id))
        event = {
            "name": name,
            "data": data or {},
            "id": event_id,
            "timestamp": raw.get("timestamp", int(time.time())),
        }
        self.person(identifier).events.append(event)

    def _merge(self, primary: str, secondary: str) -> None:
        loser = self.people.pop(secondary, None)
        if loser is None:
            return
        winner = self.person(primary)
        winner.attributes = {**loser.attributes, **winner.attributes}  # primary wins conflicts
        winner.events += loser.events
        self.deleted.add(secondary)

    def _entity(self, entity: dict[str, Any]) -> None:
        if entity["type"] != "person":
            return  # objects and deliveries are accepted but not modelled
        action = entity["action"]
        if action == "merge":
            self._merge(_ident(entity["primary"]), _ident(entity["secondary"]))
            return
        who = _ident(entity["identifiers"])
        if action == "identify":
            self.deleted.discard(who)
            self.person(who).identify(dict(entity.get("attributes") or {}))
        elif action in ("event", "screen", "page"):
            self._event(who, entity.get("name"), entity.get("attributes"), entity.get("id"), entity)
        elif action == "delete":
            self.people.pop(who, None)
            self.deleted.add(who)
        elif action in ("suppress", "unsuppress"):
            self.person(who).suppressed = action == "suppress"
        elif action == "add_relationships":
            self.person(who).relationships += entity.get("cio_relationships") or []
        elif action == "delete_relationships":
            gone = entity.get("cio_relationships") or []
            person = self.person(who)
            person.relationships = [r for r in person.relationships if r not in gone]

    def _app(self, name: str, params: dict[str, str], body: dict[str, Any]) -> web.Response:
        if name == "app.trigger":
            self.triggers.append((int(params["campaign_id"]), body))
            return web.json_response({"id": next(self._trigger_ids)})
        if name == "app.segments":
            return web.json_response(
                {
                    "segments": [
                        {"id": sid, "name": seg["name"]} for sid, seg in self.segments.items()
                    ]
                }
            )
        member_of = [
            {"id": sid, "name": seg["name"]}
            for sid, seg in self.segments.items()
            if params["identifier"] in seg.get("members", ())
        ]
        if params["identifier"] not in self.people:
            raise Rejection(404, "customer not found", violation=False)
        return web.json_response({"segments": member_of})


def _ident(identifiers: dict[str, Any]) -> str:
    """The single identifier value of a validated ``identifiers`` object."""
    return str(next(iter(identifiers.values())))
