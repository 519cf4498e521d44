"""A DeliveredStore backed by a Faust table, so "already delivered" survives restarts and
moves with the partition to whichever worker owns it next (its changelog partition is the
out-topic partition the sink was consuming when it wrote).

Writes go through `BatchedTable`: the sink agent flushes them once per delivered batch.
"""

from __future__ import annotations

from streams.records import now_ts
from streams.tablewriter import BatchedTable


class TableDeliveredStore:
    def __init__(self, table: BatchedTable[bytes]) -> None:
        self._table = table

    async def contains(self, action_id: str) -> bool:
        return self._table.get(action_id) is not None

    async def add(self, action_id: str) -> None:
        self._table.set(action_id, str(int(now_ts())).encode())
