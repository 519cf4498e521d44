"""Tunables of the support state machine (SPEC S4). Pure data; loaded from settings by the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class StateConfig:
    """Windows, thresholds and bounds used by `streams.state.machine`.

    `refund_markers` are compared with a ticket's reason and tags after normalising them
    (lower-case, spaces and hyphens become underscores), so "Refund request" matches
    "refund_request".
    """

    cooldown: timedelta = timedelta(days=7)
    recovery: timedelta = timedelta(days=30)
    recent_ticket_window: timedelta = timedelta(days=14)
    stale_after: timedelta = timedelta(days=30)
    high_priorities: frozenset[str] = field(default_factory=lambda: frozenset({"high", "urgent"}))
    refund_markers: frozenset[str] = field(
        default_factory=lambda: frozenset({"refund", "chargeback", "refund_request"})
    )
    #: `days_since_last_open` is refreshed daily up to this age (then it stays there)
    open_age_max: timedelta = timedelta(days=90)
    processed_ids_max: int = 200
    holdout_percent: float = 0.0
    max_transitions_kept: int = 10

    def __post_init__(self) -> None:
        if self.processed_ids_max < 1:
            raise ValueError("processed_ids_max must be at least 1")
        if not 0.0 <= self.holdout_percent <= 100.0:
            raise ValueError("holdout_percent must be between 0 and 100")
        if self.max_transitions_kept < 0:
            raise ValueError("max_transitions_kept must not be negative")

    @property
    def retention(self) -> timedelta:
        """How long a closed ticket is kept: the longest window that can still look at it."""
        return max(self.cooldown, self.recovery, self.recent_ticket_window, self.stale_after)
