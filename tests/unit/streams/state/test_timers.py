from __future__ import annotations

from datetime import timedelta

from streams.state import DueIndex

from .factory import T0, at


class TestDueIndex:
    """Scheduling, replacing, removing and popping deadlines."""

    def test_pop_due_in_order_each_once(self) -> None:
        index = DueIndex()
        index.schedule("b", at(hours=2))
        index.schedule("a", at(hours=1))
        index.schedule("c", at(hours=3))
        assert index.next_due() == at(hours=1)
        assert index.pop_due(at(hours=2)) == ["a", "b"]
        assert index.pop_due(at(hours=2)) == []
        assert len(index) == 1 and index.next_due() == at(hours=3)

    def test_deadline_equal_to_now_is_due(self) -> None:
        index = DueIndex()
        index.schedule("a", T0)
        assert index.pop_due(T0 - timedelta(microseconds=1)) == []
        assert index.pop_due(T0) == ["a"]

    def test_replace_later_and_earlier(self) -> None:
        index = DueIndex()
        index.schedule("a", at(hours=1))
        index.schedule("a", at(hours=5))
        assert index.pop_due(at(hours=2)) == []
        assert index.due_of("a") == at(hours=5)
        index.schedule("a", at(minutes=30))
        assert index.pop_due(at(hours=1)) == ["a"]
        assert index.pop_due(at(hours=10)) == []
        assert len(index) == 0 and index.next_due() is None

    def test_none_removes(self) -> None:
        index = DueIndex()
        index.schedule("a", at(hours=1))
        index.schedule("a", None)
        index.schedule("missing", None)
        assert "a" not in index and index.pop_due(at(days=1)) == []

    def test_rescheduling_does_not_grow_without_bound(self) -> None:
        index = DueIndex()
        for i in range(10_000):
            index.schedule("a", at(seconds=i))
        assert len(index) == 1
        assert len(index._heap) <= 130  # lazy entries are compacted
        assert index.pop_due(at(days=1)) == ["a"]

    def test_naive_datetimes_are_utc(self) -> None:
        index = DueIndex()
        index.schedule("a", T0.replace(tzinfo=None))
        assert index.pop_due(T0) == ["a"]
