"""The status page (`GET /`): sync health as one small server-rendered HTML page.

Every number that mirrors a metric carries `data-metric` (the metric name) and
`data-labels` (the label values it is summed over, as `k=v,k=v`), so tests and tools can
check the page against `/metrics`. Rates carry `data-rate` instead: they are computed from the
updater's samples, not exported. Only customer keys (pseudonymous hashes) appear, never
emails or other identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from app.status.snapshot import Sample, by_label, total
from streams.state.census import STATES, RecentTransition


@dataclass(frozen=True)
class PageData:
    samples: list[Sample]
    rates: Mapping[str, float]
    recent: list[RecentTransition]


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _num(samples: list[Sample], name: str, **labels: str) -> str:
    attr = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    value = total(samples, name, **labels)
    return (
        f'<td class="num" data-metric="{escape(name)}" data-labels="{escape(attr)}">'
        f"{_fmt(value)}</td>"
    )


def _rate(rates: Mapping[str, float], name: str) -> str:
    return f'<td class="num" data-rate="{escape(name)}">{rates.get(name, 0.0):.2f}/s</td>'


def _table(title: str, header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(f"<tr>{row}</tr>" for row in rows) or (
        f'<tr><td colspan="{len(header)}">none yet</td></tr>'
    )
    return f"<section><h2>{escape(title)}</h2><table><tr>{head}</tr>{body}</table></section>"


def _ingest(d: PageData) -> str:
    s = d.samples
    sources = sorted(by_label(s, "supportsync_events_received_total", "source"))
    rows = [
        f"<td>{escape(src)}</td>"
        + _num(s, "supportsync_events_received_total", source=src)
        + _num(s, "supportsync_events_accepted_total", source=src)
        + _num(s, "supportsync_events_rejected_total", source=src)
        for src in sources
    ]
    rates = (
        "<tr><td>all</td>"
        + _rate(d.rates, "supportsync_events_received_total")
        + _rate(d.rates, "supportsync_events_accepted_total")
        + _rate(d.rates, "supportsync_events_rejected_total")
        + "</tr>"
    )
    return _table("Ingest", ["source", "received", "accepted", "rejected"], rows).replace(
        "</table>", rates + "</table>"
    )


def _processing(d: PageData) -> str:
    s = d.samples
    rows = [
        "<td>events processed</td>"
        + _num(s, "supportsync_events_processed_total")
        + _rate(d.rates, "supportsync_events_processed_total"),
        "<td>state transitions</td>"
        + _num(s, "supportsync_transitions_total")
        + _rate(d.rates, "supportsync_transitions_total"),
        "<td>consumer lag (records)</td>" + _num(s, "supportsync_consumer_lag") + "<td></td>",
    ]
    return _table("Processing", ["", "total", "rate"], rows)


def _customers(d: PageData) -> str:
    s = d.samples
    rows = [
        f"<td>{escape(state)}</td>" + _num(s, "supportsync_customers", support_state=state)
        for state in STATES
    ]
    rows.append("<td>open tickets</td>" + _num(s, "supportsync_open_tickets"))
    return _table("Customers by support_state", ["support_state", "customers"], rows)


def _sinks(d: PageData) -> str:
    s = d.samples
    sinks = sorted(by_label(s, "supportsync_sink_requests_total", "sink"))
    rows = [
        f"<td>{escape(sink)}</td>"
        + _num(s, "supportsync_sink_requests_total", sink=sink)
        + _num(s, "supportsync_sink_requests_total", sink=sink, status="ok")
        + _num(s, "supportsync_sink_retries_total", sink=sink)
        + _num(s, "supportsync_rate_limit_wait_seconds_total", sink=sink)
        + _num(s, "supportsync_dlq_total", stage=f"sink:{sink}")
        for sink in sinks
    ]
    return _table(
        "Sinks", ["sink", "requests", "ok", "retries", "rate-limit wait (s)", "dead letters"], rows
    )


def _dlq(d: PageData) -> str:
    s = d.samples
    rows = [
        f"<td>{escape(reason)}</td>" + _num(s, "supportsync_dlq_total", reason=reason)
        for reason in by_label(s, "supportsync_dlq_total", "reason")
    ]
    return _table("Dead letters by reason", ["reason", "count"], rows)


def _recent(d: PageData) -> str:
    rows = [
        f"<td>{escape(t.at)}</td><td>{escape(t.customer_key)}</td><td>{escape(t.kind)}</td>"
        f"<td>{escape(t.old or '')} → {escape(t.new or '')}</td><td>{escape(t.reason)}</td>"
        for t in d.recent
    ]
    return _table("Recent transitions", ["at", "customer", "kind", "change", "reason"], rows)


_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
)


def render(data: PageData) -> str:
    sections = [_ingest, _processing, _customers, _sinks, _dlq, _recent]
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        '<meta http-equiv="refresh" content="5">'
        f"<title>supportsync — sync health</title><style>{_STYLE}</style></head>"
        "<body><h1>supportsync — sync health</h1>"
        + "".join(section(data) for section in sections)
        + '<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>'
        "</body></html>"
    )
