"""Raises while being imported: the worker cannot boot (master exits 3)."""

raise RuntimeError("broken-import-marker: this module fails on import")
