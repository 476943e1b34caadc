r"""Tolerance stage: GABA-A receptors adapt to sustained benzodiazepine-site agonism and recover without it.

Chronic benzodiazepines make GABA-A signalling adapt against the drug: in mice on continuous lorazepam, tolerance
to its ataxic effect and a fall in benzodiazepine-receptor binding and GABA-A function appear mainly between days
4 and 7 ([miller1988a]); after the drug stops, binding and function recover within days, and a withdrawal syndrome
(raised open-field activity at day 4, gone by day 7) accompanies the rebound ([miller1988b]). The stage writes the
adaptation as a homeostatic set-point shift :math:`A` [1], in units of the efficacy-weighted GABA-A agonism
:math:`a^{\rm GABA}` it opposes:

.. math::

    T &= c\,a^{\rm GABA}, \\
    \dot A &= k_{\rm on}\,\max(0,\ T - A) \;-\; k_{\rm off}\,\max(0,\ A - T), \\
    n &= a^{\rm GABA} - A, \qquad a^{\rm GABA}_{\rm net} = \max(0,\ n), \qquad w = \max(0,\ -n),

with the compensated fraction :math:`c` of the agonism at steady state, the onset rate :math:`k_{\rm on}` (while
agonism pulls the set point up: tolerance develops) and the recovery rate :math:`k_{\rm off}` (while the set point
exceeds the target: the drug is falling or gone), each :math:`\ln 2` over its half-time. At constant agonism
:math:`a` from a naive start, :math:`A(t) = c\,a\,(1 - e^{-k_{\rm on} t})`; after the drug is gone,
:math:`A(t) = A_0\,e^{-k_{\rm off} t}`. The net signalling :math:`n` is the drug's GABA-A signalling relative to
the adapted set point; the **withdrawal deficit** :math:`w` is how far it falls below that set point (0 without
drug, positive once the agonism drops below the adapted level — after stopping, and briefly in the trough
between doses of a short-acting drug). :func:`withdrawal_summary` turns it into a severity proxy: the area of the
deficit [h] and its peak.

The stage passes the microglia chain the TSPO agonism unchanged and, in place of the GABA-A agonism, the adapted
signalling :math:`a^{\rm GABA}_{\rm net}`: the stress arm's activity damping (:mod:`sim.stress`) reads what the
adapted receptors still deliver.

Design choices (each an assumption):

* **One adaptation for all GABA-A effects.** Tolerance develops fast to sedation and slowly or not at all to
  anxiolysis (rats: sedative tolerance within 5 days, none to the anxiolytic effect after 23 days under chronic
  stress, [file1994]; review [vinkers2012]); one compensated fraction :math:`c` sits between the two.
* **First order without lag.** The data show little tolerance before day 4 and most of it between days 4 and 7
  ([miller1988a]); a first-order approach with a half-time in that window is the simplest curve through it.
* **Asymmetric rates.** Receptor binding returned to control within 2 days of stopping a 7-day course
  ([miller1988b]), faster than tolerance developed; with brief daily pulses the set point then relaxes between
  doses, so intermittent dosing builds less adaptation than the same drug given continuously, as observed in rats
  ([davis1988]: continuous exposure gave tolerance, daily 5 mg/kg i.p. did not).
* **A deficit does not raise activity.** Withdrawal hyperexcitability is real, but the stress arm's activity law
  is defined for damping only; the net signalling passed downstream is clipped at 0, so withdrawal adds no
  CSF1-driven pruning here (a possible extra effect of stopping, not modelled).
* **Rodent time scales.** The half-times come from mice; no human time course of receptor adaptation was found,
  and human runs use the same values (assumption).

**Conflict with [bollinger2020] (reported, not tuned).** With these values the stress arm loses most of its
protection: CUS + daily diazepam 1 mg/kg loses 5.5 % of the spines after 14 days (3.0 % without tolerance), more
than the third of the CUS loss (4.0 %) the finding allows; it holds only for a compensated fraction below about
0.25. The data agree with the finding rather than with the model: little or no tolerance to anxiolytic effects at
such doses ([file1994]; [davis1988]). One adaptation for all GABA-A effects is too coarse; an effect-specific
fraction for the activity damping would resolve it, but is not measured. Every Shi et al. finding is unchanged
(they run without stress, so the GABA-A signal reaches no pruning arm).

With ``tolerance=none`` (:class:`NoTolerance`) the stage has no state and passes the binding signal on unchanged:
every result is identical to the last bit to a model without this stage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sim.core.maths import maximum, stage_function, zeros
from sim.core.params import ConfigError, check_fraction, check_positive, param
from sim.core.stage import register_stage


class NoToleranceRecord(NamedTuple):
    """Constants of :func:`no_tolerance_rhs`."""

    adaptation: float  # set-point shift: 0 without the stage [1]


@stage_function
def no_tolerance_rhs(p: NoToleranceRecord, state, upstream, out):
    """Stage function (no state): passes (TSPO agonism, GABA-A agonism) [1] on unchanged."""
    signal = zeros(2, upstream[0])
    signal[0] = upstream[0]
    signal[1] = upstream[1] - p.adaptation
    return signal


class ToleranceRecord(NamedTuple):
    """Constants of :func:`tolerance_rhs` (rates per hour)."""

    compensation: float  # c [1]
    onset_rate: float  # k_on = ln 2 / onset half-time [1/h]
    recovery_rate: float  # k_off = ln 2 / recovery half-time [1/h]


@stage_function
def adaptation_rate(p: ToleranceRecord, agonism, adaptation):
    r"""Rate of the set-point shift, :math:`k_{on}\max(0, cA^G - A) - k_{off}\max(0, A - cA^G)` [1/h]."""
    target = p.compensation * agonism
    return p.onset_rate * maximum(0.0, target - adaptation) - p.recovery_rate * maximum(0.0, adaptation - target)


@stage_function
def tolerance_rhs(p: ToleranceRecord, state, upstream, out):
    r"""Stage function: derivative of the adaptation [1/h] from (TSPO agonism, GABA-A agonism) [1].

    Signal passed on: the TSPO agonism and the adapted GABA-A signalling :math:`\max(0, a^G - A)` [1].
    """
    adaptation = state[0]
    out[0] = adaptation_rate(p, upstream[1], adaptation)
    signal = zeros(2, adaptation)
    signal[0] = upstream[0]
    signal[1] = maximum(0.0, upstream[1] - adaptation)
    return signal


@register_stage("tolerance")
@dataclass
class NoTolerance:
    """No tolerance (``tolerance=none``): no state; the GABA-A agonism passes on unchanged."""

    state_names = ()
    rhs = staticmethod(no_tolerance_rhs)

    name: str = param("none", units="", long_name="tolerance model", source="user choice")

    def __post_init__(self) -> None:
        if self.name != "none":
            raise ConfigError(
                f"tolerance.name = {self.name!r} is not allowed for tolerance=none (use tolerance=adaptive)"
            )

    def record(self, model: Any = None) -> NoToleranceRecord:
        """Constants of :func:`no_tolerance_rhs`."""
        return NoToleranceRecord(adaptation=0.0)

    def initial_state(self, record: NoToleranceRecord | None = None) -> np.ndarray:
        """No state."""
        return np.zeros(0)

    def readouts(self, gabaa_agonism, states) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The GABA-A agonism passed on (unchanged) and no outputs."""
        return gabaa_agonism, {}


@register_stage("tolerance")
@dataclass
class AdaptiveTolerance:
    """GABA-A adaptation to benzodiazepine-site agonism (``tolerance=adaptive``): one set-point state (see the module)."""

    state_names = ("gabaa_adaptation",)
    state_units = ("1",)
    rhs = staticmethod(tolerance_rhs)

    name: str = param("adaptive", units="", long_name="tolerance model", source="user choice")
    compensation: float = param(
        0.5,
        units="1",
        long_name="fraction of a sustained GABA-A agonism compensated by adaptation at steady state",
        source="assumption: between near-complete tolerance to sedation and little or none to anxiolysis "
        "([file1994]; review [vinkers2012]); no measured fraction for the signalling as a whole",
        symbol="c",
    )
    onset_half_time_h: float = param(
        120.0,
        units="h",
        long_name="half-time with which adaptation develops under sustained agonism",
        source="[miller1988a]: tolerance and receptor down-regulation in mice on continuous lorazepam appear mainly "
        "between days 4 and 7 (5 d within that window and first order: assumptions)",
        symbol="ln2/k_on",
    )
    recovery_half_time_h: float = param(
        48.0,
        units="h",
        long_name="half-time with which adaptation recovers once the agonism falls below the set point",
        source="[miller1988b]: receptor binding back to control 2 days after a 7-day lorazepam course and the "
        "withdrawal behaviour gone by day 7 (2 d half-time: assumption within that window; behavioural tolerance "
        "may recover more slowly)",
        symbol="ln2/k_off",
    )

    def __post_init__(self) -> None:
        if self.name != "adaptive":
            raise ConfigError(f"tolerance.name = {self.name!r} is not allowed: choose one of none, adaptive")
        check_fraction(self, "compensation")
        check_positive(self, "onset_half_time_h", "recovery_half_time_h")

    def record(self, model: Any = None) -> ToleranceRecord:
        """Constants of :func:`tolerance_rhs`."""
        return ToleranceRecord(
            compensation=float(self.compensation),
            onset_rate=math.log(2.0) / self.onset_half_time_h,
            recovery_rate=math.log(2.0) / self.recovery_half_time_h,
        )

    def initial_state(self, record: ToleranceRecord | None = None) -> np.ndarray:
        """Drug-naive: no adaptation."""
        return np.zeros(1)

    def readouts(self, gabaa_agonism, states) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The adapted GABA-A signalling passed on [1] and the stage's outputs (:data:`TOLERANCE_OUTPUTS`).

        ``gabaa_agonism`` over time [1]; ``states`` the stage's states (state × time).
        """
        adaptation = np.asarray(states)[0]
        net = np.asarray(gabaa_agonism) - adaptation
        outputs = {
            "gabaa_adaptation": adaptation,
            "gabaa_signalling_net": net,
            "withdrawal_deficit": np.maximum(0.0, -net),
        }
        return np.maximum(0.0, net), outputs


def withdrawal_summary(result, start_day: float = 0.0) -> dict[str, float]:
    """Withdrawal-severity proxy of a result with ``withdrawal_deficit`` (trapezoid rule over the output grid).

    From day ``start_day`` on: ``area_h`` = the time integral of the deficit [h] (deficit [1] × hours),
    ``peak`` = its largest value [1], ``peak_day`` = when [d], ``duration_h`` = time with a deficit above 10 % of
    the peak [h] (0 if there is none).
    """
    if "withdrawal_deficit" not in result:
        raise ConfigError("withdrawal_summary needs a result with withdrawal_deficit: run it with tolerance=adaptive")
    deficit = result["withdrawal_deficit"].where(result["time"] >= start_day, drop=True)
    hours = 24.0 * deficit["time"].values
    values = deficit.values
    peak = float(values.max()) if values.size else 0.0
    above = values > 0.1 * peak if peak > 0 else np.zeros_like(values, dtype=bool)
    steps = np.diff(hours)
    return {
        "area_h": float(np.sum(0.5 * (values[1:] + values[:-1]) * steps)),
        "peak": peak,
        "peak_day": float(deficit["time"].values[int(values.argmax())]) if peak > 0 else float("nan"),
        "duration_h": float(np.sum(steps[above[:-1]])),
    }


__all__ = ["AdaptiveTolerance", "NoTolerance", "adaptation_rate", "withdrawal_summary"]
