from __future__ import annotations

import pytest

from contracts.events import EventKind, TicketInfo
from streams.state import InvalidEvent, apply

from .factory import (
    CONFIG,
    KEY,
    at,
    conversation,
    event,
    kinds,
    opened,
    run,
    solved,
    ticket,
)


class TestOpenAndResolve:
    """Opening and resolving tickets drives has_open_ticket and the open/clear states."""

    def test_open_ticket_suppresses(self) -> None:
        state, out = run([opened("e1", "1", reason="billing")])
        assert state.has_open_ticket and state.open_ticket_count == 1
        assert state.support_state == "open"
        assert kinds(out) == ["ticket_opened", "attributes_changed", "support_state_changed"]
        change = out[-1]
        assert (change.old_state, change.new_state, change.reason) == (
            "clear",
            "open",
            "ticket_open",
        )
        assert out[0].ticket is not None and out[0].ticket["reason"] == "billing"

    def test_resolving_one_of_two_keeps_open(self) -> None:
        state, out = run(
            [opened("e1", "1"), opened("e2", "2", at(hours=1)), solved("e3", "1", at(hours=2))]
        )
        assert state.has_open_ticket and state.open_ticket_count == 1
        assert state.support_state == "open"
        assert "ticket_resolved" in kinds(out)

    def test_ticket_and_conversation_must_both_resolve(self) -> None:
        events = [
            opened("e1", "1"),
            conversation("c1", "900", None, at(minutes=5), EventKind.CONVERSATION_OPENED),
            solved("e2", "1", at(hours=1)),
        ]
        state, _ = run(events)
        assert state.has_open_ticket and state.support_state == "open"
        state, out = run(
            [conversation("c2", "900", None, at(hours=2), EventKind.CONVERSATION_CLOSED)], state
        )
        assert not state.has_open_ticket
        assert state.support_state == "cooldown"
        assert "ticket_resolved" in kinds(out)

    def test_resolution_payload_has_resolution_time(self) -> None:
        _, out = run(
            [
                opened("e1", "1", priority="low", tags=("a",), assignee="agent-9"),
                solved("e2", "1", at(hours=3)),
            ]
        )
        resolved = [t for t in out if t.kind == "ticket_resolved"][0]
        assert resolved.ticket is not None
        assert resolved.ticket["resolution_seconds"] == 3 * 3600
        assert resolved.ticket["assignee"] == "agent-9"
        assert resolved.ticket["tags"] == ["a"]
        assert resolved.ticket["priority"] == "low"

    def test_upper_case_statuses_are_normalised(self) -> None:
        info = TicketInfo(id="1", status="SOLVED", updated_at=at(hours=1))
        state, _ = run(
            [
                opened("e1", "1"),
                event("e2", EventKind.TICKET_STATUS_CHANGED, at(hours=1), ticket=info),
            ]
        )
        assert state.tickets["zendesk:1"].status == "solved"
        assert not state.has_open_ticket

    def test_pending_and_hold_count_as_open(self) -> None:
        for status in ("pending", "hold", "open", "new"):
            state, _ = run([ticket("e1", "1", status)])
            assert state.has_open_ticket, status

    def test_snoozed_conversation_is_open(self) -> None:
        state, _ = run([conversation("c1", "5", "snoozed", at(), EventKind.CONVERSATION_OPENED)])
        assert state.tickets["intercom:5"].is_open

    def test_first_seen_solved_ticket_is_resolved_not_opened(self) -> None:
        state, out = run([solved("e1", "1", at())])
        assert kinds(out)[0] == "ticket_resolved"
        assert "ticket_opened" not in kinds(out)
        assert state.support_state == "cooldown"

    def test_reopened_ticket_suppresses_again(self) -> None:
        state, out = run(
            [
                opened("e1", "1"),
                solved("e2", "1", at(hours=1)),
                ticket("e3", "1", "open", at(hours=2)),
            ]
        )
        assert state.support_state == "open"
        assert state.tickets["zendesk:1"].closed_at is None


class TestOrderingAndDuplicates:
    """Duplicates and out-of-order updates change nothing and emit nothing."""

    def test_duplicate_event_is_ignored(self) -> None:
        first = opened("e1", "1")
        state, _ = run([first])
        again, out = apply(state, first, KEY, CONFIG)
        assert out == [] and again == state

    def test_older_update_changes_nothing(self) -> None:
        state, _ = run([opened("e1", "1"), solved("e2", "1", at(hours=2))])
        late, out = run([ticket("e3", "1", "open", at(hours=1))], state)
        assert out == []
        assert late.tickets == state.tickets and late.support_state == "cooldown"

    def test_same_timestamp_updates_all_apply(self) -> None:
        state, _ = run(
            [
                opened("e1", "1"),
                ticket(
                    "e2",
                    "1",
                    None,
                    at(hours=1),
                    kind=EventKind.TICKET_PRIORITY_CHANGED,
                    priority="urgent",
                ),
                ticket(
                    "e3", "1", None, at(hours=1), kind=EventKind.TICKET_TAGS_CHANGED, tags=("vip",)
                ),
            ]
        )
        stored = state.tickets["zendesk:1"]
        assert stored.priority == "urgent" and stored.tags == ("vip",)

    def test_missing_fields_keep_what_was_known(self) -> None:
        state, _ = run(
            [
                opened("e1", "1", reason="billing", priority="high"),
                ticket("e2", "1", "pending", at(hours=1)),
            ]
        )
        stored = state.tickets["zendesk:1"]
        assert (stored.reason, stored.priority, stored.status) == ("billing", "high", "pending")


class TestMerges:
    """A merged ticket closes without a ticket_resolved transition."""

    def test_ticket_merged_event(self) -> None:
        info = TicketInfo(id="1", merged_into="2", updated_at=at(hours=1))
        merge = event("e3", EventKind.TICKET_MERGED, at(hours=1), ticket=info)
        state, out = run([opened("e1", "1"), opened("e2", "2"), merge])
        assert "ticket_resolved" not in kinds(out)
        source = state.tickets["zendesk:1"]
        assert source.closed_reason == "merged" and source.merged_into == "2"
        assert state.open_ticket_count == 1

    def test_closed_status_with_merged_into(self) -> None:
        state, out = run(
            [opened("e1", "1"), ticket("e2", "1", "closed", at(hours=1), merged_into="9")]
        )
        assert "ticket_resolved" not in kinds(out)
        assert state.last_resolved_at is None  # no cooldown for a merge
        assert state.support_state == "clear"
        changed = [t for t in out if t.kind == "support_state_changed"][-1]
        assert changed.reason == "ticket_merged"

    def test_deleted_ticket_is_not_a_resolution(self) -> None:
        state, out = run([opened("e1", "1"), ticket("e2", "1", "deleted", at(hours=1))])
        assert "ticket_resolved" not in kinds(out) and state.support_state == "clear"


class TestInvalidTicketEvents:
    """Ticket events without their payload, or from a non-helpdesk, are rejected loudly."""

    def test_missing_ticket_payload(self) -> None:
        with pytest.raises(InvalidEvent):
            apply(None, event("e1", EventKind.TICKET_OPENED), KEY, CONFIG)

    def test_ticket_from_customerio(self) -> None:
        bad = event("e1", EventKind.TICKET_OPENED, source="customerio", ticket=TicketInfo(id="1"))
        with pytest.raises(InvalidEvent):
            apply(None, bad, KEY, CONFIG)

    def test_missing_conversation_payload(self) -> None:
        with pytest.raises(InvalidEvent):
            apply(None, event("e1", EventKind.CONVERSATION_OPENED, source="intercom"), KEY, CONFIG)
