"""The live meter in a real kernel: the watchdog thread updates the widget while time.sleep blocks
the loop; when it ends, a static result replaces the widget (nothing left needs the kernel); the
text fallback prints one line; the static plots are readable and do not pile up.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from asynclab import plot_bars, plot_lag, plot_timeline, watch
from asynclab.display.meter import Meter, widgets_enabled
from asynclab.display.plots import figure_png
from asynclab.instruments import LoopMonitor, Timeline

BLOCK = 1.2
SUMMARY = r"(STALLED|responsive): loop blocked \d+% of \d+\.\d\d s · longest stall \d+\.\d\d s · \d+ of \d+ heartbeats ran"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SANITIZE = Path(__file__).resolve().parent.parent / "nbval-sanitize.cfg"


class RecordingClient(NotebookClient):
    """Notes every widget state update the kernel sends, with the kernel's own timestamp."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates: list[tuple[int, float, dict[str, Any]]] = []
        self.comms: list[tuple[str, int, str]] = []  # (comm_open or comm_close, cell, comm id)

    def handle_comm_msg(self, outs: Any, msg: dict[str, Any], cell_index: int) -> None:
        if msg["msg_type"] in ("comm_open", "comm_close"):
            self.comms.append((msg["msg_type"], cell_index, msg["content"].get("comm_id", "")))
        if msg["msg_type"] == "comm_msg" and "state" in msg["content"]["data"]:
            sent = msg["header"]["date"].timestamp()
            self.updates.append((cell_index, sent, msg["content"]["data"]["state"]))
        super().handle_comm_msg(outs, msg, cell_index)


def run_notebook(cells: list[str], path: Path) -> tuple[nbformat.NotebookNode, RecordingClient]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    client = RecordingClient(nb, timeout=60, startup_timeout=60, kernel_name="python3",
                             resources={"metadata": {"path": str(path)}})
    client.execute()
    return nb, client


def texts(cell: nbformat.NotebookNode, name: str = "stdout") -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)


@pytest.mark.slow
def test_widget_moves_while_time_sleep_blocks_the_loop(tmp_path: Path) -> None:
    nb, client = run_notebook([
        "import asyncio, threading, time\nimport asynclab",
        f'meter = asynclab.watch("x")\nasync with meter as m:\n    t_start = time.time()\n'
        f'    time.sleep({BLOCK})\n    t_end = time.time()',
        "print(meter.widgets, meter.blocked_updates, meter.watchdog_error)\nprint(t_start, t_end)",
        'async with asynclab.watch("healthy", plot=False) as m2:\n    await asyncio.sleep(0.3)\n'
        "print(m2.missed_share < 0.3)",
        'print(sorted(t.name for t in threading.enumerate() if t.name.startswith("asynclab")))',
    ], tmp_path)
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert all(texts(c, "stderr") == "" for c in nb.cells), [texts(c, "stderr") for c in nb.cells]

    watched = nb.cells[1]
    kinds = [o.output_type for o in watched.outputs]
    assert kinds == ["display_data", "display_data"], kinds  # the result, then the lag picture: no print
    result = watched.outputs[0].data
    assert WIDGET_VIEW not in result, "the finished meter left its widget: a reopened notebook cannot show it"
    assert re.fullmatch(rf"\[loop meter\] STALLED: {SUMMARY[len('(STALLED|responsive): '):]} · x", result["text/plain"]), result
    assert re.match(r'<div class="asynclab-meter".*STALLED: loop blocked \d+%', result["text/html"]), result
    assert "image/png" in watched.outputs[-1].data
    assert texts(watched) == "", "one summary: the meter prints nothing beside its result"
    opened = {comm for kind, cell, comm in client.comms if cell == 1 and kind == "comm_open"}
    closed = {comm for kind, cell, comm in client.comms if cell == 1 and kind == "comm_close"}
    assert len(opened) >= 4 and opened == closed, "the finished meter closes every widget model it opened"

    widgets, blocked_updates, error = texts(nb.cells[2]).splitlines()[0].split()
    t_start, t_end = map(float, texts(nb.cells[2]).splitlines()[1].split())
    assert (widgets, error) == ("True", "None")

    # The proof: updates the kernel sent while its main thread sat in time.sleep.
    during = [(sent, state["value"]) for cell, sent, state in client.updates
              if cell == 1 and t_start <= sent <= t_end and "loop blocked for" in str(state.get("value"))]
    shown = [float(re.search(r"loop blocked for (\d+\.\d) s", v).group(1)) for _, v in during]  # type: ignore[union-attr]
    assert len(during) >= 5, during  # ~10 a second; 5 leaves room for a loaded machine
    assert shown == sorted(shown) and shown[-1] - shown[0] >= BLOCK / 3, shown
    assert during[-1][0] - during[0][0] >= BLOCK / 3
    assert int(blocked_updates) >= len(during)

    assert texts(nb.cells[3]).splitlines()[-1] == "True"
    assert re.fullmatch(rf"\[loop meter\] {SUMMARY} · healthy", nb.cells[3].outputs[0].data["text/plain"])
    assert texts(nb.cells[4]).strip() == "[]", "no meter thread outlives its cell"


@pytest.mark.slow
def test_no_widgets_setting_prints_text_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCLAB_NO_WIDGETS", "1")  # the kernel inherits the environment
    nb, client = run_notebook([
        "import time\nimport asynclab",
        'async with asynclab.watch("plain") as m:\n    time.sleep(0.3)',
    ], tmp_path)
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["stream"], outputs
    assert re.fullmatch(rf"{SUMMARY} · plain\n", outputs[0].text)
    assert client.updates == []


@pytest.mark.anyio
async def test_outside_a_kernel_the_meter_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert not widgets_enabled()
    meter = watch("headless")
    assert isinstance(meter, Meter)
    async with asyncio.timeout(10):
        async with meter as m:
            time.sleep(0.2)
    out = capsys.readouterr()
    assert re.fullmatch(rf"{SUMMARY} · headless\n", out.out) and out.err == ""
    assert isinstance(m, LoopMonitor) and 0.8 * 0.2 <= m.longest_stall <= 2 * 0.2
    assert not meter.widgets and meter.updates == 0
    assert not [t for t in threading.enumerate() if t.name == "asynclab-meter"]


@pytest.fixture(scope="module")
def stalled_monitor() -> LoopMonitor:
    async def run() -> LoopMonitor:
        async with LoopMonitor() as m:
            await asyncio.sleep(0.05)
            time.sleep(0.2)
            await asyncio.sleep(0.05)
        return m

    return asyncio.run(run())


@pytest.mark.slow
def test_plot_lag_is_readable(stalled_monitor: LoopMonitor) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plot_lag(stalled_monitor, title="a stall")
    width, height = fig.get_size_inches()
    assert (width, height) == pytest.approx((8, 2.2))
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "a stall"
    assert "(s)" in ax.get_xlabel() and "(s)" in ax.get_ylabel()
    assert len(ax.patches) >= 1, "the stall is shaded"
    assert figure_png(fig).startswith(b"\x89PNG")
    assert fig._repr_png_().startswith(b"\x89PNG")  # type: ignore[attr-defined]  # shows itself in Jupyter
    assert plt.get_fignums() == before, "standalone figures never pile up in pyplot"


def test_plot_timeline_and_bars() -> None:
    tl = Timeline()
    with tl.span("one"):
        time.sleep(0.01)
    fig = plot_timeline(tl, title="timeline")
    assert fig.axes[0].get_title(loc="left") == "timeline" and "(s)" in fig.axes[0].get_xlabel()

    fig = plot_bars(["broken", "fixed"], [2.5, 0.06], ideal=0.05, title="50 pauses")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["broken", "fixed"]
    assert any(line.get_linestyle() == "--" for line in ax.get_lines()), "the ideal is a dashed line"
    assert any("50.0× ideal" in t.get_text() for t in ax.texts)
    assert figure_png(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        plot_bars(["a"], [1.0, 2.0])


def test_nbval_sees_the_live_bundle_and_the_recording_the_result_as_equal(stalled_monitor: LoopMonitor) -> None:
    """nbval ignores display updates: it compares the live widget's first bundle with the recorded
    result. nbval-sanitize.cfg must make the two equal, or every meter cell fails strict nbval."""
    from nbval.plugin import get_sanitize_patterns

    from asynclab.display.meter import live_bundle, result_html, result_text

    patterns = get_sanitize_patterns(SANITIZE.read_text())

    def sanitize(text: str) -> str:
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    live = live_bundle("a label", model_id="0123")
    done = {"text/plain": result_text(stalled_monitor, "a label"), "text/html": result_html(stalled_monitor, "a label")}
    for mime in ("text/plain", "text/html"):
        assert sanitize(live[mime]) == sanitize(done[mime]), mime
    assert sanitize("measured 2.5 s") == sanitize("measured 17 s") != sanitize("measured s"), "numbers are masked"


def test_result_puts_the_key_numbers_first(stalled_monitor: LoopMonitor) -> None:
    from asynclab.display.meter import result_html, result_text

    text = result_text(stalled_monitor, "label")
    assert text.startswith("[loop meter] STALLED: loop blocked ") and text.endswith(" · label")
    visible = re.sub(r"<[^>]+>", "", result_html(stalled_monitor, "label"))
    assert visible.split() [:3] == ["blocked", "STALLED:", "loop"], visible  # the bar's caption, then the numbers


def test_watch_defaults() -> None:
    meter = watch()
    assert (meter.label, meter.interval, meter.plot) == ("", 0.01, True)
