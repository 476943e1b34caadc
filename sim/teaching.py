"""Classroom demo: one model per drug, varied live by dose, duration, genotype, microglia depletion and stress.

Composing a Hydra configuration costs about half a second, far too slow for a slider. :class:`TeachingDemo`
therefore composes each drug's configuration once (``_experiment``: :func:`sim.presets.from_overrides`), keeps the
resulting :class:`~sim.model.PruningModel`, and derives every variant with :func:`dataclasses.replace`: a new
:class:`~sim.dosing.DosingRegimen` (dose, number of daily doses), a different :class:`~sim.genotype.Genotype` or
:class:`~sim.microglia.MicrogliaDepletion`. Genotype and depletion options are themselves read from
``sim/configs/genotype/`` and ``sim/configs/depletion/`` once, so the demo never duplicates a parameter value.

The stress switch (``stressed``) changes the stress stage and the brain region together, so each drug is composed
a second time with the options of :data:`STRESS` (``stress=cus spines=prefrontal_cortex``): chronic unpredictable
stress as configured in ``sim/configs/stress/cus.yaml`` (from day 0 for ``stress.duration_days``) in
the medial prefrontal cortex, where [bollinger2020] measured that daily diazepam 1 mg/kg protects spines from
stress through GABA-A — the opposite of its TSPO-driven pruning in healthy somatosensory cortex ([shi2022]).
With the switch off the demo is exactly what it was before the switch existed.

:func:`sim.analysis.summarize` turns a run into the handful of numbers a class discusses (largest spine loss,
recovery day, peak occupancies, the novel-object-recognition score on the test day; re-exported here with
:func:`summary_values` and :func:`behaviour_test_day`); :func:`describe` puts them into a figure title.
:class:`TeachingApp` wires the demo to ipywidgets and :class:`sim.plotting.TeachingFigure`; ipywidgets and
matplotlib are imported only when it is built.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.analysis import (
    RECOVERY_THRESHOLD_PERCENT,
    behaviour_test_day,
    deficit_at,
    summarize,
    summary_values,
)
from sim.core.results import replicate_mean
from sim.model import PruningModel
from sim.run import simulate_model

#: Genotype options offered to students: label -> option in ``sim/configs/genotype/``.
GENOTYPES: dict[str, str] = {"WT": "wt", "TSPO-KO": "tspo_ko", "GABA-A-insensitive": "gabaa_bz_insensitive"}
#: Depletion options: ``depleted`` flag -> option in ``sim/configs/depletion/``.
DEPLETION: dict[bool, str] = {False: "none", True: "plx5622"}
#: Stress switch: ``stressed`` flag -> options composed with each drug (``sim/configs/stress/``, ``spines/``):
#: chronic unpredictable stress (CUS) and the medial prefrontal cortex where its spine loss was measured.
STRESS: dict[bool, tuple[str, ...]] = {False: (), True: ("stress=cus", "spines=prefrontal_cortex")}


def _experiment(overrides: list[str]):
    """The RunConfig of command-line style ``overrides``, read from the package data (no Hydra)."""
    from sim import presets

    return presets.from_overrides(overrides)


def available_drugs() -> list[str]:
    """Names of the drug options in ``sim/configs/drug/`` (sorted)."""
    from sim.config import config_dir

    return sorted(path.stem for path in Path(config_dir(), "drug").glob("*.yaml"))


def _genotype_option(genotype: str) -> str:
    """Config option for a genotype given as option name (``tspo_ko``) or label (``TSPO-KO``)."""
    if genotype in GENOTYPES.values():
        return genotype
    if genotype in GENOTYPES:
        return GENOTYPES[genotype]
    allowed = ", ".join(list(GENOTYPES) + list(GENOTYPES.values()))
    raise ValueError(f"genotype = {genotype!r} is not allowed: choose one of {allowed}")


@dataclasses.dataclass
class TeachingDemo:
    """Fast re-simulation for a classroom: compose once per drug, then vary the model with ``dataclasses.replace``.

    Parameters
    ----------
    species
        Species option (``sim/configs/species/``); the dose slider is in mg/kg of this species.
    output_step_h
        Spacing of the output grid [h]. 3 h keeps every whole day on the grid (the behavioural test times)
        while keeping the readout arrays small.
    peak_offsets_h
        Extra output times after every dose [h], so that concentration and occupancy peaks (about 0.5 h after an
        i.p. dose) are on the grid: a 3-h grid alone would show a third of diazepam's true peak TSPO occupancy.
    overrides
        Extra Hydra overrides applied when each drug is composed (e.g. ``["spines=hippocampus"]``).
    rtol, atol
        Solver tolerances [1] and [state units] replacing the configured engine's (which are set for reference
        accuracy): looser tolerances make an update about twice as fast. ``tests/test_teaching.py`` checks that the
        spine density stays within 0.01 % of baseline and occupancies within 1e-4 of the configured engine's.
        ``None`` keeps the configured values.
    """

    species: str = "mouse"
    output_step_h: float = 3.0
    peak_offsets_h: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5)
    overrides: tuple[str, ...] = ()
    rtol: float | None = 1e-5
    atol: float | None = 1e-9

    def __post_init__(self) -> None:
        per_day = 24.0 / self.output_step_h if self.output_step_h > 0 else math.nan
        if not (per_day >= 1 and abs(per_day - round(per_day)) < 1e-9):
            raise ValueError(f"output_step_h = {self.output_step_h!r} must be positive and divide 24 h")
        self.overrides = tuple(self.overrides)
        self.peak_offsets_h = tuple(float(v) for v in self.peak_offsets_h)
        if any(not 0 < v < self.output_step_h for v in self.peak_offsets_h):
            raise ValueError(f"peak_offsets_h = {self.peak_offsets_h!r} must lie strictly between 0 and output_step_h")
        self._models: dict[tuple[str, bool], PruningModel] = {}  # (drug, stressed) -> composed model
        self._engines: dict[tuple[str, bool], Any] = {}
        self._genotypes: dict[str, Any] = {}
        self._depletions: dict[str, Any] = {}

    # ------------------------------------------------------------------ composition (slow, cached)
    def _compose(self, *overrides: str):
        return _experiment([f"species={self.species}", *self.overrides, *overrides])

    def prepare(self, drugs: Iterable[str] = ("diazepam",), stress: Iterable[bool] = (False, True)) -> TeachingDemo:
        """Compose ``drugs`` (each with every ``stress`` switch state) and every genotype and depletion option now.

        Each composition takes about 0.5 s; later updates then only re-integrate. Returns ``self``.
        """
        stress = tuple(stress)
        for drug in drugs:
            for stressed in stress:
                self.base_model(drug, stressed)
        for option in GENOTYPES.values():
            self._genotype(option)
        for option in DEPLETION.values():
            self._depletion(option)
        return self

    def with_grid(self, output_step_h: float, peak_offsets_h: Iterable[float] = ()) -> TeachingDemo:
        """A demo with another output grid that shares this one's composed models (no recomposition)."""
        other = dataclasses.replace(self, output_step_h=output_step_h, peak_offsets_h=tuple(peak_offsets_h))
        other._models, other._engines = self._models, self._engines
        other._genotypes, other._depletions = self._genotypes, self._depletions
        return other

    def base_model(self, drug: str, stressed: bool = False) -> PruningModel:
        """The model of ``drug`` as composed from the configuration files (cached), with the :data:`STRESS` options."""
        key = (drug, bool(stressed))
        if key not in self._models:
            cfg = self._compose(f"drug={drug}", *STRESS[key[1]])
            self._models[key] = cfg.model()
            tolerances = {k: v for k, v in (("rtol", self.rtol), ("atol", self.atol)) if v is not None}
            self._engines[key] = dataclasses.replace(cfg.engine, **tolerances) if tolerances else cfg.engine
            self._genotypes.setdefault(cfg.genotype.name, cfg.genotype)
            self._depletions.setdefault(cfg.depletion.name, cfg.depletion)
        return self._models[key]

    def stress_duration_days(self, drug: str = "diazepam") -> float:
        """Length of the chronic-stress course of the stress switch [d], as configured (``stress.duration_days``)."""
        return float(self.base_model(drug, stressed=True).stress.duration_days)

    def _genotype(self, option: str):
        if option not in self._genotypes:
            self._genotypes[option] = self._compose(f"genotype={option}").genotype
        return self._genotypes[option]

    def _depletion(self, option: str):
        if option not in self._depletions:
            self._depletions[option] = self._compose(f"depletion={option}").depletion
        return self._depletions[option]

    # ------------------------------------------------------------------ variants (fast)
    def model(
        self,
        drug: str = "diazepam",
        dose_mg_per_kg: float = 5.0,
        days: int = 7,
        genotype: str = "wt",
        depleted: bool = False,
        stressed: bool = False,
        **regimen: Any,
    ) -> PruningModel:
        """The model of ``drug`` with a once-daily regimen of ``days`` doses, a genotype, a depletion and stress state.

        Parameters
        ----------
        drug
            Drug option (``sim/configs/drug/``).
        dose_mg_per_kg
            Dose per administration [mg/kg]; 0 gives a vehicle group.
        days
            Number of once-daily doses, on days 0 .. ``days - 1`` [d]; the last dose's day ends at ``days``.
        genotype
            ``wt``, ``tspo_ko``, ``gabaa_bz_insensitive`` or a label of :data:`GENOTYPES`.
        depleted
            Microglia depleted with PLX5622 (``sim/configs/depletion/plx5622.yaml``) before dosing.
        stressed
            Chronic unpredictable stress in medial prefrontal cortex (:data:`STRESS`): the CUS course runs from
            day 0 for ``stress.duration_days`` (``sim/configs/stress/cus.yaml``), independently of ``days``.
            Off: stress-free somatosensory cortex, the region of [shi2022].
        **regimen
            Further :class:`~sim.dosing.DosingRegimen` fields (e.g. ``taper="percent"``), applied last.
        """
        if not days >= 1:
            raise ValueError(f"days = {days!r} is not allowed: give at least one daily dose")
        base = self.base_model(drug, stressed)
        changes = {"dose_mg_per_kg": float(dose_mg_per_kg), "dose_mg": None, "start_day": 0.0, "stop_day": float(days)}
        changes.update(regimen)
        return dataclasses.replace(
            base,
            regimen=dataclasses.replace(base.regimen, **changes),
            genotype=self._genotype(_genotype_option(genotype)),
            depletion=self._depletion(DEPLETION[bool(depleted)]),
        )

    def times_h(self, duration_days: float, dose_times_h: Iterable[float] = ()) -> np.ndarray:
        """Output grid [h]: 0 to ``duration_days`` every ``output_step_h``, plus the peak offsets after doses.

        ``peak_offsets_h`` are added after every time in ``dose_times_h`` [h] that falls within the run.
        """
        end = duration_days * 24.0
        n = int(math.floor(end / self.output_step_h + 1e-9))
        grid = self.output_step_h * np.arange(n + 1)
        extra = [t + o for t in dose_times_h for o in self.peak_offsets_h if t + o < end]
        return np.union1d(grid, extra) if extra else grid

    def update(
        self,
        drug: str = "diazepam",
        dose_mg_per_kg: float = 5.0,
        days: int = 7,
        follow_up_days: float = 63.0,
        genotype: str = "wt",
        depleted: bool = False,
        stressed: bool = False,
        **regimen: Any,
    ) -> xr.Dataset:
        """Simulate one setting: ``days`` daily doses, then ``follow_up_days`` drug-free days.

        Parameters are those of :meth:`model` plus ``follow_up_days`` [d], the withdrawal follow-up after the
        last dosing day. Returns the usual result Dataset (``time`` in days) on the demo's grid (:meth:`times_h`),
        with the settings in its attributes (``teaching_*``; with ``stressed`` also the CUS window,
        ``teaching_stress_start_day`` to ``teaching_stress_stop_day`` [d]).
        """
        if not follow_up_days >= 0:
            raise ValueError(f"follow_up_days = {follow_up_days!r} is not allowed: it must be >= 0")
        stressed = bool(stressed)
        model = self.model(drug, dose_mg_per_kg, days, genotype, depleted, stressed, **regimen)
        doses_h, _ = model.regimen.bolus_events(model.species.body_weight_kg, days + follow_up_days)
        ds = simulate_model(model, self.times_h(days + follow_up_days, doses_h), self._engines[(drug, stressed)])
        ds.attrs.update(
            teaching_days=float(days),
            teaching_follow_up_days=float(follow_up_days),
            teaching_depleted=int(bool(depleted)),
            teaching_stressed=int(stressed),
        )
        if stressed:
            ds.attrs.update(
                teaching_stress_start_day=model.stress.start_day, teaching_stress_stop_day=model.stress.end_day
            )
        return ds


# ---------------------------------------------------------------------------------------------- summaries
def describe(ds: xr.Dataset) -> str:
    """Two lines for a figure title: the settings, then the headline numbers of :func:`summarize`."""
    s = summary_values(ds)
    day = behaviour_test_day(ds)
    depleted = " + PLX5622" if ds.attrs.get("depletion", "none") != "none" else ""
    stress = ""
    if "teaching_stress_start_day" in ds.attrs:
        region = str(ds.attrs.get("region", "")).replace("_", " ")
        window = f"days {ds.attrs['teaching_stress_start_day']:g}-{ds.attrs['teaching_stress_stop_day']:g}"
        stress = f", chronic stress (CUS, {window}), {region}"
    days = ds.attrs.get("teaching_days", day)
    if math.isnan(s["recovery_day"]):  # the loss never reached the threshold
        recovery = f"never more than {RECOVERY_THRESHOLD_PERCENT:g} % below baseline"
    elif math.isinf(s["recovery_day"]):
        recovery = f"not recovered by day {float(ds.time[-1]):g}"
    else:
        recovery = f"within {RECOVERY_THRESHOLD_PERCENT:g} % of baseline again on day {s['recovery_day']:.0f}"
    return (
        f"{ds.attrs.get('drug', '')} {ds.attrs.get('dose_mg_per_kg', math.nan):g} mg/kg/day x {days:g} d, "
        f"{ds.attrs.get('genotype', '')}{depleted}{stress}\nlowest spine density {s['lowest_spine_density']:.1f} % "
        f"(day {s['day_of_max_spine_loss']:.0f}), {recovery}; NOR index on day {day:g}: {s['nor_at_test']:.2f}"
    )


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None, digits: int = 3) -> str:
    """Rows of a table (dicts) as a Markdown table; floats with ``digits`` significant digits.

    For notebooks (``IPython.display.Markdown``) without pandas. ``|`` in cells is replaced by ``/``.
    """
    if columns is None:
        columns = list(rows[0]) if rows else []

    def cell(value: Any) -> str:
        text = f"{value:.{digits}g}" if isinstance(value, float) else str(value)
        return text.replace("|", "/").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- calibrated range
@dataclasses.dataclass(frozen=True)
class CalibratedRange:
    """The settings the model was calibrated on, read from the calibration arms (:data:`sim.targets.ARMS`).

    A setting is inside when its drug and species are those of a calibration arm, and its daily dose [mg/kg/day],
    its number of dosing days [d] and its total dose (dose x days) [mg/kg] are each no larger than in some arm
    (a vehicle, dose 0, is inside whatever its length). Outside, the curves are an untested prediction: the page shows
    :meth:`caveat`.
    """

    arms: tuple[tuple[str, str, float, float], ...]  # (drug, species, dose [mg/kg/day], dosing days [d]) per arm

    @property
    def drugs(self) -> frozenset[str]:
        """Drugs of the calibration arms."""
        return frozenset(arm[0] for arm in self.arms)

    @property
    def species(self) -> frozenset[str]:
        """Species of the calibration arms."""
        return frozenset(arm[1] for arm in self.arms)

    @property
    def max_dose_mg_per_kg(self) -> float:
        """Largest daily dose of an arm [mg/kg/day]."""
        return max(arm[2] for arm in self.arms)

    @property
    def max_days(self) -> float:
        """Longest dosing course of an arm [d]."""
        return max(arm[3] for arm in self.arms)

    @property
    def max_total_mg_per_kg(self) -> float:
        """Largest total dose of an arm (daily dose x days) [mg/kg]."""
        return max(arm[2] * arm[3] for arm in self.arms)

    def describe(self) -> str:
        """The arms in words, e.g. ``diazepam (mouse) 5 mg/kg/day x 7 d, diazepam (mouse) 1 mg/kg/day x 56 d``."""
        return ", ".join(f"{a[0]} ({a[1]}) {a[2]:g} mg/kg/day x {a[3]:g} d" for a in self.arms)

    def reasons(self, drug: str, dose_mg_per_kg: float, days: float, species: str = "mouse") -> list[str]:
        """Why a setting is outside the calibrated range (empty inside), one phrase per reason."""
        reasons = []
        if drug not in self.drugs:
            reasons.append(f"drug {drug} was not calibrated")
        if species not in self.species:
            reasons.append(f"species {species} was not calibrated")
        if dose_mg_per_kg > self.max_dose_mg_per_kg:
            reasons.append(f"{dose_mg_per_kg:g} mg/kg/day is above {self.max_dose_mg_per_kg:g} mg/kg/day")
        if dose_mg_per_kg > 0 and days > self.max_days:
            reasons.append(f"{days:g} days of dosing is longer than {self.max_days:g} days")
        total = dose_mg_per_kg * days
        if total > self.max_total_mg_per_kg:
            reasons.append(f"a total of {total:g} mg/kg is more than {self.max_total_mg_per_kg:g} mg/kg")
        return reasons

    def caveat(self, drug: str, dose_mg_per_kg: float, days: float, species: str = "mouse") -> str:
        """A sentence for students when the setting is outside the range; ``""`` inside."""
        reasons = self.reasons(drug, dose_mg_per_kg, days, species)
        if not reasons:
            return ""
        return (
            f"Outside the calibrated range ({'; '.join(reasons)}). The model was calibrated on {self.describe()} "
            "(Shi et al. 2022): these curves are an untested prediction, not a result."
        )


def calibrated_range() -> CalibratedRange:
    """The :class:`CalibratedRange` of the calibration arms :data:`sim.targets.ARMS` (composed from the package data).

    Each arm's regimen must be once daily; the arm's days are its number of daily doses.
    """
    from sim.targets import ARMS

    arms = []
    for name, overrides in ARMS.items():
        model = _experiment(list(overrides)).model()
        regimen = model.regimen
        if regimen.interval_h != 24.0 or regimen.dose_mg_per_kg is None:
            raise ValueError(f"calibration arm {name!r} is not a once-daily mg/kg regimen: {regimen!r}")
        days = math.ceil(regimen.stop_day - regimen.start_day - 1e-9)
        arms.append((model.drug.name, model.species.name, float(regimen.dose_mg_per_kg), float(days)))
    return CalibratedRange(tuple(arms))


# ---------------------------------------------------------------------------------------------- lesson plan
@dataclasses.dataclass
class LessonQuestion:
    """A question of the lesson plan (``docs/teaching.md``) and how the model answers it.

    ``quantity`` is a key of :func:`summary_values`, ``"<variable>@<day>"`` (the variable interpolated to that day
    [d]; ``@stress_end``: the last day of the stress switch's CUS course, as configured) or
    ``"minimal_detectable_nor"`` / ``"minimal_detectable_alternation"`` (the smallest group difference a 10-vs-10
    comparison detects, :meth:`sim.cognition.BehaviouralReadout.minimal_detectable_drop`).
    """

    key: str
    question: str
    settings: dict[str, Any]
    quantity: str
    units: str
    decimals: int = 1


_HIGH = {"drug": "diazepam", "dose_mg_per_kg": 5.0, "days": 7, "follow_up_days": 63}
_LOW = {"drug": "diazepam", "dose_mg_per_kg": 1.0, "days": 56, "follow_up_days": 84}
#: Bollinger et al. 2020: diazepam 1 mg/kg daily during the 14 days of CUS (``tests/test_teaching.py`` checks that
#: ``days`` is the configured CUS length); spines are read at the end of CUS (``@stress_end``).
_CUS = {"drug": "diazepam", "dose_mg_per_kg": 1.0, "days": 14, "follow_up_days": 14, "stressed": True}

#: The questions of ``docs/teaching.md`` with the settings (keyword arguments of :meth:`TeachingDemo.update`)
#: that answer them.
LESSON: tuple[LessonQuestion, ...] = (
    LessonQuestion("Q1", "peak TSPO occupancy (about 30 min after a dose)", _HIGH, "peak_tspo_occupancy", "1", 2),
    LessonQuestion("Q1", "peak GABA-A occupancy (about 30 min after a dose)", _HIGH, "peak_gabaa_occupancy", "1", 2),
    LessonQuestion("Q2", "TSPO occupancy 24 h after the first dose", _HIGH, "tspo_occupancy@1", "1", 4),
    LessonQuestion("Q2", "GABA-A occupancy 24 h after the first dose", _HIGH, "gabaa_occupancy@1", "1", 2),
    LessonQuestion("Q3", "spine loss on day 7", _HIGH, "spine_loss_at_test", "percent"),
    LessonQuestion("Q3", "lowest spine density", _HIGH, "lowest_spine_density", "percent"),
    LessonQuestion("Q3", "day of the lowest spine density", _HIGH, "day_of_max_spine_loss", "d"),
    LessonQuestion("Q4", "first day back within 2 % of baseline", _HIGH, "recovery_day", "d"),
    LessonQuestion("Q5", "TSPO-KO: largest spine loss", _HIGH | {"genotype": "tspo_ko"}, "max_spine_loss", "percent"),
    LessonQuestion(
        "Q5", "TSPO-KO: peak GABA-A occupancy", _HIGH | {"genotype": "tspo_ko"}, "peak_gabaa_occupancy", "1", 2
    ),
    LessonQuestion(
        "Q6",
        "GABA-A-insensitive: largest spine loss",
        _HIGH | {"genotype": "gabaa_bz_insensitive"},
        "max_spine_loss",
        "percent",
    ),
    LessonQuestion(
        "Q6",
        "GABA-A-insensitive: peak GABA-A occupancy",
        _HIGH | {"genotype": "gabaa_bz_insensitive"},
        "peak_gabaa_occupancy",
        "1",
        2,
    ),
    LessonQuestion("Q7", "PLX5622: peak TSPO occupancy", _HIGH | {"depleted": True}, "peak_tspo_occupancy", "1", 2),
    LessonQuestion(
        "Q7", "PLX5622: peak microglial activation", _HIGH | {"depleted": True}, "peak_microglia_activation", "1", 3
    ),
    LessonQuestion(
        "Q7", "PLX5622: lowest spine density", _HIGH | {"depleted": True}, "lowest_spine_density", "percent"
    ),
    LessonQuestion(
        "Q8",
        "XBD173 1 mg/kg/day x 7 d: largest spine loss",
        _HIGH | {"drug": "xbd173", "dose_mg_per_kg": 1.0},
        "max_spine_loss",
        "percent",
    ),
    LessonQuestion(
        "Q8",
        "XBD173 1 mg/kg/day x 7 d: peak GABA-A occupancy",
        _HIGH | {"drug": "xbd173", "dose_mg_per_kg": 1.0},
        "peak_gabaa_occupancy",
        "1",
        2,
    ),
    LessonQuestion("Q9", "1 mg/kg/day: spine loss on day 7", _LOW, "spine_loss_at_test@7", "percent"),
    LessonQuestion("Q9", "1 mg/kg/day x 56 d: spine loss on day 56", _LOW, "spine_loss_at_test", "percent"),
    LessonQuestion("Q9", "1 mg/kg/day x 56 d: first day back within 2 %", _LOW, "recovery_day", "d"),
    LessonQuestion(
        "Q9",
        "5 mg/kg/day x 14 d: largest spine loss",
        _HIGH | {"days": 14, "follow_up_days": 56},
        "max_spine_loss",
        "percent",
    ),  # fmt: skip
    LessonQuestion("Q10", "vehicle: NOR index", _LOW | {"dose_mg_per_kg": 0.0}, "nor_at_test", "1", 3),
    LessonQuestion("Q10", "1 mg/kg/day x 56 d: NOR index on day 56", _LOW, "nor_at_test", "1", 3),
    LessonQuestion("Q10", "smallest detectable NOR drop (10 vs 10 mice)", _LOW, "minimal_detectable_nor", "1", 3),
    LessonQuestion(
        "Q10",
        "vehicle: spontaneous alternation",
        _LOW | {"dose_mg_per_kg": 0.0},
        "spontaneous_alternation@56",
        "percent",
    ),  # fmt: skip
    LessonQuestion(
        "Q10", "1 mg/kg/day x 56 d: spontaneous alternation on day 56", _LOW, "spontaneous_alternation@56", "percent"
    ),
    LessonQuestion(
        "Q10",
        "smallest detectable alternation drop (10 vs 10 mice)",
        _LOW,
        "minimal_detectable_alternation",
        "percent",
    ),  # fmt: skip
    LessonQuestion("Q11", "wild type: NOR index on day 7", _HIGH, "nor_at_test", "1", 3),
    LessonQuestion("Q11", "TSPO-KO: NOR index on day 7", _HIGH | {"genotype": "tspo_ko"}, "nor_at_test", "1", 3),
    LessonQuestion(
        "Q11", "wild type: sedation at the day-7 test (24 h after the 7th dose)", _HIGH, "sedation@7", "1", 3
    ),
    LessonQuestion(
        "Q12",
        "clonazepam 5 mg/kg/day x 7 d: largest spine loss",
        _HIGH | {"drug": "clonazepam"},
        "max_spine_loss",
        "percent",
        2,
    ),  # fmt: skip
    LessonQuestion(
        "Q12",
        "clonazepam 5 mg/kg/day x 7 d: peak GABA-A occupancy",
        _HIGH | {"drug": "clonazepam"},
        "peak_gabaa_occupancy",
        "1",
        2,
    ),
    LessonQuestion(
        "Q13",
        "no stress, diazepam 1 mg/kg/day x 14 d: spine loss on the test day (24 h after the last dose)",
        _CUS | {"stressed": False},
        "spine_loss_at_test",
        "percent",
    ),
    LessonQuestion(
        "Q13",
        "CUS + vehicle: spine loss at the end of CUS",
        _CUS | {"dose_mg_per_kg": 0.0},
        "spine_loss_at_test@stress_end",
        "percent",
    ),
    LessonQuestion(
        "Q13",
        "CUS + diazepam 1 mg/kg/day: spine loss at the end of CUS",
        _CUS,
        "spine_loss_at_test@stress_end",
        "percent",
    ),
    LessonQuestion(
        "Q13",
        "GABA-A-insensitive, CUS + diazepam 1 mg/kg/day: spine loss at the end of CUS",
        _CUS | {"genotype": "gabaa_bz_insensitive"},
        "spine_loss_at_test@stress_end",
        "percent",
    ),
)


def answer(demo: TeachingDemo, question: LessonQuestion) -> float:
    """The model's answer to ``question`` (in ``question.units``), simulated with ``demo``."""
    quantity = question.quantity
    if quantity.startswith("minimal_detectable_"):
        cognition = demo.base_model(question.settings.get("drug", "diazepam")).cognition
        sd = cognition.nor_between_animal_sd if quantity.endswith("nor") else cognition.alternation_between_animal_sd
        return cognition.minimal_detectable_drop(sd)
    ds = demo.update(**question.settings)
    if "@" in quantity:
        name, at = quantity.split("@")
        if at == "stress_end" and "teaching_stress_stop_day" not in ds.attrs:
            raise ValueError(f"quantity = {quantity!r} is not allowed without stress: set stressed=True")
        day = ds.attrs["teaching_stress_stop_day"] if at == "stress_end" else float(at)
        if name == "spine_loss_at_test":
            return deficit_at(ds, day)
        return float(np.interp(day, ds.time.values, replicate_mean(ds[name]).values))
    return summary_values(ds)[quantity]


_UPDATE_DEFAULTS = {k: v.default for k, v in inspect.signature(TeachingDemo.update).parameters.items() if k != "self"}


def _call(settings: dict[str, Any]) -> str:
    """``update(...)`` with only the arguments that differ from :meth:`TeachingDemo.update`'s defaults."""
    changed = {k: v for k, v in settings.items() if _UPDATE_DEFAULTS.get(k, inspect.Parameter.empty) != v}
    return "update(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"


def lesson_answers(demo: TeachingDemo | None = None) -> list[dict[str, Any]]:
    """Every :data:`LESSON` question with the model's answer, as table rows (``value`` rounded as printed)."""
    demo = demo or TeachingDemo()
    rows = []
    for q in LESSON:
        value = answer(demo, q)
        rows.append(
            {
                "Q": q.key,
                "quantity": q.question,
                "model": f"{value:.{q.decimals}f}" if math.isfinite(value) else "never",
                "units": q.units,
                "settings": f"`{_call(q.settings)}`",
                "key": f"`{q.quantity}`",
            }
        )
    return rows


LESSON_MARKERS = ("<!-- lesson-answers:start -->", "<!-- lesson-answers:end -->")


def lesson_markdown(demo: TeachingDemo | None = None) -> str:
    """The answers table of ``docs/teaching.md`` (between :data:`LESSON_MARKERS`), with its generating command."""
    demo = demo or TeachingDemo()
    return (
        f"{LESSON_MARKERS[0]}\n"
        f"Generated by `python -m sim.teaching --write docs/teaching.md` with `TeachingDemo()` defaults: mouse, "
        f"output every {demo.output_step_h:g} h plus {', '.join(f'{o:g}' for o in demo.peak_offsets_h)} h after "
        f"each dose, solver rtol {demo.rtol:g} / atol {demo.atol:g}. Defaults of `update`: diazepam, 5 mg/kg/day, "
        "7 days, 63 days follow-up, wild type, no depletion, no stress. Do not edit by hand; "
        "`tests/test_teaching.py` checks these numbers against the model.\n\n"
        + markdown_table(lesson_answers(demo))
        + f"\n{LESSON_MARKERS[1]}"
    )


def write_lesson_answers(path: str | Path, demo: TeachingDemo | None = None) -> None:
    """Replace the answers block between :data:`LESSON_MARKERS` in ``path`` by a fresh :func:`lesson_markdown`."""
    path = Path(path)
    text = path.read_text()
    start, end = (text.index(marker) for marker in LESSON_MARKERS)
    path.write_text(text[:start] + lesson_markdown(demo) + text[end + len(LESSON_MARKERS[1]) :])


# ---------------------------------------------------------------------------------------------- widgets
#: The classroom figure: size [inch] and resolution [dots per inch], i.e. 875 x 588 px, which fits right of the
#: 400-px control column in the about 1300 x 620 px that a 1366 x 768 projector leaves below the browser's bars.
CLASSROOM_FIGSIZE_IN = (7.0, 4.7)
CLASSROOM_DPI = 125.0
#: Font sizes [pt] of the classroom figure: at :data:`CLASSROOM_DPI` the smallest (line labels) is 12 px.
CLASSROOM_FONT_PT = {"labels": 7.0, "axes": 8.0, "title": 8.5}
#: Heading of the control column of the classroom page.
CLASSROOM_HEADING = "What does a sedative do to synapses?"


def classroom_figure():
    """A :class:`sim.plotting.TeachingFigure` for a projector: two columns, readable fonts, 875 x 588 px.

    The mechanism (concentration, receptor occupancy, microglia) is stacked on the left; the outcomes (spine
    density, two thirds of the height, and the NOR index) on the right, so all five panels are above the fold.
    """
    from sim.plotting import TeachingFigure

    figure = TeachingFigure(figsize=CLASSROOM_FIGSIZE_IN, dpi=CLASSROOM_DPI)
    ax_conc, ax_occ, ax_glia, ax_spine, ax_nor = figure.axes
    left, right, bottom, top, gap, column_gap = 0.1, 0.985, 0.085, 0.875, 0.035, 0.1
    width = (right - left - column_gap) / 2
    height = (top - bottom - 2 * gap) / 3
    x_right = left + width + column_gap
    for row, ax in enumerate((ax_conc, ax_occ, ax_glia)):
        ax.set_position([left, top - (row + 1) * height - row * gap, width, height])
    ax_spine.set_position([x_right, bottom + height + gap, width, 2 * height + gap])
    ax_nor.set_position([x_right, bottom, width, height])
    ax_glia.tick_params(labelbottom=True)  # the bottom of the left column shows the time axis too
    ax_glia.set_xlabel(ax_nor.get_xlabel())
    for ax in figure.axes:
        ax.tick_params(labelsize=CLASSROOM_FONT_PT["axes"])
        ax.xaxis.label.set_size(CLASSROOM_FONT_PT["axes"])
        ax.yaxis.label.set_size(CLASSROOM_FONT_PT["axes"])
    for text in [*figure.labels.values(), figure.stress_label]:
        text.set_fontsize(CLASSROOM_FONT_PT["labels"])
    figure.title.set_fontsize(CLASSROOM_FONT_PT["title"])
    return figure


def spine_density_readout(ds: xr.Dataset) -> tuple[float, float]:
    """(test day [d], plotted spine density on that day [percent of baseline]) of a :meth:`TeachingDemo.update` run.

    The test day is :func:`sim.analysis.behaviour_test_day`, 24 h after the last dose (day 7 for the lesson's
    defaults); the density is the plotted curve (replicate mean of ``spine_density_relative``) interpolated to it.
    """
    day = behaviour_test_day(ds)
    density = replicate_mean(ds["spine_density_relative"]).values
    return day, float(np.interp(day, ds.time.values, density))


class TeachingApp:
    """ipywidgets controls + one :class:`sim.plotting.TeachingFigure`, updated in place: the classroom page.

    Display ``app.widget`` (a notebook, or the page of ``python -m sim.teaching --serve``). The controls open at the
    lesson's defaults (diazepam 5 mg/kg/day for 7 days). It shows the defaults when built, and every control change calls :meth:`refresh`: it simulates
    (:meth:`TeachingDemo.update`), moves the figure's line data, renders (blitting when the axes did not change)
    and puts the PNG into an ``Image`` widget, so the one picture changes without the flicker of re-displaying a
    figure. Under the controls the page shows the spine density on the test day (:func:`spine_density_readout`)
    and, when the drug, dose or duration leave the :class:`CalibratedRange`, a caveat. Compute and redraw times
    are kept in :attr:`compute_s` and :attr:`redraw_s`, not shown. Works in JupyterLab, classic notebook, VS Code
    and Voila with the default (inline) matplotlib backend; ``ipympl`` is not needed.

    Parameters
    ----------
    demo
        The demo to use (default: a new :class:`TeachingDemo`, prepared for diazepam).
    continuous_update
        Recompute while a slider is dragged (True) or only when it is released.
    calibrated
        The range outside which the caveat is shown (default: :func:`calibrated_range`).
    """

    def __init__(
        self,
        demo: TeachingDemo | None = None,
        continuous_update: bool = True,
        calibrated: CalibratedRange | None = None,
    ) -> None:
        import ipywidgets as widgets

        self.demo = demo or TeachingDemo().prepare()
        self.calibrated = calibrated or calibrated_range()
        self.figure = classroom_figure()
        defaults = _UPDATE_DEFAULTS
        style = {"description_width": "130px"}
        layout = widgets.Layout(width="390px")
        common = {"style": style, "layout": layout, "continuous_update": continuous_update}
        self.controls = {
            "drug": widgets.Dropdown(
                options=available_drugs(), value=defaults["drug"], description="drug", style=style, layout=layout
            ),
            "dose_mg_per_kg": widgets.FloatSlider(
                value=defaults["dose_mg_per_kg"], min=0.0, max=20.0, step=0.25, description="dose [mg/kg/day]", **common
            ),
            "days": widgets.IntSlider(value=defaults["days"], min=1, max=56, description="dosing [days]", **common),
            "follow_up_days": widgets.IntSlider(
                value=defaults["follow_up_days"], min=0, max=84, description="follow-up [days]", **common
            ),
            "genotype": widgets.Dropdown(
                options=list(GENOTYPES.items()),
                value=defaults["genotype"],
                description="genotype",
                style=style,
                layout=layout,
            ),  # fmt: skip
            "depleted": widgets.Checkbox(
                value=defaults["depleted"], description="microglia depleted (PLX5622)", indent=False, layout=layout
            ),
            "stressed": widgets.Checkbox(
                value=defaults["stressed"],
                description="chronic stress (CUS, prefrontal cortex)",
                indent=False,
                layout=layout,
            ),  # fmt: skip
        }
        for name, control in self.controls.items():
            control.add_class(f"synaprune-{name.replace('_', '-')}")  # stable handles for the browser test
        text = widgets.Layout(width="390px")
        self.heading = widgets.HTML(f"<h3 style='margin:0 0 6px 0'>{CLASSROOM_HEADING}</h3>", layout=text)
        self.readout = widgets.HTML(layout=text)
        self.readout.add_class("synaprune-readout")
        self.caveat = widgets.HTML(layout=text)
        self.caveat.add_class("synaprune-caveat")
        self.status = widgets.HTML(layout=text)  # errors only
        width, height = self.figure.figure.canvas.get_width_height(physical=True)
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=f"{width}px", height=f"{height}px"))
        self.image.add_class("synaprune-figure")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        column = widgets.VBox(
            [self.heading, *self.controls.values(), self.readout, self.caveat, self.status],
            layout=widgets.Layout(width="400px", flex="0 0 400px"),
        )
        self.widget = widgets.HBox([column, self.image], layout=widgets.Layout(flex_flow="row nowrap"))
        self.dataset: xr.Dataset | None = None
        self.compute_s = self.redraw_s = math.nan
        self.refresh()  # the page opens with the figure of the defaults

    @property
    def settings(self) -> dict[str, Any]:
        """Current control values (the keyword arguments of :meth:`TeachingDemo.update`)."""
        return {name: control.value for name, control in self.controls.items()}

    def _on_change(self, change: dict) -> None:
        self.refresh()

    def set(self, **settings: Any) -> xr.Dataset:
        """Set several controls, then refresh once (not once per control); returns the Dataset."""
        for control in self.controls.values():
            control.unobserve(self._on_change, names="value")
        try:
            for name, value in settings.items():
                self.controls[name].value = value
        finally:
            for control in self.controls.values():
                control.observe(self._on_change, names="value")
        return self.refresh()

    def refresh(self) -> xr.Dataset:
        """Simulate the current settings, update the figure in place and show it; returns the Dataset."""
        start = time.perf_counter()
        settings = self.settings
        try:
            ds = self.demo.update(**settings)
        except ValueError as error:  # e.g. a configuration error: show it instead of a traceback
            self.status.value = f"<span style='color:#b00'>{error}</span>"
            raise
        middle = time.perf_counter()
        self.figure.update(ds, title=describe(ds))
        self.figure.render()
        self.image.value = self.figure.to_png()
        day, density = spine_density_readout(ds)
        self.readout.value = (
            f"<b>Spine density on day {day:g}</b> (24 h after the last dose): <b>{density:.1f} %</b> of baseline"
        )
        caveat = self.calibrated.caveat(settings["drug"], settings["dose_mg_per_kg"], settings["days"])
        self.caveat.value = (
            f"<div style='border-left:4px solid #c60;background:#fff4e5;padding:4px 8px'>{caveat}</div>"
            if caveat
            else ""
        )
        self.status.value = ""
        end = time.perf_counter()
        self.dataset, self.compute_s, self.redraw_s = ds, middle - start, end - middle
        return ds


# ---------------------------------------------------------------------------------------------- the page (Voila)
#: Idle-kernel culling of the classroom server [s]: a kernel without a connected page (the tab was closed) that has
#: been idle this long is shut down; the culler checks every :data:`CULL_INTERVAL_S`. Open pages are never culled.
CULL_IDLE_TIMEOUT_S = 120
CULL_INTERVAL_S = 30
#: Name of the page's notebook and of the kernel spec that runs it in this interpreter.
CLASSROOM_NAME = "synaprune-classroom"


def classroom_notebook() -> dict:
    """The page as a notebook (nbformat 4 JSON): one hidden code cell that shows :class:`TeachingApp`'s widget."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "id": "classroom",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": "from sim.teaching import TeachingApp\n\nTeachingApp().widget",
            }
        ],
        "metadata": {
            "kernelspec": {"name": CLASSROOM_NAME, "display_name": "synaprune classroom", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_classroom_page(directory: str | Path) -> Path:
    """Write the page's notebook and a kernel spec running this interpreter into ``directory``; returns the notebook.

    The kernel spec (``directory/kernels/synaprune-classroom``, found through ``JUPYTER_PATH``) starts ipykernel with
    ``sys.executable``, so the page runs in the environment synaprune is installed in, whatever other ``python3``
    kernel specs exist.
    """
    import json
    import sys

    directory = Path(directory)
    spec = directory / "kernels" / CLASSROOM_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "synaprune classroom", "language": "python"})
    )
    notebook = directory / f"{CLASSROOM_NAME}.ipynb"
    notebook.write_text(json.dumps(classroom_notebook(), indent=1))
    return notebook


def serve_command(
    notebook: str | Path,
    port: int = 8866,
    open_browser: bool = True,
    cull_idle_timeout_s: float = CULL_IDLE_TIMEOUT_S,
    cull_interval_s: float = CULL_INTERVAL_S,
) -> list[str]:
    """The Voila command line that serves ``notebook`` on ``port`` with idle-kernel culling.

    ``cull_idle_timeout_s`` [s] and ``cull_interval_s`` [s] must be positive (whole seconds); kernels with an open
    page are not culled (``cull_connected=False``).
    """
    import sys

    for name, value in (("cull_idle_timeout_s", cull_idle_timeout_s), ("cull_interval_s", cull_interval_s)):
        if not (value >= 1 and float(value).is_integer()):
            raise ValueError(f"{name} = {value!r} is not allowed: give a whole number of seconds >= 1")
    if not (isinstance(port, int) and 0 < port < 65536):
        raise ValueError(f"port = {port!r} is not allowed: give a TCP port between 1 and 65535")
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        *([] if open_browser else ["--no-browser"]),
        "--theme=light",
        "--strip_sources=True",
        f"--MappingKernelManager.cull_idle_timeout={int(cull_idle_timeout_s)}",
        f"--MappingKernelManager.cull_interval={int(cull_interval_s)}",
        "--MappingKernelManager.cull_connected=False",
    ]


def serve(
    port: int = 8866,
    open_browser: bool = True,
    cull_idle_timeout_s: float = CULL_IDLE_TIMEOUT_S,
    cull_interval_s: float = CULL_INTERVAL_S,
) -> int:
    """Serve the classroom page with Voila until interrupted (Ctrl-C); returns Voila's exit code.

    The page's notebook and kernel spec are written to a temporary directory (:func:`write_classroom_page`), so this
    works from any installation with the ``notebooks`` extra.
    """
    import os
    import signal
    import subprocess
    import tempfile

    def stop(signum, frame):  # SIGTERM: stop Voila (and its kernels) and remove the page like after Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with tempfile.TemporaryDirectory(prefix="synaprune-classroom-") as tmp:
            notebook = write_classroom_page(tmp)
            command = serve_command(notebook, port, open_browser, cull_idle_timeout_s, cull_interval_s)
            env = os.environ | {"JUPYTER_PATH": os.pathsep.join(filter(None, [tmp, os.environ.get("JUPYTER_PATH")]))}
            process = subprocess.Popen(command, env=env, cwd=tmp)
            try:
                return process.wait()
            except KeyboardInterrupt:
                process.terminate()  # Voila shuts its kernels down on SIGTERM
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = [
    "DEPLETION",
    "GENOTYPES",
    "LESSON",
    "CalibratedRange",
    "calibrated_range",
    "classroom_figure",
    "classroom_notebook",
    "serve",
    "serve_command",
    "spine_density_readout",
    "write_classroom_page",
    "STRESS",
    "LessonQuestion",
    "TeachingApp",
    "TeachingDemo",
    "answer",
    "available_drugs",
    "lesson_answers",
    "lesson_markdown",
    "describe",
    "markdown_table",
    "summarize",
    "summary_values",
    "behaviour_test_day",
    "write_lesson_answers",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.teaching [--write PATH | --serve [--port N] [--no-browser]]``.

    Without options: print the lesson answers table; ``--write``: refresh it in ``PATH``; ``--serve``: serve the
    classroom page with Voila (:func:`serve`).
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sim.teaching", description="Print the lesson answers table, or serve the classroom page."
    )
    parser.add_argument("--write", type=Path, help="file whose lesson-answers block is replaced (docs/teaching.md)")
    parser.add_argument("--serve", action="store_true", help="serve the classroom page with Voila (Ctrl-C stops it)")
    parser.add_argument("--port", type=int, default=8866, help="port of the page (default: 8866)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument(
        "--cull-idle-timeout-s",
        type=float,
        default=CULL_IDLE_TIMEOUT_S,
        help=f"shut down a closed page's kernel after this many idle seconds (default: {CULL_IDLE_TIMEOUT_S})",
    )
    parser.add_argument(
        "--cull-interval-s",
        type=float,
        default=CULL_INTERVAL_S,
        help=f"check for idle kernels every this many seconds (default: {CULL_INTERVAL_S})",
    )
    args = parser.parse_args(argv)
    if args.serve:
        try:
            serve_command("page.ipynb", args.port, not args.no_browser, args.cull_idle_timeout_s, args.cull_interval_s)
        except ValueError as error:
            parser.error(str(error))
        return serve(args.port, not args.no_browser, args.cull_idle_timeout_s, args.cull_interval_s)
    if args.write:
        write_lesson_answers(args.write)
    else:
        print(lesson_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
