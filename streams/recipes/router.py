"""`RecipeRouter`: every recipe R1–R19 over transitions and events, as configured.

`route(transition, state, received_at, origin)` runs the transition recipes;
`route_event(event, state, received_at)` runs the event recipes for every applied event
(including events that change no support state: engagement, lifecycle, track, group).
Each call builds one `Emit`, so action ids derive from the transition id or from
`event:<event id>` and replays produce the same ids (the sinks deduplicate them); an
attribute write's id also covers its payload, so a replay under a changed mapping writes
the changed values.

Only the enabled recipes that can act on a transition/event kind are called (a table
built once), so routing stays cheap on the hot path: most transitions need two or three.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from contracts.actions import Action
from contracts.deadletters import StageDeadLetter
from contracts.events import EventKind, SupportEvent
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
from streams.state.tickets import TICKET_KINDS
from streams.state.transitions import Transition
from streams.tally import RecipeTally

Routed = tuple[list[Action], list[StageDeadLetter]]
OnTransition = Callable[[Emit, Transition, SupportState], None]
OnEvent = Callable[[Emit, SupportEvent, SupportState], None]


def transition_table(
    c: RecipesConfig, ident: str, sinks: Collection[str] | None = None
) -> dict[str, list[OnTransition]]:
    """Transition kind → the enabled recipes that act on it, in a fixed order.

    With `sinks`, a recipe whose destinations are all elsewhere is left out (R18 stays
    while it feeds the metrics)."""
    cio, zd, ic = ("customerio",), ("zendesk",), ("intercom",)
    r18_metrics = ("*",) if c.r18_reporting.metrics else ()
    rules: list[tuple[bool, tuple[str, ...], tuple[str, ...], OnTransition]] = [
        (c.r1_suppression.enabled, ("attributes_changed", "identities_linked"), (*cio, *ic),
         lambda e, t, s: suppression.r1(e, t, c, ident)),
        (c.r15_unsubscribe_sync.enabled, ("consent_changed", "identities_linked"), (*cio, *ic),
         lambda e, t, s: suppression.r15(e, t, c, ident)),
        (c.r17_ad_audiences.enabled, ("support_state_changed", "consent_changed"),
         ("audiences",),
         lambda e, t, s: suppression.r17(e, t, c)),
        (True, ("states_merged",), (*cio, "audiences"),
         lambda e, t, s: suppression.merged_away(e, t, c, ident)),
        (c.r2_post_resolution.enabled, ("ticket_opened", "ticket_resolved"), cio,
         lambda e, t, s: campaigns.r2(e, t, c, ident)),
        (c.r6_csat.enabled, ("attributes_changed", "csat_received"), cio,
         lambda e, t, s: campaigns.r6(e, t, c, ident)),
        (c.r14_intercom_to_cio.enabled, ("ticket_resolved",), cio,
         lambda e, t, s: campaigns.r14_transition(e, t, c, ident)),
        (c.r5_vip_routing.enabled, ("ticket_opened",), zd,
         lambda e, t, s: tickets.r5(e, t, s, c)),
        (c.r7_churn_outreach.enabled, ("segments_changed",), (*zd, *ic),
         lambda e, t, s: tickets.r7(e, t, s, c)),
        (c.r3_engagement.enabled, ("engagement_aged",), (*zd, *ic),
         lambda e, t, s: zendesk_users.r3_aged(e, t, c)),
        (c.r10_profile_sync.enabled, ("profile_changed",), (*zd, *ic),
         lambda e, t, s: profiles.r10(e, t, s, c)),
        (c.r13_cio_to_intercom.enabled, ("identities_linked",), ic,
         lambda e, t, s: profiles.r13_linked(e, t, s, c)),
        (c.r16_data_out.enabled, ("support_state_changed",), ("webhook", "warehouse"),
         lambda e, t, s: data_out.r16(e, t, c)),
        (c.r18_reporting.enabled, ("ticket_opened", "ticket_resolved", "csat_received"),
         ("webhook", "warehouse", *r18_metrics), lambda e, t, s: data_out.r18(e, t, c)),
    ]
    return _index(rules, sinks)


def event_table(
    c: RecipesConfig, ident: str, sinks: Collection[str] | None = None
) -> dict[EventKind, list[OnEvent]]:
    """Event kind → the enabled recipes that act on it, in a fixed order (see
    `transition_table` for `sinks`)."""
    segment = (EventKind.SEGMENT_ENTERED, EventKind.SEGMENT_EXITED)
    cio, zd, ic = ("customerio",), ("zendesk",), ("intercom",)
    rules: list[tuple[bool, tuple[EventKind, ...], tuple[str, ...], OnEvent]] = [
        (c.r3_engagement.enabled, (EventKind.EMAIL_ENGAGEMENT,), (*zd, *ic),
         lambda e, v, s: zendesk_users.r3(e, v, s, c)),
        (c.r4_lifecycle_users.enabled, (EventKind.LIFECYCLE_EVENT, EventKind.SEGMENT_ENTERED),
         zd, lambda e, v, s: zendesk_users.r4(e, v, s, c)),
        (c.r19_zendesk_destination.enabled,
         (EventKind.IDENTIFY, EventKind.GROUP, EventKind.TRACK), zd,
         lambda e, v, s: destination.r19(e, v, s, c)),
        (c.r8_escalation.enabled, (EventKind.CONVERSATION_TAGGED,), zd,
         lambda e, v, s: linked.r8(e, v, s, c)),
        (c.r9_status_back.enabled, tuple(TICKET_KINDS), ic,
         lambda e, v, s: linked.r9(e, v, s, c)),
        (c.r11_tag_mapping.enabled, (EventKind.CONVERSATION_TAGGED, *TICKET_KINDS), (*zd, *ic),
         lambda e, v, s: linked.r11(e, v, s, c)),
        (c.r12_acknowledge.enabled, tuple(TICKET_KINDS), ic,
         lambda e, v, s: linked.r12(e, v, s, c)),
        (c.r13_cio_to_intercom.enabled,
         (*segment, EventKind.EMAIL_ENGAGEMENT, EventKind.LIFECYCLE_EVENT), ic,
         lambda e, v, s: profiles.r13(e, v, s, c)),
        (c.r10_profile_sync.enabled, (EventKind.ORGANIZATION_UPDATED,), ic,
         lambda e, v, s: profiles.r10_organization(e, v, s, c)),
        (c.r14_intercom_to_cio.enabled, (EventKind.CONTACT_UPDATED,), cio,
         lambda e, v, s: campaigns.r14_event(e, v, s, c, ident)),
    ]
    return _index(rules, sinks)


K = TypeVar("K")
R = TypeVar("R")


def _index(
    rules: list[tuple[bool, tuple[K, ...], tuple[str, ...], R]], sinks: Collection[str] | None
) -> dict[K, list[R]]:
    """Kind → rules: the enabled ones with a destination in `sinks` ("*": always runs)."""
    table: dict[K, list[R]] = {}
    for enabled, kinds, targets, rule in rules:
        if not enabled or (sinks is not None and not any(
            target == "*" or target in sinks for target in targets
        )):
            continue
        for kind in kinds:
            table.setdefault(kind, []).append(rule)
    return table


class RecipeRouter(Router):
    def __init__(
        self,
        recipes: RecipesConfig | None = None,
        *,
        identifier: str = "email",
        horizon: timedelta = timedelta(hours=72),
        tally: RecipeTally | None = None,
        sinks: Collection[str] | None = None,
    ) -> None:
        """`sinks`: the destinations to build actions for (None: every one)."""
        # The base router's own R1/R2 are replaced by the recipe modules.
        super().__init__(
            RoutingConfig(customerio_identifier=identifier, r1_enabled=False, r2_enabled=False)
        )
        self.recipes = recipes or RecipesConfig()
        self.identifier = identifier
        self.horizon = horizon
        if tally is not None:
            self.tally = tally
        # destinations that run (None: all); no actions for the others
        self.sinks = None if sinks is None else frozenset(sinks)
        self._on_transition = transition_table(self.recipes, identifier, self.sinks)
        self._last_stamp: tuple[float | None, datetime | None] = (None, None)
        self._on_event = event_table(self.recipes, identifier, self.sinks)

    def _stamp(self, value: float | None) -> datetime | None:
        """The receipt time as a datetime: one event's routing calls convert it once."""
        if value is None:
            return None
        seen, moment = self._last_stamp
        if value != seen or moment is None:
            moment = datetime.fromtimestamp(value, UTC)
            self._last_stamp = (value, moment)
        return moment

    def route(
        self,
        transition: Transition,
        state: SupportState,
        received_at: float | None,
        origin: str = "live",
    ) -> Routed:
        rules = self._on_transition.get(transition.kind)
        if not rules:
            return [], []
        t = transition
        emit = Emit(
            source_id=t.transition_id, customer_key=t.customer_key,
            causing_event_id=t.causing_event_id, occurred_at=t.occurred_at,
            received_at=self._stamp(received_at), origin=origin, horizon=self.horizon,
            tally=self.tally, sinks=self.sinks,
        )
        for rule in rules:
            rule(emit, t, state)
        return emit.actions, emit.dead_letters

    def route_event(
        self, event: SupportEvent, state: SupportState, received_at: float | None
    ) -> Routed:
        rules = self._on_event.get(event.kind)
        if not rules:
            return [], []
        emit = Emit(
            source_id=f"event:{event.event_id}", customer_key=state.customer_key,
            causing_event_id=event.event_id, occurred_at=event.occurred_at,
            received_at=self._stamp(received_at), origin=event.origin, horizon=self.horizon,
            tally=self.tally, sinks=self.sinks,
        )
        for rule in rules:
            rule(emit, event, state)
        return emit.actions, emit.dead_letters
