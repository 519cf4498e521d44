"""Routing rules: transitions → actions for the sinks (SPEC S5).

Each recipe is a small function `(transition, state) -> list[Action]`; `Router` runs the
enabled ones. Names of attributes and events come from `RoutingConfig` (configurable).

R1  suppression attributes → Customer.io identify (priority "suppression" when a
    suppression flag changed, so it overtakes enrichment traffic in the token bucket)
R2  `zendesk_ticket_created` on open, `support_ticket_resolved` on solved/closed (never for
    a merge: the state machine emits no `ticket_resolved` then)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.actions import Action, Priority, SinkName, derive_action_id
from contracts.deadletters import StageDeadLetter
from contracts.events import Identities, SupportEvent
from streams.state.model import SupportState
from streams.state.transitions import Transition
from streams.tally import RecipeTally

SUPPRESSION_FIELDS = frozenset({"has_open_ticket", "support_state", "refund_risk"})


@dataclass(frozen=True)
class RoutingConfig:
    customerio_identifier: str = "email"  # email | external_id | cio_id | customer_key
    r1_enabled: bool = True
    r2_enabled: bool = True
    #: exported attribute name → Customer.io attribute name
    r1_attribute_names: dict[str, str] = field(default_factory=dict)
    ticket_created_event: str = "zendesk_ticket_created"
    ticket_resolved_event: str = "support_ticket_resolved"


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class Router:
    def __init__(self, config: RoutingConfig | None = None) -> None:
        self.config = config or RoutingConfig()
        self.tally = RecipeTally()  # counts of what routing did, drained by the runtime
        self.sinks: frozenset[str] | None = None  # destinations that run (None: all)

    def addressable(self, identities: Identities) -> bool:
        """Whether Customer.io can be told about a customer with these identities (its
        identifier is known); always, when Customer.io runs nowhere. Events of others are
        parked (streams.parking)."""
        if self.sinks is not None and "customerio" not in self.sinks:
            return True
        kind = self.config.customerio_identifier
        return kind == "customer_key" or bool(getattr(identities, kind, None))

    def person_id(self, transition: Transition) -> str | None:
        kind = self.config.customerio_identifier
        if kind == "customer_key":
            return transition.customer_key
        value = getattr(transition.identities, kind, None)
        return str(value) if value else None

    def route_event(
        self, event: SupportEvent, state: SupportState, received_at: float | None
    ) -> tuple[list[Action], list[StageDeadLetter]]:
        """Recipes over events (R3, R4, R8…, R19): none here, see `streams.recipes`."""
        return [], []

    def route(
        self,
        transition: Transition,
        state: SupportState,
        received_at: float | None,
        origin: str = "live",  # the causing event's origin (the recipes' replay horizon)
    ) -> tuple[list[Action], list[StageDeadLetter]]:
        if transition.kind not in _ROUTED_KINDS:
            return [], []
        person = self.person_id(transition)
        stamped = _ts(received_at)
        actions: list[Action] = []
        if self.config.r1_enabled:
            actions += self._r1(transition, person or "", stamped)
        if self.config.r2_enabled:
            actions += self._r2(transition, person or "", stamped)
        if not actions:
            return [], []
        if person is None:
            # Not guessed and not dropped silently: a later identify re-sends the full
            # attribute set; the dead letter keeps the one-off actions for a redrive.
            return [], [
                StageDeadLetter(
                    stage="route",
                    reason="no_identifier",
                    source="customerio",
                    detail=f"no {self.config.customerio_identifier} known for the customer",
                    record={"transition": transition.json_dict()},
                )
            ]
        return actions, []

    def _r1(self, t: Transition, person: str, received_at: datetime | None) -> list[Action]:
        if t.kind not in ("attributes_changed", "support_state_changed") or not t.changed:
            return []
        names = self.config.r1_attribute_names
        # Absent values are omitted; a value that *became* absent is cleared with "" (how
        # Customer.io removes an attribute).
        attributes: dict[str, Any] = {
            names.get(k, k): ("" if v is None else v)
            for k, v in t.attributes.items()
            if v is not None or k in t.changed
        }
        priority: Priority = (
            "suppression" if SUPPRESSION_FIELDS & set(t.changed) else "enrichment"
        )
        return [
            _action(
                t, "customerio", "identify", person, received_at,
                payload={"attributes": attributes}, priority=priority, one_off=False,
            )
        ]

    def _r2(self, t: Transition, person: str, received_at: datetime | None) -> list[Action]:
        if t.kind not in ("ticket_opened", "ticket_resolved") or not t.ticket:
            return []
        ticket = t.ticket
        if ticket.get("source") != "zendesk":
            return []
        name = (
            self.config.ticket_created_event
            if t.kind == "ticket_opened"
            else self.config.ticket_resolved_event
        )
        data = {
            k: ticket.get(k)
            for k in ("id", "reason", "priority", "tags", "assignee", "resolution_seconds")
            if ticket.get(k) is not None
        }
        data = {("ticket_id" if k == "id" else k): v for k, v in data.items()}
        tags = data.get("tags")
        if isinstance(tags, tuple):
            data["tags"] = list(tags)
        payload = {"name": name, "data": data, "timestamp": int(t.occurred_at.timestamp())}
        return [
            _action(
                t, "customerio", "event", person, received_at,
                payload=payload, priority="enrichment", one_off=True,
            )
        ]


_ROUTED_KINDS = frozenset(
    {"attributes_changed", "support_state_changed", "ticket_opened", "ticket_resolved"}
)


def _action(
    t: Transition,
    sink: SinkName,
    operation: str,
    person: str,
    received_at: datetime | None,
    *,
    payload: dict[str, Any],
    priority: Priority,
    one_off: bool,
    discriminator: str = "",
) -> Action:
    return Action(
        action_id=derive_action_id(t.transition_id, sink, operation, discriminator),
        sink=sink,
        operation=operation,
        customer_key=t.customer_key,
        person=person,
        payload=payload,
        priority=priority,
        one_off=one_off,
        created_at=datetime.now(UTC),
        received_at=received_at,
        causing_event_id=t.causing_event_id,
    )
