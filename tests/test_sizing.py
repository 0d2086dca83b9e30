"""asynclab.tools.sizing's arithmetic, on made-up samples (the real run takes minutes: see
docs/deploy-jupyterhub.md for how it is run and what it measured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asynclab.tools.session_costs import slot_of
from asynclab.tools.sizing import MB, Sample, _summarise


def _sample(t: float, cpu: float, pss_mb: float = 100, rss_mb: float = 150, procs: int = 5) -> Sample:
    return Sample(t, procs, int(rss_mb * MB), int(pss_mb * MB), int(pss_mb * MB * 0.9), cpu,
                  {"kernel": int(pss_mb * MB * 0.6), "postgres": int(pss_mb * MB * 0.1)})


def test_peaks_means_and_cpu_come_from_the_samples() -> None:
    samples = [_sample(0.2 * i, cpu=0.1 * i, pss_mb=100 + 10 * i) for i in range(11)]  # 0.5 cores for 2 s
    r = _summarise(Path("01_x.ipynb"), samples, True, "", seconds=2.0, lab_start=0.4, end=2.0)
    assert r.peak_pss_mb == 200 and r.end_pss_mb == 200 and r.mean_pss_mb == 150
    assert r.peak_cores == pytest.approx(0.5) and r.peak_cores_1s == pytest.approx(0.5)
    assert r.cpu_seconds == pytest.approx(1.0) and r.mean_cores == pytest.approx(0.5)
    assert r.peak_pss_by_kind_mb == {"kernel": 120.0, "postgres": 20.0}


def test_samples_after_the_last_cell_or_without_processes_are_left_out() -> None:
    samples = [_sample(0.0, 0.0, procs=0), _sample(0.2, 0.1), _sample(0.4, 0.2), _sample(0.6, 5.0, pss_mb=999)]
    r = _summarise(Path("02_x.ipynb"), samples, True, "", seconds=0.5, lab_start=None, end=0.5)
    assert r.samples == 2 and r.peak_pss_mb == 100 and r.peak_cores == pytest.approx(0.5)


def test_the_slot_is_read_from_the_socket_folder_not_the_base_folder() -> None:
    dsn = "postgresql://asynclab@/asynclab?host=/tmp/asynclab-sizing-pg-42x/pg-3&port=5432"
    assert slot_of(dsn) == "pg-3"
