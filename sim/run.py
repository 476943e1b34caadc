"""Run configuration and the top-level :func:`simulate` entry point (no Hydra here)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
import yaml

from sim.binding import EquilibriumBinding
from sim.cognition import BehaviouralReadout
from sim.core.params import ConfigError, check_positive, param
from sim.core.results import provenance, to_dataset
from sim.dosing import DosingRegimen
from sim.drug import Drug
from sim.engines.ode import OdeEngine
from sim.genotype import Genotype
from sim.microglia import MicrogliaActivation, MicrogliaDepletion
from sim.model import PruningModel
from sim.pk import LinearChainPK
from sim.species import Species
from sim.spines import SpineTurnover

#: The species whose data the microglia/spine parameters were calibrated on (sim/configs/calibration/shi2022.yaml).
CALIBRATED_SPECIES = "mouse"

STAGES = ("drug", "species", "genotype", "regimen", "pk", "binding", "microglia", "depletion", "spines", "cognition")


@dataclass
class RunConfig:
    """Everything one simulation needs: the stages, the regimen, the engine and the output grid."""

    drug: Any = field(default_factory=Drug)
    species: Any = field(default_factory=Species)
    genotype: Any = field(default_factory=Genotype)
    regimen: Any = field(default_factory=DosingRegimen)
    pk: Any = field(default_factory=LinearChainPK)
    binding: Any = field(default_factory=EquilibriumBinding)
    microglia: Any = field(default_factory=MicrogliaActivation)
    depletion: Any = field(default_factory=MicrogliaDepletion)
    spines: Any = field(default_factory=SpineTurnover)
    cognition: Any = field(default_factory=BehaviouralReadout)
    engine: Any = field(default_factory=OdeEngine)
    name: str = param("run", units="", long_name="experiment name", source="")
    duration_days: float = param(
        70.0, units="d", long_name="simulated time after time zero", source="Shi et al. 2022 follow-up to day 56-70"
    )
    output_step_h: float = param(1.0, units="h", long_name="spacing of the output grid", source="convention")
    seed: int = param(0, units="1", long_name="seed of the random number generator (agent engine)", source="convention")
    tags: list[str] = param([], units="", long_name="free-form labels", source="")
    figure: bool = param(True, units="", long_name="write timecourse.png next to the result (CLI)", source="")
    output_file: str = param("result.nc", units="", long_name="result file name in the run directory (CLI)", source="")
    calibration: str = param("shi2022", units="", long_name="calibration option or file", source="")

    def __post_init__(self) -> None:
        check_positive(self, "duration_days", "output_step_h")
        if self.output_step_h > self.duration_days * 24.0:
            raise ConfigError(
                f"output_step_h = {self.output_step_h!r} is not allowed: it must not exceed duration_days × 24 = "
                f"{self.duration_days * 24.0:g} h"
            )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed = {self.seed!r} is not allowed: it must be a non-negative integer")

    def model(self) -> PruningModel:
        """The coupled model built from this configuration's stages."""
        return PruningModel(**{name: getattr(self, name) for name in STAGES})

    def times_h(self) -> np.ndarray:
        """Output grid from 0 to ``duration_days`` [h] (the end point is always included)."""
        end = self.duration_days * 24.0
        n = int(math.floor(end / self.output_step_h + 1e-9))
        grid = self.output_step_h * np.arange(n + 1)
        return grid if math.isclose(grid[-1], end) else np.append(grid, end)

    def to_yaml(self) -> str:
        """The resolved configuration as YAML (stored in every result)."""
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=False)


def simulate_model(model: PruningModel, times_h: np.ndarray, engine: Any = None, seed: int = 0) -> xr.Dataset:
    """Simulate a model built from dataclasses (no configuration files involved)."""
    engine = engine or OdeEngine()
    rng = np.random.default_rng(seed)
    data = engine.simulate(model, np.asarray(times_h, dtype=float), rng)
    coords = {"compound": list(model.pk.names)}
    extra_coords = data.pop("_coords", {})
    extra_attrs = data.pop("_attrs", {})  # engine settings an analysis needs (e.g. agent segment length)
    coords.update(extra_coords)
    ds = to_dataset(np.asarray(times_h) / 24.0, data, coords=coords)
    ds.attrs.update(extra_attrs)
    first, last = model.dosing_period_days
    ds.attrs.update(
        drug=model.drug.name,
        species=model.species.name,
        genotype=model.genotype.name,
        region=model.spines.region,
        route=model.regimen.route,
        dose_mg_per_kg=float(model.regimen.dose_per_kg(model.species.body_weight_kg)),
        dosing_start_day=first,
        dosing_stop_day=last,
        depletion=model.depletion.name,
    )
    if model.species.name != CALIBRATED_SPECIES:
        caveat = (
            f"microglia and spine parameters are calibrated to {CALIBRATED_SPECIES} somatosensory cortex under daily "
            f"pulse exposure; spine and behaviour outputs for {model.species.name} are extrapolations (PK and "
            "receptor occupancy rest on that species' own data)"
        )
        warnings.warn(caveat, UserWarning, stacklevel=2)
        ds.attrs["caveat"] = caveat
    return ds


def simulate(cfg: Any) -> xr.Dataset:
    """Run one simulation from a :class:`RunConfig` (or a composed Hydra/OmegaConf config).

    Returns an :class:`xarray.Dataset` with a ``time`` coordinate in days, every output with ``units`` and
    ``long_name``, and provenance attributes (resolved config, seed, version, git commit).
    """
    if not isinstance(cfg, RunConfig):
        from sim.config import to_run_config

        cfg = to_run_config(cfg)
    ds = simulate_model(cfg.model(), cfg.times_h(), cfg.engine, cfg.seed)
    settings = ", ".join(f"{key}={value}" for key, value in dataclasses.asdict(cfg.engine).items() if key != "name")
    engine = f"{getattr(cfg.engine, 'name', type(cfg.engine).__name__)} ({settings})"
    ds.attrs.update(provenance(cfg.to_yaml(), cfg.seed, engine))
    ds.attrs["experiment"] = cfg.name
    return ds


def load_config(overrides: list[str] | None = None) -> RunConfig:
    """Compose the packaged Hydra configuration with ``overrides`` and return a validated :class:`RunConfig`."""
    from sim.config import load_config as _load

    return _load(overrides)
