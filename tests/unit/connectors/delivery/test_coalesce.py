from __future__ import annotations

from connectors.delivery.coalesce import AttributeCoalescer, LastWrittenCache
from tests.unit.connectors.delivery.helpers import make_action


class TestCoalescer:
    """Attribute updates per person collapse; other actions keep their order."""

    def test_latest_value_per_field_wins(self) -> None:
        actions = [
            make_action(1, attributes={"a": 1, "b": 1}, at=0.0, received_offset=-1.0),
            make_action(2, attributes={"b": 2, "c": 2}, at=0.3),
            make_action(3, attributes={"a": 3}, at=0.6, priority="suppression"),
        ]
        planned = AttributeCoalescer(window_seconds=1.0).coalesce(actions)
        assert len(planned) == 1
        merged = planned[0]
        assert merged.action.attributes == {"a": 3, "b": 2, "c": 2}
        assert merged.covered == [a.action_id for a in actions]
        assert merged.action.received_at == actions[0].received_at  # earliest receipt
        assert merged.action.priority == "suppression"  # the most urgent wins

    def test_window_limits_group(self) -> None:
        actions = [
            make_action(1, attributes={"a": 1}, at=0.0),
            make_action(2, attributes={"a": 2}, at=0.5),
            make_action(3, attributes={"a": 3}, at=1.5),
        ]
        planned = AttributeCoalescer(window_seconds=1.0).coalesce(actions)
        assert [p.action.attributes for p in planned] == [{"a": 2}, {"a": 3}]

    def test_people_are_separate(self) -> None:
        actions = [
            make_action(1, person="p1", attributes={"a": 1}),
            make_action(2, person="p2", attributes={"a": 2}),
            make_action(3, person="p1", attributes={"b": 1}),
        ]
        planned = AttributeCoalescer().coalesce(actions)
        assert [(p.action.person, p.action.attributes) for p in planned] == [
            ("p1", {"a": 1, "b": 1}),
            ("p2", {"a": 2}),
        ]

    def test_event_never_overtakes_identify(self) -> None:
        actions = [
            make_action(1, attributes={"a": 1}),
            make_action(2, operation="event", one_off=True, payload={"name": "x"}),
            make_action(3, attributes={"a": 2}),
        ]
        planned = AttributeCoalescer().coalesce(actions)
        ops = [(p.action.operation, p.action.attributes) for p in planned]
        assert ops == [("identify", {"a": 1}), ("event", {}), ("identify", {"a": 2})]

    def test_non_attribute_actions_pass_through_in_order(self) -> None:
        actions = [
            make_action(i, operation="event", one_off=True, person=f"p{i % 2}") for i in range(6)
        ]
        planned = AttributeCoalescer().coalesce(actions)
        assert [p.action for p in planned] == actions


class TestLastWrittenCache:
    """Remembers our writes to skip no-ops and recognise echoes."""

    def test_changed_subset(self) -> None:
        cache = LastWrittenCache()
        cache.remember("customerio", "p1", {"a": 1, "b": 2})
        assert cache.changed("customerio", "p1", {"a": 1, "b": 3, "c": None}) == {"b": 3, "c": None}
        assert cache.changed("customerio", "p2", {"a": 1}) == {"a": 1}
        assert cache.changed("zendesk", "p1", {"a": 1}) == {"a": 1}

    def test_echo_detection(self) -> None:
        cache = LastWrittenCache()
        cache.remember("zendesk", "u1", {"support_state": "open"})
        assert cache.is_echo("zendesk", "u1", "support_state", "open")
        assert not cache.is_echo("zendesk", "u1", "support_state", "clear")
        assert not cache.is_echo("zendesk", "u1", "other", None)

    def test_foreign_change_forgets_our_value(self) -> None:
        cache = LastWrittenCache()
        cache.remember("zendesk", "u1", {"tier": "gold"})
        cache.observe("zendesk", "u1", "tier", "silver")  # a human changed it
        assert cache.changed("zendesk", "u1", {"tier": "gold"}) == {"tier": "gold"}

    def test_clear_forgets_and_ignores_writes_begun_before(self) -> None:
        cache = LastWrittenCache()
        cache.remember("s", "p1", {"a": 1})
        began = cache.epoch
        cache.clear()  # partitions moved: another worker may have written since
        cache.remember("s", "p2", {"a": 1}, began)  # confirmed after the clear
        assert cache.changed("s", "p1", {"a": 1}) == {"a": 1}
        assert cache.changed("s", "p2", {"a": 1}) == {"a": 1}
        cache.remember("s", "p2", {"a": 1}, cache.epoch)
        assert cache.changed("s", "p2", {"a": 1}) == {}

    def test_bounded_lru(self) -> None:
        cache = LastWrittenCache(max_people=2)
        cache.remember("s", "p1", {"a": 1})
        cache.remember("s", "p2", {"a": 1})
        cache.remember("s", "p1", {"b": 1})  # p1 becomes most recent
        cache.remember("s", "p3", {"a": 1})
        assert len(cache) == 2
        assert cache.changed("s", "p2", {"a": 1}) == {"a": 1}  # evicted
        assert cache.changed("s", "p1", {"a": 1}) == {}
