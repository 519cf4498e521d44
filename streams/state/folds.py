"""Folding the customer-level events: ratings, consent, segments and profile fields.

Each folder takes the state and one event and returns the state with the event's facts
applied, the transitions-to-be (`Fact`) and an optional reason hint.
"""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from contracts.events import EventKind, SupportEvent
from streams.state.merge import newer_field
from streams.state.model import Consent, Csat, ProfileField, SupportState, as_utc
from streams.state.tickets import InvalidEvent
from streams.state.transitions import Fact

Folded = tuple[SupportState, list[Fact], str | None]  # state, facts, reason hint

#: Channels whose `subscribed` events are remembered as opt-ins (R17 may require one).
OPT_IN_CHANNELS = frozenset({"ads"})


def fold_rating(state: SupportState, event: SupportEvent) -> Folded:
    """A rating updates the CSAT; a low one starts recovery, once per rated ticket.

    Zendesk triggers render the ticket's current rating into every later update of the
    ticket, so the newest rating seen again (same ticket, score and comment) is not a new
    rating, and a ticket whose rating was already low does not start recovery again."""
    rating = event.rating
    if rating is None:
        raise InvalidEvent(f"{event.kind} without a rating payload")
    try:
        low = rating.is_low
    except ValueError as exc:
        raise InvalidEvent(f"rating score {rating.score!r} is not on its scale") from exc
    previous = state.csat
    same_ticket = (
        previous is not None
        and rating.ticket_id is not None
        and previous.ticket_id == rating.ticket_id
        and previous.scale == rating.scale
    )
    if same_ticket and previous is not None and (previous.score, previous.comment) == (
        rating.score,
        rating.comment,
    ):
        return state, [], None
    first_low = low and not (same_ticket and previous is not None and previous.low)
    at = as_utc(event.occurred_at)
    update: dict[str, Any] = {}
    if previous is None or at >= previous.at:
        update["csat"] = Csat(
            score=rating.score,
            scale=rating.scale,
            at=at,
            comment=rating.comment,
            low=low,
            ticket_id=rating.ticket_id,
        )
    if first_low and (state.last_low_csat_at is None or at > state.last_low_csat_at):
        update["last_low_csat_at"] = at
    payload = {
        "score": rating.score,
        "scale": rating.scale,
        "low": low,
        "first_low": first_low,  # starts recovery (R6's low event)
        "comment": rating.comment,
        "comment_text": rating.comment_text,
        "ticket_id": rating.ticket_id,
        "source": event.source,
        "at": at.isoformat(),
    }
    fact = Fact("csat_received", reason="low_csat" if first_low else "csat", rating=payload)
    return replace(state, **update), [fact], None


def fold_engagement(state: SupportState, event: SupportEvent) -> Folded:
    """An email open moves `last_email_open_at` (R3's days since last open); no fact:
    R3 acts on the event itself, and the machine's timers on the days that pass."""
    if str(event.attributes.get("metric")) != "opened":
        return state, [], None
    at = as_utc(event.occurred_at)
    if state.last_email_open_at is not None and state.last_email_open_at >= at:
        return state, [], None
    return replace(state, last_email_open_at=at), [], None


def fold_consent(state: SupportState, event: SupportEvent) -> Folded:
    channel = str(event.attributes.get("channel") or "email").strip().lower()
    flag = f"{event.source}:{channel}"
    at = as_utc(event.occurred_at)
    flags = dict(state.consent.unsubscribed)
    granted = dict(state.consent.subscribed)
    if event.kind == EventKind.UNSUBSCRIBED:
        # A late unsubscribe is never ignored: on consent, err on the side of "no".
        flags[flag] = max(at, flags.get(flag, at))
        if flag in granted and granted[flag] <= at:
            del granted[flag]
    else:
        if flag in flags and flags[flag] <= at:
            del flags[flag]
        if flag not in flags and channel in OPT_IN_CHANNELS:  # an explicit opt-in
            granted[flag] = max(at, granted.get(flag, at))
    if flags == state.consent.unsubscribed and granted.keys() == state.consent.subscribed.keys():
        return state, [], None
    details = {"platform": event.source, "channel": channel, "action": str(event.kind)}
    fact = Fact("consent_changed", flag, str(event.kind), details=details)
    consent = Consent(unsubscribed=flags, subscribed=granted)
    return replace(state, consent=consent), [fact], None


def fold_segment(state: SupportState, event: SupportEvent) -> Folded:
    segment = event.attributes.get("segment")
    if segment is None or str(segment).strip() == "":
        raise InvalidEvent(f"{event.kind} without attributes['segment']")
    name = str(segment).strip()
    segments = set(state.segments)
    entered = event.kind == EventKind.SEGMENT_ENTERED
    if entered:
        segments.add(name)
    else:
        segments.discard(name)
    ordered = tuple(sorted(segments))
    if ordered == state.segments:
        return state, [], None
    action = "entered" if entered else "exited"
    details = {"segment": name, "action": action, "segments": list(ordered)}
    fact = Fact("segments_changed", name, f"segment_{action}", details=details)
    return replace(state, segments=ordered), [fact], None


def fold_profile(state: SupportState, event: SupportEvent) -> Folded:
    traits = event.attributes.get("traits")
    fields: dict[str, Any] = traits if isinstance(traits, dict) else event.attributes
    at = as_utc(event.occurred_at)
    profile = dict(state.profile)
    changed: dict[str, Any] = {}
    for name, value in fields.items():
        candidate = ProfileField(value=value, source=event.source, at=at)
        existing = profile.get(name)
        if existing is None or newer_field(candidate, existing):
            profile[name] = candidate
            if existing is None or existing.value != value:
                changed[name] = value
    if profile == state.profile:
        return state, [], None
    facts = [Fact("profile_changed", reason=str(event.kind), details={"fields": changed})]
    return replace(state, profile=profile), facts if changed else [], None
