"""The learner's own record of check() verdicts, so `progress()` answers without re-grading.

It lives in the learner's data folder (platformdirs), never in the repository: a clone stays
clean and `git pull` never conflicts with it. ASYNCLAB_PROGRESS_FILE points it elsewhere
(tests, or a shared machine where the home folder is read-only).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

ENV = "ASYNCLAB_PROGRESS_FILE"
# Set by the test session for the solution notebooks under nbval (grading/notebook.py's
# MUST_PASS_ENV): those checks are the course's proof, not the learner's progress.
COURSE_RUN_ENV = "ASYNCLAB_CHECKS_MUST_PASS"


def path() -> Path:
    override = os.environ.get(ENV)
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("asynclab", appauthor=False)) / "progress.json"


def load() -> dict[str, dict[str, Any]]:
    """Every recorded verdict by exercise id; empty when there is no record or it is unreadable."""
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def record(verdict: Any, seconds: float | None = None) -> None:
    """Remember a check()'s verdict. Never raises: a full disk must not break a check cell."""
    if os.environ.get(COURSE_RUN_ENV) == "1":
        return
    try:
        target = path()
        data = load()
        data[verdict.exercise] = {
            "status": "passed" if verdict.ok else "failed",
            "reason": "" if verdict.ok else verdict.reason,
            "summary": "" if verdict.ok else verdict.summary,
            "seconds": seconds,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)
    except Exception:  # noqa: BLE001 - recording progress is a convenience, never a failure
        pass
