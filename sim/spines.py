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
from typing import Any, NamedTuple

import numpy as np

from sim.core.maths import maximum, stage_function, zeros
from sim.core.params import ConfigError, check_fraction, check_positive, param
from sim.core.stage import register_stage


class SpineRecord(NamedTuple):
    """Constants of :func:`spine_rhs` (rates per hour)."""

    baseline_density: float  # S_0 [1/um]
    homeostatic_gain: float  # gamma [1]
    max_formation_rate: float  # f_max [1/(um h)]
    baseline_formation_suppression: float  # beta_0 [1]
    activated_formation_suppression: float  # beta_A [1]
    tagging_rate: float  # k_tag [1/h]
    engulfment_rate: float  # k_eng [1/h]
    intrinsic_elimination_rate: float  # e_int [1/h]


@stage_function
def formation_flux(p: SpineRecord, density, activation, microglia_density):
    """Formation flux :math:`F` [spines/(um h)] at total density ``density`` [1/um]."""
    homeostasis = maximum(0.0, 1.0 + p.homeostatic_gain * (p.baseline_density - density) / p.baseline_density)
    suppression = 1.0 - microglia_density * (
        p.baseline_formation_suppression + p.activated_formation_suppression * activation
    )
    return p.max_formation_rate * homeostasis * maximum(0.0, suppression)


@stage_function
def tagging_flux(p: SpineRecord, untagged, c1q, microglia_density):
    r"""Tagging flux, untagged -> tagged, :math:`k_{tag}\,n\,Q\,S_u` [spines/(um h)]."""
    return p.tagging_rate * microglia_density * c1q * untagged


@stage_function
def engulfment_flux(p: SpineRecord, tagged, capacity, microglia_density):
    r"""Engulfment flux of tagged spines, :math:`k_{eng}\,n\,E\,S_t` [spines/(um h)]."""
    return p.engulfment_rate * microglia_density * capacity * tagged


@stage_function
def spine_rhs(p: SpineRecord, state, upstream, out):
    """Stage function: derivatives of (untagged, tagged) densities [1/(um h)]; signal: total density [1/um].

    ``upstream`` is the microglia signal (activation, C1q, engulfment capacity, microglia density).
    """
    untagged = state[0]
    tagged = state[1]
    activation = upstream[0]
    c1q = upstream[1]
    capacity = upstream[2]
    density = upstream[3]
    formed = formation_flux(p, untagged + tagged, activation, density)
    tag = tagging_flux(p, untagged, c1q, density)
    eaten = engulfment_flux(p, tagged, capacity, density)
    out[0] = formed - tag - p.intrinsic_elimination_rate * untagged
    out[1] = tag - eaten - p.intrinsic_elimination_rate * tagged
    signal = zeros(1, untagged)
    signal[0] = untagged + tagged
    return signal


@register_stage("spines")
@dataclass
class SpineTurnover:
    """Formation, C1q tagging, microglial engulfment and homeostatic regrowth of dendritic spines."""

    state_names = ("untagged_spine_density", "tagged_spine_density")
    rhs = staticmethod(spine_rhs)

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

    def record(self, model: Any = None) -> SpineRecord:
        """Constants of :func:`spine_rhs` (no context needed: microglia density arrives in the signal)."""
        return SpineRecord(
            baseline_density=self.baseline_density_per_um,
            homeostatic_gain=self.homeostatic_gain,
            max_formation_rate=self.max_formation_rate,
            baseline_formation_suppression=self.baseline_formation_suppression,
            activated_formation_suppression=self.activated_formation_suppression,
            tagging_rate=self.tagging_rate,
            engulfment_rate=self.engulfment_rate,
            intrinsic_elimination_rate=self.intrinsic_elimination_rate,
        )

    def initial_state(self, record: SpineRecord | None = None) -> np.ndarray:
        """Drug-free steady state of intact tissue [1/um]."""
        tagged = self.baseline_tagged_density
        return np.array([self.baseline_density_per_um - tagged, tagged])

    def formation(self, density, activation, microglia_density):
        """Formation flux [spines/(um h)] (:func:`formation_flux`; numpy, broadcasting)."""
        return formation_flux(self.record(), density, activation, microglia_density)

    def tagging(self, untagged, c1q, microglia_density):
        """Tagging flux, untagged -> tagged [spines/(um h)] (:func:`tagging_flux`)."""
        return tagging_flux(self.record(), untagged, c1q, microglia_density)

    def engulfment(self, tagged, capacity, microglia_density):
        """Engulfment flux of tagged spines [spines/(um h)] (:func:`engulfment_flux`)."""
        return engulfment_flux(self.record(), tagged, capacity, microglia_density)

    def rates_per_day(self, untagged, tagged, activation, c1q, capacity, microglia_density):
        """Formation and elimination as fractions of the current density per day [1/d] (numpy, broadcasting)."""
        p = self.record()
        density = untagged + tagged
        formed = formation_flux(p, density, activation, microglia_density)
        lost = engulfment_flux(p, tagged, capacity, microglia_density) + p.intrinsic_elimination_rate * density
        with np.errstate(divide="ignore", invalid="ignore"):
            return 24.0 * formed / density, 24.0 * lost / density


def relative_density(density, baseline_density_per_um: float):
    """Spine density as % of the drug-free baseline [percent]."""
    return 100.0 * np.asarray(density) / baseline_density_per_um


__all__ = ["SpineTurnover", "relative_density"]
