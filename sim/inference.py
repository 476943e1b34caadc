"""Posterior of a variant's free parameters by MCMC (emcee's affine-invariant ensemble sampler).

``python -m sim.inference --walkers 32 --steps 2000 --seed 1 [--variant NAME] [--output FILE]``

The log-probability of a parameter set is :func:`sim.targets.log_likelihood` of its observables plus the sum of the
log-normal priors (:meth:`sim.targets.Prior.logpdf`), both in log-parameter space, where the walkers move. All
walkers of a step are scored together (emcee's ``vectorize=True``): one batch of the batch engine
(:mod:`sim.engines.batch`) per study arm of :data:`sim.targets.ARMS`, PK and binding integrated once per arm. The
walkers start around the packaged least-squares optimum (the composed default model of each arm) with a spread of
:data:`START_SPREAD` in log space. A set refused by its stage class or that cannot be integrated has probability 0.

The result is written atomically as NetCDF (default ``sim/configs/posterior/<variant>.nc``): one variable per free
parameter over ``(chain, draw)`` (chains are walkers; draws the kept steps after burn-in and thinning) named by its
config key with dots as ``__`` (attribute ``config_key``), the log-probability, and the run's settings and
diagnostics as attributes; a Markdown summary (``.md``) next to it compares prior and posterior. The same seed
gives the same draws, bit for bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import emcee
import numpy as np
import xarray as xr

from sim import library, targets
from sim.core import __version__
from sim.core.params import ConfigError
from sim.core.results import git_state
from sim.engines.batch import BatchEngine, Upstream, upstream
from sim.io import open_result, save_with_summary
from sim.model import PruningModel
from sim.posterior import posterior_path, variable_name
from sim.presets import from_overrides

#: Default burn-in in units of the largest integrated autocorrelation time (the walkers start in a small ball and
#: must first spread over the posterior; 5 tau is on the safe side of emcee's "a few tau").
BURN_IN_TAUS = 5.0

#: Standard deviation of the walkers' start around the least-squares optimum, in log parameter space [1].
START_SPREAD = 0.05


@dataclass
class Arm:
    """One study arm: the composed model (with the variant's selections), its output times [h] and upstream."""

    name: str
    model: PruningModel
    times_h: np.ndarray
    calibration: str
    shared: Upstream | None = None


@dataclass
class Posterior:
    """The log-probability of a variant's free parameters (callable on walkers x parameters, log values)."""

    variant: targets.Variant
    engine: BatchEngine = field(default_factory=BatchEngine)
    arms: dict[str, Arm] = field(default_factory=dict)

    @classmethod
    def of(cls, variant: str | None = None, engine: BatchEngine | None = None) -> Posterior:
        """The posterior of a variant of :data:`sim.targets.VARIANTS` (default :data:`~sim.targets.DEFAULT_VARIANT`)."""
        name = targets.DEFAULT_VARIANT if variant is None else variant
        if name not in targets.VARIANTS:
            raise ConfigError(f"variant = {name!r} is not allowed: choose one of {', '.join(targets.VARIANTS)}")
        spec = targets.VARIANTS[name]
        post = cls(spec, engine or BatchEngine())
        for arm, overrides in targets.ARMS.items():
            cfg = from_overrides([*overrides, *spec.selections])
            post.arms[arm] = Arm(arm, cfg.model(), cfg.times_h(), cfg.calibration)
        return post

    def start(self) -> np.ndarray:
        """Log values of the free parameters in the composed default model (the packaged optimum)."""
        model = next(iter(self.arms.values())).model
        out = []
        for key in self.variant.keys:
            group, name = key.split(".")
            out.append(math.log(float(getattr(getattr(model, group), name))))
        return np.array(out)

    def log_prior(self, log_values: np.ndarray) -> np.ndarray:
        """Sum of the priors' log densities in log parameter space (walkers,) [1]."""
        log_values = np.atleast_2d(log_values)
        return np.sum([p.logpdf(log_values[:, i]) for i, p in enumerate(self.variant.free)], axis=0)

    def deficits(self, log_values: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Output times [d] and spine deficits [percent] (walkers x time) of every arm."""
        log_values = np.atleast_2d(log_values)
        values = {key: np.exp(log_values[:, i]) for i, key in enumerate(self.variant.keys)}
        times, deficits = {}, {}
        for name, arm in self.arms.items():
            if arm.shared is None:
                arm.shared = upstream(arm.model, arm.times_h, self.engine.signal_step_h)
            relative, _ = self.engine.spine_density_relative(arm.model, arm.times_h, values, arm.shared, "none")
            times[name] = arm.times_h / 24.0
            deficits[name] = targets.deficit_percent(relative)
        return times, deficits

    def log_likelihood(self, log_values: np.ndarray) -> np.ndarray:
        """:func:`sim.targets.log_likelihood` of each walker's observables (walkers,) [1]; -inf for a failed set."""
        times, deficits = self.deficits(log_values)
        with np.errstate(invalid="ignore"):
            ll = targets.log_likelihood(targets.observables(times, deficits))
        return np.where(np.isfinite(ll), ll, -np.inf)

    def __call__(self, log_values: np.ndarray) -> np.ndarray:
        """Log posterior density up to a constant (walkers,) [1]: log-likelihood + log-prior."""
        log_values = np.atleast_2d(log_values)
        lp = self.log_prior(log_values)
        finite = np.all(np.isfinite(log_values), axis=1)
        out = np.full(lp.shape, -np.inf)
        if finite.any():
            out[finite] = lp[finite] + self.log_likelihood(log_values[finite])
        return out


def sample(
    posterior: Posterior,
    walkers: int,
    steps: int,
    seed: int,
    burn_in: int | None = None,
    thin: int | None = None,
    progress: bool = False,
) -> tuple[emcee.EnsembleSampler, dict]:
    """Run the ensemble sampler; returns it and the diagnostics (burn-in, thinning, acceptance, tau, ESS)."""
    ndim = len(posterior.variant.keys)
    if walkers < 2 * ndim or walkers % 2:
        raise ConfigError(f"walkers = {walkers!r} is not allowed: it must be even and at least 2 x {ndim} parameters")
    if steps < 2:
        raise ConfigError(f"steps = {steps!r} is not allowed: it must be at least 2")
    rng = np.random.default_rng(seed)
    start = posterior.start() + START_SPREAD * rng.standard_normal((walkers, ndim))
    sampler = emcee.EnsembleSampler(walkers, ndim, posterior, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    began = time.perf_counter()
    sampler.run_mcmc(start, steps, progress=progress)
    run_time = time.perf_counter() - began
    tau = np.asarray(sampler.get_autocorr_time(quiet=True), dtype=float)
    tau = np.where(tau > 0, tau, np.nan)  # a chain of a few steps gives 0: unknown
    tau_max = float(np.nanmax(tau)) if np.any(np.isfinite(tau)) else float(steps)
    if burn_in is None:
        burn_in = min(int(math.ceil(BURN_IN_TAUS * tau_max)), steps // 2)
    if thin is None:
        thin = max(1, int(0.5 * np.nanmin(tau))) if np.any(np.isfinite(tau)) else 1
    if not 0 <= burn_in < steps:
        raise ConfigError(f"burn_in = {burn_in!r} is not allowed: it must lie in [0, steps)")
    kept = (steps - burn_in) * walkers
    return sampler, {
        "burn_in": int(burn_in),
        "thin": int(thin),
        "acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
        "autocorrelation_time": tau,
        "effective_sample_size": kept / tau,
        "run_time_s": run_time,
        "chain_length_over_tau": steps / tau,
    }


def to_dataset(
    posterior: Posterior,
    sampler: emcee.EnsembleSampler,
    diag: dict,
    seed: int,
    command: str,
    git: tuple[str, bool] | None = None,
) -> xr.Dataset:
    """The kept draws with units and provenance (see the module docstring).

    ``git`` is the (commit, dirty) state of the checkout when sampling started (default: now); a long run records
    the code it ran, not a commit made while it was running.
    """
    spec = posterior.variant
    chain = np.exp(sampler.get_chain(discard=diag["burn_in"], thin=diag["thin"]))  # draw x walker x parameter
    log_prob = sampler.get_log_prob(discard=diag["burn_in"], thin=diag["thin"])
    model = next(iter(posterior.arms.values())).model
    data = {}
    for i, prior in enumerate(spec.free):
        group, name = prior.key.split(".")
        meta = {f.name: f.metadata for f in dataclasses.fields(getattr(model, group))}.get(name, {})
        data[variable_name(prior.key)] = xr.Variable(
            ("chain", "draw"),
            chain[:, :, i].T.copy(),
            {
                "units": prior.units,
                "long_name": meta.get("long_name", prior.key),
                "config_key": prior.key,
                "prior_median": prior.median,
                "prior_log_sd": prior.log_sd,
                "prior_source": prior.source,
                "autocorrelation_time_steps": float(diag["autocorrelation_time"][i]),
                "effective_sample_size": float(diag["effective_sample_size"][i]),
            },
        )
    data["log_probability"] = xr.Variable(
        ("chain", "draw"), log_prob.T.copy(), {"units": "1", "long_name": "log posterior density (up to a constant)"}
    )
    commit, dirty = git if git is not None else git_state()
    calibration = next(iter(posterior.arms.values())).calibration
    attrs = {
        "title": f"synaprune posterior of the free parameters of variant {spec.name}",
        "variant": spec.name,
        "variant_description": spec.description,
        "selections": " ".join(spec.selections),
        "free_parameters": " ".join(spec.keys),
        "priors": json.dumps([vars(p) for p in spec.free]),
        "targets": json.dumps([vars(t) for t in targets.TARGETS]),
        "arms": json.dumps({k: list(v) for k, v in targets.ARMS.items()}),
        "seed": int(seed),
        "walkers": int(sampler.nwalkers),
        "steps": int(sampler.iteration),
        "burn_in": diag["burn_in"],
        "thin": diag["thin"],
        "start_spread_log": START_SPREAD,
        "acceptance_fraction": diag["acceptance_fraction"],
        "autocorrelation_time_steps": diag["autocorrelation_time"],
        "effective_sample_size": diag["effective_sample_size"],
        "run_time_s": diag["run_time_s"],
        "engine": f"batch (rtol={posterior.engine.rtol}, atol={posterior.engine.atol}, "
        f"signal_step_h={posterior.engine.signal_step_h})",
        "command": command,
        "sim_version": __version__,
        "emcee_version": emcee.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "calibration": calibration,
        "calibration_sha256": library.calibration_sha256(calibration),
    }
    ds = xr.Dataset(data, attrs=attrs)
    ds = ds.assign_coords(chain=np.arange(chain.shape[1]), draw=np.arange(chain.shape[0]))
    ds["chain"].attrs.update(units="1", long_name="walker of the ensemble sampler")
    ds["draw"].attrs.update(units="1", long_name="kept step after burn-in and thinning")
    return ds


def summary(ds: xr.Dataset) -> str:
    """Markdown diagnostics: prior vs posterior median and 5-95 % range per parameter, acceptance, tau, ESS."""
    priors = {p["key"]: p for p in json.loads(ds.attrs["priors"])}
    lines = [
        f"# Posterior of variant `{ds.attrs['variant']}`",
        "",
        f"Generated by `{ds.attrs['command']}` (synaprune {ds.attrs['sim_version']}, commit {ds.attrs['git_commit']}, "
        f"emcee {ds.attrs['emcee_version']}). Do not edit by hand.",
        "",
        f"- walkers {ds.attrs['walkers']}, steps {ds.attrs['steps']}, burn-in {ds.attrs['burn_in']}, thinning "
        f"{ds.attrs['thin']}, seed {ds.attrs['seed']}; kept draws {ds.sizes['chain'] * ds.sizes['draw']}",
        f"- mean acceptance fraction {ds.attrs['acceptance_fraction']:.3f}; run time {ds.attrs['run_time_s']:.0f} s",
        f"- calibration `{ds.attrs['calibration']}` (sha256 {ds.attrs['calibration_sha256'][:12]}…)",
        "",
        "| parameter | units | prior median | prior 5-95 % | posterior median | posterior 5-95 % | tau [steps] | "
        "steps/tau | ESS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    z = 1.6448536269514722
    for key in str(ds.attrs["free_parameters"]).split():
        p = priors[key]
        v = ds[variable_name(key)]
        q5, q50, q95 = np.quantile(v.values, [0.05, 0.5, 0.95])
        tau = v.attrs["autocorrelation_time_steps"]  # NaN when the chain is too short to tell
        lo, hi = p["median"] * math.exp(-z * p["log_sd"]), p["median"] * math.exp(z * p["log_sd"])
        lines.append(
            f"| `{key}` | {p['units']} | {p['median']:.4g} | {lo:.3g}-{hi:.3g} | {q50:.4g} | {q5:.3g}-{q95:.3g} | "
            f"{tau:.1f} | {ds.attrs['steps'] / tau:.1f} | {v.attrs['effective_sample_size']:.0f} |"
        )
    lines += [
        "",
        "emcee's integrated autocorrelation time is reliable only when the chain is at least ~50 tau long "
        "(`steps/tau` above); shorter chains underestimate it.",
    ]
    return "\n".join(lines) + "\n"


def write(ds: xr.Dataset, path: str | Path) -> tuple[Path, Path]:
    """Write the NetCDF and the Markdown summary next to it, each atomically."""
    return save_with_summary(ds, path, summary(ds))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m sim.inference", description=__doc__.splitlines()[0])
    parser.add_argument("--walkers", type=int, required=True, help="number of walkers (even, >= 2 x parameters)")
    parser.add_argument("--steps", type=int, required=True, help="steps of every walker")
    parser.add_argument("--seed", type=int, required=True, help="seed of the start and of the sampler")
    parser.add_argument("--variant", default=None, help=f"variant of sim.targets (default {targets.DEFAULT_VARIANT})")
    parser.add_argument("--output", default=None, help="NetCDF file (default sim/configs/posterior/<variant>.nc)")
    parser.add_argument(
        "--burn-in", type=int, default=None, help="steps discarded (default 5 x max tau, at most half the steps)"
    )
    parser.add_argument("--thin", type=int, default=None, help="keep every n-th step (default tau_min / 2)")
    parser.add_argument("--progress", action="store_true", help="show a progress bar (stderr)")
    args = parser.parse_args(argv)
    try:
        if args.seed < 0:
            raise ConfigError(f"seed = {args.seed!r} is not allowed: it must be a non-negative integer")
        posterior = Posterior.of(args.variant)
        output = Path(args.output) if args.output else posterior_path(posterior.variant.name)
        git = git_state()  # the code that runs, recorded before the (long) sampling
        sampler, diag = sample(posterior, args.walkers, args.steps, args.seed, args.burn_in, args.thin, args.progress)
        command = " ".join(["python -m sim.inference", *(sys.argv[1:] if argv is None else argv)])
        nc, md = write(to_dataset(posterior, sampler, diag, args.seed, command, git), output)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {nc} and {md}")
    print(summary(open_result(nc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
