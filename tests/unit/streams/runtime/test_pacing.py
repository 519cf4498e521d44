"""Ingress pacing (streams/runtime/pacing.py): requests wait while the pipeline is behind,
never longer than the maximum, and never on an old or absent figure."""

from __future__ import annotations

import asyncio

from streams.runtime.pacing import PipelineDelay


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestPipelineDelay:
    """The apply agent's delay holds requests back until it is within the limit again."""

    async def test_no_wait_while_within_the_limit(self) -> None:
        clock = Clock()
        pacing = PipelineDelay(limit_s=0.5, clock=clock)
        pacing.observe(clock.now - 0.2)
        await asyncio.wait_for(pacing.hold(), 0.05)
        assert pacing.held == 0

    async def test_waits_until_the_pipeline_catches_up(self) -> None:
        clock = Clock()
        pacing = PipelineDelay(limit_s=0.5, max_wait_s=30, clock=clock)
        pacing.observe(clock.now - 3.0)
        waiting = asyncio.ensure_future(pacing.hold())
        await asyncio.sleep(0.02)
        assert not waiting.done() and pacing.held == 1
        pacing.observe(clock.now - 1.0)  # still behind
        await asyncio.sleep(0.02)
        assert not waiting.done()
        pacing.observe(clock.now - 0.1)
        await asyncio.wait_for(waiting, 1)

    async def test_waits_at_most_the_maximum(self) -> None:
        clock = Clock()
        pacing = PipelineDelay(limit_s=0.5, max_wait_s=0.05, clock=clock)
        pacing.observe(clock.now - 10.0)
        await asyncio.wait_for(pacing.hold(), 1)  # accepted anyway
        assert pacing.held == 1

    async def test_an_old_figure_holds_nothing(self) -> None:
        clock = Clock()
        pacing = PipelineDelay(limit_s=0.5, stale_s=1.0, max_wait_s=30, clock=clock)
        pacing.observe(clock.now - 10.0)
        clock.now += 2.0  # nothing applied since: idle or rebalancing
        await asyncio.wait_for(pacing.hold(), 0.05)
        assert pacing.delay() == 0.0 and pacing.held == 0

    async def test_a_zero_limit_turns_pacing_off(self) -> None:
        clock = Clock()
        pacing = PipelineDelay(limit_s=0.0, max_wait_s=30, clock=clock)
        pacing.observe(clock.now - 10.0)
        await asyncio.wait_for(pacing.hold(), 0.05)
