"""Calibration of the free microglia/spine parameters to the Shi et al. 2022 calibration targets.

Only three observations are used, all from the 5 mg/kg/day × 7 day arm in somatosensory cortex, plus one prior:

* spine density 13 % below vehicle at day 7 (Alzforum news; SECONDARY), σ = 1.5 %;
* back to baseline (deficit ≤ 2 %) at about day 56 (Pharmazeutische Zeitung; SECONDARY), σ = 0.5 % on the
  deficit at day 56;
* density "rose gradually" once dosing stopped (PZ; SECONDARY): continued loss after day 7 is small, σ = 1 %;
* prior on drug-free elimination: ≈ 50 % of adult barrel-cortex spines persist for a month through a cranial
  window (Trachtenberg et al. 2002; FOUND), i.e. e0 ≈ ln 2 / 30 d, log-normal with σ_log = 0.3.

Every other arm of the study is a prediction and is never used here. The half-life of the activated state is
*not* fitted: with it free, the fit drives it to zero and the activation rate to infinity (only their ratio is
identified; correlation -1, smallest singular value ~1e-4), i.e. the targets cannot tell how long microglia stay
activated. It is fixed at its prior (24 h, an assumption) and the consequences are reported. The fit is weighted least squares in log
parameters (:func:`scipy.optimize.least_squares`); uncertainty comes from the Jacobian at the optimum
(``(JᵀJ)⁻¹``, residuals already divided by σ) and, optionally, from likelihood profiles.

``python -m sim.calibrate`` rewrites ``sim/configs/calibration/shi2022.yaml`` with the values and their provenance
when the package is a git checkout; for an installed package it requires ``--output FILE``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from sim.analysis import deficit_at, max_deficit
from sim.run import RunConfig, simulate_model

PARAMETERS: dict[str, tuple[str, float]] = {
    # config key: (stage, starting value)
    "microglia.activation_rate_per_h": ("microglia", 0.3),
    "spines.elimination_per_day": ("spines", 0.023),
    "spines.homeostatic_gain": ("spines", 1.0),
}


@dataclass(frozen=True)
class Target:
    """One calibration observation with its uncertainty and provenance."""

    name: str
    value: float
    sigma: float
    units: str
    source: str
    status: str


TARGETS = (
    Target(
        "deficit_day7_percent",
        13.0,
        1.5,
        "percent",
        "Alzforum news 2022 [alzforum2022]",
        "SECONDARY",
    ),
    Target(
        "deficit_day56_percent",
        2.0,
        0.5,
        "percent",
        "Pharmazeutische Zeitung 14.03.2022: baseline reached at ~56 d",
        "SECONDARY",
    ),
    Target(
        "loss_after_withdrawal_percent", 0.0, 1.0, "percent", "PZ: density rose gradually after dosing", "SECONDARY"
    ),
    Target(
        "log_elimination_per_day",
        math.log(math.log(2.0) / 30.0),
        0.3,
        "log(1/d)",
        "Trachtenberg et al. 2002: ~50 % of spines stable for 1 month (cranial window)",
        "FOUND",
    ),
)


def with_values(cfg: RunConfig, values: dict[str, float]) -> RunConfig:
    """Return a copy of ``cfg`` with ``values`` (keys like ``microglia.activation_rate_per_h``) substituted."""
    stages: dict[str, dict[str, float]] = {}
    for key, value in values.items():
        stage, field = key.split(".")
        stages.setdefault(stage, {})[field] = float(value)
    return dataclasses.replace(
        cfg, **{stage: dataclasses.replace(getattr(cfg, stage), **fields) for stage, fields in stages.items()}
    )


def observables(cfg: RunConfig) -> dict[str, float]:
    """Model values of the calibration observables for one configuration of the high-dose arm."""
    ds = simulate_model(cfg.model(), cfg.times_h())
    day7 = deficit_at(ds, 7.0)  # no vehicle run: against the drug-free baseline (the vehicle stays there)
    after = max_deficit(ds.sel(time=slice(7.0, None)))
    return {
        "deficit_day7_percent": day7,
        "deficit_day56_percent": deficit_at(ds, 56.0),
        "loss_after_withdrawal_percent": after - day7,
        "log_elimination_per_day": math.log(cfg.spines.elimination_per_day),
    }


def _residuals(log_values: np.ndarray, cfg: RunConfig) -> np.ndarray:
    values = dict(zip(PARAMETERS, np.exp(log_values), strict=True))
    obs = observables(with_values(cfg, values))
    return np.array([(obs[t.name] - t.value) / t.sigma for t in TARGETS])


@dataclass
class CalibrationResult:
    """Fitted values, their uncertainty and the fit diagnostics."""

    values: dict[str, float]
    log_standard_errors: dict[str, float]
    correlation: np.ndarray
    singular_values: np.ndarray
    residuals: dict[str, float]
    observables: dict[str, float]
    cost: float
    profiles: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)


def base_config() -> RunConfig:
    """High-dose arm with the stage priors (no previous calibration), 3-hourly output."""
    return _experiment(["calibration=none", "experiment=shi2022_high_dose", "output_step_h=3"])


def _experiment(overrides: list[str]) -> RunConfig:
    """The RunConfig of command-line style ``overrides``, read from the package data (no Hydra)."""
    from sim import presets

    return presets.from_overrides(overrides)


def calibrate(cfg: RunConfig | None = None, profile_points: int = 0) -> CalibrationResult:
    """Fit :data:`PARAMETERS` to :data:`TARGETS`; optionally profile each parameter on ``profile_points`` points."""
    cfg = cfg or base_config()
    start = np.log([v for _, v in PARAMETERS.values()])
    fit = least_squares(_residuals, start, args=(cfg,), method="trf", x_scale=1.0, diff_step=1e-4)
    jac = fit.jac
    _, singular, _ = np.linalg.svd(jac)
    covariance = np.linalg.pinv(jac.T @ jac)
    se = np.sqrt(np.diag(covariance))
    correlation = covariance / np.outer(se, se)
    values = dict(zip(PARAMETERS, np.exp(fit.x), strict=True))
    result = CalibrationResult(
        values=values,
        log_standard_errors=dict(zip(PARAMETERS, se, strict=True)),
        correlation=correlation,
        singular_values=singular,
        residuals={t.name: float(r) for t, r in zip(TARGETS, fit.fun, strict=True)},
        observables=observables(with_values(cfg, values)),
        cost=float(fit.cost),
    )
    for i, key in enumerate(PARAMETERS if profile_points else ()):
        grid = fit.x[i] + np.linspace(-2.0, 2.0, profile_points)
        chi2 = []
        for fixed in grid:
            free = [j for j in range(len(PARAMETERS)) if j != i]

            def partial(x, fixed=fixed, free=free, i=i):
                full = np.empty(len(PARAMETERS))
                full[i], full[free] = fixed, x
                return _residuals(full, cfg)

            sub = least_squares(partial, fit.x[free], method="trf", diff_step=1e-4)
            chi2.append(2.0 * sub.cost)
        result.profiles[key] = (np.exp(grid), np.array(chi2))
    return result


def to_yaml(result: CalibrationResult, command: str) -> str:
    """The calibration file: fitted values as a global-package Hydra config, with provenance comments."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    lines = [
        "# @package _global_",
        "# Fitted by sim.calibrate to the Shi et al. 2022 calibration targets only (high-dose arm, somatosensory",
        "# cortex); every other arm is a prediction. Do not edit by hand: regenerate with",
        f"#   {command}",
        f"# Date: {now}. Weighted least squares in log parameters; cost = {result.cost:.3g}.",
        "# Targets (value ± sigma, status, source):",
    ]
    for t in TARGETS:
        lines.append(f"#   {t.name} = {t.value:.4g} ± {t.sigma:g} {t.units} [{t.status}] {t.source}")
        lines.append(
            f"#     model: {result.observables[t.name]:.4g} (standardised residual {result.residuals[t.name]:+.2f})"
        )
    lines.append("# Uncertainty: multiplicative 1-sigma factor exp(SE of log value) from (J^T J)^-1.")
    lines.append("# Singular values of the weighted Jacobian: " + ", ".join(f"{s:.3g}" for s in result.singular_values))
    names = list(PARAMETERS)
    lines.append("# Correlation of log parameters (order as below):")
    for name, row in zip(names, result.correlation, strict=True):
        lines.append(f"#   {name:36s} " + " ".join(f"{c:+.2f}" for c in row))
    for key, (grid, chi2) in result.profiles.items():
        inside = np.flatnonzero(chi2 - chi2.min() <= 3.84)
        low = "unbounded below" if inside[0] == 0 else f"{grid[inside[0]]:.4g}"
        high = "unbounded above" if inside[-1] == grid.size - 1 else f"{grid[inside[-1]]:.4g}"
        lines.append(f"# Profile 95% range of {key} (grid x/÷ e^2, {grid.size} points): [{low}, {high}]")
    by_stage: dict[str, list[str]] = {}
    for key, value in result.values.items():
        stage, field = key.split(".")
        factor = math.exp(result.log_standard_errors[key])
        by_stage.setdefault(stage, []).append(f"  {field}: {value:.6g}   # x/÷ {factor:.3g}")
    for stage, fields in by_stage.items():
        lines.append(f"{stage}:")
        lines.extend(fields)
    return "\n".join(lines) + "\n"


#: The calibration file in the package data, rewritten by default when the package is a git checkout.
PACKAGE_OUTPUT = Path(__file__).resolve().parent / "configs" / "calibration" / "shi2022.yaml"


def is_checkout(directory: Path = PACKAGE_OUTPUT.parent) -> bool:
    """True if ``directory`` lies inside a git work tree (a source checkout, not an installed package)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"], cwd=directory, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == "true"


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.calibrate [--output FILE] [--profile N]``."""
    parser = argparse.ArgumentParser(prog="python -m sim.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        help="calibration YAML to write (default in a git checkout: the package's configs/calibration/shi2022.yaml; "
        "required otherwise)",
    )
    parser.add_argument("--profile", type=int, default=0, help="profile-likelihood points per parameter (0: none)")
    args = parser.parse_args(argv)
    output = args.output
    if output is None:
        if not is_checkout():
            parser.error(
                f"--output is required: {PACKAGE_OUTPUT.parent} is not in a git checkout, so the package data of an "
                "installed package would be overwritten (give --output FILE, then calibration=... or copy it)"
            )
        output = PACKAGE_OUTPUT
    result = calibrate(profile_points=args.profile)
    command = "python -m sim.calibrate" + (f" --profile {args.profile}" if args.profile else "")
    text = to_yaml(result, command)
    tmp = output.with_suffix(".yaml.part")
    tmp.write_text(text)
    tmp.replace(output)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
