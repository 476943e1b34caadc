"""Ready-made study arms from the packaged configuration, without Hydra.

``sim.presets.experiment("shi2022_low_dose")`` is the same :class:`~sim.run.RunConfig` as
``sim.load_config(["experiment=shi2022_low_dose"])`` (the YAML under ``sim/configs`` is read by
:mod:`sim.library`, in a few milliseconds instead of a few hundred), and ``sim.presets.model(drug="xbd173")`` is
the calibrated :class:`~sim.model.PruningModel` of the Shi et al. 2022 high-dose arm with another drug::

    from sim import presets

    presets.experiments()                                   # names of sim/configs/experiment/*.yaml
    run = presets.experiment("shi2022_high_dose", ["engine=agents", "regimen.stop_day=14"])
    model = presets.model(genotype="tspo_ko", regimen={"dose_mg_per_kg": 1.0, "stop_day": 56.0})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sim import library
from sim.core.params import ConfigError
from sim.core.stage import GROUPS as STAGES
from sim.model import PruningModel
from sim.run import RunConfig

#: The experiment :func:`model` starts from.
HEADLINE_EXPERIMENT = "shi2022_high_dose"


def experiments() -> list[str]:
    """Names of the packaged experiments (``sim/configs/experiment/*.yaml``), sorted."""
    return sorted(path.stem for path in (library.config_dir() / "experiment").glob("*.yaml"))


def run_config(node: Mapping) -> RunConfig:
    """A validated :class:`RunConfig` from a dict composed by :func:`sim.library.compose`."""
    return library.instantiate(RunConfig, library.build(node), "")


def from_overrides(overrides: Sequence[str] = ()) -> RunConfig:
    """The run configuration of command-line style ``overrides`` (``["experiment=vehicle", "drug=xbd173"]``).

    The same as ``sim.load_config(overrides)`` without Hydra (a test asserts equality for every experiment).
    """
    if isinstance(overrides, str):
        raise ConfigError(f"overrides must be a list of strings, not the string {overrides!r}")
    return run_config(library.compose(list(overrides)))


def experiment(name: str, overrides: Sequence[str] = ()) -> RunConfig:
    """The run configuration of a packaged experiment, with optional Hydra-style ``overrides``.

    Parameters
    ----------
    name
        One of :func:`experiments`, e.g. ``"shi2022_high_dose"``.
    overrides
        As on the ``synaprune`` command line: ``["drug=xbd173", "regimen.stop_day=14", "calibration=my.yaml"]``.

    Raises
    ------
    ConfigError
        For an unknown experiment, option, key or value (the message names it and what is allowed).
    """
    if name not in experiments():
        raise ConfigError(f"experiment = {name!r} is not allowed: choose one of {', '.join(experiments())}")
    if isinstance(overrides, str):
        raise ConfigError(f"overrides must be a list of strings, not the string {overrides!r}")
    return run_config(library.compose([f"experiment={name}", *overrides]))


def model(drug: str = "diazepam", species: str = "mouse", genotype: str = "wt", **overrides: Any) -> PruningModel:
    """The calibrated model of the Shi et al. 2022 high-dose arm, with other options and per-stage overrides.

    Parameters
    ----------
    drug, species, genotype
        Options of those groups (``drug="xbd173"``, ``species="human"``, ``genotype="tspo_ko"``); the kinetics
        ``pk`` follow drug and species.
    **overrides
        Per stage (``regimen``, ``microglia``, ...): a stage object that replaces the stage, or a dict of field
        values merged into it, e.g. ``regimen={"dose_mg_per_kg": 1.0, "stop_day": 56.0}`` (mg/kg, days).

    Raises
    ------
    ConfigError
        For an unknown option, stage or field, a wrong type, or a drug without kinetics in that species (the
        message names the species that have them).
    """
    for group, option in (("drug", drug), ("species", species), ("genotype", genotype)):
        if not isinstance(option, str):
            raise ConfigError(f"{group} = {option!r} is not allowed: give the name of a {group} option")
    node = library.compose([f"experiment={HEADLINE_EXPERIMENT}", f"drug={drug}", f"species={species}"] + [
        f"genotype={genotype}"
    ])  # fmt: skip
    for stage, value in overrides.items():
        if stage not in STAGES:
            raise ConfigError(f"stage {stage!r} is not allowed: choose one of {', '.join(STAGES)}")
        if isinstance(value, Mapping):
            node[stage] = library.merged(node[stage], value)
    run = run_config(node)
    replaced = {}
    for stage, value in overrides.items():
        if isinstance(value, Mapping):
            continue
        expected = type(getattr(run, stage))
        if not isinstance(value, expected):
            raise ConfigError(
                f"{stage} = {value!r} is not allowed: give a {expected.__name__} object or a dict of its fields"
            )
        replaced[stage] = value
    return dataclasses.replace(run, **replaced).model()
