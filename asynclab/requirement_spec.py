"""What the course's dependencies ask for: pyproject.toml's requirement strings, read with the
standard library only, so the doctor can judge a broken install without importing `packaging`.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path


def requirements(pyproject: Path | None = None) -> list[str]:
    """The course's dependencies: from pyproject.toml when the source tree is here, else from the
    installed package's metadata. pyproject.toml wins, so a dependency added since the last install
    shows as missing (and `make lab` installs it)."""
    if pyproject is None:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib

            deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
            return [str(d) for d in deps]
        except (ImportError, KeyError, ValueError):
            pass  # Python < 3.11 has no tomllib: check_python says what to do about that
    try:
        return [r for r in (metadata.requires("asynclab") or []) if "extra ==" not in r]
    except metadata.PackageNotFoundError:
        return []


_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*)(;(?P<marker>.*))?$")


def parse_requirement(requirement: str) -> tuple[str, str, str]:
    """("psycopg", "3.2", marker) from "psycopg[binary]>=3.2"; the minimum is "" when there is none."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        return requirement.strip(), "", ""
    minimum = ""
    for part in match.group("spec").split(","):
        part = part.strip()
        if part.startswith(">="):
            minimum = part[2:].strip()
        elif part.startswith("=="):
            minimum = part[2:].strip().rstrip(".*")
    return match.group("name"), minimum, (match.group("marker") or "").strip()


def applies(marker: str) -> bool:
    if not marker:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:
        return True
    try:
        return bool(Marker(marker).evaluate())
    except Exception:
        return True


def version_tuple(version: str) -> tuple[int, ...]:
    """(3, 14, 5) from "3.14.5"; pre-release and local parts are ignored ("0.6.0rc1" -> (0, 6, 0))."""
    numbers = []
    for piece in version.split("+", 1)[0].split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        numbers.append(int(match.group(0)))
        if match.group(0) != piece:  # "0rc1": the release part ends here
            break
    return tuple(numbers)


def at_least(version: str, minimum: str) -> bool:
    have, need = version_tuple(version), version_tuple(minimum)
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))
