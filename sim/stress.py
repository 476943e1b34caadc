r"""Stress stage: stress raises neuronal activity, GABA-A agonism damps it, the excess drives a CSF1 signal.

The CSF1 signal activates microglia — a second pruning arm beside the TSPO arm of :mod:`sim.microglia`.

Chronic unpredictable stress (CUS) makes mice lose dendritic spines in medial prefrontal cortex through microglia:
neuronal activity raises neuronal CSF1, microglia raise CSF1R and CD11b and engulf more neuronal elements, and
daily diazepam (1 mg/kg i.p.) during CUS prevents all of it by damping neuronal activity, a GABA-A action
([bollinger2020]). The same drug at the same dose prunes spines in healthy cortex through TSPO ([shi2022]). The
stage puts both in one model:

.. math::

    \sigma(c) &= I\,\big[r(c - d_0) - r(c - d_0 - d_{\rm CUS})\big], \qquad
        r(x) = \max\!\big(0,\ 1 - \max(0,\ 1 - x/w)\big), \\
    a &= (1 + g_{\rm act}\,\sigma)\,\Big(1 - e_{\rm GABA}\,\frac{a^{\rm GABA}}{a^{\rm GABA} + EC_{50}^{\rm GABA}}\Big), \\
    \dot c &= 1/24, \qquad \dot X = k_X\,\big(s\,\max(0,\ a - 1) - X\big),

with the clock :math:`c` [d] (days since time zero), the CUS window from :math:`d_0` for :math:`d_{\rm CUS}` days
switched on and off over :math:`w` days, the stress intensity :math:`I` (1: the CUS protocol of [bollinger2020]),
the neuronal activity :math:`a` relative to the unstressed drug-free baseline, the efficacy-weighted GABA-A
agonism :math:`a^{\rm GABA}` from :mod:`sim.binding` (0 in benzodiazepine-insensitive GABA-A mice; with
``tolerance=adaptive`` the signalling the adapted receptors still deliver, :mod:`sim.tolerance`) and the
CSF1 excess :math:`X` (0 at rest); :math:`s` is the CSF1 response of the animals' sex relative to males (1 in
males; :attr:`ChronicStress.female_csf1_response` in females, whose prefrontal spines CUS leaves unaltered
[woodburn2021]). The stage passes the microglia the TSPO agonism unchanged and the CSF1 drive
:math:`g_X X`, which adds to the transduced TSPO stimulus (:func:`sim.microglia.microglia_rhs`): CSF1R signalling
activates microglia ([bollinger2020]: Csf1r and Cd11b up), and activation raises C1q tagging and engulfment as it
does under TSPO agonism.

Design choices (each an assumption):

* **Activity is algebraic**: neuronal firing follows stress and GABA-A agonism within minutes, far faster than the
  CSF1 and microglial responses (a day), so the slow step is the CSF1 state :math:`X`.
* **Stress as a daily mean**: the CUS protocol applies two stressors a day at random times; the model uses their
  mean over the day, a constant intensity over the CUS window (the ramp :math:`w` of one hour only removes the
  discontinuity; the window's edges are integration breakpoints).
* **Only an activity excess drives CSF1** (the :math:`\max(0, \cdot)`): diazepam lowering activity below baseline
  in an unstressed animal does not lower pruning. So the arm adds nothing in healthy animals, diazepam's effect
  there stays the TSPO arm alone, and Shi et al.'s GABA-A-independence (mutant and wild type lose the same) is
  untouched. Whether diazepam lowers baseline activity-driven pruning in healthy animals is not known to us.
* **Multiplicative, saturating damping**: a positive allosteric modulator scales inhibition, so it scales the
  activity it suppresses, whether raised by stress or not; the suppression saturates in the GABA-A agonism with a
  half-maximal agonism :math:`EC_{50}^{\rm GABA}` well below full occupancy, because benzodiazepines act at low
  receptor occupancy (daily 1 mg/kg i.p. occupies at most ≈ 14 % of the sites in this model, ≈ 4 % on average).
  With a linear damping no parameter within its range lets that protect the stressed cortex.

The two calibrated parameters (``csf1_gain``, ``gabaa_ec50``) are the package's point estimate
(``experiments/calibrate_bollinger2020.py``); :mod:`sim.stress_posterior` solves them again on every draw of the
round-2 posterior for sampled values of the stated assumptions (the size of the CUS loss, the activity gain, the
CSF1 half-life, the female response), and ``uncertainty=posterior`` runs of ``stress=cus`` use those draws.

With ``stress=none`` (:class:`NoStress`) the stage has no state and passes a CSF1 drive of exactly zero: every
result of the TSPO arm is unchanged to the last bit.

Not modelled: low arousal or anaesthesia raises microglial process surveillance through lower noradrenaline
(Liu et al. 2019; Stowell et al. 2019, Nat Neurosci) — a possible opposite GABA-A effect on microglia.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sim.core.maths import maximum, stage_function, zeros
from sim.core.params import ConfigError, check_fraction, check_positive, param
from sim.core.stage import register_stage

#: Longest simulated stress course accepted [d] (ten years).
MAX_STRESS_DAYS = 3650.0


class NoStressRecord(NamedTuple):
    """Constants of :func:`no_stress_rhs`."""

    csf1_drive: float  # CSF1 drive passed to the microglia: 0 without stress [1]


@stage_function
def no_stress_rhs(p: NoStressRecord, state, upstream, out):
    """Stage function (no state): signal = (TSPO agonism [1], CSF1 drive 0 [1]) from the binding signal."""
    signal = zeros(2, upstream[0])
    signal[0] = upstream[0]
    signal[1] = p.csf1_drive + 0.0 * upstream[0]
    return signal


class StressRecord(NamedTuple):
    """Constants of :func:`stress_rhs` (times in days, rates per hour)."""

    intensity: float  # I [1]
    start_day: float  # d_0 [d]
    end_day: float  # d_0 + d_CUS [d]
    ramp_days: float  # w [d]
    activity_gain: float  # g_act [1]
    gabaa_suppression: float  # e_GABA [1]
    gabaa_ec50: float  # EC50_GABA [1]
    csf1_rate: float  # k_X = ln 2 / CSF1 half-life [1/h]
    csf1_gain: float  # g_X [1]
    csf1_response: float  # s: CSF1 response of the sex relative to males [1]
    clock_start_day: float  # clock at the start of the integration: minus the drug-free lead (depletion) [d]


@stage_function
def ramp(p: StressRecord, x):
    r"""Switch from 0 to 1 over ``ramp_days``, :math:`r(x) = \max(0, 1 - \max(0, 1 - x/w))` [1] (``x`` in days)."""
    return maximum(0.0, 1.0 - maximum(0.0, 1.0 - x / p.ramp_days))


@stage_function
def stress_input(p: StressRecord, clock):
    r"""Stress intensity at day ``clock``, :math:`\sigma = I\,[r(c - d_0) - r(c - d_{end})]` [1]."""
    return p.intensity * (ramp(p, clock - p.start_day) - ramp(p, clock - p.end_day))


@stage_function
def neuronal_activity(p: StressRecord, stress, gabaa_agonism):
    r"""Neuronal activity relative to baseline, :math:`a = (1 + g_{act}\sigma)(1 - e_{GABA} a^G / (a^G + EC_{50}^G))` [1]."""
    damping = p.gabaa_suppression * gabaa_agonism / (gabaa_agonism + p.gabaa_ec50)
    return (1.0 + p.activity_gain * stress) * (1.0 - damping)


@stage_function
def stress_rhs(p: StressRecord, state, upstream, out):
    """Stage function: derivatives of (clock [d/h], CSF1 excess [1/h]) from (TSPO agonism, GABA-A agonism) [1].

    Signal passed to the microglia: the TSPO agonism and the CSF1 drive :math:`g_X X` [1].
    """
    clock = state[0]
    csf1 = state[1]
    activity = neuronal_activity(p, stress_input(p, clock), upstream[1])
    out[0] = 1.0 / 24.0 + 0.0 * clock
    out[1] = p.csf1_rate * (p.csf1_response * maximum(0.0, activity - 1.0) - csf1)
    signal = zeros(2, csf1)
    signal[0] = upstream[0]
    signal[1] = p.csf1_gain * csf1
    return signal


@register_stage("stress")
@dataclass
class NoStress:
    """No stress (``stress=none``): no state; the CSF1 drive is exactly zero, so the TSPO arm is unchanged."""

    state_names = ()
    rhs = staticmethod(no_stress_rhs)

    name: str = param("none", units="", long_name="stress model", source="user choice")

    def __post_init__(self) -> None:
        if self.name != "none":
            raise ConfigError(f"stress.name = {self.name!r} is not allowed for stress=none (use stress=cus)")

    def record(self, model: Any = None) -> NoStressRecord:
        """Constants of :func:`no_stress_rhs`."""
        return NoStressRecord(csf1_drive=0.0)

    def initial_state(self, record: NoStressRecord | None = None) -> np.ndarray:
        """No state."""
        return np.zeros(0)

    def breakpoints_h(self, end_h: float) -> list[float]:
        """Times where the stress input switches [h]: none."""
        return []

    def check_window(self, duration_days: float) -> None:
        """Nothing to check without stress."""

    def activity(self, gabaa_agonism, clock_days=None):
        """Neuronal activity relative to baseline [1]: 1 without stress (the arm ignores a drop below baseline)."""
        return np.ones_like(np.asarray(gabaa_agonism, dtype=float))


@register_stage("stress")
@dataclass
class ChronicStress:
    """Chronic unpredictable stress (``stress=cus``): a clock, the CUS window and a CSF1 state (see the module)."""

    state_names = ("stress_clock", "csf1_excess")
    state_units = ("d", "1")  # the clock reads days; the CSF1 excess is relative to rest (SBML export)
    rhs = staticmethod(stress_rhs)

    name: str = param("cus", units="", long_name="stress model", source="user choice")
    start_day: float = param(
        0.0,
        units="d",
        long_name="day the stress course starts (dosing day 0 is time zero)",
        source="[bollinger2020]: diazepam was given daily during CUS; both start together",
    )
    duration_days: float = param(
        14.0,
        units="d",
        long_name="length of the stress course",
        source="[bollinger2020]: 14 days of CUS",
    )
    intensity: float = param(
        1.0,
        units="1",
        long_name="stress intensity (1: the CUS protocol of the study; 0: no stress)",
        source="definition: 1 is the protocol of [bollinger2020]; the activity gain carries its size",
        symbol="I",
    )
    ramp_h: float = param(
        1.0,
        units="h",
        long_name="time over which the stress input switches on and off",
        source="assumption: short against the days the CSF1 and microglial responses take; removes a discontinuity",
        symbol="w",
    )
    activity_gain: float = param(
        1.0,
        units="1",
        long_name="rise of neuronal activity at stress intensity 1 (relative to baseline)",
        source="assumption: CUS raises mPFC activity [bollinger2020] (size not reported in the abstract); "
        "activity doubles; only its product with the CSF1 gain and its balance with the GABA-A suppression matter",
        symbol="g_act",
    )
    gabaa_suppression: float = param(
        1.0,
        units="1",
        long_name="fraction of neuronal activity suppressed at full GABA-A agonism",
        source="assumption: full benzodiazepine-site agonism silences the activity it modulates; no measured value",
        symbol="e_GABA",
    )
    gabaa_ec50: float = param(
        0.0236,
        units="1",
        long_name="GABA-A agonism giving half of the maximal activity suppression",
        source="calibrated (sim/configs/stress/cus.yaml): CUS + diazepam 1 mg/kg loses at most a third of the CUS "
        "spine loss [bollinger2020]",
        symbol="EC50_GABA",
    )
    csf1_half_life_h: float = param(
        24.0,
        units="h",
        long_name="half-life with which the CSF1 excess follows the activity excess",
        source="assumption: about a day, like the C1q and TSPO turnover of sim.microglia; no measured value found",
        symbol="ln2/k_X",
    )
    csf1_gain: float = param(
        0.0161,
        units="1",
        long_name="microglial stimulus per unit CSF1 excess (adds to the transduced TSPO stimulus)",
        source="calibrated (sim/configs/stress/cus.yaml): CUS + vehicle loses the assumed spine loss after 14 d",
        symbol="g_X",
    )
    female_csf1_response: float = param(
        0.0,
        units="1",
        long_name="CSF1 response of female mice to stress, relative to males (used with sex=female)",
        source="[woodburn2021]: 14 and 28 d of CUS left female prefrontal spine density, microglial phagocytosis "
        "markers and neuroimmune factors unaltered while males lost spines; 0 = no response (assumption: a small "
        "undetected response is possible; the stress posterior samples 0-0.25)",
        symbol="s_female",
    )

    def __post_init__(self) -> None:
        if self.name != "cus":
            raise ConfigError(f"stress.name = {self.name!r} is not allowed: choose one of none, cus")
        check_positive(self, "duration_days", "ramp_h")
        check_positive(self, "intensity", "activity_gain", "csf1_gain", allow_zero=True)
        check_positive(self, "csf1_half_life_h", "gabaa_ec50")
        check_fraction(self, "gabaa_suppression", "female_csf1_response")
        if (
            not (isinstance(self.start_day, (int, float)) and not isinstance(self.start_day, bool))
            or not 0.0 <= self.start_day <= MAX_STRESS_DAYS
        ):
            raise ConfigError(
                f"stress.start_day = {self.start_day!r} is not allowed: it must lie in [0, {MAX_STRESS_DAYS:g}] days"
            )
        if self.ramp_h / 24.0 >= self.duration_days:
            raise ConfigError(
                f"stress.ramp_h = {self.ramp_h!r} is not allowed: it must be shorter than stress.duration_days "
                f"= {self.duration_days!r} days"
            )

    @property
    def end_day(self) -> float:
        """Day the stress course ends [d]."""
        return self.start_day + self.duration_days

    def check_window(self, duration_days: float) -> None:
        """Raise :class:`ConfigError` if the stress course starts at or after the end of the run ``duration_days``.

        A course that the end of the run cuts short is allowed (e.g. ``debug=smoke``, or day 7 of a 14-day course).
        """
        if self.start_day >= duration_days:
            raise ConfigError(
                f"stress.start_day = {self.start_day!r} is not allowed: the stress course must start before the end "
                f"of the run (duration_days = {duration_days!r})"
            )

    def record(self, model: Any = None) -> StressRecord:
        """Constants of :func:`stress_rhs`."""
        return StressRecord(
            intensity=self.intensity,
            start_day=self.start_day,
            end_day=self.end_day,
            ramp_days=self.ramp_h / 24.0,
            activity_gain=self.activity_gain,
            gabaa_suppression=self.gabaa_suppression,
            gabaa_ec50=self.gabaa_ec50,
            csf1_rate=math.log(2.0) / self.csf1_half_life_h,
            csf1_gain=self.csf1_gain,
            csf1_response=self.female_csf1_response if model is not None and model.sex.female else 1.0,
            clock_start_day=-model.depletion.lead_h / 24.0 if model is not None else 0.0,
        )

    def initial_state(self, record: StressRecord | None = None) -> np.ndarray:
        """No CSF1 excess; the clock reads day 0 at time zero, after any drug-free lead (depletion)."""
        return np.array([0.0 if record is None else record.clock_start_day, 0.0])

    def breakpoints_h(self, end_h: float) -> list[float]:
        """Times where the stress input changes slope [h] (the edges of both ramps), within [0, ``end_h``]."""
        w = self.ramp_h
        points = (24.0 * self.start_day, 24.0 * self.start_day + w, 24.0 * self.end_day, 24.0 * self.end_day + w)
        return [p for p in points if 0.0 <= p <= end_h]

    def activity(self, gabaa_agonism, clock_days):
        """Neuronal activity relative to baseline [1] at GABA-A agonism and day ``clock_days`` (numpy)."""
        return self.activity_of(self.record(), gabaa_agonism, clock_days)

    @staticmethod
    def activity_of(p: StressRecord, gabaa_agonism, clock_days):
        """Neuronal activity relative to baseline [1] with the constants ``p`` (fields may be arrays, a batch's)."""
        return neuronal_activity(p, stress_input(p, np.asarray(clock_days, dtype=float)), np.asarray(gabaa_agonism))


__all__ = ["ChronicStress", "NoStress", "neuronal_activity", "stress_input"]
