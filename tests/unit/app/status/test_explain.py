"""/state/{identifier} resolution: identifier formats, forwarding pointers, merged states."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from app.status.client import format_state
from app.status.explain import BadIdentifier, explain, identifier_key, resolve
from streams.identity import forward_key, new_customer_key
from streams.state import SupportState
from tests.unit.streams.state.factory import opened, run


def _state(key: str) -> SupportState:
    state, _ = run([opened("e1", "1")])
    return replace(state, customer_key=key)


class TestIdentifierKey:
    """Emails, <kind>:<value> and customer keys map to identity-table keys."""

    def test_email_is_normalised(self) -> None:
        assert identifier_key("  Ann@Example.COM ") == "email:ann@example.com"

    def test_kind_prefix(self) -> None:
        assert identifier_key("zendesk_user_id:42") == "zendesk_user_id:42"

    def test_customer_key_needs_no_table(self) -> None:
        assert identifier_key("c:0123") is None

    def test_unknown_kind_is_rejected(self) -> None:
        with pytest.raises(BadIdentifier):
            identifier_key("nickname")


class TestResolve:
    """Forwarding pointers left by merges are followed to the survivor."""

    def test_follows_merge_pointers(self) -> None:
        table = {"email:ann@example.com": "c:old", forward_key("c:old"): "c:new"}
        assert resolve("ann@example.com", table.get) == "c:new"

    def test_unknown_identifier(self) -> None:
        assert resolve("nobody@example.com", {}.get) is None

    def test_cycle_terminates(self) -> None:
        table = {forward_key("c:a"): "c:b", forward_key("c:b"): "c:a"}
        assert resolve("c:a", table.get) in {"c:a", "c:b"}


class TestExplain:
    """The body is SupportState.explain() plus the partition; misses say why."""

    def test_found(self) -> None:
        key = new_customer_key("email:ann@example.com")
        states = {key: _state(key)}
        result = explain("ann@example.com", {"email:ann@example.com": key}.get, states.get, 4)
        assert result.found
        assert result.body["support_state"] == "open"
        assert result.body["suppressed"] is True
        assert result.body["tickets"][0]["id"] == "1"
        assert result.body["partition"] == result.partition

    def test_state_tombstone_is_followed(self) -> None:
        states = {
            "c:a": replace(_state("c:a"), merged_into="c:b"),
            "c:b": _state("c:b"),
        }
        result = explain("c:a", {}.get, states.get, 4)
        assert result.found and result.customer_key == "c:b"

    def test_missing_state(self) -> None:
        result = explain("c:zzz", {}.get, {}.get, 4)
        assert not result.found and result.body["error"] == "no state on this worker"

    def test_last_sent_of_the_resolved_customer(self) -> None:
        states = {"c:a": replace(_state("c:a"), merged_into="c:b"),
                  "c:b": _state("c:b")}
        sent = {"c:b": {"customerio": {"operation": "event", "outcome": "delivered"}}}
        result = explain("c:a", {}.get, states.get, 4, lambda key: sent.get(key, {}))
        assert result.body["last_sent"] == sent["c:b"]
        assert explain("c:b", {}.get, states.get, 4).body["last_sent"] == {}


class TestFormatState:
    """`state show` prints what was last sent to each sink, or that nothing was."""

    def _doc(self, last_sent: dict[str, dict[str, str]]) -> dict[str, object]:
        result = explain("c:a", {}.get, {"c:a": _state("c:a")}.get, 4, lambda _: last_sent)
        return result.body

    def test_one_line_per_sink(self) -> None:
        text = format_state(self._doc({
            "zendesk": {"operation": "add_tags", "outcome": "dead_lettered",
                        "at": "2024-05-01T12:00:01+00:00"},
            "customerio": {"operation": "event", "outcome": "delivered",
                           "recipe": "r1_suppression", "at": "2024-05-01T12:00:00+00:00"},
        }))
        assert "last sent (2 sink(s)):" in text
        lines = text.splitlines()
        start = lines.index("last sent (2 sink(s)):")
        assert lines[start + 1] == (
            "  customerio:  event  delivered  recipe=r1_suppression  at 2024-05-01T12:00:00+00:00"
        )
        assert lines[start + 2].startswith("  zendesk:  add_tags  dead_lettered  at ")

    def test_nothing_sent(self) -> None:
        text = format_state(self._doc({}))
        assert "last sent (0 sink(s)):\n  nothing yet" in text
