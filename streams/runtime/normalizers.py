"""Dispatch raw envelopes to the per-platform normalizers (pure functions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from connectors.customerio import normalize as customerio
from connectors.intercom import normalize as intercom
from connectors.pipelines import normalize as pipelines
from connectors.zendesk import normalize as zendesk
from contracts.events import SupportEvent
from contracts.records import RawEnvelope

Normalizer = Callable[[bytes, datetime], list[SupportEvent]]

NORMALIZERS: dict[str, Normalizer] = {
    "zendesk": zendesk.normalize,
    "intercom": intercom.normalize,
    "customerio": customerio.normalize,
    "pipelines": pipelines.normalize,
}


class UnknownSource(ValueError):
    pass


def body_with_defaults(envelope: RawEnvelope) -> bytes:
    """The body as the platform meant it: its fields laid over the shared `defaults` (a
    /v1/batch's context and integrations) when it has any."""
    if not envelope.defaults:
        return envelope.body
    defaults, message = orjson.loads(envelope.defaults), orjson.loads(envelope.body)
    if not isinstance(defaults, dict) or not isinstance(message, dict):
        raise ValueError("defaults and body must both be JSON objects")
    return orjson.dumps({**defaults, **message})


def normalize_envelope(envelope: RawEnvelope) -> list[SupportEvent]:
    """Events in one envelope; [] for a valid body of a type we do not map.

    Raises ValueError (incl. pydantic's ValidationError) or KeyError/TypeError for a body that
    does not have the shape its source promises: the caller dead-letters it with the reason.
    """
    normalizer = NORMALIZERS.get(envelope.source)
    if normalizer is None:
        raise UnknownSource(f"no normalizer for source {envelope.source!r}")
    received = datetime.fromtimestamp(envelope.received_at, UTC)
    events = normalizer(body_with_defaults(envelope), received)
    if envelope.origin != "live":
        events = [e.model_copy(update={"origin": envelope.origin}) for e in events]
    return events
