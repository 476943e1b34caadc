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

``uncertainty=none`` (the default) is a single deterministic run: uncertainty is opt-in, except for a species other
than the calibrated mouse.

Translation (``translation=``, :class:`sim.run.TranslationSettings`, ``sim/configs/translation/<species>.yaml``): a run
of another species (``species=human``, ``species=rat``) is always a run over draws, as a single line would rest on
mouse microglia and young-mouse spine turnover as if they were known for that species. Each posterior draw (or
stated-range draw with ``uncertainty=ranges``) is joined with an independent draw of the translation parameters
(``microglia.response_scale``, ``spines.turnover_scale``: uniform or log-uniform in their stated ranges, random stream
``(seed, 1)``); ``uncertainty=none`` then means posterior draws. One line for such a species only with
``translation=none``, which says so in the attribute ``translation`` and in a warning. Besides the band, a
translated run carries the **exposure bridge** (:func:`exposure_bridge`): the integral of TSPO occupancy over the
run relative to the two Shi et al. 2022 mouse arms that produced the observed spine loss. It rests on PK and TSPO
binding only, no microglial assumption. :func:`simulate` (``sim.simulate``) dispatches: a mouse run stays the single
run of :func:`sim.run.simulate` exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from sim import library, posterior, presets, targets
from sim.core.params import ConfigError
from sim.core.results import CANONICAL_ORDER, COORD_ATTRS
from sim.core.stage import GROUPS
from sim.engines.batch import downstream_groups, upstream
from sim.model import PruningModel
from sim.run import (
    CALIBRATED_SPECIES,
    RunConfig,
    TranslationSettings,
    as_run_config,
    model_attributes,
    output_times_h,
)
from sim.run import simulate as simulate_one
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

#: Said by every output and figure of a species other than the calibrated one.
DISCLAIMER = "research and teaching tool, not medical advice"

#: Outputs of a translated run: those of :data:`OUTPUTS`, the TSPO occupancy (behind the bridge) and the cumulative dose.
TRANSLATED_OUTPUTS: tuple[str, ...] = (*OUTPUTS, "tspo_occupancy", "cumulative_dose")

#: The Shi et al. 2022 mouse arms that produced the observed spine loss (experiments of sim/configs/experiment).
BRIDGE_ARMS: tuple[str, ...] = ("shi2022_high_dose", "shi2022_low_dose")

#: Step of the grid on which TSPO occupancy is integrated for the exposure bridge [h] (trapezoidal rule; the
#: high-dose mouse arm's integral changes by 0.02 % from 0.02 h to 0.01 h).
BRIDGE_STEP_H = 0.01

#: What the band and the bridge of a translated run rest on (attributes and figure).
BAND_BASIS = (
    "band: mouse-calibrated microglia and spines (posterior draws) x translation ranges (microglia response to TSPO "
    "agonism, spine turnover); it rests on mouse microglia"
)
BRIDGE_BASIS = (
    "exposure bridge: TSPO occupancy-time of this regimen relative to the mouse arms with observed spine loss; it rests "
    "on PK and TSPO binding only (no microglial assumption)"
)


def translated(run: RunConfig) -> bool:
    """True if ``run`` is of a species other than the calibrated one and has a translation (not ``translation=none``)."""
    return run.species.name != CALIBRATED_SPECIES and run.translation.name != "none"


def packaged_translation(species: str) -> TranslationSettings | None:
    """The translation of ``sim/configs/translation/<species>.yaml`` (None if there is no such file)."""
    if not (library.config_dir() / "translation" / f"{species}.yaml").is_file():
        return None
    node = library.compose([f"translation={species}"])
    return library.instantiate(TranslationSettings, node["translation"], "translation")


def translation_draws(run: RunConfig, n: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``n`` draws of the translation parameters of ``run`` (``{config key: values}``) and attributes saying so.

    Uniform or log-uniform in each stated range, independent of each other and of the posterior draws (random
    stream ``(run.seed, 1)``).
    """
    rng = np.random.default_rng((run.seed, 1))
    values = {}
    for key, bounds in run.translation.ranges.items():
        if bounds.distribution == "log-uniform":
            values[config_key(key)] = np.exp(rng.uniform(math.log(bounds.low), math.log(bounds.high), n))
        else:
            values[config_key(key)] = rng.uniform(bounds.low, bounds.high, n)
    fixed = {}
    for key, source in run.translation.fixed.items():
        group, name = config_key(key).split(".")
        fixed[config_key(key)] = {"value": getattr(getattr(run, group), name), "source": source}
    attrs = {
        "translation": f"{run.translation.name}: mouse-calibrated microglia and spines carried over to "
        f"{run.species.name} with the stated ranges below (sim/configs/translation/{run.translation.name}.yaml)",
        "translation_parameters": " ".join(values),
        "translation_ranges": json.dumps(
            {config_key(k): dataclasses.asdict(v) for k, v in run.translation.ranges.items()}
        ),
        "translation_fixed": json.dumps(fixed),
        "translation_seed": f"({run.seed}, 1)",
    }
    return values, attrs


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

    A translated run (:func:`translated`) gets posterior draws with ``uncertainty=none`` and, joined to each draw, a
    draw of its translation parameters (:func:`translation_draws`); ``posterior_parameters`` and
    ``translation_parameters`` say which key came from where.

    Raises :class:`ConfigError` for ``uncertainty=none`` (mouse), a run whose structure the posterior does not fit
    (:func:`check_structure`), more draws than the posterior holds, or a stated range of a translation parameter.
    """
    values, attrs = _draws(run, variant)
    if not translated(run):
        return values, attrs
    extra, more = translation_draws(run, run.uncertainty.draws)
    both = sorted(set(values) & set(extra))
    if both:
        raise ConfigError(
            f"uncertainty.ranges {', '.join(both)} is not allowed with translation = {run.translation.name!r}, which "
            "draws it already"
        )
    values.update(extra)
    attrs.update(more)
    attrs["posterior_parameters"] = " ".join(k for k in values if k not in extra)
    return values, attrs


def _draws(run: RunConfig, variant: str | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The draws of ``run.uncertainty`` (posterior draws for a translated run with ``uncertainty=none``)."""
    settings = run.uncertainty
    n = settings.draws
    method = "posterior" if settings.method == "none" and translated(run) else settings.method
    if method == "posterior":
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
    if method == "ranges":
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
    run: RunConfig, *, outputs: Sequence[str] | None = None, variant: str | None = None, progress: bool = True
) -> xr.Dataset:
    """Run ``run`` over the parameter draws of ``run.uncertainty``; the outputs per ``draw`` and their quantiles.

    Parameters
    ----------
    run
        The experiment, with ``run.uncertainty.method`` ``"posterior"`` or ``"ranges"`` (``draws`` >= 2).
    outputs
        Outputs to return per draw and summarise (names of :data:`sim.core.results.OUTPUTS`); default
        :data:`OUTPUTS`, :data:`TRANSLATED_OUTPUTS` for a translated run.
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
    outputs = list(outputs or (TRANSLATED_OUTPUTS if translated(run) else OUTPUTS))
    bridge = exposure_bridge(run) if translated(run) else None  # before the sweep: a bad arm fails first
    ds = sweep(run, values, mode="zip", variables=outputs, progress=progress)
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
    if bridge is not None:
        attrs = {**ds.attrs, **bridge.attrs, "band": BAND_BASIS, "exposure_bridge": BRIDGE_BASIS}
        ds = ds.merge(bridge)
        ds.attrs = {**attrs, "disclaimer": DISCLAIMER}
        if run.uncertainty.method == "none":
            ds.attrs["uncertainty_method"] = "posterior (translated run)"
    return ds


# ---------------------------------------------------------------------------------------------------- exposure
_OCCUPANCY: dict[tuple, tuple[float, float]] = {}


def occupancy_time(run: RunConfig) -> tuple[float, float]:
    """(integral of TSPO occupancy over the run [h], days of dosing within the run [d]) of ``run``.

    TSPO occupancy (all compounds, fraction of sites) from the run's PK and binding only
    (:func:`sim.engines.batch.upstream`), integrated by the trapezoidal rule on a :data:`BRIDGE_STEP_H` grid from 0 to
    ``duration_days``. Remembered per process by the upstream stages and the duration.
    """
    model = run.model()
    down = downstream_groups(model)
    key = (tuple(repr(getattr(model, g)) for g in GROUPS if g not in down), float(run.duration_days))
    if key not in _OCCUPANCY:
        times = output_times_h(run.duration_days, BRIDGE_STEP_H)
        occupancy = model.upstream_readouts(times, upstream(model, times).states)["tspo_occupancy"]
        first, last = model.dosing_period_days
        days = min(last, run.duration_days) - first if math.isfinite(first) else 0.0
        _OCCUPANCY[key] = (float(np.trapezoid(occupancy, times)), float(days))
    return _OCCUPANCY[key]


def exposure_bridge(run: RunConfig, arms: Sequence[str] = BRIDGE_ARMS) -> xr.Dataset:
    """The exposure bridge of ``run``: its TSPO occupancy-time, absolute and relative to the mouse ``arms``.

    Variables: ``tspo_occupancy_time`` [h] (integral of TSPO occupancy over the run),
    ``tspo_occupancy_time_per_dosing_day`` [h/d] (divided by the days of dosing within the run), the same for each
    mouse arm (``mouse_arm_...``, dimension ``mouse_arm``) and the ratios ``..._relative`` [1]. No microglial
    parameter enters: PK and TSPO binding only.
    """
    total, days = occupancy_time(run)
    per_day = total / days if days > 0 else math.nan
    arm_runs = [presets.experiment(arm) for arm in arms]
    arm_values = [occupancy_time(arm) for arm in arm_runs]
    arm_total = np.array([v[0] for v in arm_values])
    arm_per_day = np.array([v[0] / v[1] for v in arm_values])
    described = [
        f"{arm}: {r.drug.name} {r.regimen.dose_per_kg(r.species.body_weight_kg):g} mg/kg every "
        f"{r.regimen.interval_h:g} h ({r.regimen.route}) for {d:g} d in the mouse"
        for arm, r, (_, d) in zip(arms, arm_runs, arm_values)
    ]
    what = "integral of TSPO occupancy over the run"
    per = "integral of TSPO occupancy over the run per day of dosing"
    return xr.Dataset(
        {
            "tspo_occupancy_time": ((), total, {"units": "h", "long_name": f"{what} (exposure bridge)"}),
            "tspo_occupancy_time_per_dosing_day": ((), per_day, {"units": "h/d", "long_name": f"{per} (exposure bridge)"}),
            "mouse_arm_tspo_occupancy_time": ("mouse_arm", arm_total, {"units": "h", "long_name": f"{what}, mouse arm"}),
            "mouse_arm_tspo_occupancy_time_per_dosing_day": (
                "mouse_arm", arm_per_day, {"units": "h/d", "long_name": f"{per}, mouse arm"},
            ),
            "tspo_occupancy_time_relative": (
                "mouse_arm", total / arm_total, {"units": "1", "long_name": f"{what} relative to the mouse arm"},
            ),
            "tspo_occupancy_time_per_dosing_day_relative": (
                "mouse_arm", per_day / arm_per_day, {"units": "1", "long_name": f"{per} relative to the mouse arm"},
            ),
        },
        coords={
            "mouse_arm": (
                "mouse_arm", list(arms),
                {"units": "", "long_name": "Shi et al. 2022 mouse arm that produced the observed spine loss"},
            )
        },
        attrs={"exposure_bridge_arms": "; ".join(described), "exposure_bridge_step_h": BRIDGE_STEP_H},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------- simulate
def with_run_coords(run: RunConfig, ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the length-1 ``dose`` and ``withdrawal_time`` dimensions of a command-line result (``sweep=True``).

    So that command-line results of translated runs combine into a grid (:func:`sim.collect`) as single runs do.
    """
    coords = {
        "dose": run.regimen.dose_per_kg(run.species.body_weight_kg),
        "withdrawal_time": run.regimen.withdrawal_day,
    }
    ds = ds.expand_dims({name: [float(value)] for name, value in coords.items()})
    for name in coords:
        ds[name].attrs.update(COORD_ATTRS.get(name, {}))
    return ds.transpose(*CANONICAL_ORDER, ..., missing_dims="ignore")


def single_run_note(run: RunConfig) -> dict[str, str]:
    """Attributes of one run of a species other than the calibrated one (``translation=none``), with a warning.

    Empty for the calibrated species.
    """
    if run.species.name == CALIBRATED_SPECIES:
        return {}
    note = (
        f"none: one run with the mouse-calibrated microglia and spines taken as they are for {run.species.name}; a "
        "single line, not a prediction (without translation=none the run is over posterior x translation draws)"
    )
    warnings.warn(f"translation = {note}", UserWarning, stacklevel=2)
    return {"translation": note, "disclaimer": DISCLAIMER}


def simulate(model_or_config: PruningModel | RunConfig, **settings: Any) -> xr.Dataset:
    """:func:`sim.run.simulate` (``sim.simulate``), over draws with the exposure bridge for a translated species.

    A run of the calibrated mouse is :func:`sim.run.simulate` exactly. A run of another species with a translation
    (a :class:`RunConfig` composed with ``species=human``, or a model of a species that has
    ``sim/configs/translation/<species>.yaml``) is :func:`run_with_uncertainty` (``uncertainty.draws`` draws, 200 by
    default; the stage values the translation fixes are the model's own: ``sim.presets.model(species="human")``
    sets them). With ``translation=none`` it is one run whose attribute ``translation`` and a warning say what it
    rests on. Every output of another species carries :data:`DISCLAIMER` (attribute ``disclaimer``).
    """
    species = getattr(getattr(model_or_config, "species", None), "name", CALIBRATED_SPECIES)
    if species == CALIBRATED_SPECIES:
        return simulate_one(model_or_config, **settings)
    sweep_settings = {key: settings.pop(key) for key in ("sweep", "client") if key in settings}
    translation = packaged_translation(species) if isinstance(model_or_config, PruningModel) else None
    run = as_run_config(model_or_config, translation=translation, **settings)
    if not translated(run):
        ds = simulate_one(run, **sweep_settings)
        ds.attrs.update(single_run_note(run))
        return ds
    if any(sweep_settings.values()):
        raise ConfigError(
            f"simulate({', '.join(k for k, v in sweep_settings.items() if v)}) is not allowed for a translated "
            f"{species} run (a run over draws); use translation=none for a single run"
        )
    return run_with_uncertainty(run, progress=False)


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


def plot_translated(ds: xr.Dataset):
    """Figure of a translated run: the bands (left, resting on mouse microglia) beside the exposure bridge (right).

    The titles say which panel rests on what; the figure says :data:`DISCLAIMER`. Returns the figure.
    """
    import matplotlib.pyplot as plt

    from sim.plotting import plot_exposure_bridge

    panels = [name for name, _ in PANELS if f"{name}_median" in ds]
    fig = plt.figure(figsize=(12, 2.4 * max(len(panels), 2) + 0.8), constrained_layout=True)
    grid = fig.add_gridspec(len(panels), 2, width_ratios=(1.4, 1.0))
    band_axes = [fig.add_subplot(grid[0, 0])]
    band_axes += [fig.add_subplot(grid[i, 0], sharex=band_axes[0]) for i in range(1, len(panels))]
    plot_bands(ds, axes=np.array(band_axes))
    band_axes[0].set_title(
        f"Band ({ds.sizes.get('draw', 0)} draws): rests on mouse-calibrated microglia x translation ranges",
        fontsize=8,
    )
    plot_exposure_bridge(ds, fig.add_subplot(grid[:, 1]))
    fig.suptitle(
        f"{ds.attrs.get('drug', '')} in {ds.attrs.get('species', '')}, {ds.attrs.get('dose_mg_per_kg', math.nan):.3g} "
        f"mg/kg per dose ({ds.attrs.get('route', '')}) — {DISCLAIMER}",
        fontsize=10,
    )
    return fig


def save_translated(ds: xr.Dataset, path) -> None:
    """Write :func:`plot_translated` to ``path`` (PNG, atomically)."""
    from sim.plotting import save_figure

    save_figure(plot_translated(ds.squeeze([d for d in ("dose", "withdrawal_time") if d in ds.dims])), path)


def save_single_with_disclaimer(ds: xr.Dataset, path) -> None:
    """The standard time-course figure of one run of another species, titled with its caveat and :data:`DISCLAIMER`."""
    from sim.plotting import plot_timecourse, save_figure

    fig = plot_timecourse(ds)[0].figure
    note = f"translation=none: one line resting on mouse microglia and spine turnover, not a prediction — {DISCLAIMER}"
    old = fig._suptitle.get_text() if fig._suptitle is not None else ""
    fig.suptitle(f"{old}\n{note}" if old else note, fontsize=9, color="#a00000")
    save_figure(fig, path)


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
    "save_single_with_disclaimer",
    "save_translated",
    "plot_translated",
    "exposure_bridge",
    "occupancy_time",
    "simulate",
    "single_run_note",
    "translated",
    "translation_draws",
    "with_run_coords",
    "with_uncertainty",
]
