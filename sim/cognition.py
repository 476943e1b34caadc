r"""Cognition stage: spine density -> behavioural (memory) readouts; GABA-A agonism -> acute sedation, reported apart.

Two memory readouts, each a linear function of the relative spine deficit :math:`d = \max(0, 1 - S/S_0)`:

.. math::

    \mathrm{DI}_{\rm NOR} &= \mathrm{DI}_0\,\max(0, 1 - d/d_{\rm NOR}), \\
    \mathrm{SA} &= \mathrm{SA}_{\rm chance} + (\mathrm{SA}_0 - \mathrm{SA}_{\rm chance})\,\max(0, 1 - d/d_{\rm SA}),

where :math:`d_{\rm NOR}` and :math:`d_{\rm SA}` are the deficits at which each test falls to chance. Object
recognition is taken to depend on cortical spines far more steeply than spontaneous alternation (which relies on
hippocampal working memory); this mapping is an assumption, chosen so that the readouts can be compared with the
qualitative findings (NOR impaired, alternation spared after 1 mg/kg × 8 weeks; [shi2022]).

**Sedation is kept out of these readouts.** Acute sedation :math:`z = z_{\max}\,a^{\rm GABA_A}` (efficacy-weighted
GABA-A occupancy at in-vivo affinities, :mod:`sim.binding`) is a separate output, ``sedation``; the memory readouts
attributed to spines do not depend on any GABA-A parameter. Timing: the model reads the behavioural tests at
``sim.validation.BEHAVIOUR_TEST_DAY`` = day 56 of the low-dose arm, i.e. 24 h after the last of 56 daily i.p. doses
(days 0–55), and the high-dose comparison at day 7, 24 h after the 7th dose. The dose-to-test interval of Shi et al.
was not found. At 24 h after a dose the mouse GABA-A occupancy (and so ``sedation``) is small; a test run within hours
of a dose would be confounded by sedation, which ``sedation`` quantifies.
A readout counts as *impaired* when its drop from vehicle exceeds the minimal detectable effect of a two-group
comparison (:meth:`BehaviouralReadout.minimal_detectable_drop`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from sim.core.params import check_fraction, check_positive, param
from sim.core.stage import register_stage


@register_stage("cognition")
@dataclass
class BehaviouralReadout:
    """Novel-object recognition and spontaneous alternation from spine density; acute sedation from GABA-A agonism."""

    nor_baseline_index: float = param(
        0.30,
        units="1",
        long_name="NOR discrimination index of vehicle mice",
        source="assumption: typical mouse NOR DI 0.2-0.4; the values of [shi2022] were not found",
        symbol="DI_0",
    )
    nor_deficit_at_chance: float = param(
        0.2,
        units="1",
        long_name="relative spine deficit at which NOR falls to chance",
        source="assumption: object recognition at chance by ~20 % cortical spine loss; [shi2022] gives only the direction",
        symbol="d_NOR",
    )
    nor_between_animal_sd: float = param(
        0.15,
        units="1",
        long_name="between-animal SD of the NOR discrimination index",
        source="assumption: typical of NOR studies",
        symbol="sigma_NOR",
    )
    alternation_baseline_percent: float = param(
        70.0,
        units="%",
        long_name="spontaneous alternation of vehicle mice",
        source="assumption: typical Y-maze value",
        symbol="SA_0",
    )
    alternation_chance_percent: float = param(
        50.0,
        units="%",
        long_name="spontaneous alternation at chance",
        source="assumption: conventional chance level",
        symbol="SA_chance",
    )
    alternation_deficit_at_chance: float = param(
        1.0,
        units="1",
        long_name="relative spine deficit at which alternation falls to chance",
        source="assumption: working memory far less sensitive to cortical spine loss",
        symbol="d_SA",
    )
    alternation_between_animal_sd: float = param(
        8.0,
        units="%",
        long_name="between-animal SD of spontaneous alternation",
        source="assumption: typical of Y-maze studies",
        symbol="sigma_SA",
    )
    max_sedation: float = param(
        0.5,
        units="1",
        long_name="fractional loss of performance at full GABA-A agonism (reported as sedation, not applied to memory)",
        source="assumption: benzodiazepines sedate at high GABA-A occupancy; no mouse dose-response used",
        symbol="z_max",
    )
    animals_per_group: int = param(
        10,
        units="1",
        long_name="animals per group for the detectability criterion",
        source="assumption: typical group size; Shi et al. n not found",
        symbol="n",
    )

    def __post_init__(self) -> None:
        check_fraction(self, "nor_baseline_index", "max_sedation")
        check_positive(
            self,
            "nor_deficit_at_chance",
            "alternation_deficit_at_chance",
            "nor_between_animal_sd",
            "alternation_between_animal_sd",
            "animals_per_group",
        )
        check_positive(self, "alternation_baseline_percent", "alternation_chance_percent")

    def sedation(self, gabaa_agonism):
        """Acute fractional performance loss from GABA-A agonism [1]."""
        return self.max_sedation * np.clip(np.asarray(gabaa_agonism), 0.0, 1.0)

    def novel_object_recognition(self, relative_density_percent):
        """NOR discrimination index [1] (0 = chance) attributed to spine density [% of baseline]; no sedation term."""
        deficit = np.maximum(0.0, 1.0 - np.asarray(relative_density_percent) / 100.0)
        spine_factor = np.maximum(0.0, 1.0 - deficit / self.nor_deficit_at_chance)
        return self.nor_baseline_index * spine_factor

    def spontaneous_alternation(self, relative_density_percent):
        """Spontaneous alternation [percent] attributed to spine density [% of baseline]; no sedation term."""
        deficit = np.maximum(0.0, 1.0 - np.asarray(relative_density_percent) / 100.0)
        spine_factor = np.maximum(0.0, 1.0 - deficit / self.alternation_deficit_at_chance)
        above_chance = self.alternation_baseline_percent - self.alternation_chance_percent
        return self.alternation_chance_percent + above_chance * spine_factor

    def minimal_detectable_drop(self, between_animal_sd: float, alpha: float = 0.05, power: float = 0.8) -> float:
        """Smallest group difference a two-sided two-sample test detects with the given power [readout units]."""
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0) + NormalDist().inv_cdf(power)
        return float(z * between_animal_sd * math.sqrt(2.0 / self.animals_per_group))
