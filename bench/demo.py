"""`make demo`: a scripted day of support activity for ~1,000 customers, sent through the
running product, then a summary of what was sent to which platform and why.

    make demo                          # starts a broker and a dry-run worker of its own
    python -m bench.demo --url http://127.0.0.1:6066   # drive `make run`'s worker instead
                                       # (export the SUPPORTSYNC_* secrets it printed)

Everything goes in the way the platforms send it: signed Zendesk, Intercom and Customer.io
webhooks and Segment-spec `/v1` calls. Sinks run dry (no credentials), so actions land in
the outbox `<data dir>/outbox/*.jsonl`; the summary counts the lines written during the
run by platform, operation and recipe (`payload.recipe`). Seeded: the same day every run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Call = tuple[str, dict[str, Any]]  # endpoint path, JSON body

SECRETS = {
    "SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET": "demo-zendesk",
    "SUPPORTSYNC_INTERCOM_CLIENT_SECRET": "demo-intercom",
    "SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY": "demo-customerio",
    "SUPPORTSYNC_PIPELINES_WRITE_KEY": "demo-pipelines",
}
WHY = {
    "R1": "suppression attributes while tickets are open",
    "R2": "ticket created / resolved campaign events",
    "R3": "email engagement on the agent's view",
    "R4": "lifecycle stage and plan on the Zendesk user",
    "R5": "VIP routing of new tickets",
    "R6": "CSAT sync (low score: recovery)",
    "R7": "proactive outreach on churn risk",
    "R8": "Intercom conversation escalated to Zendesk",
    "R9": "Zendesk status back on the conversation",
    "R10": "profile sync between helpdesks",
    "R11": "shared tag mapping",
    "R12": "new ticket acknowledged in Intercom",
    "R13": "Customer.io segments/events to Intercom",
    "R14": "Intercom contacts and closes to Customer.io",
    "R15": "unsubscribe sync",
    "R16": "state changes to webhook and warehouse",
    "R17": "ad audiences (hashed, consented)",
    "R18": "support reporting rows",
    "R19": "Segment-spec calls to Zendesk",
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def customer_day(n: int, rng: random.Random, start: datetime) -> list[Call]:
    """One customer's day, in time order (a ticket opens before it is solved)."""
    email = f"customer{n:04d}@demo.example"
    at = start + timedelta(minutes=rng.uniform(0, 600))
    calls: list[Call] = []

    def later(minutes: float) -> datetime:
        nonlocal at
        at = at + timedelta(minutes=rng.uniform(1, minutes))
        return at

    def cio_action(action: str, **fields: Any) -> None:
        calls.append(("/webhooks/customerio", {
            "supportsync": "customerio-action/v1", "event_id": f"demo-{n}-{len(calls)}",
            "action": action, "timestamp": int(later(30).timestamp()),
            "identifiers": {"id": f"u{n}", "email": email}, **fields}))

    intercom_id = f"ic{n:05d}" if rng.random() < 0.3 else None
    if intercom_id:
        calls.append(("/webhooks/intercom", _notification("contact.user.created", {
            "type": "contact", "id": intercom_id, "email": email, "role": "user",
            "name": f"Customer {n}", "updated_at": int(later(30).timestamp()),
            "custom_attributes": {"plan": rng.choice(["free", "pro", "enterprise"])}})))
    if rng.random() < 0.1:
        cio_action("segment_entered", segment="vip")
    if rng.random() < 0.5:
        calls.append(("/webhooks/customerio", {
            "event_id": f"demo-{n}-open", "object_type": "email", "metric":
            rng.choice(["opened", "clicked", "converted"]), "timestamp":
            int(later(60).timestamp()), "data": {"identifiers": {"email": email},
                                                  "campaign_id": rng.randint(1, 9)}}))
    if rng.random() < 0.1:
        cio_action("lifecycle_event", name=rng.choice(["signed_up", "trial_started",
                                                        "plan_changed"]),
                   attributes={"plan": rng.choice(["pro", "gold"])})
    if rng.random() < 0.4:
        calls += _ticket_life(n, email, rng, later)
    if intercom_id and rng.random() < 0.4:
        calls += _conversation_life(n, email, intercom_id, rng, later)
    if rng.random() < 0.05:
        cio_action("segment_entered", segment="churn-risk")
    if rng.random() < 0.03:
        cio_action("unsubscribed", channel=rng.choice(["email", "ads"]))
    if rng.random() < 0.1:
        calls.append(("/v1/identify", {
            "type": "identify", "messageId": f"demo-id-{n}", "userId": f"u{n}",
            "timestamp": _iso(later(60)),
            "traits": {"email": email, "first_name": "Customer", "last_name": str(n),
                       "company": {"id": f"org{n % 40}", "name": f"Org {n % 40}"}}}))
    return calls


def _ticket_life(n: int, email: str, rng: random.Random, later: Any) -> list[Call]:
    ticket_id = str(100000 + n)
    priority = rng.choice(["low", "normal", "normal", "high", "urgent"])
    channel = rng.choice(["Web Form", "Mail", "API"])
    opened = later(60)

    def body(status: str, at: datetime, score: str = "") -> Call:
        return ("/webhooks/zendesk", {
            "supportsync": "zendesk-trigger/v1", "event_id": f"{ticket_id}:{_iso(at)}:{status}",
            "ticket": {"id": ticket_id, "status": status, "priority": priority, "tags": "",
                       "channel": channel, "created_at": _iso(opened), "updated_at": _iso(at)},
            "requester": {"id": str(500000 + n), "email": email},
            "satisfaction": {"score": score}})

    calls = [body("new", opened)]
    if rng.random() < 0.7:
        calls.append(body("solved", later(240), rng.choice(["", "", "good", "bad"])))
    return calls


def _conversation_life(
    n: int, email: str, contact_id: str, rng: random.Random, later: Any
) -> list[Call]:
    conv_id = f"conv{n:05d}"
    item = {"type": "conversation", "id": conv_id, "state": "open",
            "created_at": int(later(60).timestamp()),
            "contacts": {"contacts": [{"id": contact_id, "email": email}]}}
    calls = [("/webhooks/intercom", _notification("conversation.user.created",
                                                  {**item, "updated_at": item["created_at"]}))]
    if rng.random() < 0.2:
        calls.append(("/webhooks/intercom", _notification("conversation_part.tag.created", {
            **item, "updated_at": int(later(30).timestamp()),
            "tags_added": {"tags": [{"name": "escalate"}]}})))
        # The escalated ticket (R8) is solved in Zendesk; its trigger carries the link tag.
        solved = later(120)
        calls.append(("/webhooks/zendesk", {
            "supportsync": "zendesk-trigger/v1", "event_id": f"esc-{n}:{_iso(solved)}",
            "ticket": {"id": str(900000 + n), "status": "solved", "priority": "high",
                       "tags": f"intercom_conversation_{conv_id} intercom-escalation",
                       "channel": "API", "created_at": _iso(solved), "updated_at": _iso(solved)},
            "requester": {"id": "", "email": email}}))
    calls.append(("/webhooks/intercom", _notification("conversation.admin.closed", {
        **item, "state": "closed", "updated_at": int(later(120).timestamp())})))
    return calls


def _notification(topic: str, item: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps([topic, item], sort_keys=True).encode()).hexdigest()
    return {"type": "notification_event", "id": f"notif_{digest[:16]}", "topic": topic,
            "created_at": item.get("updated_at"), "data": {"item": item}}


def _headers(path: str, body: bytes, secrets: dict[str, str]) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if path == "/webhooks/zendesk":
        ts = _iso(datetime.now(UTC))
        mac = hmac.new(secrets["SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET"].encode(),
                       ts.encode() + body, hashlib.sha256).digest()
        headers["X-Zendesk-Webhook-Signature"] = base64.b64encode(mac).decode()
        headers["X-Zendesk-Webhook-Signature-Timestamp"] = ts
    elif path == "/webhooks/intercom":
        key = secrets["SUPPORTSYNC_INTERCOM_CLIENT_SECRET"].encode()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
    elif path == "/webhooks/customerio":
        ts = str(int(time.time()))
        key = secrets["SUPPORTSYNC_CUSTOMERIO_WEBHOOK_SIGNING_KEY"].encode()
        headers["X-CIO-Timestamp"] = ts
        headers["X-CIO-Signature"] = hmac.new(key, f"v0:{ts}:".encode() + body,
                                              hashlib.sha256).hexdigest()
    else:
        user = f"{secrets['SUPPORTSYNC_PIPELINES_WRITE_KEY']}:".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(user).decode()
    return headers


def send_all(url: str, days: list[list[Call]], secrets: dict[str, str]) -> Counter[str]:
    """Each customer's calls in order; customers in parallel. Returns status counts."""

    def one_customer(calls: list[Call]) -> Counter[str]:
        seen: Counter[str] = Counter()
        for path, doc in calls:
            body = json.dumps(doc).encode()
            request = urllib.request.Request(url + path, data=body, method="POST",
                                             headers=_headers(path, body, secrets))
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    seen[str(resp.status)] += 1
            except urllib.error.HTTPError as exc:
                seen[str(exc.code)] += 1
        return seen

    total: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for seen in pool.map(one_customer, days):
            total.update(seen)
    return total


def outbox_sizes(outbox: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(outbox.glob("*.jsonl"))}


def wait_quiet(outbox: Path, quiet_s: float = 4.0, limit_s: float = 120.0) -> None:
    """Until the outbox stopped growing for `quiet_s` (the pipeline drained)."""
    started, last, changed = time.monotonic(), outbox_sizes(outbox), time.monotonic()
    while time.monotonic() - started < limit_s:
        time.sleep(0.5)
        sizes = outbox_sizes(outbox)
        if sizes != last:
            last, changed = sizes, time.monotonic()
        elif time.monotonic() - changed >= quiet_s:
            return


def summarize(outbox: Path, before: dict[str, int]) -> list[tuple[str, str, str, int]]:
    """(platform, operation, recipe, count) for the lines written during the run."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for path in sorted(outbox.glob("*.jsonl")):
        with path.open("rb") as fh:
            fh.seek(before.get(path.name, 0))
            for line in fh:
                action = json.loads(line)
                recipe = str((action.get("payload") or {}).get("recipe") or "-")
                counts[(action["sink"], action["operation"], recipe)] += 1
    return [(*key, n) for key, n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1]))]


def print_table(rows: list[tuple[str, str, str, int]], customers: int, calls: int,
                statuses: Counter[str], seconds: float) -> None:
    print(f"\nA day of support activity: {customers} customers, {calls} webhook/API calls "
          f"in {seconds:.1f} s (answers: {dict(statuses)})\n")
    header = ("platform", "operation", "recipe", "actions", "why")
    widths = (11, 22, 6, 7, 0)
    print("  ".join(h.ljust(w) if w else h for h, w in zip(header, widths, strict=True)))
    print("-" * 100)
    per_platform: Counter[str] = Counter()
    for sink, operation, recipe, n in rows:
        per_platform[sink] += n
        print(f"{sink:<11}  {operation:<22}  {recipe:<6}  {n:>7}  {WHY.get(recipe, '')}")
    print("-" * 100)
    print("  ".join(f"{sink}: {n}" for sink, n in per_platform.most_common()))


def run(url: str, outbox: Path, secrets: dict[str, str], customers: int, seed: int) -> int:
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(hours=23)
    days = [customer_day(n, rng, start) for n in range(1, customers + 1)]
    outbox.mkdir(parents=True, exist_ok=True)
    before = outbox_sizes(outbox)
    began = time.monotonic()
    statuses = send_all(url, days, secrets)
    sent = time.monotonic() - began
    wait_quiet(outbox)
    print_table(summarize(outbox, before), customers, sum(len(d) for d in days), statuses, sent)
    return 0 if set(statuses) <= {"200", "202"} else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.demo", description=__doc__)
    parser.add_argument("--url", help="a running worker (e.g. `make run`'s); default: start one")
    parser.add_argument("--outbox", type=Path, default=Path(".supportsync/outbox"),
                        help="the dry-run outbox of the worker given with --url")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    if args.url:
        secrets = {k: os.environ.get(k, v) for k, v in SECRETS.items()}
        return run(args.url.rstrip("/"), args.outbox, secrets, args.customers, args.seed)
    from app.testing import WorkerProcess
    from streams.runtime.broker import EmbeddedBroker

    data_dir = Path(".supportsync") / f"demo-{int(time.time())}"
    env = {**SECRETS, "SUPPORTSYNC_SINKS": "customerio,zendesk,intercom,webhook,audiences,"
           "warehouse", "SUPPORTSYNC_INTERCOM_ADMIN_ID": "1"}
    print(f"demo: starting a broker and a dry-run worker (outbox: {data_dir}/outbox)")
    with EmbeddedBroker() as broker, WorkerProcess(
        broker.bootstrap_servers, env=env, data_dir=data_dir
    ) as worker:
        worker.wait_healthy(timeout=90)
        return run(worker.url("").rstrip("/"), data_dir / "outbox", SECRETS, args.customers,
                   args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
