"""The capstone service, one readable module per step of notebook 07.

Each module has `create_app(settings) -> FastAPI` and differs from the one before it by one fix
(settings.FIXES). `app_factory(fixes)` names the app for a prefix of FIXES, as `AppProcess` wants.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType

from ..settings import FIXES

APPS = ("broken", "async_drivers", "one_pool", "deadline", "bounded", "drained")
"""APPS[k] is the app with the first k of FIXES switched on."""


def app_module_name(fixes: Iterable[str]) -> str:
    """The module of the app with these fixes on; they must be the first few of FIXES."""
    chosen = [f for f in FIXES if f in set(fixes)]
    if list(FIXES[: len(chosen)]) != chosen:
        raise ValueError(f"fixes go on in order {FIXES}; {chosen} skips one")
    return f"{__name__}.{APPS[len(chosen)]}"


def app_factory(fixes: Iterable[str]) -> str:
    """"module:create_app" for `AppProcess.start`."""
    return f"{app_module_name(fixes)}:create_app"


def app_module(fixes: Iterable[str]) -> ModuleType:
    """The module itself, e.g. to show its source with `inspect.getsource`."""
    import importlib

    return importlib.import_module(app_module_name(fixes))
