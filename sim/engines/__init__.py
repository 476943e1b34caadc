"""Engines that integrate a :class:`sim.model.PruningModel`: mean-field ODE and stochastic per-spine agents."""

from sim.core.stage import engine_classes
from sim.engines.agents import AgentEngine
from sim.engines.ode import OdeEngine

#: Every registered engine (``@register_engine``), selectable as ``engine=<name>``.
ENGINES: tuple[type, ...] = tuple(engine_classes().values())

__all__ = ["ENGINES", "AgentEngine", "OdeEngine"]
