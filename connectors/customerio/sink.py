"""Customer.io sink: Track API v1/v2 and App API campaign triggers (SPEC S6 "Customer.io").

Operations (`Action.operation`, `Action.person` is the person's identifier):

    identify           PUT  /api/v1/customers/{id}            body: payload["attributes"]
                       several people: POST /api/v2/batch     (type person, action identify)
    event              POST /api/v1/customers/{id}/events     name, data, timestamp, id (ULID)
                       several people: POST /api/v2/batch     (action event, data in attributes)
    suppress           POST /api/v1/customers/{id}/suppress
    unsuppress         POST /api/v1/customers/{id}/unsuppress
    merge              POST /api/v1/merge_customers           payload["secondary"]: {kind: v},
                       or payload["secondary_person"]: an identifier of the configured kind
    trigger_campaign   POST {app}/v1/campaigns/{campaign_id}/triggers   (bearer app key)
                       payload: campaign_id, and optionally data / recipients / emails / ids

Identify and event actions of many people in one `deliver()` go out as v2 batches (one
request per person in a batch; a person with several requests keeps the ordered v1 path; at most
`max_batch` entities and `MAX_BATCH_BYTES` per request; per-item errors reach the dlq,
the rest is delivered). v2 needs the identifier kind (`identifier_key`: id, email or
cio_id, from the `SUPPORTSYNC_CUSTOMERIO_IDENTIFIER` setting).

Event ids are ULIDs derived from the action id (`connectors.customerio.ids`): Customer.io
drops a second event with the same id, which closes the gap between "confirmed" and
"marked delivered" after a crash. Limits are checked before sending
(`connectors.customerio.contract`): an action the API would refuse goes to the dlq without
a request. The App API has its own token bucket (10 requests/s by default); the region
(US/EU) is chosen by the base URLs (see `app.settings`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import quote

import orjson

from connectors.customerio import contract
from connectors.customerio.ids import event_ulid
from connectors.delivery.batching import BatchingSink, BatchResult
from connectors.delivery.errors import ClientError, DeliveryError
from connectors.delivery.http import HttpClient
from connectors.delivery.ratelimit import TokenBucket
from contracts.actions import Action

IdentifierKey = Literal["id", "email", "cio_id"]
_BATCH_OVERHEAD = 64  # bytes of '{"batch":[...]}' and commas, with slack


class InvalidForCustomerIO(ClientError):
    """The action breaks a documented Track API limit; sending it would get a 400."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason.encode(), f"not sent: {reason}")


def _customer_path(person: str, suffix: str = "") -> str:
    return f"/api/v1/customers/{quote(person, safe='')}{suffix}"


def identifier_key_for(setting: str) -> IdentifierKey:
    """Map `SUPPORTSYNC_CUSTOMERIO_IDENTIFIER` to the v2 identifier kind."""
    if setting == "email":
        return "email"
    if setting == "cio_id":
        return "cio_id"
    return "id"


class CustomerIOSink(BatchingSink):
    name = "customerio"
    max_batch: ClassVar[int] = 200

    def __init__(
        self,
        *,
        client: HttpClient,
        app_client: HttpClient | None = None,
        app_bucket: TokenBucket | None = None,
        identifier_key: IdentifierKey = "id",
        max_batch_bytes: int = contract.MAX_BATCH_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.app_client = app_client
        self.app_bucket = app_bucket
        self.identifier_key: IdentifierKey = identifier_key
        self.max_batch_bytes = max_batch_bytes

    # -- checks ----------------------------------------------------------------------------

    def _check(self, action: Action) -> None:
        try:
            if action.operation != "trigger_campaign":
                contract.check_identifier(action.person)
            if action.operation == "identify":
                contract.check_attributes(action.attributes)
            elif action.operation == "event":
                contract.check_event(action.payload.get("name"), action.payload.get("data"))
            elif action.operation == "merge" and action.payload.get("secondary_person"):
                contract.check_identifier(str(action.payload["secondary_person"]))
        except contract.ContractViolation as exc:
            raise InvalidForCustomerIO(str(exc)) from exc

    # -- one action ------------------------------------------------------------------------

    async def send(self, action: Action) -> None:
        self._check(action)
        op = action.operation
        if op == "identify":
            await self.client.put(_customer_path(action.person), json=action.attributes)
        elif op == "event":
            await self.client.post(
                _customer_path(action.person, "/events"), json=self.event_body(action)
            )
        elif op in ("suppress", "unsuppress"):
            await self.client.post(_customer_path(action.person, f"/{op}"))
        elif op == "merge":
            secondary = action.payload.get("secondary")
            if secondary is None and action.payload.get("secondary_person"):
                secondary = {self.identifier_key: str(action.payload["secondary_person"])}
            body = {"primary": {self.identifier_key: action.person}, "secondary": secondary}
            await self.client.post("/api/v1/merge_customers", json=body)
        elif op == "trigger_campaign":
            await self._trigger(action)
        else:
            raise InvalidForCustomerIO(f"unknown operation {op!r}")

    @staticmethod
    def event_body(action: Action) -> dict[str, Any]:
        payload = action.payload
        raw = payload.get("timestamp")
        stamp = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        body: dict[str, Any] = {"name": payload["name"], "id": event_ulid(action.action_id, stamp)}
        if payload.get("data"):
            body["data"] = payload["data"]
        if stamp is not None:
            body["timestamp"] = stamp
        return body

    async def _trigger(self, action: Action) -> None:
        if self.app_client is None:
            raise InvalidForCustomerIO("App API key not configured: cannot trigger campaigns")
        campaign = action.payload.get("campaign_id")
        if not str(campaign).isdigit():
            raise InvalidForCustomerIO("trigger_campaign needs a numeric campaign_id")
        body = {
            k: action.payload[k]
            for k in ("data", "recipients", "emails", "ids", "id_ignore_missing")
            if k in action.payload
        }
        if self.app_bucket is not None:
            await self.app_bucket.acquire(action.priority)
        await self.app_client.post(f"/v1/campaigns/{campaign}/triggers", json=body)

    # -- v2 batches of identifies ----------------------------------------------------------

    def batch_key(self, action: Action) -> str | None:
        if action.operation == "identify" and not action.one_off:
            return "person"
        if action.operation == "event":
            return "person"
        return None

    def entity(self, action: Action) -> dict[str, Any]:
        identifiers = {self.identifier_key: action.person}
        if action.operation == "event":
            body = self.event_body(action)  # v2 carries the event's data in `attributes`
            entity: dict[str, Any] = {
                "type": "person", "identifiers": identifiers, "action": "event",
                "name": body["name"], "id": body["id"],
            }
            if "data" in body:
                entity["attributes"] = body["data"]
            if "timestamp" in body:
                entity["timestamp"] = body["timestamp"]
            return entity
        return {
            "type": "person",
            "identifiers": identifiers,
            "action": "identify",
            "attributes": action.attributes,
        }

    def chunk(self, actions: list[Action]) -> list[list[Action]]:
        chunks: list[list[Action]] = []
        current: list[Action] = []
        size = _BATCH_OVERHEAD
        for action in actions:
            item = len(orjson.dumps(self.entity(action))) + 1
            if current and (len(current) >= self.max_batch or size + item > self.max_batch_bytes):
                chunks.append(current)
                current, size = [], _BATCH_OVERHEAD
            current.append(action)
            size += item
        if current:
            chunks.append(current)
        return chunks

    async def send_batch(self, actions: list[Action]) -> BatchResult:
        results: BatchResult = [None] * len(actions)
        entities: list[dict[str, Any]] = []
        positions: list[int] = []  # batch_index -> index in actions
        for index, action in enumerate(actions):
            entity = self.entity(action)
            try:
                contract.check_identifier(action.person)
                contract.check_v2_entity(entity)
            except contract.ContractViolation as exc:
                results[index] = InvalidForCustomerIO(str(exc))
                continue
            entities.append(entity)
            positions.append(index)
        if not entities:
            return results
        response = await self.client.post("/api/v2/batch", json={"batch": entities})
        body = response.json() if response.body else None
        errors = body.get("errors") if isinstance(body, dict) else None
        for error in errors if isinstance(errors, list) else []:
            at = error.get("batch_index") if isinstance(error, dict) else None
            if isinstance(at, int) and 0 <= at < len(positions):
                results[positions[at]] = _item_error(error)
        return results


def _item_error(error: dict[str, Any]) -> DeliveryError:
    return ClientError(400, orjson.dumps(error), "v2 batch item rejected")
