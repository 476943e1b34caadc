"""Global sensitivity (SALib Morris and Sobol): which parameters drive peak loss, time to recovery, memory deficit.

::

    from sim import presets, sensitivity
    run = presets.experiment("shi2022_high_dose")
    ds = sensitivity.sobol(run, "posterior", n=256)          # ST, S1 and their 95 % confidence half-widths
    ds = sensitivity.morris(run, {"microglia.activation_rate_per_h": (0.2, 2.0), "spines.homeostatic_gain": (0.5, 2.0)})

Command line: ``python -m sim.sensitivity experiment=shi2022_high_dose [method=sobol|morris] [n=256] [seed=0]
[ranges=posterior] [output_dir=.]`` writes ``sensitivity.nc`` and ``sensitivity.png``.

Outputs (:data:`OUTPUTS`), read from each parameter set's run by the functions of :mod:`sim.analysis`:

* ``peak_spine_loss`` [percent]: the largest spine loss against the drug-free baseline over the run
  (:func:`sim.analysis.max_deficit`).
* ``time_to_recovery`` [d]: days from the last dose until the loss stays below 2 % to the end of the run
  (:func:`sim.analysis.recovery_day` minus :func:`sim.analysis.last_dose_day`). SALib needs finite numbers, so a
  set still at or above 2 % at the end of the run is **censored at the run end** (run end minus last dose), and a
  set whose loss never reached 2 % counts as 0. The number of censored sets is the attribute
  ``time_to_recovery_censored``; many censored sets make the indices of this output describe the censored value.
* ``memory_deficit`` [1]: drop of the NOR discrimination index on the behavioural test day (24 h after the last
  dose, :func:`sim.analysis.behaviour_test_day`) from its drug-free value (:func:`sim.analysis.nor_drop_at_test`).
  The index is a function of spine density only, so it is computed from each set's batched spine density by the
  cognition stage's own :meth:`~sim.cognition.BehaviouralReadout.novel_object_recognition`; ``cognition.*``
  parameters are therefore applied per set without re-simulating (cognition is a readout, not a state).

Ranges: a mapping ``{config key: (low, high)}`` (keys ``"<group>.<field>"`` or ``"<group>__<field>"``), or
``"posterior"``: for each free parameter of the posterior (:mod:`sim.posterior`) the 2.5-97.5 % quantiles of its
draws. **Both are sampled as independent uniform ranges**: the posterior's correlations (e.g. between the
activation rate and the Hill coefficient) are ignored, so the design reaches corners the posterior excludes; the
attribute ``ranges_note`` says so in every result. Parameters of microglia and spines share one batch-engine call
per chunk (:func:`sim.sweep`, ``mode="zip"``); parameters of other stages (pk, regimen, ...) start one ODE run per
set (slow).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from sim import posterior, targets
from sim.analysis import last_dose_day, max_deficit, recovery_day
from sim.analysis.summary import nor_drop_at_test
from sim.core.params import ConfigError
from sim.core.stage import GROUPS
from sim.model import PruningModel
from sim.run import RunConfig, calibration_of, model_attributes
from sim.sweep import sweep
from sim.uncertainty import check_structure, config_key

#: Outputs: name -> (units, long_name).
OUTPUTS: dict[str, tuple[str, str]] = {
    "peak_spine_loss": ("percent", "largest spine loss against the drug-free baseline over the run"),
    "time_to_recovery": (
        "d",
        "days from the last dose until the spine loss stays below 2 % (censored at the run end; 0 if never 2 %)",
    ),
    "memory_deficit": ("1", "drop of the NOR discrimination index on the test day (24 h after the last dose)"),
}

METHODS = ("sobol", "morris")

RANGES_NOTE = (
    "parameters sampled as independent uniform ranges: correlations between them (e.g. in the posterior) are ignored"
)

#: Sets per batch-engine call (one progress-bar step).
CHUNK = 512


# ---------------------------------------------------------------------------------------------------- ranges
def posterior_ranges(run: RunConfig | None = None, variant: str | None = None) -> dict[str, tuple[float, float]]:
    """The 2.5-97.5 % quantiles of each free parameter's posterior draws ``{config key: (low, high)}``.

    With ``run``, refuse a run whose model structure the posterior does not fit (:func:`sim.uncertainty.check_structure`).
    """
    spec = targets.VARIANTS[variant or targets.DEFAULT_VARIANT]
    values = posterior.draws(posterior.load(spec.name))
    if run is not None:
        check_structure(run, spec)
    return {key: (float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))) for key, v in values.items()}


def check_ranges(ranges: Mapping) -> dict[str, tuple[float, float]]:
    """``{config key: (low, high)}`` with dotted keys, or :class:`ConfigError` naming the bad entry."""
    if not isinstance(ranges, Mapping) or not ranges:
        raise ConfigError(f"ranges = {ranges!r} is not allowed: give 'posterior' or {{config key: (low, high)}}")
    out = {}
    for key, bounds in ranges.items():
        ok = isinstance(key, str) and isinstance(bounds, (list, tuple)) and len(bounds) == 2
        ok = ok and all(isinstance(b, (int, float, np.floating)) and not isinstance(b, bool) for b in bounds)
        if not (ok and math.isfinite(bounds[0]) and math.isfinite(bounds[1]) and bounds[0] < bounds[1]):
            raise ConfigError(f"ranges[{key!r}] = {bounds!r} is not allowed: give (low, high) with finite low < high")
        out[config_key(key)] = (float(bounds[0]), float(bounds[1]))
    return out


# ---------------------------------------------------------------------------------------------------- readouts
def _run(run_or_model: RunConfig | PruningModel) -> RunConfig:
    if isinstance(run_or_model, RunConfig):
        return run_or_model
    if isinstance(run_or_model, PruningModel):
        stages = {group: getattr(run_or_model, group) for group in GROUPS}
        return RunConfig(**stages, calibration=calibration_of(run_or_model))
    raise TypeError(f"expected a RunConfig or a PruningModel, not {type(run_or_model).__name__}")


def _cognitions(run: RunConfig, keys: Sequence[str], X: np.ndarray) -> list:
    """The cognition stage of every set (``cognition.*`` columns of ``X`` applied; validated by the stage)."""
    columns = [(j, key.partition(".")[2]) for j, key in enumerate(keys) if key.startswith("cognition.")]
    if not columns:
        return [run.cognition] * X.shape[0]
    names = [f.name for f in dataclasses.fields(run.cognition)]
    for _, name in columns:
        if name not in names:
            raise ConfigError(f"ranges key 'cognition.{name}' is not allowed: cognition has no field {name!r}")
    return [dataclasses.replace(run.cognition, **{name: float(row[j]) for j, name in columns}) for row in X]


def readouts(ds: xr.Dataset, cognitions: Sequence, attrs: Mapping) -> tuple[dict[str, np.ndarray], int]:
    """:data:`OUTPUTS` of every set of a zip sweep ``ds`` (``sample`` x ``time``), and the number censored.

    ``cognitions``: the cognition stage of each set; ``attrs``: the run's :func:`~sim.run.model_attributes` (the
    test day is read from ``dosing_stop_day``).
    """
    t = ds["time"].values
    rel = np.asarray(ds["spine_density_relative"].values)
    dose = np.broadcast_to(ds["cumulative_dose"].values, rel.shape)
    out = {name: np.empty(rel.shape[0]) for name in OUTPUTS}
    censored = 0
    for i in range(rel.shape[0]):
        one = xr.Dataset(
            {
                "spine_density_relative": ("time", rel[i]),
                "cumulative_dose": ("time", dose[i]),
                "nor_discrimination_index": ("time", cognitions[i].novel_object_recognition(rel[i])),
            },
            coords={"time": t},
            attrs=dict(attrs),
        )
        out["peak_spine_loss"][i] = max_deficit(one)
        last = last_dose_day(one)
        recovered = recovery_day(one)
        if math.isnan(recovered):  # the loss never reached 2 %
            out["time_to_recovery"][i] = 0.0
        elif math.isinf(recovered):  # not recovered by the end of the run: censored there
            out["time_to_recovery"][i] = t[-1] - last
            censored += 1
        else:
            out["time_to_recovery"][i] = recovered - last
        out["memory_deficit"][i] = nor_drop_at_test(one)
    return out, censored


def model_function(run_or_model: RunConfig | PruningModel, keys: Sequence[str], progress: bool = True):
    """``f(X) -> {output: values}`` running the sets of ``X`` (set x key) through :func:`sim.sweep` in chunks.

    The returned function records the number of censored recovery times in its attribute ``censored``.
    """
    run = _run(run_or_model)
    attrs = model_attributes(run.model())
    dynamic = [j for j, key in enumerate(keys) if not key.startswith("cognition.")]

    def f(X: np.ndarray) -> dict[str, np.ndarray]:
        from tqdm.auto import tqdm

        cognitions = _cognitions(run, keys, X)  # checked before anything runs
        parts = {name: [] for name in OUTPUTS}
        f.censored = 0
        starts = range(0, X.shape[0], CHUNK)
        bar = tqdm(starts, desc="sensitivity", unit="chunk", disable=not (progress and sys.stderr.isatty()))
        for start in bar:
            rows = X[start : start + CHUNK]
            if dynamic:
                values = {keys[j]: rows[:, j] for j in dynamic}
            else:  # cognition only: every set is the run itself (one simulation), read by its own cognition
                values = {"regimen.stop_day": [run.regimen.stop_day] * len(rows)}
            variables = ["spine_density_relative", "cumulative_dose"]
            ds = sweep(run, values, mode="zip", variables=variables, progress=False)
            values, censored = readouts(ds, cognitions[start : start + CHUNK], attrs)
            for name, v in values.items():
                parts[name].append(v)
            f.censored += censored
        return {name: np.concatenate(v) for name, v in parts.items()}

    f.censored = 0
    return f


# ---------------------------------------------------------------------------------------------------- estimators
def analyse(
    function: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    ranges: Mapping[str, tuple[float, float]],
    method: str = "sobol",
    *,
    n: int = 256,
    seed: int = 0,
    num_levels: int = 4,
    units: Mapping[str, str] | None = None,
    long_names: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Sobol or Morris indices of every output of ``function`` over independent uniform ``ranges``.

    ``function(X)`` maps the SALib sample (set x parameter, in the order of ``ranges``) to ``{output: values}``.
    Sobol: Saltelli/Sobol' sample of ``n`` base points (a power of 2; ``n (D + 2)`` sets, first order and total
    indices, no second order), :func:`SALib.analyze.sobol.analyze`. Morris: ``n`` trajectories on a
    ``num_levels`` grid (``n (D + 1)`` sets), :func:`SALib.analyze.morris.analyze`; ``mu_star`` and ``sigma`` are
    divided by the standard deviation of the output over the sample (dimensionless, comparable across outputs).
    Confidence half-widths are 95 % bootstrap intervals. Generic: the tests use the Ishigami function.
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    if method not in METHODS:
        raise ConfigError(f"method = {method!r} is not allowed: choose one of {', '.join(METHODS)}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ConfigError(f"n = {n!r} is not allowed: it must be an integer >= 2")
    if method == "sobol" and n & (n - 1):
        raise ConfigError(f"n = {n} is not allowed for sobol: it must be a power of 2 (Sobol' sequence balance)")
    keys = list(ranges)
    problem = {"num_vars": len(keys), "names": keys, "bounds": [list(ranges[k]) for k in keys]}
    if method == "sobol":
        X = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    else:
        X = morris_sample.sample(problem, n, num_levels=num_levels, seed=seed)
    started = time.perf_counter()
    Y = function(X)
    elapsed = time.perf_counter() - started
    outputs = list(Y)
    indices: dict[str, np.ndarray] = {}
    for o, name in enumerate(outputs):
        y = np.asarray(Y[name], dtype=float)
        if not np.all(np.isfinite(y)):
            raise ValueError(f"output {name!r} is not finite for {int(np.sum(~np.isfinite(y)))} sets")
        if method == "sobol":
            wanted = {"S1": "S1", "S1_conf": "S1_conf", "ST": "ST", "ST_conf": "ST_conf"}
            scale = 1.0
            if np.ptp(y) == 0.0:  # a constant output: no parameter explains any variance (SALib would divide by 0)
                result = {key: np.zeros(len(keys)) for key in wanted}
            else:
                result = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed)
        else:
            result = morris_analyze.analyze(problem, X, y, num_levels=num_levels, seed=seed)
            wanted = {"mu_star": "mu_star", "mu_star_conf": "mu_star_conf", "sigma": "sigma"}
            std = float(np.std(y))
            scale = 1.0 / std if std > 0 else 0.0
        for var, key in wanted.items():
            indices.setdefault(var, np.full((len(keys), len(outputs)), np.nan))[:, o] = np.asarray(result[key]) * scale
    descriptions = {
        "S1": "first-order Sobol index (share of the output variance due to the parameter alone)",
        "ST": "total Sobol index (share of the output variance involving the parameter, interactions included)",
        "mu_star": "Morris mu*: mean absolute elementary effect over the range, divided by the output's SD",
        "sigma": "Morris sigma: SD of the elementary effects (non-linearity/interactions), divided by the output's SD",
    }
    data = {}
    for var, values in indices.items():
        base = var.removesuffix("_conf")
        text = descriptions[base]
        if var.endswith("_conf"):
            text = f"half-width of the 95 % bootstrap confidence interval of {base}"
        data[var] = (("parameter", "output"), values, {"units": "1", "long_name": text})
    units = units or {}
    long_names = long_names or {}
    coords = {
        "parameter": ("parameter", keys, {"long_name": "config key of the sampled parameter"}),
        "output": ("output", outputs, {"long_name": "readout of each run"}),
        "low": ("parameter", [ranges[k][0] for k in keys], {"units": "1", "long_name": "lower end of the range (in the parameter's units)"}),
        "high": ("parameter", [ranges[k][1] for k in keys], {"units": "1", "long_name": "upper end of the range (in the parameter's units)"}),
        "output_units": ("output", [units.get(o, "") for o in outputs], {"long_name": "units of the output"}),
        "output_long_name": ("output", [long_names.get(o, o) for o in outputs], {"long_name": "meaning of the output"}),
        "output_mean": ("output", [float(np.mean(Y[o])) for o in outputs], {"units": "1", "long_name": "mean of the output over the sample (in output_units)"}),
        "output_std": ("output", [float(np.std(Y[o])) for o in outputs], {"units": "1", "long_name": "SD of the output over the sample (in output_units)"}),
    }  # fmt: skip
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        {
            "method": method,
            "n": int(n),
            "sets": int(X.shape[0]),
            "seed": int(seed),
            "evaluation_seconds": round(elapsed, 2),
            "ranges_note": RANGES_NOTE,
            "estimator": f"SALib {_salib_version()} {method} (sample and analyze), 95 % bootstrap confidence",
        }
    )
    return ds


def _salib_version() -> str:
    from importlib.metadata import version

    return version("SALib")


def _model_analysis(run_or_model, ranges, method, n, seed, progress, variant) -> xr.Dataset:
    run = _run(run_or_model)
    if isinstance(ranges, str):
        if ranges != "posterior":
            raise ConfigError(f"ranges = {ranges!r} is not allowed: give 'posterior' or {{config key: (low, high)}}")
        resolved, source = posterior_ranges(run, variant), "posterior 2.5-97.5 % quantiles of each free parameter"
    else:
        resolved, source = check_ranges(ranges), "stated ranges"
    f = model_function(run, list(resolved), progress)
    ds = analyse(
        f,
        resolved,
        method,
        n=n,
        seed=seed,
        units={k: u for k, (u, _) in OUTPUTS.items()},
        long_names={k: text for k, (_, text) in OUTPUTS.items()},
    )
    ds.attrs.update(
        {
            "experiment": run.name,
            "ranges_source": source,
            "time_to_recovery_censored": int(f.censored),
            "duration_days": run.duration_days,
            "config": run.to_yaml(),
        }
    )
    return ds


def sobol(
    run_or_model: RunConfig | PruningModel,
    ranges: str | Mapping[str, tuple[float, float]] = "posterior",
    *,
    n: int = 256,
    seed: int = 0,
    calc_second_order: bool = False,
    progress: bool = True,
    variant: str | None = None,
) -> xr.Dataset:
    """Sobol indices (``S1``, ``ST`` and their ``_conf``) of :data:`OUTPUTS`, dims ``parameter`` x ``output``.

    ``n`` base points (power of 2): ``n (D + 2)`` runs. ``ranges``: ``"posterior"`` or ``{key: (low, high)}``,
    sampled as independent uniform ranges (see the module docstring: correlations are ignored). Second-order
    indices are not computed (``calc_second_order`` must be False). Raises :class:`ConfigError` for bad input
    before anything runs.
    """
    if calc_second_order:
        raise ConfigError("calc_second_order = True is not allowed: only first-order and total indices are computed")
    return _model_analysis(run_or_model, ranges, "sobol", n, seed, progress, variant)


def morris(
    run_or_model: RunConfig | PruningModel,
    ranges: str | Mapping[str, tuple[float, float]] = "posterior",
    *,
    trajectories: int = 20,
    seed: int = 0,
    progress: bool = True,
    variant: str | None = None,
) -> xr.Dataset:
    """Morris screening (``mu_star``, ``mu_star_conf``, ``sigma``; scaled by the output SD) of :data:`OUTPUTS`.

    ``trajectories`` x (D + 1) runs on a 4-level grid; ``ranges`` as for :func:`sobol`.
    """
    return _model_analysis(run_or_model, ranges, "morris", trajectories, seed, progress, variant)


def ranking(ds: xr.Dataset, output: str) -> list[tuple[str, float]]:
    """Parameters by decreasing ``ST`` (Sobol) or ``mu_star`` (Morris) for ``output``."""
    index = "ST" if "ST" in ds else "mu_star"
    values = ds[index].sel(output=output)
    order = np.argsort(-values.values)
    return [(str(ds["parameter"].values[i]), float(values.values[i])) for i in order]


# ---------------------------------------------------------------------------------------------------- figure
def plot_sensitivity(ds: xr.Dataset, axes=None):
    """One panel per output: bars of ``ST`` and ``S1`` (Sobol) or ``mu_star`` and ``sigma`` (Morris) with CIs."""
    import matplotlib.pyplot as plt

    pairs = (("ST", "S1"), "total", "first order") if "ST" in ds else (("mu_star", "sigma"), "mu*", "sigma")
    (first, second), label1, label2 = pairs
    outputs = list(ds["output"].values)
    if axes is None:
        _, axes = plt.subplots(1, len(outputs), figsize=(4.2 * len(outputs), 3.6), sharey=True, constrained_layout=True)
    axes = np.atleast_1d(axes)
    y = np.arange(ds.sizes["parameter"])
    for ax, output in zip(axes, outputs):
        one = ds.sel(output=output)
        err1 = one.get(f"{first}_conf")
        err2 = one.get(f"{second}_conf")
        ax.barh(y - 0.2, one[first], 0.4, xerr=None if err1 is None else err1, color="C3", label=label1)
        ax.barh(y + 0.2, one[second], 0.4, xerr=None if err2 is None else err2, color="C0", label=label2)
        ax.set_yticks(y, [str(p) for p in ds["parameter"].values], fontsize=7)
        ax.axvline(0.0, color="0.5", lw=0.5)
        ax.set_title(f"{output} [{str(one['output_units'].values)}]", fontsize=9)
        ax.set_xlabel("index" + (" (per output SD)" if first == "mu_star" else ""))
        ax.invert_yaxis()
    axes[0].legend(fontsize=7)
    axes[0].figure.suptitle(
        f"{ds.attrs.get('method', '')} sensitivity, {ds.attrs.get('experiment', '')}: {ds.attrs.get('sets', '')} runs, "
        f"{ds.attrs.get('ranges_source', '')} (independent uniform)",
        fontsize=9,
    )
    return axes


def save_sensitivity_figure(ds: xr.Dataset, path) -> None:
    """Write :func:`plot_sensitivity` to ``path`` (PNG, atomically)."""
    from sim.plotting import save_figure

    save_figure(plot_sensitivity(ds)[0].figure, path)


# ---------------------------------------------------------------------------------------------------- CLI
_CLI_KEYS = {"experiment", "method", "n", "seed", "ranges", "output_dir"}


def _parse(argv: Sequence[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    for text in argv:
        key, equals, value = text.partition("=")
        if not equals or key not in _CLI_KEYS:
            raise ConfigError(
                f"argument {text!r} is not allowed: give key=value with key one of {', '.join(sorted(_CLI_KEYS))}"
            )
        args[key] = value
    if "experiment" not in args:
        raise ConfigError("experiment is missing: give experiment=<name>, e.g. experiment=shi2022_high_dose")
    return args


def _integer(args: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(args.get(key, default))
    except ValueError:
        raise ConfigError(f"{key} = {args[key]!r} is not allowed: it must be an integer") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.sensitivity experiment=... [method=sobol|morris] [n=...] [seed=...] [ranges=posterior]
    [output_dir=...]``: write ``sensitivity.nc`` and ``sensitivity.png``; bad input: one line, exit 2.
    """  # noqa: D205
    from sim import presets
    from sim.io import check_writable, save_dataset

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parse(argv)
        run = presets.experiment(args["experiment"])
        method = args.get("method", "sobol")
        if method not in METHODS:
            raise ConfigError(f"method = {method!r} is not allowed: choose one of {', '.join(METHODS)}")
        n = _integer(args, "n", 256 if method == "sobol" else 20)
        seed = _integer(args, "seed", 0)
        if args.get("ranges", "posterior") != "posterior":
            raise ConfigError(
                f"ranges = {args['ranges']!r} is not allowed on the command line: only 'posterior' (stated ranges: "
                "sim.sensitivity.sobol(run, {key: (low, high)}) from Python)"
            )
        posterior_ranges(run)  # refuses a run the posterior does not fit, before the folder is made
        out_dir = check_writable(args.get("output_dir", "."))
        if method == "sobol":
            ds = sobol(run, "posterior", n=n, seed=seed)
        else:
            ds = morris(run, "posterior", trajectories=n, seed=seed)
    except ConfigError as error:
        print(f"sim.sensitivity: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    result = save_dataset(ds, Path(out_dir) / "sensitivity.nc")
    figure = Path(out_dir) / "sensitivity.png"
    save_sensitivity_figure(ds, figure)
    print(f"result: {result.resolve()}")
    print(f"figure: {figure.resolve()}")
    for output in ds["output"].values:
        listed = ", ".join(f"{p} {v:.2f}" for p, v in ranking(ds, str(output)))
        print(f"{output}: {listed}")
    print(json.dumps({"sets": ds.attrs["sets"], "evaluation_seconds": ds.attrs["evaluation_seconds"]}))
    return 0


__all__ = [
    "METHODS",
    "OUTPUTS",
    "analyse",
    "check_ranges",
    "main",
    "model_function",
    "morris",
    "plot_sensitivity",
    "posterior_ranges",
    "ranking",
    "readouts",
    "save_sensitivity_figure",
    "sobol",
]

if __name__ == "__main__":
    sys.exit(main())
