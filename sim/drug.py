"""Drug library entries: the chemistry and receptor affinities of each chemical species.

A :class:`Drug` is what the user picks with ``drug=...``: the administered compound plus the metabolites it forms,
each a :class:`Compound` with its molar mass and its TSPO and GABA-A (benzodiazepine-site) affinities. Kinetics
live in :mod:`sim.pk` because they depend on the animal species. ``tspo_ki_nM`` is the rodent value (mouse where
measured); ``tspo_ki_by_species_nM`` overrides it for a species with its own measurement (human placenta for
diazepam, Ro5-4864 and PK11195, [fares1986]), so a human run uses the human Ki where one exists
(:meth:`Compound.tspo_ki_for`). In humans, second-generation ligands bind the two rs6971 forms of TSPO with different
affinity ([owen2011a]): ``tspo_ki_by_binder_nM`` gives the human Ki of the ``high``- and ``low``-affinity forms
where they differ (absent: the ligand binds both alike, as PK11195 does, [owen2010]). GABA-A Ki are in-vitro rodent
values for every species; :mod:`sim.binding` converts them to in-vivo affinities. ``inf`` means "no measurable
affinity".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.core.params import ConfigError, check_fraction, check_positive, param
from sim.core.stage import register_stage

#: The two forms of human TSPO that rs6971 (Ala147Thr) gives rise to ([owen2011a]).
BINDER_FORMS = ("high", "low")


@dataclass
class Compound:
    """One chemical species' molar mass and receptor affinities, each with its source."""

    molar_mass_g_per_mol: float = param(
        284.74,
        units="g/mol",
        long_name="molar mass",
        source="computed from the molecular formula: every file of sim/configs/compound/ sets it next to its formula "
        "(default: diazepam, C16H13ClN2O); tests/test_references.py recomputes each value from standard atomic weights",
    )
    tspo_ki_nM: float = param(
        math.inf,
        units="nM",
        long_name="TSPO inhibition constant (inf: no affinity)",
        source="per compound: every file of sim/configs/compound/ sets it and cites it in `tspo_ki_source`",
    )
    gabaa_ki_nM: float = param(
        math.inf,
        units="nM",
        long_name="GABA-A benzodiazepine-site inhibition constant (inf: no affinity)",
        source="per compound: every file of sim/configs/compound/ sets it and cites it in `gabaa_ki_source`",
    )
    tspo_efficacy: float = param(
        1.0,
        units="1",
        long_name="intrinsic efficacy at TSPO for microglial activation (1: full agonist)",
        source="assumption: all TSPO ligands act as agonists on microglia (XBD173 mimics diazepam, [shi2022])",
    )
    gabaa_efficacy: float = param(
        1.0,
        units="1",
        long_name="intrinsic efficacy at the GABA-A benzodiazepine site (1: full agonist)",
        source="assumption: full agonists unless stated",
    )
    tspo_ki_by_species_nM: dict[str, float] = param(
        {},
        units="nM",
        long_name="TSPO inhibition constant measured in a given species, overriding tspo_ki_nM for it",
        source="per compound: where a file of sim/configs/compound/ sets it, its `tspo_ki_source` cites it "
        "(default {}: no species-specific value, tspo_ki_nM applies to every species)",
    )
    tspo_ki_by_binder_nM: dict[str, float] = param(
        {},
        units="nM",
        long_name="human TSPO inhibition constant of the rs6971 high- and low-affinity forms (keys high, low)",
        source="per compound: where a file of sim/configs/compound/ sets it, its `tspo_ki_source` cites it "
        "(default {}: both forms bind alike, as for PK11195 [owen2010])",
    )
    tspo_ki_source: str = param(
        "", units="", long_name="source of tspo_ki_nM, tspo_ki_by_species_nM and tspo_ki_by_binder_nM", source=""
    )
    gabaa_ki_source: str = param("", units="", long_name="source of gabaa_ki_nM", source="")

    def __post_init__(self) -> None:
        check_positive(self, "molar_mass_g_per_mol")
        check_positive(self, "tspo_ki_nM", "gabaa_ki_nM", allow_inf=True)
        check_fraction(self, "tspo_efficacy", "gabaa_efficacy")
        for key in ("tspo_ki_by_species_nM", "tspo_ki_by_binder_nM"):
            for name, ki in getattr(self, key).items():
                if not isinstance(ki, (int, float)) or isinstance(ki, bool) or math.isnan(ki) or ki <= 0:
                    raise ConfigError(f"{key}.{name} = {ki!r} is not allowed: it must be a positive number (nM) or inf")
        unknown = set(self.tspo_ki_by_binder_nM) - set(BINDER_FORMS)
        if unknown:
            raise ConfigError(
                f"tspo_ki_by_binder_nM has key {sorted(unknown)[0]!r}, which is not allowed: the keys are the rs6971 "
                f"forms {', '.join(BINDER_FORMS)}"
            )

    def tspo_ki_for(self, species: str, form: str = "high") -> float:
        """TSPO Ki [nM] for ``species`` and, in humans, the rs6971 ``form`` of TSPO (``high`` or ``low``).

        A human Ki of that form if one is given, else the species' own measurement if there is one, else the
        rodent ``tspo_ki_nM``.
        """
        if species == "human" and form in self.tspo_ki_by_binder_nM:
            return float(self.tspo_ki_by_binder_nM[form])
        return float(self.tspo_ki_by_species_nM.get(species, self.tspo_ki_nM))


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

    def borrowed_tspo_ki(self, species: str, names: tuple[str, ...] | None = None) -> list[str]:
        """Compounds (of ``names``, default all) whose TSPO Ki for ``species`` is not measured in that species.

        Only meaningful for species other than the rodent default (``tspo_ki_nM`` is the rodent value).
        """
        names = tuple(self.compounds) if names is None else names
        return [
            name
            for name in names
            if species not in self.compounds[name].tspo_ki_by_species_nM
            and not (species == "human" and "high" in self.compounds[name].tspo_ki_by_binder_nM)
        ]
