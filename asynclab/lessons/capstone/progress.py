"""The live line under a capstone cell: which phase runs, and what the service's loop says.

Why phases: a step of notebook 07 is several loads and then a shutdown that takes seconds. A bar
that reads "done" while the service is still stopping makes the cell look stuck. Updated from the
loop (never from a thread), so text lines stay with their cell.
"""

from __future__ import annotations

import html

RED, GREEN, GREY = "#d62728", "#2a9d8f", "#555555"


class Progress:
    """A widget in Jupyter (a bar and a line of text), else one text line a second."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label = label or "load"
        self.enabled = enabled
        self.widgets = False
        self.planned: float | None = None
        self.name = ""
        self.last_print = 0.0
        if not enabled:
            return
        from ...display.meter import widgets_enabled

        if widgets_enabled():
            try:
                import ipywidgets as widgets
                from IPython.display import display

                self.bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                                 layout=widgets.Layout(width="140px"))
                self.html = widgets.HTML(value=self._html("starting…", GREY))
                display(widgets.HBox([self.bar, self.html]))
                self.widgets = True
            except Exception:
                self.widgets = False

    def _html(self, text: str, color: str) -> str:
        return (f"<span style='font-family:monospace'><b>{html.escape(self.label)}</b> · "
                f"<span style='color:{color}'>{html.escape(text)}</span></span>")

    def begin(self, name: str, planned: float | None) -> None:
        """A load starts: the bar restarts and runs for `planned` seconds."""
        self.name, self.planned, self.last_print = name, planned, 0.0

    def update(self, t: float, done: int, ok: int, lag: float, stuck: float) -> None:
        """During a load: `t` s in, `done` requests ended, `ok` of them 2xx, the service's loop lag."""
        if not self.enabled:
            return
        status = f"{t:.1f} s · {done} answered or failed · {ok} ok · service loop lag {lag:.2f} s"
        if stuck >= 0.5:
            status += f" · /metrics silent for {stuck:.1f} s"
        name = f"{self.name}: " if self.name else ""
        if self.widgets:
            color = RED if (lag >= 0.2 or stuck >= 0.5) else GREEN
            self.html.value = self._html(name + status, color)
            self.bar.value = min(1.0, t / self.planned) if self.planned else 0.5
            self.bar.bar_style = "danger" if color == RED else "info"
            return
        if t - self.last_print >= 1.0:
            self.last_print = t
            print(f"  {self.label}: {name}{status}", flush=True)

    def phase(self, text: str) -> None:
        """Between loads, e.g. "stopping the service…": the bar waits, the text says why."""
        if not self.enabled:
            return
        if self.widgets:
            self.html.value = self._html(text, GREY)
            self.bar.bar_style = "warning"
            return
        print(f"  {self.label}: {text}", flush=True)

    def finish(self, text: str) -> None:
        """All done: a full bar and "done · text"."""
        if not self.enabled:
            return
        if self.widgets:
            self.html.value = self._html(f"done · {text}", GREEN)
            self.bar.value = 1.0
            self.bar.bar_style = "success"
            return
        print(f"  {self.label}: done · {text}", flush=True)

