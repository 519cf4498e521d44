"""`supportsync run` as a new user starts it: embedded broker, dry-run sinks, generated dev
secrets. One banner once the worker is ready; its signed sample works as printed; the
broker's output goes to a log file and a broker that dies is reported."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.runtime.broker import free_port
from tests.integration.support import wait_for

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"^supportsync \S+ is ready", re.M)


class Run:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.admin_port = free_port()
        self.out = workdir / "stdout.txt"
        self.err = workdir / "stderr.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTSYNC_")}
        env.update({
            "SUPPORTSYNC_WEB_PORT": str(self.port),
            "SUPPORTSYNC_ADMIN_PORT": str(self.admin_port),
            "SUPPORTSYNC_DATA_DIR": str(workdir / "data"),
            "SUPPORTSYNC_PARTITIONS": "2",
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        })
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "run"], cwd=workdir, env=env,
                stdout=out, stderr=err, start_new_session=True,
            )

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        return self.process.returncode


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    started = Run(tmp_path)
    try:
        yield started
    finally:
        started.stop()


def _banner(run: Run) -> str:
    def ready() -> str | None:
        assert run.process.poll() is None, run.stdout() + run.stderr()[-3000:]
        text = run.stdout()
        # The banner's last line is the sample's curl command.
        return text if READY.search(text) and '--data "$BODY"' in text else None

    return wait_for(ready, 120, "the first-run banner")


class TestFirstRunBanner:
    """One banner, printed once /readyz is 200, with everything a new user needs."""

    def test_banner_and_signed_sample(self, run: Run) -> None:
        text = _banner(run)
        ready = READY.search(text)
        assert ready
        banner = text[ready.start():]
        base = f"http://127.0.0.1:{run.port}"
        assert f"{base}/webhooks/zendesk" in banner and f"{base}/v1/{{" in banner
        admin = f"http://127.0.0.1:{run.admin_port}"  # the status page is on the admin listener
        assert f"status page:  {admin}/" in banner and "/readyz (readiness)" in banner
        outbox = run.workdir / "data" / "outbox" / "customerio.jsonl"
        assert str(Path("data") / "outbox" / "customerio.jsonl") in banner or str(outbox) in banner
        assert "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET=" in banner
        assert len(READY.findall(text)) == 1
        snippet = banner[banner.index("BODY="):banner.index('--data "$BODY"') + 15]
        assert shutil.which("curl") and shutil.which("openssl")
        sent = subprocess.run(["bash", "-c", snippet], capture_output=True, text=True,
                              timeout=30, check=False)
        assert sent.returncode == 0 and '"accepted"' in sent.stdout, sent.stdout + sent.stderr

        def delivered() -> bool:
            return outbox.exists() and "jane@example.com" in outbox.read_text()

        wait_for(delivered, 60, "the sample's suppression in the dry-run outbox")
        assert (run.workdir / "data" / "broker.log").exists()
        assert run.stop() == 0


class TestBrokerCrash:
    """A dying embedded broker is reported (with its log) and the worker exits 1."""

    def test_reported(self, run: Run) -> None:
        _banner(run)
        children = subprocess.run(["pgrep", "-P", str(run.process.pid)], capture_output=True,
                                  text=True, check=False).stdout.split()
        assert len(children) == 1, children
        os.kill(int(children[0]), signal.SIGKILL)  # the broker this test's run started
        deadline = time.monotonic() + 60
        while run.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert run.process.poll() == 1, run.stderr()[-3000:]
        assert "embedded broker exited with -9" in run.stderr()
        assert "broker.log" in run.stderr()
