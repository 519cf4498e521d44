"""Per-partition index of when each customer's state next needs `expire()`.

A min-heap of (due, tie, key) plus a dict of each key's current entry. Rescheduling a
key pushes a new entry and leaves the old one in the heap; stale entries are skipped when
they reach the top (lazy deletion) and the heap is rebuilt when they outnumber live ones,
so memory stays O(customers) and every operation is O(log n) amortised: a sweep touches
only due entries, never all customers.
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime
from itertools import count


def _seconds(moment: datetime) -> float:
    if moment.tzinfo is None:  # naive means UTC throughout supportsync
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class DueIndex:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._live: dict[str, tuple[float, int, datetime]] = {}
        self._ties = count()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, customer_key: object) -> bool:
        return customer_key in self._live

    def due_of(self, customer_key: str) -> datetime | None:
        entry = self._live.get(customer_key)
        return None if entry is None else entry[2]

    def schedule(self, customer_key: str, due: datetime | None) -> None:
        """Set (or with None remove) the key's deadline, replacing any earlier one."""
        if due is None:
            self._live.pop(customer_key, None)
            self._maybe_compact()
            return
        at = _seconds(due)
        current = self._live.get(customer_key)
        if current is not None and current[0] == at:
            return
        tie = next(self._ties)
        self._live[customer_key] = (at, tie, due)
        heapq.heappush(self._heap, (at, tie, customer_key))
        self._maybe_compact()

    def pop_due(self, now: datetime) -> list[str]:
        """Keys whose deadline is <= now, earliest first, each once; they are removed."""
        limit = _seconds(now)
        heap, live = self._heap, self._live
        due: list[str] = []
        while heap and heap[0][0] <= limit:
            at, tie, key = heapq.heappop(heap)
            entry = live.get(key)
            if entry is not None and entry[1] == tie:
                del live[key]
                due.append(key)
        return due

    def next_due(self) -> datetime | None:
        heap, live = self._heap, self._live
        while heap:
            _, tie, key = heap[0]
            entry = live.get(key)
            if entry is not None and entry[1] == tie:
                return entry[2]
            heapq.heappop(heap)  # superseded or removed
        return None

    def _maybe_compact(self) -> None:
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
            self._heap = [(at, tie, key) for key, (at, tie, _) in self._live.items()]
            heapq.heapify(self._heap)
