"""`python -m asynclab.bench`: run every family, print progress and the table, write the JSON."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from .report import Results, Row, Skip, format_table, grouped, progress_line, write_json
from .runner import FAMILIES, run_family


def machine() -> str:
    """nproc, CPU model, Python, load average: the context every number needs."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cores = os.cpu_count() or 0
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cores} cores ({model}), Python {platform.python_version()}, load average {load}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.bench", description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated family keys: " + ", ".join(f.key for f in FAMILIES))
    parser.add_argument("--out", default="bench-results.json", help="where to write the rows (default bench-results.json)")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the plumbing, not the numbers")
    args = parser.parse_args(argv)
    wanted = {k.strip() for k in args.only.split(",") if k.strip()}
    unknown = wanted - {f.key for f in FAMILIES}
    if unknown:
        parser.error(f"unknown family {', '.join(sorted(unknown))}; choose from {', '.join(f.key for f in FAMILIES)}")
    families = [f for f in FAMILIES if not wanted or f.key in wanted]

    print(f"asynclab bench on {machine()}", flush=True)
    started = time.monotonic()
    results = Results()

    def on_item(item: Row | Skip) -> None:
        if isinstance(item, Row) and hasattr(os, "getloadavg"):
            item.load = round(os.getloadavg()[0], 2)
        (results.rows if isinstance(item, Row) else results.skips).append(item)  # type: ignore[arg-type]
        print(progress_line(time.monotonic() - started, item), flush=True)

    from ..lab import start_sync, stop_sync

    print("starting the lab services (HTTP API, PostgreSQL)…", flush=True)
    failed = interrupted = False
    try:
        start_sync()
        print(f"[{time.monotonic() - started:6.1f} s] lab ready", flush=True)
        for family in families:
            module = family.load()
            print(f"[{time.monotonic() - started:6.1f} s] {module.TITLE}: running (stopped after {module.DEADLINE} s)…",
                  flush=True)
            failed = not run_family(family, on_item, quick=args.quick) or failed
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: writing the rows measured so far", flush=True)
    finally:
        stop_sync()
        results.rows = grouped(results.rows)
        write_json(args.out, results.rows)

    total = time.monotonic() - started
    print()
    print(format_table(results.rows, results.skips))
    judged = [r for r in results.rows if r.meets_target is not None]
    missed = [r for r in judged if not r.meets_target]
    print(f"\n{len(results.rows)} rows in {total:.0f} s on {machine()}; wrote {args.out}")
    print(f"targets: {len(judged) - len(missed)} of {len(judged)} met"
          + ("".join(f"\n  missed: {r.name} [{r.variant}]" for r in missed)))
    # Missed targets are results, not errors. A family that crashed or ran past its deadline is.
    return 130 if interrupted else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
