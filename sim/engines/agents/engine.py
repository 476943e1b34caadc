"""The agent engine stage (``engine=agents``): its settings and :meth:`AgentEngine.simulate`.

:meth:`AgentEngine.simulate` integrates the deterministic chain with :class:`sim.engines.ode.OdeEngine` (one-way
coupling), derives the spine hazards (:mod:`~sim.engines.agents.hazards`), splits the replicates into chunks of
segments with their own random streams (:mod:`~sim.engines.agents.chunks`), each drawing its microglial cells
(:mod:`~sim.engines.agents.territories`) and initial spines (:mod:`~sim.engines.agents.initial`) and running the
compiled kernel (:mod:`~sim.engines.agents.replicate`), here or on a Dask client, and returns an
:class:`xarray.Dataset` (:mod:`~sim.engines.agents.outputs`). The algorithm and its validation are described in
``docs/agents.md``.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import xarray as xr

from sim.core.params import ConfigError, check_positive, param
from sim.core.results import to_dataset
from sim.core.stage import register_engine
from sim.engines.agents.chunks import ChunkPlan, run_chunks
from sim.engines.agents.hazards import SpineHazards, check_contacts, slots_per_segment, spine_hazards
from sim.engines.agents.initial import initial_sampler
from sim.engines.agents.outputs import agent_outputs
from sim.engines.agents.territories import Territories, cell_count, max_multiplier, territory_edges
from sim.engines.ode import OdeEngine
from sim.model import PruningModel


def _check_int(obj: Any, name: str, minimum: int) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"engine.{name} = {value!r} is not allowed: it must be an integer >= {minimum}")


@register_engine
@dataclass
class AgentEngine:
    """Stochastic per-spine simulation driven by the deterministic microglial chain (one-way coupling).

    Every rate comes from the stages of ``model``; the fields below set only the simulated dendrite, the
    microglial territories and the cell-to-cell variability. The algorithm is described in ``docs/agents.md``.
    """

    _config_key: ClassVar[str] = "engine"

    name: str = param("agents", units="", long_name="engine name", source="")
    replicates: int = param(
        20,
        units="1",
        long_name="independent stochastic replicates (animals)",
        source="assumption: enough animals for a smooth mean at modest cost (a numerical setting)",
    )
    segments: int = param(
        50, units="1", long_name="dendritic segments per replicate", source="assumption: tens of imaged branches"
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
        source="assumption: activation and C1q change over tens of hours; the replicate mean agrees with the ODE "
        "(tests/test_agents.py)",
    )
    capacity_factor: float = param(
        3.0,
        units="1",
        long_name="spine sites per segment relative to the baseline spine count",
        source="assumption: room above the density where homeostasis stops formation, (1 + 1/gamma) x baseline = 2x "
        "for gamma = 1",
    )
    contact_rate_per_h: float = param(
        1.0,
        units="1/h",
        long_name="microglial process contacts per spine per hour (intact microglia density)",
        source="[wake2009]: resting microglial processes contact a synapse about once per hour for about 5 min",
    )
    microglia_territory_um: float = param(
        35.0,
        units="um",
        long_name="length of dendrite in one microglial territory at intact microglia density",
        source="derived (assumption: straight dendrite through space-filling territories): 3.5e6 microglia per "
        "mouse brain ([lawson1990]) in about 470 mm3 (assumption) give 7,000-8,000 cells/mm3, i.e. "
        "1/7,500 mm3 = 1.33e5 um3 per cell (side 51 um); mean chord "
        "4V/S of a line through it = 0.687 x 51 um = 35 um for Poisson-Voronoi cells (2/3 x 51 = 34 um for cubes)",
    )
    microglia_heterogeneity_cv: float = param(
        0.0,
        units="1",
        long_name="coefficient of variation of the cells' responsiveness multipliers (gamma distribution, mean 1)",
        source="assumption: no measured value; 0 = identical cells, whose replicate mean follows the ODE",
    )
    chunk_segments: int = param(
        100_000,
        units="1",
        long_name="segments per chunk: the unit of work, each with its own random stream (results depend on it, "
        "not on how chunks are distributed)",
        source="assumption: a numerical setting; 1e5 segments of 20 um are 9e5 spines, about 0.5 s of a 70-day run "
        "on one core, so Dask's per-task overhead is negligible",
    )
    record_spines: bool = param(
        True, units="", long_name="output one record per spine lifetime (birth, tag, loss, position)", source=""
    )
    record_cells: bool = param(
        True,
        units="",
        long_name="output the per-cell variables (position, multiplier, engulfed spines; 24 bytes per cell)",
        source="",
    )
    progress: bool = param(True, units="", long_name="show a progress bar (only when stderr is a terminal)", source="")

    def __post_init__(self) -> None:
        _check_int(self, "replicates", 1)
        _check_int(self, "segments", 1)
        _check_int(self, "chunk_segments", 1)
        check_positive(self, "segment_length_um", "dt_h", "contact_rate_per_h")
        check_positive(self, "capacity_factor", "microglia_territory_um")
        check_positive(self, "microglia_heterogeneity_cv", allow_zero=True)
        if self.capacity_factor < 1.0:
            raise ConfigError(
                f"engine.capacity_factor = {self.capacity_factor!r} is not allowed: it must be >= 1 (sites for at "
                "least the baseline number of spines)"
            )

    # ------------------------------------------------------------------ setup
    def check_model(self, model: PruningModel) -> None:
        """Refuse spine stages other than the one-pool :class:`~sim.spines.SpineTurnover` (ConfigError)."""
        if model.spines.state_names != ("untagged_spine_density", "tagged_spine_density"):
            raise ConfigError(
                f"engine=agents simulates one spine pool only, not spines={type(model.spines).__name__} "
                f"(states {', '.join(model.spines.state_names)}): use engine=ode"
            )

    @property
    def dendrite_um(self) -> float:
        """Dendrite per replicate: ``segments x segment_length_um`` [um]."""
        return self.segments * self.segment_length_um

    def step_edges(self, times_h: np.ndarray) -> np.ndarray:
        """Spine-step edges [h]: a grid of ``dt_h`` from 0 merged with the output times."""
        end = float(times_h[-1])
        grid = np.arange(0.0, end, self.dt_h)
        edges = np.union1d(np.union1d(grid, times_h[times_h >= 0.0]), [0.0, end])
        return edges[edges <= end]

    def cells(self, model: PruningModel) -> int:
        """Microglial cells per replicate: round(n x cells at intact density), at least one."""
        return cell_count(self.dendrite_um, self.microglia_territory_um, model.microglia_density)

    def territories(self, model: PruningModel, rng: np.random.Generator) -> Territories:
        """The replicate's cells: equal territories tiling its dendrite, multipliers drawn from ``rng``."""
        return Territories.draw(self.cells(model), self.dendrite_um, float(self.microglia_heterogeneity_cv), rng)

    def slots(self, model: PruningModel) -> int:
        """Spine sites per segment."""
        return slots_per_segment(model, self.segment_length_um, self.capacity_factor)

    def hazards(
        self, model: PruningModel, edges_h: np.ndarray, activation: np.ndarray, c1q: np.ndarray
    ) -> SpineHazards:
        """Per-step hazards from activation and C1q at the step midpoints (see :func:`spine_hazards`)."""
        return spine_hazards(model, edges_h, activation, c1q, self.segment_length_um, self.slots(model))

    # ------------------------------------------------------------------ run
    def simulate(
        self, model: PruningModel, times_h: np.ndarray, rng: np.random.Generator | None = None, client: Any = None
    ) -> xr.Dataset:
        """Simulate ``model`` at output times ``times_h`` [h] with one seed sequence per replicate spawned from ``rng``.

        ``client`` runs the chunks elsewhere: any object with ``submit(fn, *args)`` returning a future with
        ``result()`` (a ``dask.distributed.Client``, a ``concurrent.futures`` executor); ``None`` runs them in this
        process. The result does not depend on it (bit for bit).

        Returns
        -------
        xarray.Dataset
            The shared output schema (time in days, coordinate ``compound``); spine outputs have a leading
            ``replicate`` dimension, per-cell outputs the dimensions (``replicate``, ``cell``), per-spine records
            (``replicate``, ``spine``); attributes ``agent_*`` record the engine settings and diagnostics.
        """
        self.check_model(model)
        times_h = np.asarray(times_h, dtype=float)
        data, coords, attrs = self._run(model, times_h, np.random.default_rng(0) if rng is None else rng, client)
        # built once the run's working arrays are released: the peak memory is that of the outputs
        return to_dataset(times_h / 24.0, data, coords=coords, attrs=attrs)

    def _run(
        self, model: PruningModel, times_h: np.ndarray, rng: np.random.Generator, client: Any = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
        """Output arrays, coordinates and attributes of :meth:`simulate`."""
        edges = self.step_edges(times_h)
        mids = 0.5 * (edges[1:] + edges[:-1])
        grid = np.union1d(times_h, mids)
        states = OdeEngine().integrate(model, grid)
        names = model.state_names
        i_act, i_c1q = names.index("activation"), names.index("c1q")
        at_mid = states[:, np.searchsorted(grid, mids)]
        at_out = states[:, np.searchsorted(grid, times_h)]
        h = self.hazards(model, edges, at_mid[i_act], at_mid[i_c1q])
        seeds = [child.bit_generator.seed_seq for child in rng.spawn(self.replicates)]
        n_cells = self.cells(model)
        cv = float(self.microglia_heterogeneity_cv)
        # each replicate's cells come from child 0 of its seed sequence (see chunks.chunks)
        cell_seeds = [
            np.random.SeedSequence(s.entropy, spawn_key=(*s.spawn_key, 0), pool_size=s.pool_size) for s in seeds
        ]
        check_contacts(model, h, self.contact_rate_per_h, max(max_multiplier(n_cells, cv, c) for c in cell_seeds))
        y0 = model.initial_state()
        h0 = self.hazards(model, edges[:2], y0[i_act : i_act + 1], y0[i_c1q : i_c1q + 1])
        initial = initial_sampler(model, h0, self.segment_length_um)
        plan = ChunkPlan(
            h,
            initial,
            times_h,
            self.segments,
            self.chunk_segments,
            n_cells,
            cv,
            bool(self.record_spines),
            bool(self.record_cells),
        )
        with _progress(self.progress, self.replicates * self.segments) as bar:
            results = run_chunks(plan, seeds, client, bar.update)
        blocked = sum(r.blocked_births for r in results)
        if blocked:
            warnings.warn(
                f"{blocked} spine births found no free site; raise engine.capacity_factor "
                f"(now {self.capacity_factor}) so that the agent engine matches the mean field",
                RuntimeWarning,
                stacklevel=2,
            )
        cells = (
            [Territories.block(n_cells, self.dendrite_um, cv, c, 0, n_cells) for c in cell_seeds]
            if self.record_cells
            else None
        )
        first = territory_edges(n_cells, self.dendrite_um, 0, 1)
        attrs = {
            "agent_replicates": self.replicates,
            "agent_segments": self.segments,
            "agent_segment_length_um": float(self.segment_length_um),
            "agent_slots_per_segment": h.slots,
            "agent_dt_h": float(self.dt_h),
            "agent_contact_rate_per_h": float(self.contact_rate_per_h),
            "agent_cells_per_replicate": int(n_cells),
            "agent_territory_length_um": float(first[1] - first[0]),
            "agent_microglia_territory_um": float(self.microglia_territory_um),
            "agent_microglia_heterogeneity_cv": cv,
            "agent_chunk_segments": int(self.chunk_segments),
            "agent_chunks": int(self.replicates * plan.chunks_per_replicate),
            "agent_initial_distribution": initial.name,
            "agent_blocked_births": int(blocked),
        }
        data, coords = agent_outputs(model, times_h, at_out, results, cells, self.dendrite_um, self.record_spines)
        return data, coords, attrs


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress(enabled: bool, total: int) -> Any:
    """A tqdm bar over segments when enabled and stderr is a terminal, otherwise a no-op with the same interface."""
    if not enabled or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="agents", unit="seg", leave=False, mininterval=0.5)
