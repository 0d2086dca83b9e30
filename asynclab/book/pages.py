"""Assemble the website's source pages from what the course already has.

The site mirrors the repository's paths (notebooks/NN_x.ipynb, docs/instructor.md, docs/img/),
so the relative links written for GitHub keep working. A link to a file the site does not
carry (a check module, docker/README.md) is pointed at the repository instead, so no link on
the site is broken.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from pathlib import Path

from ..authoring.generate import preview_notebook
from .launch import Readme, launch_html

DOCS = ("docs/instructor.md", "docs/bench.md", "docs/deploy-jupyterhub.md")
IMAGES = "docs/img"
MD_LINK = re.compile(r"(?P<head>!?\[[^\]\n]*\]\()(?P<target>[^)\s]+)(?P<tail>\))")
EXTERNAL = ("http://", "https://", "mailto:", "#")
METER_PICTURES = (
    "The live meter, as JupyterLab shows it while the cell runs (this page shows its summary line):\n\n"
    "![the meter while the loop is healthy](../docs/img/meter-healthy.png)\n\n"
    "![the meter while the loop is blocked](../docs/img/meter-blocked.png)\n"
)


def rewrite_links(text: str, source: str, on_site: set[str], readme: Readme) -> str:
    """Relative links to what is not on the site become links into the repository."""

    def fix(match: re.Match[str]) -> str:
        target = match.group("target")
        if target.startswith(EXTERNAL):
            return match.group(0)
        path, sep, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if resolved in on_site or resolved.startswith(IMAGES + "/"):
            return match.group(0)
        kind = "tree" if path.endswith("/") else "blob"
        url = f"{readme.repository}/{kind}/{readme.ref}/{resolved}{sep}{anchor}"
        return f"{match.group('head')}{url}{match.group('tail')}"

    return MD_LINK.sub(fix, text)


def _readme_section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}.*?$(?P<body>.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    return match.group("body").strip() if match else ""


def _intro(text: str) -> str:
    """The README's opening paragraphs, without the title and the badge (an image from the internet)."""
    body = text.split("\n## ", 1)[0]
    lines = [line for line in body.splitlines()[1:] if "mybinder.org/badge" not in line]
    return "\n".join(lines).strip()


def index_page(readme_text: str, notebooks: list[str]) -> str:
    toc = "\n".join(f"notebooks/{Path(n).stem}" for n in notebooks)
    return f"""# Production async Python, hands-on

{_intro(readme_text)}

Read every notebook here, with the outputs of a real run; each page has links to run it on
Binder, on your JupyterHub or on your own machine. Exercises show the code you start from.

```{{toctree}}
:caption: Notebooks
:maxdepth: 1

{toc}
```

```{{toctree}}
:caption: The course
:maxdepth: 1

syllabus
docs/instructor
docs/bench
docs/deploy-jupyterhub
```
"""


def syllabus_page(readme_text: str, notebooks: list[str]) -> str:
    table = _readme_section(readme_text, "Syllabus")
    for name in notebooks:
        stem = Path(name).stem
        table = table.replace(f"`{stem}`", f"[{stem}](notebooks/{name})")
    grading = _readme_section(readme_text, "How grading works")
    return f"# Syllabus\n\n{table}\n\n## How grading works\n\n{grading}\n"


def notebook_page(solution_path: Path, readme: Readme, on_site: set[str], hub: str) -> object:
    """The preview variant of one solution notebook, with launch links (and meter pictures for 00)."""
    import nbformat

    nb = preview_notebook(nbformat.read(solution_path, as_version=4), str(solution_path))
    where = f"notebooks/{solution_path.name}"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, where, on_site, readme)
    launch = nbformat.v4.new_markdown_cell(launch_html(readme, where, hub))
    launch.id = "asynclab-book-launch"
    nb.cells.insert(1, launch)
    if solution_path.name.startswith("00_"):
        # The live meter is a widget, which a page without a kernel cannot show: its screenshots
        # go right after the first cell that runs it.
        pictures = nbformat.v4.new_markdown_cell(METER_PICTURES)
        pictures.id = "asynclab-book-meter"
        first_meter = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "watch(" in c.source), 1)
        nb.cells.insert(first_meter + 1, pictures)
    return nb


def _write(path: Path, text: str, written: set[Path]) -> None:
    """Write only what changed: Sphinx then re-reads only those pages (a rebuild takes seconds)."""
    written.add(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def assemble(repo: Path, src: Path, hub: str) -> list[str]:
    """Write every source page into `src`, removing what is no longer a page. Returns the notebook names."""
    import nbformat

    from .launch import read_readme

    readme_text = (repo / "README.md").read_text(encoding="utf-8")
    readme = read_readme(repo / "README.md")
    written: set[Path] = set()
    solutions = sorted((repo / "solutions").glob("*.ipynb"))
    names = [p.name for p in solutions]
    on_site = {f"notebooks/{n}" for n in names} | set(DOCS) | {"syllabus.md", "index.md"}
    for path in solutions:
        _write(src / "notebooks" / path.name, nbformat.writes(notebook_page(path, readme, on_site, hub)), written)
    for doc in DOCS:
        _write(src / doc, rewrite_links((repo / doc).read_text(encoding="utf-8"), doc, on_site, readme), written)
    for image in sorted((repo / IMAGES).glob("*.png")):
        target = src / IMAGES / image.name
        written.add(target)
        if not target.exists() or target.read_bytes() != image.read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, target)
    _write(src / "index.md", index_page(readme_text, names), written)
    _write(src / "syllabus.md", syllabus_page(readme_text, names), written)
    for stale in [p for p in src.rglob("*") if p.is_file() and p not in written]:
        stale.unlink()
    return names
