"""Taper planner, search and evaluation: schedules, the :class:`Planner`, :func:`search` and :func:`plan_taper`.

The strategies, scores, search and bands are described in :mod:`sim.taper`; the table, figure, files and command line
are in :mod:`sim.taper.report`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy.optimize import brentq

from sim import library, presets
from sim.analysis import EQUIVALENCE_SOURCE, EQUIVALENT_ORAL_DOSE_MG
from sim.checks import check_plausible_dose
from sim.core import __version__
from sim.core.params import ConfigError
from sim.core.results import CONVENTIONS, git_state
from sim.dosing import DosingRegimen
from sim.drug import Drug
from sim.engines.ode import OdeEngine
from sim.model import PruningModel
from sim.run import CALIBRATED_SPECIES, simulate_model

#: Strategies of :func:`plan_taper`.
STRATEGIES = ("continue", "percent", "linear", "switch")

#: Default drug to switch to: the lowest TSPO affinity that was measured in both species among the drugs with an
#: equivalent dose (clonazepam: mouse Ki 30 uM, [pmid6521970]; human Ki > 10 uM, [fares1986]); lorazepam's and
#: alprazolam's 10 uM are assumptions, oxazepam's was measured in rat only and its half-life is short.
SWITCH_TO = "clonazepam"

#: Step lengths searched for percent tapers [d] (weekly, fortnightly, four-weekly).
STEP_DAYS = (7, 14, 28)

#: Defaults of the plan (assumptions, reasoned in the package docstring): days on the current dose before plan day 0
#: [d], days after a taper's last dose within the horizon [d], days on the new drug before a switch's taper [d], the
#: floor a percent taper stops from [% of the starting dose], output grid [h].
RUN_IN_DAYS = 56
FOLLOW_UP_DAYS = 28
HOLD_DAYS = 14
STOP_BELOW_PERCENT = 5.0
OUTPUT_STEP_H = 6.0

#: Relative tolerance of the brentq search over a linear taper's duration.
RATE_TOLERANCE = 0.01

#: Deficits closer than this count as equal [% d]; the schedule that ends first is then preferred (less time on a
#: drug, a cost the model does not score).
DEFICIT_TIE = 1.0

DISCLAIMER = "model proxy for research and teaching, not clinical advice"


# ---------------------------------------------------------------------------------------------------- schedules
@dataclasses.dataclass(frozen=True)
class Schedule:
    """Daily doses of one strategy from plan day 0: ``doses_mg[k]`` [mg] taken on day ``k`` of ``drug``."""

    strategy: str
    drug: str
    doses_mg: tuple[float, ...]
    percent_per_step: float = math.nan  # [%]
    step_days: float = math.nan  # [d]
    duration_days: float = math.nan  # [d] (linear)

    @property
    def last_dose_day(self) -> float:
        """Day of the last non-zero dose [d] (-1 if none)."""
        days = np.nonzero(np.asarray(self.doses_mg) > 0)[0]
        return float(days[-1]) if days.size else -1.0

    def label(self) -> str:
        """Short description, e.g. ``percent 12.5 %/14 d``."""
        if self.strategy == "switch" and math.isfinite(self.percent_per_step):
            return f"switch to {self.drug}, then {self.percent_per_step:.3g} %/{self.step_days:g} d"
        if self.strategy == "percent" and math.isfinite(self.percent_per_step):
            return f"percent {self.percent_per_step:.3g} %/{self.step_days:g} d"
        if self.strategy == "linear":
            return f"linear over {self.duration_days:.3g} d"
        return self.strategy


def percent_doses(
    dose_mg: float, days: int, percent: float, step_days: float, start_day: int = 0, stop_below: float = 5.0
) -> np.ndarray:
    """Daily doses [mg] of a percent taper over ``days`` days.

    ``dose_mg`` until ``start_day``, then ``dose_mg * (1 - percent/100)**j`` in step ``j`` (``step_days`` long) until
    the first step at or below ``stop_below`` % of ``dose_mg``, which is held at exactly that floor; zero after it.
    With ``percent = percent_for_steps(n)`` step ``n`` lands on the floor and the last dose is the same for every
    ``n``; another rate ends with a smaller last reduction (a saw-tooth in the final stop).
    """
    if not 0.0 < percent <= 100.0:
        raise ConfigError(f"percent_per_step = {percent!r} is not allowed: it must lie in (0, 100]")
    if not step_days >= 1.0:
        raise ConfigError(f"step_days = {step_days!r} is not allowed: it must be at least 1 day")
    k = np.arange(days, dtype=float)
    steps = np.floor(np.maximum(k - start_day, 0.0) / step_days + 1e-9)
    floor = stop_below / 100.0
    factor = (1.0 - percent / 100.0) ** steps
    at_floor = factor <= floor * (1.0 + 1e-9)
    last = steps[at_floor].min() if at_floor.any() else math.inf
    return np.where(steps < last, dose_mg * factor, np.where(steps == last, dose_mg * floor, 0.0))


def percent_for_steps(steps: int, stop_below: float = STOP_BELOW_PERCENT) -> float:
    """Reduction per step [%] that reaches ``stop_below`` % of the starting dose in exactly ``steps`` steps."""
    return 100.0 * (1.0 - (stop_below / 100.0) ** (1.0 / steps))


def linear_doses(dose_mg: float, days: int, duration_days: float) -> np.ndarray:
    """Daily doses [mg]: ``dose_mg * (1 - k / duration_days)`` on day ``k`` while positive, then zero."""
    if not duration_days >= 1.0:
        raise ConfigError(f"duration_days = {duration_days!r} is not allowed: it must be at least 1 day")
    k = np.arange(days, dtype=float)
    return np.maximum(dose_mg * (1.0 - k / duration_days), 0.0)


def switch_dose_mg(drug: str, dose_mg: float, switch_to: str) -> float:
    """Dose of ``switch_to`` [mg] clinically equivalent to ``dose_mg`` of ``drug`` (:data:`EQUIVALENT_ORAL_DOSE_MG`)."""
    for name in (drug, switch_to):
        if name not in EQUIVALENT_ORAL_DOSE_MG:
            raise ConfigError(
                f"switch needs an equivalent dose of {name!r}: choose drugs of {', '.join(EQUIVALENT_ORAL_DOSE_MG)}"
            )
    if switch_to == drug:
        raise ConfigError(f"switch_to = {switch_to!r} is not allowed: it is the current drug")
    return dose_mg * EQUIVALENT_ORAL_DOSE_MG[switch_to] / EQUIVALENT_ORAL_DOSE_MG[drug]


# ---------------------------------------------------------------------------------------------------- simulation
@dataclasses.dataclass
class _Continued(PruningModel):
    """A model whose time zero is the end of an earlier run: it starts from that run's state."""

    start_state: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def initial_state(self) -> np.ndarray:
        """The state handed over [state units]."""
        return np.array(self.start_state, dtype=float)


def translation_midpoints(run) -> dict[str, object]:
    """Stages of ``run`` with each translation parameter at the middle of its stated range (none for mice).

    Geometric middle of a log-uniform range, arithmetic of a uniform one (``sim/configs/translation/``); the fixed
    translation values (e.g. ``microglia.tspo_induction_fold``) are already in the composed run.
    """
    stages: dict[str, object] = {}
    for key, bounds in run.translation.ranges.items():
        group, name = key.replace("__", ".").split(".")
        if bounds.distribution == "log-uniform":
            middle = math.sqrt(bounds.low * bounds.high)
        else:
            middle = 0.5 * (bounds.low + bounds.high)
        stages[group] = dataclasses.replace(stages.get(group, getattr(run, group)), **{name: middle})
    return stages


def _regimen(doses_mg: Sequence[float], body_weight_kg: float) -> DosingRegimen:
    """Once-daily oral doses on plan days ``k`` (``doses_mg[k]`` [mg]) as an explicit-day regimen (mg/kg amounts)."""
    doses = np.asarray(doses_mg, dtype=float)
    days = np.nonzero(doses > 0)[0]
    if not days.size:
        return DosingRegimen(route="oral", dose_mg_per_kg=0.0, stop_day=1.0, source="taper plan: no dose")
    return DosingRegimen(
        route="oral",
        dose_mg_per_kg=float(doses.max() / body_weight_kg),
        dose_days=[float(d) for d in days],
        dose_amounts_mg_per_kg=[float(a) for a in doses[days] / body_weight_kg],
        source="taper plan (sim.taper): once-daily oral doses",
    )


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Scores of one schedule: cumulative spine deficit [% d], peak withdrawal proxy [1] and the trajectories."""

    schedule: Schedule
    spine_deficit: float
    withdrawal_peak: float
    result: xr.Dataset


class Planner:
    """Runs the history once per drug and scores schedules from plan day 0 (results remembered per schedule)."""

    def __init__(
        self,
        drug: str,
        dose_mg: float | None,
        horizon_days: int,
        species: str = "human",
        switch_to: str = SWITCH_TO,
        run_in_days: int = RUN_IN_DAYS,
        output_step_h: float = OUTPUT_STEP_H,
        dose_mg_per_kg: float | None = None,
    ) -> None:
        _check_number("horizon_days", horizon_days, integer=True)
        _check_number("run_in_days", run_in_days, integer=True)
        _check_number("output_step_h", output_step_h)
        self.drug, self.horizon_days = drug, int(horizon_days)
        self.species, self.switch_to, self.run_in_days = species, switch_to, int(run_in_days)
        self.output_step_h = float(output_step_h)
        self.base = self._model(drug)
        self.body_weight_kg = float(self.base.species.body_weight_kg)
        if (dose_mg is None) == (dose_mg_per_kg is None):
            raise ConfigError(
                f"dose_mg = {dose_mg!r} and dose_mg_per_kg = {dose_mg_per_kg!r}: give the current daily dose in exactly "
                "one unit"
            )
        if dose_mg is None:
            _check_number("dose_mg_per_kg", dose_mg_per_kg)
            dose_mg = float(dose_mg_per_kg) * self.body_weight_kg
        _check_number("dose_mg", dose_mg)
        self.dose_mg = float(dose_mg)
        history = dataclasses.replace(
            self.base, regimen=_regimen([self.dose_mg] * self.run_in_days, self.body_weight_kg)
        )
        end_h = 24.0 * self.run_in_days
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the species caveat is said once, in the result's attributes
            self.history = simulate_model(history, np.arange(0.0, end_h + 1e-9, self.output_step_h))  # checks the dose
        self.start_state = OdeEngine().integrate(history, np.array([end_h]))[:, -1]
        self._switched: PruningModel | None = None
        self._cache: dict[Schedule, Evaluation] = {}

    def _model(self, drug: str) -> PruningModel:
        run = presets.from_overrides([f"species={self.species}", f"drug={drug}", "tolerance=adaptive"])
        return dataclasses.replace(run.model(), **translation_midpoints(run))

    def switched_model(self) -> PruningModel:
        """The model after a switch: the compounds of both drugs, the new one dosed (its PK route constants)."""
        if self._switched is None:
            new = self._model(self.switch_to)
            drug = Drug(name=self.switch_to, compounds={**self.base.drug.compounds, **new.drug.compounds})
            pk = dataclasses.replace(new.pk, compounds={**self.base.pk.compounds, **new.pk.compounds})
            dose = switch_dose_mg(self.drug, self.dose_mg, self.switch_to)
            plain = dataclasses.replace(new, regimen=_regimen([dose], self.body_weight_kg))
            check_plausible_dose(plain, 1.0, library.max_daily_dose(self.switch_to, self.species))
            self._switched = dataclasses.replace(new, drug=drug, pk=pk)
        return self._switched

    def schedule(self, strategy: str, **parameters: float) -> Schedule:
        """The :class:`Schedule` of ``strategy`` with its parameters (``percent_per_step``, ``step_days``, ...)."""
        days, dose = self.horizon_days, self.dose_mg
        if strategy == "continue":
            return Schedule("continue", self.drug, tuple(np.full(days, dose)))
        if strategy == "percent":
            p, s = parameters["percent_per_step"], parameters["step_days"]
            doses = percent_doses(dose, days, p, s, stop_below=parameters.get("stop_below", STOP_BELOW_PERCENT))
            return Schedule("percent", self.drug, tuple(doses), percent_per_step=p, step_days=s)
        if strategy == "linear":
            t = parameters["duration_days"]
            return Schedule("linear", self.drug, tuple(linear_doses(dose, days, t)), duration_days=t)
        if strategy == "switch":
            p, s = parameters["percent_per_step"], parameters["step_days"]
            hold = int(parameters.get("hold_days", HOLD_DAYS))
            new = switch_dose_mg(self.drug, dose, self.switch_to)
            doses = percent_doses(new, days, p, s, hold, parameters.get("stop_below", STOP_BELOW_PERCENT))
            return Schedule("switch", self.switch_to, tuple(doses), percent_per_step=p, step_days=s)
        raise ConfigError(f"strategy = {strategy!r} is not allowed: choose one of {', '.join(STRATEGIES)}")

    def evaluate(self, schedule: Schedule) -> Evaluation:
        """Run ``schedule`` from the end of the history and score it (remembered)."""
        if schedule not in self._cache:
            if schedule.drug == self.drug:
                model, start = self.base, self.start_state
            else:
                model = self.switched_model()
                before = self.base.state_names
                start = np.array([self.start_state[before.index(n)] if n in before else 0.0 for n in model.state_names])
            model = _Continued(
                **{f.name: getattr(model, f.name) for f in dataclasses.fields(PruningModel) if f.name != "regimen"},
                regimen=_regimen(schedule.doses_mg, self.body_weight_kg),
                start_state=start,
            )
            times_h = np.arange(0.0, 24.0 * self.horizon_days + 1e-9, self.output_step_h)
            ds = OdeEngine().simulate(model, times_h)
            self._cache[schedule] = Evaluation(schedule, spine_deficit(ds), float(ds["withdrawal_deficit"].max()), ds)
        return self._cache[schedule]

    @property
    def evaluations(self) -> list[Evaluation]:
        """Every schedule scored so far, in order."""
        return list(self._cache.values())


def _check_number(key: str, value, integer: bool = False) -> None:
    """Refuse ``value`` unless it is a finite positive number (an integer if ``integer``)."""
    ok = (
        isinstance(value, (int, float, np.number))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
    if not ok or (integer and float(value) != int(value)):
        kind = "a positive whole number" if integer else "a finite positive number"
        raise ConfigError(f"{key} = {value!r} is not allowed: it must be {kind}")


def spine_deficit(ds: xr.Dataset, start_day: float = 0.0) -> np.ndarray | float:
    """Cumulative spine deficit [% d] from ``start_day``: the integral of ``100 - spine_density_relative`` over time.

    Trapezoid rule on the output grid; one value per leading index (e.g. per draw) if the density has more dimensions.
    """
    density = ds["spine_density_relative"].where(ds["time"] >= start_day - 1e-9, drop=True)
    loss = 100.0 - density.transpose(..., "time").values
    days = density["time"].values
    total = np.sum(0.5 * (loss[..., 1:] + loss[..., :-1]) * np.diff(days), axis=-1)
    return float(total) if np.ndim(total) == 0 else total


# ---------------------------------------------------------------------------------------------------- search
def _latest_end(planner: Planner, follow_up_days: int) -> int:
    return planner.horizon_days - int(follow_up_days)


def _search_rate(planner: Planner, strategy: str, step_days: float, limit: float, end: int, hold: int) -> None:
    """Bisect the number of reductions ``n`` (rate :func:`percent_for_steps`) for the fastest taper meeting ``limit``.

    ``n`` runs from 1 (one reduction to the floor) to the most that end by day ``end``; the withdrawal proxy falls as
    ``n`` grows (tested), so the bisection keeps the smallest ``n`` whose peak is at most the limit.
    """
    slowest = math.floor((end - hold + 1) / step_days) - 1  # n reductions + the floor step end by day `end`
    if slowest < 1:
        return

    def meets(n: int) -> bool:
        one = planner.schedule(strategy, percent_per_step=percent_for_steps(n), step_days=step_days, hold_days=hold)
        return planner.evaluate(one).withdrawal_peak <= limit

    fast, slow = 1, slowest
    if not meets(slow) or meets(fast):
        return
    while slow - fast > 1:
        mid = (fast + slow) // 2
        if meets(mid):
            slow = mid
        else:
            fast = mid


def _search_linear(planner: Planner, limit: float, end: int) -> None:
    def gap(duration: float) -> float:
        return planner.evaluate(planner.schedule("linear", duration_days=duration)).withdrawal_peak - limit

    slowest = float(end + 1)  # the last positive dose falls on day `end`
    if gap(slowest) > 0 or gap(1.0) <= 0:
        return
    brentq(gap, 1.0, slowest, rtol=RATE_TOLERANCE, xtol=0.5)


def _fixed(planner: Planner, strategy: str, end: int, **parameters: float) -> Schedule:
    one = planner.schedule(strategy, **parameters)
    if one.last_dose_day > end:
        given = ", ".join(f"{k} = {v:g}" for k, v in parameters.items() if k != "hold_days" or strategy == "switch")
        raise ConfigError(
            f"{strategy} taper with {given} is not allowed: its last dose falls on day {one.last_dose_day:g}, after day "
            f"{end} (horizon_days - follow_up_days): it does not reach zero within the horizon; taper faster or give a "
            "longer horizon"
        )
    planner.evaluate(one)
    return one


def least_deficit(evaluations: Sequence[Evaluation]) -> Evaluation:
    """The evaluation with the least spine deficit; within :data:`DEFICIT_TIE` of it, the one that ends first."""
    smallest = min(e.spine_deficit for e in evaluations)
    near = [e for e in evaluations if e.spine_deficit <= smallest + DEFICIT_TIE]
    return min(near, key=lambda e: (e.schedule.last_dose_day, e.spine_deficit))


def _check_strategies(strategies: Sequence[str]) -> tuple[str, ...]:
    if isinstance(strategies, str):
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    for strategy in strategies:
        if strategy not in STRATEGIES:
            raise ConfigError(f"strategy = {strategy!r} is not allowed: choose one of {', '.join(STRATEGIES)}")
    if not strategies:
        raise ConfigError(f"strategies = [] is not allowed: choose one or more of {', '.join(STRATEGIES)}")
    return tuple(dict.fromkeys(strategies))


def search(
    planner: Planner,
    strategies: Sequence[str],
    withdrawal_limit: float,
    *,
    percent_per_step: float | None = None,
    step_days: float | None = None,
    duration_days: float | None = None,
    follow_up_days: int = FOLLOW_UP_DAYS,
    hold_days: int = HOLD_DAYS,
) -> dict[str, Evaluation]:
    """The best evaluated schedule of each strategy (least deficit among those meeting the limit, see the module).

    Raises :class:`ConfigError` for a taper given by the caller that does not end in time and for a limit no taper
    meets (naming the binding constraint).
    """
    end = _latest_end(planner, follow_up_days)
    if end < 1:
        raise ConfigError(
            f"horizon_days = {planner.horizon_days} is not allowed with follow_up_days = {follow_up_days}: no taper "
            "can end within the horizon and be followed up; give a longer horizon"
        )
    best: dict[str, Evaluation] = {}
    for strategy in strategies:
        before = len(planner.evaluations)
        if strategy == "continue":
            planner.evaluate(planner.schedule("continue"))
        elif strategy == "linear":
            if duration_days is not None:
                _fixed(planner, "linear", end, duration_days=duration_days)
            else:
                _search_linear(planner, withdrawal_limit, end)
        else:
            hold = hold_days if strategy == "switch" else 0
            if percent_per_step is not None:
                steps = [step_days or STEP_DAYS[0]]
                for s in steps:
                    _fixed(planner, strategy, end, percent_per_step=percent_per_step, step_days=s, hold_days=hold)
            else:
                for s in [step_days] if step_days else STEP_DAYS:
                    _search_rate(planner, strategy, s, withdrawal_limit, end, hold)
        mine = [e for e in planner.evaluations[before:] if e.schedule.strategy == strategy]
        mine = [e for e in mine if e.schedule.last_dose_day <= end or strategy == "continue"]
        if not mine:
            continue
        feasible = [e for e in mine if e.withdrawal_peak <= withdrawal_limit]
        best[strategy] = least_deficit(feasible) if feasible else min(mine, key=lambda e: e.withdrawal_peak)
    tapers = [s for s in strategies if s != "continue"]
    met = [s for s, e in best.items() if e.withdrawal_peak <= withdrawal_limit]
    if any(s in tapers for s in met) or (not tapers and met):
        return best
    held = planner.evaluate(planner.schedule("continue"))
    if held.withdrawal_peak > withdrawal_limit:
        raise ConfigError(
            f"withdrawal_limit = {withdrawal_limit:g} cannot be met: continuing {planner.dose_mg:g} mg "
            f"({planner.dose_mg / planner.body_weight_kg:.3g} mg/kg) of "
            f"{planner.drug} once daily already reaches a withdrawal proxy of {held.withdrawal_peak:.3g} between "
            "doses; the dosing itself binds, not the taper"
        )
    listed = "; ".join(
        f"{best[s].schedule.label()} peaks at {best[s].withdrawal_peak:.3g}" for s in tapers if s in best
    )
    raise ConfigError(
        f"withdrawal_limit = {withdrawal_limit:g} cannot be met by any taper: the horizon binds; the slowest tapers "
        f"that end by day {end} (horizon_days {planner.horizon_days} - follow_up_days {follow_up_days}) exceed it "
        f"({listed or 'none fits'}); give a longer horizon or a higher limit (percent and switch tapers end with a stop "
        f"from {STOP_BELOW_PERCENT:g} % of the starting dose, which a longer horizon does not remove)"
    )


# ---------------------------------------------------------------------------------------------------- plan
def plan_taper(
    drug: str,
    dose_mg: float | None = None,
    horizon_days: int = 180,
    strategies: Sequence[str] = STRATEGIES,
    withdrawal_limit: float | None = None,
    *,
    dose_mg_per_kg: float | None = None,
    species: str = "human",
    switch_to: str = SWITCH_TO,
    percent_per_step: float | None = None,
    step_days: float | None = None,
    duration_days: float | None = None,
    run_in_days: int = RUN_IN_DAYS,
    follow_up_days: int = FOLLOW_UP_DAYS,
    hold_days: int = HOLD_DAYS,
    output_step_h: float = OUTPUT_STEP_H,
    bands: bool = True,
    withdrawal_limit_relative: float | None = None,
) -> xr.Dataset:
    """Compare taper strategies for ``drug`` at ``dose_mg`` [mg/day] and pick the plan (see the module docstring).

    Parameters
    ----------
    drug, dose_mg, dose_mg_per_kg
        Current drug and daily dose, once daily by mouth: ``dose_mg`` [mg] or ``dose_mg_per_kg`` [mg/kg].
    horizon_days
        Days from plan day 0 over which the spine deficit is integrated [d].
    strategies
        Any of :data:`STRATEGIES` (a list or a comma-separated string).
    withdrawal_limit, withdrawal_limit_relative
        Largest allowed peak of the withdrawal proxy ``withdrawal_deficit`` from day 0 on: absolute [1], or relative
        to the peak of an abrupt stop on day 0 of the same drug and dose [fraction; e.g. 0.1 = a tenth of it]. Give
        exactly one.
    percent_per_step, step_days, duration_days
        Fix a parameter instead of searching it [%, d, d].
    run_in_days, follow_up_days, hold_days
        Days on the current dose before day 0; days after a taper's last dose within the horizon; days on the new
        drug before a switch's taper starts [d].
    bands
        Run the chosen single-drug schedules over the uncertainty draws (non-mouse species) for 5-95 % bands.

    Returns
    -------
    xarray.Dataset
        Per strategy (dimension ``strategy``): the daily doses, trajectories from ``-run_in_days`` to the horizon,
        scores, parameters; every evaluated candidate (dimension ``candidate``); the plan in ``attrs["plan"]``.
    """
    start = time.perf_counter()
    strategies = _check_strategies(strategies)
    if (withdrawal_limit is None) == (withdrawal_limit_relative is None):
        raise ConfigError(
            f"withdrawal_limit = {withdrawal_limit!r}, withdrawal_limit_relative = {withdrawal_limit_relative!r} is not "
            "allowed: give exactly one (absolute [1], or a fraction of the abrupt stop's peak)"
        )
    if withdrawal_limit_relative is not None:
        _check_number("withdrawal_limit_relative", withdrawal_limit_relative)
    else:
        _check_number("withdrawal_limit", withdrawal_limit)
    for key, value in (
        ("percent_per_step", percent_per_step),
        ("step_days", step_days),
        ("duration_days", duration_days),
    ):
        if value is not None:
            _check_number(key, value)
    for key, value in (("follow_up_days", follow_up_days), ("hold_days", hold_days)):
        if not (isinstance(value, int) and value >= 0):
            raise ConfigError(f"{key} = {value!r} is not allowed: it must be a whole number of days >= 0")
    if "switch" in strategies:
        switch_dose_mg(drug, 1.0, switch_to)  # refuses drugs without an equivalent dose before anything runs
    planner = Planner(drug, dose_mg, horizon_days, species, switch_to, run_in_days, output_step_h, dose_mg_per_kg)
    abrupt = planner.evaluate(Schedule("abrupt stop (reference)", drug, tuple(np.zeros(planner.horizon_days))))
    if withdrawal_limit_relative is not None:
        withdrawal_limit = withdrawal_limit_relative * abrupt.withdrawal_peak
    best = search(
        planner,
        strategies,
        float(withdrawal_limit),
        percent_per_step=percent_per_step,
        step_days=step_days,
        duration_days=duration_days,
        follow_up_days=follow_up_days,
        hold_days=hold_days,
    )
    band = {s: _band(planner, e.schedule) for s, e in best.items() if bands and e.schedule.drug == drug}
    ds = to_dataset(planner, best, band, float(withdrawal_limit), follow_up_days, hold_days)
    ds.attrs["abrupt_stop_withdrawal_proxy_peak"] = abrupt.withdrawal_peak
    ds.attrs["abrupt_stop_spine_deficit"] = abrupt.spine_deficit
    if withdrawal_limit_relative is not None:
        ds.attrs["withdrawal_limit_relative"] = float(withdrawal_limit_relative)
    ds.attrs["run_time_s"] = round(time.perf_counter() - start, 1)
    return ds


def _band(planner: Planner, schedule: Schedule, draws: int | None = None) -> xr.Dataset | None:
    """Spine-density band of ``schedule`` from the start of the history (:func:`sim.simulate`), or None for mice.

    ``draws``: posterior x translation draws (default: the packaged ``uncertainty.draws``, 200); the same seed, so the
    same parameter rows, for every schedule (paired draws). The time axis is plan days (negative: the history).
    """
    if planner.species == CALIBRATED_SPECIES:
        return None
    import sim

    days = planner.run_in_days + planner.horizon_days
    fewer = [] if draws is None else [f"uncertainty.draws={draws}"]
    run = presets.from_overrides(
        [f"species={planner.species}", f"drug={planner.drug}", "tolerance=adaptive", f"duration_days={days}",
         f"output_step_h={planner.output_step_h:g}", *fewer]
    )  # fmt: skip
    doses = [planner.dose_mg] * planner.run_in_days + list(schedule.doses_mg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = sim.simulate(dataclasses.replace(run, regimen=_regimen(doses, planner.body_weight_kg)))
    return ds.assign_coords(time=ds["time"].values - planner.run_in_days)


def _trajectories(planner: Planner, evaluation: Evaluation, name: str) -> np.ndarray:
    history = planner.history[name].values[:-1]
    return np.concatenate([history, evaluation.result[name].values])


TRAJECTORIES = {
    "spine_density_relative": ("%", "spine density relative to the drug-free baseline (central line, one run)"),
    "withdrawal_deficit": ("1", "withdrawal proxy: GABA-A agonism below the adapted set point"),
    "tspo_occupancy": ("1", "TSPO occupancy (all compounds)"),
    "gabaa_occupancy": ("1", "GABA-A benzodiazepine-site occupancy (all compounds)"),
}


def to_dataset(
    planner: Planner,
    best: dict[str, Evaluation],
    band: dict[str, xr.Dataset | None],
    limit: float,
    follow_up_days: int,
    hold_days: int,
) -> xr.Dataset:
    """The plan as a Dataset with units, long names and provenance (see :func:`plan_taper`)."""
    names = list(best)
    times = np.concatenate(
        [planner.history["time"].values[:-1] - planner.run_in_days, best[names[0]].result["time"].values]
    )
    data: dict[str, xr.Variable] = {}
    data["dose_mg"] = xr.Variable(
        ("strategy", "day"),
        np.array([best[s].schedule.doses_mg for s in names]),
        {"units": "mg", "long_name": "daily dose of the drug taken (once daily by mouth) on each plan day"},
    )
    for name, (units, long_name) in TRAJECTORIES.items():
        data[name] = xr.Variable(
            ("strategy", "time"), np.array([_trajectories(planner, best[s], name) for s in names]),
            {"units": units, "long_name": long_name},
        )  # fmt: skip
    for suffix, words in (("q05", "5th percentile"), ("median", "median"), ("q95", "95th percentile")):
        rows = []
        for s in names:
            one = band.get(s)
            key = f"spine_density_relative_{suffix}"
            rows.append(
                np.full(times.size, np.nan) if one is None or key not in one else one[key].interp(time=times).values
            )
        data[f"spine_density_relative_{suffix}"] = xr.Variable(
            ("strategy", "time"), np.array(rows),
            {"units": "%", "long_name": f"spine density relative to baseline, {words} over draws (NaN: no band)"},
        )  # fmt: skip
    scores = {
        "cumulative_spine_deficit": (
            "% d",
            "integral of 100 - spine density relative over the horizon",
            "spine_deficit",
        ),
        "withdrawal_proxy_peak": ("1", "peak of the withdrawal proxy from day 0 on", "withdrawal_peak"),
    }
    for name, (units, long_name, attr) in scores.items():
        data[name] = xr.Variable(
            "strategy", [getattr(best[s], attr) for s in names], {"units": units, "long_name": long_name}
        )
    for suffix, q, words in (
        ("q05", 0.05, "5th percentile"),
        ("median", 0.5, "median"),
        ("q95", 0.95, "95th percentile"),
    ):
        values = [
            float(np.nanquantile(spine_deficit(band[s]), q)) if band.get(s) is not None else np.nan for s in names
        ]
        data[f"cumulative_spine_deficit_{suffix}"] = xr.Variable(
            "strategy",
            values,
            {"units": "% d", "long_name": f"cumulative spine deficit, {words} over draws (NaN: no band)"},
        )
    data["meets_limit"] = xr.Variable(
        "strategy", np.array([best[s].withdrawal_peak <= limit for s in names], dtype=np.int8),
        {"units": "1", "long_name": "1 if the peak withdrawal proxy is at most the limit, else 0"},
    )  # fmt: skip
    parameters = {
        "percent_per_step": ("%", "dose reduction per step, % of the current dose (NaN: not a percent taper)"),
        "step_days": ("d", "days per taper step (NaN: not a percent taper)"),
        "duration_days": ("d", "days of a linear taper (NaN: not a linear taper)"),
        "last_dose_day": ("d", "plan day of the last dose (-1: none)"),
    }
    for name, (units, long_name) in parameters.items():
        data[name] = xr.Variable(
            "strategy",
            [float(getattr(best[s].schedule, name)) for s in names],
            {"units": units, "long_name": long_name},
        )
    evaluated = planner.evaluations
    for name, (units, long_name) in parameters.items():
        data[f"candidate_{name}"] = xr.Variable(
            "candidate",
            [float(getattr(e.schedule, name)) for e in evaluated],
            {"units": units, "long_name": f"evaluated schedule: {long_name}"},
        )
    for name, (units, long_name, attr) in scores.items():
        data[f"candidate_{name}"] = xr.Variable(
            "candidate",
            [getattr(e, attr) for e in evaluated],
            {"units": units, "long_name": f"evaluated schedule: {long_name}"},
        )
    coords = {
        "strategy": ("strategy", names, {"long_name": "taper strategy"}),
        "day": ("day", np.arange(planner.horizon_days, dtype=float), {"units": "d", "long_name": "plan day"}),
        "time": ("time", times, {"units": "d", "long_name": "time since plan day 0 (negative: on the current dose)"}),
        "candidate": ("candidate", np.arange(len(evaluated)), {"units": "1", "long_name": "evaluated schedule"}),
        "drug_taken": ("strategy", [best[s].schedule.drug for s in names], {"long_name": "drug taken from day 0"}),
        "candidate_strategy": (
            "candidate",
            [e.schedule.strategy for e in evaluated],
            {"long_name": "strategy of the evaluated schedule"},
        ),
    }
    ds = xr.Dataset(data, coords=coords)
    met = [s for s in names if best[s].withdrawal_peak <= limit]
    plan = least_deficit([best[s] for s in met]).schedule.strategy if met else names[0]
    commit, dirty = git_state()
    ds.attrs = {
        "Conventions": CONVENTIONS,
        "title": f"synaprune taper plan: {planner.dose_mg:g} mg/day {planner.drug}, {planner.species}",
        "plan": plan,
        "plan_schedule": best[plan].schedule.label(),
        "drug": planner.drug,
        "dose_mg": planner.dose_mg,
        "dose_mg_per_kg": planner.dose_mg / planner.body_weight_kg,
        "body_weight_kg": planner.body_weight_kg,
        "species": planner.species,
        "horizon_days": planner.horizon_days,
        "withdrawal_limit": limit,
        "run_in_days": planner.run_in_days,
        "follow_up_days": follow_up_days,
        "hold_days": hold_days,
        "stop_below_percent": STOP_BELOW_PERCENT,
        "switch_to": planner.switch_to,
        "switch_dose_mg": switch_dose_mg(planner.drug, planner.dose_mg, planner.switch_to)
        if "switch" in names
        else float("nan"),
        "equivalence_source": EQUIVALENCE_SOURCE,
        "method": "percent and switch: bisection over the number of reductions to the floor, per step length of "
        f"{list(STEP_DAYS)} d; linear: brentq (scipy.optimize) on the duration where the peak withdrawal proxy "
        "crosses the limit; the plan is the evaluated schedule with the least cumulative spine deficit among those "
        f"meeting the limit (ties within {DEFICIT_TIE:g} % d: the one that ends first; sim.taper)",
        "central_line": "one ODE run per schedule (scored by the search)"
        + (
            " with the translation parameters at the middle of their ranges"
            if planner.species != CALIBRATED_SPECIES
            else ""
        ),
        "bands": "sim.simulate from the start of the history: posterior x translation draws, 5-95 % "
        "(single-drug strategies of a non-mouse species; none for a switch)",
        "caveat": DISCLAIMER,
        "history": f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {' '.join(sys.argv)}",
        "sim_version": __version__,
        "git_commit": commit,
        "git_dirty": int(dirty),
        "calibration": str(planner.history.attrs.get("calibration", "")),
        "species_caveat": str(planner.history.attrs.get("caveat", planner.history.attrs.get("extrapolation", ""))),
    }
    return ds
