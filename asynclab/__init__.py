"""asynclab: the lab kit behind 'Production async Python, hands-on'."""

from __future__ import annotations

from .display import plot_bars, plot_lag, plot_timeline, watch
from .errors import LabError, ServiceStartError, ServiceUnavailable
from .grading.notebook import check, hint
from .instruments import LoopMonitor, Timeline, find_blocking
from .lab import Lab, start, stop
from .progress import progress
from .services.api_client import ApiHandle

__all__ = [
    "ApiHandle",
    "Lab",
    "LabError",
    "LoopMonitor",
    "ServiceStartError",
    "ServiceUnavailable",
    "Timeline",
    "check",
    "find_blocking",
    "hint",
    "plot_bars",
    "plot_lag",
    "plot_timeline",
    "progress",
    "start",
    "stop",
    "watch",
]
