"""Drug library entries: the chemistry and receptor affinities of each chemical species.

A :class:`Drug` is what the user picks with ``drug=...``: the administered compound plus the metabolites it forms,
each a :class:`Compound` with its molar mass and its TSPO and GABA-A (benzodiazepine-site) affinities. Kinetics
live in :mod:`sim.pk` because they depend on the animal species; affinities are treated as species-independent
(the values used are mouse values where they exist). ``inf`` means "no measurable affinity".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.core.params import ConfigError, check_fraction, check_positive, param
from sim.core.stage import register_stage


@dataclass
class Compound:
    """One chemical species' molar mass and receptor affinities, each with its source."""

    molar_mass_g_per_mol: float = param(
        284.74, units="g/mol", long_name="molar mass", source="computed from the molecular formula"
    )
    tspo_ki_nM: float = param(
        math.inf,
        units="nM",
        long_name="TSPO inhibition constant (inf: no affinity)",
        source="set per compound in sim/configs/compound/",
    )
    gabaa_ki_nM: float = param(
        math.inf,
        units="nM",
        long_name="GABA-A benzodiazepine-site inhibition constant (inf: no affinity)",
        source="set per compound in sim/configs/compound/",
    )
    tspo_efficacy: float = param(
        1.0,
        units="1",
        long_name="intrinsic efficacy at TSPO for microglial activation (1: full agonist)",
        source="assumption: all TSPO ligands act as agonists on microglia (Shi et al. 2022: XBD173 mimics diazepam)",
    )
    gabaa_efficacy: float = param(
        1.0,
        units="1",
        long_name="intrinsic efficacy at the GABA-A benzodiazepine site (1: full agonist)",
        source="assumption: full agonists unless stated",
    )
    tspo_ki_source: str = param("", units="", long_name="source of tspo_ki_nM", source="")
    gabaa_ki_source: str = param("", units="", long_name="source of gabaa_ki_nM", source="")

    def __post_init__(self) -> None:
        check_positive(self, "molar_mass_g_per_mol")
        check_positive(self, "tspo_ki_nM", "gabaa_ki_nM", allow_inf=True)
        check_fraction(self, "tspo_efficacy", "gabaa_efficacy")


@register_stage("drug")
@dataclass
class Drug:
    """A drug as administered: its name and every chemical species it gives rise to in the body."""

    name: str = param("diazepam", units="", long_name="drug name", source="user choice")
    compounds: dict[str, Compound] = field(default_factory=lambda: {"diazepam": Compound()})

    def __post_init__(self) -> None:
        self.compounds = {
            name: value if isinstance(value, Compound) else Compound(**value) for name, value in self.compounds.items()
        }
        if not self.compounds:
            raise ConfigError(f"drug {self.name!r} has no compounds: drug.compounds must list at least the drug itself")
