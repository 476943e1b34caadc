"""What the data say, and which model structures compete to say it: calibration targets, priors, variants.

This module is the single place that defines the calibration problem shared by the least-squares fit and the
variant comparison (:mod:`sim.calibrate`) and the posterior sampler (:mod:`sim.inference`):

* :data:`ARMS`: the study arms the targets are read from, as command-line style overrides;
* :data:`TARGETS`: observations with their uncertainty, each a Gaussian term (``kind="gaussian"``) or a one-sided
  censored observation (``kind="at_most"``: the study reports only that the value was below ``value``, e.g.
  "recovered"; see :meth:`Target.residual`);
* :class:`Prior`: a log-normal prior of one free parameter (median, log-sd, source);
* :class:`Variant`: a model structure (config selections such as ``microglia=adaptive``) with its free parameters;
* :func:`observables`: the model values of the targets from the spine deficit of every arm. It works on arrays with
  any leading dimensions (``(..., time)``), so a batch of parameter sets is scored in one call;
* :func:`acceptance`: the pass/fail criteria a variant must meet to be kept (the issue's targets, not the likelihood).

The log-likelihood of a parameter set is ``-0.5 * sum(residuals(observables(...))**2)``; the log-prior is the sum of
:meth:`Prior.logpdf` over the free parameters (in log parameter space).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

#: Deficit [percent] below which a run counts as recovered (the issue's and the study's "back to baseline").
RECOVERED_PERCENT = 2.0

#: Arm name -> overrides of that arm (package configs, read without Hydra by :func:`sim.presets.from_overrides`).
ARMS: dict[str, tuple[str, ...]] = {
    "high_dose": ("experiment=shi2022_high_dose",),
    "low_dose": ("experiment=shi2022_low_dose",),
}

#: First day of the low-dose arm from which the deficit must stay below :data:`RECOVERED_PERCENT`: last dose (the
#: regimen stops at day 56) + 21 d, "recovered within 3 weeks after stopping" [pz2022].
LOW_DOSE_RECOVERED_BY_DAY = 77.0


@dataclass(frozen=True)
class Target:
    r"""One observation the model is scored against.

    ``kind="gaussian"``: residual ``(model - value) / sigma``.

    ``kind="at_most"``: a censored observation — the study reports only that the quantity was below ``value`` (e.g.
    the loss "had recovered"), measured with error ``sigma``. The probability of that report given the model value
    :math:`m` is :math:`\Phi((v - m)/\sigma)`, so the log-likelihood term is :math:`\log\Phi((v - m)/\sigma)` and
    the residual (whose square is minus twice that term) is :math:`\sqrt{-2\log\Phi((v - m)/\sigma)}`. It is
    never zero: at :math:`m = v` the report would be a coin toss (residual :math:`\sqrt{2\ln 2} = 1.18`), and it
    falls towards zero as :math:`m` moves below :math:`v`. (A half-Gaussian bound, flat below ``value``, lets any
    competing target push the optimum just past the bound — which the variant comparison showed for ``hill``.)
    """

    name: str
    value: float
    sigma: float
    units: str
    kind: str
    arm: str
    source: str
    status: str

    def residual(self, model_value):
        """Standardised residual of ``model_value`` (array or float) [1]."""
        z = (np.asarray(model_value, dtype=float) - self.value) / self.sigma
        if self.kind == "at_most":
            return np.sqrt(-2.0 * log_ndtr(-z))
        return z


TARGETS: tuple[Target, ...] = (
    Target(
        "high_dose_deficit_day7_percent",
        13.0,
        1.5,
        "percent",
        "gaussian",
        "high_dose",
        "[shi2022] as reported by [alzforum2022]: spine density 13 % below vehicle after 5 mg/kg/day for 7 days",
        "SECONDARY",
    ),
    Target(
        "high_dose_deficit_day56_percent",
        RECOVERED_PERCENT,
        0.5,
        "percent",
        "gaussian",
        "high_dose",
        "[shi2022] as reported by [pz2022]: back to baseline at about day 56",
        "SECONDARY",
    ),
    Target(
        "high_dose_loss_after_withdrawal_percent",
        0.0,
        1.0,
        "percent",
        "gaussian",
        "high_dose",
        "[shi2022] as reported by [pz2022]: density rose gradually once dosing stopped (little further loss)",
        "SECONDARY",
    ),
    Target(
        "low_dose_deficit_after_day77_percent",
        RECOVERED_PERCENT,
        0.5,
        "percent",
        "at_most",
        "low_dose",
        "[shi2022] as reported by [pz2022]: the loss after 1 mg/kg/day for 8 weeks recovered within 3 weeks of stopping",
        "SECONDARY",
    ),
)


@dataclass(frozen=True)
class Prior:
    """Log-normal prior of one free parameter: ``log(x) ~ Normal(log(median), log_sd)``."""

    key: str  # config key, e.g. "microglia.activation_rate_per_h"
    median: float
    log_sd: float
    units: str
    source: str

    def logpdf(self, log_value):
        """Log density of ``log(x)`` (arrays broadcast) [1]."""
        z = (np.asarray(log_value, dtype=float) - math.log(self.median)) / self.log_sd
        return -0.5 * z * z - math.log(self.log_sd * math.sqrt(2.0 * math.pi))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws of ``x`` (not its log) [units]."""
        return np.exp(rng.normal(math.log(self.median), self.log_sd, size))


@dataclass(frozen=True)
class Variant:
    """A model structure: config selections on top of the defaults, and the parameters fitted for it."""

    name: str
    description: str
    selections: tuple[str, ...]
    free: tuple[Prior, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """Config keys of the free parameters, in order."""
        return tuple(p.key for p in self.free)


_ACTIVATION_RATE = Prior(
    "microglia.activation_rate_per_h",
    0.3,
    2.0,
    "1/h",
    "assumption: weakly informative, activation within minutes to days (x/÷ e^2 at 1 sd)",
)
_ELIMINATION = Prior(
    "spines.elimination_per_day",
    math.log(2.0) / 30.0,
    0.3,
    "1/d",
    "[trachtenberg2002]: about half of adult barrel-cortex spines persist for a month through a cranial window",
)
_HOMEOSTATIC_GAIN = Prior(
    "spines.homeostatic_gain",
    1.0,
    1.0,
    "1",
    "assumption: weakly informative, formation rises by about as much as density falls (x/÷ e at 1 sd)",
)

_HILL = Prior(
    "microglia.stimulus_hill",
    2.0,
    0.5,
    "1",
    "assumption: threshold-like transduction, between hyperbolic (n = 1) and steep (n = 4) at about 1 sd",
)
_ADAPTATION_HALF_LIFE = Prior(
    "microglia.adaptation_half_life_h",
    72.0,
    1.0,
    "h",
    "assumption: desensitisation builds up over days (x/÷ e at 1 sd: about 1 to 8 days)",
)
_ADAPTED_RESPONSE = Prior(
    "microglia.adapted_response",
    0.3,
    1.0,
    "1",
    "assumption: sustained occupancy leaves about a third of the stimulus (x/÷ e at 1 sd: 0.1 to 0.8)",
)

_ONE_POOL = ("microglia=default", "spines=somatosensory_cortex")

VARIANTS: dict[str, Variant] = {
    "baseline": Variant(
        "baseline",
        "one spine pool, Hill stimulus with fixed n = 2, no adaptation (the structure of synaprune 0.1)",
        _ONE_POOL,
        (_ACTIVATION_RATE, _ELIMINATION, _HOMEOSTATIC_GAIN),
    ),
    "hill": Variant(
        "hill",
        "as baseline with the Hill coefficient of the occupancy -> stimulus map free (steeper: threshold-like)",
        _ONE_POOL,
        (_ACTIVATION_RATE, _ELIMINATION, _HOMEOSTATIC_GAIN, _HILL),
    ),
    "adaptive": Variant(
        "adaptive",
        "microglia desensitise under sustained stimulation (microglia=adaptive), one spine pool",
        ("microglia=adaptive", "spines=somatosensory_cortex"),
        (_ACTIVATION_RATE, _ELIMINATION, _HOMEOSTATIC_GAIN, _ADAPTATION_HALF_LIFE, _ADAPTED_RESPONSE),
    ),
    "two_pool": Variant(
        "two_pool",
        "transient and persistent spines, pruning of the transient pool only (spines=two_pool)",
        ("microglia=default", "spines=two_pool"),
        (_ACTIVATION_RATE, _ELIMINATION, _HOMEOSTATIC_GAIN),
    ),
}

#: The variant the package's calibration and posterior belong to.
DEFAULT_VARIANT = "hill"


def deficit_percent(density_relative_percent) -> np.ndarray:
    """Spine deficit [percent] from spine density relative to the drug-free baseline [percent]."""
    return 100.0 - np.asarray(density_relative_percent, dtype=float)


def value_at(times_d: np.ndarray, values: np.ndarray, day: float) -> np.ndarray:
    """``values[..., time]`` linearly interpolated at ``day`` (vectorised over leading dimensions)."""
    i = int(np.clip(np.searchsorted(times_d, day), 1, times_d.size - 1))
    w = (day - times_d[i - 1]) / (times_d[i] - times_d[i - 1])
    return (1.0 - w) * values[..., i - 1] + w * values[..., i]


def observables(times_d: Mapping[str, np.ndarray], deficits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Model values of :data:`TARGETS` from the deficit [percent] of each arm over its output times [d].

    ``deficits[arm]`` has shape ``(..., time)``; every observable has the leading shape ``(...)``.
    """
    t_hi, hi = np.asarray(times_d["high_dose"]), np.asarray(deficits["high_dose"])
    t_lo, lo = np.asarray(times_d["low_dose"]), np.asarray(deficits["low_dose"])
    day7 = value_at(t_hi, hi, 7.0)
    return {
        "high_dose_deficit_day7_percent": day7,
        "high_dose_deficit_day56_percent": value_at(t_hi, hi, 56.0),
        "high_dose_loss_after_withdrawal_percent": hi[..., t_hi >= 7.0].max(axis=-1) - day7,
        "low_dose_deficit_after_day77_percent": lo[..., t_lo >= LOW_DOSE_RECOVERED_BY_DAY].max(axis=-1),
    }


def residuals(obs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Standardised residuals, one row per target (shape ``(targets, ...)``)."""
    return np.stack([t.residual(obs[t.name]) for t in TARGETS])


def log_likelihood(obs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Gaussian log-likelihood of the targets up to a constant [1] (shape ``(...)``)."""
    return -0.5 * np.sum(residuals(obs) ** 2, axis=0)


#: Pass/fail criteria of a variant (the issue's targets), each ``(name, description)``; see :func:`acceptance`.
CRITERIA = (
    ("high_dose_day7", "high dose: loss at day 7 within 10-16 %"),
    ("high_dose_recovery", "high dose: deficit first below 2 % between day 42 and day 70"),
    ("low_dose_recovery", "low dose: deficit below 2 % at every output from day 77 on"),
)


def first_recovered_day(times_d: np.ndarray, deficit: np.ndarray, after_day: float) -> np.ndarray:
    """First output time after ``after_day`` with deficit below :data:`RECOVERED_PERCENT` [d] (inf: never)."""
    times_d = np.asarray(times_d)
    below = (np.asarray(deficit) < RECOVERED_PERCENT) & (times_d > after_day)
    idx = np.argmax(below, axis=-1)
    return np.where(below.any(axis=-1), times_d[idx], np.inf)


def acceptance(times_d: Mapping[str, np.ndarray], deficits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Which :data:`CRITERIA` a run (or each member of a batch) meets (boolean arrays)."""
    t_hi, hi = np.asarray(times_d["high_dose"]), np.asarray(deficits["high_dose"])
    t_lo, lo = np.asarray(times_d["low_dose"]), np.asarray(deficits["low_dose"])
    day7 = value_at(t_hi, hi, 7.0)
    recovered = first_recovered_day(t_hi, hi, 7.0)
    return {
        "high_dose_day7": (day7 >= 10.0) & (day7 <= 16.0),
        "high_dose_recovery": (recovered >= 42.0) & (recovered <= 70.0),
        "low_dose_recovery": lo[..., t_lo >= LOW_DOSE_RECOVERED_BY_DAY].max(axis=-1) < RECOVERED_PERCENT,
    }
