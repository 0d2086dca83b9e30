"""Reusable lab-side helpers of single lessons: one module per notebook (nNN_<name>.py)."""
