"""R16 data out and R18 support reporting (SPEC S5).

R16  every `support_state_changed` → the signed HTTP webhook and the PostgreSQL table
     `support_state_changed` (idempotent upsert by transition id), one stable payload:
     transition_id, customer_key, old_state, new_state, reason, causing_event_id,
     occurred_at (ISO 8601), identities, attributes, holdout, recipe. An identifier is
     included only while the consent channel configured for it is allowed (default: email
     gates every identifier, sms gates the phone number), so a customer who withdrew consent
     leaves no identifiers in the warehouse.
R18  ticket/conversation opened and resolved (with resolution time) and CSAT, from both
     helpdesks → Prometheus metrics and `support_report` rows on the webhook (analytics
     collector) and in the PostgreSQL table `support_report`. Identifier-free: rows carry
     the customer key only.
"""

from __future__ import annotations

from typing import Any

from streams.recipes.base import Emit
from streams.recipes.settings import RecipesConfig
from streams.state.transitions import Transition


def consented_identities(t: Transition, config: RecipesConfig) -> dict[str, str]:
    gates = config.r16_data_out.identifier_consent
    consent = t.consent
    return {
        kind: value
        for kind, value in t.identities.pairs()
        if kind in gates and consent.allows(gates[kind])
    }


def state_row(t: Transition, config: RecipesConfig) -> dict[str, Any]:
    return {
        "transition_id": t.transition_id,
        "customer_key": t.customer_key,
        "old_state": t.old_state,
        "new_state": t.new_state,
        "reason": t.reason,
        "causing_event_id": t.causing_event_id,
        "occurred_at": t.occurred_at.isoformat(),
        "identities": consented_identities(t, config),
        "attributes": t.attributes,
        "holdout": t.holdout,
    }


def r16(emit: Emit, t: Transition, config: RecipesConfig) -> None:
    settings = config.r16_data_out
    webhook = settings.webhook and emit.wants("webhook")
    warehouse = settings.warehouse and emit.wants("warehouse")
    if t.kind != "support_state_changed" or not (webhook or warehouse):
        return
    row = state_row(t, config)
    if webhook:
        emit.add("R16", "webhook", "support_state_changed", t.customer_key, row,
                 priority="analytics")
    if warehouse:
        emit.add("R16", "warehouse", "support_state_changed", t.customer_key, row,
                 priority="analytics")


def r18(emit: Emit, t: Transition, config: RecipesConfig) -> None:
    settings = config.r18_reporting
    to_webhook = settings.webhook and emit.wants("webhook")
    to_warehouse = settings.warehouse and emit.wants("warehouse")
    report = to_webhook or to_warehouse
    row: dict[str, Any]
    if t.kind in ("ticket_opened", "ticket_resolved") and t.ticket:
        source = str(t.ticket.get("source"))
        event = "opened" if t.kind == "ticket_opened" else "resolved"
        seconds = t.ticket.get("resolution_seconds")
        if settings.metrics:
            emit.tally.tickets[source, event] += 1
            if event == "resolved" and isinstance(seconds, int):
                emit.tally.resolutions.append((source, seconds))
        if not report:
            return
        row = {"event": f"ticket_{event}", "source": source, "ticket_id": t.ticket.get("id"),
               "priority": t.ticket.get("priority"), "reason": t.ticket.get("reason"),
               "resolution_seconds": seconds}
    elif t.kind == "csat_received" and t.rating:
        source = str(t.rating.get("source"))
        if settings.metrics:
            emit.tally.csat[source, str(bool(t.rating.get("low"))).lower()] += 1
        if not report:
            return
        row = {"event": "csat", "source": source, "ticket_id": t.rating.get("ticket_id"),
               "score": t.rating.get("score"), "scale": t.rating.get("scale"),
               "low": t.rating.get("low")}
    else:
        return
    row.update(customer_key=t.customer_key, occurred_at=t.occurred_at.isoformat(),
               transition_id=t.transition_id)
    if to_webhook:
        emit.add("R18", "webhook", "support_report", t.customer_key, row, priority="analytics")
    if to_warehouse:
        emit.add("R18", "warehouse", "support_report", t.customer_key, row,
                 priority="analytics")
