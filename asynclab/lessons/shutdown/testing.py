"""Run a small pytest suite in a child process, bounded, and read what happened to each test.

Why a child process: the notebook's kernel already runs an event loop, and a test that hangs or
blocks must not take the notebook with it. The JUnit XML report gives each test's outcome and
message without parsing pytest's console output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Outcome", "run_pytest"]


@dataclass
class Outcome:
    name: str
    outcome: str  # "passed", "failed", "error" or "skipped"
    message: str
    seconds: float


def run_pytest(folder: str | os.PathLike[str], *args: str, timeout: float = 60.0) -> dict[str, Outcome]:
    """`python -m pytest` on `folder` (its own rootdir, not the course's settings); outcomes by test name."""
    folder = Path(folder)
    report = folder / "report.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "--rootdir", str(folder), "-c", os.devnull, f"--junitxml={report}", *args, str(folder)]
    subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False)
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = (node.get("message") or "").splitlines()[0] if node.get("message") else ""
                break
        outcomes[case.get("name", "?")] = Outcome(case.get("name", "?"), outcome, message,
                                                  float(case.get("time", "0")))
    return outcomes
