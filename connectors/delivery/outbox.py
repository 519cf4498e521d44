"""Dry-run outbox (SPEC S6, S9): actions go to local JSON lines instead of the network.

Each action becomes one line of `<data_dir>/outbox/<sink>.jsonl` (the full action, as it
would have been sent); the log gets one INFO line per action with its id, sink and
operation only: payloads and person identifiers are personal data (S10).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from pathlib import Path

from contracts.actions import Action

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(data_dir) / "outbox"
        self._lock = asyncio.Lock()  # keep lines from concurrent batches whole

    def path_for(self, sink: str) -> Path:
        return self.dir / f"{sink}.jsonl"

    async def write(self, actions: list[Action]) -> None:
        """Append the batch (flushed once per batch) and log a summary line per action."""
        if not actions:
            return
        by_sink: dict[str, list[bytes]] = defaultdict(list)
        for action in actions:
            by_sink[action.sink].append(action.to_json() + b"\n")
        async with self._lock:
            await asyncio.to_thread(self._append, by_sink)
        for action in actions:
            log.info("dry-run: %s %s %s (outbox)", action.sink, action.operation, action.action_id)

    def _append(self, by_sink: dict[str, list[bytes]]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for sink, lines in by_sink.items():
            with self.path_for(sink).open("ab") as fh:
                fh.write(b"".join(lines))
                fh.flush()
