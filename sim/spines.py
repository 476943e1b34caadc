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
dwell time of a tagged spine); ``turnover_scale`` :math:`\lambda` multiplies :math:`e_0` (and, with two pools, the
persistent elimination), i.e. all drug-free elimination and formation together at unchanged :math:`S_0` (1: the
calibrated young mouse; a translation parameter, :mod:`sim.uncertainty`). Below, :math:`e_0` stands for
:math:`\lambda e_0`. The rate constants follow from requiring :math:`S_0` to be the drug-free steady state of
intact tissue:

.. math::

    e_{\rm int} = (1 - \phi) e_0, \quad k_{\rm eng} = 1/\tau_{\rm tag}, \quad
    S_t^* = \phi e_0 S_0 / k_{\rm eng}, \quad
    k_{\rm tag} = (k_{\rm eng} + e_{\rm int}) S_t^* / (S_0 - S_t^*), \quad
    f_{\max} = e_0 S_0 / (1 - \beta_0).

The homeostatic term :math:`\gamma` raises formation when density is below baseline; it is needed because
turnover alone cannot give the ≈ 8-week recovery reported after withdrawal [pz2022].

:class:`TwoPoolSpines` (``spines=two_pool``) splits the spines into a transient pool (untagged and tagged, formed
and pruned as above) and a persistent pool :math:`S_p` that transient spines join at rate :math:`k_{\rm stab}` and
leave only slowly (:math:`e_p`), untouched by C1q and microglia [holtmaat2005].
"""

from __future__ import annotations

import math
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
def transient_pool_rhs(p, untagged, tagged, density, upstream, out):
    """Derivatives of (untagged, tagged) densities [1/(um h)] at total density ``density`` [1/um] into ``out[0:2]``.

    ``upstream`` is the microglia signal (activation, C1q, engulfment capacity, microglia density).
    """
    activation = upstream[0]
    c1q = upstream[1]
    capacity = upstream[2]
    microglia_density = upstream[3]
    formed = formation_flux(p, density, activation, microglia_density)
    tag = tagging_flux(p, untagged, c1q, microglia_density)
    eaten = engulfment_flux(p, tagged, capacity, microglia_density)
    out[0] = formed - tag - p.intrinsic_elimination_rate * untagged
    out[1] = tag - eaten - p.intrinsic_elimination_rate * tagged


@stage_function
def spine_rhs(p: SpineRecord, state, upstream, out):
    """Stage function: derivatives of (untagged, tagged) densities [1/(um h)]; signal: total density [1/um].

    ``upstream`` is the microglia signal (activation, C1q, engulfment capacity, microglia density).
    """
    density = state[0] + state[1]
    transient_pool_rhs(p, state[0], state[1], density, upstream, out)
    signal = zeros(1, density)
    signal[0] = density
    return signal


class TwoPoolRecord(NamedTuple):
    """Constants of :func:`two_pool_rhs`: those of :class:`SpineRecord` plus the persistent pool (rates per hour)."""

    baseline_density: float
    homeostatic_gain: float
    max_formation_rate: float
    baseline_formation_suppression: float
    activated_formation_suppression: float
    tagging_rate: float
    engulfment_rate: float
    intrinsic_elimination_rate: float
    stabilisation_rate: float  # k_stab: untagged transient -> persistent [1/h]
    persistent_elimination_rate: float  # e_p [1/h]


@stage_function
def stabilisation_flux(p: TwoPoolRecord, untagged):
    r"""Flux of untagged transient spines into the persistent pool, :math:`k_{stab} S_u` [spines/(um h)]."""
    return p.stabilisation_rate * untagged


@stage_function
def two_pool_rhs(p: TwoPoolRecord, state, upstream, out):
    """Stage function: derivatives of (untagged, tagged, persistent) densities [1/(um h)]; signal: total density.

    Formation feels the total density (homeostasis); C1q tagging and engulfment act on the transient pool only.
    """
    density = state[0] + state[1] + state[2]
    transient_pool_rhs(p, state[0], state[1], density, upstream, out)
    stabilised = stabilisation_flux(p, state[0])
    out[0] = out[0] - stabilised
    out[2] = stabilised - p.persistent_elimination_rate * state[2]
    signal = zeros(1, density)
    signal[0] = density
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
        source="[shi2022]: somatosensory cortex",
    )
    baseline_density_per_um: float = param(
        0.45,
        units="1/um",
        long_name="drug-free spine density",
        source="assumption: L5 apical tufts 0.3-0.6 /um in vivo (unverified recollection); only relative densities are compared",
        symbol="S_0",
    )
    elimination_per_day: float = param(
        0.025,
        units="1/d",
        long_name="drug-free fraction of spines eliminated per day (cranial window)",
        source="calibrated (sim/configs/calibration/shi2022.yaml); prior: about half of the spines persist a month [trachtenberg2002]",
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
        source="assumption: microglial processes contact synapses about once an hour [wake2009] but engulfment is rare; order of a day",
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
        source="assumption: microglia depletion raises spine formation ([shi2022] as reported in the press); magnitude not found",
        symbol="beta_0",
    )
    activated_formation_suppression: float = param(
        0.5,
        units="1",
        long_name="extra fraction of formation held back by fully activated microglia",
        source="assumption: activated microglia hold back new spines ([shi2022] as reported in the press); magnitude not found",
        symbol="beta_A",
    )
    turnover_scale: float = param(
        1.0,
        units="1",
        long_name="drug-free spine turnover (elimination and formation together) relative to the calibrated young-mouse "
        "cranial-window value; baseline density unchanged",
        source="definition: 1 = the calibrated mouse; another species draws it from the range of its translation file "
        "(sim/configs/translation)",
        symbol="lambda",
    )

    def __post_init__(self) -> None:
        check_positive(self, "baseline_density_per_um", "elimination_per_day", "tagged_dwell_h", "turnover_scale")
        check_positive(self, "homeostatic_gain", "activated_formation_suppression", allow_zero=True)
        check_fraction(self, "microglial_share")
        if not 0.0 <= self.baseline_formation_suppression < 1.0:
            raise ConfigError(
                f"spines.baseline_formation_suppression = {self.baseline_formation_suppression!r} is not allowed: "
                "it must lie in [0, 1)"
            )
        self._check_pools()

    def _check_pools(self) -> None:
        """Refuse baseline parameters for which the tagged spines would exceed the transient pool."""
        if self.microglial_share * self.transient_elimination_per_day / 24.0 >= self.engulfment_rate:
            raise ConfigError(
                f"spines.tagged_dwell_h = {self.tagged_dwell_h!r} is too long for spines.elimination_per_day = "
                f"{self.elimination_per_day!r}: tagged spines would exceed the whole (transient) population"
            )

    # ------------------------------------------------------------------ derived constants (all per hour)
    @property
    def baseline_elimination_per_day(self) -> float:
        r"""Drug-free fraction of all spines eliminated per day, :math:`\lambda e_0` [1/d] (``turnover_scale`` × e_0)."""
        return self.elimination_per_day * self.turnover_scale

    @property
    def transient_fraction(self) -> float:
        """Drug-free fraction of spines in the pool that is formed, tagged and engulfed (1: one pool) [1]."""
        return 1.0

    @property
    def transient_elimination_per_day(self) -> float:
        """Drug-free fraction of the transient pool eliminated per day [1/d] (one pool: the baseline elimination)."""
        return self.baseline_elimination_per_day

    @property
    def intrinsic_elimination_rate(self) -> float:
        """Microglia-independent elimination rate constant of transient spines :math:`e_{int}` [1/h]."""
        return (1.0 - self.microglial_share) * self.transient_elimination_per_day / 24.0

    @property
    def engulfment_rate(self) -> float:
        """Engulfment rate constant of a tagged spine by resting microglia :math:`k_{eng}` [1/h]."""
        return 1.0 / self.tagged_dwell_h

    @property
    def baseline_tagged_density(self) -> float:
        """Drug-free steady-state density of tagged spines :math:`S_t^*` [1/um]."""
        transient = self.transient_fraction * self.baseline_density_per_um
        return self.microglial_share * self.transient_elimination_per_day / 24.0 * transient / self.engulfment_rate

    @property
    def baseline_untagged_density(self) -> float:
        """Drug-free steady-state density of untagged transient spines :math:`S_u^*` [1/um]."""
        return self.transient_fraction * self.baseline_density_per_um - self.baseline_tagged_density

    @property
    def tagging_rate(self) -> float:
        """Tagging rate constant at resting C1q and intact microglia :math:`k_{tag}` [1/h]."""
        return (
            (self.engulfment_rate + self.intrinsic_elimination_rate)
            * self.baseline_tagged_density
            / self.baseline_untagged_density
        )

    @property
    def max_formation_rate(self) -> float:
        """Formation rate :math:`f_{max}` with no microglial suppression at baseline density [1/(um h)]."""
        return (
            self.baseline_elimination_per_day
            / 24.0
            * self.baseline_density_per_um
            / (1.0 - self.baseline_formation_suppression)
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
        return np.array([self.baseline_untagged_density, self.baseline_tagged_density])

    def formation(self, density, activation, microglia_density):
        """Formation flux [spines/(um h)] (:func:`formation_flux`; numpy, broadcasting)."""
        return formation_flux(self.record(), density, activation, microglia_density)

    def tagging(self, untagged, c1q, microglia_density):
        """Tagging flux, untagged -> tagged [spines/(um h)] (:func:`tagging_flux`)."""
        return tagging_flux(self.record(), untagged, c1q, microglia_density)

    def engulfment(self, tagged, capacity, microglia_density):
        """Engulfment flux of tagged spines [spines/(um h)] (:func:`engulfment_flux`)."""
        return engulfment_flux(self.record(), tagged, capacity, microglia_density)

    def persistent_loss(self, persistent, record: SpineRecord | None = None):
        """Loss flux of persistent spines [spines/(um h)] (none in the one-pool model)."""
        return 0.0 * np.asarray(persistent)

    def rates_per_day(
        self, untagged, tagged, activation, c1q, capacity, microglia_density, persistent=0.0, record=None
    ):
        """Formation and elimination as fractions of the current density per day [1/d] (numpy, broadcasting).

        ``persistent`` is the persistent-pool density of :class:`TwoPoolSpines` [1/um] (0 for one pool). ``record``
        (default: this stage's :meth:`record`) supplies the constants; a batch passes one whose fields are arrays of
        shape (set, 1), so that the states (set x time) of many parameter sets are read at once.
        """
        p = self.record() if record is None else record
        density = untagged + tagged + persistent
        formed = formation_flux(p, density, activation, microglia_density)
        lost = (
            engulfment_flux(p, tagged, capacity, microglia_density)
            + p.intrinsic_elimination_rate * (untagged + tagged)
            + self.persistent_loss(persistent, p)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            return 24.0 * formed / density, 24.0 * lost / density


@register_stage("spines")
@dataclass
class TwoPoolSpines(SpineTurnover):
    r"""Transient and persistent spines; C1q tagging and engulfment act on the transient pool (``spines=two_pool``).

    In adult barrel cortex 66-73 % of spines persist for months while the rest appear and vanish within days
    [holtmaat2005] [trachtenberg2002]. Drug-free steady state: total density :math:`S_0`, a fraction
    :math:`p` persistent. With the persistent elimination :math:`e_p` (per day) the transient pool turns over at
    :math:`e_T = (e_0 - p\,e_p)/(1 - p)`, of which the share :math:`\phi` goes through tagging and engulfment, and
    untagged transient spines are stabilised at :math:`k_{\rm stab} = e_p\,p\,S_0 / S_u^*`. With :math:`p = 0` it is
    :class:`SpineTurnover` exactly.
    """

    state_names = ("untagged_spine_density", "tagged_spine_density", "persistent_spine_density")
    rhs = staticmethod(two_pool_rhs)

    persistent_fraction: float = param(
        0.7,
        units="1",
        long_name="drug-free fraction of spines in the persistent pool",
        source="[holtmaat2005]: 66 % of spines persistent (lifetime >= 8 d) at 80-120 days of age, 73 % at 175-225 "
        "days; [shi2022] used 4-month-old mice",
        symbol="p",
    )
    persistent_half_life_days: float = param(
        120.0,
        units="d",
        long_name="half-life of a persistent spine",
        source="assumption: most thick spines persist for months [holtmaat2005]; about four months taken",
        symbol="ln2/e_p",
    )

    def __post_init__(self) -> None:
        if not (isinstance(self.persistent_fraction, (int, float)) and 0.0 <= self.persistent_fraction < 1.0):
            raise ConfigError(
                f"spines.persistent_fraction = {self.persistent_fraction!r} is not allowed: it must lie in [0, 1)"
            )
        check_positive(self, "persistent_half_life_days")
        super().__post_init__()

    def _check_pools(self) -> None:
        if self.transient_elimination_per_day <= 0.0:
            raise ConfigError(
                f"spines.persistent_half_life_days = {self.persistent_half_life_days!r} is too short for "
                f"spines.elimination_per_day = {self.elimination_per_day!r} and spines.persistent_fraction = "
                f"{self.persistent_fraction!r}: the persistent pool alone would lose more than all spines"
            )
        super()._check_pools()

    @property
    def persistent_elimination_per_day(self) -> float:
        """Fraction of persistent spines lost per day :math:`e_p` [1/d] (scaled by ``turnover_scale`` as all turnover)."""
        return math.log(2.0) / self.persistent_half_life_days * self.turnover_scale

    @property
    def transient_fraction(self) -> float:
        """Drug-free fraction of spines in the transient pool, :math:`1 - p` [1]."""
        return 1.0 - self.persistent_fraction

    @property
    def transient_elimination_per_day(self) -> float:
        """Drug-free turnover of the transient pool :math:`e_T = (e_0 - p e_p)/(1 - p)` [1/d]."""
        p = self.persistent_fraction
        return (self.baseline_elimination_per_day - p * self.persistent_elimination_per_day) / (1.0 - p)

    @property
    def stabilisation_rate(self) -> float:
        """Rate constant untagged transient -> persistent, :math:`k_{stab} = e_p p S_0 / S_u^*` [1/h]."""
        inflow = self.persistent_elimination_per_day / 24.0 * self.persistent_fraction * self.baseline_density_per_um
        return inflow / self.baseline_untagged_density

    def record(self, model: Any = None) -> TwoPoolRecord:
        """Constants of :func:`two_pool_rhs`."""
        return TwoPoolRecord(
            *SpineTurnover.record(self, model),
            stabilisation_rate=self.stabilisation_rate,
            persistent_elimination_rate=self.persistent_elimination_per_day / 24.0,
        )

    def initial_state(self, record: TwoPoolRecord | None = None) -> np.ndarray:
        """Drug-free steady state: transient pool as in :class:`SpineTurnover`, persistent :math:`p S_0` [1/um]."""
        persistent = self.persistent_fraction * self.baseline_density_per_um
        return np.array([self.baseline_untagged_density, self.baseline_tagged_density, persistent])

    def persistent_loss(self, persistent, record: TwoPoolRecord | None = None):
        """Loss flux of persistent spines :math:`e_p S_p` [spines/(um h)] (``record``: default :meth:`record`)."""
        p = self.record() if record is None else record
        return p.persistent_elimination_rate * np.asarray(persistent)


def relative_density(density, baseline_density_per_um: float):
    """Spine density as % of the drug-free baseline [percent]."""
    return 100.0 * np.asarray(density) / baseline_density_per_um


__all__ = ["SpineTurnover", "TwoPoolSpines", "relative_density"]
