"""Test helpers shipped for users: run a real supportsync worker process against a broker.

    with EmbeddedBroker() as broker:
        with WorkerProcess(broker.bootstrap_servers, env={...}) as worker:
            worker.wait_healthy()
            ... POST to worker.url("/webhooks/zendesk") ...
            ... GET worker.admin_url("/state/jane@example.com") ...

Each WorkerProcess gets its own topic prefix and app id unless given, so several can share
one broker without seeing each other's data. `stop()` sends SIGTERM and waits (bounded);
`kill()` sends SIGKILL; both leave no process behind. Leaving the `with` block without an
error also removes the data directory the worker made for itself (kept after a failure, for
its `worker.log`); `remove_data_dir()` does the same for workers run by start()/stop().
`SUPPORTSYNC_KEEP_TEST_DATA=1` keeps them all.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from app.settings import SOURCE_SECRETS
from streams.runtime.broker import free_port


class WorkerProcess:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        prefix: str | None = None,
        app_id: str | None = None,
        port: int | None = None,
        admin_port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.port = port or free_port()
        self.admin_port = admin_port or free_port()
        self.prefix = prefix or f"t{tag}."
        self.app_id = app_id or f"supportsync-{tag}"
        self.data_dir = data_dir or Path(f"/tmp/supportsync-test-{tag}")
        self.owns_data_dir = data_dir is None
        self.log_path = log_path or self.data_dir / "worker.log"
        self.env = {
            **os.environ,
            "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "SUPPORTSYNC_WEB_PORT": str(self.port),
            "SUPPORTSYNC_ADMIN_PORT": str(self.admin_port),
            "SUPPORTSYNC_TOPIC_PREFIX": self.prefix,
            "SUPPORTSYNC_APP_ID": self.app_id,
            "SUPPORTSYNC_DATA_DIR": str(self.data_dir),
            "SUPPORTSYNC_PARTITIONS": "4",
            # Tansu reports wrong end offsets, which trips Faust's RocksDB recovery check once
            # partitions move between workers; tests that want RocksDB ask for it.
            "SUPPORTSYNC_STORE": "memory://",
            **(env or {}),
        }
        # Outside the embedded mode every enabled source needs its secret: enable the ones
        # whose secrets were given, unless the caller chose.
        if "SUPPORTSYNC_SOURCES" not in (env or {}):
            self.env["SUPPORTSYNC_SOURCES"] = ",".join(
                source for source, field in SOURCE_SECRETS.items()
                if self.env.get(f"SUPPORTSYNC_{field.upper()}")
            )
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        """On the public listener (webhooks, /v1, /healthz)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def admin_url(self, path: str) -> str:
        """On the admin listener (status page, /state, /metrics)."""
        return f"http://127.0.0.1:{self.admin_port}{path}"

    def start(self) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def health(self, path: str = "/readyz") -> int | None:
        """HTTP status of `/readyz` (or `path`); None while nothing answers."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=1) as resp:
                status: int = resp.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds until /readyz answered 200 (partitions owned, not rebalancing); raises
        with the log tail otherwise."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            if self.health() == 200:
                return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"worker not healthy after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> float:
        """SIGTERM, wait; SIGKILL the group if it overstays. Returns seconds taken."""
        started = time.monotonic()
        proc = self.process
        if proc is None or proc.poll() is not None:
            return 0.0
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        return time.monotonic() - started

    def kill(self) -> None:
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def remove_data_dir(self) -> None:
        """Remove the data directory (store, log): only one this worker made for itself."""
        if os.environ.get("SUPPORTSYNC_KEEP_TEST_DATA"):
            return  # asked to keep every worker's directory and log
        if self.owns_data_dir and self.data_dir.exists():
            shutil.rmtree(self.data_dir)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.stop()
        if exc_type is None:
            self.remove_data_dir()
