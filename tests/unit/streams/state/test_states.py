from __future__ import annotations

from datetime import timedelta

from contracts.events import EventKind, Identities, TicketInfo
from streams.state import StateConfig, SupportState, expire, next_deadline

from .factory import CONFIG, T0, at, event, kinds, opened, rating, run, solved, ticket


class TestPrecedence:
    """escalated > open > recovery > cooldown > clear."""

    def test_high_priority_escalates(self) -> None:
        state, out = run([opened("e1", "1", priority="urgent")])
        assert state.support_state == "escalated" and state.high_priority_open
        assert out[-1].reason == "high_priority"

    def test_refund_reason_escalates(self) -> None:
        state, out = run([opened("e1", "1", reason="Refund request")])
        assert state.refund_risk and state.support_state == "escalated"
        assert out[-1].reason == "refund_risk"

    def test_refund_tag_escalates(self) -> None:
        state, _ = run([opened("e1", "1", tags=("chargeback",))])
        assert state.refund_risk and state.support_state == "escalated"

    def test_refund_risk_ends_with_the_ticket(self) -> None:
        state, _ = run([opened("e1", "1", reason="refund"), solved("e2", "1", at(hours=1))])
        assert not state.refund_risk and state.support_state == "cooldown"

    def test_priority_drop_deescalates(self) -> None:
        lower = ticket(
            "e2", "1", None, at(hours=1), kind=EventKind.TICKET_PRIORITY_CHANGED, priority="normal"
        )
        state, out = run([opened("e1", "1", priority="high"), lower])
        assert state.support_state == "open"
        assert out[-1].old_state == "escalated" and out[-1].new_state == "open"

    def test_open_outranks_recovery(self) -> None:
        state, _ = run([rating("r1", "bad", at()), opened("e1", "1", at(hours=1))])
        assert state.support_state == "open"

    def test_recovery_outranks_cooldown(self) -> None:
        state, _ = run(
            [
                opened("e1", "1"),
                solved("e2", "1", at(hours=1)),
                rating("r1", 1, at(hours=2), source="intercom"),
            ]
        )
        assert state.support_state == "recovery"

    def test_later_good_rating_ends_recovery(self) -> None:
        state, _ = run([rating("r1", "bad", at()), rating("r2", "good", at(days=1))])
        assert state.support_state == "clear"
        assert state.last_low_csat_at == at()


class TestWindows:
    """Cooldown, recovery and the recent-ticket window expire on timers at exact deadlines."""

    def test_cooldown_expires_exactly(self) -> None:
        state, _ = run([opened("e1", "1"), solved("e2", "1", at(hours=1))])
        deadline = at(hours=1) + CONFIG.cooldown
        assert next_deadline(state, CONFIG) == deadline
        same, out = expire(state, deadline - timedelta(microseconds=1), CONFIG)
        assert out == [] and same.support_state == "cooldown"
        later, out = expire(state, deadline, CONFIG)
        assert later.support_state == "clear"
        changed = [t for t in out if t.kind == "support_state_changed"]
        assert changed[0].reason == "cooldown_expired"
        assert changed[0].causing_event_id == f"timer:{deadline.isoformat()}"
        assert changed[0].occurred_at == deadline

    def test_recovery_expires_exactly(self) -> None:
        state, _ = run([rating("r1", "bad", at())])
        assert state.support_state == "recovery"
        before, _ = expire(state, at() + CONFIG.recovery - timedelta(seconds=1), CONFIG)
        assert before.support_state == "recovery"
        after, out = expire(state, at() + CONFIG.recovery, CONFIG)
        assert after.support_state == "clear"
        assert "support_state_changed" in kinds(out)

    def test_recent_ticket_window(self) -> None:
        state, _ = run([opened("e1", "1"), solved("e2", "1", at(hours=1))])
        assert state.recent_ticket
        mid, _ = expire(state, at(days=13), CONFIG)
        assert mid.recent_ticket and mid.support_state == "clear"
        late, out = expire(mid, at(days=14), CONFIG)
        assert not late.recent_ticket
        assert [t.changed for t in out if t.kind == "attributes_changed"] == [("recent_ticket",)]

    def test_late_timer_gives_same_transitions(self) -> None:
        state, _ = run([opened("e1", "1"), solved("e2", "1", at(hours=1))])
        punctual, first = expire(state, at(hours=1) + CONFIG.cooldown, CONFIG)
        punctual, second = expire(punctual, at(days=60), CONFIG)
        late, together = expire(state, at(days=60), CONFIG)
        assert [t.transition_id for t in first + second] == [t.transition_id for t in together]
        assert late == punctual

    def test_next_event_past_deadline_expires_window(self) -> None:
        state, _ = run([opened("e1", "1"), solved("e2", "1", at(hours=1))])
        later, out = run([event("x1", EventKind.EMAIL_ENGAGEMENT, at(days=8))], state)
        assert later.support_state == "clear"
        assert out[-1].causing_event_id == "x1"

    def test_no_deadline_when_nothing_pending(self) -> None:
        assert next_deadline(SupportState(customer_key="c:x"), CONFIG) is None

    def test_time_never_moves_backwards(self) -> None:
        state, _ = run([opened("e1", "1"), solved("e2", "1", at(hours=1))])
        state, _ = expire(state, at(days=30), CONFIG)
        assert state.support_state == "clear"
        late, _ = run([event("x1", EventKind.TRACK, at(hours=2))], state)
        assert late.support_state == "clear" and late.as_of == state.as_of


class TestStaleTickets:
    """Tickets without updates for stale_after expire with reason "stale"; old ones are pruned."""

    def test_stale_ticket_expires(self) -> None:
        state, _ = run([opened("e1", "1")])
        deadline = T0 + CONFIG.stale_after
        assert next_deadline(state, CONFIG) == at(days=14)  # recent-ticket window first
        state, out = expire(state, deadline, CONFIG)
        assert not state.has_open_ticket
        assert state.tickets["zendesk:1"].closed_reason == "stale"
        assert state.support_state == "clear"
        changed = [t for t in out if t.kind == "support_state_changed"]
        assert changed[0].reason == "stale" and changed[0].occurred_at == deadline
        assert "ticket_resolved" not in kinds(out)

    def test_update_postpones_staleness(self) -> None:
        state, _ = run([opened("e1", "1"), ticket("e2", "1", "pending", at(days=20))])
        state, _ = expire(state, at(days=31), CONFIG)
        assert state.has_open_ticket

    def test_stale_ticket_can_still_resolve_later(self) -> None:
        state, _ = run([opened("e1", "1")])
        state, _ = expire(state, at(days=31), CONFIG)
        state, out = run([solved("e2", "1", at(days=32))], state)
        assert "ticket_resolved" in kinds(out) and state.support_state == "cooldown"

    def test_closed_tickets_are_pruned_but_last_kept(self) -> None:
        events = [
            opened("e1", "1"),
            solved("e2", "1", at(hours=1)),
            opened("e3", "2", at(hours=2)),
            solved("e4", "2", at(hours=3)),
        ]
        state, _ = run(events)
        state, out = expire(state, at(days=40), CONFIG)
        assert list(state.tickets) == ["zendesk:2"]
        assert state.last_ticket_status == "solved"
        assert next_deadline(state, CONFIG) is None
        assert all(t.kind != "attributes_changed" or "last_ticket_at" not in t.changed for t in out)


class TestHoldout:
    """Holdout customers keep their computed state; transitions are flagged."""

    def test_holdout_flag(self) -> None:
        everyone = StateConfig(holdout_percent=100.0)
        state, out = run([opened("e1", "1")], config=everyone)
        assert state.holdout and state.support_state == "open"
        assert all(t.holdout for t in out)
        assert state.explain()["suppressed"] is False

    def test_default_has_no_holdout(self) -> None:
        state, out = run([opened("e1", "1")])
        assert not state.holdout and not any(t.holdout for t in out)

    def test_holdout_is_deterministic_and_proportional(self) -> None:
        from streams.state.windows import in_holdout

        picked = [in_holdout(f"c:{i}", 10.0) for i in range(5000)]
        assert picked == [in_holdout(f"c:{i}", 10.0) for i in range(5000)]
        assert 350 < sum(picked) < 650


class TestTicketInfoVariants:
    """Integer ids and merged_into in attributes are accepted."""

    def test_merged_into_from_attributes(self) -> None:
        merge = event(
            "e2",
            EventKind.TICKET_MERGED,
            at(hours=1),
            ticket=TicketInfo(id=1, updated_at=at(hours=1)),
            attributes={"merged_into": 5},
        )
        state, _ = run([opened("e1", "1"), merge])
        assert state.tickets["zendesk:1"].merged_into == "5"


class TestIdentitiesLinked:
    """A known customer gaining an identifier emits identities_linked naming its kinds."""

    def test_a_new_identifier_on_a_known_customer(self) -> None:
        state, _ = run([opened("e1", "1")])
        linking = event("c1", EventKind.CONTACT_UPDATED, at(minutes=1), source="intercom",
                        identities=Identities(email="ann@example.com",
                                              intercom_contact_id="ic1"))
        state, out = run([linking], state)
        [linked] = [t for t in out if t.kind == "identities_linked"]
        assert linked.details == {"added": ["intercom_contact_id"]}
        assert linked.attributes["has_open_ticket"] is True

    def test_not_for_a_customer_seen_for_the_first_time(self) -> None:
        _, out = run([opened("e1", "1")])
        assert "identities_linked" not in kinds(out)

    def test_not_when_every_identifier_was_known(self) -> None:
        state, _ = run([opened("e1", "1")])
        _, out = run([solved("e2", "1", at(minutes=5))], state)
        assert "identities_linked" not in kinds(out)
