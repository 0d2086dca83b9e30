"""The live loop-lag meter: `async with watch("50 requests, time.sleep") as m: ...`.

The heartbeat (a LoopMonitor) ticks on the event loop, so it cannot report a frozen loop while
the loop is frozen. A watchdog *thread* can: with ipykernel 7 a background thread keeps sending
widget updates while the kernel's main thread sits in `time.sleep`, so the learner watches
"loop blocked for 0.8 s" grow in red, live. The thread only ever touches the widgets; it never
prints, because since ipykernel 7.1 a thread's print lands in whatever cell runs at that moment.

After the block the meter shows the final summary, prints it once as "<label>: <summary>" (from
the main thread, so it is saved with the cell), and, with `plot=True`, shows a static picture of
lag over time.

Without a Jupyter kernel, or with ASYNCLAB_NO_WIDGETS=1, the meter prints text only.
"""

from __future__ import annotations

import base64
import html
import math
import os
import sys
import threading
from types import TracebackType

from ..instruments.loop_monitor import LoopMonitor

__all__ = ["Meter", "watch", "widgets_enabled"]

REFRESH = 0.1  # seconds between watchdog updates: ~10 a second is smooth and cheap
BLOCKED_AFTER = 0.1  # show "blocked" once no heartbeat arrived for this long (and past the stall threshold)
GREEN, RED, GREY = "#2a9d8f", "#d62728", "#555555"


def widgets_enabled() -> bool:
    """True inside a Jupyter kernel with ipywidgets available, unless ASYNCLAB_NO_WIDGETS is set."""
    if os.environ.get("ASYNCLAB_NO_WIDGETS", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    if "IPython" not in sys.modules:  # not imported means not running under IPython
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or getattr(shell, "kernel", None) is None:  # a terminal IPython cannot show widgets
            return False
        import ipywidgets  # noqa: F401
    except Exception:
        return False
    return True


def _bar_level(seconds: float) -> float:
    """Bar position on a log scale: 1 ms -> 0, 10 ms -> 1, 100 ms -> 2, 1 s and more -> 3."""
    return 0.0 if seconds <= 0.001 else min(3.0, math.log10(seconds / 0.001))


class _WidgetView:
    """An HBox of a FloatProgress and an HTML line: small, no Output widget, thread-updatable."""

    def __init__(self, label: str) -> None:
        import ipywidgets as widgets

        self.label = label
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=3.0, bar_style="success",
                                         layout=widgets.Layout(width="140px"))
        self.html = widgets.HTML(value=self._line(GREY, "starting…"))
        self.box = widgets.HBox([self.bar, self.html])

    def _line(self, color: str, status: str, detail: str = "") -> str:
        name = f"<b>{html.escape(self.label)}</b> · " if self.label else ""
        extra = f" <span style='color:{GREY}'>· {html.escape(detail)}</span>" if detail else ""
        return (f"<span style='font-family:monospace'>{name}"
                f"<span style='color:{color};font-weight:bold'>{html.escape(status)}</span>{extra}</span>")

    def show(self) -> None:
        from IPython.display import display

        display(self.box)

    def live(self, monitor: LoopMonitor) -> tuple[bool, bool]:
        """Render the current state; returns (sent an update, shows blocked)."""
        stuck = monitor.blocked_for() + monitor.interval
        blocked = stuck >= max(BLOCKED_AFTER, monitor.stall_threshold)
        if blocked:
            value, style = _bar_level(stuck), "danger"
            text = self._line(RED, f"loop blocked for {stuck:.1f} s", "no heartbeat")
        else:
            lag = monitor.recent_lag()
            value, style = _bar_level(lag), "success"
            text = self._line(GREEN, f"loop responsive · lag {lag:.3f} s",
                              f"{min(monitor.ticks, monitor.expected_ticks)}/{monitor.expected_ticks} heartbeats")
        changed = text != self.html.value
        if changed:
            self.html.value = text
        if abs(self.bar.value - value) > 0.05 or self.bar.bar_style != style:
            self.bar.bar_style = style
            self.bar.value = value
        return changed, blocked

    def final(self, monitor: LoopMonitor) -> None:
        stalled = bool(monitor.stalls)
        self.bar.bar_style = "danger" if stalled else "success"
        self.bar.value = _bar_level(monitor.longest_stall)
        self.html.value = self._line(RED if stalled else GREEN, "stalled" if stalled else "responsive",
                                     monitor.summary())


class Meter:
    """The async context manager behind `watch()`; yields the LoopMonitor.

    `updates` counts widget updates the watchdog sent, `blocked_updates` those sent while the
    loop was blocked: the proof that the meter moved while the loop stood still.
    """

    def __init__(self, label: str = "", *, interval: float = 0.01, plot: bool = True,
                 stall_threshold: float | None = None) -> None:
        self.label = label
        self.interval = interval
        self.plot = plot
        self.stall_threshold = stall_threshold
        self.monitor: LoopMonitor | None = None
        self.widgets = False
        self.updates = 0
        self.blocked_updates = 0
        self.longest_blocked_shown = 0.0
        self.watchdog_error: BaseException | None = None
        self._view: _WidgetView | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    async def __aenter__(self) -> LoopMonitor:
        self.widgets = widgets_enabled()
        if self.widgets:
            try:
                self._view = _WidgetView(self.label)
                self._view.show()
            except Exception:  # a broken widget stack must not stop the lesson: fall back to text
                self._view, self.widgets = None, False
        self.monitor = LoopMonitor(self.interval, stall_threshold=self.stall_threshold).start()
        if self._view is not None:
            self._thread = threading.Thread(target=self._watchdog, name="asynclab-meter", daemon=True)
            self._thread.start()
        return self.monitor

    def _watchdog(self) -> None:
        assert self.monitor is not None and self._view is not None
        try:
            while not self._stop.wait(REFRESH):
                changed, blocked = self._view.live(self.monitor)
                if changed:
                    self.updates += 1
                    if blocked:
                        self.blocked_updates += 1
                        self.longest_blocked_shown = max(self.longest_blocked_shown,
                                                         self.monitor.blocked_for() + self.monitor.interval)
        except BaseException as exc:  # never print from a thread; keep it for whoever asks
            self.watchdog_error = exc

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self.monitor is not None
        self.monitor.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        try:
            self._finish()
        except Exception:
            if exc is None:  # never hide the learner's own exception behind a display problem
                raise

    def _finish(self) -> None:
        assert self.monitor is not None
        summary = self.monitor.summary()
        if self._view is not None:
            self._view.final(self.monitor)
        print(f"{self.label}: {summary}" if self.label else summary)
        if self.plot and self.widgets:
            self._show_plot()

    def _show_plot(self) -> None:
        from IPython.display import display

        from .plots import figure_png, plot_lag

        assert self.monitor is not None
        fig = plot_lag(self.monitor, title=f"Event loop lag: {self.label}" if self.label else "Event loop lag")
        try:
            png = figure_png(fig)
        finally:
            fig.clear()  # standalone Figure, not in pyplot: clearing frees it, nothing piles up
        display({"image/png": base64.b64encode(png).decode("ascii"),
                 "text/plain": f"[plot: event loop lag{' for ' + self.label if self.label else ''}]"}, raw=True)

    def __repr__(self) -> str:
        return (f"<Meter {self.label!r} widgets={self.widgets} updates={self.updates} "
                f"blocked_updates={self.blocked_updates}>")


def watch(label: str = "", *, interval: float = 0.01, plot: bool = True) -> Meter:
    """A live loop-lag meter around a block of code; yields the LoopMonitor.

        async with watch("50 requests, time.sleep") as m:
            await asyncio.gather(*(handler(i) for i in range(50)))
        assert m.missed_share > 0.8, m.summary()

    Keep the Meter (`meter = watch(...)`; `async with meter as m:`) to read `meter.blocked_updates`.
    """
    return Meter(label, interval=interval, plot=plot)
