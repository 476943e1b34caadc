r"""Microglia stage: TSPO agonism -> activation, TSPO induction, C1q and engulfment capacity.

States (all relative, dimensionless): activation :math:`A \in [0, 1]` (the "pruning state"), per-cell TSPO
expression :math:`T` (1 = resting wild type) and C1q level :math:`Q` (1 = resting).

.. math::

    D &= a^{\rm TSPO}\,T^{\kappa}\,r, \qquad s = \frac{D^n}{D^n + EC_{50}^n}, \\
    \dot A &= k_{\rm act}\,s\,(1 - A) - k_{\rm deact} A, \\
    \dot T &= k_T\,\big(T_{\rm rest}\,[1 + (\phi_T - 1) A] - T\big), \\
    \dot Q &= k_Q\,\big(1 + g_Q A - Q\big),

where :math:`a^{\rm TSPO}` is the efficacy-weighted TSPO occupancy, :math:`\kappa` says how much the response
grows with the number of receptors per cell (0: only the occupied fraction matters; 1: response proportional to
the number of occupied receptors, i.e. full receptor reserve), :math:`r` the responsiveness of the microglia
(0 for residual microglia after PLX5622), :math:`\phi_T` the species' TSPO induction fold (mouse ≈ 9, human ≈ 1) and
:math:`T_{\rm rest}` the resting TSPO level (0 in TSPO-KO; raised in residual microglia after depletion).
The signal passed to the spines is the activation, the C1q level, the engulfment capacity
:math:`E = 1 + g_E A` and the microglia density :math:`n` (1 = intact, ``1 - fraction_depleted`` after PLX5622).

Structural choices (made while calibrating, each an assumption; see ``sim.calibrate``). The calibration targets
(−13 % at day 7, baseline by ~day 56) fix only the product of drive and downstream gain. With a hyperbolic
stimulus (:math:`n = 1`) and the mouse TSPO induction feeding back on the drive (:math:`\kappa = 0.5`), daily
1 mg/kg already saturated activation (:math:`A \approx 0.7`) and the 8-week low-dose arm lost ~40 % of its
spines, more than the 1-week high dose — at odds with the reported dose dependence (high dose faster, poorer
memory). The defaults therefore use a threshold-like stimulus (:math:`n = 2`), no receptor reserve
(:math:`\kappa = 0`: TSPO induction shows in the TSPO-PET proxy but does not amplify the drive) and C1q and
engulfment gains of 6, which keep activation below saturation at 5 mg/kg (:math:`A_{\max} \approx 0.6`). The
half-life of the activated state is not identifiable from the targets (with it free, the fit drives it to zero)
and is fixed at 24 h.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core.params import ConfigError, check_fraction, check_positive, param


@dataclass
class MicrogliaDepletion:
    """Microglia depletion by the CSF1R inhibitor PLX5622, started ``start_day`` days before time zero.

    The tissue is at its intact drug-free steady state until ``start_day``; from then on microglia density is
    ``1 - fraction_depleted`` and the tissue is integrated drug-free up to time zero, so the spines have
    adapted to depletion by the time dosing starts.
    """

    name: str = param("none", units="", long_name="depletion treatment", source="user choice")
    fraction_depleted: float = param(0.0, units="1", long_name="fraction of microglia removed", source="none = 0")
    residual_tspo_fold: float = param(
        1.0,
        units="1",
        long_name="resting TSPO of the residual microglia relative to normal microglia",
        source="none = 1",
    )
    residual_responsiveness: float = param(
        1.0, units="1", long_name="TSPO responsiveness of the residual microglia (0: unresponsive)", source="none = 1"
    )
    start_day: float = param(
        0.0,
        units="d",
        long_name="day depletion starts (<= 0: before the first dose; the drug-free tissue is integrated from then)",
        source="none = 0",
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
    def density(self) -> float:
        """Microglia density relative to an intact brain [1]."""
        return 1.0 - self.fraction_depleted


@dataclass
class MicrogliaActivation:
    """TSPO-driven microglial activation with TSPO induction and C1q production."""

    state_names = ("activation", "microglial_tspo", "c1q")

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
        source="assumption: protein turnover of about a day; no measured value (addendum Gap 6)",
        symbol="ln2/k_T",
    )
    c1q_half_life_h: float = param(
        24.0,
        units="h",
        long_name="half-life of C1q level changes",
        source="assumption: about a day; no measured value (science.md §3)",
        symbol="ln2/k_Q",
    )
    c1q_gain: float = param(
        6.0,
        units="1",
        long_name="rise of C1q at full activation (relative to resting)",
        source="assumption: Shi et al. 2022 report C1q up (PZ); magnitude not found; chosen so activation stays below saturation at 5 mg/kg (sim.microglia docstring)",
        symbol="g_Q",
    )
    engulfment_gain: float = param(
        6.0,
        units="1",
        long_name="rise of engulfment capacity at full activation (relative to resting)",
        source="assumption: Shi et al. 2022 report more engulfment (abstract); fold not found; set equal to the C1q gain",
        symbol="g_E",
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
        check_positive(self, "c1q_gain", "engulfment_gain", "tspo_receptor_coupling", allow_zero=True)

    @property
    def deactivation_rate(self) -> float:
        """First-order decay of activation [1/h]."""
        return math.log(2.0) / self.deactivation_half_life_h

    def initial_state(self, resting_tspo: float) -> np.ndarray:
        """Resting microglia: no activation, resting TSPO, resting C1q."""
        return np.array([0.0, resting_tspo, 1.0])

    def stimulus(self, tspo_agonism: np.ndarray | float, tspo_level: np.ndarray | float, responsiveness: float):
        """Transduced stimulus ``s`` in [0, 1) from agonism [1] and per-cell TSPO expression [1]."""
        level = np.maximum(np.asarray(tspo_level, dtype=float), 0.0) ** self.tspo_receptor_coupling
        drive = np.maximum(np.asarray(tspo_agonism) * level * responsiveness, 0.0)
        dn = drive**self.stimulus_hill
        return dn / (dn + self.stimulus_ec50**self.stimulus_hill)

    def rhs(
        self, state: np.ndarray, tspo_agonism: float, resting_tspo: float, induction_fold: float, responsiveness: float
    ) -> np.ndarray:
        """Time derivatives of ``(activation, microglial_tspo, c1q)`` [1/h]."""
        activation, tspo, c1q = state
        s = self.stimulus(tspo_agonism, tspo, responsiveness)
        target_tspo = resting_tspo * (1.0 + (induction_fold - 1.0) * activation)
        return np.array(
            [
                self.activation_rate_per_h * s * (1.0 - activation) - self.deactivation_rate * activation,
                math.log(2.0) / self.tspo_half_life_h * (target_tspo - tspo),
                math.log(2.0) / self.c1q_half_life_h * (1.0 + self.c1q_gain * activation - c1q),
            ]
        )

    def engulfment_capacity(self, activation):
        """Engulfment capacity per microglial cell relative to resting [1]."""
        return 1.0 + self.engulfment_gain * np.asarray(activation)
