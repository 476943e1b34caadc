"""Animal species: body weight and, in humans, the rs6971 TSPO binding class.

The induction of microglial TSPO by activation is a microglia parameter (``microglia.tspo_induction_fold``).

**rs6971 (TSPO Ala147Thr).** Human TSPO comes in a high-affinity and a low-affinity form for second-generation
ligands: people are high-affinity binders (HAB, two high-affinity alleles), mixed-affinity binders (MAB, one of each,
half their sites of each form) or low-affinity binders (LAB) ([owen2010]; [owen2011a]). PK11195 binds both forms alike
([owen2010]). ``tspo_binder`` selects the class; :mod:`sim.binding` reads each compound's Ki for it
(:meth:`sim.drug.Compound.tspo_ki_for`) and averages the occupancy of the two site populations for mixed binders.
Other species have a single form: their ``tspo_binder`` must stay ``high``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.params import ConfigError, check_choice, check_positive, param
from sim.core.stage import register_stage

#: rs6971 binding classes and the share of each person's TSPO sites that are of the low-affinity form [1].
TSPO_BINDER_LOW_SHARE = {"high": 0.0, "mixed": 0.5, "low": 1.0}


@register_stage("species")
@dataclass
class Species:
    """Species-level constants."""

    name: str = param("mouse", units="", long_name="animal species", source="user choice")
    body_weight_kg: float = param(
        0.025,
        units="kg",
        long_name="body weight (converts absolute doses in mg to mg/kg)",
        source="assumption: adult mouse ~25 g",
    )
    tspo_binder: str = param(
        "high",
        units="",
        long_name="rs6971 TSPO binding class (high, mixed or low affinity; humans only)",
        source="user choice; default high: the commonest class among the donors studied (46 % of brains, "
        "[owen2010]; 69 % of platelet donors, [owen2011a]) and the class of the XBD173 occupancy study [owen2014]",
    )

    def __post_init__(self) -> None:
        check_positive(self, "body_weight_kg")
        check_choice(self, "tspo_binder", TSPO_BINDER_LOW_SHARE)
        if self.tspo_binder != "high" and self.name != "human":
            raise ConfigError(
                f"species.tspo_binder = {self.tspo_binder!r} is not allowed for species {self.name!r}: the rs6971 "
                "binding classes are human; other species take 'high'"
            )

    @property
    def tspo_low_affinity_share(self) -> float:
        """Share of TSPO sites of the low-affinity (rs6971 Thr147) form: 0 high, 0.5 mixed, 1 low binders [1]."""
        return TSPO_BINDER_LOW_SHARE[self.tspo_binder]
