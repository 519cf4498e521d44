"""Replay after a mapping change (SPEC S7): the new version's attribute writes reach the
platform where they differ from what was last delivered, and only those fields."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from app.testing import WorkerProcess
from connectors.testing.fakes import FakeCustomerIO
from connectors.testing.threaded import serve_in_thread
from streams.runtime.broker import EmbeddedBroker
from tests.integration.support import (
    CIO_KEY,
    CIO_SITE,
    minutes_ago,
    post,
    trigger_body,
    wait_for,
    worker_env,
    zendesk_headers,
)

pytestmark = pytest.mark.broker


class TestItem10ReplayAfterMappingChange:
    """A replay with a renamed R1 attribute writes the renamed attribute, nothing else."""

    def test_replay_after_mapping_change_delivers_the_changed_values(
        self, broker: EmbeddedBroker, tmp_path: Path
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        prefix, app_id = f"rm{tag}.", f"supportsync-{tag}"
        started = time.time()
        renamed = tmp_path / "renamed.yaml"
        renamed.write_text(yaml.safe_dump(
            {"recipes": {"r1_suppression": {"attribute_names": {
                "has_open_ticket": "support_ticket_open"}}}}))
        base = {k: v for k, v in os.environ.items()
                if k not in ("SUPPORTSYNC_STATE_VERSION", "SUPPORTSYNC_CONFIG")}
        emails = [f"mapping{i}-{tag}@example.com" for i in range(3)]
        with serve_in_thread(FakeCustomerIO(site_id=CIO_SITE, api_key=CIO_KEY)) as cio:
            wenv = worker_env(cio.track_url)
            with WorkerProcess(broker.bootstrap_servers, env=wenv, prefix=prefix,
                               app_id=app_id, data_dir=tmp_path / "live") as live:
                live.wait_healthy(timeout=90)
                for i, email in enumerate(emails):
                    body = trigger_body(f"{900 + i}", "Open", minutes_ago(20), email)
                    status, _ = post(live.url("/webhooks/zendesk"), body, zendesk_headers(body))
                    assert status == 200
                for email in emails:
                    wait_for(lambda e=email: cio.people.get(e) is not None  # type: ignore[misc]
                             and cio.people[e].attributes.get("has_open_ticket") is True,
                             timeout=30, what=f"live R1 for {email}")
                time.sleep(1.0)
                sent_before = len(cio.requests)

                env = {**base, "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                       "SUPPORTSYNC_TOPIC_PREFIX": prefix, "SUPPORTSYNC_APP_ID": app_id,
                       "SUPPORTSYNC_DATA_DIR": str(tmp_path / "replay"),
                       "SUPPORTSYNC_PARTITIONS": "4", "SUPPORTSYNC_CONFIG": str(renamed)}
                done = subprocess.run(
                    [sys.executable, "-m", "app.cli", "replay", "--from", str(started - 60),
                     "--version", "v2"],
                    env=env, capture_output=True, text=True, timeout=180, check=False)
                assert done.returncode == 0, done.stdout + done.stderr[-3000:]

                for email in emails:
                    wait_for(lambda e=email: cio.people[e].attributes.get(  # type: ignore[misc]
                        "support_ticket_open") is True, timeout=30,
                        what=f"the renamed attribute for {email}")
                time.sleep(2.0)
                replayed = cio.requests[sent_before:]
                written: set[str] = set()
                for r in replayed:
                    body = r.json if isinstance(r.json, dict) else {}
                    if r.method == "PUT":  # v1 identify: the attributes are the body
                        written.update(k for k in body if not k.startswith("_"))
                    for item in body.get("batch", [body] if "identifiers" in body else []):
                        if item.get("action") == "identify":
                            written.update(item.get("attributes") or {})
                # Only the field whose result changed is written again; nothing else repeats.
                assert written == {"support_ticket_open"}, [r.json for r in replayed]
            cio.assert_no_violations()
