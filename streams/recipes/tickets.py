"""Ticket recipes over transitions: R5 VIP routing, R7 proactive outreach (SPEC S5).

R5   a new Zendesk ticket whose requester is in a configured Customer.io segment (held in the
     state) or has a configured plan → set priority, add tags, set group/assignee. The first
     matching rule wins; no API is queried at ticket time.
R7   entering the churn-risk segment → an internal Zendesk ticket tagged
     `proactive-outreach` with the customer's support context, routed to a group by plan
     tier or region. One per segment entry (one-off). With `intercom_conversation`, also
     an Intercom conversation with the customer, opened by their CSM (the profile's
     `csm_attribute`, else `default_csm_admin_id`), assigned to the CSM, with the support
     context as an internal note.

The Intercom ↔ Zendesk ticket recipes R8, R9, R11, R12 are in `streams.recipes.linked`.
"""

from __future__ import annotations

from typing import Any

from streams.recipes.base import Emit, helpdesk_person
from streams.recipes.settings import RecipesConfig, VipRule
from streams.state.model import SupportState
from streams.state.transitions import Transition


def vip_rule(state: SupportState, config: RecipesConfig) -> VipRule | None:
    settings = config.r5_vip_routing
    plan_field = state.profile.get(settings.plan_attribute)
    plan = None if plan_field is None else str(plan_field.value)
    for rule in settings.segments:
        if rule.segment is not None and rule.segment in state.segments:
            return rule
        if rule.plan is not None and rule.plan == plan:
            return rule
    return None


def r5(emit: Emit, t: Transition, state: SupportState, config: RecipesConfig) -> None:
    if t.kind != "ticket_opened" or not t.ticket or t.ticket.get("source") != "zendesk":
        return
    ticket_id = str(t.ticket.get("id"))
    if not ticket_id.isdigit():
        return
    rule = vip_rule(state, config)
    if rule is None or emit.created_before_horizon("R5", t.ticket.get("opened_at")):
        return
    payload: dict[str, Any] = {"ticket_id": ticket_id}
    if rule.priority is not None and t.ticket.get("priority") != rule.priority:
        payload["priority"] = rule.priority
    missing = [tag for tag in rule.tags if tag not in (t.ticket.get("tags") or [])]
    if missing:
        payload["add_tags"] = missing
    if rule.group_id is not None:
        payload["group_id"] = rule.group_id
    if rule.assignee_id is not None:
        payload["assignee_id"] = rule.assignee_id
    if len(payload) == 1:
        return  # the ticket already looks the way the rule wants
    emit.add("R5", "zendesk", "update_ticket", helpdesk_person(t.identities) or ticket_id,
             payload, one_off=True)


def _context(state: SupportState) -> str:
    attributes = state.exported_attributes()
    lines = [
        "This customer entered the churn-risk segment.",
        f"Support state: {state.support_state}",
        f"Open tickets: {attributes['open_ticket_count']}",
        f"Last ticket status: {attributes['last_ticket_status'] or 'none'}",
        f"Last CSAT: {attributes['last_csat_score'] if state.csat else 'none'}",
        f"Segments: {', '.join(state.segments) or 'none'}",
    ]
    for name in ("plan", "region", "company"):
        if name in state.profile:
            lines.append(f"{name.capitalize()}: {state.profile[name].value}")
    return "\n".join(lines)


def r7(emit: Emit, t: Transition, state: SupportState, config: RecipesConfig) -> None:
    settings = config.r7_churn_outreach
    if t.kind != "segments_changed" or not t.details:
        return
    if t.details.get("action") != "entered" or t.details.get("segment") != settings.segment:
        return
    person = helpdesk_person(t.identities)
    if person is None:
        emit.reject("R7", "no_identifier", "no email or external_id for the ticket",
                    "customerio", {"transition": t.json_dict()}, sink="zendesk")
        return
    ticket: dict[str, Any] = {
        "subject": settings.subject,
        "priority": settings.priority,
        "type": "task",
        "tags": [settings.tag],
    }
    group = _group(state, config)
    if group is not None:
        ticket["group_id"] = group
    emit.add("R7", "zendesk", "create_ticket", person,
             {"ticket": ticket, "note": _context(state)}, one_off=True)
    if settings.intercom_conversation and state.identities.intercom_contact_id:
        csm = state.profile.get(settings.csm_attribute)
        admin = str(csm.value) if csm is not None and csm.value else settings.default_csm_admin_id
        if admin:
            message = {"message_type": "in_app", "body": settings.conversation_body,
                       "contact_id": state.identities.intercom_contact_id, "admin_id": admin,
                       "open_conversation": True, "note": _context(state)}
            emit.add("R7", "intercom", "send_message", person, message, one_off=True)


def _group(state: SupportState, config: RecipesConfig) -> int | None:
    settings = config.r7_churn_outreach
    for attribute, groups in (
        (settings.tier_attribute, settings.groups_by_tier),
        (settings.region_attribute, settings.groups_by_region),
    ):
        value = state.profile.get(attribute)
        if value is not None and str(value.value) in groups:
            return groups[str(value.value)]
    return None
