"""The replay process serves its /metrics (replay progress) while it runs."""

from __future__ import annotations

import socket
import urllib.request

from app.replay.runner import serve_metrics
from streams.runtime import metrics
from streams.runtime.broker import free_port


class TestReplayMetrics:
    """Prometheus can scrape a running replay; a busy port does not fail the replay."""

    def test_serves_progress(self) -> None:
        port = serve_metrics("127.0.0.1", free_port())
        assert port is not None
        metrics.REPLAY_PROGRESS.labels("v-test", "total").set(40)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        assert "supportsync_replay_records_total" in text
        assert 'supportsync_replay_offsets{part="total",version="v-test"} 40.0' in text

    def test_port_in_use_is_not_fatal(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            assert serve_metrics("127.0.0.1", busy.getsockname()[1]) is None

    def test_port_zero_serves_nothing(self) -> None:
        assert serve_metrics("127.0.0.1", 0) is None
