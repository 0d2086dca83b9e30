"""Static matplotlib pictures: loop lag with its stalls, task timelines, broken-vs-fixed bars.

Every function returns a standalone `matplotlib.figure.Figure` (never registered with pyplot, so
nothing piles up and no backend is needed) that renders itself as a PNG in a notebook. They are
sized to stay readable in a saved notebook and in a screenshot: about 8 inches wide, seconds on
the time axes, a title that says what is shown.

matplotlib is imported on first use, because importing it costs about half a second and
most `import asynclab` users (check subprocesses) never draw anything.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..instruments.loop_monitor import LoopMonitor
    from ..instruments.timeline import Timeline

__all__ = ["figure_png", "plot_bars", "plot_lag", "plot_timeline"]

WIDTH = 8.0
HEIGHT = 2.2
DPI = 100
OUTCOME_STYLE: dict[str, dict[str, Any]] = {
    "ok": {"color": "#2a9d8f", "hatch": None, "label": "ok"},
    "error": {"color": "#d62728", "hatch": None, "label": "error"},
    "cancelled": {"color": "#8d99ae", "hatch": "////", "label": "cancelled"},
    "running": {"color": "#f4a261", "hatch": "..", "label": "still running"},
}
STALL_COLOR = "#d62728"
LAG_COLOR = "#1d3557"


@lru_cache(maxsize=1)
def _figure_class() -> type[Figure]:
    from matplotlib.figure import Figure

    class LabFigure(Figure):
        """A Figure that shows itself as a PNG in Jupyter, with or without pyplot."""

        def _repr_png_(self) -> bytes:
            return figure_png(self)

    return LabFigure


def _new_figure(height: float = HEIGHT) -> Figure:
    return _figure_class()(figsize=(WIDTH, height), dpi=DPI, layout="constrained")


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (Agg), for `display` or for saving."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _titles(ax: Any, title: str, subtitle: str = "") -> None:
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    if subtitle:
        ax.set_title(subtitle, loc="right", fontsize=8, color="#444444")


def plot_lag(monitor: LoopMonitor, title: str = "Event loop lag", numbers: bool = True) -> Figure:
    """Heartbeat lag over time, stalls shaded red: the picture of a frozen loop.

    Usage: `plot_lag(m, title="50 requests with time.sleep")`. `numbers=False` leaves the summary
    out of the title (the meter shows it once, in its result line, right above the picture).
    """
    fig = _new_figure()
    ax = fig.add_subplot()
    lags = [(0.0, 0.0), *monitor.lags]  # start at rest, so a stall from the start still rises as a ramp
    times = [t for t, _ in lags]
    values = [v for _, v in lags]
    elapsed = max(monitor.elapsed, monitor.interval)
    stalls = monitor.stalls
    for i, stall in enumerate(stalls):
        ax.axvspan(stall.start, stall.start + stall.duration, color=STALL_COLOR, alpha=0.18, lw=0,
                   label="stall (no heartbeat)" if i == 0 else None)
    ax.plot(times, values, color=LAG_COLOR, lw=1.2, marker="o", ms=2, label="heartbeat lag")
    ax.axhline(monitor.stall_threshold, color="#777777", lw=0.8, ls="--",
               label=f"stall threshold {monitor.stall_threshold:.2f} s")
    top = max([*values, monitor.longest_stall, monitor.stall_threshold * 2])
    for stall in sorted(stalls, key=lambda s: -s.duration)[:4]:  # label the biggest few
        ax.annotate(f"{stall.duration:.2f} s", (stall.start + stall.duration / 2, top * 1.02),
                    ha="center", va="bottom", fontsize=8, color=STALL_COLOR)
    ax.set_xlim(0, elapsed)
    ax.set_ylim(0, top * 1.25)
    ax.set_xlabel("time since start (s)", fontsize=9)
    ax.set_ylabel("lag (s)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, framealpha=0.85)
    _titles(ax, title, f"blocked {monitor.blocked_share:.0%} · longest stall {monitor.longest_stall:.2f} s · "
                       f"{min(monitor.ticks, monitor.expected_ticks)}/{monitor.expected_ticks} heartbeats"
            if numbers else "")
    return fig


def plot_timeline(timeline: Timeline, title: str = "Task timeline") -> Figure:
    """A Gantt chart: one bar per task or span, coloured by outcome, waits lighter,
    a dashed line at the first failure.

    Usage: `plot_timeline(tl, title="Semaphore(3): three at a time")`.
    """
    from matplotlib.patches import Patch

    spans = sorted((s for s in timeline.spans), key=lambda s: (s.start, s.name))
    n = max(len(spans), 1)
    fig = _new_figure(min(max(HEIGHT, 0.26 * n + 1.1), 12.0))
    ax = fig.add_subplot()
    until = timeline.elapsed
    seen: set[str] = set()
    has_wait = False
    for row, span in enumerate(spans):
        style = OUTCOME_STYLE.get(span.outcome, OUTCOME_STYLE["running"])
        seen.add(span.outcome if span.kind != "wait" else "wait")
        end = span.end if span.end is not None else until
        active = span.active_segments(until)
        if span.kind != "wait":
            ax.broken_barh([(a, max(b - a, until * 0.002)) for a, b in active] or [(span.start, until * 0.002)],
                           (row - 0.35, 0.7), facecolors=style["color"], hatch=style["hatch"],
                           edgecolor="white" if style["hatch"] else style["color"], lw=0.5)
        for wait in span.waits:
            has_wait = True
            ax.broken_barh([(wait.start, min(wait.end, end) - wait.start)], (row - 0.35, 0.7),
                           facecolors=style["color"], alpha=0.28, lw=0)
    first_failure = timeline.first_failure()
    if first_failure is not None:
        ax.axvline(first_failure, color=OUTCOME_STYLE["error"]["color"], ls="--", lw=1.2)
        right_half = first_failure > until / 2
        ax.annotate(f"first failure {first_failure:.2f} s", (first_failure, -0.6), ha="right" if right_half else "left",
                    va="bottom", fontsize=8, color=OUTCOME_STYLE["error"]["color"],
                    xytext=(-3 if right_half else 3, 0), textcoords="offset points")
    ax.set_ylim(n - 0.5, -1.0 if first_failure is not None else -0.6)
    if len(spans) <= 40:
        ax.set_yticks(range(len(spans)), [s.name for s in spans], fontsize=7)
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{len(spans)} tasks", fontsize=9)
    ax.set_xlim(0, max(until, 1e-3) * 1.02)
    ax.set_xlabel("time since start (s)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    handles = [Patch(facecolor=OUTCOME_STYLE[k]["color"], hatch=OUTCOME_STYLE[k]["hatch"], edgecolor="white",
                     label=OUTCOME_STYLE[k]["label"]) for k in OUTCOME_STYLE if k in seen]
    if has_wait:
        handles.append(Patch(facecolor=OUTCOME_STYLE["ok"]["color"], alpha=0.28, label="waiting"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    counts = ", ".join(f"{v} {k}" for k, v in timeline.outcomes().items() if v)
    _titles(ax, title, f"{counts} · max {timeline.max_concurrent()} at once")
    return fig


def _number(value: float) -> str:
    """Counts read as counts ("50 requests"), measurements keep two decimals ("0.21 s")."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def plot_bars(labels: Sequence[str], values: Sequence[float], ideal: float | None = None,
              title: str = "Broken vs fixed", unit: str = "s") -> Figure:
    """Horizontal bars for a broken-vs-fixed comparison, with the ideal as a dashed line.

    Bars within 1.5× of the ideal are green, within 3× orange, beyond that red.
    Usage: `plot_bars(["time.sleep", "asyncio.sleep"], [2.51, 0.06], ideal=0.05, title="50 pauses")`.
    """
    if len(labels) != len(values):
        raise ValueError("labels and values must have the same length")
    n = max(len(labels), 1)
    fig = _new_figure(max(1.6, 0.45 * n + 0.9))
    ax = fig.add_subplot()
    colors = []
    for v in values:
        ratio = v / ideal if ideal else None
        colors.append("#4c78a8" if ratio is None else "#2a9d8f" if ratio <= 1.5 else "#f4a261" if ratio <= 3
                      else "#d62728")
    ax.barh(range(len(values)), values, color=colors, height=0.6)
    top = max([*values, ideal or 0.0, 1e-9])
    for i, v in enumerate(values):
        text = f"{_number(v)} {unit}" + (f"  ({v / ideal:.1f}× ideal)" if ideal else "")
        ax.annotate(text, (v, i), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    if ideal is not None:
        ax.axvline(ideal, color="#333333", ls="--", lw=1.2)
        ax.annotate(f"ideal {_number(ideal)} {unit}", (ideal, -0.5), xytext=(3, 2), textcoords="offset points",
                    fontsize=8, va="bottom")
    ax.set_yticks(range(len(labels)), list(labels), fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.9 if ideal is not None else -0.5)
    ax.set_xlim(0, top * 1.35)
    ax.set_xlabel(f"({unit})" if unit != "s" else "time (s)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    _titles(ax, title)
    return fig
