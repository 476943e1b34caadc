r"""Microglia stage: TSPO agonism -> activation, TSPO induction, C1q and engulfment capacity.

States (all relative, dimensionless): activation :math:`A \in [0, 1]` (the "pruning state"), per-cell TSPO
expression :math:`T` (1 = resting wild type) and C1q level :math:`Q` (1 = resting).

.. math::

    D &= a^{\rm TSPO}\,T^{\kappa}\,r, \qquad s = \sigma\,\frac{D^n}{D^n + EC_{50}^n}, \\
    \dot A &= k_{\rm act}\,s\,(1 - A) - k_{\rm deact} A, \\
    \dot T &= k_T\,\big(T_{\rm rest}\,[1 + (\phi_T - 1) A] - T\big), \\
    \dot Q &= k_Q\,\big(1 + g_Q A - Q\big),

where :math:`a^{\rm TSPO}` is the efficacy-weighted TSPO occupancy (the CSF1 drive of the stress stage,
:mod:`sim.stress`, adds to :math:`s`; it is exactly 0 with ``stress=none``), :math:`\kappa` says how much the response
grows with the number of receptors per cell (0: only the occupied fraction matters; 1: response proportional to
the number of occupied receptors, i.e. full receptor reserve), :math:`r` the responsiveness of the microglia
(0 for residual microglia after PLX5622), :math:`\sigma` the response to TSPO agonism relative to the calibrated
mouse (``response_scale``, 1 for the mouse; a translation parameter, :mod:`sim.uncertainty`), :math:`\phi_T` the
per-cell TSPO induction at full activation (a microglia parameter with an assumed modest default; see its source) and :math:`T_{\rm rest}` the resting TSPO
level (0 in TSPO-KO; raised in residual microglia after depletion). The signal passed to the spines is the
activation, the C1q level, the engulfment capacity :math:`E = 1 + g_E A` and the microglia density :math:`n`
(1 = intact, ``1 - fraction_depleted`` after PLX5622).

:class:`AdaptiveMicroglia` (``microglia=adaptive``) adds a desensitisation state that follows the stimulus and is
subtracted from it (see the class).

Structural choices (each an assumption; see :mod:`sim.calibrate` for the comparison of variants). The high-dose
targets fix only the product of drive and downstream gain. With a hyperbolic stimulus (:math:`n = 1`) and TSPO
induction feeding back on the drive, daily 1 mg/kg saturated activation and the 8-week low-dose arm lost more
spines than the 1-week high dose, at odds with the reported dose dependence. The stage therefore uses a
threshold-like stimulus (code default and prior median :math:`n = 2`; the package calibration, variant ``hill``,
the only compared structure that meets every target, fits :math:`n \approx 3.8`), no receptor reserve (:math:`\kappa = 0`: TSPO induction shows in the
TSPO-PET proxy but does not amplify the drive) and C1q and engulfment gains of 6. At the doses of the study the
agonism stays far below the EC50, so the stimulus is close to :math:`(D/EC_{50})^n` and the EC50 is not
identifiable apart from the activation rate: it stays fixed. The half-life of the activated state is not
identifiable either: the targets constrain mainly the ratio of activation to deactivation rate, and with the
half-life free (log-normal prior around 24 h) the fit drifts to shorter half-lives of hours for a drop in cost
that is not significant for one extra parameter (Δχ² < 3.84). It is therefore fixed at 24 h, an assumption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sim.core.maths import maximum, stage_function, zeros
from sim.core.params import ConfigError, check_fraction, check_positive, param
from sim.core.stage import register_stage


class MicrogliaRecord(NamedTuple):
    """Constants of :func:`microglia_rhs` (rates per hour)."""

    activation_rate: float  # k_act [1/h]
    deactivation_rate: float  # k_deact [1/h]
    tspo_rate: float  # k_T = ln 2 / TSPO half-life [1/h]
    c1q_rate: float  # k_Q = ln 2 / C1q half-life [1/h]
    stimulus_ec50: float  # EC50 [1]
    stimulus_hill: float  # n [1]
    tspo_receptor_coupling: float  # kappa [1]
    c1q_gain: float  # g_Q [1]
    engulfment_gain: float  # g_E [1]
    resting_tspo: float  # T_rest: resting per-cell TSPO (0 in TSPO-KO, raised after depletion) [1]
    tspo_induction_fold: float  # phi_T: per-cell TSPO at full activation relative to resting [1]
    responsiveness: float  # r: TSPO responsiveness of the microglia present [1]
    microglia_density: float  # n: microglia density relative to intact brain [1]
    response_scale: float  # sigma: response to TSPO agonism relative to the calibrated mouse [1]


@stage_function
def stimulus(p: MicrogliaRecord, tspo_agonism, tspo):
    r"""Transduced stimulus :math:`s = \sigma D^n / (D^n + EC_{50}^n)`, :math:`D = a^{TSPO} T^\kappa r` [1].

    :math:`\sigma` (``response_scale``) scales the response to TSPO agonism relative to the calibrated mouse (1:
    mouse, the result unchanged to the bit).
    """
    drive = maximum(tspo_agonism * maximum(tspo, 0.0) ** p.tspo_receptor_coupling * p.responsiveness, 0.0)
    drive_n = drive**p.stimulus_hill
    return p.response_scale * (drive_n / (drive_n + p.stimulus_ec50**p.stimulus_hill))


@stage_function
def engulfment_capacity(p: MicrogliaRecord, activation):
    """Engulfment capacity per microglial cell relative to resting, :math:`E = 1 + g_E A` [1]."""
    return 1.0 + p.engulfment_gain * activation


@stage_function
def csf1_drive(upstream):
    """CSF1 drive of the stress stage, ``upstream[1]`` [1]; 0 for a signal of TSPO agonism alone (one entry)."""
    return upstream[1] if upstream.shape[0] > 1 else 0.0 * upstream[0]


@stage_function
def microglia_dynamics(p: MicrogliaRecord, s, state, out):
    """Derivatives of (activation, TSPO, C1q) [1/h] at transduced stimulus ``s`` [1] (written into ``out[0:3]``).

    Returns the signal passed to the spines: activation :math:`A`, C1q level :math:`Q`, engulfment capacity
    :math:`E` and microglia density :math:`n` [all 1].
    """
    activation = state[0]
    tspo = state[1]
    c1q = state[2]
    out[0] = p.activation_rate * s * (1.0 - activation) - p.deactivation_rate * activation
    out[1] = p.tspo_rate * (p.resting_tspo * (1.0 + (p.tspo_induction_fold - 1.0) * activation) - tspo)
    out[2] = p.c1q_rate * (1.0 + p.c1q_gain * activation - c1q)
    signal = zeros(4, activation)
    signal[0] = activation
    signal[1] = c1q
    signal[2] = engulfment_capacity(p, activation)
    signal[3] = p.microglia_density + 0.0 * activation
    return signal


@stage_function
def microglia_rhs(p: MicrogliaRecord, state, upstream, out):
    """Stage function: derivatives of (activation, TSPO, C1q) [1/h] from the TSPO agonism ``upstream[0]`` [1].

    The CSF1 drive ``upstream[1]`` [1] of the stress stage (:mod:`sim.stress`; exactly 0 without stress) adds to the
    transduced stimulus. Signal passed to the spines: see :func:`microglia_dynamics`.
    """
    return microglia_dynamics(p, stimulus(p, upstream[0], state[1]) + csf1_drive(upstream), state, out)


class AdaptiveMicrogliaRecord(NamedTuple):
    """Constants of :func:`adaptive_microglia_rhs`: those of :class:`MicrogliaRecord` plus the adaptation."""

    activation_rate: float
    deactivation_rate: float
    tspo_rate: float
    c1q_rate: float
    stimulus_ec50: float
    stimulus_hill: float
    tspo_receptor_coupling: float
    c1q_gain: float
    engulfment_gain: float
    resting_tspo: float
    tspo_induction_fold: float
    responsiveness: float
    microglia_density: float
    response_scale: float
    adaptation_rate: float  # k_R = ln 2 / adaptation half-life [1/h]
    adapted_response: float  # rho: steady-state stimulus under constant occupancy relative to unadapted [1]


@stage_function
def adapted_stimulus(p: AdaptiveMicrogliaRecord, s, adaptation):
    r"""Stimulus left after desensitisation, :math:`s_{\rm eff} = \max(0,\ s - (1 - \rho) R)` [1]."""
    return maximum(0.0, s - (1.0 - p.adapted_response) * adaptation)


@stage_function
def adaptive_microglia_rhs(p: AdaptiveMicrogliaRecord, state, upstream, out):
    r"""Stage function: derivatives of (activation, TSPO, C1q, adaptation) [1/h] from the TSPO agonism [1].

    The adaptation :math:`R` follows the undiminished stimulus :math:`s`, :math:`\dot R = k_R (s - R)`, and the
    activation sees :math:`s_{\rm eff} = \max(0, s - (1 - \rho) R)` (:func:`adapted_stimulus`). Signal: see
    :func:`microglia_dynamics`.
    """
    s = stimulus(p, upstream[0], state[1]) + csf1_drive(upstream)  # TSPO stimulus plus the CSF1 drive (sim.stress)
    out[3] = p.adaptation_rate * (s - state[3])
    return microglia_dynamics(p, adapted_stimulus(p, s, state[3]), state, out)


@register_stage("depletion")
@dataclass
class MicrogliaDepletion:
    """Microglia depletion by the CSF1R inhibitor PLX5622, started ``start_day`` days before time zero.

    The tissue is at its intact drug-free steady state until ``start_day``; from then on microglia density is
    ``1 - fraction_depleted`` and the tissue is integrated drug-free up to time zero, so the spines have
    adapted to depletion by the time dosing starts.
    """

    name: str = param("none", units="", long_name="depletion treatment", source="user choice")
    fraction_depleted: float = param(
        0.0,
        units="1",
        long_name="fraction of microglia removed",
        source="definition: no depletion (depletion=none); depletion=plx5622 sets and cites its own",
    )
    residual_tspo_fold: float = param(
        1.0,
        units="1",
        long_name="resting TSPO of the residual microglia relative to normal microglia",
        source="definition: no depletion (depletion=none); depletion=plx5622 sets and cites its own",
    )
    residual_responsiveness: float = param(
        1.0,
        units="1",
        long_name="TSPO responsiveness of the residual microglia (0: unresponsive)",
        source="definition: no depletion (depletion=none); depletion=plx5622 sets and cites its own",
    )
    start_day: float = param(
        0.0,
        units="d",
        long_name="day depletion starts (<= 0: before the first dose; the drug-free tissue is integrated from then)",
        source="definition: no depletion (depletion=none); depletion=plx5622 sets and cites its own",
    )

    def __post_init__(self) -> None:
        check_fraction(self, "residual_responsiveness")
        check_positive(self, "residual_tspo_fold")
        if not (isinstance(self.start_day, (int, float)) and -3650.0 <= self.start_day <= 0.0):
            raise ConfigError(
                f"depletion.start_day = {self.start_day!r} is not allowed: depletion must start on or before day 0 "
                "(and not more than 10 years earlier)"
            )
        if not 0.0 <= self.fraction_depleted < 1.0:
            raise ConfigError(
                f"depletion.fraction_depleted = {self.fraction_depleted!r} is not allowed: it must lie in [0, 1)"
            )

    @property
    def active(self) -> bool:
        """True if microglia are depleted at all."""
        return self.fraction_depleted > 0

    @property
    def density(self) -> float:
        """Microglia density relative to an intact brain [1]."""
        return 1.0 - self.fraction_depleted

    @property
    def tspo_fold(self) -> float:
        """Resting TSPO of the microglia present relative to normal microglia [1]."""
        return self.residual_tspo_fold if self.active else 1.0

    @property
    def responsiveness(self) -> float:
        """TSPO responsiveness of the microglia present [1]."""
        return self.residual_responsiveness if self.active else 1.0

    @property
    def lead_h(self) -> float:
        """Hours of drug-free depletion before time zero [h]."""
        return -24.0 * self.start_day if self.active else 0.0


@register_stage("microglia")
@dataclass
class MicrogliaActivation:
    """TSPO-driven microglial activation with TSPO induction and C1q production."""

    state_names = ("activation", "microglial_tspo", "c1q")
    rhs = staticmethod(microglia_rhs)

    activation_rate_per_h: float = param(
        0.03,
        units="1/h",
        long_name="maximal activation rate",
        source="calibrated (sim/configs/calibration/shi2022.yaml)",
        symbol="k_act",
    )
    deactivation_half_life_h: float = param(
        24.0,
        units="h",
        long_name="half-life of the activated state after the stimulus ends",
        source="assumption: microglial activation reverses within about a day; not identifiable from the targets (sim.calibrate)",
        symbol="ln2/k_deact",
    )
    stimulus_ec50: float = param(
        0.5,
        units="1",
        long_name="TSPO agonism x expression giving half-maximal stimulus",
        source="assumption: half-maximal at half occupancy of resting TSPO",
        symbol="EC50",
    )
    stimulus_hill: float = param(
        2.0,
        units="1",
        long_name="Hill coefficient of the stimulus",
        source="assumption: threshold-like transduction; with n = 1 (and kappa = 0.5) the low dose saturated activation as much as the high dose, contradicting the reported dose dependence (sim.microglia docstring)",
        symbol="n",
    )
    tspo_receptor_coupling: float = param(
        0.0,
        units="1",
        long_name="exponent of per-cell TSPO level in the drive (0: fraction occupied only; 1: number occupied)",
        source="assumption: response set by the fraction of TSPO occupied (no receptor reserve); kappa > 0 makes the mouse TSPO induction feed back on activation (sim.microglia docstring)",
        symbol="kappa",
    )
    tspo_half_life_h: float = param(
        24.0,
        units="h",
        long_name="half-life of microglial TSPO expression changes",
        source="assumption: protein turnover of about a day; no measured value found",
        symbol="ln2/k_T",
    )
    c1q_half_life_h: float = param(
        24.0,
        units="h",
        long_name="half-life of C1q level changes",
        source="assumption: about a day; no measured value found",
        symbol="ln2/k_Q",
    )
    tspo_induction_fold: float = param(
        2.0,
        units="1",
        long_name="per-cell TSPO expression at full drug-driven activation relative to resting (range 1-9)",
        source="assumption: modest induction, plausible range 1-9; 9 is the fold after LPS in rodent myeloid cells and "
        "about 1 in human microglia [owen2017], but LPS is a maximal pro-inflammatory stimulus and no fold for "
        "TSPO-agonist-driven activation was found; for human runs set 1",
        symbol="phi_T",
    )
    c1q_gain: float = param(
        6.0,
        units="1",
        long_name="rise of C1q at full activation (relative to resting)",
        source="assumption: C1q rises under diazepam ([shi2022] as reported by [pz2022]); magnitude not found; chosen so "
        "activation stays below saturation at 5 mg/kg (sim.microglia docstring)",
        symbol="g_Q",
    )
    engulfment_gain: float = param(
        6.0,
        units="1",
        long_name="rise of engulfment capacity at full activation (relative to resting)",
        source="assumption: microglia engulf more spine material under diazepam [shi2022]; fold not found; set equal to the C1q gain",
        symbol="g_E",
    )
    response_scale: float = param(
        1.0,
        units="1",
        long_name="response of microglia to TSPO agonism relative to the calibrated mouse (scales the stimulus)",
        source="definition: 1 = the calibrated mouse microglia; another species draws it from the range of its "
        "translation file (sim/configs/translation)",
        symbol="sigma",
    )

    def __post_init__(self) -> None:
        check_positive(
            self,
            "activation_rate_per_h",
            "deactivation_half_life_h",
            "stimulus_ec50",
            "stimulus_hill",
            "tspo_half_life_h",
            "c1q_half_life_h",
        )
        check_positive(self, "c1q_gain", "engulfment_gain", "tspo_receptor_coupling", "response_scale", allow_zero=True)
        if not (isinstance(self.tspo_induction_fold, (int, float)) and 1.0 <= self.tspo_induction_fold <= 100.0):
            raise ConfigError(
                f"microglia.tspo_induction_fold = {self.tspo_induction_fold!r} is not allowed: it must lie in [1, 100] "
                "(1: no induction)"
            )

    @property
    def deactivation_rate(self) -> float:
        """First-order decay of activation [1/h]."""
        return math.log(2.0) / self.deactivation_half_life_h

    def engulfment_capacity(self, activation, record: MicrogliaRecord | None = None):
        """Engulfment capacity per microglial cell relative to resting [1] (:func:`engulfment_capacity`).

        ``record`` (default: this stage's fields) supplies the gain; a batch passes one whose fields are arrays of
        shape (set, 1).
        """
        return engulfment_capacity(self if record is None else record, np.asarray(activation))

    def record(self, model: Any) -> MicrogliaRecord:
        """Constants of :func:`microglia_rhs`; genotype, species and depletion of ``model`` supply the context."""
        depletion = model.depletion
        return MicrogliaRecord(
            activation_rate=self.activation_rate_per_h,
            deactivation_rate=self.deactivation_rate,
            tspo_rate=math.log(2.0) / self.tspo_half_life_h,
            c1q_rate=math.log(2.0) / self.c1q_half_life_h,
            stimulus_ec50=self.stimulus_ec50,
            stimulus_hill=self.stimulus_hill,
            tspo_receptor_coupling=self.tspo_receptor_coupling,
            c1q_gain=self.c1q_gain,
            engulfment_gain=self.engulfment_gain,
            resting_tspo=model.genotype.tspo_expression * depletion.tspo_fold,
            tspo_induction_fold=self.tspo_induction_fold,
            responsiveness=depletion.responsiveness,
            microglia_density=depletion.density,
            response_scale=self.response_scale,
        )

    def initial_state(self, record: MicrogliaRecord) -> np.ndarray:
        """Resting microglia: no activation, resting TSPO, resting C1q."""
        return np.array([0.0, record.resting_tspo, 1.0])


@register_stage("microglia")
@dataclass
class AdaptiveMicroglia(MicrogliaActivation):
    r"""Microglial activation that desensitises under sustained TSPO stimulation (``microglia=adaptive``).

    One more state, the adaptation :math:`R \in [0, 1]`, follows the stimulus :math:`s` with half-life
    ``adaptation_half_life_h`` and is subtracted from it: :math:`s_{\rm eff} = \max(0, s - (1 - \rho) R)`
    (:func:`adaptive_microglia_rhs`). Under a constant stimulus the steady state is :math:`R^* = s` and
    :math:`s_{\rm eff} = \rho s`, whatever the size of :math:`s` (an incoherent feed-forward adaptation): a step
    of stimulus gives :math:`s_{\rm eff}(t) = s\,(\rho + (1 - \rho) e^{-k_R t})`. A short course acts before
    the adaptation has built up; a long one is blunted to the fraction :math:`\rho` (:math:`\rho = 1`: no
    adaptation, the parent class). Under repeated short pulses of occupancy (daily i.p. doses of a short-lived
    drug) the stimulus peaks far above its running mean, so the subtraction removes much less than
    :math:`1 - \rho` of it.
    """

    state_names = ("activation", "microglial_tspo", "c1q", "microglial_adaptation")
    rhs = staticmethod(adaptive_microglia_rhs)

    adaptation_half_life_h: float = param(
        120.0,
        units="h",
        long_name="half-life with which the adaptation follows the stimulus",
        source="calibrated for microglia=adaptive (sim/configs/variants/adaptive.yaml); prior: days, an assumption",
        symbol="ln2/k_R",
    )
    adapted_response: float = param(
        0.3,
        units="1",
        long_name="stimulus under constant TSPO occupancy at steady state relative to its unadapted value",
        source="calibrated for microglia=adaptive (sim/configs/variants/adaptive.yaml); prior: a several-fold reduction, an assumption",
        symbol="rho",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "adaptation_half_life_h")
        check_positive(self, "adapted_response", allow_zero=True)

    def record(self, model: Any) -> AdaptiveMicrogliaRecord:
        """Constants of :func:`adaptive_microglia_rhs` (those of the parent plus the adaptation)."""
        return AdaptiveMicrogliaRecord(
            *MicrogliaActivation.record(self, model),
            adaptation_rate=math.log(2.0) / self.adaptation_half_life_h,
            adapted_response=self.adapted_response,
        )

    def initial_state(self, record: AdaptiveMicrogliaRecord) -> np.ndarray:
        """Resting microglia, not adapted."""
        return np.array([0.0, record.resting_tspo, 1.0, 0.0])

    def steady_state(self, stimulus_value: float) -> tuple[float, float]:
        """Analytic (adaptation, activation) under a constant stimulus ``stimulus_value`` [1]."""
        s_eff = self.adapted_response * stimulus_value
        on = self.activation_rate_per_h * s_eff
        return stimulus_value, on / (on + self.deactivation_rate)
