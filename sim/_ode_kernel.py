"""Optional numba kernel of the mean-field right-hand side (the same arithmetic as ``PruningModel.rhs``).

``load()`` returns the jitted kernel, or ``None`` when numba is not installed or ``SYNAPRUNE_NO_NUMBA=1`` is set;
the pure-Python closure in :meth:`sim.model.PruningModel.compiled_rhs` is then used. Both are checked against
the readable stage-by-stage ``PruningModel.rhs`` in ``tests/test_model.py``.

Layout of the constant vector ``p`` (all per hour unless stated)::

    0 has_tspo  1 k_act  2 k_deact  3 k_tspo  4 k_c1q  5 ec50^n  6 hill  7 coupling  8 resting_tspo
    9 induction_fold  10 responsiveness  11 c1q_gain  12 engulfment_gain  13 microglia_density
    14 S0  15 gamma  16 f_max  17 beta0  18 beta_A  19 k_tag  20 k_eng  21 e_int
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np


def _kernel(y, infusion, matrix, inputs, compounds, p):  # pragma: no cover - compiled by numba
    n_pk = matrix.shape[0]
    out = np.empty(n_pk + 5)
    for i in range(n_pk):
        s = inputs[i] * infusion
        for j in range(n_pk):
            s += matrix[i, j] * y[j]
        out[i] = s
    agonism = 0.0
    if p[0] > 0.0:
        total = 0.0
        weighted = 0.0
        for k in range(n_pk - 1):
            free = compounds[0, k] * y[k + 1]
            if free > 0.0:
                ratio = free * compounds[1, k]
                total += ratio
                weighted += ratio * compounds[2, k]
        agonism = weighted / (1.0 + total)
    activation = y[n_pk]
    tspo = y[n_pk + 1]
    c1q = y[n_pk + 2]
    untagged = y[n_pk + 3]
    tagged = y[n_pk + 4]
    drive = agonism * max(tspo, 0.0) ** p[7] * p[10]
    stimulus = 0.0
    if drive > 0.0:
        drive_n = drive ** p[6]
        stimulus = drive_n / (drive_n + p[5])
    out[n_pk] = p[1] * stimulus * (1.0 - activation) - p[2] * activation
    out[n_pk + 1] = p[3] * (p[8] * (1.0 + (p[9] - 1.0) * activation) - tspo)
    out[n_pk + 2] = p[4] * (1.0 + p[11] * activation - c1q)
    spines = untagged + tagged
    homeostasis = max(0.0, 1.0 + p[15] * (p[14] - spines) / p[14])
    formed = p[16] * homeostasis * max(0.0, 1.0 - p[13] * (p[17] + p[18] * activation))
    tag = p[19] * p[13] * c1q * untagged
    eaten = p[20] * p[13] * (1.0 + p[12] * activation) * tagged
    out[n_pk + 3] = formed - tag - p[21] * untagged
    out[n_pk + 4] = tag - eaten - p[21] * tagged
    return out


@lru_cache(maxsize=1)
def load():
    """The numba-compiled kernel, or ``None`` if numba is unavailable or disabled."""
    if os.environ.get("SYNAPRUNE_NO_NUMBA", "") not in ("", "0"):
        return None
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, fastmath=False)(_kernel)
