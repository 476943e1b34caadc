"""Any experiment over parameter draws, with median and 5-95 % bands: ``synaprune ... uncertainty=posterior``.

:func:`run_with_uncertainty` runs a :class:`~sim.run.RunConfig` over ``run.uncertainty.draws`` parameter sets in
one :func:`sim.sweep` call (``mode="zip"``: the batch engine integrates PK and binding once and every set's
microglia and spines together) and returns one Dataset with a dimension ``draw``:

* ``uncertainty=posterior``: draws of the posterior of the free parameters of the package's variant
  (:data:`sim.targets.DEFAULT_VARIANT`, ``sim/configs/posterior/<variant>.nc``, :func:`sim.posterior.draws`),
  taken without replacement with the run's ``seed``. The joint draws keep the posterior's correlations.
  A run with chronic stress (``stress=cus``) takes its draws from the stress-arm posterior conditional on that
  posterior (:func:`sim.posterior.load_conditional`, :mod:`sim.stress_posterior`): Shi and stress parameters of
  the same draw together.
* ``uncertainty=ranges``: independent uniform draws in stated ranges ``{config key: [low, high]}`` (the run's
  ``seed``); this ignores any correlation between the parameters.

The parameter values of each draw are coordinates along ``draw`` (``microglia__activation_rate_per_h``, ...).
For each output in :data:`OUTPUTS` the Dataset also holds ``<output>_median``, ``<output>_q05`` and
``<output>_q95`` (the 50th, 5th and 95th percentiles over the draws, NaN draws skipped), with the output's units.

The posterior belongs to one model structure (its variant's ``microglia=`` and ``spines=`` choices): a run of
another structure (e.g. ``microglia=adaptive``, ``spines=hippocampus``) is refused. A run of another species gets
the mouse posterior with the caveat every non-mouse run carries (attribute ``caveat``).

``uncertainty=none`` (the default) is a single deterministic run: uncertainty is opt-in.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from sim import library, posterior, targets
from sim.core.params import ConfigError
from sim.run import RunConfig, model_attributes
from sim.sweep import sweep

#: Outputs summarised by quantiles (and returned per draw) by default.
OUTPUTS: tuple[str, ...] = (
    "spine_density_relative",
    "microglia_activation",
    "c1q_level",
    "tspo_pet_proxy",
    "nor_discrimination_index",
    "plasma_concentration",  # upstream of every sampled parameter: its band has zero width (a check)
)

#: Summary variables: suffix, quantile, words.
QUANTILES: tuple[tuple[str, float, str], ...] = (
    ("q05", 0.05, "5th percentile"),
    ("median", 0.5, "median"),
    ("q95", 0.95, "95th percentile"),
)

DRAW_ATTRS = {"units": "1", "long_name": "parameter draw (uncertainty)"}


def config_key(key: str) -> str:
    """``microglia__activation_rate_per_h`` or ``microglia.activation_rate_per_h`` -> the dotted config key."""
    return key.replace("__", ".")


def check_structure(run: RunConfig, variant: targets.Variant, selections: Sequence[str] | None = None) -> None:
    """Raise :class:`ConfigError` unless ``run`` has the model structure the posterior of ``variant`` was fitted to.

    Compared: the stage class of every group the variant selects (``microglia=default`` ...; ``selections`` of a
    conditional posterior instead, e.g. with ``stress=cus spines=prefrontal_cortex``) and, for spines, the region.
    """
    selections = list(variant.selections if selections is None else selections)
    chosen = library.build(library.compose([*library.HEADLINE, *selections]))
    for selection in selections:
        group = selection.partition("=")[0]
        mine, theirs = getattr(run, group), chosen[group]
        same = type(mine) is type(theirs) and getattr(mine, "region", None) == getattr(theirs, "region", None)
        if not same:
            raise ConfigError(
                f"uncertainty = 'posterior' is not allowed for this run: the posterior (variant {variant.name!r}) was "
                f"fitted with {' '.join(selections)}, the run's {group} is {type(mine).__name__}"
                + (f" ({mine.region})" if hasattr(mine, "region") else "")
                + "; use uncertainty=ranges or the variant's structure"
            )


def parameter_draws(run: RunConfig, variant: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The parameter sets of ``run.uncertainty`` as ``{config key: values}`` and attributes that describe them.

    Raises :class:`ConfigError` for ``uncertainty=none``, a run whose structure the posterior does not fit
    (:func:`check_structure`), or more draws than the posterior holds.
    """
    settings = run.uncertainty
    n = settings.draws
    if settings.method == "posterior":
        spec = targets.VARIANTS[variant or targets.DEFAULT_VARIANT]
        stressed = bool(run.stress.state_names)  # stress=cus: the conditional posterior of the stress arm
        if stressed:
            ds = posterior.load_conditional(spec.name)
            check_structure(run, spec, str(ds.attrs["selections"]).split())
            where = f"sim/configs/posterior/{posterior.conditional_path(spec.name).name}"
            what = f"stress-arm posterior conditional on variant {spec.name}"
        else:
            ds = posterior.load(spec.name)
            check_structure(run, spec)
            where, what = f"sim/configs/posterior/{spec.name}.nc", f"posterior of variant {spec.name}"
        total = int(np.prod([ds.sizes[d] for d in ("chain", "draw") if d in ds.sizes]))
        if n > total:
            raise ConfigError(f"uncertainty.draws = {n} is not allowed: the posterior holds {total} draws (at most)")
        values = posterior.draws(ds, n, seed=run.seed)
        attrs = {
            "uncertainty_source": f"{what} ({where}), {n} of {total} joint draws without replacement (correlations "
            "kept)",
            "posterior_sim_version": str(ds.attrs.get("sim_version", "")),
            "posterior_git_commit": str(ds.attrs.get("git_commit", "")),
        }
        return values, attrs
    if settings.method == "ranges":
        rng = np.random.default_rng(run.seed)
        ranges = {config_key(k): (float(low), float(high)) for k, (low, high) in settings.ranges.items()}
        values = {key: rng.uniform(low, high, n) for key, (low, high) in ranges.items()}
        attrs = {
            "uncertainty_source": "independent uniform draws in stated ranges (correlations ignored)",
            "uncertainty_ranges": json.dumps({k: list(v) for k, v in ranges.items()}),
        }
        return values, attrs
    raise ConfigError("uncertainty = 'none' is not allowed here: choose uncertainty=posterior or uncertainty=ranges")


def add_quantiles(ds: xr.Dataset, outputs: Sequence[str] | None = None, dim: str = "draw") -> xr.Dataset:
    """Add ``<output>_q05``, ``_median`` and ``_q95`` over ``dim`` for each output (NaN draws skipped)."""
    names = [
        n for n in (outputs or ds.data_vars) if dim in ds[n].dims and not n.endswith(tuple(q for q, *_ in QUANTILES))
    ]
    for name in names:
        da = ds[name]
        values = np.nanquantile(np.asarray(da.values), [q for _, q, _ in QUANTILES], axis=da.dims.index(dim))
        rest = [d for d in da.dims if d != dim]
        for (suffix, q, words), v in zip(QUANTILES, values):
            ds[f"{name}_{suffix}"] = xr.Variable(
                rest,
                v,
                {
                    "units": da.attrs.get("units", ""),
                    "long_name": f"{words} over parameter draws of {da.attrs.get('long_name', name)}",
                    "cell_methods": f"{dim}: {'median' if q == 0.5 else f'percentile {round(100 * q)}'}",
                },
            )
    return ds


def run_with_uncertainty(
    run: RunConfig, *, outputs: Sequence[str] = OUTPUTS, variant: str | None = None, progress: bool = True
) -> xr.Dataset:
    """Run ``run`` over the parameter draws of ``run.uncertainty``; the outputs per ``draw`` and their quantiles.

    Parameters
    ----------
    run
        The experiment, with ``run.uncertainty.method`` ``"posterior"`` or ``"ranges"`` (``draws`` >= 2).
    outputs
        Outputs to return per draw and summarise (names of :data:`sim.core.results.OUTPUTS`).
    variant
        Posterior variant (default :data:`sim.targets.DEFAULT_VARIANT`).
    progress
        Progress bar of the sweep (on a terminal).

    Raises
    ------
    ConfigError
        Before anything runs: ``uncertainty=none``, a structure the posterior does not fit, more draws than the
        posterior holds, a range key that is not a field of a stage, or a value its stage refuses.
    """
    values, attrs = parameter_draws(run, variant)
    ds = sweep(run, values, mode="zip", variables=list(outputs), progress=progress)
    ds = ds.rename(sample="draw").assign_coords(draw=("draw", np.arange(run.uncertainty.draws), DRAW_ATTRS))
    ds = add_quantiles(ds, outputs)
    for key in ("sweep_mode", "sweep_keys", "sweep_values", "sweep_sets", "sweep_groups"):
        ds.attrs.pop(key, None)
    ds.attrs.update(model_attributes(run.model()))
    ds.attrs.update(
        {
            "uncertainty_method": run.uncertainty.method,
            "uncertainty_draws": run.uncertainty.draws,
            "uncertainty_seed": run.seed,
            "uncertainty_parameters": " ".join(values),
            **attrs,
        }
    )
    return ds


# ---------------------------------------------------------------------------------------------------- figure
#: Panels of :func:`plot_bands`: output, axis label.
PANELS = (
    ("spine_density_relative", "spine density\n[% of baseline]"),
    ("microglia_activation", "microglial activation\n[fraction]"),
    ("nor_discrimination_index", "NOR discrimination\n[index, 0 = chance]"),
)


def plot_bands(ds: xr.Dataset, axes=None):
    """Median (line) and 5-95 % band (shaded) over the draws of each panel of :data:`PANELS` present in ``ds``."""
    import matplotlib.pyplot as plt

    from sim.plotting import shade_dosing

    panels = [(name, label) for name, label in PANELS if f"{name}_median" in ds]
    if not panels:
        raise ValueError(f"no quantiles of {', '.join(name for name, _ in PANELS)} in the Dataset: nothing to plot")
    if axes is None:
        _, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=True, constrained_layout=True)
    axes = np.atleast_1d(axes)
    t = ds["time"].values
    for ax, (name, label) in zip(axes, panels):
        shade_dosing(ax, ds)
        ax.fill_between(t, ds[f"{name}_q05"], ds[f"{name}_q95"], color="C3", alpha=0.3, lw=0, label="5-95 % of draws")
        ax.plot(t, ds[f"{name}_median"], color="C3", label="median")
        ax.set_ylabel(label)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xlabel("time since first dose [days]")
    axes[0].set_title(
        f"{ds.attrs.get('experiment', '')}: {ds.sizes.get('draw', 0)} draws ({ds.attrs.get('uncertainty_method', '')})",
        fontsize=9,
    )
    return axes


def save_bands(ds: xr.Dataset, path) -> None:
    """Write :func:`plot_bands` to ``path`` (PNG, atomically)."""
    from sim.plotting import save_figure

    save_figure(plot_bands(ds)[0].figure, path)


def with_uncertainty(run: RunConfig, method: str, draws: int = 200, ranges: Mapping | None = None) -> RunConfig:
    """``run`` with another ``uncertainty`` setting (validated), e.g. ``with_uncertainty(run, "posterior", 50)``."""
    settings = dataclasses.replace(run.uncertainty, method=method, draws=draws, ranges=dict(ranges or {}))
    return dataclasses.replace(run, uncertainty=settings)


__all__ = [
    "OUTPUTS",
    "QUANTILES",
    "add_quantiles",
    "check_structure",
    "config_key",
    "parameter_draws",
    "plot_bands",
    "run_with_uncertainty",
    "save_bands",
    "with_uncertainty",
]
