"""The pipeline backlog signal (streams/runtime/backlog.py): on when the apply agent works
on old events, and off again only once they have been recent for a while."""

from __future__ import annotations

from streams.runtime.backlog import PipelineBacklog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestPipelineBacklog:
    """On above the delay, held for `hold_s` after the last time it was over it."""

    def test_off_until_events_are_older_than_the_delay(self) -> None:
        clock = Clock()
        backlog = PipelineBacklog(on_s=0.25, hold_s=10, clock=clock)
        assert not backlog.behind()
        backlog.observe(clock.now - 0.2)
        assert not backlog.behind()
        backlog.observe(clock.now - 0.8)
        assert backlog.behind()

    def test_held_while_recent_figures_come_in_then_off(self) -> None:
        clock = Clock()
        backlog = PipelineBacklog(on_s=0.25, hold_s=10, clock=clock)
        backlog.observe(clock.now - 2.0)
        clock.now += 5
        backlog.observe(clock.now - 0.05)  # caught up: still batching for a while
        assert backlog.behind()
        clock.now += 6
        backlog.observe(clock.now - 0.05)
        assert not backlog.behind()

    def test_behind_again_restarts_the_hold(self) -> None:
        clock = Clock()
        backlog = PipelineBacklog(on_s=0.25, hold_s=10, clock=clock)
        backlog.observe(clock.now - 1.0)
        clock.now += 9
        backlog.observe(clock.now - 1.0)
        clock.now += 9
        assert backlog.behind()
