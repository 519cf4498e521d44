"""Replay through the real broker: a new state version is built from the raw topics while
the live one serves, nothing is delivered twice, and `version use` switches explicitly."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    cli,
    minutes_ago,
    post,
    state_of,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker


class TestReplay:
    """Live v1 serves; replay into v2; switch; v2 continues without repeats."""

    def test_replay_switch_and_continue(self, broker: EmbeddedBroker, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        prefix, app_id = f"rp{tag}.", f"supportsync-{tag}"
        bootstrap = broker.bootstrap_servers
        base = {k: v for k, v in os.environ.items() if k != "SUPPORTSYNC_STATE_VERSION"}
        env = {
            **base,
            "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SUPPORTSYNC_TOPIC_PREFIX": prefix,
            "SUPPORTSYNC_APP_ID": app_id,
            "SUPPORTSYNC_DATA_DIR": str(tmp_path / "replay"),
            "SUPPORTSYNC_PARTITIONS": "4",
        }
        started = time.time()
        emails = [f"replay{i}@example.com" for i in range(5)]
        with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as cio:
            wenv = worker_env(cio.track_url)
            live = WorkerProcess(bootstrap, env=wenv, prefix=prefix, app_id=app_id,
                                 data_dir=tmp_path / "live")
            with live:
                live.wait_healthy(timeout=60)
                url = live.url("/webhooks/zendesk")
                for i, email in enumerate(emails):
                    body = trigger_body(f"{700 + i}", "Open", minutes_ago(30), email)
                    assert post(url, body, zendesk_headers(body))[0] == 200
                # Every customer's identify and event confirmed (requests may be v2 batches).
                wait_for(lambda: all(e in cio.people and cio.people[e].events
                                     and cio.people[e].attributes.get("has_open_ticket")
                                     for e in emails), timeout=30)
                time.sleep(2.0)
                sent_before = len(cio.requests)

                done = cli(env, "replay", "--from", str(started - 60), "--version", "v2")
                assert done.returncode == 0, done.stdout + done.stderr[-3000:]
                assert "replay v2:" in done.stderr and "caught up" in done.stderr
                assert f"{len(emails)} records replayed" in done.stdout
                time.sleep(3.0)  # the live sinks have seen the replay's actions by now
                assert len(cio.requests) == sent_before, "replay delivered something twice"

                refused = cli(env, "version", "use", "v3")
                assert refused.returncode == 1 and "no finished replay" in refused.stderr
            switched = cli(env, "version", "use", "v2")
            assert switched.returncode == 0, switched.stdout + switched.stderr[-2000:]
            assert cli(env, "version", "show").stdout.strip() == "v2"

            with WorkerProcess(bootstrap, env=wenv, prefix=prefix, app_id=app_id,
                               data_dir=tmp_path / "next") as nxt:
                nxt.wait_healthy(timeout=60)
                for email in emails:
                    doc = wait_for(lambda e=email: state_of(nxt.admin_port, e), timeout=30)  # type: ignore[misc]
                    assert doc is not None and doc["attributes"]["has_open_ticket"] is True
                time.sleep(2.0)
                extra = [(r.method, r.path, r.json) for r in cio.requests[sent_before:]]
                assert not extra, f"v2's sinks re-delivered history: {extra}"
                body = trigger_body("800", "Open", minutes_ago(1), "after-switch@example.com")
                assert post(nxt.url("/webhooks/zendesk"), body, zendesk_headers(body))[0] == 200
                wait_for(lambda: len(cio.requests) >= sent_before + 2, timeout=30)
