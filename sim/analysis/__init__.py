"""Derived readouts of simulation results: one definition of each, shared by every application.

The analysis layer sits above :func:`sim.simulate` and below the applications (:mod:`sim.validation`,
:mod:`sim.teaching`, :mod:`sim.comparison`, :mod:`sim.calibrate`, ...) and :mod:`sim.plotting`. It imports only
:mod:`sim.core`, numpy and xarray — never the model, the engines, :mod:`sim.run` or an application — so that it
can read a result written by any version of the model (``pyproject.toml`` ``[tool.importlinter]`` checks this).

* :mod:`sim.analysis.loss`: :func:`deficit` against the matched control run (or the drug-free baseline),
  :func:`deficit_at`, :func:`max_deficit`, :func:`recovery_day`, :func:`last_dose_day`;
* :mod:`sim.analysis.turnover`: expected spines gained and lost per imaging interval;
* :mod:`sim.analysis.summary`: the summary values of one run (:func:`summary_values`, :func:`summarize`);
* :mod:`sim.analysis.equivalence`: the clinical dose-equivalence table;
* :data:`DERIVED`: name -> (function, units, long_name) of every derived output, beside
  :data:`sim.core.results.OUTPUTS`.
"""

from __future__ import annotations

from sim.analysis.equivalence import EQUIVALENCE_SOURCE, EQUIVALENT_ORAL_DOSE_MG, equivalent_doses
from sim.analysis.loss import (
    RECOVERY_THRESHOLD_PERCENT,
    covers,
    deficit,
    deficit_at,
    dose_events,
    last_dose_day,
    max_deficit,
    recovery_day,
)
from sim.analysis.registry import DERIVED, Derived
from sim.analysis.summary import SUMMARY, behaviour_test_day, summarize, summary_values
from sim.analysis.turnover import (
    elimination_per_interval,
    formation_per_interval,
    gained_fraction,
    interval_turnover,
    lost_fraction,
)

__all__ = [
    "DERIVED",
    "EQUIVALENCE_SOURCE",
    "EQUIVALENT_ORAL_DOSE_MG",
    "RECOVERY_THRESHOLD_PERCENT",
    "SUMMARY",
    "Derived",
    "behaviour_test_day",
    "covers",
    "deficit",
    "deficit_at",
    "dose_events",
    "elimination_per_interval",
    "equivalent_doses",
    "formation_per_interval",
    "gained_fraction",
    "interval_turnover",
    "last_dose_day",
    "lost_fraction",
    "max_deficit",
    "recovery_day",
    "summarize",
    "summary_values",
]
