"""The launch links on every notebook page: Binder, JupyterHub (nbgitpuller) and "run it locally".

The one place that knows how each link is made. Binder's comes from the README's badge, so the
site and the README cannot disagree; the local commands are the README's two commands.

JupyterHub link template (nbgitpuller: the hub clones the repository into the learner's home on
first click, pulls updates on later clicks without touching their edits, then opens the page):

    {hub}/hub/user-redirect/git-pull?repo={repository}&urlpath=lab/tree/{folder}/{notebook}

`{hub}` is the hub's address, given at build time: `make book HUB_URL=https://hub.example.edu`
(environment variable ASYNCLAB_HUB_URL). The hub needs nbgitpuller installed
(`pip install nbgitpuller` in the user environment).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

HUB_ENV = "ASYNCLAB_HUB_URL"
DEFAULT_HUB = "https://jupyterhub.example.org"  # a placeholder until the instructor names their hub
BADGE = re.compile(r"https://mybinder\.org/v2/gh/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+)/(?P<ref>[^?\s]+)\?urlpath=lab/tree/(?P<path>[^)\s]+)")


@dataclass(frozen=True)
class Readme:
    """What the launch links take from the README: its Binder badge and its two commands."""

    owner: str
    repo: str
    ref: str
    commands: tuple[str, ...]

    @property
    def repository(self) -> str:
        return f"https://github.com/{self.owner}/{self.repo}"


def read_readme(path: Path) -> Readme:
    text = path.read_text(encoding="utf-8")
    badge = BADGE.search(text)
    if badge is None:
        raise ValueError(f"{path}: no Binder badge (https://mybinder.org/v2/gh/OWNER/REPO/REF?urlpath=lab/tree/...)")
    start = re.search(r"^## Start.*?```bash\n(?P<body>.*?)```", text, re.MULTILINE | re.DOTALL)
    if start is None:
        raise ValueError(f"{path}: no '## Start' section with a ```bash block of commands")
    commands = tuple(line.strip() for line in start.group("body").splitlines() if line.strip())
    return Readme(badge.group("owner"), badge.group("repo"), badge.group("ref"), commands)


def binder_url(readme: Readme, notebook: str) -> str:
    """The README badge's address, opening `notebook` (a path in the repository)."""
    return f"https://mybinder.org/v2/gh/{readme.owner}/{readme.repo}/{readme.ref}?urlpath=lab/tree/{notebook}"


def jupyterhub_url(readme: Readme, notebook: str, hub: str = DEFAULT_HUB) -> str:
    """The nbgitpuller link (template in the module docstring)."""
    query = urlencode({"repo": readme.repository, "urlpath": f"lab/tree/{readme.repo}/{notebook}"}, quote_via=quote, safe="/")
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def launch_html(readme: Readme, notebook: str, hub: str = DEFAULT_HUB) -> str:
    """The block at the top of a notebook page (raw HTML, so the browser test can find each link)."""
    commands = html.escape("\n".join(readme.commands))
    return (
        '<div class="asynclab-launch" style="border-left: 4px solid #1a7f37; padding: 0.2em 1em; '
        'margin: 1em 0; background: rgba(26, 127, 55, 0.07)">\n'
        "<p><b>Run this notebook:</b> "
        f'<a id="launch-binder" href="{binder_url(readme, notebook)}">on Binder</a> (nothing to install) · '
        f'<a id="launch-jupyterhub" href="{jupyterhub_url(readme, notebook, hub)}">on your JupyterHub</a> · '
        'or locally, with two commands, then open <code>' + notebook + "</code>:</p>\n"
        f'<pre id="launch-local">{commands}</pre>\n'
        "</div>\n"
    )
