r"""Spine stage: microglial signals -> spine formation, C1q tagging, engulfment and density.

Mean-field states: untagged and C1q-tagged spine densities :math:`S_u, S_t` [spines/µm], :math:`S = S_u + S_t`.

.. math::

    F &= f_{\max}\, g(S)\, \max\!\big(0,\ 1 - \beta_0 n - \beta_A n A\big), \qquad
    g(S) = \max\!\big(0,\ 1 + \gamma (S_0 - S)/S_0\big), \\
    \dot S_u &= F - k_{\rm tag}\, n\, Q\, S_u - e_{\rm int} S_u, \\
    \dot S_t &= k_{\rm tag}\, n\, Q\, S_u - k_{\rm eng}\, n\, E\, S_t - e_{\rm int} S_t,

with microglia density :math:`n`, activation :math:`A`, C1q level :math:`Q` and engulfment capacity :math:`E`
from :mod:`sim.microglia`. The baseline parameters are chosen by the user in observable terms (density
:math:`S_0`, total elimination :math:`e_0` per day, the microglia-dependent share :math:`\phi` of it and the
dwell time of a tagged spine); the rate constants follow from requiring :math:`S_0` to be the drug-free steady
state of intact tissue:

.. math::

    e_{\rm int} = (1 - \phi) e_0, \quad k_{\rm eng} = 1/\tau_{\rm tag}, \quad
    S_t^* = \phi e_0 S_0 / k_{\rm eng}, \quad
    k_{\rm tag} = (k_{\rm eng} + e_{\rm int}) S_t^* / (S_0 - S_t^*), \quad
    f_{\max} = e_0 S_0 / (1 - \beta_0).

The homeostatic term :math:`\gamma` raises formation when density is below baseline; it is needed because
turnover alone cannot give the ≈ 8-week recovery reported after withdrawal (science.md §6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.params import ConfigError, check_fraction, check_positive, param


@dataclass
class SpineTurnover:
    """Formation, C1q tagging, microglial engulfment and homeostatic regrowth of dendritic spines."""

    state_names = ("untagged_spine_density", "tagged_spine_density")

    region: str = param(
        "somatosensory_cortex",
        units="",
        long_name="brain region",
        source="Shi et al. 2022: somatosensory cortex (science.md §1)",
    )
    baseline_density_per_um: float = param(
        0.45,
        units="1/um",
        long_name="drug-free spine density",
        source="assumption: L5 apical tuft 0.3-0.6 /um in vivo (science.md §6, UNVERIFIED recollection)",
        symbol="S_0",
    )
    elimination_per_day: float = param(
        0.025,
        units="1/d",
        long_name="drug-free fraction of spines eliminated per day (cranial window)",
        source="calibrated (sim/configs/calibration/shi2022.yaml); prior 2-5 %/d from cranial-window turnover (science.md §6, addendum Gap 7)",
        symbol="e_0",
    )
    microglial_share: float = param(
        0.3,
        units="1",
        long_name="share of drug-free elimination that goes through C1q tagging and engulfment",
        source="assumption: microglia contribute to but do not dominate adult pruning",
        symbol="phi",
    )
    tagged_dwell_h: float = param(
        24.0,
        units="h",
        long_name="mean time a tagged spine waits before engulfment by resting microglia",
        source="assumption: contacts ~1 per synapse per hour (Wake et al. 2009) but engulfment is rare; order of a day",
        symbol="tau_tag",
    )
    homeostatic_gain: float = param(
        1.0,
        units="1",
        long_name="relative rise of formation per relative density deficit",
        source="calibrated (sim/configs/calibration/shi2022.yaml)",
        symbol="gamma",
    )
    baseline_formation_suppression: float = param(
        0.3,
        units="1",
        long_name="fraction of formation held back by resting microglia",
        source="assumption: PLX5622 depletion raises formation (Spektrum, science.md §2); magnitude not found",
        symbol="beta_0",
    )
    activated_formation_suppression: float = param(
        0.5,
        units="1",
        long_name="extra fraction of formation held back by fully activated microglia",
        source="assumption: Shi et al. 2022 report that activated microglia hold back new spines (Spektrum); magnitude not found",
        symbol="beta_A",
    )

    def __post_init__(self) -> None:
        check_positive(self, "baseline_density_per_um", "elimination_per_day", "tagged_dwell_h")
        check_positive(self, "homeostatic_gain", "activated_formation_suppression", allow_zero=True)
        check_fraction(self, "microglial_share")
        if not 0.0 <= self.baseline_formation_suppression < 1.0:
            raise ConfigError(
                f"spines.baseline_formation_suppression = {self.baseline_formation_suppression!r} is not allowed: "
                "it must lie in [0, 1)"
            )
        if self.microglial_share * self.elimination_per_day / 24.0 >= self.engulfment_rate:
            raise ConfigError(
                f"spines.tagged_dwell_h = {self.tagged_dwell_h!r} is too long for spines.elimination_per_day = "
                f"{self.elimination_per_day!r}: tagged spines would exceed the whole population"
            )

    # ------------------------------------------------------------------ derived constants (all per hour)
    @property
    def intrinsic_elimination_rate(self) -> float:
        """Microglia-independent elimination rate constant :math:`e_{int}` [1/h]."""
        return (1.0 - self.microglial_share) * self.elimination_per_day / 24.0

    @property
    def engulfment_rate(self) -> float:
        """Engulfment rate constant of a tagged spine by resting microglia :math:`k_{eng}` [1/h]."""
        return 1.0 / self.tagged_dwell_h

    @property
    def baseline_tagged_density(self) -> float:
        """Drug-free steady-state density of tagged spines :math:`S_t^*` [1/um]."""
        return (
            self.microglial_share
            * self.elimination_per_day
            / 24.0
            * self.baseline_density_per_um
            / self.engulfment_rate
        )

    @property
    def tagging_rate(self) -> float:
        """Tagging rate constant at resting C1q and intact microglia :math:`k_{tag}` [1/h]."""
        tagged = self.baseline_tagged_density
        return (
            (self.engulfment_rate + self.intrinsic_elimination_rate) * tagged / (self.baseline_density_per_um - tagged)
        )

    @property
    def max_formation_rate(self) -> float:
        """Formation rate :math:`f_{max}` with no microglial suppression at baseline density [1/(um h)]."""
        return (
            self.elimination_per_day / 24.0 * self.baseline_density_per_um / (1.0 - self.baseline_formation_suppression)
        )

    def initial_state(self) -> np.ndarray:
        """Drug-free steady state of intact tissue [1/um]."""
        tagged = self.baseline_tagged_density
        return np.array([self.baseline_density_per_um - tagged, tagged])

    # ------------------------------------------------------------------ fluxes
    def formation(self, density, activation, microglia_density):
        """Formation flux [spines/(um h)]."""
        s0 = self.baseline_density_per_um
        homeostasis = np.maximum(0.0, 1.0 + self.homeostatic_gain * (s0 - density) / s0)
        suppression = 1.0 - microglia_density * (
            self.baseline_formation_suppression + self.activated_formation_suppression * activation
        )
        return self.max_formation_rate * homeostasis * np.maximum(0.0, suppression)

    def tagging(self, untagged, c1q, microglia_density):
        """Tagging flux, untagged -> tagged [spines/(um h)]."""
        return self.tagging_rate * microglia_density * c1q * untagged

    def engulfment(self, tagged, engulfment_capacity, microglia_density):
        """Engulfment flux of tagged spines [spines/(um h)]."""
        return self.engulfment_rate * microglia_density * engulfment_capacity * tagged

    def rhs(
        self, state: np.ndarray, activation: float, c1q: float, engulfment_capacity: float, microglia_density: float
    ) -> np.ndarray:
        """Time derivatives of ``(untagged, tagged)`` densities [1/(um h)]."""
        untagged, tagged = state
        formed = self.formation(untagged + tagged, activation, microglia_density)
        tag = self.tagging(untagged, c1q, microglia_density)
        eaten = self.engulfment(tagged, engulfment_capacity, microglia_density)
        e_int = self.intrinsic_elimination_rate
        return np.array([formed - tag - e_int * untagged, tag - eaten - e_int * tagged])

    def rates_per_day(self, untagged, tagged, activation, c1q, engulfment_capacity, microglia_density):
        """Formation and elimination as fractions of the current density per day [1/d]."""
        density = untagged + tagged
        formed = self.formation(density, activation, microglia_density)
        lost = (
            self.engulfment(tagged, engulfment_capacity, microglia_density) + self.intrinsic_elimination_rate * density
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            return 24.0 * formed / density, 24.0 * lost / density


def relative_density(density, baseline_density_per_um: float):
    """Spine density as % of the drug-free baseline [percent]."""
    return 100.0 * np.asarray(density) / baseline_density_per_um


__all__ = ["SpineTurnover", "relative_density"]
