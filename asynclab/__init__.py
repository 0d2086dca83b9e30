"""asynclab: the lab kit behind 'Production async Python, hands-on'."""

from __future__ import annotations

from .display import plot_bars, plot_lag, plot_timeline, watch
from .grading.notebook import check, hint
from .errors import LabError, ServiceStartError, ServiceUnavailable
from .instruments import LoopMonitor, Timeline, find_blocking
from .lab import Lab, start, stop
from .services.api_client import ApiHandle

__all__ = ["ApiHandle", "Lab", "LabError", "ServiceStartError", "ServiceUnavailable", "start", "stop"]
__all__ += ["LoopMonitor", "Timeline", "find_blocking", "plot_bars", "plot_lag", "plot_timeline", "watch"]
__all__ += ["check", "hint"]
__all__.sort()  # one sorted list, whichever module added the names
