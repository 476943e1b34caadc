r"""Stochastic agent engine: individual dendritic spines and microglial cells driven by the same model as the ODE.

Engine stage: :class:`AgentEngine` (``engine=agents``). Nothing here is a second parameter set: every rate comes
from the stages of :class:`sim.model.PruningModel`; the engine adds only the geometry of the simulated dendrite,
the microglial territories and the cell-to-cell variability.

Coupling (one-way)
    The deterministic chain dosing → PK → binding → microglial activation :math:`A`, C1q :math:`Q` is integrated by
    :class:`sim.engines.ode.OdeEngine` on a grid that contains the output times and the midpoints of the spine
    steps. Spines do not feed back into the microglia, so the ODE's own spine states are simply not used for the
    agent outputs. :math:`A` and :math:`Q` are the population (mean-field) state; each cell scales its effect on
    spines by its own multiplier (below).

Microglial cells and territories
    Each replicate's dendrite (``segments`` × ``segment_length_um``, segments laid end to end) is treated as one
    path through the tissue that crosses microglial territories one after the other; it is tiled into
    :math:`N` equal, contiguous territories, each owned by one cell whose position is the territory centre. A
    spine site belongs to the territory that holds its position (half-open intervals, so exactly one).
    :math:`N = \max(1, \mathrm{round}(n\,N_0))` with :math:`N_0 = \max(1, \mathrm{round}(\ell_{rep}/\ell_T))`,
    :math:`\ell_{rep}` the replicate's dendrite length and :math:`\ell_T` = ``microglia_territory_um``, the
    length of dendrite in one territory at intact density. Its default, 35 µm, is derived, and is an assumption
    where marked: 7,000–8,000 microglia/mm³ (Lawson et al. 1990 via science.md §6, itself using an
    unverified brain volume) give a territory volume :math:`V = 1/7{,}500` mm³ = 1.33 × 10⁵ µm³ (side
    :math:`V^{1/3}` = 51 µm); a straight dendrite (assumption) crosses a space-filling territory over its mean
    chord :math:`4V/S` (Cauchy), which is 0.687 :math:`V^{1/3}` = 35 µm for Poisson–Voronoi cells and
    :math:`\tfrac{2}{3} V^{1/3}` = 34 µm for cubes (33.5–36 µm over 7,000–8,000 cells/mm³). This is not the
    total dendrite in a territory (about 10⁹ synapses/mm³, unverified, would put ~10⁵ spines in each), only the
    stretch of the simulated dendrite that one cell serves. After PLX5622 depletion (:math:`n < 1`) fewer cells
    remain and each territory is longer (:math:`n = 0.1`: 29 → 3 cells on the default 1 mm). The default
    50 × 20 µm dendrite has 29 cells.

    Each cell has a responsiveness multiplier :math:`m_c` drawn once per run from a gamma distribution with mean
    1 and coefficient of variation ``microglia_heterogeneity_cv`` (:math:`m_c` = gamma quantile of a uniform
    number from a sub-stream of the replicate's generator, so with one seed a cell keeps its rank whatever the
    CV). The per-cell state is two small arrays per replicate (:class:`Territories`: edges and multipliers), not
    one object per cell. With CV 0 every :math:`m_c = 1`, nothing is drawn and the process is the mean field
    spine by spine. With CV > 0 the expected hazard is still the mean-field one, but the replicate mean no longer
    follows the ODE exactly (the spine trajectories are not linear in :math:`m_c`; e.g. the mean of
    :math:`e^{-m a t}` exceeds :math:`e^{-a t}`), and the initial counts are still drawn at the population
    steady state, so each territory relaxes towards its own steady state over the homeostatic time
    :math:`\approx 1/((1 + \gamma) e_0)` (about 3 weeks with the defaults); compare treatments against a vehicle run
    with the same seed and CV.

Hazards (piecewise constant over each spine step of at most ``dt_h``)
    Within step :math:`j` the upstream signals are frozen at the step midpoint. The mean-field per-spine hazards
    are obtained by calling the :class:`sim.spines.SpineTurnover` fluxes with unit density: tagging of an untagged
    spine :math:`a_j = k_{tag}\,n\,Q_j`, engulfment of a tagged spine :math:`b_j = k_{eng}\,n\,E_j` with
    :math:`E_j = 1 + g_E A_j`, intrinsic loss :math:`e_{int}` of every spine. A spine in the territory of cell
    :math:`c` is tagged at :math:`m_c a_j` and engulfed at :math:`m_c b_j`; its intrinsic loss is not microglial
    and stays :math:`e_{int}`. New spines appear on each segment of length :math:`L` as a Poisson process with
    rate :math:`F(S_{seg}, A_j, n)\,L`, where the homeostatic term uses the segment's own density
    :math:`S_{seg} = N_{seg}/L` (the formation flux is factorised as ``formation(S0, A, n) * g(N)``; the engine
    checks that this factorisation reproduces ``SpineTurnover.formation`` and refuses to run otherwise).
    Formation is not scaled by :math:`m_c` (its microglial suppression is a tissue-level term, and a segment may
    straddle two territories). With :math:`m_c = 1` every hazard is linear in the spine states (up to the clip of
    :math:`g` at 0, reached only far above baseline), so the mean over replicates follows the ODE exactly up to
    the midpoint rule (``tests/test_agents.py`` checks agreement within 5 standard errors).

Microglial contacts
    A cell's processes visit each spine of its territory as a Poisson process of rate :math:`\nu n`
    (``contact_rate_per_h``, about once per hour in resting cortex, Wake et al. 2009). A cell surveys a fixed
    volume's worth of contacts, so when depletion makes territories :math:`1/n` times larger each spine is
    visited :math:`n` times as often; the rate depends on the density, not on how much of the simulated dendrite
    a territory happens to contain. Tagging and engulfment happen only at a contact: at each contact an untagged
    spine is tagged with probability :math:`p_{tag} = m_c k_{tag} Q/\nu` and a tagged one is engulfed with
    probability :math:`p_{eng} = m_c k_{eng} E/\nu`. Productive contacts are then a thinned Poisson process with
    rates :math:`\nu n p_{tag} = m_c k_{tag} n Q` and :math:`\nu n p_{eng} = m_c k_{eng} n E`, i.e. exactly the
    hazards above, and a spine needs a second contact to be engulfed after being tagged. Contacts that change
    nothing are not generated (they would cost one random number per spine per hour and change no state), so
    the contact rate enters the simulation through the requirement :math:`p_{tag}, p_{eng} \le 1` for the
    most responsive cell of the run (checked at every step; a :class:`~sim.core.params.ConfigError` names
    ``engine.contact_rate_per_h`` otherwise) and through the animation (:mod:`sim.animate`), which draws the
    unproductive contacts from the same process, each from the spine's own cell. Contacts are treated as
    instantaneous; with contacts of about 5 min and :math:`p \lesssim 0.2` the chance of two events within one
    contact is small.

Spines
    Each segment has ``slots = ceil(capacity_factor × S0 × L) + 4`` spine sites at fixed positions
    ``(i + 0.5) L / slots`` (a new spine takes a uniformly chosen empty site); a site is empty, untagged or tagged.
    A birth that finds every site occupied is dropped and counted (``agent_blocked_births``; a warning suggests
    a larger ``capacity_factor``). Initial counts per segment are drawn from the exact stationary distribution
    of the two-type birth-death chain at the time-zero mean-field rates (a sparse linear solve) when its mean
    equals the ODE's initial spine state (the drug-free steady state); otherwise (e.g. a depletion transient
    still under way at time zero) from independent Poisson counts with the ODE means
    (``agent_initial_distribution``).

Backends
    ``numba`` (default when installed): a compiled next-event kernel. Segments are simulated one after the
    other. Each spine carries two independent clocks (competing risks): a microglial one, whose next event
    (tagging, then engulfment) is found by inverting the integrated piecewise-constant hazard
    :math:`m_c \int a` or :math:`m_c \int b` at an Exp(1) threshold — i.e. the shared table of :math:`\int a`
    inverted at the threshold divided by :math:`m_c`, so cells need no tables of their own — and an intrinsic
    one (Exp with rate :math:`e_{int}`, drawn once per lifetime since it does not depend on the tag). The segment's next
    formation time is redrawn after every event that changes its count (valid because the process is Markov).
    Event times are exact for the piecewise-constant hazards and the cost is per event, not per spine-step; the
    kernel allocates nothing and runs without numba's reference counting. ``numpy``: a vectorised stepper over
    all sites with the exact per-step transition probabilities of the three-state chain untagged → tagged →
    lost for each cell's hazards (e.g. :math:`1 - e^{-(m_c b + e)\Delta t}` for the loss of a tagged spine) and
    Poisson births with the segment density frozen at the start of the step (an :math:`O(\Delta t)`
    approximation of the homeostatic feedback); event times inside a step are placed uniformly. Both backends
    sample the same process; they use the random stream differently and so do not give identical numbers.

Reproducibility
    ``rng.spawn(replicates)`` gives one generator per replicate (``sim.run`` seeds ``rng`` with
    ``RunConfig.seed``); replicate ``i`` depends only on the seed and ``i``, and its cells come from a generator
    spawned from the replicate's, so the spines' random numbers do not depend on the cells. The same seed,
    backend and machine give bitwise-identical results, whatever the progress bar does.

Outputs
    The same dictionary as :class:`sim.engines.ode.OdeEngine` (``PruningModel.readouts`` and
    ``PruningModel.spine_readouts``); spine-derived variables get a leading ``replicate`` axis. Formation and
    elimination rates are the model's mean-field hazards evaluated at each replicate's densities (expected events
    per day, not counted events). Per cell (dimension ``cell``): ``microglia_cell_position`` (territory centre),
    ``microglia_cell_multiplier`` and ``microglia_cell_engulfed`` (spines engulfed over the run). With
    ``record_spines`` one row per spine lifetime: ``birth_time`` (NaN: present at time zero), ``tag_time``,
    ``loss_time`` (NaN: still present), ``engulfed``, ``spine_position`` along the replicate's dendrite
    (segments laid end to end) and ``spine_cell``, padded with NaN along ``spine``.
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
import scipy.special

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
    cell: np.ndarray | None = None
    cell_engulfed: np.ndarray | None = None


@dataclass
class Territories:
    """The microglial cells of one replicate: territories along its dendrite and each cell's multiplier.

    Cell ``c`` owns the dendrite from ``edges_um[c]`` to ``edges_um[c + 1]`` (the first edge is 0, the last the
    replicate's dendrite length) and multiplies the mean-field tagging and engulfment hazards of the spines there
    by ``multiplier[c]``. Two small arrays per replicate, no object per cell.

    Parameters
    ----------
    edges_um
        Territory edges along the replicate's dendrite [um], increasing (length n_cells + 1).
    multiplier
        Responsiveness multiplier of each cell [1] (length n_cells).
    """

    edges_um: np.ndarray
    multiplier: np.ndarray

    @classmethod
    def single(cls, length_um: float) -> Territories:
        """One cell with multiplier 1 owning the whole dendrite (the mean field, spine by spine)."""
        return cls(np.array([0.0, float(length_um)]), np.ones(1))

    @property
    def n_cells(self) -> int:
        """Number of microglial cells."""
        return self.multiplier.size

    @property
    def position_um(self) -> np.ndarray:
        """Centre of each cell's territory [um]."""
        return 0.5 * (self.edges_um[1:] + self.edges_um[:-1])

    def cell_of(self, position_um: np.ndarray) -> np.ndarray:
        """Index of the cell whose territory holds each position (every position in exactly one territory)."""
        index = np.searchsorted(self.edges_um, position_um, side="right") - 1
        return np.clip(index, 0, self.n_cells - 1)


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


def _transition_probabilities(
    a: np.ndarray, b: np.ndarray, e: float, dt: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact one-step probabilities untagged→untagged, untagged→tagged, tagged→tagged for constant hazards.

    ``a`` and ``b`` (tagging and engulfment hazards [1/h]) may be arrays, one entry per microglial cell.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    p_uu = np.exp(-(a + e) * dt)
    p_tt = np.exp(-(b + e) * dt)
    x = (a - b) * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(x != 0.0, -np.expm1(-x) / x, 1.0)
    return p_uu, a * dt * p_tt * factor, p_tt


def _loss_via_engulfment(
    a: np.ndarray, b: np.ndarray, e: float, p_uu: np.ndarray, p_ut: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Probability that a loss within one step was an engulfment: for untagged and for tagged spines.

    Tagged spines are engulfed with probability b/(b+e); untagged spines lost within the step went through
    tagging first with probability (a/(a+e) (1 - p_uu) - p_ut) / (1 - p_uu - p_ut), and were then engulfed with
    b/(b+e).
    """
    lost_u = 1.0 - p_uu - p_ut
    with np.errstate(divide="ignore", invalid="ignore"):
        via_tag = np.where((lost_u > 0) & (a + e > 0), (a / (a + e) * (1.0 - p_uu) - p_ut) / lost_u, 0.0)
        engulf = np.where(b + e > 0, b / (b + e), 0.0)
    return via_tag * engulf, engulf


def _run_numpy(
    h: SpineHazards,
    init_u: np.ndarray,
    init_t: np.ndarray,
    rng: np.random.Generator,
    out_times_h: np.ndarray,
    record: bool,
    tick: Any,
    cells: Territories | None = None,
) -> ReplicateResult:
    """Vectorised stepper over all sites of one replicate (see the module docstring)."""
    n_seg, slots, edges = init_u.size, h.slots, h.edges_h
    if cells is None:
        cells = Territories.single(n_seg * h.segment_length_um)
    offsets = h.slot_offsets_um

    def cell_of_sites(sites: np.ndarray) -> np.ndarray:
        return cells.cell_of(sites // slots * h.segment_length_um + offsets[sites % slots])

    uniform = bool(np.all(cells.multiplier == cells.multiplier[0]))  # e.g. cv = 0: one set of probabilities
    site_cell = None if uniform else cell_of_sites(np.arange(n_seg * slots)).astype(np.int32)
    cell_engulfed = np.zeros(cells.n_cells, np.int64)
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
        multiplier = cells.multiplier[:1] if uniform else cells.multiplier
        a, b = float(h.tagging[j]) * multiplier, float(h.engulfment[j]) * multiplier  # per cell
        p_uu, p_ut, p_tt = _transition_probabilities(a, b, e, dt)
        eng_u, eng_t = _loss_via_engulfment(a, b, e, p_uu, p_ut)
        n_start = n_on_segment.copy()
        occupied = np.flatnonzero(flat)
        draw = rng.random(occupied.size)
        current = flat[occupied]
        cell = 0 if site_cell is None else site_cell[occupied]
        was_untagged = current == 1
        moved = np.where(was_untagged, draw >= p_uu[cell], draw >= p_tt[cell])
        if moved.any():
            sites, from_untagged, u = occupied[moved], was_untagged[moved], draw[moved]
            cell = 0 if site_cell is None else cell[moved]
            to_tagged = from_untagged & (u < p_uu[cell] + p_ut[cell])
            lost = ~to_tagged
            when = t0 + rng.random(sites.size) * dt
            p_eng = np.where(from_untagged, eng_u[cell], eng_t[cell])
            engulfed = rng.random(sites.size) < p_eng
            eaten = lost & engulfed
            np.add.at(cell_engulfed, cell_of_sites(sites[eaten]) if site_cell is None else cell[eaten], 1)
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
    result = ReplicateResult(counts_u, counts_t, blocked, cell_engulfed=cell_engulfed)
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
    cells: Territories | None = None,
) -> ReplicateResult:
    """Next-event kernel over the segments of one replicate, in chunks (see the module docstring)."""
    kernel = _kernel()
    if cells is None:
        cells = Territories.single(init_u.size * h.segment_length_um)
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
    for start in range(0, init_u.size, _CHUNK_SEGMENTS):
        stop = min(start + _CHUNK_SEGMENTS, init_u.size)
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
                start,
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
            rng.bit_generator.state = saved  # replay the chunk with room for every record: same random stream
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
        # views: each buffer is freed once simulate() has copied its field into the padded output
        result.birth_h, result.tag_h, result.loss_h, result.position_um, result.engulfed = (
            buf[:n_rec] for buf in buffers
        )
    return result


def _round_half_up(x: float) -> int:
    """Nearest integer, halves rounded up (Python's round() rounds halves to even)."""
    return int(math.floor(x + 0.5))


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
    microglia_territory_um: float = param(
        35.0,
        units="um",
        long_name="length of dendrite in one microglial territory at intact microglia density",
        source="derived (assumption: straight dendrite through space-filling territories): 7,000-8,000 cells/mm3 "
        "(Lawson et al. 1990; science.md §6) give 1/7,500 mm3 = 1.33e5 um3 per cell (side 51 um); mean chord "
        "4V/S of a line through it = 0.687 x 51 um = 35 um for Poisson-Voronoi cells (2/3 x 51 = 34 um for cubes)",
    )
    microglia_heterogeneity_cv: float = param(
        0.0,
        units="1",
        long_name="coefficient of variation of the cells' responsiveness multipliers (gamma distribution, mean 1)",
        source="assumption: no measured value; 0 = identical cells, whose replicate mean follows the ODE",
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
        check_positive(self, "capacity_factor", "microglia_territory_um")
        check_positive(self, "microglia_heterogeneity_cv", allow_zero=True)
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

    def cells(self, model: PruningModel) -> int:
        """Microglial cells per replicate: round(n x cells at intact density), at least one."""
        intact = max(1, _round_half_up(self.segments * self.segment_length_um / self.microglia_territory_um))
        return max(1, _round_half_up(model.microglia_density * intact))

    def territories(self, model: PruningModel, rng: np.random.Generator) -> Territories:
        """The replicate's cells: equal territories tiling its dendrite, multipliers drawn from ``rng``.

        The multipliers are gamma quantiles of uniform numbers, so with the same seed a cell keeps its rank
        whatever ``microglia_heterogeneity_cv``; with a CV of 0 nothing is drawn.
        """
        n_cells = self.cells(model)
        edges = np.linspace(0.0, self.segments * self.segment_length_um, n_cells + 1)
        cv = float(self.microglia_heterogeneity_cv)
        if cv == 0.0:
            return Territories(edges, np.ones(n_cells))
        shape = 1.0 / cv**2
        return Territories(edges, scipy.special.gammaincinv(shape, rng.random(n_cells)) / shape)

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

    def _check_contacts(self, model: PruningModel, h: SpineHazards, multiplier: float = 1.0) -> None:
        contacts = self.contact_rate_per_h * model.microglia_density
        worst = max(float(h.tagging.max(initial=0.0)), float(h.engulfment.max(initial=0.0))) * multiplier / contacts
        if worst > 1.0:
            need = self.contact_rate_per_h * worst
            cells = (
                f" in a cell with multiplier {multiplier:.3g} (or lower engine.microglia_heterogeneity_cv)"
                if multiplier != 1.0
                else ""
            )
            raise ConfigError(
                f"engine.contact_rate_per_h = {self.contact_rate_per_h!r} is not allowed for this model: tagging or "
                f"engulfment would need {worst:.3g} events per microglial contact{cells}; it must be >= "
                f"{need:.3g} 1/h (or lengthen spines.tagged_dwell_h)"
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
        children = rng.spawn(self.replicates)
        # cells from a sub-stream of each replicate: the spines' random numbers do not depend on the cells
        replicate_cells = [self.territories(model, child.spawn(1)[0]) for child in children]
        self._check_contacts(model, h, max(float(c.multiplier.max()) for c in replicate_cells))
        y0 = model.initial_state()
        h0 = self.hazards(model, edges[:2], y0[i_act : i_act + 1], y0[i_c1q : i_c1q + 1])
        sampler, initial_name = self._initial_sampler(model, h0)
        backend = self.resolved_backend
        run = _run_numba if backend == "numba" else _run_numpy
        units = self.segments if backend == "numba" else edges.size - 1
        results = []
        with _progress(self.progress, self.replicates * units, f"agents ({backend})") as bar:
            for child, territories in zip(children, replicate_cells):
                init_u, init_t = sampler(child)
                result = run(h, init_u, init_t, child, times_h, self.record_spines, bar.update, territories)
                if self.record_spines:
                    result.cell = territories.cell_of(result.position_um).astype(np.int32)
                results.append(result)
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
        out["microglia_cell_position"] = np.stack([c.position_um for c in replicate_cells])
        out["microglia_cell_multiplier"] = np.stack([c.multiplier for c in replicate_cells])
        out["microglia_cell_engulfed"] = np.stack([r.cell_engulfed for r in results])
        coords: dict[str, Any] = {
            "replicate": np.arange(self.replicates),
            "cell": np.arange(replicate_cells[0].n_cells),
        }
        if self.record_spines:
            n_max = max(r.birth_h.size for r in results)
            for key, field, scale in (
                ("birth_time", "birth_h", 1 / 24),
                ("tag_time", "tag_h", 1 / 24),
                ("loss_time", "loss_h", 1 / 24),
                ("engulfed", "engulfed", 1.0),
                ("spine_position", "position_um", 1.0),
                ("spine_cell", "cell", 1.0),
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
            "agent_cells_per_replicate": int(replicate_cells[0].n_cells),
            "agent_territory_length_um": float(replicate_cells[0].edges_um[1] - replicate_cells[0].edges_um[0]),
            "agent_microglia_territory_um": float(self.microglia_territory_um),
            "agent_microglia_heterogeneity_cv": float(self.microglia_heterogeneity_cv),
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


__all__ = [
    "AgentEngine",
    "ReplicateResult",
    "SpineHazards",
    "Territories",
    "numba_available",
    "stationary_distribution",
]
