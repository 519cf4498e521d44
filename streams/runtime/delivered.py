"""A DeliveredStore backed by a Faust table, so "already delivered" survives restarts and
moves with the partition to whichever worker owns it next (its changelog partition is the
out-topic partition the sink was consuming when it wrote).

Writes go through `BatchedTable`: the sink's dispatcher checkpoints them (streams/runtime/
dispatch.py), each id to the partition of the record that carried it.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.records import now_ts
from streams.runtime.tablewriter import BatchedTable


class TableDeliveredStore:
    """Each sink's dispatcher writes through its own `BatchedTable` (action ids start with the
    sink name), so each checkpoints exactly what it wrote."""

    def __init__(self, table_for: Callable[[str], BatchedTable[bytes]]) -> None:
        self._table_for = table_for

    def _table(self, action_id: str) -> BatchedTable[bytes]:
        return self._table_for(action_id.split(":", 1)[0])

    async def contains(self, action_id: str) -> bool:
        return self._table(action_id).get(action_id) is not None

    async def add(self, action_id: str) -> None:
        await self.add_many([action_id])

    async def add_many(self, action_ids: list[str]) -> None:
        stamp = str(int(now_ts())).encode()
        for action_id in action_ids:
            self._table(action_id).set(action_id, stamp)
