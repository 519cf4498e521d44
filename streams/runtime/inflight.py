"""Records in flight: an agent moves on while the effects of earlier records travel.

For each record an agent has processed, it hands over the futures of what it produced
(acknowledged by the broker later) and the table values it set. One completion task per
agent finishes records strictly in the order they were read:

1. wait until the record's effects are acknowledged — together with those of every record
   behind it that are already acknowledged (a *group*);
2. write the group's table values (the latest value per key) to the changelogs and wait;
3. mark the group's records handled, so their offsets may be committed.

Effects before state, as before pipelining: a crash in between replays a record against
the old state, which re-derives the same effects (idempotent downstream); state written
first would mark the record's events processed and lose its effects. Records keep their
order per partition because the producer keeps it. A failed effect (the broker refused it
after the producer's own retries) stops the worker: nothing after it is committed, and the
records are read again on restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.runtime import acks

log = logging.getLogger(__name__)


class Persisting(Protocol):
    async def persist(self, partition: int, items: dict[str, Any]) -> None: ...


@dataclass
class _Record:
    message: Any
    partition: int
    effects: list[asyncio.Future[Any]]
    writes: list[tuple[Persisting, dict[str, Any]]] = field(default_factory=list)


class InFlight:
    def __init__(
        self,
        name: str,
        *,
        limit: int = 2000,
        on_failure: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.limit = limit  # records in flight before the agent waits (backpressure)
        self._on_failure = on_failure
        self._queue: deque[_Record] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def add(
        self,
        message: Any,
        partition: int,
        effects: Iterable[asyncio.Future[Any]],
        writes: Iterable[tuple[Persisting, dict[str, Any]]] = (),
    ) -> None:
        """Hand over a processed record (the agent called `acks.begin` when it took it)."""
        while len(self._queue) >= self.limit:
            self._room.clear()
            await self._room.wait()
        self._queue.append(_Record(message, partition, list(effects), [w for w in writes if w[1]]))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"inflight-{self.name}"
            )

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._finish_group()
            except Exception as exc:  # noqa: BLE001 — any refused effect or write stops the worker
                log.error("%s: effects of a record were not acknowledged (%s: %s); stopping "
                          "so the records are read again", self.name, type(exc).__name__, exc)
                for record in self._queue:
                    acks.abandon(record.message)
                self._queue.clear()
                self._room.set()
                if self._on_failure is not None:
                    await self._on_failure(exc)
                return

    async def _finish_group(self) -> None:
        head = self._queue[0]
        for future in head.effects:
            await future
        group = [self._queue.popleft()]
        while self._queue and all(_succeeded(f) for f in self._queue[0].effects):
            group.append(self._queue.popleft())
        self._room.set()
        merged: dict[tuple[int, int], tuple[Persisting, int, dict[str, Any]]] = {}
        for record in group:
            for table, items in record.writes:
                slot = merged.setdefault(
                    (id(table), record.partition), (table, record.partition, {})
                )
                slot[2].update(items)  # later records win: they saw the earlier values
        if merged:
            await asyncio.gather(*(t.persist(p, items) for t, p, items in merged.values()))
        for record in group:
            acks.mark_handled(record.message)


def _succeeded(future: asyncio.Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
