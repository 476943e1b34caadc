"""Animal species: body weight.

The induction of microglial TSPO by activation is a microglia parameter (``microglia.tspo_induction_fold``).
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

    def __post_init__(self) -> None:
        check_positive(self, "body_weight_kg")
