"""`supportsync forget|audit` ask the admin listener; dead letters of erased people hide."""

from __future__ import annotations

import argparse
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from app.status import commands
from app.status.deadletters import Entry, customer_keys, erased
from streams import identity
from streams.erasure import DenyList, ErasureRecord, deny_keys


class _Admin(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None]] = []

    def _answer(self, status: int, doc: object) -> None:
        body = orjson.dumps(doc)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(("DELETE", self.path, self.headers.get("Authorization")))
        self._answer(202, {"customer_key": "c:00ff", "erased_at": "2026-11-01T12:00:00+00:00"})

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(("GET", self.path, self.headers.get("Authorization")))
        self._answer(200, {"customer_key": "c:00ff", "entries": [{
            "customer_key": "c:00ff", "sink": "customerio", "operation": "identify",
            "action_id": "customerio:identify:ab", "recipe": "R1",
            "at": "2026-11-01T11:00:00+00:00", "outcome": "delivered", "dry_run": False,
        }]})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def admin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Admin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Admin.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Settings:
    admin_host = "127.0.0.1"
    admin_port = 1
    admin_token = None


def _run(command: str, url: str, **extra: Any) -> tuple[int, str]:
    out = io.StringIO()
    args = argparse.Namespace(command=command, identifier="ann@example.com", url=url, **extra)
    code = commands.run(args, _Settings(), out)  # type: ignore[arg-type]
    return code, out.getvalue()


class TestCommands:
    """forget is a DELETE on /state/…, audit a GET on /audit/…; both print the answer."""

    def test_forget(self, admin: str) -> None:
        code, out = _run("forget", admin)
        assert code == 0 and orjson.loads(out)["customer_key"] == "c:00ff"
        assert _Admin.seen == [("DELETE", "/state/ann@example.com", None)]

    def test_audit_lines(self, admin: str) -> None:
        code, out = _run("audit", admin, json=False)
        assert code == 0 and _Admin.seen[0][:2] == ("GET", "/audit/ann@example.com")
        assert "customer c:00ff: 1 audited action(s)" in out
        assert "customerio:  identify  delivered  recipe=R1" in out

    def test_parsers(self) -> None:
        parser = argparse.ArgumentParser()
        commands.add_parsers(parser.add_subparsers(dest="command"))
        assert parser.parse_args(["forget", "c:00ff"]).identifier == "c:00ff"
        assert parser.parse_args(["audit", "a@b.c", "--json"]).json is True


def _entry(doc: dict[str, Any], at: float, sink: str | None = None) -> Entry:
    return Entry(0, 0, int(at * 1000), "sink:x" if sink else "identity", "r", None, sink, "", doc)


class TestDeadLettersOfErased:
    """Letters naming an erased person (written before the erasure) are left out."""

    EMAIL_KEY = identity.new_customer_key("email:ann@example.com")

    def _deny(self, at: float) -> DenyList:
        deny = DenyList()
        keys = deny_keys(["c:00ff"], ["email:ann@example.com"])
        deny.add(ErasureRecord("c:00ff", at, tuple(keys)))
        return deny

    def test_sink_letter(self) -> None:
        entry = _entry({"action": {"customer_key": "c:00ff"}}, 100.0, sink="customerio")
        assert customer_keys(entry) == {"c:00ff"}
        assert erased(entry, self._deny(200.0))
        assert not erased(entry, self._deny(50.0))  # written after: a new person's letter

    def test_event_letter_by_identifiers(self) -> None:
        entry = _entry({"record": {"event": {"identities": {"email": "ann@example.com"}}}}, 100.0)
        assert customer_keys(entry) == {self.EMAIL_KEY}
        assert erased(entry, self._deny(200.0))

    def test_letter_naming_no_one(self) -> None:
        entry = _entry({"record": {"source": "zendesk", "body": "not json"}}, 100.0)
        assert customer_keys(entry) == set() and not erased(entry, self._deny(200.0))
