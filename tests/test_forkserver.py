"""Graders forked from the preloaded server (Linux) are what a fresh worker process was:
their own session, folder, environment and log, killed as a group at the hard deadline."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from asynclab.grading import forkserver, runner
from asynclab.grading.submission import Submission

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")


def _request(tmp_path: Path, source: str) -> Path:
    work = tmp_path / "code"
    work.mkdir()
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"exercise": "00-warm-up", "source": source, "cell_offset": 0, "deadline": 60,
                                   "folder": str(work), "verdict_path": str(tmp_path / "verdict.json")}))
    return request


def test_a_forked_grader_gets_its_folder_env_log_and_exit_code(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    source = ("import json, os, sys\n"
              "print('to the log', flush=True)\n"
              "json.dump({'cwd': os.getcwd(), 'env': os.environ.get('ASYNCLAB_TEST_MARK'), 'sid': os.getsid(0),\n"
              "           'pid': os.getpid(), 'path0': sys.path[0]}, open(os.environ['OUT'], 'w'))\n"
              "os._exit(7)\n")
    request = _request(tmp_path, source)
    log = tmp_path / "output.log"
    env = {**os.environ, "ASYNCLAB_TEST_MARK": "forked", "OUT": str(out)}
    job = forkserver.start(str(request), cwd=str(tmp_path / "code"), env=env, log=str(log))
    try:
        assert job.wait(30) == 7
    finally:
        job.close()
    seen = json.loads(out.read_text())
    assert seen == {"cwd": str(tmp_path / "code"), "env": "forked", "sid": job.pid, "pid": job.pid,
                    "path0": str(tmp_path / "code")}
    assert "to the log" in log.read_text()


def test_the_runner_kills_a_forked_grader_as_a_group_at_the_hard_deadline(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell that blocks every signal the watchdog could use still ends at deadline + GRACE."""
    monkeypatch.setattr(runner, "GRACE", 1.0)
    child_pid = tmp_path / "child.pid"
    cell = ("# Exercise: 00-warm-up\nimport os, subprocess, time\n"
            f"p = subprocess.Popen(['sleep', '60']); open({str(child_pid)!r}, 'w').write(str(p.pid))\n"
            "os._exit = lambda code: None  # the watchdog cannot end this process\n"
            "time.sleep(60)\n")
    started = time.monotonic()
    verdict = runner.run_check(Submission("00-warm-up", "", cell, origin="test"), deadline=1)
    took = time.monotonic() - started
    assert verdict.status == "timeout" and verdict.reason == "timeout", verdict.render()
    assert took < 10, f"{took:.1f} s"
    grandchild = int(child_pid.read_text())
    for _ in range(50):  # the learner's own child went with its group
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the grader's child process survived the group kill")


def test_without_the_server_the_runner_spawns_a_fresh_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(forkserver.DISABLE_ENV, "1")
    assert not forkserver.available()
    monkeypatch.setattr(forkserver, "start", lambda *a, **k: pytest.fail("the fork server was used"))
    verdict = runner.run_check(Submission("00-warm-up", "", "# Exercise: 00-warm-up\nimport os\nos._exit(5)\n",
                                          origin="test"))
    assert verdict.reason == "crashed" and verdict.measured == "exit code 5", verdict.render()
