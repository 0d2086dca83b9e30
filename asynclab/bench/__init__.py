"""`make bench`: every fix measured against its ideal, side by side with the broken version.

    python -m asynclab.bench [--only 02,04] [--out bench-results.json] [--quick]

The fixed and broken implementations are the solution notebooks' own exercise cells
(`cells.load_variant`); a baseline that no notebook contains is written in the family module
that uses it. Each family of rows runs in a process of its own under a deadline
(`runner`), and `report` turns the rows into the table and `bench-results.json`.
"""

from .cells import NotAvailable, load_pair, load_variant
from .report import Row, Skip, Target

__all__ = ["NotAvailable", "Row", "Skip", "Target", "load_pair", "load_variant"]
