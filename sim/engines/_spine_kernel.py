"""Compiled next-event kernel of :class:`sim.engines.agents.AgentEngine` (numba; optional extra ``fast``).

Imported lazily by :mod:`sim.engines.agents`; importing this module fails with :class:`ImportError` when numba is
not installed, and the engine then falls back to its pure-numpy stepper. The algorithm is described in the
docstring of :mod:`sim.engines.agents`; this module only holds the jitted functions (``cache=True``: compiled
once per machine and stored next to the module).
"""

from __future__ import annotations

import numpy as np
from numba import njit


def bucket_index(values: np.ndarray, buckets: int) -> tuple[np.ndarray, float]:
    """Bucket table for :func:`_lookup`: start index per bucket of equal width over ``values[0] .. values[-1]``."""
    values = np.asarray(values, dtype=np.float64)
    span = float(values[-1] - values[0])
    if span <= 0.0:
        return np.zeros(1, np.int64), 0.0
    width = span / buckets
    grid = values[0] + width * np.arange(buckets + 1)
    start = np.searchsorted(values, grid, side="right").astype(np.int64) - 1
    return np.clip(start, 0, values.size - 1), 1.0 / width


UNTAGGED = 1
TAGGED = 2


@njit(cache=True, inline="always")
def _lookup(values, start, inv_width, x):  # pragma: no cover - compiled
    """Largest ``k`` with ``values[k] <= x`` (-1 if none), from a bucket table of ``values`` (see ``bucket_index``)."""
    if x < values[0]:
        return -1
    b = int((x - values[0]) * inv_width)
    if b > start.size - 1:
        b = start.size - 1
    k = start[b]
    while k > 0 and values[k] > x:  # guard against rounding in the bucket computation
        k -= 1
    n = values.size
    while k + 1 < n and values[k + 1] <= x:
        k += 1
    return k


@njit(cache=True, inline="always")
def _cumulative(cum, rate, edges, e_start, e_inv, t):  # pragma: no cover - compiled
    """Integrated hazard at time ``t`` of a hazard that is piecewise constant on ``edges``."""
    j = _lookup(edges, e_start, e_inv, t)
    if j < 0:
        j = 0
    if j > rate.size - 1:
        j = rate.size - 1
    return cum[j] + rate[j] * (t - edges[j])


@njit(cache=True, inline="always")
def _invert(cum, rate, c_start, c_inv, edges, target):  # pragma: no cover - compiled
    """First time at which the integrated hazard reaches ``target``, and its step (inf, -1 if after the end)."""
    if target >= cum[-1]:
        return np.inf, -1
    k = _lookup(cum, c_start, c_inv, target)
    return edges[k] + (target - cum[k]) / rate[k], k


@njit(cache=True, inline="always")
def _out_index(out_times, o_start, o_inv, t):  # pragma: no cover - compiled
    """Index of the first output time at or after ``t``."""
    k = _lookup(out_times, o_start, o_inv, t)
    if k >= 0 and out_times[k] == t:
        return k
    return k + 1


@njit(cache=True, inline="always")
def _record(
    birth, tagt, loss, pos, engulfed, rec_birth, rec_tag, rec_loss, rec_pos, rec_eng, n_rec
):  # pragma: no cover
    if n_rec < rec_birth.size:
        rec_birth[n_rec] = birth
        rec_tag[n_rec] = tagt
        rec_loss[n_rec] = loss
        rec_pos[n_rec] = pos
        rec_eng[n_rec] = engulfed
    return n_rec + 1


@njit(cache=True)
def run_segments(
    rng,
    edges,
    e_start,
    e_inv,
    rate_u,
    cum_u,
    u_start,
    u_inv,
    rate_t,
    cum_t,
    t_start,
    t_inv,
    form,
    cum_f,
    f_start,
    f_inv,
    tag,
    eng,
    homeo,
    init_u,
    init_t,
    slot_offset_um,
    segment_length_um,
    first_segment,
    out_times,
    o_start,
    o_inv,
    diff_u,
    diff_t,
    record,
    rec_birth,
    rec_tag,
    rec_loss,
    rec_pos,
    rec_eng,
    n_rec,
):  # pragma: no cover - compiled
    """Simulate segments one after the other with next-event times; returns ``(n_records, blocked_births)``.

    Random sites are chosen as ``int(u * m)`` with a uniform ``u`` (bias below 2**-53, and 8x cheaper than
    ``Generator.integers`` in numba).

    ``rate_u = tag + intrinsic`` and ``rate_t = eng + intrinsic`` are the total per-spine hazards of untagged
    and tagged spines per step, ``form`` the per-segment formation hazard at homeostatic factor 1, ``cum_*``
    their integrals at ``edges`` (length n_steps + 1, starting at 0) and ``*_start``/``*_inv`` bucket tables for
    fast look-up (``bucket_index``). ``homeo[n]`` is the homeostatic factor with ``n`` spines on the segment.
    Count changes are added to ``diff_u``/``diff_t`` at the first output time at or after the event; spine
    lifetimes are written to the ``rec_*`` buffers while they have room (the caller retries with larger buffers
    if the returned count exceeds their size).
    """
    slots = slot_offset_um.size
    n_out = out_times.size
    state = np.zeros(slots, np.uint8)
    next_t = np.full(slots, np.inf)
    next_k = np.zeros(slots, np.int64)
    birth = np.full(slots, np.nan)
    tagt = np.full(slots, np.nan)
    perm = np.arange(slots)
    blocked = 0
    for s in range(init_u.size):
        offset = (first_segment + s) * segment_length_um
        n_untagged = init_u[s]
        n = n_untagged + init_t[s]
        for i in range(slots):  # identity first, so a segment does not depend on the ones before it
            perm[i] = i
        for i in range(n):  # partial Fisher-Yates: n distinct random sites
            j = i + int(rng.random() * (slots - i))
            perm[i], perm[j] = perm[j], perm[i]
        for i in range(n):
            sl = perm[i]
            birth[sl] = np.nan
            tagt[sl] = np.nan
            if i < n_untagged:
                state[sl] = UNTAGGED
                next_t[sl], next_k[sl] = _invert(cum_u, rate_u, u_start, u_inv, edges, rng.standard_exponential())
            else:
                state[sl] = TAGGED
                next_t[sl], next_k[sl] = _invert(cum_t, rate_t, t_start, t_inv, edges, rng.standard_exponential())
        t = 0.0
        tf = np.inf
        redraw = True  # the formation time is redrawn whenever the spine count changes (Markov: valid)
        while True:
            smin = np.inf
            imin = -1
            for i in range(slots):
                if next_t[i] < smin:
                    smin = next_t[i]
                    imin = i
            if redraw:
                tf = np.inf
                g = homeo[n]
                if g > 0.0:
                    target = _cumulative(cum_f, form, edges, e_start, e_inv, t) + rng.standard_exponential() / g
                    tf, _ = _invert(cum_f, form, f_start, f_inv, edges, target)
            redraw = True
            if tf < smin:
                t = tf
                if n >= slots:
                    blocked += 1
                    continue
                r = int(rng.random() * (slots - n))
                sl = -1
                for i in range(slots):
                    if state[i] == 0:
                        if r == 0:
                            sl = i
                            break
                        r -= 1
                state[sl] = UNTAGGED
                birth[sl] = t
                tagt[sl] = np.nan
                target = _cumulative(cum_u, rate_u, edges, e_start, e_inv, t) + rng.standard_exponential()
                next_t[sl], next_k[sl] = _invert(cum_u, rate_u, u_start, u_inv, edges, target)
                n += 1
                idx = _out_index(out_times, o_start, o_inv, t)
                if idx < n_out:
                    diff_u[idx] += 1
                continue
            if imin < 0:
                break
            t = smin
            i = imin
            k = next_k[i]
            idx = _out_index(out_times, o_start, o_inv, t)
            if state[i] == UNTAGGED:
                if idx < n_out:
                    diff_u[idx] -= 1
                if rng.random() * rate_u[k] < tag[k]:
                    state[i] = TAGGED
                    tagt[i] = t
                    target = _cumulative(cum_t, rate_t, edges, e_start, e_inv, t) + rng.standard_exponential()
                    next_t[i], next_k[i] = _invert(cum_t, rate_t, t_start, t_inv, edges, target)
                    if idx < n_out:
                        diff_t[idx] += 1
                    redraw = False  # tagging leaves the spine count and so the formation hazard unchanged
                    continue
                engulfed = 0.0
            else:
                if idx < n_out:
                    diff_t[idx] -= 1
                engulfed = 1.0 if rng.random() * rate_t[k] < eng[k] else 0.0
            state[i] = 0
            next_t[i] = np.inf
            n -= 1
            if record:
                n_rec = _record(
                    birth[i],
                    tagt[i],
                    t,
                    offset + slot_offset_um[i],
                    engulfed,
                    rec_birth,
                    rec_tag,
                    rec_loss,
                    rec_pos,
                    rec_eng,
                    n_rec,
                )
        for i in range(slots):
            if state[i] != 0:
                if record:
                    n_rec = _record(
                        birth[i],
                        tagt[i],
                        np.nan,
                        offset + slot_offset_um[i],
                        np.nan,
                        rec_birth,
                        rec_tag,
                        rec_loss,
                        rec_pos,
                        rec_eng,
                        n_rec,
                    )
                state[i] = 0
                next_t[i] = np.inf
    return n_rec, blocked
