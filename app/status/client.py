"""`supportsync state show EMAIL|ID`: ask the running worker's `/state/` endpoint, print it."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import orjson


class StateUnavailable(Exception):
    """The worker could not be reached or answered an error."""


def fetch_state(
    base_url: str, identifier: str, timeout: float = 10.0, token: str | None = None,
    *, path: str = "state", method: str = "GET",
) -> tuple[int, Any]:
    """(HTTP status, JSON body) of `GET /state/{identifier}` on the admin listener (or of
    another `method` and `path`: `DELETE /state/…` erases, `GET /audit/…` lists)."""
    url = f"{base_url.rstrip('/')}/{path}/{quote(identifier.strip(), safe='@')}"
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, orjson.loads(body)
        except orjson.JSONDecodeError:
            raise StateUnavailable(f"{url}: HTTP {exc.code}") from exc
    except OSError as exc:
        raise StateUnavailable(f"cannot reach the worker at {base_url}: {exc}") from exc


def _ticket_line(t: dict[str, Any]) -> str:
    status = t.get("status", "?")
    if t.get("closed_reason"):
        status += f" ({t['closed_reason']})"
    parts = [f"{t.get('source')}:{t.get('id')}", status]
    if t.get("priority"):
        parts.append(f"priority={t['priority']}")
    if t.get("reason"):
        parts.append(f"reason={t['reason']}")
    parts.append(f"opened {t.get('opened_at')}, updated {t.get('updated_at')}")
    return "  " + "  ".join(parts)


def _sent_line(sink: str, e: dict[str, Any]) -> str:
    parts = [f"{sink}:", str(e.get("operation")), str(e.get("outcome"))]
    if e.get("recipe"):
        parts.append(f"recipe={e['recipe']}")
    parts.append(f"at {e.get('at')}")
    return "  " + "  ".join(parts)


def format_state(doc: dict[str, Any]) -> str:
    """A human summary of a `SupportState.explain()` body."""
    suppressed = "suppressed" if doc.get("suppressed") else "not suppressed"
    lines = [
        f"customer {doc.get('customer_key')} (partition {doc.get('partition')})",
        f"support_state: {doc.get('support_state')} — {suppressed}",
        f"why: {doc.get('why')}",
    ]
    tickets = doc.get("tickets") or []
    lines.append(f"tickets ({len(tickets)}):")
    lines.extend(_ticket_line(t) for t in tickets)
    if not tickets:
        lines.append("  none")
    attributes = doc.get("attributes") or {}
    if attributes:
        lines.append("exported attributes:")
        lines.extend(f"  {k} = {v}" for k, v in sorted(attributes.items()))
    sent = doc.get("last_sent") or {}
    lines.append(f"last sent ({len(sent)} sink(s)):")
    lines.extend(_sent_line(sink, e) for sink, e in sorted(sent.items()))
    if not sent:
        lines.append("  nothing yet")
    notes = doc.get("recent_transitions") or []
    lines.append(f"recent transitions ({len(notes)}):")
    for n in notes:
        change = f"{n.get('old')} → {n.get('new')}" if n.get("old") or n.get("new") else ""
        lines.append(f"  {n.get('at')}  {n.get('kind')}  {change}  {n.get('reason')}".rstrip())
    return "\n".join(lines)


def format_audit(doc: dict[str, Any]) -> str:
    """One line per audit entry of `GET /audit/{identifier}`."""
    entries = doc.get("entries") or []
    lines = [f"customer {doc.get('customer_key')}: {len(entries)} audited action(s)"]
    if doc.get("complete") is False:
        lines[0] += " (incomplete: the audit topic could not be read to its end in time)"
    for e in entries:
        parts = [str(e.get("at")), f"{e.get('sink')}:", str(e.get("operation")),
                 str(e.get("outcome"))]
        if e.get("recipe"):
            parts.append(f"recipe={e['recipe']}")
        if e.get("dry_run"):
            parts.append("(dry run)")
        parts.append(str(e.get("action_id")))
        lines.append("  " + "  ".join(parts))
    return "\n".join(lines)
