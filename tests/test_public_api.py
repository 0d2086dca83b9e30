"""`asynclab.__all__` is the public API: sorted, complete, and every name in it resolves."""

from __future__ import annotations

import asynclab


def test_all_is_sorted_and_unique() -> None:
    assert asynclab.__all__ == sorted(set(asynclab.__all__))


def test_every_public_name_resolves_and_every_public_attribute_is_listed() -> None:
    assert all(getattr(asynclab, name, None) is not None for name in asynclab.__all__)
    listed = set(asynclab.__all__)
    public = {n for n, v in vars(asynclab).items()
              if not n.startswith("_") and (not isinstance(v, type(asynclab)) or n in listed)}
    assert public - {"annotations"} <= listed


def test_progress_is_callable_whichever_was_imported_first() -> None:
    """`asynclab.progress` is a subpackage and the notebook's `progress()`: both must answer a call."""
    import asynclab.progress.store  # noqa: F401  (what check() imports; it binds the package to the name)

    assert callable(asynclab.progress)
    from asynclab import progress

    assert callable(progress)
