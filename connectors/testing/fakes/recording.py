"""What the fakes remember: every request, every contract violation, and rate maths."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (``status`` None means the connection was reset)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any
    timestamp: float  # time.monotonic() on arrival, for rate computations
    wall_time: float  # time.time() on arrival, for humans
    status: int | None


@dataclass(frozen=True)
class Violation:
    """A request the real platform would have refused (or the fake could not serve)."""

    method: str
    path: str
    status: int
    reason: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}: {self.reason}"


class ContractViolationError(AssertionError):
    """Raised by ``assert_no_violations``: the code under test broke a vendor contract."""

    def __init__(self, fake_name: str, violations: Sequence[Violation]) -> None:
        lines = "\n  ".join(str(v) for v in violations)
        super().__init__(f"{fake_name}: {len(violations)} contract violation(s):\n  {lines}")
        self.violations = list(violations)


def max_in_window(timestamps: Iterable[float], window: float) -> int:
    """Largest number of timestamps falling inside any half-open interval of ``window`` s."""
    ordered = sorted(timestamps)
    best = 0
    start = 0
    for end, stamp in enumerate(ordered):
        # slide the left edge until the interval [stamp - window, stamp] fits
        while ordered[start] <= stamp - window:
            start += 1
        best = max(best, end - start + 1)
    return best
