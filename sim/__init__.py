"""synaprune: how benzodiazepines make microglia prune dendritic spines (Shi et al. 2022).

Public API::

    import sim
    ds = sim.simulate(sim.PruningModel())          # the calibrated headline arm, no configuration files
    run = sim.presets.experiment("shi2022_low_dose")  # any study arm, from the packaged YAML, without Hydra
    model = sim.presets.model(drug="xbd173", genotype="tspo_ko")
    cfg = sim.load_config(["experiment=shi2022_low_dose", "drug=xbd173"])  # the same through Hydra
    grid = sim.sweep(sim.PruningModel(), {"drug": ["diazepam", "xbd173"], "regimen.dose_mg_per_kg": [1.0, 5.0]})
    sim.io.save_dataset(ds, "result.nc")
    grid = sim.collect("multirun/run/2026-...")   # a `synaprune -m` sweep folder (either launcher) as one Dataset

Hydra is imported only by :mod:`sim.config` and :mod:`sim.cli` (``sim.load_config`` imports it on first use);
plotting lives in :mod:`sim.plotting`, derived readouts in :mod:`sim.analysis`.
"""

from __future__ import annotations

import warnings

from sim import io, presets
from sim.binding import EquilibriumBinding
from sim.cognition import BehaviouralReadout
from sim.core import __version__
from sim.core.params import ConfigError
from sim.dosing import DosingRegimen
from sim.drug import Compound, Drug
from sim.engines.agents import AgentEngine
from sim.engines.ode import OdeEngine
from sim.genotype import Genotype
from sim.microglia import MicrogliaActivation, MicrogliaDepletion
from sim.model import PruningModel
from sim.pk import CompoundPK, LinearChainPK
from sim.run import CALIBRATED_SPECIES, RunConfig, simulate_model
from sim.run import simulate as _simulate_one
from sim.sex import Sex
from sim.species import Species
from sim.spines import SpineTurnover
from sim.sweep import sweep


def simulate(model_or_config, **settings):
    """Simulate a model or a run configuration (:func:`sim.run.simulate`; the same keywords).

    A run of the calibrated species (mouse) is :func:`sim.run.simulate` exactly. For another species (``species=human``,
    ``species=rat``) the result is over posterior x translation draws (dimension ``draw``, 5-95 % bands) with the
    exposure bridge (:func:`sim.uncertainty.simulate`); ``translation=none`` gives one run that says what it rests on.
    Imports :mod:`sim.uncertainty` only for such a run. Warnings are attributed to the caller of ``sim.simulate``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if getattr(getattr(model_or_config, "species", None), "name", CALIBRATED_SPECIES) == CALIBRATED_SPECIES:
            ds = _simulate_one(model_or_config, **settings)
        else:
            from sim.uncertainty import simulate as _simulate_translated

            ds = _simulate_translated(model_or_config, **settings)
    for warning in caught:  # raised one frame deeper than in sim.run.simulate: point them at the caller again
        warnings.warn(warning.message, warning.category, stacklevel=2)
    return ds


def load_config(overrides: list[str] | None = None) -> RunConfig:
    """Compose the packaged configuration with Hydra ``overrides`` and return a validated :class:`RunConfig`.

    The same arms without Hydra: :func:`sim.presets.experiment`. Imports Hydra on first use.
    """
    from sim.config import load_config as _load

    return _load(overrides)


def load_imaging_data(scoring, groups):
    """Your own chronic imaging data as the readouts :mod:`sim.imaging` computes (:func:`sim.imaging_data.load`).

    ``scoring`` and ``groups`` are the two tables (CSV or .xlsx), read and checked; per animal, segment and group.
    """
    from sim.imaging_data import load  # imported on use: ``python -m sim.imaging_data`` runs the module as __main__

    return load(scoring, groups)


def collect(sweep_dir, *, allow_missing: bool = False, output_file: str = "result.nc"):
    """One Dataset from a ``synaprune -m`` sweep folder, whatever the launcher; every swept key a dimension.

    A ``sweep.zarr`` of ``hydra/launcher=batch hydra.launcher.store=zarr`` is opened by
    :func:`sim.distributed.open_sweep` (lazily; refused while chunks are missing unless ``allow_missing``, which
    leaves them NaN); a ``sweep.nc`` or a folder of per-job ``result.nc`` files by :func:`sim.io.collect`.
    """
    from pathlib import Path

    if (Path(sweep_dir) / io.BATCH_STORE).is_dir():
        from sim.distributed import open_sweep

        return open_sweep(Path(sweep_dir) / io.BATCH_STORE, complete=not allow_missing)
    return io.collect(sweep_dir, allow_missing=allow_missing, output_file=output_file)


def to_sbml(model_or_config, path=None, **options) -> str:
    """SBML Level 3 document of a model or run configuration, from the stage functions (:func:`sim.sbml.to_sbml`).

    Imports python-libsbml and sympy on first use.
    """
    from sim.sbml import to_sbml as _to_sbml

    return _to_sbml(model_or_config, path, **options)


__all__ = [
    "AgentEngine",
    "BehaviouralReadout",
    "Compound",
    "CompoundPK",
    "ConfigError",
    "DosingRegimen",
    "Drug",
    "EquilibriumBinding",
    "Genotype",
    "Sex",
    "LinearChainPK",
    "MicrogliaActivation",
    "MicrogliaDepletion",
    "OdeEngine",
    "PruningModel",
    "RunConfig",
    "Species",
    "SpineTurnover",
    "__version__",
    "collect",
    "io",
    "load_config",
    "load_imaging_data",
    "presets",
    "simulate",
    "simulate_model",
    "sweep",
    "to_sbml",
]
