"""R19: the Zendesk destination for Segment-spec calls, as Customer.io Data Pipelines offers.

identify  → create_or_update user by email; `name`, or first_name + last_name joined;
            userId → external_id; organizationId → organization_id; timezone → time_zone;
            phone; every other trait goes to user fields, and the sink keeps only fields the
            account defines (the rest are dropped and counted). Without an email but with a
            userId, the user whose external_id is the userId is updated and nobody is
            created (no such user: a dead letter); with neither, a dead letter.
            `traits.company.id` is the Zendesk organization id: the person becomes a member,
            or stops being one when `traits.company.remove` is true (no organization is
            created to find it; a non-numeric id is a dead letter).
            Settings: skip-verify-email, create-users-as-verified.
group     → create_or_update organization with groupId as external_id (name, domainNames →
            domain_names, tags; Zendesk's own details/notes/group_id/shared_* as they are;
            every other trait, url and deleted included, as organization fields), adding
            the person (context.traits.email, else userId) when userId is present. The
            traits describe the organization: their email is never the person's.
track     → "Ticket Created" creates a ticket, "Ticket Updated" updates one; any other event
            is a Zendesk user event (Events API) for the user found by
            context.zendesk_user_id, else properties.email / the person's email, else userId
            as external_id; with none of them, or no such user, a dead letter says so.
"""

from __future__ import annotations

from typing import Any

from contracts.events import EventKind, SupportEvent, normalize_email
from streams.recipes.base import Emit
from streams.recipes.settings import RecipesConfig
from streams.state.model import SupportState

_MAPPED_TRAITS = frozenset(
    {"email", "name", "first_name", "last_name", "firstName", "lastName", "userId", "id",
     "organizationId", "timezone", "phone", "company"}
)
_TICKET_FIELDS = ("subject", "priority", "status", "type", "tags", "external_id")
#: group traits that are Zendesk organization properties of the same name
_ORGANIZATION_PROPERTIES = ("details", "notes", "group_id", "shared_tickets", "shared_comments")
_MAPPED_GROUP_TRAITS = frozenset({"name", "domainNames", "tags", *_ORGANIZATION_PROPERTIES})


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
    record = {"event": event.to_dict()}
    settings = config.r19_zendesk_destination
    user_id = _text(event.attributes.get("user_id"))
    if event.kind == EventKind.IDENTIFY:
        email = event.identities.email
        traits = event.attributes.get("traits") or {}
        payload: dict[str, Any] = {"attributes": user_attributes(traits, user_id)}
        if email is not None:
            person = email
            payload |= {
                "identify_by": "email",
                "verified": settings.create_users_as_verified,
                "skip_verify_email": settings.skip_verify_email,
            }
        elif user_id is not None:
            # no email: update the user Zendesk already knows by this external_id, never
            # create one (Zendesk would make an end user without any way to reach them)
            person = user_id
            payload["attributes"].pop("external_id", None)
            payload |= {"identify_by": "external_id", "create": False}
        else:
            emit.reject("R19", "missing_email", "identify needs traits.email or a userId",
                        "pipelines", record, sink="zendesk")
            return
        emit.add("R19", "zendesk", "update_user", person, payload)
        _company(emit, person, traits.get("company"), record)
    elif event.kind == EventKind.GROUP:
        _group(emit, event, state, user_id, record)
    elif event.kind == EventKind.TRACK:
        _track(emit, event, state, settings.ticket_created_event,
               settings.ticket_updated_event, record)


def _company(emit: Emit, person: str, company: Any, record: dict[str, Any]) -> None:
    """`traits.company.id` names an existing Zendesk organization by its Zendesk id."""
    if not isinstance(company, dict) or company.get("id") in (None, ""):
        return
    organization_id = _text(company["id"])
    if organization_id is None or not organization_id.isdigit():
        emit.reject("R19", "invalid_company_id", "traits.company.id must be the numeric id of "
                    "a Zendesk organization", "pipelines", record, sink="zendesk")
        return
    operation = "remove_membership" if company.get("remove") is True else "add_membership"
    emit.add("R19", "zendesk", operation, person, {"organization_id": int(organization_id)},
             discriminator=organization_id)


def _group(
    emit: Emit, event: SupportEvent, state: SupportState, user_id: str | None,
    record: dict[str, Any],
) -> None:
    group_id = _text(event.attributes.get("group_id"))
    if group_id is None:
        emit.reject("R19", "missing_group_id", "group needs a groupId", "pipelines", record,
                    sink="zendesk")
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
    organization.update({k: traits[k] for k in _ORGANIZATION_PROPERTIES if k in traits})
    # every other trait (url, deleted, email, plan, ...): organization fields, kept by the
    # sink only where the account defines them
    fields = {k: v for k, v in traits.items() if k not in _MAPPED_GROUP_TRAITS}
    if fields:
        organization["organization_fields"] = fields
    emit.add("R19", "zendesk", "update_organization", group_id,
             {"attributes": organization, "external_id": group_id})
    if user_id:
        # the person: context.traits.email (normalized into the identities) or what the
        # state knows, else the userId as external_id; never traits.email (the org's)
        person = event.identities.email or state.identities.email or user_id
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
                        "description, comment or subject", "pipelines", record, sink="zendesk")
            return
        ticket["comment"] = {"body": body}
        emit.add("R19", "zendesk", "create_ticket", email, {"ticket": ticket}, one_off=True)
    elif name == updated:
        ticket_id = _text(props.get("ticket_id") or props.get("id"))
        if ticket_id is None or not ticket_id.isdigit():
            emit.reject("R19", "invalid_ticket", "Ticket Updated needs a numeric ticket_id",
                        "pipelines", record, sink="zendesk")
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
    lookup = {
        "user_id": _text(event.attributes.get("zendesk_user_id")),
        "email": normalize_email(_text(props.get("email"))) or email,
        "external_id": _text(event.attributes.get("user_id")),
    }
    found = {kind: value for kind, value in lookup.items() if value}
    if not found:
        emit.reject("R19", "no_zendesk_user", "track needs context.zendesk_user_id, an email "
                    "or a userId to find the Zendesk user", "pipelines", record, sink="zendesk")
        return
    # the sink tries them in this order: the Zendesk id, the email, the external_id
    payload: dict[str, Any] = {
        **found,
        "event": {"type": name, "properties": props,
                  "created_at": event.occurred_at.isoformat()},
    }
    person = found.get("email") or found.get("external_id") or found["user_id"]
    emit.add("R19", "zendesk", "user_event", person, payload, one_off=True)
