"""Engines that integrate a :class:`sim.model.PruningModel`: mean-field ODE and stochastic per-spine agents."""

from sim.engines.agents import AgentEngine
from sim.engines.ode import OdeEngine

ENGINES: tuple[type, ...] = (OdeEngine, AgentEngine)

__all__ = ["ENGINES", "AgentEngine", "OdeEngine"]
