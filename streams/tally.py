"""Counts the recipes keep while routing, drained by the runtime once per batch.

Recipes know nothing of Prometheus: they add to a `RecipeTally`, and whoever runs the router
(the runtime's agents) drains it after each batch and publishes the sums — one metric update
per label set and batch instead of one per event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RecipeTally:
    #: actions produced, by (recipe, sink)
    actions: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: one-off actions of history older than the replay horizon (recorded, not sent), by recipe
    one_offs_skipped: Counter[str] = field(default_factory=Counter)
    #: R18: tickets/conversations by (source, "opened"|"resolved")
    tickets: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: R18: (source, seconds from opening to resolution)
    resolutions: list[tuple[str, int]] = field(default_factory=list)
    #: R18: ratings by (source, "true"|"false" for low)
    csat: Counter[tuple[str, str]] = field(default_factory=Counter)

    def drain(self) -> RecipeTally:
        """What was counted since the last drain; the tally starts again from zero."""
        drained = RecipeTally(
            self.actions, self.one_offs_skipped, self.tickets, self.resolutions, self.csat
        )
        self.actions, self.one_offs_skipped = Counter(), Counter()
        self.tickets, self.resolutions, self.csat = Counter(), [], Counter()
        return drained
