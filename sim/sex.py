"""Sex of the simulated animals: where the data of the two sexes differ.

Male and female mice respond differently to chronic stress: 14 days of chronic unpredictable stress (CUS) lowered
dendritic spine density in medial prefrontal cortex, raised microglial phagocytosis markers and neuronal remodelling
by microglia, and perturbed neuroimmune factors in males only; after 28 days of CUS the male spine deficit persisted
while female density stayed unaltered ([woodburn2021]). The stress stage reads the sex to scale the CSF1 response
to stress (:attr:`sim.stress.ChronicStress.female_csf1_response`); the sex stage itself holds no number.

Everything else is assumed the same in both sexes (an assumption: the sex of the animals of [shi2022] could not be
verified from the accessible text, and no sex difference in diazepam's TSPO arm or in mouse diazepam kinetics is
modelled).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.params import ConfigError, param
from sim.core.stage import register_stage

SEXES = ("male", "female")


@register_stage("sex")
@dataclass
class Sex:
    """Sex of the simulated animals (``sex=male|female``)."""

    name: str = param(
        "male",
        units="",
        long_name="sex of the simulated animals",
        source="user choice; male is the sex of [bollinger2020]",
    )

    def __post_init__(self) -> None:
        if self.name not in SEXES:
            raise ConfigError(f"sex.name = {self.name!r} is not allowed: choose one of {', '.join(SEXES)}")

    @property
    def female(self) -> bool:
        """True for female animals."""
        return self.name == "female"


__all__ = ["SEXES", "Sex"]
