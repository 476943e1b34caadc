"""Non-smooth and allocating operations that every stage formula may use, in three worlds at once.

Stage formulas (:mod:`sim.pk`, :mod:`sim.binding`, :mod:`sim.microglia`, :mod:`sim.spines`) are plain Python
arithmetic on a parameter record and state values. The same function is

* compiled by numba inside the ODE kernel (:mod:`sim.core.chain`) — the code that runs;
* evaluated by Python on numpy arrays over time — the model's readouts;
* evaluated by Python on sympy symbols — the equations for documentation, Jacobians and SBML export.

Arithmetic (``+ - * / **``) works the same in all three. The few operations that do not — a maximum, an
allocation — go through the helpers below, whose Python versions dispatch on the argument (sympy expression or
number/array) and whose numba versions are registered with :func:`numba.extending.overload`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba.extending import overload, register_jitable


def _is_symbolic(*values: Any) -> bool:
    """True if any value is a sympy expression (checked without importing sympy)."""
    return any(hasattr(v, "free_symbols") for v in values)


def maximum(a: Any, b: Any) -> Any:
    """The larger of ``a`` and ``b`` (elementwise for arrays; ``sympy.Max`` for symbols)."""
    if _is_symbolic(a, b):
        import sympy

        return sympy.Max(a, b)
    return np.maximum(a, b)


def zeros(n: int, like: Any) -> Any:
    """``n`` zeros, each shaped like ``like``: a float vector for numbers, rows for arrays, objects for symbols."""
    if _is_symbolic(like):
        return np.zeros(n, dtype=object)
    shape = np.shape(like)
    return np.zeros((n, *shape)) if shape else np.zeros(n)


@overload(maximum)
def _maximum_numba(a, b):
    def impl(a, b):
        return max(a, b)

    return impl


@overload(zeros)
def _zeros_numba(n, like):
    def impl(n, like):
        return np.zeros(n)

    return impl


def stage_function(function):
    """Mark a stage formula as compilable: unchanged in Python, compiled when a numba kernel calls it."""
    return register_jitable(function)


__all__ = ["maximum", "stage_function", "zeros"]
