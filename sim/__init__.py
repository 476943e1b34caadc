"""synaprune: how benzodiazepines make microglia prune dendritic spines (Shi et al. 2022).

Public API: :func:`simulate`, :func:`load_config`, :class:`PruningModel` and the stage classes.
Hydra is imported only by :mod:`sim.config` and :mod:`sim.cli`; plotting lives in :mod:`sim.plotting`.
"""

from __future__ import annotations

from sim.core import __version__
from sim.binding import EquilibriumBinding
from sim.cognition import BehaviouralReadout
from sim.core.params import ConfigError
from sim.dosing import DosingRegimen
from sim.drug import Compound, Drug
from sim.engines.agents import AgentEngine
from sim.engines.ode import OdeEngine
from sim.genotype import Genotype
from sim.microglia import MicrogliaActivation, MicrogliaDepletion
from sim.model import PruningModel
from sim.pk import CompoundPK, LinearChainPK
from sim.run import RunConfig, load_config, simulate, simulate_model
from sim import io  # noqa: E402  (results in and out: sim.io.open_result, sim.io.combine_results)
from sim.species import Species
from sim.spines import SpineTurnover

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
    "LinearChainPK",
    "MicrogliaActivation",
    "MicrogliaDepletion",
    "OdeEngine",
    "PruningModel",
    "RunConfig",
    "Species",
    "SpineTurnover",
    "load_config",
    "simulate",
    "simulate_model",
    "__version__",
    "io",
]
