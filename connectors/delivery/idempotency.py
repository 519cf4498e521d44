"""Memory of what was already delivered (SPEC S6 idempotency, S10 crash safety).

A sink marks an action id delivered only after the platform confirmed it, and skips ids
it has seen: replays, rebalances and restarts after a crash therefore do not repeat work.
(The window between "platform confirmed" and "marked" remains; connectors pass the action
id as the platform's own dedupe key where one exists, e.g. Customer.io event `id`.)

`FileDeliveredStore` keeps an append-only log `<data_dir>/delivered/<name>.log` with lines
`<epoch seconds>\t<action id>`. Concurrent `add()` calls are group-committed: one write and
one fsync per batch, and `add()` returns only once its line is durable. Entries older than
`horizon` are dropped at load and by compaction (rewrite + atomic rename) once the file has
grown to twice the live set, so the file stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Protocol

from connectors.delivery.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)


class DeliveredStore(Protocol):
    async def contains(self, action_id: str) -> bool: ...

    async def add(self, action_id: str) -> None: ...

    async def add_many(self, action_ids: list[str]) -> None:
        """`add` each id (one call: a request's ids are marked together)."""
        ...


class InMemoryDeliveredStore:
    """Process-local store for tests and the embedded default."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def contains(self, action_id: str) -> bool:
        return action_id in self.ids

    async def add(self, action_id: str) -> None:
        await self.add_many([action_id])

    async def add_many(self, action_ids: list[str]) -> None:
        self.ids.update(action_ids)


class FileDeliveredStore:
    """Durable store in a data directory; survives a process restart."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        name: str = "delivered",
        horizon: float = 30 * 86400.0,
        clock: Clock = SYSTEM_CLOCK,
        fsync: bool = True,
    ) -> None:
        if "/" in name or name.startswith("."):
            raise ValueError(f"invalid store name {name!r}")
        self.path = Path(data_dir) / "delivered" / f"{name}.log"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._horizon = horizon
        self._clock = clock
        self._fsync = fsync
        self._seen: dict[str, float] = {}
        self._lines_in_file = 0
        self._live_after_compaction = 0
        self._pending: list[tuple[str, float, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._load()

    def __len__(self) -> int:
        return len(self._seen)

    def _load(self) -> None:
        cutoff = self._clock.time() - self._horizon
        needs_newline = False
        if self.path.exists():
            raw = self.path.read_bytes()
            needs_newline = bool(raw) and not raw.endswith(b"\n")
            for line in raw.decode("utf-8", errors="replace").splitlines():
                self._lines_in_file += 1
                stamp, sep, action_id = line.partition("\t")
                try:
                    at = float(stamp)
                except ValueError:
                    at = -1.0
                if not sep or not action_id or at < 0:
                    # A torn last line from a crash mid-write; the add() never returned.
                    log.warning("skipping malformed line in %s", self.path)
                    continue
                if at >= cutoff:
                    self._seen[action_id] = max(at, self._seen.get(action_id, at))
        if needs_newline:
            with self.path.open("ab") as fh:
                fh.write(b"\n")
        self._live_after_compaction = len(self._seen)
        if self._needs_compaction():
            self._compact()

    async def contains(self, action_id: str) -> bool:
        at = self._seen.get(action_id)
        return at is not None and at >= self._clock.time() - self._horizon

    async def add(self, action_id: str) -> None:
        await self.add_many([action_id])

    async def add_many(self, action_ids: list[str]) -> None:
        """Durable once it returns; the ids share one write with other pending adds."""
        if not action_ids:
            return
        for action_id in action_ids:
            if "\n" in action_id or "\t" in action_id:
                raise ValueError("action ids cannot contain tabs or newlines")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        at = self._clock.time()
        self._pending.extend((action_id, at, fut) for action_id in action_ids)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())
        await fut

    async def _flush_loop(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            lines = "".join(f"{at:.3f}\t{action_id}\n" for action_id, at, _ in batch)
            try:
                # File I/O and fsync off the event loop: fsync can take milliseconds.
                await asyncio.to_thread(self._append, lines.encode())
            except OSError as exc:
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for action_id, at, fut in batch:
                # Visible only once durable, so "contains" never claims an unsaved id.
                self._seen[action_id] = at
                if not fut.done():
                    fut.set_result(None)
            self._lines_in_file += len(batch)
            if self._needs_compaction():
                await asyncio.to_thread(self._compact)

    def _needs_compaction(self) -> bool:
        # Amortised: rewrite once the file has doubled since the last rewrite, so the
        # file never exceeds about twice the live set (plus slack).
        return self._lines_in_file > 2 * self._live_after_compaction + 1024

    def _append(self, data: bytes) -> None:
        with self.path.open("ab") as fh:
            fh.write(data)
            fh.flush()
            if self._fsync:
                os.fsync(fh.fileno())

    def _prune(self) -> None:
        cutoff = self._clock.time() - self._horizon
        self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}

    def _compact(self) -> None:
        self._prune()
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write("".join(f"{at:.3f}\t{k}\n" for k, at in self._seen.items()).encode())
            fh.flush()
            if self._fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, self.path)  # atomic: a crash leaves the old or the new file
        self._lines_in_file = len(self._seen)
        self._live_after_compaction = len(self._seen)

    async def close(self) -> None:
        """Wait for pending adds to be durable."""
        if self._flusher is not None:
            await self._flusher
