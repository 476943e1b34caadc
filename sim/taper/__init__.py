r"""Taper planner: how to come off a benzodiazepine with the least spine loss under a limit on withdrawal.

::

    python -m sim.taper --drug diazepam --dose-mg 15 --horizon-days 180 --withdrawal-limit 0.001 [--out DIR]
    python -m sim.taper --drug diazepam --dose-mg 15 --horizon-days 180 --withdrawal-limit-relative 0.1

    from sim.taper import plan_taper
    ds = plan_taper("diazepam", dose_mg=15.0, horizon_days=180, withdrawal_limit=0.001)

A person has taken ``dose_mg`` of ``drug`` once a day for ``run_in_days`` (default 56: long enough for the GABA-A
adaptation of :mod:`sim.tolerance`, onset half-time 5 d, to settle; an assumption about the history). From plan day 0
the planner compares strategies over ``horizon_days``:

* ``continue`` — the current dose every day (the reference);
* ``percent`` — the dose falls by ``percent_per_step`` % of the current dose every ``step_days`` days, and stops once
  it would fall below ``stop_below_percent`` % of the starting dose (default 5 %: e.g. 0.75 mg of 15 mg diazepam);
* ``linear`` — the daily dose falls linearly to zero over ``duration_days`` days (day :math:`k` gets
  :math:`D\,(1 - k/T)`);
* ``switch`` — on day 0 the drug is replaced by the clinically equivalent dose
  (:data:`sim.analysis.EQUIVALENT_ORAL_DOSE_MG`, SECONDARY) of a drug with low TSPO affinity (default clonazepam,
  see :data:`SWITCH_TO`), held for ``hold_days`` (default 14) and then tapered by percent as above (the equivalence
  ratios are human; applied to another species they are an assumption). The old drug and
  its metabolites wash out after the switch: the run is continued from the state at day 0 in a model that holds the
  compounds of both drugs and doses the new one.

Each schedule is scored by two outputs of one model run (ODE engine; for a non-mouse species the calibrated microglia
and spines with each translation parameter at the middle of its stated range,
:func:`~sim.taper.plan.translation_midpoints`):

* the **cumulative spine deficit** [% d] — :math:`\int_0^H (100 - \text{spine density relative [\%]})\,dt`, the area
  between the drug-free density and the prediction over the horizon (trapezoid rule on the output grid);
* the **withdrawal proxy** [1] — the peak of ``withdrawal_deficit`` (:mod:`sim.tolerance`: how far the GABA-A
  agonism falls below the adapted set point) from day 0 on, on the output grid (``output_step_h``, default 6 h; the
  dose times lie on it, so the trough before each once-daily dose is sampled).

**Search** (documented; scipy.optimize for the continuous parameter): a taper must end (last dose) by
``horizon_days - follow_up_days`` (default 28 d follow-up, in which the withdrawal proxy of a stop peaks). For
``percent`` and ``switch`` every step length of :data:`~sim.taper.plan.STEP_DAYS` is tried (or the one given); the
rate per step is searched as the number of reductions ``n`` that lands exactly on the floor
(:func:`percent_for_steps`), bisected between ``n = 1`` and the most that end in time for the fastest taper whose peak
withdrawal proxy meets the limit.
``linear`` searches its duration with :func:`scipy.optimize.brentq` on ``peak - limit``. Within one step length
(and within linear tapers) the withdrawal proxy falls and the spine deficit rises as a taper slows (tests/test_taper.py
checks both), so the fastest schedule that meets the limit is the best of that step length; across step lengths the
deficit need not be ordered by pace, so each step length's fastest schedule is scored and the plan is the evaluated
schedule with the least deficit among all that meet the limit (deficits within
:data:`~sim.taper.plan.DEFICIT_TIE` count as equal: the one that ends first), and every evaluated candidate is kept
in the result (dimension ``candidate``). A parameter given by the caller is fixed instead of searched; a rate
given by the caller that does not land on the floor ends with a smaller last reduction.

Bands: the chosen schedule of each single-drug strategy is run again from the start of the run-in by
:func:`sim.simulate` (a non-mouse species: posterior x translation draws, 5-95 % band of the spine density). A
switch has no band: one model run holds one drug's doses, and the hand-over between two models cannot be drawn.

Bad input (one line, exit 2, nothing written): an unknown strategy, a taper given by the caller that does not end
within the horizon, and a withdrawal limit that no taper meets (the message says which constraint binds: the dosing
itself when even continuing exceeds it, else the horizon).

This is a model proxy for teaching and research, not clinical advice: the withdrawal proxy is a receptor-adaptation
signal with rodent time scales, and human spine predictions rest on mouse microglia and spines with translation
ranges (:mod:`sim.uncertainty`).

Modules: :mod:`sim.taper.plan` (schedules, :class:`~sim.taper.plan.Planner`, the search and
:func:`~sim.taper.plan.plan_taper`, whose Dataset it builds) and :mod:`sim.taper.report` (the table, the figure,
the files and the command line); their public names are importable from ``sim.taper``.
"""

from sim.taper.plan import (
    STRATEGIES,
    SWITCH_TO,
    Evaluation,
    Planner,
    Schedule,
    linear_doses,
    percent_doses,
    percent_for_steps,
    plan_taper,
    search,
    spine_deficit,
    switch_dose_mg,
)
from sim.taper.report import main, plot_taper, summary, write

__all__ = [
    "STRATEGIES",
    "SWITCH_TO",
    "Evaluation",
    "Planner",
    "Schedule",
    "linear_doses",
    "main",
    "percent_doses",
    "percent_for_steps",
    "plan_taper",
    "plot_taper",
    "search",
    "spine_deficit",
    "summary",
    "switch_dose_mg",
    "write",
]
