"""`python -m asynclab.book` (make book): assemble the pages and build _build/book/ with Sphinx.

    python -m asynclab.book [--out _build/book] [--hub https://hub.example.edu]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .launch import DEFAULT_HUB, HUB_ENV
from .pages import assemble

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asynclab.book", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "book")
    parser.add_argument("--hub", default=os.environ.get(HUB_ENV) or DEFAULT_HUB, help="your JupyterHub's address")
    args = parser.parse_args(argv)
    started = time.monotonic()
    src = args.out.parent / (args.out.name + "-src")
    names = assemble(REPO, src, args.hub)
    # -W: a warning (a missing image, a broken reference) fails the build instead of shipping a broken page.
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-j", "auto",
               "-c", str(Path(__file__).parent), str(src), str(args.out)]
    status = subprocess.run(command, cwd=REPO).returncode
    if status:
        print(f"sphinx-build failed (exit {status})", file=sys.stderr)
        return status
    print(f"wrote {args.out}/index.html: {len(names)} notebooks, in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
