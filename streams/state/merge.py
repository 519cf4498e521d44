"""Combining two customers' states after an identity merge (deterministic, symmetric
where it can be: every field takes the newer value, ties go to the survivor)."""

from __future__ import annotations

from datetime import datetime

import orjson
from msgspec.structs import replace

from streams.state.config import StateConfig
from streams.state.model import Consent, ProcessedIds, ProfileField, SupportState, TicketState


def newer_field(candidate: ProfileField, existing: ProfileField) -> bool:
    """Newer value wins; equal times break on (source, value) so arrival order never matters."""
    if candidate.at != existing.at:
        return candidate.at > existing.at
    return _tiebreak(candidate) > _tiebreak(existing)


def _tiebreak(field: ProfileField) -> bytes:
    return orjson.dumps([field.source, field.value], option=orjson.OPT_SORT_KEYS, default=str)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _tickets(survivor: SupportState, absorbed: SupportState) -> dict[str, TicketState]:
    tickets = dict(absorbed.tickets)
    for key, ticket in survivor.tickets.items():
        other = tickets.get(key)
        if other is None or ticket.updated_at >= other.updated_at:
            tickets[key] = ticket
    return tickets


def _consent(survivor: SupportState, absorbed: SupportState) -> Consent:
    flags = dict(absorbed.consent.unsubscribed)
    for flag, at in survivor.consent.unsubscribed.items():
        flags[flag] = max(at, flags.get(flag, at))
    subscribed = dict(absorbed.consent.subscribed)
    for flag, at in survivor.consent.subscribed.items():
        subscribed[flag] = max(at, subscribed.get(flag, at))
    return Consent(unsubscribed=flags, subscribed=subscribed)


def _profile(survivor: SupportState, absorbed: SupportState) -> dict[str, ProfileField]:
    profile = dict(survivor.profile)
    for name, field in absorbed.profile.items():
        existing = profile.get(name)
        if existing is None or newer_field(field, existing):
            profile[name] = field
    return profile


def combine(survivor: SupportState, absorbed: SupportState, config: StateConfig) -> SupportState:
    """The survivor with everything the absorbed state knew (not yet evaluated)."""
    csat = survivor.csat
    if absorbed.csat is not None and (csat is None or absorbed.csat.at > csat.at):
        csat = absorbed.csat
    seen = set(survivor.processed_ids)
    processed = ProcessedIds.of(
        (*survivor.processed_ids, *(d for d in absorbed.processed_ids if d not in seen))
    )
    identities = survivor.identities.merged(absorbed.identities)
    emails = {
        *survivor.other_emails,
        *absorbed.other_emails,
        *(e for e in (survivor.identities.email, absorbed.identities.email) if e),
    }
    return replace(
        survivor,
        identities=identities,
        other_emails=tuple(sorted(emails - {identities.email})),
        tickets=_tickets(survivor, absorbed),
        csat=csat,
        consent=_consent(survivor, absorbed),
        segments=tuple(sorted({*survivor.segments, *absorbed.segments})),
        profile=_profile(survivor, absorbed),
        last_resolved_at=_later(survivor.last_resolved_at, absorbed.last_resolved_at),
        last_low_csat_at=_later(survivor.last_low_csat_at, absorbed.last_low_csat_at),
        last_email_open_at=_later(survivor.last_email_open_at, absorbed.last_email_open_at),
        as_of=_later(survivor.as_of, absorbed.as_of),
        seq=survivor.seq + absorbed.seq,
        processed_ids=processed[-config.processed_ids_max :],
    )
