"""The whole story of notebook 07 in one picture: every step under the same load."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .steps import StepResult

__all__ = ["plot_steps"]


def plot_steps(steps: Sequence[StepResult], *, deadline: float | None = None,
               title: str = "The same load, one fix at a time") -> Figure:
    """Four panels, one row per step: p50/p99 latency, throughput, the service's loop lag, and the
    TCP connections the partner saw it open. Usage: `plot_steps([broken, with_async, ...])`."""
    from matplotlib.figure import Figure as _Figure

    from ...display.plots import figure_png

    class StepsFigure(_Figure):
        def _repr_png_(self) -> bytes:
            return figure_png(self)

    labels = [s.label for s in steps]
    reports = [s.steady for s in steps]
    fig = StepsFigure(figsize=(9.0, 1.4 + 0.36 * len(steps) * 2), dpi=100, layout="constrained")
    axes = fig.subplots(2, 2, sharey=True)
    y = list(range(len(labels)))

    def finish(ax: Any, heading: str, log: bool, values: Sequence[float]) -> None:
        ax.set_title(heading, loc="left", fontsize=9, fontweight="bold")
        ax.tick_params(axis="x", labelsize=7)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(min([v for v in values if v > 0] + [0.01]) / 2, max([*values, 0.02]) * 6)
        else:
            ax.set_xlim(0, max([*values, 1e-9]) * 1.3)

    def bars(ax: Any, values: list[float], heading: str, fmt: str, color: str, log: bool = False) -> None:
        ax.barh(y, values, color=color, height=0.6)
        for i, v in enumerate(values):
            ax.annotate(fmt.format(v), (v, i), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        finish(ax, heading, log, values)

    ax = axes[0][0]
    p50, p99 = [r.p50 for r in reports], [r.p99 for r in reports]
    ax.barh([i - 0.18 for i in y], p50, height=0.36, color="#4c78a8", label="p50")
    ax.barh([i + 0.18 for i in y], p99, height=0.36, color="#d62728", label="p99")
    for i, v in enumerate(p99):
        ax.annotate(f"{v:.2f} s", (v, i + 0.18), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    if deadline is not None:
        ax.axvline(deadline, color="#333333", ls="--", lw=1, label=f"deadline {deadline:.2f} s")
    ax.legend(fontsize=7, loc="lower right", framealpha=0.85)
    finish(ax, "latency (s, log scale)", True, p50 + p99)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    bars(axes[0][1], [r.throughput for r in reports], "throughput (ok answers/s)", "{:.0f}", "#2a9d8f")
    bars(axes[1][0], [max(r.loop_lag, 0.001) for r in reports], "service loop lag (s, log scale)", "{:.2f} s",
         "#f4a261", log=True)
    bars(axes[1][1], [float(s.partner["connections"]) for s in steps],
         "TCP connections opened to the partner", "{:.0f}", "#8d99ae")
    axes[1][0].set_yticks(y, labels)
    fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
    return fig
