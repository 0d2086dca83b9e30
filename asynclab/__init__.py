"""asynclab: the lab kit behind 'Production async Python, hands-on'."""

from __future__ import annotations

from .errors import LabError, ServiceStartError, ServiceUnavailable
from .lab import Lab, start, stop
from .services.api_client import ApiHandle

__all__ = ["ApiHandle", "Lab", "LabError", "ServiceStartError", "ServiceUnavailable", "start", "stop"]
