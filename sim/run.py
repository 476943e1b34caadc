"""Run configuration and :func:`simulate`, the one entry point that turns a model or a configuration into a result.

No Hydra here: ``sim.simulate(sim.PruningModel())`` runs the calibrated headline arm from dataclasses alone, and
:class:`RunConfig` (what ``synaprune`` and :func:`sim.presets.experiment` build) carries its own run settings.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
import yaml

from sim import library
from sim.binding import binding_provenance
from sim.checks import check_run
from sim.core.params import ConfigError, check_positive, param
from sim.core.results import finalize
from sim.core.stage import GROUPS
from sim.engines.agents import AgentEngine
from sim.engines.ode import OdeEngine
from sim.model import PruningModel, calibrated

#: The species whose data the microglia/spine parameters were calibrated on (sim/configs/calibration/shi2022.yaml).
CALIBRATED_SPECIES = "mouse"

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

#: Memory limit of :func:`simulate_model` (``RunConfig.memory_limit_gib`` sets it for :func:`simulate`) [GiB].
MEMORY_LIMIT_GIB = 4.0


#: Methods of ``RunConfig.uncertainty`` (config group ``uncertainty=``; run by :mod:`sim.uncertainty`).
UNCERTAINTY_METHODS = ("none", "posterior", "ranges")


@dataclass
class UncertaintySettings:
    """Run an experiment over parameter draws (:mod:`sim.uncertainty`): ``uncertainty=none|posterior|ranges``.

    ``posterior``: ``draws`` draws of the posterior of the free parameters (:mod:`sim.posterior`); ``ranges``:
    ``draws`` independent uniform draws in the stated ``ranges`` (``{config key: [low, high]}``). The draws are
    taken with the run's ``seed``.
    """

    method: str = param("none", units="", long_name="none, posterior or ranges", source="")
    draws: int = param(200, units="1", long_name="number of parameter draws (dimension draw)", source="")
    ranges: dict[str, list[float]] = param(
        {}, units="", long_name="stated ranges {config key: [low, high]} (method ranges)", source=""
    )

    def __post_init__(self) -> None:
        if self.method not in UNCERTAINTY_METHODS:
            raise ConfigError(
                f"uncertainty = {self.method!r} is not allowed: choose one of {', '.join(UNCERTAINTY_METHODS)}"
            )
        if not isinstance(self.draws, (int, np.integer)) or isinstance(self.draws, bool) or self.draws < 2:
            raise ConfigError(f"uncertainty.draws = {self.draws!r} is not allowed: it must be an integer >= 2")
        for key, bounds in self.ranges.items():
            numbers = isinstance(bounds, (list, tuple)) and len(bounds) == 2
            numbers = numbers and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
            if not (numbers and math.isfinite(bounds[0]) and math.isfinite(bounds[1]) and bounds[0] < bounds[1]):
                raise ConfigError(
                    f"uncertainty.ranges.{key} = {bounds!r} is not allowed: give [low, high] with finite low < high"
                )
        if (self.method == "ranges") != bool(self.ranges):
            raise ConfigError(
                "uncertainty.ranges is empty: give {config key: [low, high]} with uncertainty=ranges"
                if not self.ranges
                else f"uncertainty.ranges is set but uncertainty = {self.method!r}: use uncertainty=ranges"
            )


#: Allowed values of the animation options: (check, what to give) per field of :class:`AnimationOptions`.
_ANIMATION_ALLOWED = {
    "fps": (lambda v: _integer(v) and 1 <= v <= 50, "a whole number from 1 to 50"),
    "duration_s": (lambda v: _finite(v) and 0 < v <= 600, "a length in seconds, 0 < s <= 600"),
    "dpi": (lambda v: _integer(v) and 30 <= v <= 200, "a whole number from 30 to 200"),
    "dendrites": (lambda v: _integer(v) and 1 <= v <= 32, "a whole number from 1 to 32"),
    "dosing_share": (lambda v: v is None or (_finite(v) and 0 < v < 1), "a fraction strictly between 0 and 1, or null"),
}


def _integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _finite(value: object) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


@dataclass
class AnimationOptions:
    """The dendrite GIF of :mod:`sim.animate`: one definition for ``synaprune animate=true`` and ``sim.animate``.

    ``RunConfig.animate``: ``animate=true`` on the command line is short for ``animate.enabled=true``
    (:data:`sim.library.KEY_ALIASES`), the other fields are set with ``animate.<field>=value`` on either command line.
    Checked here, once, for both: a bad value, or a changed option without ``animate=true`` (it would do nothing),
    raises :class:`ConfigError` naming the key, the value and what is allowed. The former root keys
    ``animation_fps`` and ``animation_frames`` are refused with their new spelling (:data:`sim.library.RENAMED_KEYS`).

    Attributes
    ----------
    enabled
        Write ``dendrite.gif`` next to the result (``animate=true``; ``python -m sim.animate`` always sets it).
    fps
        Frames per second [1/s], 1 to 50 (GIF frame durations are whole hundredths of a second).
    duration_s
        Length of one loop of the GIF [s]; the GIF has ``round(fps * duration_s)`` frames (:attr:`frames`, 2 to 1000).
    dpi
        Resolution [dots per inch], 30 to 200; the frames are ``8 x (2.2 + 5.6)`` inch (``sim.animate.FIGURE_IN``).
    dendrites
        Number of dendrite segments drawn, one row each, 1 to 32. With 3 segments (about 55 spines) the count's
        own fluctuation is as large as the drug's effect; with 12 (about 220) the loss and the recovery stand out.
    dosing_share
        Share of the loop spent in the dosing period [1], between 0 and 1 (at least the dosing period's share of the
        simulated time); ``None``: frames evenly spaced in simulated time.
    """

    enabled: bool = param(False, units="", long_name="write dendrite.gif next to the result (animate=true)", source="")
    fps: int = param(12, units="1/s", long_name="frames per second of dendrite.gif", source="")
    duration_s: float = param(12.0, units="s", long_name="length of one loop of dendrite.gif", source="")
    dpi: int = param(80, units="1/inch", long_name="resolution of dendrite.gif (dots per inch)", source="")
    dendrites: int = param(12, units="1", long_name="dendrite segments drawn in dendrite.gif", source="")
    dosing_share: float | None = param(
        0.4, units="1", long_name="share of the loop spent in the dosing period (null: even in time)", source=""
    )

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"animate.enabled = {self.enabled!r} is not allowed: give true or false")
        for key, (ok, allowed) in _ANIMATION_ALLOWED.items():
            if not ok(getattr(self, key)):
                raise ConfigError(f"animate.{key} = {getattr(self, key)!r} is not allowed: give {allowed}")
        if not 2 <= self.frames <= 1000:
            raise ConfigError(
                f"animate.fps x animate.duration_s = {self.fps} x {self.duration_s:g} gives {self.frames} frames, "
                "which is not allowed: give 2 to 1000 frames"
            )
        if not self.enabled:
            changed = [key for key in _ANIMATION_ALLOWED if getattr(self, key) != getattr(AnimationOptions, key)]
            if changed:
                raise ConfigError(
                    f"animate.{changed[0]} = {getattr(self, changed[0])!r} is set but animate = false: add "
                    "animate=true to write dendrite.gif"
                )

    @property
    def frames(self) -> int:
        """Number of frames of the GIF, ``round(fps * duration_s)``."""
        return round(self.fps * self.duration_s)


#: Distributions a translation range may be sampled from (``translation.ranges.<key>.distribution``).
TRANSLATION_DISTRIBUTIONS = ("uniform", "log-uniform")

#: Stage groups whose fields a translation may draw: the stages the batch engine varies per draw.
TRANSLATION_GROUPS = ("microglia", "spines")


@dataclass
class TranslationRange:
    """The stated range of one translation parameter: ``[low, high]``, its distribution and its source."""

    low: float = param(1.0, units="", long_name="lower end of the range (units of the parameter)", source="")
    high: float = param(1.0, units="", long_name="upper end of the range (units of the parameter)", source="")
    distribution: str = param("log-uniform", units="", long_name="uniform or log-uniform", source="")
    source: str = param("", units="", long_name="primary source ([key]) or 'assumption: ...'", source="")

    def problem(self) -> str | None:
        """What is wrong with this range (None if nothing)."""
        if self.distribution not in TRANSLATION_DISTRIBUTIONS:
            return f"distribution {self.distribution!r}: choose one of {', '.join(TRANSLATION_DISTRIBUTIONS)}"
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.low, self.high))
        if not (numbers and math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            return f"[{self.low!r}, {self.high!r}]: give finite low < high"
        if self.distribution == "log-uniform" and self.low <= 0:
            return f"[{self.low!r}, {self.high!r}]: a log-uniform range needs low > 0"
        if not self.source.strip():
            return "no source: give a [key] of docs/references.md or 'assumption: ...'"
        return None


@dataclass
class TranslationSettings:
    """How the calibrated mouse microglia and spines carry over to the run's species (``translation=``).

    ``name`` is ``none`` (the calibrated stages as they are: one run) or the run's species (the config group
    ``translation`` follows ``species``: ``sim/configs/translation/<species>.yaml``). For a species other than the
    calibrated one (:data:`CALIBRATED_SPECIES`), ``ranges`` (``{"<group>__<field>": TranslationRange}``, fields of
    the microglia and spines stages) are sampled per posterior draw (:mod:`sim.uncertainty`); ``fixed`` names the
    stage values the translation file sets (``{"<group>__<field>": source}``; the values are in the stages).
    """

    name: str = param("none", units="", long_name="none or the run's species", source="")
    ranges: dict[str, TranslationRange] = param(
        {}, units="", long_name="stated ranges of the translation parameters sampled per draw", source=""
    )
    fixed: dict[str, str] = param(
        {}, units="", long_name="sources of the stage values the translation file sets", source=""
    )

    def __post_init__(self) -> None:
        for key, bounds in self.ranges.items():
            problem = (
                bounds.problem() if isinstance(bounds, TranslationRange) else "give {low, high, distribution, source}"
            )
            if problem:
                raise ConfigError(f"translation.ranges.{key} is not allowed: {problem}")

    @property
    def keys(self) -> list[str]:
        """Dotted config keys of the sampled parameters (``microglia.response_scale``, ...)."""
        return [key.replace("__", ".") for key in self.ranges]


def check_translation(translation: TranslationSettings, run: Any) -> None:
    """Raise :class:`ConfigError` unless ``translation`` fits the run's species, stages and engine."""
    species = run.species.name
    if translation.name not in ("none", species):
        raise ConfigError(
            f"translation = {translation.name!r} is not allowed with species = {species!r}: use translation={species} "
            "(the default) or translation=none"
        )
    if translation.name == CALIBRATED_SPECIES and translation.ranges:
        raise ConfigError(
            f"translation.ranges is set for translation = {CALIBRATED_SPECIES!r}: the calibrated species has no "
            "translation parameters"
        )
    for key in [*translation.ranges, *translation.fixed]:
        group, _, name = key.replace("__", ".").partition(".")
        stage = getattr(run, group, None) if group in TRANSLATION_GROUPS else None
        fields = {f.name for f in dataclasses.fields(stage)} if stage is not None else set()
        if name not in fields or not isinstance(getattr(stage, name), float):
            raise ConfigError(
                f"translation key {key!r} is not allowed: give '<group>__<field>' of a float field of "
                f"{' or '.join(TRANSLATION_GROUPS)}"
            )
    if translation.ranges and species != CALIBRATED_SPECIES and not isinstance(run.engine, OdeEngine):
        raise ConfigError(
            f"engine = {run.engine.name!r} is not allowed with translation = {translation.name!r}: the band over "
            "draws runs on the batch engine; use translation=none for a single run"
        )


@dataclass
class RunConfig:
    """Everything one simulation needs: the stages, the regimen, the engine and the output grid.

    The stage fields mirror :class:`~sim.model.PruningModel` (one per group of :data:`sim.core.stage.GROUPS`)
    and default to the calibrated headline arm.
    """

    drug: Any = field(default_factory=calibrated("drug"))
    species: Any = field(default_factory=calibrated("species"))
    genotype: Any = field(default_factory=calibrated("genotype"))
    sex: Any = field(default_factory=calibrated("sex"))
    regimen: Any = field(default_factory=calibrated("regimen"))
    pk: Any = field(default_factory=calibrated("pk"))
    binding: Any = field(default_factory=calibrated("binding"))
    tolerance: Any = field(default_factory=calibrated("tolerance"))
    stress: Any = field(default_factory=calibrated("stress"))
    microglia: Any = field(default_factory=calibrated("microglia"))
    depletion: Any = field(default_factory=calibrated("depletion"))
    spines: Any = field(default_factory=calibrated("spines"))
    cognition: Any = field(default_factory=calibrated("cognition"))
    engine: Any = field(default_factory=OdeEngine)
    name: str = param("run", units="", long_name="experiment name", source="")
    duration_days: float = param(
        70.0,
        units="d",
        long_name="simulated time after time zero",
        source="[shi2022] as reported by [pz2022]: recovery by about day 56",
    )
    output_step_h: float = param(
        1.0, units="h", long_name="spacing of the output grid", source="assumption: resolves the daily dose pulses"
    )
    seed: int = param(
        0,
        units="1",
        long_name="seed of the random number generator (agent engine)",
        source="assumption: any fixed seed makes a run reproducible; 0 by convention",
    )
    tags: list[str] = param([], units="", long_name="free-form labels", source="")
    figure: bool = param(True, units="", long_name="write timecourse.png next to the result (CLI)", source="")
    output_file: str = param("result.nc", units="", long_name="result file name in the run directory (CLI)", source="")
    memory_limit_gib: float = param(
        4.0,
        units="GiB",
        long_name="refuse a run whose arrays are estimated to need more memory than this (sim.checks)",
        source="assumption: a quarter of a 16-GiB workstation",
    )
    animate: AnimationOptions = field(
        default_factory=AnimationOptions,
        metadata={
            "units": "",
            "long_name": "dendrite.gif next to the result: animate=true, animate.fps, ... (CLI; sim.animate)",
            "source": "",
        },
    )
    calibration: str = param("shi2022", units="", long_name="calibration option or file", source="")
    scheduler: str | None = param(
        None,
        units="",
        long_name="where the agent engine's chunks run: null (this process), local (a Dask cluster on this machine) or "
        "a Dask scheduler address such as tcp://host:8786; the result does not depend on it (CLI: sim.distributed)",
        source="",
    )
    uncertainty: UncertaintySettings = field(
        default_factory=UncertaintySettings,
        metadata={"units": "", "long_name": "run over parameter draws (uncertainty=, sim.uncertainty)", "source": ""},
    )
    translation: TranslationSettings = field(
        default_factory=TranslationSettings,
        metadata={
            "units": "",
            "long_name": "mouse-to-species translation parameters sampled per draw (translation=, sim.uncertainty)",
            "source": "",
        },
    )

    def __post_init__(self) -> None:
        check_run_settings(self.duration_days, self.output_step_h, self.seed)
        check_positive(self, "memory_limit_gib")
        if not isinstance(self.animate, AnimationOptions):
            raise ConfigError(
                f"animate = {self.animate!r} is not allowed: give AnimationOptions(enabled=True, ...) (animate=true on "
                "the command line)"
            )
        check_scheduler(self.scheduler, self.engine)
        check_stress(self.stress, self.duration_days, self.engine)
        check_translation(self.translation, self)

    def model(self) -> PruningModel:
        """The coupled model built from this configuration's stages."""
        return PruningModel(**{group: getattr(self, group) for group in GROUPS})

    def times_h(self) -> np.ndarray:
        """Output grid from 0 to ``duration_days`` [h] (the end point is always included)."""
        return output_times_h(self.duration_days, self.output_step_h)

    def to_yaml(self) -> str:
        """The resolved configuration as YAML (stored once in every result)."""
        return config_yaml(self)


_YAML_CACHE: dict[str, str] = {}
_YAML_CACHE_SIZE = 128


def config_yaml(config: Any) -> str:
    """YAML of a dataclass configuration, remembered per distinct content (``repr``, ~0.1 ms, vs ~2.5 ms to dump).

    Runs that repeat a configuration (benchmarks, seeds, replicates of a sweep point) serialise it once.
    """
    key = repr(config)
    text = _YAML_CACHE.get(key)
    if text is None:
        text = yaml.dump(dataclasses.asdict(config), Dumper=_DUMPER, sort_keys=False)
        if len(_YAML_CACHE) >= _YAML_CACHE_SIZE:
            _YAML_CACHE.pop(next(iter(_YAML_CACHE)))
        _YAML_CACHE[key] = text
    return text


def check_run_settings(duration_days: float, output_step_h: float, seed: int) -> None:
    """Raise :class:`ConfigError` for a non-positive duration or step, a step longer than the run, or a bad seed."""
    for key, value in (("duration_days", duration_days), ("output_step_h", output_step_h)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"{key} = {value!r} is not allowed: it must be a positive finite number")
        if value <= 0:
            raise ConfigError(f"{key} = {value!r} is not allowed: it must be > 0")
    if output_step_h > duration_days * 24.0:
        raise ConfigError(
            f"output_step_h = {output_step_h!r} is not allowed: it must not exceed duration_days × 24 = "
            f"{duration_days * 24.0:g} h"
        )
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed = {seed!r} is not allowed: it must be a non-negative integer")


def check_stress(stress: Any, duration_days: float, engine: Any) -> None:
    """Raise :class:`ConfigError` if the stress course starts after the run ends, or the engine cannot simulate it."""
    stress.check_window(duration_days)
    if stress.state_names and not isinstance(engine, OdeEngine):
        raise ConfigError(
            f"stress = {stress.name!r} is not allowed with engine = {engine.name!r}: the stress stage runs with "
            "engine=ode only"
        )


def check_scheduler(scheduler: Any, engine: Any) -> None:
    """Raise :class:`ConfigError` unless ``scheduler`` is None, ``"local"`` or an address, for the agent engine."""
    if scheduler is None:
        return
    if not isinstance(scheduler, str) or not (scheduler == "local" or "://" in scheduler):
        raise ConfigError(
            f"scheduler = {scheduler!r} is not allowed: give null, local or a Dask scheduler address such as "
            "tcp://host:8786"
        )
    if not isinstance(engine, AgentEngine):
        raise ConfigError(
            f"scheduler = {scheduler!r} is not allowed with engine = {getattr(engine, 'name', engine)!r}: it runs the "
            "agent engine's chunks (engine=agents); sweeps go to a cluster with hydra/launcher=batch "
            "hydra.launcher.store=zarr hydra.launcher.scheduler=..."
        )


def output_times_h(duration_days: float, output_step_h: float) -> np.ndarray:
    """Output grid from 0 to ``duration_days`` [h] every ``output_step_h`` (the end point is always included)."""
    end = duration_days * 24.0
    n = int(math.floor(end / output_step_h + 1e-9))
    grid = output_step_h * np.arange(n + 1)
    return grid if math.isclose(grid[-1], end) else np.append(grid, end)


def as_run_config(model_or_config: PruningModel | RunConfig, translation: Any = None, **settings: Any) -> RunConfig:
    """The :class:`RunConfig` of :func:`simulate`'s first argument and run settings (``duration_days``, ...).

    A model gets the default run settings (70 days, 1-h grid, seed 0, ODE engine) updated by the ``settings`` that
    are not None, and ``translation`` (a :class:`TranslationSettings`; default none); a run configuration is returned
    as it is (no settings may be given).
    """
    if isinstance(model_or_config, PruningModel):
        given = {key: value for key, value in settings.items() if value is not None}
        return RunConfig(
            **{group: getattr(model_or_config, group) for group in GROUPS},
            **{"duration_days": 70.0, "output_step_h": 1.0, "seed": 0, **given},
            calibration=calibration_of(model_or_config),
            **({"translation": translation} if translation is not None else {}),
        )
    if isinstance(model_or_config, RunConfig):
        passed = [key for key, value in settings.items() if value is not None]
        if passed:
            raise TypeError(
                f"simulate() got {', '.join(passed)} with a RunConfig, which carries its own run settings; "
                "change them with dataclasses.replace(config, ...)"
            )
        return model_or_config
    raise TypeError(
        f"simulate() takes a PruningModel or a RunConfig, not {type(model_or_config).__name__} "
        "(convert a composed Hydra config with sim.config.to_run_config)"
    )


def simulate(
    model_or_config: PruningModel | RunConfig,
    *,
    duration_days: float | None = None,
    output_step_h: float | None = None,
    engine: Any = None,
    seed: int | None = None,
    sweep: bool = False,
    client: Any = None,
) -> xr.Dataset:
    """Simulate a model or a run configuration; returns an :class:`xarray.Dataset` with ``time`` in days.

    Parameters
    ----------
    model_or_config
        A :class:`~sim.model.PruningModel` (e.g. ``sim.PruningModel()``, the calibrated headline arm), a
        :class:`RunConfig` (which carries its own run settings, so the keywords below must not be given).
    duration_days
        Simulated time [d]; 70 by default.
    output_step_h
        Spacing of the output grid [h]; 1 by default.
    engine
        :class:`~sim.engines.ode.OdeEngine` (default) or :class:`~sim.engines.agents.AgentEngine`.
    seed
        Seed of the single random generator (agent engine); 0 by default.
    sweep
        Add the length-1 ``dose`` and ``withdrawal_time`` dimensions that command-line results carry, so that
        results combine into a grid (:func:`sim.collect`).
    client
        Where the agent engine's chunks run: a :class:`distributed.Client` (``sim.distributed.get_client("local")``
        or an address) or any executor with ``submit``; ``None`` runs them here. The result is the same bit for
        bit. A run configuration whose ``scheduler`` is set needs it (the command line resolves ``scheduler``).

    Returns
    -------
    xarray.Dataset
        Every variable has ``units`` and ``long_name``; the attributes record the resolved configuration, seed,
        package version, git commit and engine settings.
    """
    settings = {"duration_days": duration_days, "output_step_h": output_step_h, "engine": engine, "seed": seed}
    run = as_run_config(model_or_config, **settings)
    check_run_settings(run.duration_days, run.output_step_h, run.seed)
    model = run.model()
    output_times = run.duration_days * 24.0 / run.output_step_h + 1.0
    checked = check_run(
        model, run.engine, run.duration_days, output_times, run.memory_limit_gib, dose_limit=library.max_daily_dose
    )
    if client is not None and not isinstance(run.engine, AgentEngine):
        raise ConfigError("simulate(client=...) is not allowed with the ODE engine: a client runs the agent engine's "
                          "chunks (engine=agents)")  # fmt: skip
    if client is None and run.scheduler is not None:
        raise ConfigError(
            f"scheduler = {run.scheduler!r} needs a client: pass client=sim.distributed.get_client({run.scheduler!r}) "
            "to simulate() (the command line does this itself)"
        )
    on_client = {"client": client} if client is not None else {}  # only the agent engine takes one
    ds = run.engine.simulate(model, run.times_h(), np.random.default_rng(run.seed), **on_client)
    sweep_coords = (
        {"dose": run.regimen.dose_per_kg(run.species.body_weight_kg), "withdrawal_time": run.regimen.withdrawal_day}
        if sweep
        else None
    )
    return finalize(
        ds,
        config=run.to_yaml(),
        seed=run.seed,
        engine=_engine_description(run.engine),
        attrs={
            "experiment": run.name,
            **model_attributes(model),
            **calibration_attributes(run.calibration),
            **checked,  # implausible_dose, when regimen.allow_implausible_dose let a run through (sim.checks)
        },
        sweep=sweep_coords,
    )


def calibration_attributes(calibration: str) -> dict[str, str]:
    """The calibration option or file behind a run and the SHA-256 of its file ("" for ``none``)."""
    return {"calibration": calibration, "calibration_sha256": library.calibration_sha256(calibration)}


def calibration_of(model: PruningModel) -> str:
    """``"shi2022"`` if the model carries every value of the packaged calibration file, else ``"none"``.

    Only the fitted fields are compared (e.g. ``microglia.activation_rate_per_h``), so a hippocampus or TSPO-KO
    model built on the calibration still counts as calibrated.
    """
    fitted = library.calibration_values(library.HEADLINE_CALIBRATION)
    for group, values in fitted.items():
        stage = getattr(model, group)
        if any(getattr(stage, name) != value for name, value in values.items()):
            return "none"
    return library.HEADLINE_CALIBRATION


def _engine_description(engine: Any) -> str:
    settings = ", ".join(f"{key}={value}" for key, value in dataclasses.asdict(engine).items() if key != "name")
    return f"{getattr(engine, 'name', type(engine).__name__)} ({settings})"


def model_attributes(model: PruningModel) -> dict[str, Any]:
    """Descriptive attributes of a result: what was simulated (drug, species, ... and each stage's class)."""
    first, last = model.dosing_period_days
    attrs: dict[str, Any] = {
        "drug": model.drug.name,
        "species": model.species.name,
        "genotype": model.genotype.name,
        "sex": model.sex.name,
        "region": model.spines.region,
        "route": model.regimen.route,
        **model.regimen.dose_attributes(model.species.body_weight_kg),  # dose in mg/kg and mg, and the key that set it
        "dosing_start_day": first,
        "dosing_stop_day": last,
        "depletion": model.depletion.name,
        "model_variant": ", ".join(f"{group}={type(getattr(model, group)).__name__}" for group in GROUPS),
    }
    if model.species.name != CALIBRATED_SPECIES:
        caveat = (
            f"microglia and spine parameters are calibrated to {CALIBRATED_SPECIES} somatosensory cortex under daily "
            f"pulse exposure; spine and behaviour outputs for {model.species.name} are extrapolations (PK from "
            f"{model.species.name} studies where sim/configs/compound_pk cites them; {binding_provenance(model)})"
        )
        warnings.warn(caveat, UserWarning, stacklevel=3)
        attrs["caveat"] = caveat
    return attrs


def simulate_model(model: PruningModel, times_h: np.ndarray, engine: Any = None, seed: int = 0) -> xr.Dataset:
    """Simulate ``model`` at explicit output times [h] (an uneven grid, e.g. extra points after each dose)."""
    engine = engine or OdeEngine()
    times_h = np.asarray(times_h, dtype=float)
    duration_days = float(times_h[-1]) / 24.0 if times_h.size else 0.0
    checked = check_run(model, engine, duration_days, times_h.size, MEMORY_LIMIT_GIB, dose_limit=library.max_daily_dose)
    ds = engine.simulate(model, times_h, np.random.default_rng(seed))
    attrs = {**model_attributes(model), **calibration_attributes(calibration_of(model)), **checked}
    return finalize(ds, config=config_yaml(model), seed=seed, engine=_engine_description(engine), attrs=attrs)
