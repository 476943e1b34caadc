"""Stochastic agent engine (``engine=agents``): individual spines and microglial cells driven by the model's stages.

Modules: :mod:`~sim.engines.agents.engine` (the :class:`AgentEngine` stage and ``simulate``),
:mod:`~sim.engines.agents.hazards` (per-spine hazards from the model), :mod:`~sim.engines.agents.territories`
(microglial cells), :mod:`~sim.engines.agents.initial` (initial spine counts), :mod:`~sim.engines.agents.chunks`
(chunks of segments with their own seeds, run here or on a Dask client), :mod:`~sim.engines.agents.replicate`
(consecutive segments through the kernel), :mod:`~sim.engines.agents.kernel` (the compiled next-event kernel) and
:mod:`~sim.engines.agents.outputs` (the result Dataset). The algorithm is described in ``docs/agents.md``.
"""

from sim.engines.agents.engine import AgentEngine
from sim.engines.agents.hazards import SpineHazards
from sim.engines.agents.initial import stationary_distribution
from sim.engines.agents.replicate import ReplicateResult, run_replicate
from sim.engines.agents.territories import Territories

__all__ = ["AgentEngine", "ReplicateResult", "SpineHazards", "Territories", "run_replicate", "stationary_distribution"]
