"""The registry of derived outputs: :data:`DERIVED`, beside :data:`sim.core.results.OUTPUTS`.

A derived output is computed from a result Dataset after the run (it is not an engine output). Every function of
:mod:`sim.analysis` that defines one is declared with :func:`derived`, which records its units and long name;
the code that builds Datasets of derived values (:func:`sim.analysis.summarize`,
:func:`sim.analysis.interval_turnover`, :func:`sim.analysis.deficit`) reads the metadata from here, so the
metadata exist once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Derived(NamedTuple):
    """One derived output: the function that computes it from a result Dataset, its units and long name."""

    function: Callable[..., Any]
    units: str
    long_name: str


#: name -> :class:`Derived`. Every function takes a result Dataset as its first argument; further arguments have
#: defaults. Filled by :func:`derived` when :mod:`sim.analysis` is imported.
DERIVED: dict[str, Derived] = {}


def derived(name: str, units: str, long_name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register the decorated function as derived output ``name`` with ``units`` and ``long_name``."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        if name in DERIVED:
            raise KeyError(f"derived output {name!r} is defined twice")
        DERIVED[name] = Derived(function, units, long_name)
        return function

    return register


def attrs(name: str) -> dict[str, str]:
    """``{"units": ..., "long_name": ...}`` of a registered derived output."""
    entry = DERIVED[name]
    return {"units": entry.units, "long_name": entry.long_name}
