"""Posterior draws of the free parameters, and predictions that carry their uncertainty.

:mod:`sim.inference` samples the posterior of a variant's free parameters (:data:`sim.targets.VARIANTS`) and writes
it to ``sim/configs/posterior/<variant>.nc``. This module reads such a file (:func:`load`), refusing one that does
not belong to the variant, and runs the batch engine (:mod:`sim.engines.batch`) over its draws to give the
quantiles of a readout (:func:`predict`), e.g. the deficit at a day, the largest deficit or the first recovered day.
:func:`phrase` words an interval and flags one that spans from "no effect" to "large effect".

A *conditional* posterior adds the parameters of a context the base posterior knows nothing of, sampled
conditional on each of its draws: ``<variant>_cus_v<N>.nc`` holds the stress-arm parameters of ``stress=cus``
(:mod:`sim.stress_posterior` writes it, :func:`load_conditional` reads it and refuses a file of another variant,
context or version).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from sim import library, targets
from sim.core.params import ConfigError
from sim.engines.batch import BatchEngine
from sim.io import open_result
from sim.model import PruningModel
from sim.presets import from_overrides

#: Context and version of the packaged conditional posterior (stress=cus); the version is part of the file name.
CONDITIONAL_CONTEXT = "cus"
CONDITIONAL_VERSION = 2

#: A loss below this [percent] counts as "no effect" (the study's "back to baseline", :data:`targets.RECOVERED_PERCENT`).
NO_EFFECT_PERCENT = targets.RECOVERED_PERCENT
#: A loss above this [percent] counts as a "large effect" (most of the 13 % loss reported after the high dose).
LARGE_EFFECT_PERCENT = 10.0


def variable_name(key: str) -> str:
    """NetCDF variable name of a config key (``microglia.activation_rate_per_h`` -> ``microglia__activation_rate_per_h``)."""
    return key.replace(".", "__")


def posterior_path(variant: str) -> Path:
    """Package-data file of a variant's posterior: ``<config dir>/posterior/<variant>.nc``."""
    return library.config_dir() / "posterior" / f"{variant}.nc"


def conditional_path(variant: str | None = None) -> Path:
    """Package-data file of the conditional (stress) posterior: ``<config dir>/posterior/<variant>_cus_v<N>.nc``."""
    name = _variant(variant).name
    return library.config_dir() / "posterior" / f"{name}_{CONDITIONAL_CONTEXT}_v{CONDITIONAL_VERSION}.nc"


def _variant(name: str | None) -> targets.Variant:
    name = targets.DEFAULT_VARIANT if name is None else name
    if name not in targets.VARIANTS:
        raise ConfigError(f"variant = {name!r} is not allowed: choose one of {', '.join(targets.VARIANTS)}")
    return targets.VARIANTS[name]


def check_matches(ds: xr.Dataset, variant: targets.Variant, where: str = "the posterior") -> None:
    """Raise :class:`ConfigError` unless ``ds`` holds exactly the free parameters of ``variant``."""
    stored = [k for k in str(ds.attrs.get("free_parameters", "")).split() if k]
    if ds.attrs.get("variant") != variant.name or tuple(stored) != variant.keys:
        only_file = sorted(set(stored) - set(variant.keys))
        only_variant = sorted(set(variant.keys) - set(stored))
        raise ConfigError(
            f"{where} (variant {ds.attrs.get('variant')!r}) does not match variant {variant.name!r}: only in the file: "
            f"{', '.join(only_file) or 'none'}; only in the variant: {', '.join(only_variant) or 'none'}"
            + ("" if only_file or only_variant else "; same names in another order")
            + " (regenerate it with python -m sim.inference)"
        )


def load(variant: str | None = None, path: str | os.PathLike | None = None) -> xr.Dataset:
    """Posterior draws of ``variant`` (default: :data:`targets.DEFAULT_VARIANT`) over ``(chain, draw)``.

    Raises :class:`ConfigError` for a variant unknown to :mod:`sim.targets`, a missing file, or a file whose free
    parameters differ from the variant's (the message names the names that differ in both directions).
    """
    spec = _variant(variant)
    path = Path(path) if path is not None else posterior_path(spec.name)
    if not path.is_file():
        raise ConfigError(
            f"no posterior for variant {spec.name!r}: {str(path)!r} does not exist (python -m sim.inference)"
        )
    ds = open_result(path)
    check_matches(ds, spec, where=str(path))
    return ds


def load_conditional(variant: str | None = None, path: str | os.PathLike | None = None) -> xr.Dataset:
    """The conditional posterior of the stress arm for ``variant`` (see the module docstring).

    Raises :class:`ConfigError` for a missing file or one of another variant, context or version (the message says
    how to regenerate it).
    """
    spec = _variant(variant)
    path = Path(path) if path is not None else conditional_path(spec.name)
    regenerate = "(regenerate it with python -m sim.stress_posterior --seed 7)"
    if not path.is_file():
        raise ConfigError(f"no stress posterior for variant {spec.name!r}: {str(path)!r} does not exist {regenerate}")
    ds = open_result(path)
    check_matches(ds, spec, where=str(path))
    found = (ds.attrs.get("context"), int(ds.attrs.get("version", -1)))
    if found != (CONDITIONAL_CONTEXT, CONDITIONAL_VERSION):
        raise ConfigError(
            f"{str(path)!r} holds context {found[0]!r} version {found[1]}, not {CONDITIONAL_CONTEXT!r} version "
            f"{CONDITIONAL_VERSION} {regenerate}"
        )
    return ds


def draws(ds: xr.Dataset, n_draws: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Parameter values of the posterior as ``{config key: values}``, flattened over chains.

    A conditional posterior (:func:`load_conditional`) gives its conditional parameters too. With ``n_draws`` a
    subset of that many draws is taken without replacement (reproducibly, by ``seed``).
    """
    keys = str(ds.attrs["free_parameters"]).split() + str(ds.attrs.get("conditional_parameters", "")).split()
    values = {key: np.ravel(ds[variable_name(key)].values) for key in keys}
    total = next(iter(values.values())).size
    if n_draws is not None and n_draws < total:
        pick = np.sort(np.random.default_rng(seed).choice(total, n_draws, replace=False))
        values = {key: v[pick] for key, v in values.items()}
    return values


# ---------------------------------------------------------------------------------------------------- readouts
def deficit_at(day: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Readout: spine deficit [percent] at ``day`` [d] (linear interpolation)."""

    def readout(times_d: np.ndarray, deficit: np.ndarray) -> np.ndarray:
        return targets.value_at(times_d, deficit, day)

    readout.__name__ = f"deficit_at_day_{day:g}"
    return readout


def max_deficit(times_d: np.ndarray, deficit: np.ndarray) -> np.ndarray:
    """Readout: largest spine deficit over the run [percent]."""
    return deficit.max(axis=-1)


def first_recovered_day(after_day: float = 0.0) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Readout: first output day after ``after_day`` with the deficit below 2 % [d] (inf: never)."""

    def readout(times_d: np.ndarray, deficit: np.ndarray) -> np.ndarray:
        return targets.first_recovered_day(times_d, deficit, after_day)

    readout.__name__ = f"first_recovered_day_after_{after_day:g}"
    return readout


def predict(
    model_or_overrides: PruningModel | Sequence[str],
    readout: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_draws: int | None = 200,
    quantiles: Sequence[float] = (0.05, 0.5, 0.95),
    *,
    variant: str | None = None,
    posterior: xr.Dataset | None = None,
    times_h: np.ndarray | None = None,
    engine: BatchEngine | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Quantiles of ``readout`` over posterior draws for a model (or command-line style overrides).

    ``readout(times_d, deficit)`` maps the deficit [percent] of every draw (draw x time) to one value per draw
    (:func:`deficit_at`, :func:`max_deficit`, :func:`first_recovered_day`). Returns ``{"quantiles": {q: value},
    "values": per-draw values, "n_draws": n}``. Overrides get the variant's selections appended; a model given as
    such must already have the variant's structure. The free parameters are replaced by the draws; everything
    else (drug, dose, genotype, ...) is the model's.
    """
    ds = posterior if posterior is not None else load(variant)
    spec = _variant(variant if variant is not None else ds.attrs.get("variant"))
    if posterior is not None:
        check_matches(ds, spec)
    if isinstance(model_or_overrides, PruningModel):
        model = model_or_overrides
        times_h = np.arange(0.0, 70.0 * 24.0 + 0.5, 1.0) if times_h is None else np.asarray(times_h, dtype=float)
    else:
        cfg = from_overrides([*model_or_overrides, *spec.selections])  # the variant's structure
        model = cfg.model()
        times_h = cfg.times_h() if times_h is None else np.asarray(times_h, dtype=float)
    values = draws(ds, n_draws, seed)
    relative, _ = (engine or BatchEngine()).spine_density_relative(model, times_h, values)
    result = np.asarray(readout(times_h / 24.0, targets.deficit_percent(relative)), dtype=float)
    return {
        "quantiles": {float(q): float(np.quantile(result, q)) for q in quantiles},
        "values": result,
        "n_draws": int(result.size),
    }


def phrase(quantiles: Mapping[float, float], units: str = "%", what: str = "spine loss") -> str:
    """Words for an interval, e.g. ``"spine loss 6.1 % (90 % interval 3.2-9.8 %)"``.

    The interval is the outermost pair of ``quantiles`` and the value its median (0.5). An interval that runs from
    "no effect" (< :data:`NO_EFFECT_PERCENT`) to "large effect" (> :data:`LARGE_EFFECT_PERCENT`) is flagged: the
    data then cannot tell whether there is an effect at all.
    """
    qs = sorted(quantiles)
    low, high = quantiles[qs[0]], quantiles[qs[-1]]
    mid = quantiles.get(0.5, float(np.median([low, high])))
    width = round(100 * (qs[-1] - qs[0]))
    text = f"{what} {mid:.3g} {units} ({width} % interval {low:.3g}-{high:.3g} {units})"
    if low < NO_EFFECT_PERCENT and high > LARGE_EFFECT_PERCENT:
        text += (
            f" — uninformative: the interval runs from no effect (< {NO_EFFECT_PERCENT:g} {units}) to a large "
            f"effect (> {LARGE_EFFECT_PERCENT:g} {units})"
        )
    return text


def spans_no_to_large(quantiles: Mapping[float, float]) -> bool:
    """True if the outermost quantiles run from below "no effect" to above "large effect" (see :func:`phrase`)."""
    qs = sorted(quantiles)
    return quantiles[qs[0]] < NO_EFFECT_PERCENT and quantiles[qs[-1]] > LARGE_EFFECT_PERCENT


__all__ = [
    "check_matches",
    "conditional_path",
    "deficit_at",
    "draws",
    "first_recovered_day",
    "load",
    "load_conditional",
    "max_deficit",
    "phrase",
    "posterior_path",
    "predict",
    "spans_no_to_large",
    "variable_name",
]
