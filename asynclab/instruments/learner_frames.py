"""Where is the learner's code on a stack? The innermost frame that is not a library's.

find_blocking() and the grader's loop watch both name "cell N, line L" of the learner's own
code; library, stdlib and asynclab frames are skipped so the verdict points at a line the
learner can change.
"""

from __future__ import annotations

import functools
import inspect
import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from types import FrameType

# Callees that are the lab's or the notebook's plumbing, not the learner's blocking call.
INFRASTRUCTURE = {"IPython", "ipykernel", "ipywidgets", "comm", "zmq", "jupyter_client", "traitlets", "tornado",
                  "matplotlib_inline", "debugpy", "asynclab", "logging", "asyncio", "warnings", "linecache",
                  "traceback", "inspect", "importlib", "_pytest", "pytest", "pluggy", "blockbuster"}
CO_COROUTINE = inspect.CO_COROUTINE


def _library_dirs() -> tuple[str, ...]:
    dirs: set[str] = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            dirs.add(paths[key])
    try:
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except Exception:  # some embedded interpreters lack these
        pass
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the asynclab package
    out = set()
    for d in dirs:
        for variant in (d, os.path.realpath(d)):
            out.add(variant.rstrip(os.sep) + os.sep)
    return tuple(sorted(out))


_LIBRARY_DIRS = _library_dirs()


@functools.lru_cache(maxsize=4096)
def is_library_file(filename: str) -> bool:
    if filename.startswith("<"):  # "<frozen ...>" is the stdlib; "<ipython-input-...>", "<string>" are code a user ran
        return filename.startswith("<frozen")
    if any(part in filename for part in (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")):
        return True
    return filename.startswith(_LIBRARY_DIRS) or os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def ipython_cells() -> dict[str, int]:
    shell_mod = sys.modules.get("IPython")
    if shell_mod is None:
        return {}
    try:
        shell = shell_mod.get_ipython()
        return dict(getattr(getattr(shell, "compile", None), "_filename_map", None) or {})
    except Exception:
        return {}


def module_path(frame: FrameType) -> str:
    """ "httpx.Client.get" for a frame of httpx._client.Client.get: public module part + qualname."""
    module = str(frame.f_globals.get("__name__") or "")
    public: list[str] = []
    for part in module.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    qualname = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
    # Prefer the name the learner typed: psycopg.Connection rather than psycopg.connection.Connection.
    head = qualname.split(".")[0]
    defined = frame.f_globals.get(head)
    for i in range(1, len(public)):
        package = sys.modules.get(".".join(public[:i]))
        if defined is not None and getattr(package, head, None) is defined:
            public = public[:i]
            break
    return ".".join([*public, qualname]) if public else qualname


@dataclass
class LearnerSite:
    filename: str
    lineno: int
    callee: str | None  # the function the learner's line called, if it is Python code
    infrastructure: bool
    in_coroutine: bool
    frame_id: tuple[int, int]


def learner_site(start: FrameType | None) -> LearnerSite | None:
    """The innermost frame of the learner's code on this stack, and what it called."""
    callee: FrameType | None = None
    frame: FrameType | None = start
    while frame is not None:
        if not is_library_file(frame.f_code.co_filename):
            break
        callee, frame = frame, frame.f_back
    if frame is None:
        return None
    module = str(callee.f_globals.get("__name__") or "") if callee is not None else ""
    top = module.split(".")[0]
    # The lab's own machinery is infrastructure; the lessons' workloads are what learners call.
    infrastructure = top in INFRASTRUCTURE and not module.startswith("asynclab.lessons")
    in_coroutine, depth = False, 0
    f: FrameType | None = frame
    while f is not None and depth < 50:
        if not is_library_file(f.f_code.co_filename) and f.f_code.co_flags & CO_COROUTINE:
            in_coroutine = True
            break
        f, depth = f.f_back, depth + 1
    return LearnerSite(frame.f_code.co_filename, frame.f_lineno, module_path(callee) if callee is not None else None,
                 infrastructure, in_coroutine, (id(frame), frame.f_lasti))


def describe_location(filename: str, lineno: int, cells: dict[str, int]) -> tuple[str, int | None]:
    if filename == "<unknown>":
        return "an unknown line (no sample: the code held the GIL)", None
    cell = cells.get(filename)
    if cell is not None:
        return f"cell {cell}, line {lineno}", cell
    try:
        rel = os.path.relpath(filename)
        shown = rel if not rel.startswith("..") else filename
    except ValueError:  # another drive on Windows
        shown = filename
    return f"{shown}:{lineno}", None
