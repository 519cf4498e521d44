from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import orjson
import pytest

from connectors.delivery.dlq import (
    DeadLetter,
    FileDeadLetterWriter,
    InMemoryDeadLetterWriter,
    dead_letter_from_error,
)
from connectors.delivery.errors import ClientError, DeadlineExceeded, ServerError
from connectors.delivery.outbox import Outbox
from contracts.actions import Action
from tests.unit.connectors.delivery.helpers import make_action


class TestOutbox:
    """Dry-run writes one JSON line per action and logs no personal data."""

    async def test_jsonl_lines_per_sink(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        outbox = Outbox(tmp_path)
        a1 = make_action(1, person="jane@example.com", attributes={"email": "jane@example.com"})
        a2 = make_action(2, sink="zendesk", operation="ticket_create", one_off=True)
        a3 = make_action(3, operation="suppress", priority="suppression")
        with caplog.at_level(logging.INFO, logger="connectors.delivery.outbox"):
            await outbox.write([a1, a2])
            await outbox.write([a3])
        cio = (tmp_path / "outbox" / "customerio.jsonl").read_bytes().splitlines()
        zd = (tmp_path / "outbox" / "zendesk.jsonl").read_bytes().splitlines()
        assert [Action.from_json(line) for line in cio] == [a1, a3]
        assert [Action.from_json(line) for line in zd] == [a2]
        assert len(caplog.records) == 3
        assert a1.action_id in caplog.text and "ticket_create" in caplog.text
        assert "jane" not in caplog.text

    async def test_empty_batch_writes_nothing(self, tmp_path: Path) -> None:
        await Outbox(tmp_path).write([])
        assert not (tmp_path / "outbox").exists()


class TestDeadLetter:
    """Dead letters carry the action and everything about the failure."""

    def test_from_client_error(self) -> None:
        action = make_action(1)
        letter = dead_letter_from_error(
            ClientError(422, b'{"error":"bad attr"}' + b"x" * 10_000), action=action, attempts=1
        )
        assert letter.reason == "client_error" and letter.status == 422
        assert letter.error_class == "ClientError"
        assert letter.response_body is not None and letter.response_body.startswith('{"error"')
        assert len(letter.response_body) == 4096
        assert letter.covered_action_ids == [action.action_id]
        assert DeadLetter.from_json(letter.to_json()) == letter

    def test_deadline_reports_last_error(self) -> None:
        err = DeadlineExceeded(ServerError(503, body=b"down"), attempts=5, elapsed=300)
        letter = dead_letter_from_error(err, action=make_action(1), attempts=5)
        assert letter.reason == "deadline_exceeded"
        assert letter.error_class == "ServerError" and letter.status == 503
        assert letter.response_body == "down"

    def test_unexpected_error(self) -> None:
        letter = dead_letter_from_error(KeyError("x"), action=make_action(1))
        assert letter.reason == "unexpected_error" and letter.status is None

    async def test_writers(self, tmp_path: Path) -> None:
        letter = dead_letter_from_error(ClientError(400), action=make_action(1))
        memory = InMemoryDeadLetterWriter()
        await memory.write(letter)
        assert memory.letters == [letter]
        await FileDeadLetterWriter(tmp_path).write(letter)
        line = (tmp_path / "dlq" / "customerio.jsonl").read_bytes().splitlines()[0]
        assert orjson.loads(line)["reason"] == "client_error"


class TestPrivateFiles:
    """Outbox and dead-letter files hold personal data: 0600 files in a 0700 directory."""

    async def test_outbox_modes(self, tmp_path: Path) -> None:
        old = os.umask(0o022)  # a typical umask would make them world-readable
        try:
            await Outbox(tmp_path).write([make_action(1)])
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "outbox" / "customerio.jsonl").stat().st_mode) == 0o600

    async def test_existing_files_tightened(self, tmp_path: Path) -> None:
        (tmp_path / "outbox").mkdir(mode=0o755)
        (tmp_path / "outbox" / "customerio.jsonl").write_bytes(b"")
        (tmp_path / "outbox" / "customerio.jsonl").chmod(0o644)
        await Outbox(tmp_path).write([make_action(1)])
        assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "outbox" / "customerio.jsonl").stat().st_mode) == 0o600

    async def test_dead_letter_file_modes(self, tmp_path: Path) -> None:
        old = os.umask(0o022)
        try:
            await FileDeadLetterWriter(tmp_path).write(
                dead_letter_from_error(ClientError(400), action=make_action(1))
            )
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "dlq").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "dlq" / "customerio.jsonl").stat().st_mode) == 0o600
