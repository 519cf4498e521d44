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
from urllib.parse import quote

from app.status.snapshot import Sample, by_label, quantile, total
from streams.runtime.metrics import SUPPRESSION_GOAL_SECONDS
from streams.state.census import STATES, RecentTransition


@dataclass(frozen=True)
class Health:
    """The banner: what `/healthz` decides on, and where this worker runs."""

    ok: bool
    owned: int  # partitions of the events topic this worker owns
    partitions: int
    rebalancing: bool
    version: str
    state_version: str
    embedded: bool
    bootstrap: str


@dataclass(frozen=True)
class PageData:
    samples: list[Sample]
    rates: Mapping[str, float]
    recent: list[RecentTransition]
    health: Health | None = None


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
        "<td>consumer lag of the input topics (records)</td>"
        + _num(s, "supportsync_consumer_lag")
        + "<td></td>",
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


def _seconds(value: float | None, metric: str, labels: str, q: float) -> str:
    text = "–" if value is None else f"{value:.3f}"
    return (
        f'<td class="num" data-quantile="{q}" data-metric="{escape(metric)}" '
        f'data-of="{escape(labels)}">{text}</td>'
    )


def _goal(p99: float | None) -> str:
    if p99 is None:
        return '<td class="idle">no suppression yet</td>'
    if p99 <= SUPPRESSION_GOAL_SECONDS:
        return f'<td class="ok">within {SUPPRESSION_GOAL_SECONDS:g} s</td>'
    return f'<td class="bad">over {SUPPRESSION_GOAL_SECONDS:g} s</td>'


def _sinks(d: PageData) -> str:
    """Every configured sink, live or dry-run (dry-run outbox writes are deliveries)."""
    s = d.samples
    modes = {
        sample.labels["sink"]: sample.labels["mode"]
        for sample in s
        if sample.name == "supportsync_sink_mode" and sample.value
    }
    sinks = sorted(set(modes) | set(by_label(s, "supportsync_sink_requests_total", "sink")))
    rows = []
    for sink in sinks:
        requests = total(s, "supportsync_sink_requests_total", sink=sink)
        errors = requests - total(s, "supportsync_sink_requests_total", sink=sink, status="ok")
        latency = "supportsync_delivery_latency_seconds"
        of = f"sink={sink},priority=suppression"
        p50 = quantile(s, latency, 0.5, sink=sink, priority="suppression")
        p99 = quantile(s, latency, 0.99, sink=sink, priority="suppression")
        mode = modes.get(sink, "live")
        rows.append(
            f"<td>{escape(sink)}</td><td>{escape(mode.replace('_', '-'))}</td>"
            + _num(s, "supportsync_sink_deliveries_total", sink=sink)
            + _num(s, "supportsync_sink_requests_total", sink=sink)
            + f'<td class="num" data-errors="{escape(sink)}">{_fmt(errors)}</td>'
            + _num(s, "supportsync_sink_retries_total", sink=sink)
            + _num(s, "supportsync_dlq_total", stage=f"sink:{sink}")
            + _num(s, "supportsync_sink_backlog_age_seconds", sink=sink)
            + _seconds(p50, latency, of, 0.5)
            + _seconds(p99, latency, of, 0.99)
            + _goal(p99)
        )
    return _table(
        "Sinks",
        [
            "sink", "mode", "deliveries", "requests", "failed requests", "retries",
            "dead letters", "backlog age (s)", "suppression p50 (s)", "p99 (s)",
            f"goal: p99 ≤ {SUPPRESSION_GOAL_SECONDS:g} s",
        ],
        rows,
    ) + (
        "<p class=note>dry-run: actions are written to the outbox "
        "(<code>&lt;data dir&gt;/outbox/&lt;sink&gt;.jsonl</code>), not sent. Latency: webhook "
        "accepted → delivery confirmed, since this worker started.</p>"
    )


def dlq_command(stage: str, source: str, reason: str) -> str:
    """The `supportsync dlq list` invocation that lists one row's dead letters."""
    parts = ["supportsync", "dlq", "list"]
    if stage.startswith("sink:"):
        parts += ["--sink", stage.removeprefix("sink:")]
    elif source:
        parts += ["--source", source]
    return " ".join([*parts, "--reason", reason])


def _dlq(d: PageData) -> str:
    s = d.samples
    keys = sorted({
        (x.labels.get("stage", ""), x.labels.get("source", ""), x.labels.get("reason", ""))
        for x in s
        if x.name == "supportsync_dlq_total" and x.value
    })
    rows = [
        f"<td>{escape(stage)}</td><td>{escape(source or '–')}</td><td>{escape(reason)}</td>"
        + _num(s, "supportsync_dlq_total", stage=stage, source=source, reason=reason)
        + f"<td><code>{escape(dlq_command(stage, source, reason))}</code></td>"
        for stage, source, reason in keys
    ]
    return _table(
        "Dead letters (since this worker started)",
        ["stage", "source", "reason", "count", "inspect with"],
        rows,
    )


def _recent(d: PageData) -> str:
    rows = [
        f"<td>{escape(t.at)}</td>"
        f'<td><a href="/state/{quote(t.customer_key, safe=":")}">{escape(t.customer_key)}</a></td>'
        f"<td>{escape(t.kind)}</td>"
        f"<td>{escape(t.old or '')} → {escape(t.new or '')}</td><td>{escape(t.reason)}</td>"
        for t in d.recent
    ]
    return _table("Recent transitions", ["at", "customer", "kind", "change", "reason"], rows)


def _banner(d: PageData) -> str:
    h = d.health
    if h is None:
        return ""
    if h.ok:
        verdict, css = "worker ok", "ok"
    elif h.rebalancing:
        verdict, css = "rebalancing: partitions are moving", "warn"
    else:
        verdict, css = "not ready: no partitions owned yet", "bad"
    broker = (
        "embedded Tansu broker (in memory: state is lost on stop)"
        if h.embedded
        else f"Kafka cluster {h.bootstrap}"
    )
    facts = [
        f'partitions owned <span data-health="owned">{h.owned}</span> of {h.partitions}',
        f'rebalancing <span data-health="rebalancing">{"yes" if h.rebalancing else "no"}</span>',
        f'version <span data-health="version">{escape(h.version)}</span>'
        + (f" (state {escape(h.state_version)})" if h.state_version else ""),
        f'<span data-health="broker">{escape(broker)}</span>',
    ]
    return (
        f'<div class="banner {css}"><strong data-health="ok" data-value="{str(h.ok).lower()}">'
        f"{escape(verdict)}</strong> · "
        + " · ".join(facts)
        + "</div>"
    )


_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".banner{padding:.6em 1em;margin-bottom:1em;border-radius:4px}"
    ".banner.ok{background:#e3f4e3}.banner.warn{background:#fff4d6}.banner.bad{background:#fbe0e0}"
    "td.ok{color:#1a6b1a}td.bad{color:#a11;font-weight:bold}td.idle{color:#777}"
    ".note{color:#555;font-size:.9em}"
)


def render(data: PageData) -> str:
    sections = [_ingest, _processing, _customers, _sinks, _dlq, _recent]
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        '<meta http-equiv="refresh" content="5">'
        f"<title>supportsync — sync health</title><style>{_STYLE}</style></head>"
        "<body><h1>supportsync — sync health</h1>"
        + _banner(data)
        + "".join(section(data) for section in sections)
        + '<p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>'
        "</body></html>"
    )
