r"""Binding stage: free brain concentrations -> TSPO and GABA-A (benzodiazepine-site) occupancy.

Equilibrium competitive binding of every chemical species present at each receptor:

.. math::

    \theta_i = \frac{C_i / K_i}{1 + \sum_j C_j / K_j}, \qquad
    \theta^{\rm TSPO} = \sum_i \theta_i, \qquad
    a^{\rm TSPO} = \sum_i \epsilon_i \theta_i,

with free brain concentrations :math:`C_i` and inhibition constants :math:`K_i` (nM, converted to µM).
Equilibrium is justified because binding equilibrates in seconds ([3H]diazepam at TSPO: half-dissociation ≈ 10 s,
koff ≈ 0.07 1/s; science.md §5c) while concentrations change over tens of minutes. TSPO-KO animals have no TSPO:
occupancy and agonism are zero. Benzodiazepine-insensitive GABA-A receptors cannot be occupied by the drug.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.params import check_positive, param
from sim.drug import Drug
from sim.genotype import Genotype


@dataclass
class EquilibriumBinding:
    """Instantaneous competitive binding at TSPO and at the GABA-A benzodiazepine site."""

    tspo_ki_scale: float = param(
        1.0,
        units="1",
        long_name="multiplier on every TSPO Ki (species or assay correction)",
        source="convention: 1 (mouse values used where they exist)",
    )
    gabaa_ki_scale: float = param(1.0, units="1", long_name="multiplier on every GABA-A Ki", source="convention: 1")

    def __post_init__(self) -> None:
        check_positive(self, "tspo_ki_scale", "gabaa_ki_scale")

    def affinities(self, drug: Drug, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Association constants ``1/Ki`` [1/µM] and efficacies per compound, in ``names`` order."""
        compounds = [drug.compounds[name] for name in names]
        return {
            "tspo_affinity": np.array([1e3 / (c.tspo_ki_nM * self.tspo_ki_scale) for c in compounds]),
            "gabaa_affinity": np.array([1e3 / (c.gabaa_ki_nM * self.gabaa_ki_scale) for c in compounds]),
            "tspo_efficacy": np.array([c.tspo_efficacy for c in compounds]),
            "gabaa_efficacy": np.array([c.gabaa_efficacy for c in compounds]),
        }

    @staticmethod
    def occupancy(free_uM: np.ndarray, affinity_per_uM: np.ndarray) -> np.ndarray:
        """Per-compound fractional occupancy at one receptor (compounds on axis 0); sums to < 1."""
        shape = (-1,) + (1,) * (free_uM.ndim - 1)
        ratio = np.maximum(free_uM, 0.0) * affinity_per_uM.reshape(shape)
        return ratio / (1.0 + ratio.sum(axis=0))

    def signal(
        self, free_uM: np.ndarray, constants: dict[str, np.ndarray], genotype: Genotype
    ) -> dict[str, np.ndarray]:
        """Receptor readouts from free brain concentrations [µM].

        Returns ``tspo_occupancy`` and ``gabaa_occupancy`` (fraction of receptors bound, [1]) and the
        efficacy-weighted ``tspo_agonism`` and ``gabaa_agonism`` [1] that drive microglia and sedation.
        """
        tspo = self.occupancy(free_uM, constants["tspo_affinity"])
        gabaa = self.occupancy(free_uM, constants["gabaa_affinity"])
        shape = (-1,) + (1,) * (free_uM.ndim - 1)
        has_tspo = 1.0 if genotype.tspo_expression > 0 else 0.0
        bz = genotype.gabaa_bz_sensitivity
        return {
            "tspo_occupancy": has_tspo * tspo.sum(axis=0),
            "gabaa_occupancy": bz * gabaa.sum(axis=0),
            "tspo_agonism": has_tspo * (tspo * constants["tspo_efficacy"].reshape(shape)).sum(axis=0),
            "gabaa_agonism": bz * (gabaa * constants["gabaa_efficacy"].reshape(shape)).sum(axis=0),
        }
