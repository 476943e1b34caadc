r"""Binding stage: free brain concentrations -> TSPO and GABA-A (benzodiazepine-site) occupancy.

Equilibrium competitive binding of every chemical species present at each receptor:

.. math::

    \theta_i = \frac{C_i / K_i}{1 + \sum_j C_j / K_j}, \qquad
    \theta^{\rm TSPO} = \sum_i \theta_i, \qquad
    a^{\rm TSPO} = \sum_i \epsilon_i \theta_i,

with free brain concentrations :math:`C_i` and inhibition constants :math:`K_i` (nM, converted to µM).
Equilibrium is justified because binding equilibrates in seconds ([3H]diazepam at TSPO-like sites of mouse
glioblastoma cells: half-dissociation ≈ 10 s, [pmid6521970]) while concentrations change over tens of minutes.
TSPO-KO animals have no TSPO: occupancy and agonism are zero. Benzodiazepine-insensitive GABA-A receptors cannot be
occupied by the drug.

**Species.** The TSPO :math:`K_i` of a compound is its value measured in the run's species where one exists
(:meth:`sim.drug.Compound.tspo_ki_for`: human placenta for diazepam, Ro5-4864 and PK11195 in human runs,
[fares1986]); otherwise the rodent value.

**rs6971 in humans.** Human TSPO has a high- and a low-affinity form for second-generation ligands ([owen2011a]);
``species.tspo_binder`` says which a person carries. High and low binders have one form, whose :math:`K_i` the
formulas above use. Mixed binders carry both, half their sites each ([owen2010]: two-site binding with distinct
affinities): the occupancy is the average of the two site populations,

.. math::

    \theta^{\rm TSPO} = (1 - s)\,\theta^{\rm TSPO}\big|_{K_i^{\rm high}} + s\,\theta^{\rm TSPO}\big|_{K_i^{\rm low}},

with :math:`s` = 0, ½, 1 for high, mixed and low binders (likewise the agonism). A ligand without a measured
low-affinity :math:`K_i` binds both forms alike (PK11195, [owen2010]).

**In-vivo GABA-A affinity.** The GABA-A :math:`K_i` in :mod:`sim.drug` are in-vitro displacement values measured at
0–4 °C, where specific [3H]diazepam binding is maximal; at 37 °C it falls by more than 95 % ([williamson1978]).
They are multiplied by ``gabaa_ki_scale``, the ratio of an in-vivo free-concentration :math:`K_d` to the in-vitro
:math:`K_i` of the same drug: midazolam displaces [123I]iomazenil in human cortex with a free-plasma :math:`K_d`
≈ 59 nM ([videbaek1993]) against an in-vitro :math:`K_i` of 2–5 nM for its class ([borea1983]; 3.5 nM used here),
a factor ≈ 17. The same factor is applied to every compound (assumption: one benzodiazepine measured in vivo).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sim.core.maths import maximum, stage_function, zeros
from sim.core.params import check_positive, param
from sim.core.stage import register_stage


class EquilibriumBindingRecord(NamedTuple):
    """Constants of :func:`equilibrium_binding_rhs`, one entry per compound in PK state order."""

    tspo_affinity: np.ndarray  # 1/Ki at TSPO [1/µM]
    tspo_efficacy: np.ndarray  # intrinsic efficacy at TSPO [1]
    gabaa_affinity: np.ndarray  # 1/Ki at the GABA-A benzodiazepine site [1/µM]
    gabaa_efficacy: np.ndarray  # intrinsic efficacy at the GABA-A benzodiazepine site [1]
    tspo_present: float  # 1 if the animal has TSPO, 0 in TSPO-KO [1]
    gabaa_sensitivity: float  # fraction of GABA-A receptors with a functional benzodiazepine site [1]
    tspo_affinity_low: np.ndarray  # 1/Ki at the low-affinity (rs6971) form of human TSPO [1/µM]
    tspo_low_share: float  # share of TSPO sites of the low-affinity form: 0 high, 0.5 mixed, 1 low binders [1]


@stage_function
def weighted_occupancy(affinity, weight, free):
    r"""Competitive equilibrium binding: :math:`\sum_i w_i\,\frac{C_i/K_i}{1 + \sum_j C_j/K_j}` [1].

    ``affinity`` holds :math:`1/K_i` [1/µM], ``weight`` :math:`w_i` (1 for occupancy, efficacy for agonism) and
    ``free`` the unbound concentrations :math:`C_i` [µM]; negative solver round-off in ``free`` counts as zero.
    """
    total = 0.0
    weighted = 0.0
    for i in range(affinity.shape[0]):
        ratio = maximum(free[i], 0.0) * affinity[i]
        total = total + ratio
        weighted = weighted + weight[i] * ratio
    return weighted / (1.0 + total)


@stage_function
def tspo_binding(p: EquilibriumBindingRecord, weight, free):
    r"""TSPO occupancy (``weight`` 1) or agonism (``weight`` = efficacy) over both site forms [1].

    :math:`(1 - s)\,\theta|_{K^{high}} + s\,\theta|_{K^{low}}`, zero without TSPO; ``free`` in µM.
    """
    high = weighted_occupancy(p.tspo_affinity, weight, free)
    low = weighted_occupancy(p.tspo_affinity_low, weight, free)
    return p.tspo_present * ((1.0 - p.tspo_low_share) * high + p.tspo_low_share * low)


@stage_function
def equilibrium_binding_rhs(p: EquilibriumBindingRecord, state, free, out):
    """Stage function (no state): signal = efficacy-weighted TSPO and GABA-A agonism :math:`a^{TSPO}, a^{GABA}` [1].

    From the unbound concentrations ``free`` [µM]; the GABA-A agonism is read by the stress stage (:mod:`sim.stress`).
    """
    signal = zeros(2, free[0])
    signal[0] = tspo_binding(p, p.tspo_efficacy, free)
    signal[1] = p.gabaa_sensitivity * weighted_occupancy(p.gabaa_affinity, p.gabaa_efficacy, free)
    return signal


@register_stage("binding")
@dataclass
class EquilibriumBinding:
    """Instantaneous competitive binding at TSPO and at the GABA-A benzodiazepine site."""

    tspo_ki_scale: float = param(
        1.0,
        units="1",
        long_name="multiplier on every TSPO Ki (sensitivity analyses)",
        source="assumption: 1 (species-specific Ki are chosen per compound, sim.drug.Compound.tspo_ki_for)",
    )
    gabaa_ki_scale: float = param(
        17.0,
        units="1",
        long_name="in-vivo / in-vitro ratio of GABA-A benzodiazepine-site Ki (multiplies every GABA-A Ki)",
        source="midazolam in-vivo free-plasma Kd ≈ 59 nM [videbaek1993] / in-vitro Ki 3.5 nM (2–5 nM class "
        "range, [borea1983]); in-vitro binding at 0–4 °C overstates affinity at 37 °C [williamson1978]",
    )

    def __post_init__(self) -> None:
        check_positive(self, "tspo_ki_scale", "gabaa_ki_scale")

    state_names = ()  # algebraic: no state
    rhs = staticmethod(equilibrium_binding_rhs)

    def record(self, model: Any) -> EquilibriumBindingRecord:
        """Affinities and efficacies of ``model.drug``'s compounds in ``model.pk`` order, and the genotype's receptors."""
        compounds = [model.drug.compounds[name] for name in model.pk.names]
        species = model.species.name

        def tspo_affinity(form: str) -> np.ndarray:
            return np.array([1e3 / (c.tspo_ki_for(species, form) * self.tspo_ki_scale) for c in compounds])

        return EquilibriumBindingRecord(
            tspo_affinity=tspo_affinity("high"),
            tspo_efficacy=np.array([c.tspo_efficacy for c in compounds], dtype=float),
            gabaa_affinity=np.array([1e3 / (c.gabaa_ki_nM * self.gabaa_ki_scale) for c in compounds]),
            gabaa_efficacy=np.array([c.gabaa_efficacy for c in compounds], dtype=float),
            tspo_present=1.0 if model.genotype.tspo_expression > 0 else 0.0,
            gabaa_sensitivity=float(model.genotype.gabaa_bz_sensitivity),
            tspo_affinity_low=tspo_affinity("low"),
            tspo_low_share=float(model.species.tspo_low_affinity_share),
        )

    def initial_state(self, record: EquilibriumBindingRecord | None = None) -> np.ndarray:
        """No state: binding is at equilibrium."""
        return np.zeros(0)

    @staticmethod
    def readouts(p: EquilibriumBindingRecord, free: np.ndarray) -> dict[str, np.ndarray]:
        """Receptor readouts from unbound concentrations [µM] (compounds on axis 0, time after).

        ``tspo_occupancy`` and ``gabaa_occupancy`` are the fractions of receptors bound [1]; ``tspo_agonism`` and
        ``gabaa_agonism`` weight them by efficacy and drive microglia and sedation [1].
        """
        ones = np.ones_like(p.tspo_affinity)
        return {
            "tspo_occupancy": tspo_binding(p, ones, free),
            "gabaa_occupancy": p.gabaa_sensitivity * weighted_occupancy(p.gabaa_affinity, ones, free),
            "tspo_agonism": tspo_binding(p, p.tspo_efficacy, free),
            "gabaa_agonism": p.gabaa_sensitivity * weighted_occupancy(p.gabaa_affinity, p.gabaa_efficacy, free),
        }


def binding_provenance(model: Any) -> str:
    """One sentence on where the run's binding constants come from (for the caveat of non-mouse runs)."""
    species = model.species.name
    borrowed = model.drug.borrowed_tspo_ki(species, tuple(model.pk.names))
    own = [name for name in model.pk.names if name not in borrowed]
    parts = []
    if own:
        parts.append(f"TSPO Ki measured in {species} for {', '.join(own)}")
    if borrowed:
        parts.append(f"rodent or assumed TSPO Ki for {', '.join(borrowed)}")
    if species == "human":
        parts.append(f"rs6971 class: {model.species.tspo_binder}-affinity binder")
    parts.append("GABA-A Ki are rodent in-vitro values scaled to in-vivo affinity")
    return "; ".join(parts)
