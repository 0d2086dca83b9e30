"""What the learner sees: the live loop-lag meter and static plots (matplotlib loads on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .meter import Meter, watch, widgets_enabled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..instruments.loop_monitor import LoopMonitor
    from ..instruments.timeline import Timeline

__all__ = ["Meter", "plot_bars", "plot_lag", "plot_timeline", "watch", "widgets_enabled"]


def plot_lag(monitor: LoopMonitor, title: str = "Event loop lag", numbers: bool = True) -> Figure:
    """Heartbeat lag over time with the stalls shaded; see `asynclab.display.plots.plot_lag`."""
    from .plots import plot_lag as _plot_lag

    return _plot_lag(monitor, title=title, numbers=numbers)


def plot_timeline(timeline: Timeline, title: str = "Task timeline") -> Figure:
    """A Gantt chart of a Timeline; see `asynclab.display.plots.plot_timeline`."""
    from .plots import plot_timeline as _plot_timeline

    return _plot_timeline(timeline, title=title)


def plot_bars(labels: Any, values: Any, ideal: float | None = None, title: str = "Broken vs fixed",
              unit: str = "s") -> Figure:
    """Broken-vs-fixed horizontal bars with the ideal dashed; see `asynclab.display.plots.plot_bars`."""
    from .plots import plot_bars as _plot_bars

    return _plot_bars(labels, values, ideal=ideal, title=title, unit=unit)
