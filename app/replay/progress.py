"""Progress of a long-running command on stderr: records, rate and ETA (SPEC S7).

    replay v2: 12,345 records, 1,850/s, 64% (8,000/12,500 offsets), ETA 0:00:03

`Progress.update(done, total)` prints at most once per `interval` seconds (and always on
`finish()`); the ETA comes from the rate of `done` since the start. On a terminal the line is
rewritten in place; otherwise (a log file, CI) each update is its own line. Nothing personal
is ever printed: counts only.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(
        self,
        label: str,
        *,
        unit: str = "records",
        stream: TextIO | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._last_print: float | None = None
        self.records = 0
        self.done = 0
        self.total: int | None = None

    @property
    def elapsed(self) -> float:
        return max(self.clock() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        return self.records / self.elapsed

    def eta(self) -> float | None:
        if self.total is None or self.done <= 0:
            return None
        remaining = max(self.total - self.done, 0)
        return remaining / (self.done / self.elapsed)

    def line(self) -> str:
        text = f"{self.label}: {self.records:,} {self.unit}, {self.rate:,.0f}/s"
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            text += f", {pct:.0f}% ({self.done:,}/{self.total:,})"
        if self.total is not None:
            text += f", ETA {format_eta(self.eta())}"
        return text

    def update(self, records: int, done: int | None = None, total: int | None = None) -> None:
        """`records` processed so far; `done`/`total` measure completion (for the ETA)."""
        self.records = records
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        now = self.clock()
        if self._last_print is None or now - self._last_print >= self.interval:
            self._last_print = now
            if self._tty:
                # \r back to the line start, \x1b[K clears what a longer line left behind
                print(f"\r{self.line()}\x1b[K", end="", file=self.stream, flush=True)
            else:
                print(self.line(), file=self.stream, flush=True)

    @property
    def _tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def finish(self, note: str = "done") -> None:
        start = "\r" if self._tty and self._last_print is not None else ""
        end = "\x1b[K" if start else ""
        print(f"{start}{self.line()} — {note} in {self.elapsed:.1f}s{end}", file=self.stream,
              flush=True)
