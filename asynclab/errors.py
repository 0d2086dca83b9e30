"""The lab's own exceptions.

    Exception
     ├── ServiceUnavailable      a dependency did not answer in time (the course's deadline error)
     └── LabError                the lab itself could not do what was asked
          └── ServiceStartError  a lab service did not start or did not pass its health check
"""

from __future__ import annotations


class ServiceUnavailable(Exception):
    """Raised by course code when a downstream service misses its deadline or fails.

    Learners raise it from their own deadline wrappers (notebook 05), so that callers
    have one exception to handle instead of a zoo of library-specific ones.
    """


class LabError(Exception):
    """Something in the lab kit failed; the message says what to do about it."""


class ServiceStartError(LabError):
    """A lab service process did not start, or did not pass its health check."""
