"""A census of the state table: customers by support_state, open tickets, recent transitions.

The worker's state table holds encoded `SupportState` bytes. Decoding every customer on every
tick would cost CPU proportional to the table, so the census remembers, per key, the bytes it
last decoded and what it learned from them; a tick only decodes states whose bytes changed.
Recovery after a rebalance is covered the same way: keys that appear are decoded, keys that
left this worker (or were deleted) are forgotten. Tombstones of merged customers are not
counted. No Faust import here: the updater hands over `(key, value)` pairs.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

from streams.state.model import SupportState, SupportStateName

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
    """Incremental counts over the state table (owned partitions only)."""

    recent_limit: int = 20
    _seen: dict[bytes, _Seen] = field(default_factory=dict)
    _recent: list[RecentTransition] = field(default_factory=list)

    def update(
        self, items: Iterable[tuple[bytes, bytes]], owned: Callable[[bytes], bool]
    ) -> CensusResult:
        customers = dict.fromkeys(STATES, 0)
        open_tickets = 0
        decoded = 0
        current: dict[bytes, _Seen] = {}
        fresh: list[RecentTransition] = []
        for key, raw in items:
            if not owned(key):
                continue
            seen = self._seen.get(key)
            if seen is None or seen.raw != raw:
                state = SupportState.from_bytes(raw)
                decoded += 1
                seen = self._summarise(raw, state)
                fresh.extend(self._notes(state))
            current[key] = seen
            if seen.state is not None:
                customers[seen.state] += 1
                open_tickets += seen.open_tickets
        self._seen = current
        if fresh:
            merged = set(self._recent) | set(fresh)
            self._recent = heapq.nlargest(self.recent_limit, merged)
        return CensusResult(customers=customers, open_tickets=open_tickets, decoded=decoded)

    def recent(self) -> list[RecentTransition]:
        """The newest transitions seen (newest first)."""
        return list(self._recent)

    @staticmethod
    def _summarise(raw: bytes, state: SupportState) -> _Seen:
        if state.merged_into is not None:
            return _Seen(raw=raw, state=None, open_tickets=0)
        return _Seen(raw=raw, state=state.support_state, open_tickets=state.open_ticket_count)

    @staticmethod
    def _notes(state: SupportState) -> list[RecentTransition]:
        return [
            RecentTransition(
                at=note.at.isoformat(),
                customer_key=state.customer_key,
                kind=note.kind,
                old=note.old,
                new=note.new,
                reason=note.reason,
            )
            for note in state.recent_transitions
        ]
