"""Instruments that turn "the loop feels slow" into numbers: heartbeats, timelines, blocking calls."""

from __future__ import annotations

from .blocking import BlockingCall, BlockingReport, find_blocking
from .loop_monitor import LoopMonitor, SectionStats, Stall
from .timeline import Span, Timeline, Wait

__all__ = ["BlockingCall", "BlockingReport", "LoopMonitor", "SectionStats", "Span", "Stall", "Timeline", "Wait",
           "find_blocking"]
