"""docs/claims.md names every issue, PEP and bug-tracker reference the solution notebooks make.

A notebook that cites gh-116720 makes a version-specific claim; the ledger is where a maintainer
finds which cell asserts it and which versions it holds for. These tests fail, naming the
reference and the notebook, when a notebook cites something the ledger does not list.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "docs" / "claims.md"
SOLUTIONS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))

# gh-116720, bpo-32684, PEP 789, encode/httpcore#1000, and GitHub issue/PR links outside CPython
# (CPython's links always carry a gh-/bpo- label in the text, which is what the ledger lists).
REFERENCE = re.compile(
    r"\b(?:gh|bpo)-\d+\b"
    r"|\bPEP\s?\d+\b"
    r"|\b[\w.-]+/[\w.-]+#\d+\b"
    r"|github\.com/(?!python/cpython/)[\w.-]+/[\w.-]+/(?:issues|pull)/\d+"
)
LINK = re.compile(r"github\.com/([\w.-]+)/([\w.-]+)/(?:issues|pull)/(\d+)")


def normalize(reference: str) -> str:
    """One spelling per reference: `PEP 789`, `owner/repo#N` for a GitHub link."""
    link = LINK.search(reference)
    if link:
        return f"{link.group(1)}/{link.group(2)}#{link.group(3)}"
    pep = re.fullmatch(r"PEP\s?(\d+)", reference)
    if pep:
        return f"PEP {pep.group(1)}"
    return reference


def references(text: str) -> set[str]:
    return {normalize(m.group(0)) for m in REFERENCE.finditer(text)}


def notebook_text(path: Path) -> str:
    """Every cell's source (markdown and code), not outputs: a claim is what the author wrote."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"])


def ledger_references() -> set[str]:
    return references(LEDGER.read_text(encoding="utf-8"))


def missing_from_ledger(notebook: str, text: str, ledger: set[str]) -> list[str]:
    return [f"{ref} (cited in solutions/{notebook}) is not in docs/claims.md" for ref in sorted(references(text) - ledger)]


def test_the_ledger_has_a_section_per_notebook() -> None:
    text = LEDGER.read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (\d\d) · ", text, re.MULTILINE))
    wanted = {p.name[:2] for p in SOLUTIONS}
    assert wanted <= headings, f"docs/claims.md has no '## NN · Title' section for {sorted(wanted - headings)}"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_every_reference_in_a_notebook_is_in_the_ledger(path: Path) -> None:
    missing = missing_from_ledger(path.name, notebook_text(path), ledger_references())
    assert not missing, "add a line for each to docs/claims.md:\n" + "\n".join(missing)


def test_the_check_names_the_missing_reference_and_notebook() -> None:
    """The comparison must notice a new reference, and say which one and where."""
    text = "fixed in 3.14 (gh-999999), see PEP 9999 and [x](https://github.com/encode/httpx/issues/99999)"
    missing = missing_from_ledger("99_demo.ipynb", text, ledger_references())
    assert missing == [
        "PEP 9999 (cited in solutions/99_demo.ipynb) is not in docs/claims.md",
        "encode/httpx#99999 (cited in solutions/99_demo.ipynb) is not in docs/claims.md",
        "gh-999999 (cited in solutions/99_demo.ipynb) is not in docs/claims.md",
    ]


def test_the_reference_pattern() -> None:
    found = references("gh-116720, bpo-32684, PEP 789, PEP789, encode/httpcore#1000, "
                       "https://github.com/MagicStack/asyncpg/issues/56, https://github.com/python/cpython/issues/1, "
                       "notebook #3, 3.12.9")
    assert found == {"gh-116720", "bpo-32684", "PEP 789", "encode/httpcore#1000", "MagicStack/asyncpg#56"}
