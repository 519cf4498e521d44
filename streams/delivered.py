"""A DeliveredStore backed by a Faust table, so "already delivered" survives restarts and
moves with the partition to whichever worker owns it next (its changelog partition is the
out-topic partition the sink was consuming when it wrote)."""

from __future__ import annotations

import faust

from streams.records import now_ts


class TableDeliveredStore:
    def __init__(self, table: faust.Table[bytes, bytes]) -> None:
        self._table = table

    async def contains(self, action_id: str) -> bool:
        return action_id.encode() in self._table

    async def add(self, action_id: str) -> None:
        self._table[action_id.encode()] = str(int(now_ts())).encode()
