"""Wire formats of the records on supportsync's topics.

Every topic carries *batches*: one Kafka record holds a list of items that share a partition.
Faust pays ~230 µs per Kafka record before any work (STACK-NOTES), so packing many webhook
envelopes / events / actions into one record is what lets the pipeline keep up with a bare
aiokafka loop. Batches never mix partitions, so per-customer order is kept.

- raw.*               `RawBatch` of `RawEnvelope` (body bytes kept verbatim: the record of truth)
- events.by-customer  `EventBatch` of (customer_key, SupportEvent)
- transitions         `TransitionBatch` (JSON objects produced by the state machine)
- out.<sink>          `ActionBatch` (JSON objects: connectors.delivery.actions.Action)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from streams.events import Origin, Source, SupportEvent


class RawEnvelope(BaseModel):
    """One accepted inbound request, as received. `body` is the raw text (JSON is UTF-8)."""

    model_config = ConfigDict(frozen=True)

    source: Source
    body: str
    headers: dict[str, str] = Field(default_factory=dict)
    received_at: float  # unix seconds, ingress clock; starts the end-to-end latency clock
    origin: Origin = "live"
    key: str  # routing identifier picked at ingress, e.g. "zendesk_user_id:42"
    path: str = ""


def now_ts() -> float:
    return datetime.now(UTC).timestamp()


def encode_raw_batch(envelopes: list[RawEnvelope]) -> bytes:
    return orjson.dumps({"v": 1, "envelopes": [e.model_dump() for e in envelopes]})


def decode_raw_batch(data: bytes) -> list[RawEnvelope]:
    doc = orjson.loads(data)
    return [RawEnvelope.model_validate(e) for e in doc["envelopes"]]


def encode_event_batch(items: list[tuple[str, SupportEvent, float]]) -> bytes:
    """(customer_key, event, received_at) triples; received_at carries the latency clock."""
    return orjson.dumps(
        {
            "v": 1,
            "items": [
                {"k": key, "t": received, "e": ev.model_dump(mode="json", exclude_defaults=True)}
                for key, ev, received in items
            ],
        }
    )


def decode_event_batch(data: bytes) -> list[tuple[str, SupportEvent, float]]:
    doc = orjson.loads(data)
    return [
        (item["k"], SupportEvent.model_validate(item["e"]), float(item["t"]))
        for item in doc["items"]
    ]


def encode_json_batch(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"v": 1, "items": items})


def decode_json_batch(data: bytes) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = orjson.loads(data)["items"]
    return items
