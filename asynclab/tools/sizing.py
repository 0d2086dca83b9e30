"""What one learner costs: run every solution notebook as a learner's kernel would, and measure.

    python -m asynclab.tools.sizing                          # solutions/NN_*.ipynb, in order
    python -m asynclab.tools.sizing solutions/04_pools.ipynb --json sizing.json

Each notebook runs top to bottom in a kernel of its own (nbclient), and the kernel starts the
lab itself, as a learner's does: the ASYNCLAB_* addresses and DATABASE_URL are removed from
the environment first, so every kernel starts its own HTTP API and PostgreSQL keeper (in the
user's data folder, reusing a free slot). Every `--interval` seconds (0.2) a thread sums, over
the whole process tree under this process (the kernel, the lab services, PostgreSQL and its
backends, grader subprocesses, process pools):

- memory: RSS, and on Linux PSS and USS (RSS counts shared pages once per process, so the
  sum overstates; PSS splits each shared page between its users and is the honest total);
- CPU: cumulative user+system time, including reaped children, so short-lived graders count;
  cores = its growth per sample interval, and over 1 s windows.

It prints one row per notebook (time, peaks and means, the lab's start time, the peak PSS of
each kind of process) and the run's peaks. After each notebook it waits for the tree to exit
(the services die with their kernel), kills by pid and reports anything left. Then, unless
told not to, it measures an idle JupyterLab server (`--no-server`: the other process a learner's
session costs) and what a culled learner's PostgreSQL does (`--no-pg`: start in a fresh folder,
SIGKILL the owner, start again in the same folder). Nothing is written unless `--json PATH` is
given; the notebooks are not modified.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from .session_costs import CLEANUP_TIMEOUT, MB, measure_idle_server, measure_pg_lifecycle

ROOT = Path(__file__).resolve().parents[2]
SCRUBBED = ("ASYNCLAB_API_URL", "ASYNCLAB_PG_DSN", "DATABASE_URL", "ASYNCLAB_CHECKS_MUST_PASS")


def _kind(proc: psutil.Process) -> str:
    """Which part of the lab a process is, for the per-kind breakdown."""
    try:
        name = proc.name()
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    if name.startswith("postgres"):
        return "postgres"  # the postmaster and its backends (they rename themselves)
    for marker, kind in (("asynclab.services.postgres", "pg keeper"), ("asynclab.services.http_api", "http api"),
                         ("asynclab.grading.worker", "graders"), ("ipykernel", "kernel")):
        if marker in cmd:
            return kind
    return "other"  # process pools, initdb, helpers


@dataclass
class Sample:
    t: float  # seconds since the notebook started
    procs: int
    rss: int
    pss: int
    uss: int
    cpu: float  # cumulative CPU seconds of the tree
    by_kind: dict[str, int]  # PSS (RSS where PSS is unknown) per kind


class TreeSampler(threading.Thread):
    """Samples this process's descendants every `interval` seconds until `stop()`."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="sizing-sampler", daemon=True)
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()
        self._me = psutil.Process()
        self.started_at = time.monotonic()
        self._full = hasattr(self._me, "memory_full_info")
        self._cpu_high = 0.0

    def run(self) -> None:
        while True:
            self.samples.append(self._sample())
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)

    def _sample(self) -> Sample:
        began = time.monotonic()
        rss = pss = uss = count = 0
        cpu = 0.0
        by_kind: dict[str, int] = {}
        for proc in self._me.children(recursive=True):
            try:
                times = proc.cpu_times()  # readable for a zombie too, so the sum does not dip
            except psutil.Error:
                continue
            cpu += times.user + times.system + getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
            try:
                mem = proc.memory_full_info() if self._full else proc.memory_info()
            except psutil.Error:  # exited, or a zombie: no memory left to count
                continue
            count += 1
            rss += mem.rss
            pss += getattr(mem, "pss", 0)
            uss += getattr(mem, "uss", 0)
            kind = _kind(proc)
            by_kind[kind] = by_kind.get(kind, 0) + (getattr(mem, "pss", 0) or mem.rss)
        # A process that exits between the listing and the reading drops out of one sample before
        # its parent's children_* times include it: never let the cumulative figure go down, so
        # that dip and rebound do not show as a burst of CPU.
        self._cpu_high = max(self._cpu_high, cpu)
        mid = (began + time.monotonic()) / 2  # readings are spread over the sample's duration
        return Sample(mid - self.started_at, count, rss, pss, uss, self._cpu_high, by_kind)


@dataclass
class Result:
    notebook: str
    ok: bool
    error: str
    seconds: float  # kernel start to the last cell's end
    lab_start_seconds: float | None  # the `await asynclab.start()` cell
    samples: int
    peak_rss_mb: float
    peak_pss_mb: float
    peak_uss_mb: float
    mean_rss_mb: float
    mean_pss_mb: float
    peak_cores: float  # over one sample interval
    peak_cores_1s: float
    mean_cores: float
    cpu_seconds: float  # CPU time the whole tree used
    end_pss_mb: float  # after the last cell: what the finished notebook's idle kernel keeps
    peak_procs: int
    peak_pss_by_kind_mb: dict[str, float] = field(default_factory=dict)
    cleanup_seconds: float | None = None  # kernel shut down -> no process of the tree left
    leftovers: list[str] = field(default_factory=list)


def _cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _summarise(path: Path, samples: list[Sample], ok: bool, error: str, seconds: float, lab_start: float | None,
               end: float) -> Result:
    live = [s for s in samples if s.t <= end and s.procs] or [Sample(0, 0, 0, 0, 0, 0.0, {})]
    cores = []
    for a, b in zip(live, live[1:], strict=False):
        if b.t > a.t:
            cores.append(max(0.0, (b.cpu - a.cpu) / (b.t - a.t)))
    window: deque[Sample] = deque()
    cores_1s = []
    for s in live:
        window.append(s)
        while window[-1].t - window[0].t > 1.0 + 1e-9:
            window.popleft()
        span = window[-1].t - window[0].t
        if span >= 0.8:
            cores_1s.append(max(0.0, (window[-1].cpu - window[0].cpu) / span))
    kinds: dict[str, float] = {}
    for s in live:
        for kind, value in s.by_kind.items():
            kinds[kind] = max(kinds.get(kind, 0.0), value / MB)
    total_cpu = live[-1].cpu
    return Result(
        notebook=path.name, ok=ok, error=error, seconds=round(seconds, 1),
        lab_start_seconds=None if lab_start is None else round(lab_start, 2), samples=len(live),
        peak_rss_mb=round(max(s.rss for s in live) / MB, 1), peak_pss_mb=round(max(s.pss for s in live) / MB, 1),
        peak_uss_mb=round(max(s.uss for s in live) / MB, 1),
        mean_rss_mb=round(sum(s.rss for s in live) / len(live) / MB, 1),
        mean_pss_mb=round(sum(s.pss for s in live) / len(live) / MB, 1),
        peak_cores=round(max(cores, default=0.0), 2), peak_cores_1s=round(max(cores_1s, default=0.0), 2),
        mean_cores=round(total_cpu / seconds, 2) if seconds > 0 else 0.0, cpu_seconds=round(total_cpu, 1),
        end_pss_mb=round(live[-1].pss / MB, 1),
        peak_procs=max(s.procs for s in live),
        peak_pss_by_kind_mb={k: round(v, 1) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
    )


def _status(proc: psutil.Process) -> str | None:
    try:
        return str(proc.status())
    except psutil.Error:
        return None


def _wait_for_tree_to_exit(timeout: float) -> tuple[float | None, list[str]]:
    """Wait until this process has no descendants; SIGKILL (by pid) and report what stays."""
    me = psutil.Process()
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        alive = [p for p in me.children(recursive=True) if _status(p) not in (psutil.STATUS_ZOMBIE, None)]
        if not alive:
            return round(time.monotonic() - started, 2), []
        time.sleep(0.1)
    left = []
    for proc in me.children(recursive=True):
        try:
            left.append(f"pid {proc.pid}: {' '.join(proc.cmdline())[:120]}")
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(me.children(recursive=True), timeout=5)
    return None, left


def run_notebook(path: Path, interval: float, cell_timeout: int) -> Result:
    """Run one notebook in a fresh kernel and measure its process tree."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, startup_timeout=60, kernel_name="python3",
                            shutdown_kernel="graceful", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    marks: dict[str, float] = {}

    def on_cell_start(cell: Any, cell_index: int) -> None:
        marks["cell_start"] = time.monotonic()

    def on_cell_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        marks["last_cell_end"] = time.monotonic()
        if "lab_start" not in marks and "asynclab.start(" in _cell_source(cell) and "cell_start" in marks:
            marks["lab_start"] = marks["last_cell_end"] - marks["cell_start"]

    client.on_cell_start = on_cell_start
    client.on_cell_executed = on_cell_executed
    sampler = TreeSampler(interval)
    sampler.start()
    ok, error = True, ""
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        ok, error = False, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ''}"
    except Exception as exc:  # e.g. the kernel did not start
        ok, error = False, f"{type(exc).__name__}: {exc}"[:200]
    finally:
        sampler.stop()
    end = marks.get("last_cell_end", time.monotonic()) - sampler.started_at
    result = _summarise(path, sampler.samples, ok, error, end, marks.get("lab_start"), end)
    result.cleanup_seconds, result.leftovers = _wait_for_tree_to_exit(CLEANUP_TIMEOUT)
    return result


def _machine() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    try:
        load = [round(x, 1) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": psutil.cpu_count(),
            "memory_gb": round(vm.total / 1024**3, 1), "load_average_at_start": load, "python": platform.python_version(),
            "platform": platform.platform(terse=True)}


def _table(results: list[Result]) -> str:
    head = ("notebook", "time s", "lab start s", "peak RSS", "peak PSS", "peak USS", "mean PSS", "end PSS",
            "peak cores", "peak 1 s", "mean cores", "CPU s", "procs")
    rows = [head]
    for r in results:
        rows.append((r.notebook + ("" if r.ok else " (FAILED)"), f"{r.seconds:.1f}",
                     "-" if r.lab_start_seconds is None else f"{r.lab_start_seconds:.2f}",
                     f"{r.peak_rss_mb:.0f} MB", f"{r.peak_pss_mb:.0f} MB", f"{r.peak_uss_mb:.0f} MB",
                     f"{r.mean_pss_mb:.0f} MB", f"{r.end_pss_mb:.0f} MB", f"{r.peak_cores:.2f}", f"{r.peak_cores_1s:.2f}",
                     f"{r.mean_cores:.2f}", f"{r.cpu_seconds:.1f}", str(r.peak_procs)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)


def default_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "solutions").glob("*.ipynb") if re.match(r"\d\d_", p.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.tools.sizing", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: solutions/NN_*.ipynb)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-server", action="store_true", help="skip the idle JupyterLab measurement")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL start/kill/restart measurement")
    args = parser.parse_args(argv)
    paths = args.paths or default_notebooks()
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 2

    for name in SCRUBBED:  # a learner's kernel starts its own lab
        if os.environ.pop(name, None) is not None:
            print(f"(removed {name} from the environment: the kernels start their own lab)")
    runtime = os.environ.setdefault("XDG_RUNTIME_DIR", str(Path.home() / ".cache" / "asynclab-runtime"))
    Path(runtime).mkdir(mode=0o700, parents=True, exist_ok=True)

    machine = _machine()
    print(f"{machine['date']} · {machine['cpus']} CPUs · {machine['memory_gb']} GB · load {machine['load_average_at_start']}"
          f" · Python {machine['python']} · sampling every {args.interval} s")
    results = []
    for path in paths:
        print(f"running {path} …", flush=True)
        result = run_notebook(path, args.interval, args.cell_timeout)
        results.append(result)
        line = f"  {result.seconds:.1f} s, peak PSS {result.peak_pss_mb:.0f} MB, peak RSS {result.peak_rss_mb:.0f} MB"
        line += f", mean {result.mean_cores:.2f} cores; services gone {result.cleanup_seconds} s after shutdown"
        print(line if result.ok else f"  FAILED: {result.error}", flush=True)
        if result.leftovers:
            print("  LEFT BEHIND (killed):\n    " + "\n    ".join(result.leftovers), flush=True)

    print()
    print(_table(results))
    print("\npeak PSS by kind of process (MB):")
    for r in results:
        print(f"  {r.notebook:<28} " + ", ".join(f"{k} {v:.0f}" for k, v in r.peak_pss_by_kind_mb.items()))
    done = [r for r in results if r.ok]
    if done:
        print(f"\nover {len(done)} notebooks: peak PSS {max(r.peak_pss_mb for r in done):.0f} MB, "
              f"peak RSS {max(r.peak_rss_mb for r in done):.0f} MB, peak USS {max(r.peak_uss_mb for r in done):.0f} MB, "
              f"peak {max(r.peak_cores for r in done):.2f} cores (0.2 s) / {max(r.peak_cores_1s for r in done):.2f} (1 s), "
              f"mean {sum(r.cpu_seconds for r in done) / sum(r.seconds for r in done):.2f} cores, "
              f"{sum(r.cpu_seconds for r in done):.0f} CPU s in {sum(r.seconds for r in done):.0f} s; "
              f"every finished notebook's kernel left open: {sum(r.end_pss_mb for r in done):.0f} MB PSS")
    server = None
    if not args.no_server:
        server = measure_idle_server()
        print(f"idle JupyterLab server (no kernel): {server}")
    pg = None
    if not args.no_pg:
        pg = measure_pg_lifecycle()
        print(f"PostgreSQL after its owner is SIGKILLed: {pg}")
    if args.json:
        command = " ".join(["python -m asynclab.tools.sizing", *(argv if argv is not None else sys.argv[1:])])
        args.json.write_text(json.dumps({"machine": machine, "command": command,
                                         "interval": args.interval, "notebooks": [asdict(r) for r in results],
                                         "idle_server": server, "postgres_lifecycle": pg}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if all(r.ok and not r.leftovers for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
