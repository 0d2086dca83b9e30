"""Run solution notebooks top to bottom and save their outputs: `make record` / this module.

nbval compares a fresh run with the saved outputs, so after editing a solution notebook the
author records it again. The run uses one lab for all notebooks (like the test session) and
requires every check cell to pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def record(path: Path, timeout: int = 120) -> float:
    """Execute one notebook in place. Returns the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    started = time.monotonic()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(nb, path)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute solution notebooks and save their outputs.")
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    args = parser.parse_args(argv)
    from ..lab import start_sync, stop_sync

    os.environ["ASYNCLAB_CHECKS_MUST_PASS"] = "1"
    start_sync()
    try:
        for path in args.paths:
            print(f"recording {path} …", flush=True)
            print(f"  done in {record(path, args.timeout):.1f} s")
    finally:
        stop_sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
