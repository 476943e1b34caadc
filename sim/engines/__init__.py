"""Engines that integrate a :class:`sim.model.PruningModel`: mean-field ODE and stochastic per-spine agents."""

from sim.engines.ode import OdeEngine

ENGINES: tuple[type, ...] = (OdeEngine,)

__all__ = ["ENGINES", "OdeEngine"]
