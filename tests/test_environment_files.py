"""Binder, Docker and the local venv install the same tested dependency pins.

dask-tutorial's Dockerfile rotted because nothing built it; we cannot build ours here (no
Docker engine), so these tests hold every place that installs the course to one list.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^[A-Za-z0-9_.-]+")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]["browser"] + PROJECT["optional-dependencies"]["dev"]
BROWSER_ONLY = {_norm(NAME.match(d).group(0)) for d in EXTRAS}  # type: ignore[union-attr]  # extras: not on Binder


def _pyproject_names() -> set[str]:
    deps = PROJECT["dependencies"] + EXTRAS
    return {_norm(NAME.match(d).group(0)) for d in deps}  # type: ignore[union-attr]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, ver = line.partition("==")
            assert ver, f"not an exact pin: {line!r}"
            pins[_norm(name)] = ver
    return pins


CONSTRAINTS = _pins((ROOT / "constraints.txt").read_text().splitlines())


def test_constraints_pin_exactly_the_pyproject_dependencies() -> None:
    assert set(CONSTRAINTS) == _pyproject_names()


def test_this_environment_is_the_pinned_one() -> None:
    wrong = {n: (v, version(n)) for n, v in CONSTRAINTS.items() if n not in BROWSER_ONLY and version(n) != v}
    assert not wrong, f"installed versions differ from constraints.txt (pin, installed): {wrong}"


def test_binder_environment_uses_the_same_pins_and_python_311() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps, "repo2docker defaults to 3.10 when Python is not pinned"
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert _pins(pip) == {n: v for n, v in CONSTRAINTS.items() if n not in BROWSER_ONLY}


def test_binder_post_build_installs_the_course_itself() -> None:
    post = (ROOT / "postBuild").read_text()
    assert "set -euo pipefail" in post and "pip install --no-deps -e ." in post
    assert not (ROOT / "binder").exists(), "a binder/ folder makes repo2docker ignore the root files"
    assert 'exec "$@"' in (ROOT / "start").read_text()


def test_dockerfile_is_pinned_non_root_and_installs_the_pins() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert base and base.group(1).startswith("quay.io/jupyter/minimal-notebook:")
    assert not base.group(1).endswith((":latest", ":python-3.11")), "pin the base image by a date tag"
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] in ("${NB_UID}", "${NB_USER}", "jovyan", "1000"), "the image must run as the stack's user"
    assert re.search(r"pip install .*-c constraints\.txt .*-e \.", text)
    assert re.findall(r"^EXPOSE\s+(.+)$", text, re.MULTILINE) == ["8888"]
    assert "constraints.txt" in " ".join(re.findall(r"^COPY .*$", text, re.MULTILINE))


def test_compose_wires_database_url_and_publishes_only_on_loopback() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    lab, db = compose["services"]["lab"], compose["services"]["db"]
    assert all(str(p).startswith("127.0.0.1:") for p in lab["ports"])
    assert "ports" not in db, "the database must not be published"
    assert lab["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@db:" in lab["environment"]["DATABASE_URL"]
    assert "POSTGRES_PASSWORD" not in db.get("environment", {}), "no secrets in the repository"


def test_readme_shows_the_two_commands_and_a_binder_badge_that_opens_notebook_00() -> None:
    readme = (ROOT / "README.md").read_text()
    first_screen = readme[:2500]
    assert "make lab" in first_screen and "make test" in first_screen
    badge = re.search(r"https://mybinder\.org/v2/gh/[^)\s]+", first_screen)
    assert badge, "the Binder badge belongs on the first screen"
    target = re.search(r"urlpath=lab/tree/(notebooks/00_[a-z_]+\.ipynb)", badge.group(0))
    assert target and (ROOT / target.group(1)).exists(), f"the badge must open notebook 00: {badge.group(0)}"
