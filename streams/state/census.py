"""A census of the states this worker owns: customers by support_state, open tickets, and the
most recent transitions, for the gauges and the status page.

Pushed from the apply path (`change` with the state before and after each write) and rebuilt
per partition from the table only when a partition is (re)assigned — never a scan per tick,
so its cost does not grow with the number of customers. Tombstones of merged customers are
not counted. No Faust import here.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

from streams.state.model import SupportState, SupportStateName, TransitionNote

STATES: tuple[str, ...] = tuple(get_args(SupportStateName))


@dataclass(frozen=True)
class _Seen:
    raw: bytes
    state: str | None  # None: a merge tombstone (not a customer any more)
    open_tickets: int


@dataclass(frozen=True, order=True)
class RecentTransition:
    at: str  # ISO-8601 UTC, so string order is time order
    customer_key: str
    kind: str
    old: str | None
    new: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "customer_key": self.customer_key,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
        }


@dataclass
class CensusResult:
    customers: dict[str, int]
    open_tickets: int
    decoded: int


@dataclass
class StateCensus:
    """Counts per partition, adjusted on every state write."""

    recent_limit: int = 20
    _counts: dict[int, dict[str, int]] = field(default_factory=dict)
    _open: dict[int, int] = field(default_factory=dict)
    #: the newest transitions, a min-heap (the oldest kept at [0]: one push per newer one)
    _recent: list[RecentTransition] = field(default_factory=list)
    #: the same transitions, for a membership test per state write (no list scan)
    _recent_set: set[RecentTransition] = field(default_factory=set)

    def has(self, partition: int) -> bool:
        return partition in self._counts

    def rebuild(self, partition: int, states: Iterable[SupportState]) -> None:
        self._counts[partition] = dict.fromkeys(STATES, 0)
        self._open[partition] = 0
        for state in states:
            self._add(partition, state, 1)

    def change(self, partition: int, before: SupportState | None, after: SupportState) -> None:
        if partition not in self._counts:
            return  # counted when the partition is rebuilt from the table
        if before is not None:
            self._add(partition, before, -1)
        self._add(partition, after, 1)
        if after.recent_transitions and after is not before:
            note = after.recent_transitions[-1]
            if before is not None and before.recent_transitions[-1:] == (note,):
                return  # no new note: most updates change nothing worth listing
            fresh = self._note(after.customer_key, note)
            if fresh in self._recent_set or self.recent_limit <= 0:
                return
            if len(self._recent) < self.recent_limit:
                heapq.heappush(self._recent, fresh)
            elif fresh > self._recent[0]:
                self._recent_set.discard(heapq.heapreplace(self._recent, fresh))
            else:
                return
            self._recent_set.add(fresh)

    def remove(self, partition: int, customer_key: str, before: SupportState | None) -> None:
        """An erased customer: uncounted, and gone from the recent transitions."""
        if before is not None and partition in self._counts:
            self._add(partition, before, -1)
        self._recent = [r for r in self._recent if r.customer_key != customer_key]
        heapq.heapify(self._recent)
        self._recent_set = set(self._recent)

    def forget(self) -> None:
        """After a rebalance: partitions are rebuilt on next use."""
        self._counts.clear()
        self._open.clear()

    def result(self, owned: Callable[[int], bool]) -> CensusResult:
        customers = dict.fromkeys(STATES, 0)
        open_tickets = 0
        for partition, counts in self._counts.items():
            if not owned(partition):
                continue
            for name, count in counts.items():
                customers[name] += count
            open_tickets += self._open[partition]
        return CensusResult(customers=customers, open_tickets=open_tickets, decoded=0)

    def recent(self) -> list[RecentTransition]:
        """The newest transitions seen (newest first)."""
        return sorted(self._recent, reverse=True)

    def _add(self, partition: int, state: SupportState, sign: int) -> None:
        if state.merged_into is not None:
            return
        self._counts[partition][state.support_state] += sign
        self._open[partition] += sign * state.open_ticket_count

    @staticmethod
    def _note(customer_key: str, note: TransitionNote) -> RecentTransition:
        return RecentTransition(
            at=note.at.isoformat(),
            customer_key=customer_key,
            kind=note.kind,
            old=note.old,
            new=note.new,
            reason=note.reason,
        )
