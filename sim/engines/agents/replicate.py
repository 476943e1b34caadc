"""Consecutive segments of one replicate through the kernel: tables, kernel calls, and the record buffers.

:func:`run_replicate` prepares the integrated-hazard tables of :mod:`sim.engines.agents.kernel`, calls it on
blocks of segments (progress granularity; results do not depend on the block size) and replays a call with larger
record buffers if they overflow (same random stream, so the same result). It runs a whole replicate or one chunk of
it (:mod:`sim.engines.agents.chunks`). See ``docs/agents.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.engines.agents import kernel
from sim.engines.agents.hazards import SpineHazards
from sim.engines.agents.territories import Territories

_CALL_SEGMENTS = 4096  # segments per kernel call (progress granularity; results do not depend on it)
_RECORD_HEADROOM = 1.2  # record buffer / expected spine lifetimes; a call is replayed with more room if exceeded


@dataclass
class ReplicateResult:
    """Spine counts at the output times and, optionally, one record per spine lifetime (times in hours).

    The result of a whole replicate, or of one chunk of consecutive segments (then ``cell_engulfed`` starts at
    cell ``first_cell`` of the replicate).

    Parameters
    ----------
    untagged, tagged
        Spines on the replicate's whole dendrite at each output time [1].
    blocked_births
        Births that found every site of their segment occupied [1].
    birth_h, tag_h, loss_h
        Per spine lifetime: birth, tagging and loss time [h] (NaN: before time zero, never, or still present).
    position_um
        Per spine lifetime: position along the replicate's dendrite [um].
    engulfed
        Per spine lifetime: 1 engulfed, 0 lost otherwise, NaN still present [1].
    cell
        Per spine lifetime: index of the microglial cell whose territory holds the spine.
    cell_engulfed
        Spines engulfed by each cell over the run [1].
    first_cell
        Index in the replicate of the first cell of ``cell_engulfed``.
    """

    untagged: np.ndarray
    tagged: np.ndarray
    blocked_births: int
    birth_h: np.ndarray | None = None
    tag_h: np.ndarray | None = None
    loss_h: np.ndarray | None = None
    position_um: np.ndarray | None = None
    engulfed: np.ndarray | None = None
    cell: np.ndarray | None = None
    cell_engulfed: np.ndarray | None = None
    first_cell: int = 0


def run_replicate(
    h: SpineHazards,
    init_u: np.ndarray,
    init_t: np.ndarray,
    rng: np.random.Generator,
    out_times_h: np.ndarray,
    record: bool,
    tick: Callable[[int], object],
    cells: Territories | None = None,
    first_segment: int = 0,
) -> ReplicateResult:
    """Simulate consecutive segments of one replicate with the next-event kernel.

    Parameters
    ----------
    h
        Hazards of every step.
    init_u, init_t
        Untagged and tagged spines on each segment at time zero [1].
    rng
        The replicate's generator (its state advances).
    out_times_h
        Output times [h], increasing.
    record
        Keep one record per spine lifetime.
    tick
        Called with the number of segments done after each kernel call (progress bar).
    cells
        The microglial cells whose territories cover these segments (positions along the replicate's dendrite);
        default one cell with multiplier 1.
    first_segment
        Index in the replicate of the first segment (sets the spine positions).
    """
    if cells is None:
        cells = Territories.single((first_segment + init_u.size) * h.segment_length_um)
    territory_edges = np.ascontiguousarray(cells.edges_um, dtype=np.float64)
    multiplier = np.ascontiguousarray(cells.multiplier, dtype=np.float64)
    cell_engulfed = np.zeros(cells.n_cells, np.int64)
    edges = np.ascontiguousarray(h.edges_h, dtype=np.float64)
    widths = np.diff(edges)
    buckets = 4 * edges.size
    tables = [edges, *kernel.bucket_index(edges, buckets)]
    cum = []
    for rate in (h.tagging, h.engulfment, h.formation):
        rate = np.ascontiguousarray(rate, dtype=np.float64)
        cum.append(np.concatenate([[0.0], np.cumsum(rate * widths)]))
        tables += [rate, cum[-1], *kernel.bucket_index(cum[-1], buckets)]
    out_times = np.ascontiguousarray(out_times_h, dtype=np.float64)
    out_tables = [out_times, *kernel.bucket_index(out_times, 4 * out_times.size)]
    n_out = out_times.size
    diff_u = np.zeros(n_out, np.int64)
    diff_t = np.zeros(n_out, np.int64)
    # spine lifetimes to expect: initial spines + births at the homeostatic factor of the mean initial count
    mean_count = int(round(float(np.mean(init_u + init_t)))) if init_u.size else 0
    births = init_u.size * float(cum[2][-1]) * float(h.homeostasis[min(mean_count, h.slots)])
    capacity = int(_RECORD_HEADROOM * (init_u.sum() + init_t.sum() + births)) + 64 if record else 1
    buffers = [np.full(capacity, np.nan) for _ in range(5)]
    n_rec, blocked = 0, 0
    work_f, work_i = np.empty((6, h.slots)), np.empty((4, h.slots), np.int64)  # kernel scratch (it allocates nothing)
    for start in range(0, init_u.size, _CALL_SEGMENTS):
        stop = min(start + _CALL_SEGMENTS, init_u.size)
        saved = rng.bit_generator.state
        while True:
            chunk_u = np.zeros(n_out, np.int64)
            chunk_t = np.zeros(n_out, np.int64)
            chunk_engulfed = np.zeros(cells.n_cells, np.int64)
            new_rec, new_blocked = kernel.run_segments(
                rng,
                *tables,
                float(h.intrinsic),
                h.homeostasis,
                init_u[start:stop],
                init_t[start:stop],
                h.slot_offsets_um,
                float(h.segment_length_um),
                first_segment + start,
                territory_edges,
                multiplier,
                chunk_engulfed,
                *out_tables,
                chunk_u,
                chunk_t,
                record,
                *buffers,
                n_rec,
                work_f,
                work_i,
            )
            if new_rec <= buffers[0].size:
                break
            rng.bit_generator.state = saved  # replay the call with room for every record: same random stream
            grown = int(max(1.25 * buffers[0].size, new_rec + 4 * (new_rec - n_rec)))
            buffers = [np.concatenate([buf, np.full(grown - buf.size, np.nan)]) for buf in buffers]
        n_rec, blocked = new_rec, blocked + new_blocked
        diff_u += chunk_u
        diff_t += chunk_t
        cell_engulfed += chunk_engulfed
        tick(stop - start)
    result = ReplicateResult(
        int(init_u.sum()) + np.cumsum(diff_u),
        int(init_t.sum()) + np.cumsum(diff_t),
        int(blocked),
        cell_engulfed=cell_engulfed,
    )
    if record:
        # views: each buffer is freed once the engine has copied its field into the padded output
        result.birth_h, result.tag_h, result.loss_h, result.position_um, result.engulfed = (
            buf[:n_rec] for buf in buffers
        )
    return result
