"""Intercom ↔ Zendesk ticket recipes over events: R8, R9, R11, R12 (SPEC S5).

The conversation ↔ ticket link is stored on the Zendesk ticket itself, as the tag
`intercom_conversation_<id>` (configurable prefix): every Zendesk webhook for the ticket
carries it back and the state keeps ticket tags, so no lookup table can drift.

R8   Intercom conversation tagged `escalate` → a Zendesk ticket (requester, mapped
     priority, link tag, an internal note pointing at the transcript). Once per
     conversation, whichever tag event comes first.
R9   a linked Zendesk ticket changes status → a note (or reply) on the Intercom
     conversation; solved/closed also closes the conversation. Once per ticket status.
R11  mapped tags both ways between linked conversations and tickets; a tag already on the
     other side is not written again, so the echo of our own write ends the exchange.
R12  a new Zendesk ticket from the web form / email → an Intercom data event carrying the
     ticket reference and the expected response time (drives an Intercom message), or with
     `mode: message` the message itself (email or in-app, from the admin), once per
     ticket, for customers Intercom knows.
"""

from __future__ import annotations

from typing import Any

from contracts.events import EventKind, SupportEvent
from streams.recipes.base import Emit, helpdesk_person
from streams.recipes.settings import RecipesConfig
from streams.state.model import SupportState, TicketState, ticket_key
from streams.state.tickets import TICKET_KINDS

CLOSING = frozenset({"solved", "closed"})


def link_tag(config: RecipesConfig, conversation_id: str) -> str:
    return f"{config.r8_escalation.link_tag_prefix}{conversation_id}"


def linked_conversation(ticket: TicketState, config: RecipesConfig) -> str | None:
    prefix = config.r8_escalation.link_tag_prefix
    return next((tag[len(prefix):] for tag in ticket.tags if tag.startswith(prefix)), None)


def linked_ticket(state: SupportState, tag: str) -> TicketState | None:
    return next(
        (t for t in state.tickets.values() if t.source == "zendesk" and tag in t.tags), None
    )


def r8(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    settings = config.r8_escalation
    conversation = event.conversation
    if event.kind != EventKind.CONVERSATION_TAGGED or conversation is None:
        return
    if not set(conversation.tags) & set(settings.tags):
        return
    person = helpdesk_person(state.identities)
    if person is None:
        emit.reject("R8", "no_identifier", "no requester email or external_id", "intercom",
                    {"event": event.to_dict()}, sink="zendesk")
        return
    held = state.tickets.get(ticket_key("intercom", conversation.id))
    source_priority = (held.priority if held else None) or conversation.priority or ""
    ticket = {
        "subject": f"Escalated from Intercom conversation {conversation.id}",
        "priority": settings.priority.get(source_priority, settings.default_priority),
        "tags": [link_tag(config, conversation.id), "intercom-escalation"],
    }
    note = (
        f"Escalated from Intercom conversation {conversation.id} "
        f"(tags: {', '.join(conversation.tags)}).\n"
        f"Conversation: https://app.intercom.com/a/inbox/_/inbox/conversation/{conversation.id}"
    )
    transcript = event.attributes.get("transcript")
    if isinstance(transcript, str) and transcript:
        note += f"\n\nTranscript:\n\n{transcript}"
    emit.add("R8", "zendesk", "create_ticket", person, {"ticket": ticket, "note": note},
             one_off=True, key=f"r8:{conversation.id}")


def r9(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    settings = config.r9_status_back
    if event.source != "zendesk" or event.kind not in TICKET_KINDS or event.ticket is None:
        return
    held = state.tickets.get(ticket_key("zendesk", event.ticket.id))
    if held is None or held.status not in settings.statuses:
        return
    conversation_id = linked_conversation(held, config)
    person = helpdesk_person(state.identities)
    if conversation_id is None or person is None:
        return
    key = f"r9:{held.id}:{held.status}"
    body = f"Zendesk ticket #{held.id} is now {held.status}."
    operation = "note_conversation" if settings.mode == "note" else "reply_conversation"
    payload = {"conversation_id": conversation_id, "body": body}
    emit.add("R9", "intercom", operation, person, payload, one_off=True, key=key)
    if held.status in CLOSING and settings.close_when_solved:
        emit.add("R9", "intercom", "close_conversation", person,
                 {"conversation_id": conversation_id}, one_off=True, key=key)


def r11(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    mappings = config.r11_tag_mapping.tags
    person = helpdesk_person(state.identities)
    if not mappings or person is None:
        return
    if event.kind == EventKind.CONVERSATION_TAGGED and event.conversation is not None:
        ticket = linked_ticket(state, link_tag(config, event.conversation.id))
        if ticket is None or not ticket.id.isdigit():
            return
        wanted = [m.zendesk for m in mappings if m.intercom in event.conversation.tags]
        missing = [tag for tag in wanted if tag not in ticket.tags]
        if missing:
            emit.add("R11", "zendesk", "update_ticket", person,
                     {"ticket_id": ticket.id, "add_tags": missing})
    elif event.source == "zendesk" and event.kind in TICKET_KINDS and event.ticket is not None:
        held = state.tickets.get(ticket_key("zendesk", event.ticket.id))
        conversation_id = None if held is None else linked_conversation(held, config)
        if held is None or conversation_id is None:
            return
        conversation = state.tickets.get(ticket_key("intercom", conversation_id))
        present = set() if conversation is None else set(conversation.tags)
        for mapping in mappings:
            if mapping.zendesk in held.tags and mapping.intercom not in present:
                if mapping.intercom_tag_id is None:
                    continue  # Intercom applies tags by id: configure intercom_tag_id
                emit.add("R11", "intercom", "tag_conversation", person,
                         {"conversation_id": conversation_id,
                          "tag_id": mapping.intercom_tag_id},
                         discriminator=mapping.intercom, key=f"r11:{held.id}:{mapping.intercom}")


def r12(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    settings = config.r12_acknowledge
    info = event.ticket
    if event.source != "zendesk" or info is None or event.kind not in TICKET_KINDS:
        return
    channel = (info.channel or "").lower()
    if not channel or not any(c.lower() in channel for c in settings.channels):
        return
    held = state.tickets.get(ticket_key("zendesk", info.id))
    person = helpdesk_person(state.identities)
    if held is None or not held.is_open or person is None:
        return
    if not state.identities.intercom_contact_id:
        return
    if emit.created_before_horizon("R12", held.opened_at):
        return  # an old ticket updated now: it was acknowledged long ago, if ever
    priority = held.priority or "normal"
    metadata = {
        "ticket_id": held.id,
        "expected_response": settings.response_times.get(priority, settings.response_times.get(
            "normal", "")),
    }
    if settings.mode == "message":
        message: dict[str, Any] = {
            "message_type": settings.message_type,
            "body": settings.body.format(**metadata),
            "contact_id": state.identities.intercom_contact_id,
            "ticket_id": held.id,
        }
        if settings.message_type == "email":
            message["subject"] = settings.subject.format(**metadata)
        emit.add("R12", "intercom", "send_message", person, message, one_off=True,
                 key=f"r12:{held.id}")
        return
    payload = {"event_name": settings.event_name,
               "created_at": int(event.occurred_at.timestamp()), "metadata": metadata}
    emit.add("R12", "intercom", "data_event", person, payload, one_off=True,
             key=f"r12:{held.id}")
