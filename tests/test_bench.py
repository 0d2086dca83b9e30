"""`make bench`'s plumbing: rows and their JSON, the notebook loader, the per-family runner.

No timing thresholds here: performance is measured by `make bench` itself. The end-to-end
tests run real rows with small sizes and only check their shape.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import pickle
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from asynclab.bench import cells, report
from asynclab.bench.cells import NotAvailable, load_variant
from asynclab.bench.report import Row, Skip, Target, format_table, progress_line, ratio, write_json
from asynclab.bench.runner import Family, run_family
from asynclab.lab import Lab
from asynclab.services.api_client import start_api

REQUIRED = {"name": str, "variant": str, "measured": float, "ideal": float, "unit": str}


def check_shape(data: list[dict[str, object]]) -> None:
    """The interface of bench-results.json (docs/bench.md), checked on every object."""
    assert isinstance(data, list) and data
    for obj in data:
        for key, kind in REQUIRED.items():
            assert isinstance(obj[key], kind), (key, obj)
        assert obj["variant"] in ("fixed", "broken", "baseline")
        if obj["ideal"] == 0:
            assert obj["ratio"] is None
        else:
            assert math.isclose(obj["ratio"], obj["measured"] / obj["ideal"])  # type: ignore[operator]


# --- rows, ratios, targets, JSON -------------------------------------------------------------

def test_ratio_is_measured_over_ideal_and_null_for_an_ideal_of_zero() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(0.12, 0.0) is None
    overshoot = Row("x: overshoot", "fixed", 0.12, 0, "s")
    assert overshoot.ratio is None and overshoot.to_dict()["ratio"] is None
    assert Row("x: wall", "fixed", 3, 2, "s").to_dict()["ratio"] == 1.5


def test_rows_reject_bad_variants_and_numbers() -> None:
    with pytest.raises(ValueError, match="variant"):
        Row("x", "fast", 1, 1, "s")
    for bad in (math.nan, math.inf, None, "1"):
        with pytest.raises(ValueError, match="finite number"):
            Row("x", "fixed", bad, 1, "s")  # type: ignore[arg-type]


def test_json_file_has_the_interface_shape(tmp_path: Path) -> None:
    fixed = Row("03: wall", "fixed", 4.4, 4.0, "s", target=Target.within(1.3))
    rows = [fixed, Row("03: wall", "baseline", 6.0, 4.0, "s").against(fixed),
            Row("05: overshoot", "fixed", 0.01, 0, "s", target=Target.under(0.25)),
            Row("lab: rate", "fixed", 2000, 2500, "req/s", better="higher", target=Target.within(1.3))]
    out = tmp_path / "bench-results.json"
    write_json(out, rows)
    data = json.loads(out.read_text())
    check_shape(data)
    assert [d["name"] for d in data] == [r.name for r in rows]
    assert data[1]["vs_fixed"] == pytest.approx(6.0 / 4.4)
    assert data[2]["ratio"] is None and data[2]["meets_target"] is True
    assert [Row.from_dict(d).to_dict() for d in data] == data  # rows cross processes as JSON


def test_targets_judge_each_kind_in_its_direction() -> None:
    assert Row("t", "fixed", 1.2, 1.0, "s", target=Target.within(1.3)).meets_target is True
    assert Row("t", "fixed", 1.4, 1.0, "s", target=Target.within(1.3)).meets_target is False
    # a rate: higher is better, so within 1.3× means at least 1/1.3 of the ideal
    assert Row("r", "fixed", 2000, 2500, "req/s", better="higher", target=Target.within(1.3)).meets_target is True
    assert Row("r", "fixed", 1500, 2500, "req/s", better="higher", target=Target.within(1.3)).meets_target is False
    assert Row("o", "fixed", 0.3, 0, "s", target=Target.under(0.25)).meets_target is False
    fixed = Row("w", "fixed", 1.0, 1.0, "s")
    assert Row("w", "broken", 6.0, 1.0, "s", target=Target.worse(5)).against(fixed).meets_target is True
    assert Row("w", "broken", 4.0, 1.0, "s", target=Target.worse(5)).against(fixed).meets_target is False
    assert Row("n", "broken", 1795, 0, "answers", target=Target.at_least(100)).meets_target is True
    assert Row("n", "broken", 40, 0, "answers", target=Target.at_least(100)).meets_target is False
    slow = Row("r", "broken", 10, 100, "req/s", better="higher", target=Target.worse(5)).against(200.0)
    assert slow.vs_fixed == 20 and slow.meets_target is True
    assert Row("n", "broken", 1.0, 1.0, "s").meets_target is None
    assert report.compared(44.0) == "44× worse" and report.compared(1 / 1.24) == "1.24× better"


def test_rows_of_one_name_are_grouped_fixed_first() -> None:
    rows = [Row("a", "fixed", 1, 1, "s"), Row("b", "fixed", 1, 1, "s"), Row("a", "broken", 2, 1, "s"),
            Row("b", "baseline", 3, 1, "s"), Row("b", "broken", 2, 1, "s")]
    assert [(r.name, r.variant) for r in report.grouped(rows)] == [
        ("a", "fixed"), ("a", "broken"), ("b", "fixed"), ("b", "broken"), ("b", "baseline")]


def test_every_target_survives_the_trip_through_json() -> None:
    for target, unit in ((Target.within(1.3), "s"), (Target.under(0.25), "s"), (Target.under(0.35), "share"),
                         (Target.worse(5), "connections"), (Target.at_least(100), "answers")):
        row = Row("t", "fixed", 0.1, 1.0, unit, target=target)
        assert Row.from_dict(row.to_dict()).target == target


def test_table_and_progress_lines_show_every_row_and_skip() -> None:
    rows = [Row("02: wall", "fixed", 0.53, 0.5, "s", target=Target.within(1.3)),
            Row("02: overshoot", "broken", 2.4, 0, "s")]
    skip = Skip("07 rows", "not available: solutions/07 missing")
    table = format_table(rows, [skip])
    assert "| 02: wall | fixed | 0.530 s | 0.500 s | 1.06× |" in table
    assert "not measured: 07 rows: not available: solutions/07 missing" in table
    assert progress_line(12.34, rows[1]).startswith("[  12.3 s] broken")
    assert "SKIP" in progress_line(1.0, skip) and "solutions/07 missing" in progress_line(1.0, skip)


# --- the loader --------------------------------------------------------------------------------

def test_fixed_and_broken_variants_of_one_exercise_load_and_differ() -> None:
    fixed = load_variant("02", "02-fetch-all", "fixed")
    broken = load_variant("02", "02-fetch-all", "broken")
    assert fixed is not broken and fixed.__name__ != broken.__name__
    for module in (fixed, broken):
        assert inspect.iscoroutinefunction(module.fetch_all)
        assert inspect.iscoroutinefunction(module.fetch_text)  # from the notebook's setup cell
        assert Path(str(module.__file__)).is_file() and sys.modules[module.__name__] is module
    fixed_src, broken_src = inspect.getsource(fixed.fetch_all), inspect.getsource(broken.fetch_all)
    assert fixed_src != broken_src
    assert "TaskGroup" in fixed_src and "gather" in broken_src
    assert pickle.loads(pickle.dumps(fixed.fetch_all)) is fixed.fetch_all  # a process pool could send it


def test_loader_reports_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(NotAvailable, match="not available: .*99 missing"):
        load_variant("99", "99-nothing", "fixed")
    with pytest.raises(NotAvailable, match="no exercise 02-nothing"):
        load_variant("02", "02-nothing", "fixed")
    with pytest.raises(NotAvailable, match="missing"):
        cells.notebook_path("02", root=tmp_path)
    with pytest.raises(ValueError, match="baseline"):
        load_variant("02", "02-fetch-all", "baseline")


# --- end to end, small sizes ---------------------------------------------------------------------

@pytest.mark.slow
def test_one_family_runs_in_its_own_process_and_sends_rows() -> None:
    """The lab-server family through the real runner: a child process, JSON lines, two rows."""
    items: list[Row | Skip] = []
    assert run_family(Family("lab-server", "asynclab.bench.lab_server"), items.append, quick=True) is True
    assert [type(i) for i in items] == [Row, Row], items
    check_shape([i.to_dict() for i in items if isinstance(i, Row)])
    assert {i.variant for i in items if isinstance(i, Row)} == {"fixed", "baseline"}


@pytest.mark.slow
def test_notebook_rows_end_to_end_with_a_small_n() -> None:
    """02's rows, from the notebook's own code, against a real lab API (no PostgreSQL needed)."""
    from asynclab.bench import n02_taskgroup

    api, child = start_api()
    try:
        async def collect() -> list[Row | Skip]:
            async with asyncio.timeout(60):
                return [item async for item in n02_taskgroup.rows(Lab(api=api, pg=None), quick=True)]  # type: ignore[arg-type]

        items = asyncio.run(collect())
    finally:
        child.stop()
    rows = [i for i in items if isinstance(i, Row)]
    assert len(rows) == len(items) == 4
    check_shape([r.to_dict() for r in rows])
    overshoots = [r for r in rows if r.ideal == 0]
    assert {r.variant for r in overshoots} == {"fixed", "broken"} and all(r.ratio is None for r in overshoots)
    assert "5 of 5 cancelled" in overshoots[0].note and "0 of 5 cancelled" in overshoots[1].note


@pytest.mark.slow
def test_a_family_past_its_deadline_is_stopped_with_its_children(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bench_stuck_family.py").write_text(textwrap.dedent("""
        import os, subprocess, sys, time
        from asynclab.bench.report import Row
        TITLE, DEADLINE = "stuck", 60

        def rows_sync(quick=False):
            yield Row("stuck: first", "fixed", 1.0, 1.0, "s")
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            with open(os.environ["STUCK_PID_FILE"], "w") as f:
                f.write(str(child.pid))
            time.sleep(600)  # a blocked family: only the runner's deadline ends it
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    pid_file = tmp_path / "grandchild.pid"
    monkeypatch.setenv("STUCK_PID_FILE", str(pid_file))
    seen: list[Row | Skip] = []
    assert run_family(Family("stuck", "bench_stuck_family"), seen.append, deadline=3) is False
    assert isinstance(seen[0], Row) and isinstance(seen[-1], Skip)
    assert "timed out after 3 s" in seen[-1].reason
    grandchild = int(pid_file.read_text())
    # A signal is delivered, not obeyed, when killpg returns: on a busy machine the child can
    # still be asleep for a moment (seen once with 4 slow-test workers on 2 cores), so allow 5 s.
    deadline = time.monotonic() + 5
    while True:
        try:
            process = psutil.Process(grandchild)
            gone = (process.status() == psutil.STATUS_ZOMBIE
                    or "time.sleep(600)" not in " ".join(process.cmdline()))  # its pid taken by another
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            gone = True
        if gone or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert gone, f"the family's own child {grandchild} survived the runner's deadline by 5 s"
    assert report.Row.from_dict(seen[0].to_dict()).name == "stuck: first"
