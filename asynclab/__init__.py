"""asynclab: the lab kit behind 'Production async Python, hands-on'."""

from __future__ import annotations

from .errors import LabError, ServiceStartError, ServiceUnavailable

__all__ = ["LabError", "ServiceStartError", "ServiceUnavailable"]
