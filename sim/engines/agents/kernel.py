"""Compiled next-event kernel of the agent engine (numba, ``cache=True``: compiled once per machine).

Only the jitted functions and the bucket tables they search; :mod:`sim.engines.agents.replicate` prepares their
arguments. The algorithm (two clocks per spine, exact inversion of piecewise-constant hazards) is described in
``docs/agents.md``.
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


@njit(cache=True, _nrt=False, inline="always")
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


@njit(cache=True, _nrt=False, inline="always")
def _cumulative(cum, rate, edges, e_start, e_inv, t):  # pragma: no cover - compiled
    """Integrated hazard at time ``t`` of a hazard that is piecewise constant on ``edges``."""
    j = _lookup(edges, e_start, e_inv, t)
    if j < 0:
        j = 0
    if j > rate.size - 1:
        j = rate.size - 1
    return cum[j] + rate[j] * (t - edges[j])


@njit(cache=True, _nrt=False, inline="always")
def _invert(cum, rate, c_start, c_inv, edges, target):  # pragma: no cover - compiled
    """First time at which the integrated hazard reaches ``target``, and its step (inf, -1 if after the end)."""
    if target >= cum[-1]:
        return np.inf, -1
    k = _lookup(cum, c_start, c_inv, target)
    return edges[k] + (target - cum[k]) / rate[k], k


@njit(cache=True, _nrt=False, inline="always")
def _out_index(out_times, o_start, o_inv, t):  # pragma: no cover - compiled
    """Index of the first output time at or after ``t``."""
    k = _lookup(out_times, o_start, o_inv, t)
    if k >= 0 and out_times[k] == t:
        return k
    return k + 1


@njit(cache=True, _nrt=False, inline="always")
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


@njit(cache=True, _nrt=False, inline="always")
def _next_microglial(cum, rate, c_start, c_inv, edges, e_start, e_inv, t, multiplier, rng):  # pragma: no cover
    """Next tagging or engulfment time after ``t`` for a hazard ``multiplier * rate`` (time change of ``cum``).

    The integrated hazard is ``multiplier * cum``, so the Exp(1) threshold divided by the multiplier is inverted in
    the shared table of ``rate``: every cell uses the same table whatever its multiplier.
    """
    if multiplier <= 0.0:
        return np.inf
    target = _cumulative(cum, rate, edges, e_start, e_inv, t) + rng.standard_exponential() / multiplier
    when, _ = _invert(cum, rate, c_start, c_inv, edges, target)
    return when


@njit(cache=True, _nrt=False, inline="always")
def _next_intrinsic(t, intrinsic, end, rng):  # pragma: no cover - compiled
    """Time of the microglia-independent loss of a spine alive at ``t`` (constant hazard; inf after ``end``)."""
    if intrinsic <= 0.0:
        return np.inf
    when = t + rng.standard_exponential() / intrinsic
    return when if when < end else np.inf


@njit(cache=True, _nrt=False)
def run_segments(
    rng,
    edges,
    e_start,
    e_inv,
    tag,
    cum_a,
    a_start,
    a_inv,
    eng,
    cum_b,
    b_start,
    b_inv,
    form,
    cum_f,
    f_start,
    f_inv,
    intrinsic,
    homeo,
    init_u,
    init_t,
    slot_offset_um,
    segment_length_um,
    first_segment,
    territory_edges_um,
    multiplier,
    cell_engulfed,
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
    work_f,
    work_i,
):  # pragma: no cover - compiled
    """Simulate segments one after the other with next-event times; returns ``(n_records, blocked_births)``.

    Random sites are chosen as ``int(u * m)`` with a uniform ``u`` (bias below 2**-53, and 8x cheaper than
    ``Generator.integers`` in numba).

    ``tag`` and ``eng`` are the mean-field tagging and engulfment hazards per step, ``form`` the per-segment
    formation hazard at homeostatic factor 1, ``cum_*`` their integrals at ``edges`` (length n_steps + 1,
    starting at 0) and ``*_start``/``*_inv`` bucket tables for fast look-up (``bucket_index``); ``intrinsic`` is
    the constant microglia-independent loss hazard and ``homeo[n]`` the homeostatic factor with ``n`` spines on
    the segment. Microglial cell ``c`` owns the dendrite from ``territory_edges_um[c]`` to
    ``territory_edges_um[c + 1]`` and multiplies the tagging and engulfment hazards of the spines there by
    ``multiplier[c]``; its engulfments are added to ``cell_engulfed[c]``. Each spine carries two independent
    clocks (competing risks): a microglial one (tagging, then engulfment) and an intrinsic one, drawn once per
    lifetime because the intrinsic hazard does not depend on the tag.

    Count changes are added to ``diff_u``/``diff_t`` at the first output time at or after the event; spine
    lifetimes are written to the ``rec_*`` buffers while they have room (the caller retries with larger buffers
    if the returned count exceeds their size). ``work_f`` (6 x slots, float64) and ``work_i`` (4 x slots, int64)
    are scratch space: the kernel allocates nothing, so it is compiled without the numba runtime (``_nrt=False``)
    and pays no atomic reference counting on its array arguments (with it, incref/decref took about 2/3 of the
    run time).
    """
    slots = slot_offset_um.size
    n_out = out_times.size
    n_cells = multiplier.size
    end = edges[-1]
    state = work_i[0]  # 0 empty, UNTAGGED, TAGGED
    cell = work_i[1]  # microglial cell of each site
    order = work_i[2]  # order[:n]: occupied sites, order[n:]: empty sites
    where = work_i[3]  # where[order[j]] == j
    next_t = work_f[0]  # min of the two clocks below: the only array scanned per event
    next_m = work_f[1]  # microglial clock: next tagging (untagged) or engulfment (tagged)
    next_i = work_f[2]  # intrinsic clock
    mult = work_f[3]  # multiplier of the site's cell
    birth = work_f[4]
    tagt = work_f[5]
    for i in range(slots):
        state[i] = 0
        next_t[i] = np.inf
        next_m[i] = np.inf
        next_i[i] = np.inf
    blocked = 0
    c = 0
    for s in range(init_u.size):
        offset = (first_segment + s) * segment_length_um
        if s == 0:
            c = max(0, min(np.searchsorted(territory_edges_um, offset, side="right") - 1, n_cells - 1))
        for i in range(slots):  # positions increase along the segment: walk the territory edges forward
            x = offset + slot_offset_um[i]
            while c + 1 < n_cells and territory_edges_um[c + 1] <= x:
                c += 1
            cell[i] = c
            mult[i] = multiplier[c]
        n_untagged = init_u[s]
        n = n_untagged + init_t[s]
        for i in range(slots):  # identity first, so a segment does not depend on the ones before it
            order[i] = i
        for i in range(n):  # partial Fisher-Yates: n distinct random sites
            j = i + int(rng.random() * (slots - i))
            order[i], order[j] = order[j], order[i]
        for i in range(slots):
            where[order[i]] = i
        for i in range(n):
            sl = order[i]
            birth[sl] = np.nan
            tagt[sl] = np.nan
            if i < n_untagged:
                state[sl] = UNTAGGED
                next_m[sl] = _next_microglial(cum_a, tag, a_start, a_inv, edges, e_start, e_inv, 0.0, mult[sl], rng)
            else:
                state[sl] = TAGGED
                next_m[sl] = _next_microglial(cum_b, eng, b_start, b_inv, edges, e_start, e_inv, 0.0, mult[sl], rng)
            next_i[sl] = _next_intrinsic(0.0, intrinsic, end, rng)
            next_t[sl] = min(next_m[sl], next_i[sl])
        t = 0.0
        tf = np.inf
        redraw = True  # the formation time is redrawn whenever the spine count changes (Markov: valid)
        while True:
            smin = np.inf
            imin = -1
            for j in range(n):  # occupied sites only
                i = order[j]
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
                j = n + int(rng.random() * (slots - n))  # a uniformly chosen empty site
                sl = order[j]
                other = order[n]
                order[n], order[j] = sl, other
                where[sl], where[other] = n, j
                state[sl] = UNTAGGED
                birth[sl] = t
                tagt[sl] = np.nan
                next_m[sl] = _next_microglial(cum_a, tag, a_start, a_inv, edges, e_start, e_inv, t, mult[sl], rng)
                next_i[sl] = _next_intrinsic(t, intrinsic, end, rng)
                next_t[sl] = min(next_m[sl], next_i[sl])
                n += 1
                idx = _out_index(out_times, o_start, o_inv, t)
                if idx < n_out:
                    diff_u[idx] += 1
                continue
            if imin < 0:
                break
            t = smin
            i = imin
            idx = _out_index(out_times, o_start, o_inv, t)
            microglial = next_m[i] < next_i[i]
            if state[i] == UNTAGGED:
                if idx < n_out:
                    diff_u[idx] -= 1
                if microglial:
                    state[i] = TAGGED
                    tagt[i] = t
                    next_m[i] = _next_microglial(cum_b, eng, b_start, b_inv, edges, e_start, e_inv, t, mult[i], rng)
                    next_t[i] = min(next_m[i], next_i[i])
                    if idx < n_out:
                        diff_t[idx] += 1
                    redraw = False  # tagging leaves the spine count and so the formation hazard unchanged
                    continue
                engulfed = 0.0
            else:
                if idx < n_out:
                    diff_t[idx] -= 1
                engulfed = 1.0 if microglial else 0.0
                if microglial:
                    cell_engulfed[cell[i]] += 1
            state[i] = 0
            next_t[i] = np.inf
            next_m[i] = np.inf
            next_i[i] = np.inf
            n -= 1
            j = where[i]  # move the last occupied site into the freed place
            other = order[n]
            order[j], order[n] = other, i
            where[other], where[i] = j, n
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
                next_m[i] = np.inf
                next_i[i] = np.inf
    return n_rec, blocked
