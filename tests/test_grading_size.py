"""Known answers may be graded smaller (Size.SMALL); learners and solutions never are."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from asynclab.grading import forkserver, runner
from asynclab.grading.submission import Size, Submission, grading_size, sized


def test_full_is_the_default() -> None:
    assert sized(full=30, small=3) == 30
    assert Submission("03-x", "", "# Exercise: 03-x\n", origin="kernel").size is Size.FULL


def test_small_only_inside_grading_size_and_in_the_checks_tasks() -> None:
    async def check() -> tuple[int, int]:
        inner = asyncio.create_task(asyncio.sleep(0, result=sized(full=30, small=3)))
        return sized(full=30, small=3), await inner

    with grading_size(Size.SMALL):
        assert asyncio.run(check()) == (3, 3)
    assert sized(full=30, small=3) == 30


def test_the_runner_hands_the_size_to_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The request the worker reads carries the submission's size (the worker wraps the check in it)."""
    seen: list[dict[str, object]] = []
    real_popen = subprocess.Popen

    def fake_popen(cmd: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        seen.append(json.loads(Path(cmd[-1]).read_text(encoding="utf-8")))
        return real_popen(["true"], start_new_session=True)

    monkeypatch.setenv(forkserver.DISABLE_ENV, "1")  # the spawn path, where the request is easy to catch
    monkeypatch.setattr(runner.subprocess, "Popen", fake_popen)
    base = Submission("03-stream-workers", "", "# Exercise: 03-stream-workers\n", origin="test")
    runner.run_check(base)
    runner.run_check(dataclasses.replace(base, size=Size.SMALL))
    assert [Size(str(r["size"])) for r in seen] == [Size.FULL, Size.SMALL]
