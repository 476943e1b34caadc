"""synaprune's Hydra plugins, found by Hydra in the ``hydra_plugins`` namespace package.

- ``hydra/launcher=batch`` (:class:`~.batch_launcher.BatchLauncher`): the whole ``-m`` grid in one process through
  :func:`sim.sweep`, one ``sweep.nc``.
- ``hydra/sweeper=synaprune`` (:class:`~.batch_launcher.SynapruneSweeper`, the default of ``synaprune``): Hydra's
  basic sweeper that names job folders by their swept overrides and refuses a resume whose settings changed.
"""
