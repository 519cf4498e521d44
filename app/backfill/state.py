"""The backfill cursor file: `<data_dir>/backfill/<source>.json`, replaced atomically."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass
class Pending:
    """A page being written: its marker and the raw topic's end offsets before the write."""

    marker: str
    from_offsets: dict[str, int]  # "<topic>:<partition>" -> offset


@dataclass
class BackfillState:
    source: str
    since: float
    cursor: dict[str, Any] = field(default_factory=dict)  # source-specific resume point
    pages: int = 0
    written: int = 0
    done: bool = False
    pending: Pending | None = None


class StateFile:
    def __init__(self, data_dir: Path, source: str) -> None:
        self.path = data_dir / "backfill" / f"{source}.json"

    def load(self) -> BackfillState | None:
        if not self.path.exists():
            return None
        doc = orjson.loads(self.path.read_bytes())
        pending = doc.pop("pending", None)
        state = BackfillState(**doc)
        state.pending = Pending(**pending) if pending else None
        return state

    def save(self, state: BackfillState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(orjson.dumps(asdict(state), option=orjson.OPT_INDENT_2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)  # a crash leaves the old or the new file

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
