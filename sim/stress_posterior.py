r"""Stress-arm parameters sampled conditional on each draw of the round-2 posterior: ``python -m sim.stress_posterior``.

The posterior of the Shi et al. 2022 parameters (:mod:`sim.inference`, ``sim/configs/posterior/<variant>.nc``)
knows nothing of stress. The stress arm (:mod:`sim.stress`) adds two free parameters, the CSF1 gain
:math:`g_X` and the GABA-A half-maximal agonism :math:`EC_{50}^{\rm GABA}`, which the Bollinger et al. 2020 design
pins down exactly: the CUS + vehicle spine loss fixes :math:`g_X`, the CUS + diazepam loss then fixes the EC50.
For every posterior draw :math:`\theta_i` this module

1. draws the stated assumptions of the arm (:data:`ASSUMPTIONS`): the size of the CUS + vehicle loss, where the
   CUS + diazepam loss lies between "diazepam's TSPO loss alone" and "a third of the CUS loss" (the finding), the
   activity rise under CUS, the CSF1 half-life and the female CSF1 response (its range cut, per draw, where females
   would lose 2 % of their spines: the finding is "unaltered");
2. solves the two free parameters so that draw :math:`i` meets its two losses after 14 days of CUS (vectorised
   bisection over all draws at once with the batch engine, :class:`~sim.engines.batch.BatchEngine`: each step is one
   integration of every draw);
3. keeps draw :math:`i` with :math:`\theta_i` (correlations between the Shi and the stress parameters are kept) or
   rejects it when no value meets the targets (a draw whose TSPO loss alone exceeds a third of its CUS loss).

Because two targets fix two parameters, the spread of the conditional draws is the spread of the stated
assumptions propagated through each :math:`\theta_i` — an approximation of the conditional posterior with the
target distributions as the likelihood (the Jacobian of the map is ignored), stated as such in the file.

The result is a new, versioned posterior file ``sim/configs/posterior/<variant>_cus_v<VERSION>.nc`` (every Shi
parameter of the kept draws, every stress parameter, the sampled targets, the achieved losses and the index of the
source draw; provenance attributes) with a Markdown summary beside it. :func:`sim.posterior.load_conditional` reads
it; ``uncertainty=posterior`` uses it for ``stress=cus`` runs, and the validation report takes its intervals from
it (:func:`predictions`, :func:`net_effect`).

Run: ``python -m sim.stress_posterior --seed 7`` (about ten minutes on two cores for all 4192 draws).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from sim import library, posterior, presets, targets
from sim.core import __version__
from sim.core.params import ConfigError
from sim.core.results import git_state
from sim.engines.batch import BatchEngine
from sim.io import open_result, save_with_summary

#: Version of the conditional posterior file (part of its name): raise it when the sampled assumptions, the solved
#: parameters or the arms change, so a stale file is never read as the current one.
VERSION = posterior.CONDITIONAL_VERSION

#: The stress parameters solved per draw (the arm's two free parameters).
SOLVED = ("stress.csf1_gain", "stress.gabaa_ec50")

#: Brackets of the solved parameters [config units], searched in log10 (losses rise with both).
BRACKETS = {"stress.csf1_gain": (1e-4, 10.0), "stress.gabaa_ec50": (1e-6, 10.0)}

#: Bisection steps per parameter: the bracket (5 and 7 decades) shrinks to a relative width below 1e-6.
BISECTION_STEPS = 48

#: Day of the readout: the end of 14 days of CUS [d].
END_DAY = 14.0

#: The four arms of the design ([bollinger2020]), as experiments.
DESIGN = {
    "control_vehicle": "bollinger2020_control_vehicle",
    "control_diazepam": "bollinger2020_control_diazepam",
    "cus_vehicle": "bollinger2020_cus_vehicle",
    "cus_diazepam": "bollinger2020_cus_diazepam",
}


@dataclass(frozen=True)
class Assumption:
    """One assumption of the stress arm sampled per draw: a distribution on a quantity, with its reasoning."""

    name: str
    units: str
    distribution: str  # "truncnormal(mean, sd, low, high)", "uniform(low, high)" or "loguniform(low, high)"
    bounds: tuple[float, ...]
    source: str

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` values drawn from the distribution."""
        if self.distribution == "truncnormal":
            mean, sd, low, high = self.bounds
            out = rng.normal(mean, sd, n)
            bad = (out < low) | (out > high)
            while bad.any():  # rejection: the truncation removes about 0.3 % of the mass
                out[bad] = rng.normal(mean, sd, int(bad.sum()))
                bad = (out < low) | (out > high)
            return out
        low, high = self.bounds
        if self.distribution == "uniform":
            return rng.uniform(low, high, n)
        return np.exp(rng.uniform(np.log(low), np.log(high), n))


#: Every assumption sampled per posterior draw.
ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "cus_loss_percent",
        "%",
        "truncnormal",
        (12.0, 2.0, 6.0, 18.0),
        "assumption: the abstracts of [bollinger2020] and [woodburn2021] report the CUS spine loss in males without "
        "its size; 12 +/- 2 % (1 sd), the range we recall for chronic-stress spine loss in rodent mPFC (unverified)",
    ),
    Assumption(
        "protection_position",
        "1",
        "uniform",
        (0.0, 1.0),
        "[bollinger2020]: diazepam during CUS blocked the spine loss (the issue's criterion: at most a third of the "
        "CUS + vehicle loss); the CUS + diazepam loss lies at this position between diazepam's TSPO loss alone "
        "(control + diazepam, 0) and a third of the CUS loss (1)",
    ),
    Assumption(
        "stress.activity_gain",
        "1",
        "loguniform",
        (0.5, 2.0),
        "assumption: CUS raises mPFC activity [bollinger2020] by an unreported amount; half to twice the baseline",
    ),
    Assumption(
        "stress.csf1_half_life_h",
        "h",
        "loguniform",
        (12.0, 48.0),
        "assumption: CSF1 follows activity within half a day to two days (no measured value)",
    ),
    Assumption(
        "stress.female_csf1_response",
        "1",
        "uniform",
        (0.0, 0.25),
        "[woodburn2021]: female PFC spines and microglial phagocytosis markers unaltered by 14 or 28 d of CUS; "
        "assumption: a response up to a quarter of the male one could go undetected; per draw the range is cut at "
        "the response that would cost females 2 % of their spines after 14 d (the finding: unaltered)",
    ),
)


ASSUMPTIONS_BY_NAME = {a.name: a for a in ASSUMPTIONS}

#: Female spine loss after 14 d of CUS below which the density counts as "unaltered" [percent] ([woodburn2021];
#: the study's "back to baseline" threshold of the Shi et al. targets, :data:`sim.targets.RECOVERED_PERCENT`).
FEMALE_UNALTERED_PERCENT = targets.RECOVERED_PERCENT


# ---------------------------------------------------------------------------------------------------- batch runs
class DesignRuns:
    """The arms of the design for many parameter sets: relative spine density at the end of CUS [percent].

    Each arm's model is composed once (with the variant's structure and ``extra`` overrides, e.g. a genotype); the
    batch engine integrates PK and binding once per arm and keeps them (``shared``) for every later call.
    """

    def __init__(self, extra: Sequence[str] = (), engine: BatchEngine | None = None) -> None:
        self.engine = engine or BatchEngine()
        # the experiments choose region and stress; a variant's other choices (e.g. microglia=default) apply
        self.extra = [o for o in extra if o.partition("=")[0] not in ("spines", "stress")]
        self._runs: dict[tuple, tuple] = {}

    def _run(self, experiment: str, overrides: tuple[str, ...]):
        key = (experiment, overrides)
        if key not in self._runs:
            run = presets.from_overrides([f"experiment={experiment}", *self.extra, *overrides])
            times = np.array([0.0, 24.0 * run.duration_days])
            self._runs[key] = (run.model(), times, None)
        return self._runs[key]

    def density(self, arm: str, values: Mapping[str, np.ndarray], overrides: Sequence[str] = ()) -> np.ndarray:
        """Relative spine density [percent of each set's baseline] at the end of ``arm`` (one value per set).

        Stress keys are passed only to arms with a stress stage (the control arms have none).
        """
        model, times, shared = self._run(DESIGN.get(arm, arm), tuple(overrides))
        if model.stress.state_names == ():
            values = {k: v for k, v in values.items() if not k.startswith("stress.")}
        relative, up = self.engine.spine_density_relative(model, times, values, shared, invalid="none")
        self._runs[(DESIGN.get(arm, arm), tuple(overrides))] = (model, times, up)
        return relative[:, -1]

    def deficits(
        self,
        values: Mapping[str, np.ndarray],
        arms: Sequence[str],
        overrides: Sequence[str] = (),
        control: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Spine loss of each arm against control + vehicle at the end of CUS [percent], one value per set.

        ``control``: the control + vehicle density of these sets if known (it depends on no stress parameter).
        """
        control = self.density("control_vehicle", values) if control is None else control
        return {arm: 100.0 * (1.0 - self.density(arm, values, overrides) / control) for arm in arms}


def bisect(gap: Callable[[np.ndarray], np.ndarray], low: float, high: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised bisection in log10 for ``n`` increasing functions: ``(roots, bracketed)``.

    ``gap(values)`` returns one value per set, negative below the root. ``bracketed`` is False for sets whose sign
    does not change over ``[low, high]`` (their root is NaN).
    """
    lo, hi = np.full(n, np.log10(low)), np.full(n, np.log10(high))
    bracketed = (gap(10.0**lo) < 0.0) & (gap(10.0**hi) > 0.0)
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = gap(10.0**mid) > 0.0
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    roots = 10.0 ** (0.5 * (lo + hi))
    return np.where(bracketed, roots, np.nan), bracketed


# ---------------------------------------------------------------------------------------------------- sampling
def sample(seed: int, n_draws: int | None = None, variant: str | None = None, progress: bool = False) -> xr.Dataset:
    """Draw the assumptions and solve the two free stress parameters for each posterior draw (see the module)."""
    start = time.perf_counter()
    git = git_state()  # the code that runs, recorded before the (long) solve
    base = posterior.load(variant)
    spec = targets.VARIANTS[base.attrs["variant"]]
    shi = posterior.draws(base)  # every draw, flattened over chains, in file order
    total = next(iter(shi.values())).size
    index = np.arange(total)
    if n_draws is not None and n_draws < total:
        index = np.sort(np.random.default_rng(seed).choice(total, n_draws, replace=False))
    shi = {k: v[index] for k, v in shi.items()}
    n = index.size
    rng = np.random.default_rng([seed, 13])
    sampled = {a.name: a.sample(rng, n) for a in ASSUMPTIONS}
    stress = {k: v for k, v in sampled.items() if k.startswith("stress.")}
    runs = DesignRuns(spec.selections)

    def log(text: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - start:6.1f} s] {text}", file=sys.stderr)

    control = runs.density("control_vehicle", shi)
    tspo_only = runs.deficits(shi, ["control_diazepam"], control=control)["control_diazepam"]  # no stress
    target_vehicle = sampled["cus_loss_percent"]
    target_diazepam = tspo_only + sampled["protection_position"] * (target_vehicle / 3.0 - tspo_only)
    log("control + diazepam done; solving stress.csf1_gain")

    def vehicle_gap(gain: np.ndarray) -> np.ndarray:
        values = {**shi, **stress, "stress.csf1_gain": gain}
        return runs.deficits(values, ["cus_vehicle"], control=control)["cus_vehicle"] - target_vehicle

    gain, ok_gain = bisect(vehicle_gap, *BRACKETS["stress.csf1_gain"], n)
    safe_gain = np.where(ok_gain, gain, 1e-3)  # rejected draws still need a valid value while solving the rest
    log("cutting the female response at a 2 % loss")

    def female_gap(response: np.ndarray) -> np.ndarray:
        values = {**shi, **stress, "stress.csf1_gain": safe_gain, "stress.female_csf1_response": response}
        return runs.deficits(values, ["cus_vehicle"], ["sex=female"], control)["cus_vehicle"] - FEMALE_UNALTERED_PERCENT

    limit, ok_limit = bisect(female_gap, 1e-4, 1.0, n)
    widest = ASSUMPTIONS_BY_NAME["stress.female_csf1_response"].bounds[1]
    cut = np.where(ok_limit, np.minimum(limit, widest), widest) / widest  # sampled U(0, 0.25) -> U(0, min(0.25, limit))
    stress["stress.female_csf1_response"] = stress["stress.female_csf1_response"] * cut
    log("solving stress.gabaa_ec50")

    def diazepam_gap(ec50: np.ndarray) -> np.ndarray:
        values = {**shi, **stress, "stress.csf1_gain": safe_gain, "stress.gabaa_ec50": ec50}
        return runs.deficits(values, ["cus_diazepam"], control=control)["cus_diazepam"] - target_diazepam

    ec50, ok_ec50 = bisect(diazepam_gap, *BRACKETS["stress.gabaa_ec50"], n)
    feasible = tspo_only < target_vehicle / 3.0
    keep = ok_gain & ok_ec50 & feasible
    solved = {"stress.csf1_gain": gain, "stress.gabaa_ec50": ec50}
    values = {k: v[keep] for k, v in {**shi, **stress, **solved}.items()}
    achieved = runs.deficits(values, ["cus_vehicle", "cus_diazepam", "control_diazepam"])
    achieved["female_cus_vehicle"] = runs.deficits(values, ["cus_vehicle"], ["sex=female"])["cus_vehicle"]
    log(f"kept {int(keep.sum())} of {n} draws")
    info = {
        "source_draw": index[keep],
        "cus_loss_percent": target_vehicle[keep],
        "cus_diazepam_loss_percent": target_diazepam[keep],
        "protection_position": sampled["protection_position"][keep],
        "achieved": achieved,
        "rejected": {
            "no_feasible_protection": int((~feasible).sum()),
            "csf1_gain_not_bracketed": int((feasible & ~ok_gain).sum()),
            "gabaa_ec50_not_bracketed": int((feasible & ok_gain & ~ok_ec50).sum()),
        },
        "run_time_s": time.perf_counter() - start,
        "git": git,
    }
    return to_dataset(base, spec, values, info, seed, runs.engine)


def to_dataset(
    base: xr.Dataset, spec: targets.Variant, values: Mapping[str, np.ndarray], info: dict, seed: int, engine
) -> xr.Dataset:
    """The kept draws with units, sampled targets, achieved losses and provenance."""
    model = presets.from_overrides(["experiment=bollinger2020_cus_diazepam", *spec.selections]).model()
    data = {}
    for key, column in values.items():
        group, name = key.split(".")
        meta = {f.name: f.metadata for f in dataclasses.fields(getattr(model, group))}[name]
        role = "solved" if key in SOLVED else "sampled assumption" if key.startswith("stress.") else "posterior draw"
        data[posterior.variable_name(key)] = xr.Variable(
            "draw", np.asarray(column, dtype=float),
            {"units": meta.get("units", ""), "long_name": meta.get("long_name", key), "config_key": key, "role": role},
        )  # fmt: skip
    data["source_draw"] = xr.Variable(
        "draw", info["source_draw"], {"units": "1", "long_name": "index of the draw in the flattened base posterior"}
    )
    for name, long_name in (
        ("cus_loss_percent", "sampled target: CUS + vehicle spine loss after 14 d of CUS"),
        ("cus_diazepam_loss_percent", "sampled target: CUS + diazepam 1 mg/kg spine loss after 14 d of CUS"),
    ):
        data[name] = xr.Variable("draw", info[name], {"units": "%", "long_name": long_name})
    data["protection_position"] = xr.Variable(
        "draw", info["protection_position"], {"units": "1", "long_name": "sampled position of the protected loss"}
    )
    words = {
        "cus_vehicle": "CUS + vehicle",
        "cus_diazepam": "CUS + diazepam",
        "control_diazepam": "control + diazepam",
        "female_cus_vehicle": "female CUS + vehicle",
    }
    for arm, column in info["achieved"].items():
        data[f"achieved_{arm}_loss_percent"] = xr.Variable(
            "draw", column, {"units": "%", "long_name": f"{words[arm]} spine loss of the solved draw (end of CUS)"}
        )
    commit, dirty = info.get("git") or git_state()
    ds = xr.Dataset(data, coords={"draw": np.arange(info["source_draw"].size)})
    ds["draw"].attrs.update(units="1", long_name="conditional draw")
    ds.attrs = {
        "title": f"synaprune stress-arm parameters conditional on the posterior of variant {spec.name}",
        "variant": spec.name,
        "context": posterior.CONDITIONAL_CONTEXT,
        "version": VERSION,
        "selections": " ".join(
            [*(o for o in spec.selections if not o.startswith("spines=")), "spines=prefrontal_cortex", "stress=cus"]
        ),
        "free_parameters": base.attrs["free_parameters"],
        "conditional_parameters": " ".join(k for k in values if k.startswith("stress.")),
        "solved_parameters": " ".join(SOLVED),
        "assumptions": json.dumps([dataclasses.asdict(a) for a in ASSUMPTIONS]),
        "method": "per draw of the base posterior: sample the assumptions, solve the two free stress parameters for "
        "the sampled CUS + vehicle and CUS + diazepam losses after 14 d (vectorised bisection, batch engine); the "
        "target distributions act as the likelihood, the Jacobian of the map is ignored",
        "base_posterior": posterior.posterior_path(spec.name).name,
        "base_posterior_git_commit": str(base.attrs.get("git_commit", "")),
        "base_draws": int(np.ravel(base[posterior.variable_name(spec.keys[0])].values).size),
        "rejected": json.dumps(info["rejected"]),
        "seed": int(seed),
        "run_time_s": float(info["run_time_s"]),
        "engine": f"batch (rtol={engine.rtol}, atol={engine.atol})",
        "command": "python -m sim.stress_posterior " + " ".join(sys.argv[1:]),
        "sim_version": __version__,
        "git_commit": commit,
        "git_dirty": int(dirty),
        "calibration": str(base.attrs.get("calibration", "")),
        "calibration_sha256": library.calibration_sha256(str(base.attrs.get("calibration", ""))),
    }
    return ds


def summary(ds: xr.Dataset) -> str:
    """Markdown: the sampled assumptions, the solved parameters (median, 5-95 %), rejections and accuracy."""
    q = [0.05, 0.5, 0.95]
    lines = [
        f"# Stress-arm posterior `{ds.attrs['variant']}_cus_v{ds.attrs['version']}`",
        "",
        f"Generated by `{ds.attrs['command'].strip()}` (synaprune {ds.attrs['sim_version']}, commit "
        f"{ds.attrs['git_commit']}). Do not edit by hand.",
        "",
        f"- conditional on the {ds.attrs['base_draws']} draws of `{ds.attrs['base_posterior']}` (commit "
        f"{ds.attrs['base_posterior_git_commit'][:12]}); kept {ds.sizes['draw']}; rejected {ds.attrs['rejected']}",
        f"- method: {ds.attrs['method']}",
        f"- seed {ds.attrs['seed']}; run time {ds.attrs['run_time_s']:.0f} s",
        "",
        "| quantity | units | role | median | 5-95 % | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    sources = {a["name"]: a["source"] for a in json.loads(ds.attrs["assumptions"])}
    rows = [*str(ds.attrs["conditional_parameters"]).split(), "cus_loss_percent", "cus_diazepam_loss_percent"]
    for key in rows:
        v = ds[posterior.variable_name(key)]
        lo, mid, hi = np.quantile(v.values, q)
        role = v.attrs.get("role", "sampled target")
        source = sources.get(key, "solved per draw" if key in SOLVED else "see cus_loss_percent, protection_position")
        lines.append(f"| `{key}` | {v.attrs['units']} | {role} | {mid:.4g} | {lo:.3g}-{hi:.3g} | {source} |")
    err_v = np.abs(ds["achieved_cus_vehicle_loss_percent"] - ds["cus_loss_percent"]).max()
    err_d = np.abs(ds["achieved_cus_diazepam_loss_percent"] - ds["cus_diazepam_loss_percent"]).max()
    female = float(ds["achieved_female_cus_vehicle_loss_percent"].max())
    lines += [
        "",
        f"Largest miss of the solved draws: CUS + vehicle {float(err_v):.2g} %, CUS + diazepam {float(err_d):.2g} % "
        f"(percentage points); largest female CUS + vehicle loss {female:.3g} % (cut at "
        f"{FEMALE_UNALTERED_PERCENT:g} %).",
    ]
    return "\n".join(lines) + "\n"


def write(ds: xr.Dataset, path: str | Path) -> tuple[Path, Path]:
    """Write the NetCDF and its Markdown summary, each atomically."""
    return save_with_summary(ds, path, summary(ds))


# ---------------------------------------------------------------------------------------------------- predictions
#: Predictions of the conditional posterior (not tuned): label -> (arm, overrides). Losses at the end of CUS
#: against wild-type male control + vehicle.
PREDICTION_ARMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gabaa_insensitive_cus_vehicle": ("cus_vehicle", ("genotype=gabaa_bz_insensitive",)),
    "gabaa_insensitive_cus_diazepam": ("cus_diazepam", ("genotype=gabaa_bz_insensitive",)),
    "tspo_ko_cus_vehicle": ("cus_vehicle", ("genotype=tspo_ko",)),
    "tspo_ko_cus_diazepam": ("cus_diazepam", ("genotype=tspo_ko",)),
    "female_cus_vehicle": ("cus_vehicle", ("sex=female",)),
    "female_cus_diazepam": ("cus_diazepam", ("sex=female",)),
}


def conditional_values(ds: xr.Dataset, n_draws: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Every parameter of the conditional posterior (Shi and stress) as ``{config key: values}``."""
    return posterior.draws(ds, n_draws, seed)


def predictions(ds: xr.Dataset, n_draws: int | None = 400, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-draw spine loss [percent] of every :data:`PREDICTION_ARMS` entry and of the design's arms."""
    values = conditional_values(ds, n_draws, seed)
    runs = DesignRuns(str(ds.attrs["selections"]).split())
    control = runs.density("control_vehicle", values)
    out = runs.deficits(values, ["control_diazepam", "cus_vehicle", "cus_diazepam"], control=control)
    for label, (arm, overrides) in PREDICTION_ARMS.items():
        out[label] = runs.deficits(values, [arm], overrides, control)[arm]
    return out


def net_effect(ds: xr.Dataset, doses: Sequence[float], n_draws: int | None = 400, seed: int = 0) -> xr.DataArray:
    """Diazepam's net effect on the stressed PFC per draw and daily dose [percentage points].

    CUS + diazepam minus CUS + vehicle loss at the end of CUS (below 0: the GABA-A protection wins).
    """
    values = conditional_values(ds, n_draws, seed)
    runs = DesignRuns(str(ds.attrs["selections"]).split())
    control = runs.density("control_vehicle", values)
    vehicle = runs.deficits(values, ["cus_vehicle"], control=control)["cus_vehicle"]
    net = np.array(
        [
            runs.deficits(values, ["cus_diazepam"], [f"regimen.dose_mg_per_kg={dose}"], control)["cus_diazepam"]
            - vehicle
            for dose in doses
        ]
    ).T
    return xr.DataArray(
        net,
        dims=("draw", "dose"),
        coords={"dose": ("dose", np.asarray(doses, dtype=float), {"units": "mg/kg", "long_name": "daily dose"})},
        attrs={"units": "percentage points", "long_name": "CUS + diazepam minus CUS + vehicle spine loss, end of CUS"},
    )


def crossover_dose(net: xr.DataArray) -> np.ndarray:
    """Per draw, the daily dose [mg/kg] above which the net effect turns harmful (linear interpolation on the grid).

    NaN where the net effect does not change sign from below 0 to above 0 on the grid.
    """
    doses = net["dose"].values
    out = np.full(net.sizes["draw"], np.nan)
    for i, row in enumerate(net.values):
        up = np.nonzero((row[:-1] < 0.0) & (row[1:] >= 0.0))[0]
        if up.size:
            j = up[0]
            out[i] = doses[j] + (doses[j + 1] - doses[j]) * (-row[j]) / (row[j + 1] - row[j])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m sim.stress_posterior", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True, help="seed of the sampled assumptions")
    parser.add_argument("--draws", type=int, default=None, help="use this many base draws (default: all)")
    parser.add_argument("--variant", default=None, help=f"variant of sim.targets (default {targets.DEFAULT_VARIANT})")
    parser.add_argument("--output", default=None, help="NetCDF file (default: the packaged conditional posterior)")
    parser.add_argument("--progress", action="store_true", help="print progress (stderr)")
    args = parser.parse_args(argv)
    try:
        if args.seed < 0:
            raise ConfigError(f"seed = {args.seed!r} is not allowed: it must be a non-negative integer")
        if args.draws is not None and args.draws < 2:
            raise ConfigError(f"draws = {args.draws!r} is not allowed: at least 2")
        variant = args.variant or targets.DEFAULT_VARIANT
        output = Path(args.output) if args.output else posterior.conditional_path(variant)
        nc, md = write(sample(args.seed, args.draws, variant, args.progress), output)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {nc} and {md}")
    print(summary(open_result(nc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
