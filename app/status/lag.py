"""Consumer lag per assigned topic partition, from the Faust consumer.

Lag = the partition's highwater (next offset to be written) minus the next offset this worker
will commit (processed records), or its fetch position when nothing was committed yet. Tansu
reports end offsets a little late, so on the embedded broker the value understates.

Only the input topics count (`topics`): the consumer is also assigned Faust's changelog
partitions (read during recovery and as standbys), whose "lag" is no backlog of work, and on
Tansu never moves (its end offsets of multi-record batches are wrong), so it showed a
constant lag on an idle worker.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)


class LagSource(Protocol):
    """The subset of `faust.transport.consumer.Consumer` this module reads."""

    def assignment(self) -> Any: ...

    def highwater(self, tp: Any) -> int | None: ...

    async def position(self, tp: Any) -> int | None: ...


def _committed(consumer: LagSource) -> Mapping[Any, int | None]:
    # Faust keeps the offsets it committed (next offset to read) per TP; not a public API.
    committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
    return committed


async def consumer_lag(
    consumer: LagSource, topics: Collection[str]
) -> dict[tuple[str, int], int]:
    """{(topic, partition): records behind} for every assigned partition of `topics` with a
    known end."""
    lag: dict[tuple[str, int], int] = {}
    committed = _committed(consumer)
    for tp in sorted(consumer.assignment(), key=lambda t: (t.topic, t.partition)):
        if tp.topic not in topics:
            continue
        end = consumer.highwater(tp)
        if end is None:
            continue  # no fetch answered yet for this partition
        done = committed.get(tp)
        if done is None:
            done = await consumer.position(tp)
        if done is None:
            continue
        lag[(tp.topic, tp.partition)] = max(int(end) - int(done), 0)
    return lag
