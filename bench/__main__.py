"""`make bench`: every benchmark in one run, printed as one table (figures and ratios side by
side with their baselines). Not part of `make test`: targets are measured, never asserted."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable

from streams.runtime.broker import EmbeddedBroker

Row = tuple[str, str, str]

# Modules with a `run() -> list[Row]` that need no broker of ours.
STANDALONE = (
    "bench.hotpath_bench", "bench.state_bench", "bench.ingress_bench", "bench.sinks_bench",
)


def _print(title: str, rows: list[Row]) -> None:
    width = max([len(r[0]) for r in rows] + [10])
    vwidth = max([len(r[1]) for r in rows] + [8])
    print(f"\n## {title}")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>{vwidth}}  {note}")
    sys.stdout.flush()


SECTIONS = ("pipeline", "scale", "latency", "keepup") + tuple(
    m.rsplit(".", 1)[1].removesuffix("_bench") for m in STANDALONE
)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=f"sections: {', '.join(SECTIONS)} (default: all)"
    )
    parser.add_argument("sections", nargs="*", help="run only these sections")
    parser.add_argument("--only", default="", help="comma-separated section names")
    args = parser.parse_args()
    only = {s for s in args.only.split(",") if s} | set(args.sections)
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    started = time.monotonic()
    failures = 0

    def wanted(name: str) -> bool:
        return not only or name in only

    def section(name: str, fn: Callable[[], list[Row]]) -> None:
        nonlocal failures
        if not wanted(name):
            return
        t0 = time.monotonic()
        try:
            rows = fn()
        except Exception as exc:  # noqa: BLE001 - report the section as failed, run the rest
            failures += 1
            rows = [("FAILED", type(exc).__name__, str(exc)[:200])]
        _print(f"{name} ({time.monotonic() - t0:.0f} s)", rows)

    from bench import delivery_bench, pipeline_bench

    if wanted("pipeline"):
        with EmbeddedBroker() as broker:
            section("pipeline", lambda: pipeline_bench.throughput(broker))
    if wanted("scale"):
        with EmbeddedBroker() as broker:  # a fresh broker: Tansu degrades with volume
            section("scale", lambda: pipeline_bench.scale_out(broker))
    section("latency", delivery_bench.latency)  # a fresh broker per scenario
    section("keepup", delivery_bench.keep_up)
    for module_name in STANDALONE:
        short = module_name.rsplit(".", 1)[1].removesuffix("_bench")
        if not wanted(short):
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        section(short, module.run)
    print(f"\nbench finished in {time.monotonic() - started:.0f} s, {failures} section(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
