"""Animal species: body weight and the species-specific microglial TSPO response.

In mouse and rat, microglial TSPO rises with pro-inflammatory activation (≈ 9-fold in vitro, Owen et al. 2017;
an AP1 site in the Muroidea promoter), whereas human microglia do not induce TSPO (fold 0.85, same source;
Nutma et al. 2023). The activation -> TSPO feedback is therefore mouse-specific and set here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.params import check_positive, param
from sim.core.stage import register_stage


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
    tspo_induction_fold: float = param(
        9.0,
        units="1",
        long_name="microglial TSPO expression at full activation relative to resting",
        source="Owen et al. 2017 JCBFM 37:2679: ~9-fold in rodent myeloid cells (pharmacology-addendum Gap 6)",
    )

    def __post_init__(self) -> None:
        check_positive(self, "body_weight_kg", "tspo_induction_fold")
