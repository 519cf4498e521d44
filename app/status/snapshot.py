"""Read the Prometheus registry into plain numbers for the status page.

The page shows exactly what `/metrics` exports: every number is a sum over the samples of one
metric name matching some labels, computed here from the same registry.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from streams.runtime import metrics


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def collect(registry: CollectorRegistry = metrics.REGISTRY) -> list[Sample]:
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in registry.collect()
        for s in family.samples
    ]


def total(samples: Iterable[Sample], name: str, **match: str) -> float:
    """Sum of the samples called `name` whose labels include `match`."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in match.items())
    )


def by_label(samples: Iterable[Sample], name: str, label: str, **match: str) -> dict[str, float]:
    """Sums of `name` grouped by one label, sorted by that label."""
    groups: dict[str, float] = {}
    for s in samples:
        if s.name != name or label not in s.labels:
            continue
        if all(s.labels.get(k) == v for k, v in match.items()):
            groups[s.labels[label]] = groups.get(s.labels[label], 0.0) + s.value
    return dict(sorted(groups.items()))


RATE_SERIES: tuple[str, ...] = (
    "supportsync_events_received_total",
    "supportsync_events_accepted_total",
    "supportsync_events_rejected_total",
    "supportsync_events_processed_total",
    "supportsync_transitions_total",
    "supportsync_sink_requests_total",
    "supportsync_dlq_total",
)


@dataclass
class RateWindow:
    """Per-second rates of a few counters over the last `window` seconds of ticks."""

    window: float = 60.0
    _ticks: deque[tuple[float, dict[str, float]]] = field(default_factory=deque)

    def sample(self, samples: list[Sample], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._ticks.append((now, {name: total(samples, name) for name in RATE_SERIES}))
        while len(self._ticks) > 2 and now - self._ticks[1][0] >= self.window:
            self._ticks.popleft()

    def rates(self) -> dict[str, float]:
        if len(self._ticks) < 2:
            return dict.fromkeys(RATE_SERIES, 0.0)
        (t0, first), (t1, last) = self._ticks[0], self._ticks[-1]
        span = max(t1 - t0, 1e-9)
        return {name: max(last[name] - first[name], 0.0) / span for name in RATE_SERIES}


def quantile(samples: Iterable[Sample], name: str, q: float, **match: str) -> float | None:
    """The q-quantile of histogram `name` (its `_bucket` samples summed over the series that
    match), interpolated within a bucket as Prometheus' `histogram_quantile` does; over the
    whole life of the process. None without observations."""
    buckets: dict[float, float] = {}
    for s in samples:
        if s.name != f"{name}_bucket" or not all(s.labels.get(k) == v for k, v in match.items()):
            continue
        le = float(s.labels["le"])
        buckets[le] = buckets.get(le, 0.0) + s.value
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    count = buckets[bounds[-1]]
    rank = q * count
    lower, below = 0.0, 0.0
    for upper in bounds:
        cumulative = buckets[upper]
        if cumulative >= rank:
            if upper == float("inf"):
                return lower  # beyond the last finite bound: its bound is all that is known
            width = cumulative - below
            return lower + (upper - lower) * ((rank - below) / width if width else 1.0)
        lower, below = upper, cumulative
    return lower
