"""A check's verdict and a hint as a learner reads them in a notebook: a word and a colour, not only an emoji.

Without an emoji font ✅ and ❌ render as the same empty box, so every verdict also says
PASSED / FAILED / TIMED OUT / ERROR, in colour where the notebook renders HTML and as a word in
the text/plain twin where it does not (a terminal, nbval, a plain-text viewer).

JupyterLab breaks long lines of printed text anywhere, even mid-word, so printed hints are
wrapped at word boundaries (`wrap`, WIDTH columns). A verdict is HTML, which the browser wraps
at words itself; its text twin keeps one line per field on purpose: a verdict holds measured
numbers, and wrapping would move its line breaks whenever a number changes width, which nbval's
sanitizer (numbers and runs of spaces masked, line breaks kept) would report as a difference.
"""

from __future__ import annotations

import html
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..grading.registry import Verdict

__all__ = ["WIDTH", "STATUS_WORDS", "verdict_bundle", "verdict_text", "wrap"]

WIDTH = 88  # fits a JupyterLab output area beside the file browser at 1280 px
INDENT = "   "
STATUS_WORDS: dict[str, tuple[str, str, str]] = {  # status -> (emoji, word, colour)
    "passed": ("✅", "PASSED", "#1a7f37"),
    "failed": ("❌", "FAILED", "#cf222e"),
    "timeout": ("⏱️", "TIMED OUT", "#cf222e"),
    "error": ("💥", "ERROR", "#cf222e"),
}


def wrap(text: str, width: int = WIDTH, indent: str = "", first: str = "") -> str:
    """Wrap each paragraph of `text` at word boundaries: the first line starts with `first`, the
    others with `indent`. Lines that start with four spaces (code in a hint) are never re-flowed."""
    lines: list[str] = []
    lead = first
    for paragraph in text.split("\n"):
        if paragraph.startswith("    ") or not paragraph.strip():  # code in a hint: never re-flow it
            lines.append((lead if not lines else indent) + paragraph)
        else:
            lines.extend(textwrap.wrap(paragraph, width=width, initial_indent=lead if not lines else indent,
                                       subsequent_indent=indent, break_long_words=False, break_on_hyphens=False))
        lead = indent
    return "\n".join(lines)


def _parts(verdict: Verdict) -> tuple[str, str, str, list[tuple[str, str]]]:
    emoji, word, color = STATUS_WORDS.get(verdict.status, STATUS_WORDS["failed"])
    headline = verdict.summary or ("passed" if verdict.ok else "")
    fields = [(label, value) for label, value in (("measured", verdict.measured), ("expected", verdict.expected),
                                                  ("hint", verdict.hint)) if value]
    if verdict.details:
        fields.append(("details", verdict.details))
    return f"{emoji} {word}", color, headline.strip(), fields


def verdict_text(verdict: Verdict, footer: str = "") -> str:
    """Plain text: '✅ PASSED 00-warm-up: passed. ...' then measured / expected / hint, a line each."""
    badge, _, headline, fields = _parts(verdict)
    out = [f"{badge} {verdict.exercise}: {headline}"]
    out += [f"{INDENT}{label}: {value}".replace("\n", "\n" + INDENT) for label, value in fields]
    if footer:
        out.append(INDENT + footer)
    return "\n".join(out)


def verdict_bundle(verdict: Verdict, footer: str = "") -> dict[str, str]:
    """The verdict as a display bundle: coloured HTML where the notebook renders it, wrapped text elsewhere."""
    badge, color, headline, fields = _parts(verdict)
    if footer:
        fields = [*fields, ("", footer)]
    rows = "".join(f"<div style='margin-left:1.5em'>{f'<b>{html.escape(label)}:</b> ' if label else ''}"
                   f"<span style='white-space:pre-wrap'>{html.escape(value)}</span></div>" for label, value in fields)
    return {
        "text/plain": verdict_text(verdict, footer),
        "text/html": (f"<div class='asynclab-verdict' style='border-left:4px solid {color};padding:2px 8px;"
                      f"font-family:var(--jp-code-font-family, monospace);word-break:normal;overflow-wrap:anywhere'>"
                      f"<div><b style='color:{color}'>{html.escape(badge)}</b> <b>{html.escape(verdict.exercise)}</b>: "
                      f"{html.escape(headline)}</div>{rows}</div>"),
    }
