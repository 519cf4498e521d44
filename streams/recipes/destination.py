"""R19: the Zendesk destination for Segment-spec calls, as Customer.io Data Pipelines offers.

identify  → create_or_update user: email required (else a dead letter); `name`, or
            first_name + last_name joined; userId → external_id; organizationId →
            organization_id; timezone → time_zone; phone; every other trait goes to user
            fields, and the sink keeps only fields the account defines (the rest are dropped
            and counted). `traits.company.id` → organization membership, removed when
            `traits.company.remove` is true. Settings: skip-verify-email, create-users-as-verified.
group     → create_or_update organization with groupId as external_id (name, domainNames →
            domain_names, tags; url and deleted as organization fields), adding the user
            when userId is present.
track     → "Ticket Created" creates a ticket, "Ticket Updated" updates one; any other event
            is a Zendesk user event for the user found by context.zendesk_user_id, else
            email, else external_id (userId); with none of them, a dead letter says so.
"""

from __future__ import annotations

from typing import Any

from contracts.events import EventKind, SupportEvent
from streams.recipes.base import Emit
from streams.recipes.settings import RecipesConfig
from streams.recipes.zendesk_users import membership
from streams.state.model import SupportState

_MAPPED_TRAITS = frozenset(
    {"email", "name", "first_name", "last_name", "firstName", "lastName", "userId", "id",
     "organizationId", "timezone", "phone", "company"}
)
_TICKET_FIELDS = ("subject", "priority", "status", "type", "tags", "external_id")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list | bool):
        return None
    return str(value).strip() or None


def user_attributes(traits: dict[str, Any], user_id: str | None) -> dict[str, Any]:
    first = _text(traits.get("first_name") or traits.get("firstName"))
    last = _text(traits.get("last_name") or traits.get("lastName"))
    name = _text(traits.get("name")) or " ".join(p for p in (first, last) if p) or None
    attributes: dict[str, Any] = {
        "name": name,
        "external_id": user_id,
        "organization_id": traits.get("organizationId"),
        "time_zone": _text(traits.get("timezone")),
        "phone": _text(traits.get("phone")),
    }
    attributes = {k: v for k, v in attributes.items() if v is not None}
    custom = {k: v for k, v in traits.items() if k not in _MAPPED_TRAITS}
    if custom:
        attributes["user_fields"] = custom  # unknown keys: dropped and counted by the sink
    return attributes


def r19(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    if event.source != "pipelines":
        return
    record = {"event": event.model_dump(mode="json")}
    settings = config.r19_zendesk_destination
    user_id = _text(event.attributes.get("user_id"))
    if event.kind == EventKind.IDENTIFY:
        email = event.identities.email
        if email is None:
            emit.reject("R19", "missing_email", "identify needs traits.email", "pipelines", record)
            return
        traits = event.attributes.get("traits") or {}
        payload: dict[str, Any] = {
            "attributes": user_attributes(traits, user_id),
            "identify_by": "email",
            "verified": settings.create_users_as_verified,
            "skip_verify_email": settings.skip_verify_email,
        }
        emit.add("R19", "zendesk", "update_user", email, payload)
        membership(emit, "R19", email, traits.get("company"))
    elif event.kind == EventKind.GROUP:
        _group(emit, event, state, user_id, record)
    elif event.kind == EventKind.TRACK:
        _track(emit, event, state, settings.ticket_created_event,
               settings.ticket_updated_event, record)


def _group(
    emit: Emit, event: SupportEvent, state: SupportState, user_id: str | None,
    record: dict[str, Any],
) -> None:
    group_id = _text(event.attributes.get("group_id"))
    if group_id is None:
        emit.reject("R19", "missing_group_id", "group needs a groupId", "pipelines", record)
        return
    traits = event.attributes.get("traits") or {}
    organization: dict[str, Any] = {"external_id": group_id}
    if _text(traits.get("name")):
        organization["name"] = _text(traits.get("name"))
    domains = traits.get("domainNames")
    if isinstance(domains, str):
        domains = [d.strip() for d in domains.split(",") if d.strip()]
    if isinstance(domains, list):
        organization["domain_names"] = [str(d) for d in domains]
    if isinstance(traits.get("tags"), list):
        organization["tags"] = [str(t) for t in traits["tags"]]
    fields = {k: traits[k] for k in ("url", "deleted") if k in traits}
    if fields:
        organization["organization_fields"] = fields
    emit.add("R19", "zendesk", "update_organization", group_id,
             {"attributes": organization, "external_id": group_id})
    if user_id:
        person = state.identities.email or user_id
        payload: dict[str, Any] = {"organization_external_id": group_id}
        if "name" in organization:
            payload["organization_name"] = organization["name"]
        emit.add("R19", "zendesk", "add_membership", person, payload, discriminator=group_id)


def _track(
    emit: Emit, event: SupportEvent, state: SupportState, created: str, updated: str,
    record: dict[str, Any],
) -> None:
    name = str(event.attributes.get("event"))
    props: dict[str, Any] = event.attributes.get("properties") or {}
    email = event.identities.email or state.identities.email
    if name == created:
        ticket = {k: props[k] for k in _TICKET_FIELDS if props.get(k) is not None}
        body = _text(props.get("description") or props.get("comment") or props.get("subject"))
        if body is None or email is None:
            emit.reject("R19", "invalid_ticket", "Ticket Created needs an email and a "
                        "description, comment or subject", "pipelines", record)
            return
        ticket["comment"] = {"body": body}
        emit.add("R19", "zendesk", "create_ticket", email, {"ticket": ticket}, one_off=True)
    elif name == updated:
        ticket_id = _text(props.get("ticket_id") or props.get("id"))
        if ticket_id is None or not ticket_id.isdigit():
            emit.reject("R19", "invalid_ticket", "Ticket Updated needs a numeric ticket_id",
                        "pipelines", record)
            return
        payload: dict[str, Any] = {"ticket_id": ticket_id}
        payload.update({k: props[k] for k in _TICKET_FIELDS if props.get(k) is not None})
        if _text(props.get("comment")):
            payload["comment"] = _text(props.get("comment"))
        emit.add("R19", "zendesk", "update_ticket", email or ticket_id, payload, one_off=True)
    else:
        _user_event(emit, event, name, props, email, record)


def _user_event(
    emit: Emit, event: SupportEvent, name: str, props: dict[str, Any], email: str | None,
    record: dict[str, Any],
) -> None:
    lookup: list[tuple[str, str | None]] = [
        ("user_id", _text(event.attributes.get("zendesk_user_id"))),
        ("email", email),
        ("external_id", _text(event.attributes.get("user_id"))),
    ]
    found = next(((kind, value) for kind, value in lookup if value), None)
    if found is None:
        emit.reject("R19", "no_zendesk_user", "track needs context.zendesk_user_id, an email "
                    "or a userId to find the Zendesk user", "pipelines", record)
        return
    kind, value = found
    payload = {
        kind: value,
        "event": {"source": "supportsync", "type": name, "properties": props,
                  "created_at": event.occurred_at.isoformat()},
    }
    emit.add("R19", "zendesk", "user_event", value, payload, one_off=True)
