"""`RecipeRouter`: every recipe R1–R19 over transitions and events, as configured.

`route(transition, state, received_at, origin)` runs the transition recipes;
`route_event(event, state, received_at)` runs the event recipes for every applied event
(including events that change no support state: engagement, lifecycle, track, group).
Each call builds one `Emit`, so action ids derive from the transition id or from
`event:<event id>` and replays produce the same ids (the sinks deduplicate them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.delivery.actions import Action
from streams.deadletters import StageDeadLetter
from streams.events import SupportEvent
from streams.recipes import (
    campaigns,
    data_out,
    destination,
    linked,
    profiles,
    suppression,
    tickets,
    zendesk_users,
)
from streams.recipes.base import Emit
from streams.recipes.settings import RecipesConfig
from streams.routing import Router, RoutingConfig
from streams.state.model import SupportState
from streams.state.transitions import Transition

Routed = tuple[list[Action], list[StageDeadLetter]]


def _stamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class RecipeRouter(Router):
    def __init__(
        self,
        recipes: RecipesConfig | None = None,
        *,
        identifier: str = "email",
        horizon: timedelta = timedelta(hours=72),
    ) -> None:
        # The base router's own R1/R2 are replaced by the recipe modules.
        super().__init__(
            RoutingConfig(customerio_identifier=identifier, r1_enabled=False, r2_enabled=False)
        )
        self.recipes = recipes or RecipesConfig()
        self.identifier = identifier
        self.horizon = horizon

    def route(
        self,
        transition: Transition,
        state: SupportState,
        received_at: float | None,
        origin: str = "live",
    ) -> Routed:
        t, c, ident = transition, self.recipes, self.identifier
        emit = Emit(
            source_id=t.transition_id, customer_key=t.customer_key,
            causing_event_id=t.causing_event_id, occurred_at=t.occurred_at,
            received_at=_stamp(received_at), origin=origin, horizon=self.horizon,
        )
        if c.r1_suppression.enabled:
            suppression.r1(emit, t, c, ident)
        if c.r15_unsubscribe_sync.enabled:
            suppression.r15(emit, t, c, ident)
        if c.r17_ad_audiences.enabled:
            suppression.r17(emit, t, c)
        if c.r2_post_resolution.enabled:
            campaigns.r2(emit, t, c, ident)
        if c.r6_csat.enabled:
            campaigns.r6(emit, t, c, ident)
        if c.r14_intercom_to_cio.enabled:
            campaigns.r14_transition(emit, t, c, ident)
        if c.r5_vip_routing.enabled:
            tickets.r5(emit, t, state, c)
        if c.r7_churn_outreach.enabled:
            tickets.r7(emit, t, state, c)
        if c.r10_profile_sync.enabled:
            profiles.r10(emit, t, state, c)
        if c.r16_data_out.enabled:
            data_out.r16(emit, t, c)
        if c.r18_reporting.enabled:
            data_out.r18(emit, t, c)
        return emit.actions, emit.dead_letters

    def route_event(
        self, event: SupportEvent, state: SupportState, received_at: float | None
    ) -> Routed:
        c = self.recipes
        emit = Emit(
            source_id=f"event:{event.event_id}", customer_key=state.customer_key,
            causing_event_id=event.event_id, occurred_at=event.occurred_at,
            received_at=_stamp(received_at), origin=event.origin, horizon=self.horizon,
        )
        if c.r3_engagement.enabled:
            zendesk_users.r3(emit, event, state, c)
        if c.r4_lifecycle_users.enabled:
            zendesk_users.r4(emit, event, state, c)
        if c.r19_zendesk_destination.enabled:
            destination.r19(emit, event, state, c)
        if c.r8_escalation.enabled:
            linked.r8(emit, event, state, c)
        if c.r9_status_back.enabled:
            linked.r9(emit, event, state, c)
        if c.r11_tag_mapping.enabled:
            linked.r11(emit, event, state, c)
        if c.r12_acknowledge.enabled:
            linked.r12(emit, event, state, c)
        if c.r13_cio_to_intercom.enabled:
            profiles.r13(emit, event, state, c)
        if c.r14_intercom_to_cio.enabled:
            campaigns.r14_event(emit, event, state, c, self.identifier)
        return emit.actions, emit.dead_letters
