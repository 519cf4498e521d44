"""R10 two-way profile sync, R13 Customer.io → Intercom (SPEC S5).

R10  a profile field changed by Intercom goes to Zendesk and one changed by Zendesk goes to
     Intercom (configured fields and names). The state already resolved conflicts: the
     newer value wins per field (an older update changes nothing, so nothing is sent), and
     our own write echoed back carries an equal value, which is no change either. A field
     `pinned` to one system only ever flows out of that system.
R13  Customer.io segment membership → Intercom contact attributes (`cio_segment_<name>`)
     and, when a tag id is configured, a contact tag; a conversion → `last_conversion_at`;
     selected lifecycle events → Intercom data events. Only for contacts Intercom knows.
"""

from __future__ import annotations

import re
from typing import Any

from contracts.events import EventKind, SupportEvent
from streams.recipes.base import Emit, helpdesk_person
from streams.recipes.settings import RecipesConfig
from streams.state.model import SupportState
from streams.state.transitions import Transition

_SLUG = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    return _SLUG.sub("_", name.lower()).strip("_")


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
        rule, held = rules.get(name), state.profile.get(name)
        if rule is None or held is None:
            continue
        if held.source == "intercom" and rule.pinned != "zendesk":
            to_zendesk[rule.zendesk] = held.value
        elif held.source == "zendesk" and rule.pinned != "intercom":
            to_intercom[rule.intercom] = held.value
    if to_zendesk and t.identities.zendesk_user_id:
        emit.add("R10", "zendesk", "update_user", person, {"attributes": to_zendesk})
    if to_intercom and t.identities.intercom_contact_id:
        emit.add("R10", "intercom", "update_contact", person, {"attributes": to_intercom})


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
