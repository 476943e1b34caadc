"""Classroom demo: one model per drug, varied live by dose, duration, genotype and microglia depletion.

Composing a Hydra configuration costs about half a second, far too slow for a slider. :class:`TeachingDemo`
therefore composes each drug's configuration once (:func:`sim.load_config`), keeps the resulting
:class:`~sim.model.PruningModel`, and derives every variant with :func:`dataclasses.replace`: a new
:class:`~sim.dosing.DosingRegimen` (dose, number of daily doses), a different :class:`~sim.genotype.Genotype` or
:class:`~sim.microglia.MicrogliaDepletion`. Genotype and depletion options are themselves read from
``configs/genotype/`` and ``configs/depletion/`` once, so the demo never duplicates a parameter value.

:func:`summarize` turns a run into the handful of numbers a class discusses (largest spine loss, recovery day,
peak occupancies, the novel-object-recognition score on the test day). :class:`TeachingApp` wires the demo to
ipywidgets and :class:`sim.plotting.TeachingFigure`; ipywidgets and matplotlib are imported only when it is built.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.model import PruningModel
from sim.run import simulate_model

#: Genotype options offered to students: label -> option in ``configs/genotype/``.
GENOTYPES: dict[str, str] = {"WT": "wt", "TSPO-KO": "tspo_ko", "GABA-A-insensitive": "gabaa_bz_insensitive"}
#: Depletion options: ``depleted`` flag -> option in ``configs/depletion/``.
DEPLETION: dict[bool, str] = {False: "none", True: "plx5622"}
#: Spine deficit below which a run counts as recovered [percent of baseline] (as in :mod:`sim.validation`).
RECOVERY_THRESHOLD_PERCENT = 2.0


def available_drugs() -> list[str]:
    """Names of the drug options in ``configs/drug/`` (sorted)."""
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
        Species option (``configs/species/``); the dose slider is in mg/kg of this species.
    output_step_h
        Spacing of the output grid [h]. 3 h keeps every whole day on the grid (the behavioural test times)
        while keeping the readout arrays small.
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
    overrides: tuple[str, ...] = ()
    rtol: float | None = 1e-5
    atol: float | None = 1e-9

    def __post_init__(self) -> None:
        if not (self.output_step_h > 0 and 24.0 % self.output_step_h == 0):
            raise ValueError(f"output_step_h = {self.output_step_h!r} must be positive and divide 24 h")
        self.overrides = tuple(self.overrides)
        self._models: dict[str, PruningModel] = {}
        self._engines: dict[str, Any] = {}
        self._genotypes: dict[str, Any] = {}
        self._depletions: dict[str, Any] = {}

    # ------------------------------------------------------------------ composition (slow, cached)
    def _compose(self, *overrides: str):
        import sim

        return sim.load_config([f"species={self.species}", *self.overrides, *overrides])

    def prepare(self, drugs: Iterable[str] = ("diazepam",)) -> TeachingDemo:
        """Compose the configurations of ``drugs`` and of every genotype and depletion option now (~0.5 s each).

        Later updates then only re-integrate. Returns ``self``.
        """
        for drug in drugs:
            self.base_model(drug)
        for option in GENOTYPES.values():
            self._genotype(option)
        for option in DEPLETION.values():
            self._depletion(option)
        return self

    def base_model(self, drug: str) -> PruningModel:
        """The model of ``drug`` as composed from the configuration files (cached)."""
        if drug not in self._models:
            cfg = self._compose(f"drug={drug}")
            self._models[drug] = cfg.model()
            tolerances = {k: v for k, v in (("rtol", self.rtol), ("atol", self.atol)) if v is not None}
            self._engines[drug] = dataclasses.replace(cfg.engine, **tolerances) if tolerances else cfg.engine
            self._genotypes.setdefault(cfg.genotype.name, cfg.genotype)
            self._depletions.setdefault(cfg.depletion.name, cfg.depletion)
        return self._models[drug]

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
        **regimen: Any,
    ) -> PruningModel:
        """The model of ``drug`` with a once-daily regimen of ``days`` doses, a genotype and a depletion state.

        Parameters
        ----------
        drug
            Drug option (``configs/drug/``).
        dose_mg_per_kg
            Dose per administration [mg/kg]; 0 gives a vehicle group.
        days
            Number of once-daily doses, on days 0 .. ``days - 1`` [d]; the last dose's day ends at ``days``.
        genotype
            ``wt``, ``tspo_ko``, ``gabaa_bz_insensitive`` or a label of :data:`GENOTYPES`.
        depleted
            Microglia depleted with PLX5622 (``configs/depletion/plx5622.yaml``) before dosing.
        **regimen
            Further :class:`~sim.dosing.DosingRegimen` fields (e.g. ``taper="percent"``), applied last.
        """
        if not days >= 1:
            raise ValueError(f"days = {days!r} is not allowed: give at least one daily dose")
        base = self.base_model(drug)
        changes = {"dose_mg_per_kg": float(dose_mg_per_kg), "dose_mg": None, "start_day": 0.0, "stop_day": float(days)}
        changes.update(regimen)
        return dataclasses.replace(
            base,
            regimen=dataclasses.replace(base.regimen, **changes),
            genotype=self._genotype(_genotype_option(genotype)),
            depletion=self._depletion(DEPLETION[bool(depleted)]),
        )

    def times_h(self, duration_days: float) -> np.ndarray:
        """Output grid from 0 to ``duration_days`` in steps of ``output_step_h`` [h]."""
        n = int(math.floor(duration_days * 24.0 / self.output_step_h + 1e-9))
        return self.output_step_h * np.arange(n + 1)

    def update(
        self,
        drug: str = "diazepam",
        dose_mg_per_kg: float = 5.0,
        days: int = 7,
        follow_up_days: float = 63.0,
        genotype: str = "wt",
        depleted: bool = False,
        **regimen: Any,
    ) -> xr.Dataset:
        """Simulate one setting: ``days`` daily doses, then ``follow_up_days`` drug-free days.

        Parameters are those of :meth:`model` plus ``follow_up_days`` [d], the withdrawal follow-up after the
        last dosing day. Returns the usual result Dataset (``time`` in days) on the demo's coarse grid, with the
        settings in its attributes (``teaching_*``).
        """
        if not follow_up_days >= 0:
            raise ValueError(f"follow_up_days = {follow_up_days!r} is not allowed: it must be >= 0")
        model = self.model(drug, dose_mg_per_kg, days, genotype, depleted, **regimen)
        ds = simulate_model(model, self.times_h(days + follow_up_days), self._engines[drug])
        ds.attrs.update(
            teaching_days=float(days),
            teaching_follow_up_days=float(follow_up_days),
            teaching_depleted=int(bool(depleted)),
        )
        return ds


# ---------------------------------------------------------------------------------------------- summaries
def behaviour_test_day(ds: xr.Dataset) -> float:
    """Behavioural test day: 24 h after the last dose, i.e. the end of the last dosing day [d].

    Uses ``dosing_stop_day`` from the result's attributes (the first time point if no dose was given).
    """
    stop = ds.attrs.get("dosing_stop_day", math.nan)
    return float(stop) if np.isfinite(stop) else float(ds.time[0])


def _values(da: xr.DataArray) -> np.ndarray:
    return (da.mean("replicate") if "replicate" in da.dims else da).values


def summary_values(ds: xr.Dataset, nor_drug_free: float | None = None) -> dict[str, float]:
    """The numbers of :func:`summarize` as plain floats (numpy only: fast enough for every slider move).

    Parameters
    ----------
    ds
        A result (ODE engine, or agent engine: replicate means are used).
    nor_drug_free
        NOR discrimination index of drug-free animals [1]; default: the run's own value at time zero.

    Returns
    -------
    dict
        Keys and units as in :func:`summarize`.
    """
    t = ds.time.values
    rel = _values(ds.spine_density_relative)
    day = behaviour_test_day(ds)
    start = ds.attrs.get("dosing_start_day", math.nan)
    dosing = (t >= start) & (t <= day) if np.isfinite(start) else np.zeros(t.shape, dtype=bool)
    compounds = [str(c) for c in ds.compound.values]
    drug = ds.attrs.get("drug", "")
    parent = compounds.index(drug) if drug in compounds else 0
    nor = _values(ds.nor_discrimination_index)
    nor_test = float(np.interp(day, t, nor))
    nor0 = float(nor[0]) if nor_drug_free is None else float(nor_drug_free)
    lowest = int(np.argmin(rel))
    loss = 100.0 - float(rel[lowest])
    later = np.flatnonzero((t >= t[lowest]) & (100.0 - rel < RECOVERY_THRESHOLD_PERCENT))
    recovery = float(t[later[0]]) if later.size else math.nan  # as sim.validation.recovery_day
    tspo, gabaa = ds.tspo_occupancy.values, ds.gabaa_occupancy.values
    cumulative = ds.cumulative_dose.values
    dosed = np.flatnonzero(np.diff(cumulative, prepend=0.0) > 0)  # grid points at or just after a dose
    last_dose = float(t[dosed[-1]]) if dosed.size else math.nan
    return {
        "lowest_spine_density": float(rel[lowest]),
        "max_spine_loss": loss,
        "day_of_max_spine_loss": float(t[lowest]),
        "recovery_day": recovery,
        "spine_loss_at_test": 100.0 - float(np.interp(day, t, rel)),
        "peak_brain_concentration": float(np.max(_values(ds.brain_concentration)[parent])),
        "peak_tspo_occupancy": float(np.max(tspo)),
        "mean_tspo_occupancy": float(np.mean(tspo[dosing])) if dosing.any() else 0.0,
        "peak_gabaa_occupancy": float(np.max(gabaa)),
        "mean_gabaa_occupancy": float(np.mean(gabaa[dosing])) if dosing.any() else 0.0,
        "peak_microglia_activation": float(np.max(_values(ds.microglia_activation))),
        "nor_at_test": nor_test,
        "nor_drop_at_test": nor0 - nor_test,
        "total_dose": float(cumulative[-1]),
        "last_dose_day": last_dose,
        "recovery_after_last_dose": recovery - last_dose if loss >= RECOVERY_THRESHOLD_PERCENT else 0.0,
    }


_SUMMARY = {
    # name: (units, long name)
    "lowest_spine_density": ("percent", "lowest spine density, relative to the drug-free baseline"),
    "max_spine_loss": ("percent", "largest spine loss relative to the drug-free baseline (negative: a gain)"),
    "day_of_max_spine_loss": ("d", "day of the lowest spine density"),
    "recovery_day": (
        "d",
        f"first day at or after the lowest density with a deficit below {RECOVERY_THRESHOLD_PERCENT:g} % "
        "(NaN: not within the run; the day of the lowest density if the loss never reached it)",
    ),
    "spine_loss_at_test": ("percent", "spine loss on the test day (24 h after the last dose)"),
    "peak_brain_concentration": ("uM", "peak total brain concentration of the administered drug"),
    "peak_tspo_occupancy": ("1", "peak fraction of TSPO sites occupied"),
    "mean_tspo_occupancy": ("1", "mean TSPO occupancy from the first dose to the test day"),
    "peak_gabaa_occupancy": ("1", "peak fraction of GABA-A benzodiazepine sites occupied"),
    "mean_gabaa_occupancy": ("1", "mean GABA-A occupancy from the first dose to the test day"),
    "peak_microglia_activation": ("1", "peak microglial activation"),
    "nor_at_test": ("1", "novel-object-recognition discrimination index on the test day"),
    "nor_drop_at_test": ("1", "drop of the NOR discrimination index from its drug-free value on the test day"),
    "total_dose": ("mg/kg", "total dose given"),
    "last_dose_day": ("d", "time of the last dose (first output time at or after it)"),
    "recovery_after_last_dose": (
        "d",
        "days from the last dose to recovery (recovery_day - last_dose_day; 0 if the loss never reached "
        f"{RECOVERY_THRESHOLD_PERCENT:g} %)",
    ),
}


def summarize(ds: xr.Dataset, nor_drug_free: float | None = None) -> xr.Dataset:
    """The numbers a class discusses, as a Dataset of scalars with ``units`` and ``long_name``.

    Parameters
    ----------
    ds
        A result (ODE engine, or agent engine: replicate means are used).
    nor_drug_free
        NOR discrimination index of drug-free animals [1]; default: the run's own value at time zero.

    Returns
    -------
    xarray.Dataset
        Spine densities and losses in percent of the drug-free baseline, days since the first dose, the peak
        brain concentration in uM (on the output grid: a coarse grid misses the true peak), occupancies and
        activation as fractions, the NOR index (0 = chance), the total dose in mg/kg.
        Attributes: ``behaviour_test_day`` [d], ``drug``, ``genotype``, ``depletion``.
    """
    values = summary_values(ds, nor_drug_free)
    out = xr.Dataset({k: ((), v, {"units": _SUMMARY[k][0], "long_name": _SUMMARY[k][1]}) for k, v in values.items()})
    out.attrs.update(
        behaviour_test_day=behaviour_test_day(ds),
        drug=ds.attrs.get("drug", ""),
        genotype=ds.attrs.get("genotype", ""),
        depletion=ds.attrs.get("depletion", "none"),
    )
    return out


def describe(ds: xr.Dataset) -> str:
    """Two lines for a figure title: the settings, then the headline numbers of :func:`summarize`."""
    s = summary_values(ds)
    day = behaviour_test_day(ds)
    depleted = " + PLX5622" if ds.attrs.get("depletion", "none") != "none" else ""
    days = ds.attrs.get("teaching_days", day)
    if s["max_spine_loss"] < RECOVERY_THRESHOLD_PERCENT:
        recovery = f"never more than {RECOVERY_THRESHOLD_PERCENT:g} % below baseline"
    elif math.isnan(s["recovery_day"]):
        recovery = f"not recovered by day {float(ds.time[-1]):g}"
    else:
        recovery = f"within {RECOVERY_THRESHOLD_PERCENT:g} % of baseline again on day {s['recovery_day']:.0f}"
    return (
        f"{ds.attrs.get('drug', '')} {ds.attrs.get('dose_mg_per_kg', math.nan):g} mg/kg/day x {days:g} d, "
        f"{ds.attrs.get('genotype', '')}{depleted}\nlowest spine density {s['lowest_spine_density']:.1f} % "
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


# ---------------------------------------------------------------------------------------------- widgets
class TeachingApp:
    """ipywidgets controls + a :class:`sim.plotting.TeachingFigure` that is updated in place.

    Display ``app.widget`` in a notebook. Every control change calls :meth:`refresh`: it simulates
    (:meth:`TeachingDemo.update`), moves the figure's line data, renders (blitting when the axes did not change)
    and puts the PNG into an ``Image`` widget, so the picture changes without the flicker of re-displaying a
    figure. The status line shows how long the compute and the redraw took. Works in JupyterLab, classic
    notebook and VS Code with the default (inline) matplotlib backend; ``ipympl`` is not needed.

    Parameters
    ----------
    demo
        The demo to use (default: a new :class:`TeachingDemo`, prepared for diazepam).
    continuous_update
        Recompute while a slider is dragged (True) or only when it is released.
    """

    def __init__(self, demo: TeachingDemo | None = None, continuous_update: bool = True) -> None:
        import ipywidgets as widgets

        from sim.plotting import TeachingFigure

        self.demo = demo or TeachingDemo().prepare()
        self.figure = TeachingFigure()
        style = {"description_width": "130px"}
        layout = widgets.Layout(width="400px")
        common = {"style": style, "layout": layout, "continuous_update": continuous_update}
        self.controls = {
            "drug": widgets.Dropdown(
                options=available_drugs(), value="diazepam", description="drug", style=style, layout=layout
            ),
            "dose_mg_per_kg": widgets.FloatSlider(
                value=5.0, min=0.0, max=20.0, step=0.25, description="dose [mg/kg/day]", **common
            ),
            "days": widgets.IntSlider(value=7, min=1, max=56, description="dosing [days]", **common),
            "follow_up_days": widgets.IntSlider(value=63, min=0, max=84, description="follow-up [days]", **common),
            "genotype": widgets.Dropdown(
                options=list(GENOTYPES.items()), value="wt", description="genotype", style=style, layout=layout
            ),
            "depleted": widgets.Checkbox(value=False, description="microglia depleted (PLX5622)", style=style),
        }
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png")
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.HBox(
            [widgets.VBox([*self.controls.values(), self.status]), self.image],
            layout=widgets.Layout(flex_flow="row wrap"),
        )
        self.dataset: xr.Dataset | None = None
        self.compute_s = self.redraw_s = math.nan

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
        try:
            ds = self.demo.update(**self.settings)
        except ValueError as error:  # e.g. a configuration error: show it instead of a traceback
            self.status.value = f"<small style='color:#b00'>{error}</small>"
            raise
        middle = time.perf_counter()
        self.figure.update(ds, title=describe(ds))
        full = self.figure.render()
        self.image.value = self.figure.to_png()
        end = time.perf_counter()
        self.dataset, self.compute_s, self.redraw_s = ds, middle - start, end - middle
        self.status.value = (
            f"<small>compute {1e3 * self.compute_s:.0f} ms, redraw {1e3 * self.redraw_s:.0f} ms"
            f"{' (full)' if full else ''}, {ds.sizes['time']} time points</small>"
        )
        return ds


__all__ = [
    "DEPLETION",
    "GENOTYPES",
    "TeachingApp",
    "TeachingDemo",
    "available_drugs",
    "describe",
    "markdown_table",
    "summarize",
    "summary_values",
    "behaviour_test_day",
]
