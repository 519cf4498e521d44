"""Records reach the agents in offset order; a jump is fetched again (runtime/fetchorder.py)."""

from __future__ import annotations

from faust.types import TP

from streams.runtime.fetchorder import FetchOrder

TP0, TP1 = TP("events", 0), TP("events", 1)


def _admitted(order: FetchOrder, tp: TP, offsets: list[int]) -> list[int]:
    return [o for o in offsets if order.admit(tp, o)]


class TestAdmit:
    """In-order records pass; a record past the expected offset is held back for a refetch."""

    def test_in_order_records_pass(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 40})
        assert _admitted(order, TP0, [40, 41, 42]) == [40, 41, 42]
        assert order.expected[TP0] == 43 and order.refetch == {}

    def test_a_jump_right_after_the_seek_refetches_from_the_sought_offset(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 40})
        # The record at the sought offset itself is missing too: it must come again.
        assert _admitted(order, TP0, [138, 139]) == []
        assert order.take_refetches() == {TP0: 40}
        assert _admitted(order, TP0, [40, 41]) == [40, 41]

    def test_a_jump_of_one_is_a_hole_too(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 40})
        assert order.admit(TP0, 41) is False
        assert order.take_refetches() == {TP0: 40}

    def test_other_partitions_go_on(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 40, TP1: 7})
        assert order.admit(TP0, 50) is False
        assert _admitted(order, TP1, [7, 8]) == [7, 8]

    def test_records_seen_before_pass_for_faust_to_drop(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 40})
        assert _admitted(order, TP0, [40, 41, 39]) == [40, 41, 39]
        assert order.expected[TP0] == 42

    def test_a_partition_never_sought_starts_where_it_is_read(self) -> None:
        order = FetchOrder()
        assert _admitted(order, TP0, [5, 6]) == [5, 6]
        assert order.admit(TP0, 9) is False

    def test_nothing_passes_while_the_partitions_are_sought(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 40})
        order.hold()
        assert _admitted(order, TP0, [40, 113]) == []
        order.reset({TP0: 40, TP1: 7})
        # What was held back is fetched again: the fetcher had moved past it.
        assert order.take_refetches() == {TP0: 40}
        assert _admitted(order, TP0, [40, 41]) == [40, 41]


class TestRealHoles:
    """A hole still there after MAX_TRIES fetches is passed over (and logged)."""

    def test_passed_after_max_tries(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 10})
        for _ in range(FetchOrder.MAX_TRIES):
            assert order.admit(TP0, 20) is False
            assert order.take_refetches() == {TP0: 10}
        assert order.admit(TP0, 20) is True
        assert order.expected[TP0] == 21
        # Once: the consumer lets Faust commit over offsets 10..19.
        assert order.take_passed(TP0, 20) == 10
        assert order.take_passed(TP0, 20) is None

    def test_a_filled_hole_resets_the_count(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 10})
        assert order.admit(TP0, 20) is False
        order.take_refetches()
        assert _admitted(order, TP0, [10, 11]) == [10, 11]
        for _ in range(FetchOrder.MAX_TRIES):
            assert order.admit(TP0, 30) is False
            assert order.take_refetches() == {TP0: 12}


class TestRequests:
    """Refetch requests keep the lowest offset; a seek of everything cancels them."""

    def test_lowest_offset_wins(self) -> None:
        order = FetchOrder()
        order.reset({TP0: 10})
        order.request(TP0, 30)
        order.request(TP0, 20)
        assert order.take_refetches() == {TP0: 20}
        assert order.expected[TP0] == 20

    def test_reset_cancels_pending_refetches(self) -> None:
        order = FetchOrder()
        order.request(TP0, 30)
        order.reset({TP0: 5})
        assert order.take_refetches() == {}
        assert order.expected == {TP0: 5}
