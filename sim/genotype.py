"""Genotype: which receptors the animal has.

``wt`` (wild type), ``tspo_ko`` (global TSPO knockout [banati2014], used by [shi2022]) and
``gabaa_bz_insensitive`` (benzodiazepine-insensitive GABA-A receptors, e.g. the α-subunit H→R knock-ins of
[ralvenius2015]; the exact line used by Shi et al. is not verified).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.params import check_fraction, param
from sim.core.stage import register_stage

GENOTYPES = ("wt", "tspo_ko", "gabaa_bz_insensitive")


@register_stage("genotype")
@dataclass
class Genotype:
    """Receptor expression of the simulated animals."""

    name: str = param("wt", units="", long_name="genotype name", source="user choice")
    tspo_expression: float = param(
        1.0,
        units="1",
        long_name="TSPO expression relative to wild type (0: knockout)",
        source="wild type = 1; global TSPO knockout = 0 ([banati2014], the line used by [shi2022])",
    )
    gabaa_bz_sensitivity: float = param(
        1.0,
        units="1",
        long_name="fraction of GABA-A receptors with a functional benzodiazepine site",
        source="wild type = 1; H->R knock-in = 0 (point-mutated lines of [ralvenius2015]; "
        "which line [shi2022] used is not verified)",
    )

    def __post_init__(self) -> None:
        check_fraction(self, "tspo_expression", "gabaa_bz_sensitivity")
