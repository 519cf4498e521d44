"""Replay building blocks without a broker: time parsing, window, plan arithmetic, progress."""

from __future__ import annotations

import argparse
import io

import pytest
from aiokafka import TopicPartition

from app.replay.commands import parse_time
from app.replay.pipeline import ReplaySettings, ReplayWindow, replay_horizon
from app.replay.progress import Progress, format_eta
from app.replay.runner import ReplayPlan

TP0, TP1 = TopicPartition("raw", 0), TopicPartition("raw", 1)


class TestParseTime:
    """--from/--to accept ISO 8601 (UTC by default) or unix seconds."""

    def test_forms(self) -> None:
        assert parse_time("1700000000") == 1700000000.0
        assert parse_time("2023-11-14T22:13:20Z") == 1700000000.0
        assert parse_time("2023-11-14T22:13:20") == 1700000000.0
        assert parse_time("2023-11-15") == 1700006400.0

    def test_rejects_garbage(self) -> None:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_time("yesterday")


class TestWindowAndHorizon:
    """The received_at window is inclusive; the horizon comes from the environment."""

    def test_window(self) -> None:
        window = ReplayWindow(10.0, 20.0)
        assert [window.contains(t) for t in (9.9, 10.0, 20.0, 20.1)] == [False, True, True, False]
        assert ReplayWindow().contains(0.0)

    def test_horizon(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert ReplaySettings().one_off_horizon_s == 86400.0
        monkeypatch.setenv("SUPPORTSYNC_REPLAY_ONE_OFF_HORIZON_S", "60")
        assert replay_horizon().total_seconds() == 60.0


class TestPlan:
    """Progress and completion from committed offsets against the captured stop offsets."""

    def test_done_and_caught_up(self) -> None:
        plan = ReplayPlan("g", {TP0: 0, TP1: 5}, {TP0: 10, TP1: 5}, scanning=True)
        assert plan.total == 10
        assert plan.done({TP0: None, TP1: None}) == 0
        assert plan.done({TP0: 4, TP1: 5}) == 4
        assert not plan.caught_up({TP0: 9, TP1: 5})
        assert plan.caught_up({TP0: 12, TP1: 5})  # records after the capture also count


class TestProgress:
    """Counts, rate and ETA on the stream given; nothing but numbers."""

    def test_line_and_eta(self) -> None:
        now = [0.0]
        out = io.StringIO()
        progress = Progress("replay v2", stream=out, interval=1.0, clock=lambda: now[0])
        now[0] = 2.0
        progress.update(400, done=50, total=100)
        assert "400 records" in out.getvalue() and "200/s" in out.getvalue()
        assert "50%" in out.getvalue() and "ETA 0:00:02" in out.getvalue()
        progress.update(500, done=60)  # within the interval: not printed
        assert out.getvalue().count("\n") == 1
        progress.finish("caught up")
        assert out.getvalue().rstrip().endswith("caught up in 2.0s")
        assert format_eta(None) == "?" and format_eta(3725) == "1:02:05"

    def test_in_place_on_a_terminal(self) -> None:
        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        now = [0.0]
        out = Terminal()
        progress = Progress("replay v2", stream=out, interval=1.0, clock=lambda: now[0])
        for step in range(1, 4):
            now[0] = float(step)
            progress.update(step * 10, done=step, total=4)
        progress.finish("caught up")
        text = out.getvalue()
        assert text.count("\n") == 1 and text.endswith("\n")  # one line, rewritten
        assert text.count("\r") == 4 and "75% (3/4)" in text
