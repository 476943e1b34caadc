r"""Fitting model parameters to your own imaging data (issue 16, item 2).

::

    python -m sim.fit_imaging scoring.csv groups.csv --fit spines.elimination_per_day,microglia.activation_rate_per_h --out fit/

or, in Python, ``ds = sim.fit_imaging.fit_imaging("scoring.csv", "groups.csv", params=[...], seed=0)``. The two
tables are those of :mod:`sim.imaging_data` (format in its docstring and in docs/your_data.md); each group is
simulated with its own treatment (ODE engine, mean-field imaging of :func:`sim.imaging.image` with perfect
detection); the named parameters are shared by all groups and fitted by maximum likelihood on the counts per
dendrite segment.

Parameters that can be fitted: the float fields of the stages downstream of the drug (``microglia.*`` and
``spines.*``, :data:`FIT_GROUPS`), each > 0 (fitted in log space). The default, :data:`DEFAULT_PARAMETERS`, are the
three that density, gain and loss data of a vehicle and a drug group identify best: the drug-free spine density
(``spines.baseline_density_per_um``, from the counts), the drug-free turnover (``spines.elimination_per_day``,
from the gained and lost spines of the vehicle group) and the size of the drug's effect on pruning
(``microglia.c1q_gain``, the rise of C1q tagging at full microglial activation, from the extra loss of the drug
group). Other parameters are weakly identified by such data; on the shipped example (4 animals per group) the
standard error of the log parameter is 0.6 for ``microglia.activation_rate_per_h`` (at 5 mg/kg diazepam the
model's activation is close to saturation, so a faster activation changes the loss little), 3.4 for
``microglia.engulfment_gain`` and 1.0 for ``spines.homeostatic_gain`` (it acts only through the regrowth after a
deficit of about 10 %), each fitted with the density and the turnover. Such intervals are flagged
(``identified`` = 0 when the standard error of the log parameter exceeds :data:`IDENTIFIED_SE_LOG`; NaN when the
Hessian is not positive definite) and should not be read as confidence intervals: the Laplace approximation is
poor when the likelihood is flat or skewed.

Likelihood (segment :math:`s` of length :math:`\ell_s` in group :math:`g`, sessions :math:`k`; :math:`N_{s,k}` the
spines scored, :math:`G_{s,k}` gained and :math:`L_{s,k}` lost since session :math:`k-1`; :math:`\rho_g`,
:math:`\gamma_{g,k}`, :math:`\lambda_{g,k}` the model's density and gained and lost fractions):

.. math::

    \log L = \sum_s \log \mathrm{Poisson}(N_{s,0} \mid \rho_{g,0}\,\ell_s)
           + \sum_{s,\,k \ge 1} \left[\log \mathrm{Binomial}(L_{s,k} \mid N_{s,k-1}, \lambda_{g,k})
           + \log \mathrm{Poisson}(G_{s,k} \mid N_{s,k-1}\,\gamma_{g,k})\right]

Each spine present at a session is lost by the next independently (binomial); new spines arrive as a Poisson
process (mean-field: the formation flux does not depend on which spines are present). Surviving counts are left out
because they are sums of the lost counts already in the likelihood. Intervals after a session with no spines on the
segment contribute nothing; animals that skipped a session are refused. Animals are treated as independent
replicates with the same parameters (no animal-to-animal variability beyond counting noise).

Estimate and intervals: the maximum of the log-likelihood over the log parameters (SciPy's exact trust-region
Newton method, ``scipy.optimize.minimize(method="trust-exact")``; gradient and Hessian from central differences of
step :data:`FD_STEP_LOG`, all points of one step simulated in one batch by :func:`sim.sweep.sweep`), and 95 % intervals from the Laplace approximation: the
log parameters are normal around the estimate with covariance the inverse of the negative Hessian, so an interval is
``estimate x/÷ exp(1.96 se_log)``. Laplace by default because the fit must take seconds (the test fits the shipped
example in a few seconds) and, with hundreds of counted spines, the log-likelihood of the well-identified parameters
is close to quadratic in the log parameters. ``intervals="profile"`` (``--intervals profile``) gives
profile-likelihood intervals instead (the other parameters re-fitted along each one, :func:`profile_interval`; about
six times slower), which are better when the log-likelihood is skewed. On the shipped example the two agree for the
density (0.399-0.491 vs 0.398-0.490 /um) and the turnover (0.0207-0.0257 vs 0.0206-0.0256 /d) and differ for the C1q
gain (Laplace 4.5-15.0, profile 3.7-13.8; generating value 6). The model band is the 2.5-97.5 % range of the
readouts over ``draws`` parameter sets drawn from that normal (seeded): the uncertainty of the fitted mean, not the
scatter of single animals.

Fast readouts: the mean-field cohorts of :func:`sim.imaging.image` are integrated here for all parameter sets at
once (classical Runge-Kutta on the hourly output grid, the hazards interpolated linearly as there); a test checks
that they agree with :func:`sim.imaging.image` to 1e-6.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import optimize, stats

from sim import imaging_data, presets
from sim.core import __version__
from sim.core.params import ConfigError
from sim.core.results import git_state
from sim.imaging import IMAGING_OUTPUTS, ImagingProtocol, image
from sim.imaging_data import Group
from sim.io import check_writable, save_with_summary
from sim.run import simulate
from sim.sweep import sweep

#: Stage groups whose float fields can be fitted (downstream of the drug: one batch shares PK and binding).
FIT_GROUPS = ("microglia", "spines")
#: Parameters fitted when none are named (well identified by density, gain and loss of a vehicle and a drug group).
DEFAULT_PARAMETERS = ("spines.baseline_density_per_um", "spines.elimination_per_day", "microglia.c1q_gain")
#: Readouts in the likelihood and the figure.
READOUTS = ("spine_density", "gained_fraction", "lost_fraction")
#: Confidence level of the intervals and the band.
LEVEL = 0.95
#: Kinds of interval -> description.
INTERVALS = {
    "laplace": f"{LEVEL:.0%} Laplace intervals: log parameters normal with covariance = inverse Hessian of -log L",
    "profile": f"{LEVEL:.0%} profile-likelihood intervals: log L maximised over the other parameters drops by chi2(1)/2",
}
#: Default number of parameter draws of the model band.
DRAWS = 100
#: Step of the central differences in log parameter [1] (gradient and Hessian).
FD_STEP_LOG = 0.01
#: A parameter counts as identified if its Laplace standard error in log space is below this [1] (x/÷ 2.7 at 95 %).
IDENTIFIED_SE_LOG = 0.5
#: The trust-region Newton method stops when the norm of the gradient of -log L in the log parameters is below this
#: [1] (the estimate is then within gtol/curvature of the maximum: far below 0.01 standard error for hundreds of
#: counts, where the curvature is of order 10-1000).
GRADIENT_TOL = 1e-3
#: First trust radius [log units] and most iterations.
MAX_STEP_LOG = 1.0
MAX_ITERATIONS = 40
#: Output grid of the simulations [h] (the sessions must lie on it).
STEP_H = 1.0
#: Outputs of the batch runs that the cohorts need.
_NEEDED = ("spine_density", "spine_formation_rate", "microglia_density", "c1q_level", "microglia_activation",
           "tagged_spine_density")  # fmt: skip


# ---------------------------------------------------------------------- reference path (sim.imaging.image)
def session_protocol(session_days: np.ndarray) -> ImagingProtocol:
    """The :class:`~sim.imaging.ImagingProtocol` with these sessions (regularly spaced; 1 um field of view)."""
    days = np.asarray(session_days, dtype=float)
    steps = np.diff(days)
    if days.size < 2 or not np.allclose(steps, steps[0], rtol=0.0, atol=1e-9):
        raise ConfigError(
            f"session days {days.tolist()} are not allowed: the fit needs at least two regularly spaced sessions"
        )
    return ImagingProtocol(first_day=float(days[0]), interval_days=float(steps[0]), last_day=float(days[-1]),
                           fov_length_um=1.0)  # fmt: skip


def model_readouts(group: Group, session_days: np.ndarray, overrides: Sequence[str] = ()) -> xr.Dataset:
    """Expected imaging readouts of the group's treatment with parameter ``overrides`` (ODE engine, exact means).

    The reference (one run, :func:`sim.imaging.image`); the fit uses the batched :func:`batch_readouts`.
    ``overrides`` are synaprune overrides of the parameters being fitted (``spines.elimination_per_day=...``).
    """
    protocol = session_protocol(session_days)
    run = group.config(("engine=ode", f"duration_days={float(protocol.last_day)!r}", *overrides))
    return image(simulate(run), protocol, model=run.model())


# ---------------------------------------------------------------------- likelihood
def _segment_counts(data: xr.Dataset) -> tuple[list[str], dict[str, np.ndarray]]:
    """Group of each segment and the count arrays (segment, session) of the likelihood."""
    group_of = dict(zip(data["animal"].values.tolist(), data["animal_group"].values.tolist()))
    groups = [group_of[a] for a in data["segment_animal"].values.tolist()]
    count = data["segment_spine_count"].values
    if np.isnan(count).any():
        animals = sorted({str(a) for a, row in zip(data["segment_animal"].values, count) if np.isnan(row).any()})
        raise ConfigError(f"animals {animals} skipped a session: the fit needs every animal imaged at every session")
    counts = {"count": count, "length": data["segment_length_um"].values,
              "lost": data["segment_lost_count"].values[:, 1:], "gained": data["segment_gained_count"].values[:, 1:]}  # fmt: skip
    return groups, counts


def _log_likelihood(counts: Mapping[str, np.ndarray], density: np.ndarray, lost: np.ndarray, gained: np.ndarray) -> np.ndarray:  # fmt: skip
    """The log-likelihood of the module docstring for model arrays over (..., segment, session) [one per set]."""
    count, length = counts["count"], counts["length"]
    previous = count[:, :-1]
    use = previous > 0  # an interval that starts with no spine on the segment carries no information on the fractions
    with np.errstate(divide="ignore", invalid="ignore"):
        first = stats.poisson.logpmf(count[:, 0], density[..., 0] * length)
        loss = stats.binom.logpmf(counts["lost"], previous, lost[..., 1:])
        gain = stats.poisson.logpmf(counts["gained"], previous * gained[..., 1:])
    total = first.sum(axis=-1) + np.where(use, loss + gain, 0.0).sum(axis=(-2, -1))
    return np.where(np.isnan(total), -np.inf, total)


def count_log_likelihood(data: xr.Dataset, predicted: Mapping[str, xr.Dataset]) -> float:
    """Log-likelihood of the per-segment counts of ``data`` (:func:`sim.imaging_data.load`) given the model.

    Parameters
    ----------
    data
        The imported data (``segment_*`` counts, ``segment_length_um``, ``segment_animal``, ``animal_group``);
        every animal imaged at every session.
    predicted
        Group name -> expected readouts (:func:`model_readouts`) on the data's session days.
    """
    groups, counts = _segment_counts(data)
    missing = sorted(set(groups) - set(predicted))
    if missing:
        raise ConfigError(f"count_log_likelihood(): no model readouts for group(s) {missing}")
    days = data["session_day"].values
    for name in sorted(set(groups)):
        if not np.array_equal(predicted[name]["session_day"].values, days):
            raise ConfigError(f"model readouts of group {name!r} are not on the data's session days {days.tolist()}")
    model = {k: np.stack([predicted[g][k].values for g in groups]) for k in READOUTS}
    return float(_log_likelihood(counts, model["spine_density"], model["lost_fraction"], model["gained_fraction"]))


# ---------------------------------------------------------------------- parameters
def fittable_parameters(run: Any = None) -> list[str]:
    """Names ``group.field`` of the float fields of :data:`FIT_GROUPS` in ``run`` (default: the packaged model)."""
    run = presets.from_overrides([]) if run is None else run
    return [f"{group}.{f.name}" for group in FIT_GROUPS for f in dataclasses.fields(getattr(run, group))
            if f.init and f.type in (float, "float")]  # fmt: skip


def parameter_problems(params: Sequence[str], runs: Sequence[Any] = ()) -> list[str]:
    """Every problem of the parameter names to fit (against the packaged model and each of ``runs``)."""
    params = list(params)
    if not params:
        return ["no parameter to fit: name at least one (--fit group.field,...)"]
    problems = []
    allowed = fittable_parameters()
    for name in sorted({p for p in params if params.count(p) > 1}):
        problems.append(f"parameter {name!r} is named twice")
    for name in dict.fromkeys(params):
        if name not in allowed:
            problems.append(f"parameter {name!r} cannot be fitted: choose from {', '.join(allowed)}")
            continue
        for run in runs:
            if name not in fittable_parameters(run):
                problems.append(f"parameter {name!r} is not a field of the {type(getattr(run, name.split('.')[0])).__name__} stage of a group")  # fmt: skip
                break
            value = _value(run, name)
            if not value > 0:
                problems.append(f"parameter {name!r} = {value!r} in a group: only parameters > 0 can be fitted (log space)")  # fmt: skip
                break
    return problems


def _value(run: Any, name: str) -> float:
    group, field = name.split(".")
    return float(getattr(getattr(run, group), field))


def _with(run: Any, names: Sequence[str], values: np.ndarray) -> Any:
    """``run`` with the parameters set (stages rebuilt, so their checks run: ConfigError for refused values)."""
    stages = {}
    for group in FIT_GROUPS:
        fields = {n.split(".")[1]: float(v) for n, v in zip(names, values) if n.split(".")[0] == group}
        if fields:
            stages[group] = dataclasses.replace(getattr(run, group), **fields)
    return dataclasses.replace(run, **stages)


# ---------------------------------------------------------------------- batched readouts
def _cohorts(hazards: Mapping[str, np.ndarray], step_h: float, session_index: np.ndarray) -> dict[str, np.ndarray]:
    """Mean-field cohorts of :func:`sim.imaging.image` for many sets at once: survivors, newcomers, first cohort.

    ``hazards``: ``tag``, ``eng`` [1/h] (set, time), ``e_int`` [1/h] (set), ``formation`` [1/(um h)], ``density``,
    ``tagged`` [1/um] (set, time) on a grid of step ``step_h``. Cohort (untagged, tagged) densities obey
    ``u' = source f - (tag + e_int) u``, ``t' = tag u - (eng + e_int) t``; classical Runge-Kutta over each grid
    step with the hazards interpolated linearly (midpoint = mean of the ends).
    """
    e_int = hazards["e_int"][:, None]
    source = np.array([0.0, 0.0, 1.0])  # cohorts: the first session's spines, survivors, newcomers
    ends = {k: np.ascontiguousarray(hazards[k].T)[:, :, None] for k in ("tag", "eng", "formation")}  # time, set, 1
    mids = {k: 0.5 * (v[:-1] + v[1:]) for k, v in ends.items()}  # linear interpolation at half steps
    loss_u = {"end": ends["tag"] + e_int, "mid": mids["tag"] + e_int}
    loss_t = {"end": ends["eng"] + e_int, "mid": mids["eng"] + e_int}

    def rhs(u: np.ndarray, t: np.ndarray, where: str, j: int) -> tuple[np.ndarray, np.ndarray]:
        grid = ends if where == "end" else mids
        return (grid["formation"][j] * source - loss_u[where][j] * u,
                grid["tag"][j] * u - loss_t[where][j] * t)  # fmt: skip

    def start(j: int) -> tuple[np.ndarray, np.ndarray]:
        return hazards["density"][:, j] - hazards["tagged"][:, j], hazards["tagged"][:, j]

    n, k, h = hazards["tag"].shape[0], session_index.size, step_h
    survivors, newcomers, first = (np.full((n, k), np.nan) for _ in range(3))
    u, t = np.zeros((n, 3)), np.zeros((n, 3))
    u[:, 0], t[:, 0] = start(session_index[0])
    first[:, 0] = u[:, 0] + t[:, 0]
    for s in range(1, k):
        u[:, 1], t[:, 1] = start(session_index[s - 1])
        u[:, 2] = t[:, 2] = 0.0
        for j in range(session_index[s - 1], session_index[s]):
            du1, dt1 = rhs(u, t, "end", j)
            du2, dt2 = rhs(u + 0.5 * h * du1, t + 0.5 * h * dt1, "mid", j)
            du3, dt3 = rhs(u + 0.5 * h * du2, t + 0.5 * h * dt2, "mid", j)
            du4, dt4 = rhs(u + h * du3, t + h * dt3, "end", j + 1)
            u = u + h / 6.0 * (du1 + 2 * du2 + 2 * du3 + du4)
            t = t + h / 6.0 * (dt1 + 2 * dt2 + 2 * dt3 + dt4)
        first[:, s], survivors[:, s], newcomers[:, s] = (u + t).T
    return {"survivors": survivors, "newcomers": newcomers, "first": first}


class Evaluator:
    """Expected readouts and log-likelihood of the data for many parameter sets (one batch per group).

    Parameters
    ----------
    data
        :func:`sim.imaging_data.load` output.
    params
        Names of the parameters to fit (checked by :func:`parameter_problems`).
    """

    def __init__(self, data: xr.Dataset, params: Sequence[str]) -> None:
        self.data, self.params = data, tuple(params)
        self.days = data["session_day"].values.astype(float)
        session_protocol(self.days)  # regular sessions
        session_h = self.days * 24.0
        if not np.allclose(session_h / STEP_H, np.round(session_h / STEP_H), rtol=0, atol=1e-6):
            raise ConfigError(
                f"session days {self.days.tolist()} are not allowed: the fit needs sessions on whole hours"
            )
        if self.days[0] < 0:
            raise ConfigError(f"session day {self.days[0]!r} is not allowed: sessions start at day 0 or later")
        self.session_index = np.round(session_h / STEP_H).astype(int)
        self.group_names = [str(g) for g in data["group"].values]
        extra = ("engine=ode", f"duration_days={float(self.days[-1])!r}", f"output_step_h={STEP_H!r}")
        self.runs = {g: Group.from_dataset(data, g).config(extra) for g in self.group_names}
        problems = parameter_problems(self.params, list(self.runs.values()))
        if problems:
            raise ConfigError(f"{len(problems)} problem(s) with the parameters to fit: " + "; ".join(problems))
        self.start = np.array([_value(self.runs[self.group_names[0]], p) for p in self.params])
        self.segment_groups, self.counts = _segment_counts(data)
        self.evaluations = 0

    def readouts(self, theta: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """Group -> readout -> (set, session) for parameter sets ``theta`` (set, parameter); NaN for refused sets."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        self.evaluations += theta.shape[0]
        return {g: self._group_readouts(run, theta) for g, run in self.runs.items()}

    def _group_readouts(self, run: Any, theta: np.ndarray) -> dict[str, np.ndarray]:
        n, k = theta.shape[0], self.days.size
        out = {name: np.full((n, k), np.nan) for name in (*READOUTS, "surviving_fraction")}
        stages, valid = [], []
        for i, values in enumerate(theta):
            try:
                if not np.all(np.isfinite(values)):
                    raise ConfigError("not finite")
                stages.append(_with(run, self.params, values))
                valid.append(i)
            except ConfigError:
                continue
        if not valid:
            return out
        ds = sweep(run, {p: theta[valid, j].tolist() for j, p in enumerate(self.params)}, mode="zip",
                   progress=False, variables=list(_NEEDED))  # fmt: skip
        m = len(valid)
        arrays = {v: np.broadcast_to(ds[v].transpose("sample", "time").values, (m, ds.sizes["time"])) for v in _NEEDED}
        tag, eng, e_int = np.empty((m, ds.sizes["time"])), np.empty((m, ds.sizes["time"])), np.empty(m)
        for i, stage in enumerate(stages):  # the model's hazards, as sim.imaging.image computes them
            sp, mg, density_n = stage.spines, stage.microglia, arrays["microglia_density"][i]
            tag[i] = sp.tagging(1.0, arrays["c1q_level"][i], density_n)
            eng[i] = sp.engulfment(1.0, mg.engulfment_capacity(arrays["microglia_activation"][i]), density_n)
            e_int[i] = sp.intrinsic_elimination_rate
        hazards = {"tag": tag, "eng": eng, "e_int": e_int, "density": arrays["spine_density"],
                   "tagged": arrays["tagged_spine_density"],
                   "formation": arrays["spine_formation_rate"] * arrays["spine_density"] / 24.0}  # fmt: skip
        cohorts = _cohorts(hazards, STEP_H, self.session_index)
        present = arrays["spine_density"][:, self.session_index]
        previous = np.concatenate([np.full((m, 1), np.nan), present[:, :-1]], axis=1)
        out["spine_density"][valid] = present
        out["gained_fraction"][valid] = cohorts["newcomers"] / previous
        out["lost_fraction"][valid] = (previous - cohorts["survivors"]) / previous
        out["surviving_fraction"][valid] = cohorts["first"] / present[:, :1]
        return out

    def log_likelihood(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of the data for each parameter set (set, parameter) [-inf for refused sets]."""
        pred = self.readouts(theta)
        per_segment = {k: np.stack([pred[g][k] for g in self.segment_groups], axis=1) for k in READOUTS}
        return _log_likelihood(self.counts, per_segment["spine_density"], per_segment["lost_fraction"],
                               per_segment["gained_fraction"])  # fmt: skip


# ---------------------------------------------------------------------- estimate and intervals
def _stencil(p: int, h: float) -> np.ndarray:
    """Offsets in log space: centre, +-h on each axis, and the four corners of each pair (central differences)."""
    rows = [np.zeros(p)]
    for i in range(p):
        for sign in (1, -1):
            rows.append(sign * h * np.eye(p)[i])
    for i in range(p):
        for j in range(i + 1, p):
            for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                rows.append(h * (si * np.eye(p)[i] + sj * np.eye(p)[j]))
    return np.array(rows)


def _derivatives(values: np.ndarray, p: int, h: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Value, gradient and Hessian from the function on :func:`_stencil`."""
    f0 = values[0]
    plus, minus = values[1 : 2 * p + 1 : 2], values[2 : 2 * p + 1 : 2]
    grad = (plus - minus) / (2 * h)
    hess = np.diag((plus - 2 * f0 + minus) / h**2)
    index = 2 * p + 1
    for i in range(p):
        for j in range(i + 1, p):
            pp, pm, mp, mm = values[index : index + 4]
            hess[i, j] = hess[j, i] = (pp - pm - mp + mm) / (4 * h * h)
            index += 4
    return f0, grad, hess


def maximise(evaluator: Evaluator, start: np.ndarray | None = None) -> dict[str, Any]:
    """Maximum-likelihood log parameters and the Hessian there (see the module docstring)."""
    p = len(evaluator.params)
    x0 = np.log(evaluator.start if start is None else np.asarray(start, dtype=float))
    offsets = _stencil(p, FD_STEP_LOG)
    cache: dict[bytes, tuple[float, np.ndarray, np.ndarray]] = {}

    def at(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        key = np.asarray(x, dtype=float).tobytes()
        if key not in cache:
            values = -evaluator.log_likelihood(np.exp(x + offsets))
            if not np.all(np.isfinite(values)):  # a refused set in the stencil: no derivatives here
                cache[key] = (values[0] if np.isfinite(values[0]) else math.inf, np.full(p, np.nan), np.full((p, p), np.nan))  # fmt: skip
            else:
                cache[key] = _derivatives(values, p, FD_STEP_LOG)
        return cache[key]

    f0 = at(x0)[0]
    if not np.isfinite(f0):
        raise ConfigError(f"the model refuses the starting values {dict(zip(evaluator.params, np.exp(x0)))}")
    if not np.all(np.isfinite(at(x0)[2])):
        raise ConfigError(
            f"the starting values {dict(zip(evaluator.params, np.exp(x0)))} lie at the edge of the values the model "
            "allows (no derivatives there); start further inside"
        )
    # SciPy's exact trust-region Newton method: gradient and Hessian from the batched stencil; a proposed step where
    # the model refuses a set (infinite -log L) is rejected and the trust radius shrinks, so derivatives are only
    # asked for at accepted points.
    found = optimize.minimize(
        lambda x: at(x)[0],
        x0,
        jac=lambda x: at(x)[1],
        hess=lambda x: at(x)[2],
        method="trust-exact",
        options={"gtol": GRADIENT_TOL, "maxiter": MAX_ITERATIONS, "initial_trust_radius": MAX_STEP_LOG},
    )
    x = found.x
    f, grad, hess = at(x)
    converged = bool(found.success) and np.all(np.linalg.eigvalsh(hess) > 0)
    message = f"scipy.optimize.minimize(trust-exact): {found.message}"
    return {"x": x, "nll": f, "gradient": grad, "hessian": hess, "converged": converged, "message": message,
            "iterations": int(found.nit)}  # fmt: skip


def laplace(hessian: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, float]:
    """Covariance of the log parameters (inverse of the Hessian of -log L; NaN rows if not positive definite)."""
    p = hessian.shape[0]
    z = float(stats.norm.ppf(0.5 + level / 2))
    if np.all(np.isfinite(hessian)) and np.all(np.linalg.eigvalsh(hessian) > 0):
        cov = np.linalg.inv(hessian)
        return cov, np.sqrt(np.diag(cov)), z
    cov = np.full((p, p), np.nan)
    return cov, np.full(p, np.nan), z


def profile_interval(evaluator: Evaluator, best: dict[str, Any], index: int, se_log: float, level: float = LEVEL) -> tuple[float, float]:  # fmt: skip
    """Profile-likelihood interval of parameter ``index``: where log L, maximised over the others, drops by chi2/2.

    The ends are found in log space by bracketing outward from the estimate (first step: the Laplace half-width)
    and Brent's method to 0.002 in the log parameter; the other parameters are re-fitted (:func:`maximise`, started
    on the Laplace regression line) at every trial value. An end that is not bracketed within 2^6 steps, or beyond
    the values the model allows, is NaN.
    """
    target = float(stats.chi2.ppf(level, 1)) / 2.0
    x_hat, ll_max, params = best["x"], -best["nll"], evaluator.params
    others = [j for j in range(len(params)) if j != index]
    cov = np.linalg.inv(best["hessian"]) if np.all(np.isfinite(best["hessian"])) and len(others) else None
    sub = Evaluator(evaluator.data, [params[j] for j in others]) if others else None

    def drop(x: float) -> float:
        if sub is None:
            return ll_max - float(evaluator.log_likelihood(np.exp([[x]]))[0])
        try:
            sub.runs = {g: _with(run, [params[index]], [math.exp(x)]) for g, run in evaluator.runs.items()}
        except ConfigError:
            return math.inf
        slope = cov[others, index] / cov[index, index] if cov is not None and np.all(np.isfinite(cov)) else 0.0
        try:
            return ll_max + maximise(sub, np.exp(x_hat[others] + slope * (x - x_hat[index])))["nll"]
        except ConfigError:
            return math.inf

    ends = []
    for sign in (-1.0, 1.0):
        step = se_log if np.isfinite(se_log) and se_log > 0 else 0.5
        step *= float(stats.norm.ppf(0.5 + level / 2))
        inner, outer = x_hat[index], x_hat[index] + sign * step
        for _ in range(6):
            value = drop(outer)
            if value >= target:
                break
            inner, step = outer, 2 * step
            outer = x_hat[index] + sign * step
        else:
            ends.append(math.nan)
            continue
        if not math.isfinite(value):
            ends.append(math.nan)
            continue
        root = optimize.brentq(lambda x: drop(x) - target, *sorted((inner, outer)), xtol=0.002)
        ends.append(math.exp(root))
    return ends[0], ends[1]


# ---------------------------------------------------------------------- the whole fit
def fit_data(
    data: xr.Dataset,
    params: Sequence[str] = DEFAULT_PARAMETERS,
    *,
    seed: int = 0,
    draws: int = DRAWS,
    start: Mapping[str, float] | None = None,
    intervals: str = "laplace",
) -> xr.Dataset:
    """Fit ``params`` to imaging data already loaded by :func:`sim.imaging_data.load`; see :func:`fit_imaging`."""
    began = time.perf_counter()
    params = list(params)
    if not isinstance(draws, int) or draws < 2:
        raise ConfigError(f"draws = {draws!r} is not allowed: an integer >= 2")
    if intervals not in INTERVALS:
        raise ConfigError(f"intervals = {intervals!r} is not allowed: choose one of {', '.join(INTERVALS)}")
    evaluator = Evaluator(data, params)
    first = evaluator.start
    if start is not None:
        unknown = sorted(set(start) - set(params))
        if unknown:
            raise ConfigError(f"start values for {unknown} are not allowed: they are not parameters to fit ({params})")
        first = np.array([float(start.get(p, v)) for p, v in zip(params, evaluator.start)])
        if not np.all(first > 0):
            raise ConfigError(f"start = {dict(start)!r} is not allowed: start values must be > 0 (log space)")
    best = maximise(evaluator, first)
    cov, se, z = laplace(best["hessian"])
    estimate = np.exp(best["x"])
    rng = np.random.default_rng(seed)
    if np.all(np.isfinite(se)):
        samples = np.exp(rng.multivariate_normal(best["x"], cov, size=draws))
    else:
        samples = np.tile(estimate, (draws, 1))
    fitted = evaluator.readouts(np.vstack([estimate, samples]))
    ci = estimate * np.exp(-z * se), estimate * np.exp(z * se)
    if intervals == "profile":
        ci = np.array([profile_interval(evaluator, best, i, se[i]) for i in range(len(params))]).T
    ds = _result(data, evaluator, first, best, cov, se, ci, fitted, intervals)
    ds.attrs.update(seed=int(seed), draws=int(draws), run_time_s=round(time.perf_counter() - began, 2),
                    model_evaluations=int(evaluator.evaluations))  # fmt: skip
    return ds


def fit_imaging(
    scoring: str | Path,
    groups: str | Path,
    params: Sequence[str] = DEFAULT_PARAMETERS,
    *,
    seed: int = 0,
    draws: int = DRAWS,
    start: Mapping[str, float] | None = None,
    intervals: str = "laplace",
) -> xr.Dataset:
    """Read the two tables, fit ``params`` by maximum likelihood on the counts per segment, with 95 % intervals.

    Parameters
    ----------
    scoring, groups
        The scoring and groups tables (:mod:`sim.imaging_data`: CSV or Excel).
    params
        ``group.field`` names of the parameters to fit (:func:`fittable_parameters`); shared by all groups.
    seed
        Seed of the parameter draws of the model band.
    draws
        Number of those draws.
    start
        Starting values of some parameters (default: the values in the model of the first group).
    intervals
        ``"laplace"`` (default, seconds) or ``"profile"`` (profile likelihood: re-fits the other parameters along
        each parameter, about ten times slower; better when the log-likelihood is skewed).

    Returns
    -------
    xarray.Dataset
        The data of :func:`sim.imaging_data.load` plus, over ``parameter``: ``estimate``, ``ci_low``,
        ``ci_high``, ``se_log``, ``start_value``, ``identified``, ``correlation``; over ``(group, session)``:
        ``model_<readout>`` at the estimate and ``model_<readout>_low``/``_high`` (the band); ``log_likelihood``;
        settings, seed, version and commit in ``attrs``.

    Raises
    ------
    ConfigError
        One message listing every problem of both files and of the parameter names, before anything runs.
    """
    problems = parameter_problems(params)
    try:
        data = imaging_data.load(scoring, groups)
    except ConfigError as error:
        raise ConfigError("; ".join([str(error), *problems])) from error
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) with the parameters to fit: " + "; ".join(problems))
    return fit_data(data, params, seed=seed, draws=draws, start=start, intervals=intervals)


def _result(data: xr.Dataset, evaluator: Evaluator, first: np.ndarray, best: dict, cov: np.ndarray, se: np.ndarray,
            ci: tuple[np.ndarray, np.ndarray], fitted: dict[str, dict[str, np.ndarray]], intervals: str) -> xr.Dataset:  # fmt: skip
    params = list(evaluator.params)
    estimate = np.exp(best["x"])
    run = evaluator.runs[evaluator.group_names[0]]
    meta = [{f.name: f.metadata for f in dataclasses.fields(getattr(run, p.split(".")[0]))}[p.split(".")[1]] for p in params]  # fmt: skip
    units = [str(m.get("units", "")) for m in meta]
    ds = data.copy()
    ds = ds.assign_coords(parameter=("parameter", params, {"long_name": "fitted parameter (configuration key)"}))
    ds["parameter_units"] = ("parameter", units, {"long_name": "units of the fitted parameter"})
    ds["parameter_long_name"] = ("parameter", [str(m.get("long_name", p)) for m, p in zip(meta, params)],
                                 {"long_name": "meaning of the fitted parameter"})  # fmt: skip
    per = "value in the units of parameter_units"
    ds["estimate"] = ("parameter", estimate, {"units": "various", "long_name": f"maximum-likelihood estimate ({per})"})
    ds["ci_low"] = ("parameter", ci[0], {"units": "various", "long_name": f"lower end of the {LEVEL:.0%} {intervals} interval ({per})"})  # fmt: skip
    ds["ci_high"] = ("parameter", ci[1], {"units": "various", "long_name": f"upper end of the {LEVEL:.0%} {intervals} interval ({per})"})  # fmt: skip
    ds["se_log"] = ("parameter", se, {"units": "1", "long_name": "standard error of the log parameter (Laplace)"})
    ds["start_value"] = ("parameter", first, {"units": "various", "long_name": f"starting value of the optimiser ({per})"})  # fmt: skip
    ds["model_value"] = ("parameter", evaluator.start, {"units": "various", "long_name": f"value in the model of the first group's treatment ({per})"})  # fmt: skip
    ds["identified"] = ("parameter", (np.isfinite(se) & (se < IDENTIFIED_SE_LOG)).astype(int),
                        {"units": "1", "long_name": f"1 if the Laplace se of the log parameter is below {IDENTIFIED_SE_LOG}"})  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    ds["correlation"] = (("parameter", "parameter_2"), corr, {"units": "1", "long_name": "correlation of the log parameters (Laplace)"})  # fmt: skip
    ds = ds.assign_coords(parameter_2=("parameter_2", params, {"long_name": "fitted parameter (configuration key)"}))
    ds["log_likelihood"] = ((), -best["nll"], {"units": "1", "long_name": "log-likelihood of the segment counts at the estimate"})  # fmt: skip
    ds["gradient_log"] = ("parameter", -best["gradient"], {"units": "1", "long_name": "gradient of the log-likelihood in the log parameters at the estimate (about 0 at a maximum)"})  # fmt: skip
    groups = evaluator.group_names
    q = 100 * np.array([(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    for name in (*READOUTS, "surviving_fraction"):
        units, long_name = IMAGING_OUTPUTS[name]
        best_values = np.stack([fitted[g][name][0] for g in groups])
        draws = np.stack([fitted[g][name][1:] for g in groups])  # group, draw, session
        low, high = np.full((2, *best_values.shape), np.nan)
        seen = np.isfinite(draws).any(axis=1)  # (group, session): not at session 0 for the fractions
        low[seen], high[seen] = np.nanpercentile(draws.transpose(0, 2, 1)[seen], q, axis=-1)
        dims = ("group", "session")
        ds[f"model_{name}"] = (dims, best_values, {"units": units, "long_name": f"{long_name}: model at the estimate"})
        ds[f"model_{name}_low"] = (dims, low, {"units": units, "long_name": f"{long_name}: model, {q[0]:g} % of the parameter draws"})  # fmt: skip
        ds[f"model_{name}_high"] = (dims, high, {"units": units, "long_name": f"{long_name}: model, {q[1]:g} % of the parameter draws"})  # fmt: skip
    commit, dirty = git_state()
    ds.attrs.update(
        title="synaprune fit of model parameters to imaging data",
        fitted_parameters=" ".join(params),
        likelihood="Poisson(first-session count | density x length) + Binomial(lost | previous count, lost fraction) "
        "+ Poisson(gained | previous count x gained fraction), per dendrite segment and interval",
        estimator="maximum likelihood over log parameters (scipy trust-exact Newton, central differences, step "
        f"{FD_STEP_LOG} in log space)",
        intervals=INTERVALS[intervals],
        band=f"{q[0]:g}-{q[1]:g} % of the model readouts over parameter draws from the Laplace normal",
        converged=int(best["converged"]),
        optimizer_message=best["message"],
        optimizer_iterations=best["iterations"],
        level=LEVEL,
        treatments=json.dumps({g: shlex.split(str(data["treatment"].sel(group=g).item())) for g in groups}),
        sim_version=__version__,
        git_commit=commit,
        git_dirty=dirty,
    )
    return ds


# ---------------------------------------------------------------------- outputs
def summary(ds: xr.Dataset) -> str:
    """Markdown table of the fitted values with their 95 % intervals."""
    lines = [
        "# Fit of model parameters to imaging data",
        "",
        f"Data: `{ds.attrs.get('source_scoring', '?')}` and `{ds.attrs.get('source_groups', '?')}`: "
        f"{ds.sizes['animal']} animals in {ds.sizes['group']} groups, {ds.sizes['segment']} dendrite segments, "
        f"{ds.sizes['session']} sessions.",
        f"Log-likelihood at the estimate: {float(ds['log_likelihood']):.2f}; {ds.attrs['intervals']}.",
        "",
        "| parameter | units | start | estimate | 95 % interval | se (log) | identified |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in ds["parameter"].values:
        row = ds.sel(parameter=p)
        lines.append(f"| `{p}` | {row['parameter_units'].item()} | {float(row['start_value']):.4g} | "
                     f"{float(row['estimate']):.4g} | {float(row['ci_low']):.4g} – {float(row['ci_high']):.4g} | "
                     f"{float(row['se_log']):.3f} | {'yes' if int(row['identified']) else 'no'} |")  # fmt: skip
    lines += ["", "Groups (each simulated with its own treatment):", ""]
    lines += [f"- `{g}`: `{ds['treatment'].sel(group=g).item()}`" for g in ds["group"].values]
    lines += ["", f"Seed {ds.attrs['seed']}, {ds.attrs['draws']} draws for the band; synaprune {ds.attrs['sim_version']}, "
              f"commit {ds.attrs['git_commit']}.", ""]  # fmt: skip
    return "\n".join(lines)


def plot_fit(ds: xr.Dataset):
    """Per group (columns): data (group mean ± SE) against the model band, for density, gained and lost fractions."""
    import matplotlib.pyplot as plt

    groups = list(ds["group"].values)
    fig, axes = plt.subplots(len(READOUTS), len(groups), figsize=(3.6 * len(groups), 7.5), sharex=True,
                             sharey="row", squeeze=False)  # fmt: skip
    day = ds["session_day"].values
    for c, g in enumerate(groups):
        for r, name in enumerate(READOUTS):
            ax, sel = axes[r, c], ds.sel(group=g)
            ax.fill_between(day, sel[f"model_{name}_low"], sel[f"model_{name}_high"], color="C0", alpha=0.3,
                            label=f"model, {ds.attrs['level']:.0%} band")  # fmt: skip
            ax.plot(day, sel[f"model_{name}"], color="C0", label="model at the estimate")
            ax.errorbar(day, sel[f"{name}_group_mean"], yerr=sel[f"{name}_group_se"], fmt="o", color="k", ms=4,
                        capsize=2, label="data, mean ± SE")  # fmt: skip
            units, long_name = IMAGING_OUTPUTS[name]
            if c == 0:
                ax.set_ylabel(f"{name.replace('_', ' ')} [{units}]")
            if r == 0:
                ax.set_title(f"{g} (n = {int(sel['n_animals'].max())})")
            if r == len(READOUTS) - 1:
                ax.set_xlabel("day")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def write(ds: xr.Dataset, out: str | Path) -> tuple[Path, Path, Path]:
    """Write ``fit.nc``, ``fit.md`` and ``fit.png`` into ``out`` (created if needed; each written atomically)."""
    from sim.plotting import save_figure

    out = check_writable(out)
    nc, md = save_with_summary(ds, out / "fit.nc", summary(ds))
    save_figure(plot_fit(ds), out / "fit.png")
    return nc, md, out / "fit.png"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.fit_imaging scoring.csv groups.csv [--fit a,b] [--out DIR]``: 0 on success, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m sim.fit_imaging", description=__doc__.splitlines()[0])
    parser.add_argument("scoring", help="scoring table (.csv or .xlsx)")
    parser.add_argument("groups", help="groups table (.csv or .xlsx)")
    parser.add_argument("--fit", default=",".join(DEFAULT_PARAMETERS),
                        help=f"comma-separated parameters to fit (default: {','.join(DEFAULT_PARAMETERS)})")  # fmt: skip
    parser.add_argument("--out", default="fit", help="output folder for fit.nc, fit.md, fit.png (default: fit)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the parameter draws of the band (default 0)")
    parser.add_argument("--draws", type=int, default=DRAWS, help=f"parameter draws of the band (default {DRAWS})")
    parser.add_argument("--intervals", choices=tuple(INTERVALS), default="laplace",
                        help="laplace (default, fast) or profile (profile likelihood, slower)")  # fmt: skip
    args = parser.parse_args(argv)
    params = [p.strip() for p in args.fit.split(",") if p.strip()]
    try:
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ConfigError(f"--out {args.out!r} is not allowed: it is a file, give a folder")
        ds = fit_imaging(args.scoring, args.groups, params, seed=args.seed, draws=args.draws, intervals=args.intervals)
        ds.attrs["command"] = shlex.join(["python", "-m", "sim.fit_imaging", *(sys.argv[1:] if argv is None else argv)])
        paths = write(ds, args.out)
    except ConfigError as error:
        print(f"sim.fit_imaging: error: {error}", file=sys.stderr)  # one line: every problem
        return 2
    print(summary(ds))
    if not ds.attrs["converged"]:
        print(f"warning: the optimiser did not converge ({ds.attrs['optimizer_message']})", file=sys.stderr)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


__all__ = [
    "DEFAULT_PARAMETERS",
    "FIT_GROUPS",
    "Evaluator",
    "count_log_likelihood",
    "fit_data",
    "fit_imaging",
    "fittable_parameters",
    "laplace",
    "main",
    "maximise",
    "model_readouts",
    "parameter_problems",
    "plot_fit",
    "profile_interval",
    "session_protocol",
    "summary",
    "write",
]

if __name__ == "__main__":
    sys.exit(main())
