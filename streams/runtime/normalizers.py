"""Dispatch raw envelopes to the per-platform normalizers (pure functions)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial

import orjson

from connectors.customerio import normalize as customerio
from connectors.inbound.reason import NO_REASON, ReasonRule
from connectors.intercom import normalize as intercom
from connectors.pipelines import normalize as pipelines
from connectors.zendesk import normalize as zendesk
from contracts.events import SupportEvent
from contracts.records import RawEnvelope

Normalizer = Callable[[bytes, datetime], list[SupportEvent]]
NormalizeEnvelope = Callable[[RawEnvelope], list[SupportEvent]]

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


def normalize_envelope(
    envelope: RawEnvelope, normalizers: dict[str, Normalizer] = NORMALIZERS
) -> list[SupportEvent]:
    """Events in one envelope; [] for a valid body of a type we do not map.

    Raises ValueError or KeyError/TypeError for a body that
    does not have the shape its source promises: the caller dead-letters it with the reason.
    """
    normalizer = normalizers.get(envelope.source)
    if normalizer is None:
        raise UnknownSource(f"no normalizer for source {envelope.source!r}")
    received = datetime.fromtimestamp(envelope.received_at, UTC)
    events = normalizer(body_with_defaults(envelope), received)
    if envelope.origin != "live":
        events = [e.replace(origin=envelope.origin) for e in events]
    return events


def envelope_normalizer(
    *, zendesk_reason: ReasonRule = NO_REASON, intercom_reason: ReasonRule = NO_REASON
) -> NormalizeEnvelope:
    """`normalize_envelope` with where each helpdesk keeps a ticket's reason."""
    if zendesk_reason == NO_REASON and intercom_reason == NO_REASON:
        return normalize_envelope
    normalizers: dict[str, Normalizer] = {
        **NORMALIZERS,
        "zendesk": partial(zendesk.normalize, reason=zendesk_reason),
        "intercom": partial(intercom.normalize, reason=intercom_reason),
    }
    return partial(normalize_envelope, normalizers=normalizers)


Enrich = Callable[[list[SupportEvent]], Awaitable[list[SupportEvent]]]


async def enriched_normalizer(
    envelopes: list[RawEnvelope], normalize: NormalizeEnvelope, enrich: Enrich
) -> NormalizeEnvelope:
    """Normalize a batch up front, let `enrich` complete the events (an async look-up, such
    as a Zendesk requester's email), and hand back a normalizer that answers from that
    result: the ingest stage stays a plain function and still sees each envelope's own
    error, which it dead-letters as before."""
    outcomes: dict[int, list[SupportEvent] | Exception] = {}
    for envelope in envelopes:
        try:
            outcomes[id(envelope)] = normalize(envelope)
        except Exception as exc:  # noqa: BLE001 - the ingest stage dead-letters it, alone
            outcomes[id(envelope)] = exc
    flat = [e for outcome in outcomes.values() if isinstance(outcome, list) for e in outcome]
    enriched = iter(await enrich(flat)) if flat else iter(())
    for key, outcome in outcomes.items():
        if isinstance(outcome, list):
            outcomes[key] = [next(enriched) for _ in outcome]

    def prepared(envelope: RawEnvelope) -> list[SupportEvent]:
        outcome = outcomes[id(envelope)]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return prepared
