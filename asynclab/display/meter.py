"""The live loop-lag meter: `async with watch("50 requests, time.sleep") as m: ...`.

The heartbeat (a LoopMonitor) ticks on the event loop, so it cannot report a frozen loop while
the loop is frozen. A watchdog *thread* can: with ipykernel 7 a background thread keeps sending
widget updates while the kernel's main thread sits in `time.sleep`, so the learner watches
"loop blocked for 0.8 s" grow in red, live. The thread only ever touches the widgets; it never
prints, because since ipykernel 7.1 a thread's print lands in whatever cell runs at that moment.

The bar is the share of the time so far that the loop was blocked (0 % empty, 100 % full), and
says so beside it: a bar that fills reads as "how much", which is what it measures.

When the block ends, the live widget is *replaced* (update_display_data on its display id) by
one static result, HTML with a text/plain twin, and the widget is closed. That result is the
meter's only summary, key numbers first, and it renders without a kernel: a reopened notebook
shows it instead of "Error displaying widget: model not found". With `plot=True` a static
picture of lag over time follows. nbval ignores display updates, so it sees the first bundle of
the display and a recording (nbclient) the last: both start with METER_TEXT_MARK /
METER_HTML_MARK, and nbval-sanitize.cfg masks everything after those marks (the cell's own
asserts check the numbers).

Without a Jupyter kernel, or with ASYNCLAB_NO_WIDGETS=1, the meter prints the same line as text.
"""

from __future__ import annotations

import base64
import html
import os
import sys
import threading
from types import TracebackType
from typing import Any

from ..instruments.loop_monitor import LoopMonitor

__all__ = ["METER_HTML_MARK", "METER_TEXT_MARK", "Meter", "live_bundle", "result_html", "result_text", "watch",
           "widgets_enabled"]

REFRESH = 0.1  # seconds between watchdog updates: ~10 a second is smooth and cheap
BLOCKED_AFTER = 0.1  # show "blocked" once no heartbeat arrived for this long (and past the stall threshold)
GREEN, RED, GREY = "#2a9d8f", "#d62728", "#555555"
BAR_WIDTH = "140px"
METER_TEXT_MARK = "[loop meter]"  # every meter bundle's text/plain starts with this
METER_HTML_MARK = '<div class="asynclab-meter"'  # ... and its text/html with this
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


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


def _numbers(monitor: LoopMonitor) -> tuple[str, str, str]:
    """(blocked share, longest stall, heartbeats): the three readings, in the order a learner needs them."""
    return (f"loop blocked {monitor.blocked_share:.0%} of {monitor.elapsed:.2f} s",
            f"longest stall {monitor.longest_stall:.2f} s",
            f"{min(monitor.ticks, monitor.expected_ticks)} of {monitor.expected_ticks} heartbeats ran")


def result_text(monitor: LoopMonitor, label: str = "") -> str:
    """The finished meter as one line of text, key numbers first."""
    verdict = "STALLED" if monitor.stalls else "responsive"
    name = f" · {label}" if label else ""
    return f"{METER_TEXT_MARK} {verdict}: {' · '.join(_numbers(monitor))}{name}"


def _bar_html(share: float, color: str) -> str:
    percent = max(0.0, min(1.0, share)) * 100
    return (f"<span title='share of the time the loop was blocked' style='display:inline-block;width:{BAR_WIDTH};"
            f"height:0.9em;border:1px solid #bbbbbb;background:#f2f2f2;vertical-align:middle'>"
            f"<span style='display:block;height:100%;width:{percent:.0f}%;background:{color}'></span></span>")


def result_html(monitor: LoopMonitor, label: str = "") -> str:
    """The finished meter as static HTML: coloured word and key numbers first, then the label."""
    stalled = bool(monitor.stalls)
    color = RED if stalled else GREEN
    blocked, longest, heartbeats = (html.escape(t) for t in _numbers(monitor))
    name = f" <span style='color:{GREY}'>· {html.escape(label)}</span>" if label else ""
    return (f"{METER_HTML_MARK} style='font-family:monospace;line-height:1.6'>"
            f"<span style='color:{GREY}'>blocked</span> {_bar_html(monitor.blocked_share, color)} "
            f"<b style='color:{color}'>{'STALLED' if stalled else 'responsive'}: {blocked} · {longest}</b> "
            f"<span style='color:{GREY}'>· {heartbeats}</span>{name}</div>")


def live_bundle(label: str, model_id: str) -> dict[str, Any]:
    """The running meter's display bundle: the widget, with HTML and text for frontends without widgets."""
    name = f" · {label}" if label else ""
    return {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": model_id},
            "text/plain": f"{METER_TEXT_MARK} running…{name}",
            "text/html": f"{METER_HTML_MARK}>loop meter running…{html.escape(name)}</div>"}


class _WidgetView:
    """An HBox of a caption, a FloatProgress (blocked share) and an HTML line: thread-updatable."""

    def __init__(self, label: str) -> None:
        import ipywidgets as widgets

        self.label = label
        self.caption = widgets.HTML(value=f"<span style='color:{GREY};font-family:monospace'>blocked</span>")
        self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="success",
                                         layout=widgets.Layout(width=BAR_WIDTH))
        self.html = widgets.HTML(value=self._line(GREY, "starting…"))
        self.box = widgets.HBox([self.caption, self.bar, self.html])
        self.handle: Any = None

    def _line(self, color: str, status: str, detail: str = "") -> str:
        name = f" <span style='color:{GREY}'>· {html.escape(self.label)}</span>" if self.label else ""
        extra = f" <span style='color:{GREY}'>· {html.escape(detail)}</span>" if detail else ""
        return (f"<span style='font-family:monospace'>"
                f"<span style='color:{color};font-weight:bold'>{html.escape(status)}</span>{extra}{name}</span>")

    def show(self) -> None:
        from IPython.display import display

        self.handle = display(live_bundle(self.label, self.box.model_id), raw=True, display_id=True)

    def live(self, monitor: LoopMonitor) -> tuple[bool, bool]:
        """Render the current state; returns (sent an update, shows blocked)."""
        stuck = monitor.blocked_for() + monitor.interval
        blocked = stuck >= max(BLOCKED_AFTER, monitor.stall_threshold)
        share = monitor.blocked_share
        if blocked:
            style = "danger"
            text = self._line(RED, f"loop blocked for {stuck:.1f} s", f"{share:.0%} of the time · no heartbeat")
        else:
            style = "danger" if monitor.stalls else "success"
            ran = min(monitor.ticks, monitor.expected_ticks)
            text = self._line(RED if monitor.stalls else GREEN, f"loop responsive · blocked {share:.0%}",
                              f"{ran} of {monitor.expected_ticks} heartbeats ran")
        changed = text != self.html.value
        if changed:
            self.html.value = text
        if abs(self.bar.value - share) > 0.01 or self.bar.bar_style != style:
            self.bar.bar_style = style
            self.bar.value = share
        return changed, blocked

    def final(self, monitor: LoopMonitor) -> None:
        """Swap the widget for the static result, then close the widget: nothing left needs a kernel."""
        self.handle.update({"text/plain": result_text(monitor, self.label),
                            "text/html": result_html(monitor, self.label)}, raw=True)
        for widget in (self.box, self.caption, self.bar, self.html):  # with their layout and style models
            for model in (getattr(widget, "layout", None), getattr(widget, "style", None), widget):
                if model is not None:
                    model.close()


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
        if self._view is not None:
            self._view.final(self.monitor)  # the one summary: the static result in the widget's place
        else:
            print(result_text(self.monitor, self.label)[len(METER_TEXT_MARK) + 1:])
        if self.plot and self.widgets:
            self._show_plot()

    def _show_plot(self) -> None:
        from IPython.display import display

        from .plots import figure_png, plot_lag

        assert self.monitor is not None
        # No numbers in the title: the result line above has them, once.
        fig = plot_lag(self.monitor, title=f"Event loop lag over time: {self.label}" if self.label
                       else "Event loop lag over time", numbers=False)
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
