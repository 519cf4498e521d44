"""Stream records reach the agents in offset order, with no hole.

Right after a seek (a restart, a rebalance) Faust sometimes handed over a record far past the
offset sought (`make chaos` logged 41 → 138 on events.by-customer). The cause was the seek
itself: Faust keeps the flow running through it (it resumed the flow to read the
changelogs), so records fetched from the sought offset were consumed before Faust's own
bookkeeping was reset to that offset. Faust takes such a jump for a log gap (compaction,
transaction markers), processes the later records and commits over the hole; processing the
hole later is not enough either (a "solved" event handled after "closed" counts as stale).

So `FetchOrder` holds every record back while the partitions are being sought and, once the
seek is done, has each partition that had records held back fetched again from its sought
offset (a partition read to its end during the seek gets no later record that would reveal
the hole: `make chaos` saw two partitions stall). After that it keeps, per partition, the
next offset the agents must see: a record past it is not handed over, and the consumer seeks
the partition back to that offset before the next batch (streams/runtime/faust_app.py). A partition
the consumer knows no offset for (never sought) is read from wherever the fetcher stands.

A hole that is still there after `MAX_TRIES` fetches is real (records deleted by retention
on Apache Kafka, say): it is logged as a warning, processing goes on after it, and the
consumer lets Faust commit over it (`take_passed`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from faust.types import TP

log = logging.getLogger(__name__)


class FetchOrder:
    MAX_TRIES = 3

    def __init__(self) -> None:
        #: partition → the next offset its agent must see
        self.expected: dict[TP, int] = {}
        #: partition → offset to seek back to before the next batch
        self.refetch: dict[TP, int] = {}
        #: partition → (the expected offset a jump skipped, how many fetches jumped it)
        self._tries: dict[TP, tuple[int, int]] = {}
        #: partition → (first, end) of a real hole passed over, until the consumer took it
        self._passed: dict[TP, tuple[int, int]] = {}
        #: True while the partitions are being sought: nothing is handed over
        self.holding = False
        #: partitions whose records were held back during the seek
        self._held: set[TP] = set()

    def hold(self) -> None:
        """A seek of every partition begins: hold everything back until `reset`."""
        self.holding = True

    def reset(self, positions: Mapping[TP, int]) -> None:
        """After a seek of every partition (to `positions`): pending refetches are moot, but
        partitions whose records were held back during the seek are fetched again."""
        self.expected = dict(positions)
        self.holding = False
        self.refetch = {tp: positions[tp] for tp in self._held if tp in positions}
        if self.refetch:
            log.info("records of %s partitions fetched during the seek: fetching them again",
                     len(self.refetch))
        self._held.clear()
        self._tries.clear()
        self._passed.clear()

    def request(self, tp: TP, offset: int) -> None:
        """Fetch `tp` again from `offset` before the next batch (at the lowest asked for)."""
        self.refetch[tp] = min(offset, self.refetch.get(tp, offset))

    def take_refetches(self) -> dict[TP, int]:
        """The seeks to make now; from then on each partition expects its seek offset."""
        taken, self.refetch = self.refetch, {}
        self.expected.update(taken)
        return taken

    def admit(self, tp: TP, offset: int) -> bool:
        """True when the record at `offset` may go to the agent; False holds it back (the
        partition is then fetched again from the expected offset)."""
        if self.holding:
            self._held.add(tp)  # fetched again from the sought offset after the seek
            return False
        if tp in self.refetch:
            return False  # the rest of a batch after a hole: it comes again after the seek
        expected = self.expected.get(tp)
        if expected is not None and offset > expected:
            skipped, tries = self._tries.get(tp, (expected, 0))
            tries = tries + 1 if skipped == expected else 1
            if tries <= self.MAX_TRIES:
                self._tries[tp] = (expected, tries)
                log.info("offsets %s..%s of %s not fetched in order: fetching them again",
                         expected, offset - 1, tp)
                self.request(tp, expected)
                return False
            log.warning("offsets %s..%s of %s missing after %s fetches: going on after them",
                        expected, offset - 1, tp, self.MAX_TRIES)
            self._passed[tp] = (expected, offset)
        if expected is None or offset >= expected:
            self.expected[tp] = offset + 1
            self._tries.pop(tp, None)
        return True

    def take_passed(self, tp: TP, end: int) -> int | None:
        """The first offset of the real hole of `tp` that ends at `end`, once (else None)."""
        hole = self._passed.get(tp)
        if hole is None or hole[1] != end:
            return None
        del self._passed[tp]
        return hole[0]
