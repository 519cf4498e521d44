"""Dry-run outbox (SPEC S6, S9): actions go to local JSON lines instead of the network.

Each action becomes one line of `<data_dir>/outbox/<sink>.jsonl` (the full action, as it
would have been sent); the log gets one INFO line per action with its id, sink and
operation only: payloads and person identifiers are personal data (S10). For the same reason
the files are readable by their owner only (0600, in a 0700 directory: `append_private`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from pathlib import Path

from contracts.actions import Action

log = logging.getLogger(__name__)


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create `path` (and parents) owner-only; tighten it if it already existed."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)


def append_private(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Append to `path`, created 0600 (an existing file is tightened to 0600 too)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "ab") as fh:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # the mode of os.open applies to new files only
        fh.write(data)
        fh.flush()
        if fsync:
            os.fsync(fd)


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
        for sink, lines in by_sink.items():
            append_private(self.path_for(sink), b"".join(lines))
