"""Chunks of the agent engine: blocks of consecutive segments of one replicate, each with its own random stream.

Once the deterministic chain is known, the segments of a replicate interact only through the microglial cells,
whose multipliers are fixed for the run; a chunk of ``chunk_segments`` segments is therefore an independent task.
:func:`run_chunk` is pure (its result depends only on its arguments), so chunks can run in this process, on any
number of Dask workers or again after a worker is lost, and :func:`run_chunks` reduces their results in chunk order:
the outputs are bit-identical however the chunks are distributed. See ``docs/agents.md`` ("Chunks, seeds and
Dask").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engines.agents.hazards import SpineHazards
from sim.engines.agents.initial import InitialCounts
from sim.engines.agents.replicate import ReplicateResult, run_replicate
from sim.engines.agents.territories import Territories

_RECORDS = ("birth_h", "tag_h", "loss_h", "position_um", "engulfed", "cell")


@dataclass(frozen=True)
class ChunkPlan:
    """What every chunk of a run shares (small and picklable: sent with each task).

    Parameters
    ----------
    hazards
        Hazards of every spine step.
    initial
        The distribution of a segment's initial counts.
    out_times_h
        Output times [h].
    segments
        Segments per replicate.
    chunk_segments
        Segments per chunk (the last chunk of a replicate may be shorter).
    n_cells
        Microglial cells per replicate.
    cv
        Coefficient of variation of the cells' multipliers [1].
    record_spines, record_cells
        Return per-spine records; return per-cell engulfment counts.
    """

    hazards: SpineHazards
    initial: InitialCounts
    out_times_h: np.ndarray
    segments: int
    chunk_segments: int
    n_cells: int
    cv: float
    record_spines: bool
    record_cells: bool

    @property
    def chunks_per_replicate(self) -> int:
        """Chunks per replicate: ``ceil(segments / chunk_segments)``."""
        return math.ceil(self.segments / self.chunk_segments)

    @property
    def dendrite_um(self) -> float:
        """Dendrite per replicate [um]."""
        return self.segments * self.hazards.segment_length_um


@dataclass(frozen=True)
class Chunk:
    """One task: chunk ``index`` of replicate ``replicate``, its spine stream and the replicate's cell stream."""

    replicate: int
    index: int
    spines: np.random.SeedSequence
    cells: np.random.SeedSequence


def chunks(plan: ChunkPlan, replicate_seeds: Sequence[np.random.SeedSequence]) -> Iterator[Chunk]:
    """Every chunk of the run in its fixed order (replicate by replicate, along the dendrite).

    Replicate ``r`` has the seed sequence ``replicate_seeds[r]``; its cells draw from child 0 of it (spawn key
    ``+ (0,)``), its chunk 0 from the replicate's own sequence and chunk ``k >= 1`` from child ``k``. A chunk's
    stream thus depends only on the seed, ``r`` and ``k``; a replicate of one chunk has the streams it had before
    there were chunks.
    """
    for r, seed in enumerate(replicate_seeds):
        cells = _child(seed, 0)
        for k in range(plan.chunks_per_replicate):
            yield Chunk(r, k, seed if k == 0 else _child(seed, k), cells)


def _child(seed: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """Child ``k`` of ``seed`` as ``seed.spawn`` makes it, without changing ``seed``'s spawn counter."""
    return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k), pool_size=seed.pool_size)


def run_chunk(plan: ChunkPlan, chunk: Chunk, tick: Callable[[int], object] | None = None) -> ReplicateResult:
    """Simulate one chunk: initial counts and spines from the chunk's stream, cells from the replicate's.

    Returns the chunk's spine counts at the output times, blocked births, the engulfments of the cells that
    overlap it (from ``first_cell``, if ``plan.record_cells``) and its spine records (if ``plan.record_spines``,
    positions and cells along the whole replicate).
    """
    rng = np.random.Generator(np.random.PCG64(chunk.spines))
    first = chunk.index * plan.chunk_segments
    count = min(plan.chunk_segments, plan.segments - first)
    init_u, init_t = plan.initial(rng, count)
    length = plan.hazards.segment_length_um
    territory_um = plan.dendrite_um / plan.n_cells
    # cells overlapping the chunk, with one cell of margin on each side against rounding
    c0 = max(0, int(first * length / territory_um) - 1)
    c1 = min(plan.n_cells, int((first + count) * length / territory_um) + 2)
    cells = Territories.block(plan.n_cells, plan.dendrite_um, plan.cv, chunk.cells, c0, c1)
    result = run_replicate(
        plan.hazards,
        init_u,
        init_t,
        rng,
        plan.out_times_h,
        plan.record_spines,
        tick or _ignore,
        cells,
        first_segment=first,
    )
    result.first_cell = c0
    if plan.record_spines:
        result.cell = (cells.cell_of(result.position_um) + c0).astype(np.int32)
    if not plan.record_cells:
        result.cell_engulfed = None
    return result


def _ignore(n: int) -> None:
    pass


def run_chunks(
    plan: ChunkPlan,
    replicate_seeds: Sequence[np.random.SeedSequence],
    client: Any = None,
    tick: Callable[[int], object] = _ignore,
) -> list[ReplicateResult]:
    """Run every chunk (here, or through ``client``) and combine them into one result per replicate.

    ``client`` is ``None`` (this process) or any object with ``submit(fn, *args)`` returning a future with
    ``result()``, such as a ``dask.distributed.Client`` or a ``concurrent.futures`` executor. At most
    :func:`in_flight` chunks are submitted and not yet combined, and results are combined in chunk order, so memory
    is bounded and sums do not depend on which chunk finishes first.
    """
    replicates = [_Replicate(plan) for _ in replicate_seeds]
    for chunk, result in _ordered(plan, chunks(plan, replicate_seeds), client, tick):
        replicates[chunk.replicate].add(result)
    return [r.result() for r in replicates]


def in_flight(client: Any) -> int:
    """Chunks submitted to ``client`` ahead of the one being combined: twice its threads (Dask), or 8."""
    nthreads = getattr(client, "nthreads", None)
    if callable(nthreads):
        return max(2, 2 * sum(nthreads().values()))
    return 8


def _ordered(
    plan: ChunkPlan, todo: Iterator[Chunk], client: Any, tick: Callable[[int], object]
) -> Iterator[tuple[Chunk, ReplicateResult]]:
    """Chunk results in chunk order, with a bounded number of chunks in flight."""
    if client is None:
        for chunk in todo:
            yield chunk, run_chunk(plan, chunk, tick)
        return
    window = in_flight(client)
    pending: deque[tuple[Chunk, Any]] = deque()
    for chunk in todo:
        pending.append((chunk, client.submit(run_chunk, plan, chunk)))
        if len(pending) >= window:
            yield _done(plan, *pending.popleft(), tick)
    while pending:
        yield _done(plan, *pending.popleft(), tick)


def _done(plan: ChunkPlan, chunk: Chunk, future: Any, tick: Callable[[int], object]) -> tuple[Chunk, ReplicateResult]:
    result = future.result()
    tick(min(plan.chunk_segments, plan.segments - chunk.index * plan.chunk_segments))
    return chunk, result


class _Replicate:
    """Sum of a replicate's chunk results, added in chunk order."""

    def __init__(self, plan: ChunkPlan) -> None:
        n_out = plan.out_times_h.size
        self.untagged, self.tagged, self.blocked = np.zeros(n_out, np.int64), np.zeros(n_out, np.int64), 0
        self.cell_engulfed = np.zeros(plan.n_cells, np.int64) if plan.record_cells else None
        self.records: dict[str, list[np.ndarray]] | None = {k: [] for k in _RECORDS} if plan.record_spines else None

    def add(self, result: ReplicateResult) -> None:
        self.untagged += result.untagged
        self.tagged += result.tagged
        self.blocked += result.blocked_births
        if self.cell_engulfed is not None:
            block = result.cell_engulfed
            self.cell_engulfed[result.first_cell : result.first_cell + block.size] += block
        if self.records is not None:
            for key, values in self.records.items():
                values.append(getattr(result, key))

    def result(self) -> ReplicateResult:
        out = ReplicateResult(self.untagged, self.tagged, int(self.blocked), cell_engulfed=self.cell_engulfed)
        if self.records is not None:
            for key, values in self.records.items():
                setattr(out, key, values[0] if len(values) == 1 else np.concatenate(values))
                values.clear()
        return out
