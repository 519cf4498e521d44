"""R10 two-way profile sync, R13 Customer.io → Intercom (SPEC S5).

R10  a profile field changed by Intercom goes to Zendesk and one changed by Zendesk goes to
     Intercom (configured fields, each with its name on either side: name, email,
     company, plan and any custom user field / custom attribute). The state already
     resolved conflicts per field: an older update changes nothing, so nothing is sent.
     When the two sides name a field differently each has its own profile slot, and a
     value the other side already holds (our write echoed back) or a newer value there
     stops the sync. A field `pinned` to one system only ever flows out of that system.
     Writes address the Zendesk user and the Intercom contact by id, so an email change
     updates the person instead of matching (or creating) someone by the new email.
     Zendesk organizations go to Intercom companies (`r10_organization`).
R13  Customer.io segment membership → Intercom contact attributes (`cio_segment_<name>`)
     and, when a tag id is configured, a contact tag; a conversion → `last_conversion_at`;
     selected lifecycle events → Intercom data events. Only for contacts Intercom knows.
"""

from __future__ import annotations

import re
from typing import Any

from contracts.events import EventKind, SupportEvent
from streams.recipes.base import Emit, helpdesk_person, linked_kinds
from streams.recipes.settings import FieldRule, RecipesConfig
from streams.state.model import ProfileField, SupportState
from streams.state.transitions import Transition

_SLUG = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    return _SLUG.sub("_", name.lower()).strip("_")


def _rules_for(name: str, source: str, rules: dict[str, FieldRule]) -> list[FieldRule]:
    """The rules naming `name` on the side `source` reported it from."""
    if source == "zendesk":
        return [r for r in rules.values() if name in (r.zendesk, r.zendesk_field_id)]
    if source == "intercom":
        return [r for r in rules.values() if name == r.intercom]
    return []


def _other_side_has(
    state: SupportState, held: ProfileField, name: str, side: str, *slots: str | None
) -> bool:
    """True when the other helpdesk (`side`) already holds this value, or a newer one.

    When both sides use one name there is a single profile slot, already resolved by the
    state (an older or equal update changed nothing). Otherwise the other side's own slots
    (its names for the field) tell: an equal value is our write come back (or a value both
    already share), a newer one won and was carried over when it arrived. Values other
    sources (Segment identify traits, say) put in those slots do not count."""
    for slot in slots:
        theirs = None if slot is None or slot == name else state.profile.get(slot)
        if theirs is None or theirs.source != side:
            continue
        if theirs.value == held.value or theirs.at > held.at:
            return True
    return False


def r10(emit: Emit, t: Transition, state: SupportState, config: RecipesConfig) -> None:
    if t.kind != "profile_changed" or not t.details:
        return
    person = helpdesk_person(t.identities)
    if person is None:
        return
    rules = config.r10_profile_sync.fields
    to_zendesk: dict[str, Any] = {}
    to_intercom: dict[str, Any] = {}
    for name in t.details.get("fields") or {}:
        held = state.profile.get(name)
        if held is None:
            continue
        for rule in _rules_for(name, held.source, rules):
            if held.source == "intercom" and rule.pinned != "zendesk":
                if not _other_side_has(state, held, name, "zendesk", rule.zendesk,
                                       rule.zendesk_field_id):
                    to_zendesk[rule.zendesk] = held.value
            elif held.source == "zendesk" and rule.pinned != "intercom":
                if not _other_side_has(state, held, name, "intercom", rule.intercom):
                    to_intercom[rule.intercom] = held.value
    zendesk_id, contact_id = t.identities.zendesk_user_id, t.identities.intercom_contact_id
    _membership(emit, t, state, config, person)
    # The ids address the very user and contact, so a changed email moves with them
    # instead of matching (or creating) someone by it. platform_checked: the state compared
    # these values with what the other side last reported, so a value we wrote before and
    # someone changed there since goes out again (the sinks' last-written cache would take
    # it for a repeat).
    if to_zendesk and zendesk_id:
        emit.add("R10", "zendesk", "update_user", person,
                 {"attributes": to_zendesk, "user_id": zendesk_id, "platform_checked": True})
    if to_intercom and contact_id:
        emit.add("R10", "intercom", "update_contact", person,
                 {"attributes": to_intercom, "contact_id": contact_id,
                  "platform_checked": True})


def _membership(
    emit: Emit, t: Transition, state: SupportState, config: RecipesConfig, person: str
) -> None:
    """A Zendesk user's new organization: the Intercom contact joins that company."""
    settings = config.r10_profile_sync.organizations
    changed = (t.details or {}).get("fields") or {}
    held = state.profile.get("organization_id")
    contact_id = t.identities.intercom_contact_id
    if not settings.enabled or "organization_id" not in changed or contact_id is None:
        return
    if held is None or held.source != "zendesk":
        return
    company = f"{settings.company_id_prefix}{held.value}"
    emit.add("R10", "intercom", "attach_company", person,
             {"contact_id": contact_id, "company_id": company})


def r10_organization(
    emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig
) -> None:
    """A Zendesk organization's name and mapped fields → the Intercom company whose
    `company_id` is the prefix + the organization id (created when missing)."""
    settings = config.r10_profile_sync.organizations
    if (event.kind != EventKind.ORGANIZATION_UPDATED or event.source != "zendesk"
            or not settings.enabled):
        return
    organization = event.attributes.get("organization_id")
    if not organization:
        return
    company: dict[str, Any] = {}
    if event.attributes.get("name"):
        company["name"] = event.attributes["name"]
    for field, attribute in settings.fields.items():
        if field in event.attributes and field not in ("organization_id", "name"):
            company[attribute] = event.attributes[field]
    if company:
        person = f"{settings.company_id_prefix}{organization}"
        emit.add("R10", "intercom", "update_company", person, {"attributes": company})


def r13_linked(emit: Emit, t: Transition, state: SupportState, config: RecipesConfig) -> None:
    """A contact Intercom learns of later gets the Customer.io segments the customer is
    already in (attributes and tags), as if it had known them on entry."""
    settings = config.r13_cio_to_intercom
    person = helpdesk_person(t.identities)
    if "intercom_contact_id" not in linked_kinds(t) or person is None:
        return
    segments = [s for s in state.segments
                if settings.segments is None or s in settings.segments]
    if not segments:
        return
    attributes = {f"{settings.attribute_prefix}{slug(s)}": True for s in segments}
    emit.add("R13", "intercom", "update_contact", person, {"attributes": attributes})
    for segment in segments:
        if tag := settings.segment_tag_ids.get(segment):
            emit.add("R13", "intercom", "tag_contact", person, {"tag_id": tag},
                     discriminator=segment)


def r13(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    settings = config.r13_cio_to_intercom
    person = helpdesk_person(state.identities)
    if event.source != "customerio" or person is None or not state.identities.intercom_contact_id:
        return
    if event.kind in (EventKind.SEGMENT_ENTERED, EventKind.SEGMENT_EXITED):
        segment = str(event.attributes.get("segment"))
        if settings.segments is not None and segment not in settings.segments:
            return
        entered = event.kind == EventKind.SEGMENT_ENTERED
        attributes = {f"{settings.attribute_prefix}{slug(segment)}": entered}
        emit.add("R13", "intercom", "update_contact", person, {"attributes": attributes})
        tag = settings.segment_tag_ids.get(segment)
        if tag:  # the tag follows membership: added on entry, removed on exit
            operation = "tag_contact" if entered else "untag_contact"
            emit.add("R13", "intercom", operation, person, {"tag_id": tag})
    elif event.kind == EventKind.EMAIL_ENGAGEMENT and event.attributes.get("metric") == "converted":
        converted = {settings.conversion_attribute: int(event.occurred_at.timestamp())}
        emit.add("R13", "intercom", "update_contact", person, {"attributes": converted})
    elif event.kind == EventKind.LIFECYCLE_EVENT:
        name = str(event.attributes.get("name"))
        if name not in settings.events:
            return
        metadata = {k: v for k, v in event.attributes.items()
                    if k != "name" and isinstance(v, str | int | float | bool) and v != ""}
        payload = {"event_name": name, "created_at": int(event.occurred_at.timestamp()),
                   "metadata": metadata}
        emit.add("R13", "intercom", "data_event", person, payload, one_off=True)
