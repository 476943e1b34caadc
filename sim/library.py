"""Placeholder until the package-data reader lands: default stages are the registry's default classes."""

from __future__ import annotations

from sim.core.stage import default_class


def default_stage(group: str):
    """A fresh default stage object of ``group``."""
    return default_class(group)()
