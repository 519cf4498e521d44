"""R2 post-resolution campaign, R6 CSAT sync, R14 Intercom → Customer.io (SPEC S5).

R2   Zendesk ticket opened → Customer.io event `zendesk_ticket_created`; solved/closed (never
     merged or deleted: the machine emits no `ticket_resolved` then) → `support_ticket_resolved`
     with ticket id, reason, priority, tags, agent and resolution time. One-off.
R6   rating → Customer.io `last_csat_score` / `last_csat_at` (attributes) and, for every
     rating, the event `csat_received` with score, scale, comment, ticket and source
     (one-off); a low score (bad, or ≤ 2 of 5) also tracks `low_csat_received` once per
     rated ticket (the machine enters `recovery` then).
R14  Intercom contact created/updated → Customer.io person (configured attributes) and, once
     per Intercom contact, a nurture event; Intercom conversation closed → `support_resolved`.
"""

from __future__ import annotations

from typing import Any

from contracts.events import EventKind, SupportEvent
from streams.recipes.base import Emit, customerio_person
from streams.recipes.settings import RecipesConfig
from streams.state.model import SupportState
from streams.state.transitions import Transition

_TICKET_DATA = ("id", "reason", "priority", "tags", "assignee", "resolution_seconds")


def ticket_data(ticket: dict[str, Any]) -> dict[str, Any]:
    data = {k: ticket.get(k) for k in _TICKET_DATA if ticket.get(k) not in (None, [], ())}
    if "id" in data:
        data["ticket_id"] = data.pop("id")
    if "tags" in data:
        data["tags"] = list(data["tags"] or [])
    return data


def r2(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    if t.kind not in ("ticket_opened", "ticket_resolved") or not t.ticket:
        return
    if t.ticket.get("source") != "zendesk":
        return
    person = customerio_person(t.identities, t.customer_key, identifier)
    if person is None:
        return  # R1 already dead-letters the missing identifier for this customer
    settings = config.r2_post_resolution
    if t.kind == "ticket_opened" and emit.created_before_horizon("R2", t.ticket.get("opened_at")):
        return  # an old ticket seen for the first time (going live, backfill): not new
    name = settings.created_event if t.kind == "ticket_opened" else settings.resolved_event
    payload = {"name": name, "data": ticket_data(t.ticket),
               "timestamp": int(t.occurred_at.timestamp())}
    emit.add("R2", "customerio", "event", person, payload, one_off=True)


def r6(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    settings = config.r6_csat
    person = customerio_person(t.identities, t.customer_key, identifier)
    if person is None:
        return
    if t.kind == "attributes_changed" and {"last_csat_score", "last_csat_at"} & set(t.changed):
        attributes = {
            settings.score_attribute: t.attributes.get("last_csat_score"),
            settings.at_attribute: t.attributes.get("last_csat_at"),
        }
        emit.add("R6", "customerio", "identify", person, {"attributes": attributes})
    elif t.kind == "csat_received" and t.rating:
        rating = t.rating
        fields = ("score", "scale", "low", "source", "ticket_id")
        data = {k: rating.get(k) for k in fields if rating.get(k) is not None}
        if rating.get("comment_text"):
            data["comment"] = rating["comment_text"]
        timestamp = int(t.occurred_at.timestamp())
        if settings.event:
            emit.add("R6", "customerio", "event", person,
                     {"name": settings.event, "data": data, "timestamp": timestamp},
                     one_off=True, discriminator="csat")
        if rating.get("first_low", rating.get("low")):
            emit.add("R6", "customerio", "event", person,
                     {"name": settings.low_event, "data": data, "timestamp": timestamp},
                     one_off=True)


def r14_transition(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    if t.kind != "ticket_resolved" or not t.ticket or t.ticket.get("source") != "intercom":
        return
    person = customerio_person(t.identities, t.customer_key, identifier)
    if person is None:
        return
    data = {"conversation_id": t.ticket.get("id")}
    if t.ticket.get("resolution_seconds") is not None:
        data["resolution_seconds"] = t.ticket["resolution_seconds"]
    payload = {"name": config.r14_intercom_to_cio.resolved_event, "data": data,
               "timestamp": int(t.occurred_at.timestamp())}
    emit.add("R14", "customerio", "event", person, payload, one_off=True)


def r14_event(
    emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig, identifier: str
) -> None:
    if event.kind != EventKind.CONTACT_UPDATED or event.source != "intercom":
        return
    contact_id = event.identities.intercom_contact_id
    person = customerio_person(state.identities, state.customer_key, identifier)
    if person is None or contact_id is None:
        return
    settings = config.r14_intercom_to_cio
    attributes = {k: event.attributes[k] for k in settings.attributes if k in event.attributes}
    attributes["intercom_contact_id"] = contact_id
    emit.add("R14", "customerio", "identify", person, {"attributes": attributes})
    # Once per contact, whichever webhook first shows it (created or a later update).
    payload = {"name": settings.nurture_event,
               "data": {"intercom_contact_id": contact_id,
                        "role": str(event.attributes.get("role") or "user")},
               "timestamp": int(event.occurred_at.timestamp())}
    emit.add("R14", "customerio", "event", person, payload, one_off=True,
             key=f"r14:nurture:{contact_id}")
