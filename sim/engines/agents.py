r"""Stochastic agent engine: individual dendritic spines driven by the same model as the ODE engine.

Engine stage: :class:`AgentEngine` (``engine=agents``). Nothing here is a second parameter set: every rate comes
from the stages of :class:`sim.model.PruningModel`.

Coupling (one-way)
    The deterministic chain dosing → PK → binding → microglial activation :math:`A`, C1q :math:`Q` is integrated by
    :class:`sim.engines.ode.OdeEngine` on a grid that contains the output times and the midpoints of the spine
    steps. Spines do not feed back into the microglia, so the ODE's own spine states are simply not used for the
    agent outputs.

Hazards (piecewise constant over each spine step of at most ``dt_h``)
    Within step :math:`j` the upstream signals are frozen at the step midpoint and the per-spine hazards are
    exactly the mean-field ones, obtained by calling the :class:`sim.spines.SpineTurnover` fluxes with unit
    density: tagging of an untagged spine :math:`a_j = k_{tag}\,n\,Q_j`, engulfment of a tagged spine
    :math:`b_j = k_{eng}\,n\,E_j` with :math:`E_j = 1 + g_E A_j`, intrinsic loss :math:`e_{int}` of every spine.
    New spines appear on each segment of length :math:`L` as a Poisson process with rate
    :math:`F(S_{seg}, A_j, n)\,L`, where the homeostatic term uses the segment's own density
    :math:`S_{seg} = N_{seg}/L` (the formation flux is factorised as ``formation(S0, A, n) * g(N)``; the engine
    checks that this factorisation reproduces ``SpineTurnover.formation`` and refuses to run otherwise).
    Because every hazard is linear in the spine states (up to the clip of :math:`g` at 0, reached only far
    above baseline), the mean over replicates follows the ODE exactly up to the midpoint rule
    (``tests/test_agents.py`` checks agreement within 5 standard errors).

Microglial contacts
    Microglial processes visit each spine as a Poisson process of rate :math:`\nu n` (``contact_rate_per_h``,
    about once per hour in resting cortex, Wake et al. 2009; a microglia density :math:`n < 1` after depletion
    means larger territories, so each spine is visited less often). Tagging and engulfment happen only at a
    contact: at each contact an untagged spine is tagged with probability :math:`p_{tag} = k_{tag} Q/\nu` and a
    tagged one is engulfed with probability :math:`p_{eng} = k_{eng} E/\nu`. Productive contacts are then a
    thinned Poisson process with rates :math:`\nu n p_{tag} = k_{tag} n Q` and :math:`\nu n p_{eng} = k_{eng} n
    E`, i.e. exactly the mean-field hazards, and a spine needs a second contact to be engulfed after being tagged.
    Contacts that change nothing are not generated (they would cost one random number per spine per hour and
    change no state), so the contact rate enters the simulation through the requirement
    :math:`p_{tag}, p_{eng} \le 1` (checked at every step; a :class:`~sim.core.params.ConfigError` names
    ``engine.contact_rate_per_h`` otherwise) and through the animation (:mod:`sim.animate`), which draws the
    unproductive contacts from the same process. Contacts are treated as instantaneous; with contacts of about
    5 min and :math:`p \lesssim 0.1` the chance of two events within one contact is negligible. All microglia share
    the mean-field state (one-way coupling, no cell-to-cell variability), so no per-cell state is stored.

Spines
    Each segment has ``slots = ceil(capacity_factor × S0 × L) + 4`` spine sites at fixed positions
    ``(i + 0.5) L / slots`` (a new spine takes a uniformly chosen empty site); a site is empty, untagged or tagged.
    A birth that finds every site occupied is dropped and counted (``agent_blocked_births``; a warning suggests
    a larger ``capacity_factor``). Initial counts per segment are drawn from the exact stationary distribution
    of the two-type birth-death chain at the time-zero rates (a sparse linear solve) when its mean equals the
    ODE's initial spine state (the drug-free steady state); otherwise (e.g. a depletion transient still under
    way at time zero) from independent Poisson counts with the ODE means (``agent_initial_distribution``).

Backends
    ``numba`` (default when installed): a compiled next-event kernel. Segments are simulated one after the
    other; each spine's next event time is drawn once by inverting the integrated piecewise-constant hazard of
    its state (an Exp(1) threshold), which event happens is decided by the hazard ratio in that step, and the
    segment's next formation time is redrawn after every event on that segment (valid because the process is
    Markov). Event times are exact for the piecewise-constant hazards and the cost is per event, not per
    spine-step. ``numpy``: a vectorised stepper over all sites with the exact per-step transition
    probabilities of the three-state chain untagged → tagged → lost (e.g. :math:`1 - e^{-(b + e)\Delta t}` for
    the loss of a tagged spine) and Poisson births with the segment density frozen at the start of the step
    (an :math:`O(\Delta t)` approximation of the homeostatic feedback); event times inside a step are placed
    uniformly. Both backends sample the same process; they use the random stream differently and so do not
    give identical numbers.

Reproducibility
    ``rng.spawn(replicates)`` gives one generator per replicate (``sim.run`` seeds ``rng`` with
    ``RunConfig.seed``); replicate ``i`` depends only on the seed and ``i``. The same seed, backend and machine
    give bitwise-identical results, whatever the progress bar does.

Outputs
    The same dictionary as :class:`sim.engines.ode.OdeEngine` (``PruningModel.readouts`` and
    ``PruningModel.spine_readouts``); spine-derived variables get a leading ``replicate`` axis. Formation and
    elimination rates are the model's hazards evaluated at each replicate's densities (expected events per
    day, not counted events). With ``record_spines`` one row per spine lifetime: ``birth_time`` (NaN: present at
    time zero), ``tag_time``, ``loss_time`` (NaN: still present), ``engulfed`` and ``spine_position`` along the
    replicate's dendrite (segments laid end to end), padded with NaN along ``spine``.
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from sim.core.params import ConfigError, check_choice, check_positive, param
from sim.engines.ode import OdeEngine
from sim.model import PruningModel

BACKENDS = ("auto", "numba", "numpy")
_CHUNK_SEGMENTS = 4096  # segments per kernel call (progress granularity; results do not depend on it)
_MAX_STATIONARY_STATES = 200_000
_RECORD_HEADROOM = 1.2  # record buffer / expected spine lifetimes; a chunk is replayed with more room if exceeded


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    """The compiled kernel module, or None when numba is not installed."""
    try:
        from sim.engines import _spine_kernel
    except ImportError:
        return None
    return _spine_kernel


def numba_available() -> bool:
    """True if the compiled backend can be used (numba importable)."""
    return _kernel() is not None


@dataclass
class SpineHazards:
    """Per-step hazards that drive the spines of one segment type (piecewise constant on ``edges_h``).

    Parameters
    ----------
    edges_h
        Step edges [h], increasing, starting at 0 (length n_steps + 1).
    tagging
        Tagging hazard of an untagged spine in each step [1/h].
    engulfment
        Engulfment hazard of a tagged spine in each step [1/h].
    intrinsic
        Microglia-independent loss hazard of every spine [1/h].
    formation
        Formation hazard of a whole segment at homeostatic factor 1 in each step [1/h].
    homeostasis
        Homeostatic factor for ``n = 0 .. slots`` spines on a segment [1]; its length sets the number of sites.
    segment_length_um
        Segment length [um].
    """

    edges_h: np.ndarray
    tagging: np.ndarray
    engulfment: np.ndarray
    intrinsic: float
    formation: np.ndarray
    homeostasis: np.ndarray
    segment_length_um: float

    @property
    def slots(self) -> int:
        """Spine sites per segment."""
        return self.homeostasis.size - 1

    @property
    def slot_offsets_um(self) -> np.ndarray:
        """Position of each site from the start of its segment [um]."""
        return (np.arange(self.slots) + 0.5) * (self.segment_length_um / self.slots)


@dataclass
class ReplicateResult:
    """Spine counts at the output times and, optionally, one record per spine lifetime (times in hours)."""

    untagged: np.ndarray
    tagged: np.ndarray
    blocked_births: int
    birth_h: np.ndarray | None = None
    tag_h: np.ndarray | None = None
    loss_h: np.ndarray | None = None
    position_um: np.ndarray | None = None
    engulfed: np.ndarray | None = None


def stationary_distribution(
    formation: float, homeostasis: np.ndarray, tagging: float, engulfment: float, intrinsic: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stationary distribution of (untagged, tagged) counts on one segment for constant hazards.

    Parameters
    ----------
    formation
        Segment formation hazard at homeostatic factor 1 [1/h].
    homeostasis
        Homeostatic factor for 0 .. slots spines [1].
    tagging, engulfment, intrinsic
        Per-spine hazards [1/h].

    Returns
    -------
    untagged, tagged, probability
        One entry per state ``untagged + tagged <= slots``.
    """
    slots = homeostasis.size - 1
    n_states = (slots + 1) * (slots + 2) // 2
    if n_states > _MAX_STATIONARY_STATES:
        raise ConfigError(
            f"engine.segment_length_um is too long: {slots} spine sites per segment; use more, shorter segments "
            f"(at most about {int(math.sqrt(2 * _MAX_STATIONARY_STATES))} sites)"
        )
    total = np.repeat(np.arange(slots + 1), np.arange(1, slots + 2))
    tagged = np.arange(n_states) - total * (total + 1) // 2
    untagged = total - tagged

    def index(n: np.ndarray, t: np.ndarray) -> np.ndarray:
        return n * (n + 1) // 2 + t

    src, dst, rate = [], [], []
    ok = total < slots
    src.append(np.flatnonzero(ok))
    dst.append(index(total[ok] + 1, tagged[ok]))
    rate.append(formation * homeostasis[total[ok]])
    ok = untagged > 0
    src += [np.flatnonzero(ok), np.flatnonzero(ok)]
    dst += [index(total[ok], tagged[ok] + 1), index(total[ok] - 1, tagged[ok])]
    rate += [tagging * untagged[ok], intrinsic * untagged[ok]]
    ok = tagged > 0
    src.append(np.flatnonzero(ok))
    dst.append(index(total[ok] - 1, tagged[ok] - 1))
    rate.append((engulfment + intrinsic) * tagged[ok])
    src_all, dst_all, rate_all = np.concatenate(src), np.concatenate(dst), np.concatenate(rate)
    keep = rate_all > 0
    src_all, dst_all, rate_all = src_all[keep], dst_all[keep], rate_all[keep]
    out = np.bincount(src_all, weights=rate_all, minlength=n_states)
    generator_t = scipy.sparse.coo_matrix(
        (
            np.concatenate([rate_all, -out]),
            (np.concatenate([dst_all, np.arange(n_states)]), np.concatenate([src_all, np.arange(n_states)])),
        ),
        shape=(n_states, n_states),
    ).tolil()
    generator_t[0, :] = np.ones(n_states)  # replace one balance equation by the normalisation
    rhs = np.zeros(n_states)
    rhs[0] = 1.0
    probability = scipy.sparse.linalg.spsolve(generator_t.tocsc(), rhs)
    probability = np.clip(probability, 0.0, None)
    return untagged, tagged, probability / probability.sum()


def _transition_probabilities(a: float, b: float, e: float, dt: float) -> tuple[float, float, float]:
    """Exact one-step probabilities untagged→untagged, untagged→tagged, tagged→tagged for constant hazards."""
    p_uu = math.exp(-(a + e) * dt)
    p_tt = math.exp(-(b + e) * dt)
    x = (a - b) * dt
    factor = -math.expm1(-x) / x if x != 0.0 else 1.0
    return p_uu, a * dt * p_tt * factor, p_tt


def _run_numpy(
    h: SpineHazards,
    init_u: np.ndarray,
    init_t: np.ndarray,
    rng: np.random.Generator,
    out_times_h: np.ndarray,
    record: bool,
    tick: Any,
) -> ReplicateResult:
    """Vectorised stepper over all sites of one replicate (see the module docstring)."""
    n_seg, slots, edges = init_u.size, h.slots, h.edges_h
    rank = np.argsort(np.argsort(rng.random((n_seg, slots)), axis=1), axis=1)
    state = np.zeros((n_seg, slots), np.uint8)
    state[rank < init_u[:, None]] = 1
    state[(rank >= init_u[:, None]) & (rank < (init_u + init_t)[:, None])] = 2
    flat = state.reshape(-1)
    n_on_segment = (init_u + init_t).astype(np.int64)
    n_u, n_t = int(init_u.sum()), int(init_t.sum())
    out_index = np.searchsorted(out_times_h, edges)
    is_out = (out_index < out_times_h.size) & (out_times_h[np.minimum(out_index, out_times_h.size - 1)] == edges)
    counts_u = np.zeros(out_times_h.size, np.int64)
    counts_t = np.zeros(out_times_h.size, np.int64)
    if is_out[0]:
        counts_u[out_index[0]], counts_t[out_index[0]] = n_u, n_t
    birth = np.full(flat.size, np.nan) if record else None  # per-site histories only for records
    tag_time = np.full(flat.size, np.nan) if record else None
    records: list[tuple[np.ndarray, ...]] = []
    blocked = 0
    e = h.intrinsic
    for j in range(edges.size - 1):
        t0, dt = edges[j], edges[j + 1] - edges[j]
        a, b = float(h.tagging[j]), float(h.engulfment[j])
        p_uu, p_ut, p_tt = _transition_probabilities(a, b, e, dt)
        n_start = n_on_segment.copy()
        occupied = np.flatnonzero(flat)
        draw = rng.random(occupied.size)
        current = flat[occupied]
        was_untagged = current == 1
        moved = np.where(was_untagged, draw >= p_uu, draw >= p_tt)
        if moved.any():
            sites, from_untagged, u = occupied[moved], was_untagged[moved], draw[moved]
            to_tagged = from_untagged & (u < p_uu + p_ut)
            lost = ~to_tagged
            when = t0 + rng.random(sites.size) * dt
            # cause of loss: tagged spines are engulfed with probability b/(b+e); untagged spines lost within the
            # step went through tagging first with the probability below, and were then engulfed with b/(b+e)
            lost_u = 1.0 - p_uu - p_ut
            via_tag = (a / (a + e) * (1.0 - p_uu) - p_ut) / lost_u if lost_u > 0 and a + e > 0 else 0.0
            p_eng = np.where(from_untagged, via_tag, 1.0) * (b / (b + e) if b + e > 0 else 0.0)
            engulfed = rng.random(sites.size) < p_eng
            flat[sites[to_tagged]] = 2
            flat[sites[lost]] = 0
            np.subtract.at(n_on_segment, sites[lost] // slots, 1)
            n_u -= int(from_untagged.sum())
            n_t += int(to_tagged.sum()) - int((~from_untagged).sum())
            if record:
                tag_time[sites[to_tagged]] = when[to_tagged]
                gone = sites[lost]
                new_tag = np.where(from_untagged[lost] & engulfed[lost], when[lost], tag_time[gone])
                records.append((birth[gone], new_tag, when[lost], gone, engulfed[lost].astype(float)))
                birth[gone] = np.nan
                tag_time[gone] = np.nan
        births = rng.poisson(h.formation[j] * dt * h.homeostasis[n_start])
        for m in range(int(births.max(initial=0))):
            rows = np.flatnonzero(births > m)
            full = n_on_segment[rows] >= slots
            blocked += int(full.sum())
            rows = rows[~full]
            keys = rng.random((rows.size, slots))
            keys[state[rows] != 0] = 2.0
            sites = rows * slots + keys.argmin(axis=1)
            flat[sites] = 1
            n_on_segment[rows] += 1
            n_u += rows.size
            born_at = t0 + rng.random(rows.size) * dt  # drawn with or without records: same random stream
            if record:
                birth[sites] = born_at
        if is_out[j + 1]:
            counts_u[out_index[j + 1]], counts_t[out_index[j + 1]] = n_u, n_t
        tick(1)
    result = ReplicateResult(counts_u, counts_t, blocked)
    if record:
        alive = np.flatnonzero(flat)
        records.append((birth[alive], tag_time[alive], np.full(alive.size, np.nan), alive, np.full(alive.size, np.nan)))
        b_h, tg_h, l_h, site, eng = (np.concatenate(parts) for parts in zip(*records))
        segment, slot = np.divmod(site, slots)
        result.birth_h, result.tag_h, result.loss_h, result.engulfed = b_h, tg_h, l_h, eng
        result.position_um = segment * h.segment_length_um + h.slot_offsets_um[slot]
    return result


def _run_numba(
    h: SpineHazards,
    init_u: np.ndarray,
    init_t: np.ndarray,
    rng: np.random.Generator,
    out_times_h: np.ndarray,
    record: bool,
    tick: Any,
) -> ReplicateResult:
    """Next-event kernel over the segments of one replicate, in chunks (see the module docstring)."""
    kernel = _kernel()
    edges = np.ascontiguousarray(h.edges_h, dtype=np.float64)
    widths = np.diff(edges)
    rate_u = h.tagging + h.intrinsic
    rate_t = h.engulfment + h.intrinsic
    buckets = 4 * edges.size
    tables = [edges, *kernel.bucket_index(edges, buckets)]
    cum = []
    for rate in (rate_u, rate_t, h.formation):
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
    for start in range(0, init_u.size, _CHUNK_SEGMENTS):
        stop = min(start + _CHUNK_SEGMENTS, init_u.size)
        saved = rng.bit_generator.state
        while True:
            chunk_u = np.zeros(n_out, np.int64)
            chunk_t = np.zeros(n_out, np.int64)
            new_rec, new_blocked = kernel.run_segments(
                rng,
                *tables,
                h.tagging,
                h.engulfment,
                h.homeostasis,
                init_u[start:stop],
                init_t[start:stop],
                h.slot_offsets_um,
                float(h.segment_length_um),
                start,
                *out_tables,
                chunk_u,
                chunk_t,
                record,
                *buffers,
                n_rec,
            )
            if new_rec <= buffers[0].size:
                break
            rng.bit_generator.state = saved  # replay the chunk with room for every record: same random stream
            grown = int(max(1.25 * buffers[0].size, new_rec + 4 * (new_rec - n_rec)))
            buffers = [np.concatenate([buf, np.full(grown - buf.size, np.nan)]) for buf in buffers]
        n_rec, blocked = new_rec, blocked + new_blocked
        diff_u += chunk_u
        diff_t += chunk_t
        tick(stop - start)
    result = ReplicateResult(int(init_u.sum()) + np.cumsum(diff_u), int(init_t.sum()) + np.cumsum(diff_t), int(blocked))
    if record:
        # views: each buffer is freed once simulate() has copied its field into the padded output
        result.birth_h, result.tag_h, result.loss_h, result.position_um, result.engulfed = (
            buf[:n_rec] for buf in buffers
        )
    return result


def _check_int(obj: Any, name: str, minimum: int) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"engine.{name} = {value!r} is not allowed: it must be an integer >= {minimum}")


@dataclass
class AgentEngine:
    """Stochastic per-spine simulation driven by the deterministic microglial chain (one-way coupling).

    See the module docstring for the algorithm, the contact model and the initial distribution.
    """

    _config_key: ClassVar[str] = "engine"

    name: str = param("agents", units="", long_name="engine name", source="")
    replicates: int = param(20, units="1", long_name="independent stochastic replicates (animals)", source="convention")
    segments: int = param(
        50, units="1", long_name="dendritic segments per replicate", source="convention: tens of imaged branches"
    )
    segment_length_um: float = param(
        20.0,
        units="um",
        long_name="length of one dendritic segment",
        source="assumption: imaged stretches of apical tuft branches are tens of um",
    )
    dt_h: float = param(
        1.0,
        units="h",
        long_name="spine step: upstream signals are frozen over steps of at most this length",
        source="activation and C1q change over tens of hours; agreement with the ODE (tests/test_agents.py)",
    )
    capacity_factor: float = param(
        3.0,
        units="1",
        long_name="spine sites per segment relative to the baseline spine count",
        source="homeostasis stops formation at (1 + 1/gamma) x baseline = 2x for gamma = 1",
    )
    contact_rate_per_h: float = param(
        1.0,
        units="1/h",
        long_name="microglial process contacts per spine per hour (intact microglia density)",
        source="Wake et al. 2009, J Neurosci 29:3974: about once per hour for about 5 min",
    )
    backend: str = param(
        "auto",
        units="",
        long_name="numba (compiled next-event kernel), numpy (vectorised stepper) or auto (numba if installed)",
        source="",
    )
    record_spines: bool = param(
        True, units="", long_name="output one record per spine lifetime (birth, tag, loss, position)", source=""
    )
    progress: bool = param(True, units="", long_name="show a progress bar (only when stderr is a terminal)", source="")

    def __post_init__(self) -> None:
        _check_int(self, "replicates", 1)
        _check_int(self, "segments", 1)
        check_positive(self, "segment_length_um", "dt_h", "contact_rate_per_h")
        check_positive(self, "capacity_factor")
        if self.capacity_factor < 1.0:
            raise ConfigError(
                f"engine.capacity_factor = {self.capacity_factor!r} is not allowed: it must be >= 1 (sites for at "
                "least the baseline number of spines)"
            )
        check_choice(self, "backend", BACKENDS)
        if self.backend == "numba" and not numba_available():
            raise ConfigError(
                "engine.backend = 'numba' is not allowed: numba is not installed "
                "(pip install 'synaprune[fast]'); choose one of auto, numpy"
            )

    # ------------------------------------------------------------------ setup
    @property
    def resolved_backend(self) -> str:
        """The backend actually used: ``numba`` or ``numpy``."""
        if self.backend == "auto":
            return "numba" if numba_available() else "numpy"
        return self.backend

    def step_edges(self, times_h: np.ndarray) -> np.ndarray:
        """Spine-step edges [h]: a grid of ``dt_h`` from 0 merged with the output times."""
        end = float(times_h[-1])
        grid = np.arange(0.0, end, self.dt_h)
        edges = np.union1d(np.union1d(grid, times_h[times_h >= 0.0]), [0.0, end])
        return edges[edges <= end]

    def slots(self, model: PruningModel) -> int:
        """Spine sites per segment."""
        baseline = model.spines.baseline_density_per_um * self.segment_length_um
        return int(math.ceil(self.capacity_factor * baseline)) + 4

    def hazards(
        self, model: PruningModel, edges_h: np.ndarray, activation: np.ndarray, c1q: np.ndarray
    ) -> SpineHazards:
        """Per-step hazards from activation and C1q at the step midpoints, through the stage methods."""
        sp, mg, n = model.spines, model.microglia, model.microglia_density
        length, s0 = self.segment_length_um, sp.baseline_density_per_um
        slots = self.slots(model)
        tagging = np.asarray(sp.tagging(1.0, c1q, n), dtype=float)
        engulfment = np.asarray(sp.engulfment(1.0, mg.engulfment_capacity(activation), n), dtype=float)
        formation = np.asarray(sp.formation(s0, activation, n), dtype=float) * length
        reference = float(sp.formation(s0, 0.0, n))
        counts = np.arange(slots + 1)
        homeostasis = np.asarray(sp.formation(counts / length, 0.0, n), dtype=float) / reference
        probe = [float(activation.max(initial=0.0)), float(np.median(activation)) if activation.size else 0.0]
        for a in probe:
            expected = np.asarray(sp.formation(counts / length, a, n), dtype=float)
            if not np.allclose(expected, homeostasis * float(sp.formation(s0, a, n)), rtol=1e-9, atol=1e-15):
                raise NotImplementedError(
                    "SpineTurnover.formation is not of the form f(A, n) * g(density); the agent engine needs that"
                )
        return SpineHazards(
            edges_h=np.asarray(edges_h, dtype=float),
            tagging=tagging,
            engulfment=engulfment,
            intrinsic=float(sp.intrinsic_elimination_rate),
            formation=formation,
            homeostasis=homeostasis,
            segment_length_um=float(length),
        )

    def _check_contacts(self, model: PruningModel, h: SpineHazards) -> None:
        contacts = self.contact_rate_per_h * model.microglia_density
        worst = max(float(h.tagging.max(initial=0.0)), float(h.engulfment.max(initial=0.0))) / contacts
        if worst > 1.0:
            need = self.contact_rate_per_h * worst
            raise ConfigError(
                f"engine.contact_rate_per_h = {self.contact_rate_per_h!r} is not allowed for this model: tagging or "
                f"engulfment would need {worst:.3g} events per microglial contact; it must be >= {need:.3g} 1/h "
                "(or lengthen spines.tagged_dwell_h)"
            )

    def _initial_sampler(
        self, model: PruningModel, h0: SpineHazards
    ) -> tuple[Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]], str]:
        """Function drawing (untagged, tagged) counts for every segment, and the distribution's name."""
        names = model.state_names
        y0 = model.initial_state()
        mean_u = float(y0[names.index("untagged_spine_density")]) * self.segment_length_um
        mean_t = float(y0[names.index("tagged_spine_density")]) * self.segment_length_um
        untagged, tagged, probability = stationary_distribution(
            float(h0.formation[0]), h0.homeostasis, float(h0.tagging[0]), float(h0.engulfment[0]), h0.intrinsic
        )
        m_u, m_t = float(probability @ untagged), float(probability @ tagged)
        if math.isclose(m_u, mean_u, rel_tol=1e-4, abs_tol=1e-9) and math.isclose(
            m_t, mean_t, rel_tol=1e-4, abs_tol=1e-9
        ):

            def stationary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
                k = rng.choice(probability.size, size=self.segments, p=probability)
                return untagged[k].astype(np.int64), tagged[k].astype(np.int64)

            return stationary, "stationary"
        slots = h0.slots

        def poisson(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            u = rng.poisson(mean_u, self.segments)
            t = rng.poisson(mean_t, self.segments)
            return np.minimum(u, slots), np.minimum(t, slots - np.minimum(u, slots))

        return poisson, "poisson"

    # ------------------------------------------------------------------ run
    def simulate(
        self, model: PruningModel, times_h: np.ndarray, rng: np.random.Generator | None = None
    ) -> dict[str, Any]:
        """Outputs (name -> array) at ``times_h`` [h]; spine outputs have a leading ``replicate`` axis."""
        times_h = np.asarray(times_h, dtype=float)
        if rng is None:
            rng = np.random.default_rng(0)
        edges = self.step_edges(times_h)
        mids = 0.5 * (edges[1:] + edges[:-1])
        grid = np.union1d(times_h, mids)
        states = OdeEngine().integrate(model, grid)
        names = model.state_names
        i_act, i_c1q = names.index("activation"), names.index("c1q")
        at_mid = states[:, np.searchsorted(grid, mids)]
        at_out = states[:, np.searchsorted(grid, times_h)]
        h = self.hazards(model, edges, at_mid[i_act], at_mid[i_c1q])
        self._check_contacts(model, h)
        y0 = model.initial_state()
        h0 = self.hazards(model, edges[:2], y0[i_act : i_act + 1], y0[i_c1q : i_c1q + 1])
        sampler, initial_name = self._initial_sampler(model, h0)
        backend = self.resolved_backend
        run = _run_numba if backend == "numba" else _run_numpy
        units = self.segments if backend == "numba" else edges.size - 1
        results = []
        with _progress(self.progress, self.replicates * units, f"agents ({backend})") as bar:
            for child in rng.spawn(self.replicates):
                init_u, init_t = sampler(child)
                results.append(run(h, init_u, init_t, child, times_h, self.record_spines, bar.update))
        blocked = sum(r.blocked_births for r in results)
        if blocked:
            warnings.warn(
                f"{blocked} spine births found no free site; raise engine.capacity_factor "
                f"(now {self.capacity_factor}) so that the agent engine matches the mean field",
                RuntimeWarning,
                stacklevel=2,
            )
        out = model.readouts(times_h, at_out)
        dendrite_um = self.segments * self.segment_length_um
        untagged = np.stack([r.untagged for r in results]) / dendrite_um
        tagged = np.stack([r.tagged for r in results]) / dendrite_um
        gabaa = model.upstream(at_out[1 : model.n_pk])["gabaa_agonism"]
        out.update(model.spine_readouts(untagged, tagged, at_out[i_act], at_out[i_c1q], gabaa))
        coords: dict[str, Any] = {"replicate": np.arange(self.replicates)}
        if self.record_spines:
            n_max = max(r.birth_h.size for r in results)
            for key, field, scale in (
                ("birth_time", "birth_h", 1 / 24),
                ("tag_time", "tag_h", 1 / 24),
                ("loss_time", "loss_h", 1 / 24),
                ("engulfed", "engulfed", 1.0),
                ("spine_position", "position_um", 1.0),
            ):
                padded = np.full((self.replicates, n_max), np.nan)
                for i, r in enumerate(results):
                    values = getattr(r, field)
                    np.multiply(values, scale, out=padded[i, : values.size])
                    setattr(r, field, None)  # release the record buffer before the next field
                out[key] = padded
            coords["spine"] = np.arange(n_max)
        out["_coords"] = coords
        out["_attrs"] = {
            "agent_backend": backend,
            "agent_replicates": self.replicates,
            "agent_segments": self.segments,
            "agent_segment_length_um": float(self.segment_length_um),
            "agent_slots_per_segment": h.slots,
            "agent_dt_h": float(self.dt_h),
            "agent_contact_rate_per_h": float(self.contact_rate_per_h),
            "agent_initial_distribution": initial_name,
            "agent_blocked_births": int(blocked),
        }
        return out


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress(enabled: bool, total: int, desc: str) -> Any:
    """A tqdm bar when enabled and stderr is a terminal, otherwise a no-op with the same interface."""
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="seg" if "numba" in desc else "step", leave=False, mininterval=0.5)


__all__ = ["AgentEngine", "ReplicateResult", "SpineHazards", "numba_available", "stationary_distribution"]
