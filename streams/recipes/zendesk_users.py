"""R3 engagement enrichment, R4 Zendesk users from Customer.io lifecycle (SPEC S5).

R3   Customer.io reporting webhooks (opened, clicked, ...) → Zendesk user fields (last email
     open/click time, last campaign, days since last open) for users Zendesk knows, and the
     same Intercom contact attributes (for contacts Intercom knows). Zendesk drops fields
     the account does not define (the sink counts them). An open sets days since last open
     to 0; every day after it the machine's timer emits `engagement_aged` and the field
     follows (up to `windows.days_since_open_max`).
R4   lifecycle events (signed_up, trial_started, plan_changed) and entering configured
     segments (churn-risk) → Zendesk create_or_update user with plan tier and lifecycle
     stage; `company.id` → organization membership (removed with `company.remove`).

R19 (Segment-spec calls → Zendesk) lives in `streams.recipes.destination`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from contracts.events import EventKind, SupportEvent
from streams.recipes.base import Emit, helpdesk_person
from streams.recipes.settings import RecipesConfig
from streams.state.model import SupportState
from streams.state.transitions import Transition


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != {}


def r3(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    settings = config.r3_engagement
    if event.kind != EventKind.EMAIL_ENGAGEMENT or event.source != "customerio":
        return
    metric = str(event.attributes.get("metric"))
    if metric not in settings.metrics:
        return
    person = helpdesk_person(state.identities)
    if person is None:
        return
    at = event.occurred_at
    fields: dict[str, Any] = {}
    stamps: dict[str, Any] = {}
    if metric == "opened":
        fields[settings.open_field] = stamps[settings.open_field] = at
        if state.last_email_open_at is not None and state.as_of is not None:
            # Whole days from the newest open to what the state has seen (0 on the day);
            # the machine's timer moves it on as days pass (`r3_aged`).
            days = (state.as_of - state.last_email_open_at) // timedelta(days=1)
            fields[settings.days_since_open_field] = max(0, days)
    elif metric == "clicked":
        fields[settings.click_field] = stamps[settings.click_field] = at
    campaign = event.attributes.get("campaign_id") or event.attributes.get("broadcast_id")
    if campaign:
        fields[settings.campaign_field] = str(campaign)
    if not fields:
        return
    if state.identities.zendesk_user_id:  # enrich people Zendesk knows; never create them
        zendesk = {k: (v.isoformat() if k in stamps else v) for k, v in fields.items()}
        emit.add("R3", "zendesk", "update_user", person, {"attributes": zendesk})
    if settings.intercom and state.identities.intercom_contact_id:
        intercom = {k: (int(v.timestamp()) if k in stamps else v) for k, v in fields.items()}
        emit.add("R3", "intercom", "update_contact", person, {"attributes": intercom})


def r3_aged(emit: Emit, t: Transition, config: RecipesConfig) -> None:
    """A day passed since the last open: the new `days_since_last_open` on both helpdesks."""
    settings = config.r3_engagement
    if t.kind != "engagement_aged" or not t.details:
        return
    person = helpdesk_person(t.identities)
    if person is None:
        return
    fields = {settings.days_since_open_field: t.details.get("days_since_last_open")}
    if t.identities.zendesk_user_id:
        emit.add("R3", "zendesk", "update_user", person, {"attributes": fields})
    if settings.intercom and t.identities.intercom_contact_id:
        emit.add("R3", "intercom", "update_contact", person, {"attributes": fields})


def r4(emit: Emit, event: SupportEvent, state: SupportState, config: RecipesConfig) -> None:
    settings = config.r4_lifecycle_users
    if event.source != "customerio":
        return
    if event.kind == EventKind.LIFECYCLE_EVENT:
        stage = str(event.attributes.get("name"))
        if stage not in settings.lifecycle_events:
            return
    elif event.kind == EventKind.SEGMENT_ENTERED:
        stage = str(event.attributes.get("segment"))
        if stage not in settings.segments:
            return
    else:
        return
    person = helpdesk_person(state.identities)
    if person is None:
        emit.reject("R4", "no_identifier", "no email or external_id for Zendesk", "customerio",
                    {"event": event.to_dict()})
        return
    attributes: dict[str, Any] = {settings.stage_field: stage}
    plan = event.attributes.get(settings.plan_attribute)
    if not _present(plan) and settings.plan_attribute in state.profile:
        plan = state.profile[settings.plan_attribute].value
    if _present(plan):
        attributes[settings.plan_field] = plan
    if state.identities.external_id and "@" in person:
        attributes["external_id"] = state.identities.external_id
    name = state.profile.get("name")
    if name is not None and _present(name.value):
        attributes["name"] = name.value
    elif not state.identities.zendesk_user_id:
        attributes["name"] = person.split("@")[0]  # Zendesk needs a name to create a user
    emit.add("R4", "zendesk", "update_user", person, {"attributes": attributes})
    membership(emit, "R4", person, event.attributes.get("company"))


def membership(emit: Emit, recipe: str, person: str, company: Any) -> None:
    """`company: {id, name?, remove?}` → add or remove the organization membership."""
    if not isinstance(company, dict) or not _present(company.get("id")):
        return
    operation = "remove_membership" if company.get("remove") else "add_membership"
    payload: dict[str, Any] = {"organization_external_id": str(company["id"])}
    if _present(company.get("name")):
        payload["organization_name"] = str(company["name"])
    emit.add(recipe, "zendesk", operation, person, payload, discriminator=str(company["id"]))
