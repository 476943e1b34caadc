"""Your own imaging data: longitudinal spine scoring read into the readouts that :mod:`sim.imaging` computes.

Two tables, as CSV (``.csv``) or Excel (``.xlsx``, first sheet; needs ``pip install synaprune[excel]``), first row
the column names, one record per row:

**Scoring table** (one row per spine per imaging session):

==================== =========================================================================================
``animal``           animal identifier (must appear in the groups table)
``dendrite``         dendrite (segment) identifier, unique within the animal
``segment_length_um`` length of that dendrite segment in the field of view [um], > 0, the same on every row
``session_day``      day of the imaging session [d]; the sessions of an animal are the days of its rows
``spine_id``         spine identifier, unique within the dendrite; a spine that is lost and later a new spine at
                     the same place must get a new id (a spine scored present again after being lost is an error)
``present``          1: the spine is scored at this session; 0: not (rows with 0 may be left out)
``spine_type``       optional (thin, mushroom, stubby, ...): checked for presence only, not used by the readouts
==================== =========================================================================================

Rows of one spine must be in the order of their sessions. Every dendrite of an animal must have a row on every
session day of that animal (so a dendrite that was not imaged on a day is not mistaken for one that lost all its
spines).

**Groups table** (one row per animal): ``group``, ``animal`` and the treatment of the group, either

* ``experiment`` (a packaged experiment, :func:`sim.presets.experiments`) and optionally ``overrides`` (synaprune
  command-line overrides separated by spaces, e.g. ``regimen.dose_mg_per_kg=2 regimen.stop_day=14``), or
* ``drug`` (a packaged drug: ``diazepam``, ``xbd173``, ...), ``dose_mg_per_kg`` (0 for vehicle), ``interval_h``,
  ``start_day``, ``stop_day``, ``route`` (``ip``, ``iv``, ``sc``, ``oral``, ``drinking_water``) and ``genotype``
  (``wt``, ``tspo_ko``, ...).

All animals of a group share its treatment. :func:`load` checks both files completely and raises one
:class:`~sim.core.params.ConfigError` listing every problem with its file and line number (header: line 1) in one line, or
returns the Dataset; nothing is half-loaded. The readouts are those of :func:`sim.imaging.score_readouts` (the
same code that images simulated spines): per animal (the field of view is all its dendrites), per dendrite segment
(the counts a likelihood needs) and per group (mean over animals and its standard error).

Command line (writes the NetCDF atomically; on bad input writes nothing and exits with status 2)::

    python -m sim.imaging_data scoring.csv groups.csv --out readouts.nc
"""

from __future__ import annotations

import argparse
import csv
import math
import shlex
import sys
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim import presets
from sim.core.params import ConfigError
from sim.imaging import IMAGING_OUTPUTS, score_readouts
from sim.io import check_writable, save_dataset

#: Required columns of the scoring table -> meaning.
SCORING_COLUMNS = {
    "animal": "animal identifier",
    "dendrite": "dendrite segment identifier within the animal",
    "segment_length_um": "length of the dendrite segment [um]",
    "session_day": "day of the imaging session [d]",
    "spine_id": "spine identifier within the dendrite",
    "present": "1 if the spine is scored at the session, else 0",
}
#: Optional column of the scoring table.
SPINE_TYPE = "spine_type"
#: Treatment columns of the groups table, first form (plus the optional ``overrides``).
EXPERIMENT_COLUMNS = ("experiment",)
#: Treatment columns of the groups table, second form.
REGIMEN_COLUMNS = ("drug", "dose_mg_per_kg", "interval_h", "start_day", "stop_day", "route", "genotype")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")


# ---------------------------------------------------------------------- reading rows
def read_rows(path: str | Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Column names and ``(line number, {column: value})`` of every non-blank row of a CSV or Excel file.

    Line numbers count the header as line 1 (the row number Excel shows). Values are strings (CSV) or the cell
    values (Excel); :func:`load` converts both the same way.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} is not a file: give the path of a .csv or .xlsx table")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                table = [(reader.line_num, row) for row in reader]
        except (UnicodeDecodeError, csv.Error) as error:
            raise ConfigError(f"{str(path)!r} cannot be read as a UTF-8 CSV table: {error}") from error
    elif suffix in EXCEL_SUFFIXES:
        try:
            import openpyxl
        except ImportError as error:
            raise ConfigError(f"{str(path)!r}: reading Excel needs openpyxl (pip install synaprune[excel])") from error
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise ConfigError(f"{str(path)!r} cannot be read as an Excel workbook: {error}") from error
        try:
            sheet = book.worksheets[0]
            table = [(number, list(row)) for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
        finally:
            book.close()
    else:
        raise ConfigError(f"{str(path)!r}: the suffix {suffix!r} is not allowed: use .csv, .xlsx or .xlsm")
    table = [(line, row) for line, row in table if any(_text(value) for value in row)]
    if not table:
        raise ConfigError(f"{str(path)!r} is empty: the first row must name the columns")
    header = [_text(name) for name in table[0][1]]
    rows = [(line, dict(zip(header, row))) for line, row in table[1:]]
    return header, rows


def _text(value: Any) -> str:
    """A cell as an identifier: ``1``, ``1.0`` and ``"1"`` all give ``"1"``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any) -> float:
    """A cell as a finite number, or NaN if it is blank or not a number."""
    if isinstance(value, bool):
        return math.nan
    try:
        number = float(value) if isinstance(value, int | float) else float(_text(value))
    except ValueError:
        return math.nan
    return number if math.isfinite(number) else math.nan


class _Problems(list):
    """Problems found so far, each ``file:line: message``; :meth:`check` raises them all at once."""

    def add(self, path: Path, line: int, message: str) -> None:
        self.append(f"{path.name}:{line}: {message}")

    def check(self) -> None:
        if self:
            raise ConfigError(f"{len(self)} problem(s) in the imaging data (file:line): " + "; ".join(self))


def _missing_columns(path: Path, header: list[str], required: tuple[str, ...], problems: _Problems) -> bool:
    missing = [name for name in required if name not in header]
    for name in missing:
        problems.add(path, 1, f"missing column {name!r} (required: {', '.join(required)})")
    return bool(missing)


# ---------------------------------------------------------------------- groups table
@dataclass(frozen=True)
class Group:
    """One group of the groups table: its treatment as synaprune overrides, and its animals."""

    name: str
    overrides: tuple[str, ...]
    animals: tuple[str, ...]

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, name: str) -> Group:
        """The group ``name`` of a Dataset of :func:`load` (treatment and animals)."""
        if name not in ds["group"].values:
            raise ConfigError(f"group = {name!r} is not allowed: the data have groups {ds['group'].values.tolist()}")
        animals = ds["animal"].values[ds["animal_group"].values == name]
        return cls(name, tuple(shlex.split(str(ds["treatment"].sel(group=name).item()))), tuple(animals.tolist()))

    def config(self, extra: tuple[str, ...] = ()) -> Any:
        """The :class:`~sim.run.RunConfig` of the group's treatment (plus ``extra`` overrides)."""
        return presets.from_overrides([*self.overrides, *extra])


def _regimen_overrides(row: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Overrides of a row in the drug/dose/... form, and the problems of its values."""
    problems, numbers = [], {}
    for name in ("dose_mg_per_kg", "interval_h", "start_day", "stop_day"):
        numbers[name] = _number(row.get(name))
        blank_ok = name == "interval_h" and _text(row.get("route")) == "drinking_water"
        if math.isnan(numbers[name]) and not blank_ok:
            problems.append(f"{name} = {_text(row.get(name))!r} is not a number")
    drug, route, genotype = (_text(row.get(name)) for name in ("drug", "route", "genotype"))
    regimen = "drinking_water" if route == "drinking_water" else "daily_ip"
    overrides = [f"drug={drug}", f"genotype={genotype}", f"regimen={regimen}", f"regimen.route={route}"]
    overrides += [f"regimen.{name}={value!r}" for name, value in numbers.items() if not math.isnan(value)]
    return overrides, problems


@lru_cache(maxsize=256)
def _treatment_problem(overrides: tuple[str, ...]) -> str:
    """The ConfigError message of building this treatment, or "" if it builds."""
    try:
        presets.from_overrides(list(overrides))
    except ConfigError as error:
        return str(error)
    return ""


def read_groups(path: str | Path, problems: _Problems, refused: set[str] | None = None) -> dict[str, Group]:
    """Groups by name from the groups table; appends every problem (with its line) to ``problems``.

    ``refused``, if given, receives the animals whose row was refused.
    """
    refused = set() if refused is None else refused
    path = Path(path)
    header, rows = read_rows(path)
    by_experiment = "experiment" in header
    required = ("group", "animal", *(EXPERIMENT_COLUMNS if by_experiment else REGIMEN_COLUMNS))
    if _missing_columns(path, header, required, problems):
        if not by_experiment:
            problems.add(path, 1, "or give the treatment as 'experiment' (and optionally 'overrides') instead")
        return {}
    treatments: dict[str, tuple[int, tuple[str, ...]]] = {}
    animals: dict[str, list[str]] = defaultdict(list)
    seen: dict[str, int] = {}
    for line, row in rows:
        group, animal = _text(row.get("group")), _text(row.get("animal"))
        if not group or not animal:
            problems.add(path, line, "group and animal must not be blank")
            continue
        if animal in seen:
            problems.add(path, line, f"animal {animal!r} is listed again (first on line {seen[animal]})")
            continue
        seen[animal] = line
        if by_experiment:
            name = _text(row.get("experiment"))
            if name not in presets.experiments():
                problems.add(path, line, f"experiment = {name!r} is not allowed: choose one of {', '.join(presets.experiments())}")  # fmt: skip
                continue
            try:
                extra = shlex.split(_text(row.get("overrides")))
            except ValueError as error:
                problems.add(path, line, f"overrides = {_text(row.get('overrides'))!r} cannot be split: {error}")
                continue
            overrides, value_problems = (f"experiment={name}", *extra), []
        else:
            overrides, value_problems = _regimen_overrides(row)
        for message in value_problems:
            problems.add(path, line, message)
        if value_problems:
            continue
        overrides = tuple(overrides)
        message = _treatment_problem(overrides)
        if message:
            problems.add(path, line, f"treatment of group {group!r} ({' '.join(overrides)}): {message}")
            continue
        if group in treatments and treatments[group][1] != overrides:
            first = treatments[group][0]
            problems.add(path, line, f"group {group!r} has another treatment than on line {first}: {' '.join(overrides)}")  # fmt: skip
            continue
        treatments.setdefault(group, (line, overrides))
        animals[group].append(animal)
    refused.update(set(seen) - {animal for names in animals.values() for animal in names})
    return {name: Group(name, overrides, tuple(animals[name])) for name, (_, overrides) in treatments.items()}


# ---------------------------------------------------------------------- scoring table
@dataclass
class _Spine:
    line: int
    days: list[float]
    present: list[bool]
    lines: list[int]


def read_scoring(
    path: str | Path, animals: set[str], problems: _Problems, invalid: set[str] = frozenset()
) -> dict[str, dict[str, Any]]:
    """Per animal: ``{"days": sorted session days, "dendrites": {name: (length_um, {spine_id: _Spine})}}``.

    ``animals``: the animals of valid groups; ``invalid``: animals whose groups-table row was refused (their rows
    are reported as such, not as unknown animals).
    """
    path = Path(path)
    header, rows = read_rows(path)
    if _missing_columns(path, header, tuple(SCORING_COLUMNS), problems):
        return {}
    typed = SPINE_TYPE in header
    lengths: dict[tuple[str, str], tuple[float, int]] = {}
    spines: dict[tuple[str, str, str], _Spine] = {}
    days: dict[str, set[float]] = defaultdict(set)
    dendrite_days: dict[tuple[str, str], set[float]] = defaultdict(set)
    for line, row in rows:
        animal, dendrite, spine_id = (_text(row.get(k)) for k in ("animal", "dendrite", "spine_id"))
        length, day, present = (_number(row.get(k)) for k in ("segment_length_um", "session_day", "present"))
        bad = []
        if animal in invalid:
            bad.append(f"animal {animal!r}: its row in the groups table was refused (reported there)")
        elif animal not in animals:
            bad.append(f"unknown animal {animal!r} (not in the groups table)")
        if not dendrite or not spine_id:
            bad.append("dendrite and spine_id must not be blank")
        if not length > 0:
            bad.append(f"segment_length_um = {_text(row.get('segment_length_um'))!r} is not allowed: a length > 0 um")
        if math.isnan(day):
            bad.append(f"session_day = {_text(row.get('session_day'))!r} is not a number")
        if present not in (0.0, 1.0):
            bad.append(f"present = {_text(row.get('present'))!r} is not allowed: 0 or 1")
        if typed and not _text(row.get(SPINE_TYPE)) and present == 1.0:
            bad.append("spine_type is blank (the column is there: give the type of every scored spine)")
        if bad:
            problems.add(path, line, "; ".join(bad))
            continue
        key = (animal, dendrite)
        first_length, first_line = lengths.setdefault(key, (length, line))
        if length != first_length:
            problems.add(path, line, f"segment_length_um = {length:g} differs from {first_length:g} on line {first_line} (dendrite {dendrite!r} of animal {animal!r})")  # fmt: skip
            continue
        days[animal].add(day)
        dendrite_days[key].add(day)
        spine = spines.setdefault((animal, dendrite, spine_id), _Spine(line, [], [], []))
        if spine.days and day <= spine.days[-1]:
            what = "is scored twice" if day == spine.days[-1] else "is out of order"
            problems.add(path, line, f"session_day {day:g} of spine {spine_id!r} (dendrite {dendrite!r}, animal {animal!r}) {what}: its previous row, line {spine.lines[-1]}, is day {spine.days[-1]:g}")  # fmt: skip
            continue
        spine.days.append(day)
        spine.present.append(present == 1.0)
        spine.lines.append(line)
    for (animal, dendrite), (_, line) in lengths.items():
        missing = sorted(days[animal] - dendrite_days[(animal, dendrite)])
        if missing:
            problems.add(path, line, f"dendrite {dendrite!r} of animal {animal!r} has no row on session day(s) {', '.join(f'{d:g}' for d in missing)} of that animal")  # fmt: skip
    for (animal, dendrite, spine_id), spine in spines.items():
        _check_no_return(path, animal, dendrite, spine_id, spine, sorted(days[animal]), problems)
    out: dict[str, dict[str, Any]] = {}
    for (animal, dendrite, spine_id), spine in spines.items():
        entry = out.setdefault(animal, {"days": sorted(days[animal]), "dendrites": {}})
        entry["dendrites"].setdefault(dendrite, (lengths[(animal, dendrite)][0], {}))[1][spine_id] = spine
    for missing in sorted(animals - set(out) - invalid):
        problems.append(f"{path.name}: animal {missing!r} of the groups table has no scoring rows")
    return out


def _check_no_return(path: Path, animal: str, dendrite: str, spine_id: str, spine: _Spine, days: list[float],
                     problems: _Problems) -> None:  # fmt: skip
    """A spine scored present, then absent (0 or no row) at a session, must not be scored present again."""
    scored = dict(zip(spine.days, zip(spine.present, spine.lines)))
    seen, lost_day = False, None
    for day in days:
        present, line = scored.get(day, (False, None))
        if present and lost_day is not None:
            problems.add(path, line, f"spine {spine_id!r} (dendrite {dendrite!r}, animal {animal!r}) is scored present on day {day:g} after being lost on day {lost_day:g}: a returning spine needs a new spine_id")  # fmt: skip
            return
        if seen and not present and lost_day is None:
            lost_day = day
        seen = seen or present


def _detected(spines: dict[str, _Spine], days: list[float]) -> np.ndarray:
    """Boolean (spine, session) table of the scored spines."""
    index = {day: k for k, day in enumerate(days)}
    table = np.zeros((len(spines), len(days)), dtype=bool)
    for row, spine in enumerate(spines.values()):
        for day, present in zip(spine.days, spine.present):
            table[row, index[day]] = present
    return table


# ---------------------------------------------------------------------- the Dataset
def _readouts(detected: np.ndarray, length_um: float, days: list[float], all_days: np.ndarray) -> xr.Dataset:
    """:func:`sim.imaging.score_readouts` of one unit, placed on the sessions of all animals (NaN where not imaged)."""
    out = score_readouts(xr.DataArray(detected, dims=("spine", "session")), length_um)
    position = np.searchsorted(all_days, days)
    placed = {}
    for name in IMAGING_OUTPUTS:
        values = np.full(all_days.size, np.nan)
        values[position] = out[name].values
        placed[name] = ("session", values, out[name].attrs)
    return xr.Dataset(placed)


def group_statistics(per_animal: xr.DataArray, animal_group: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:  # fmt: skip
    """Mean over the animals of each group, its standard error (SD with ddof=1 / sqrt(n)) and n.

    NaN values (sessions an animal was not imaged) are left out; the standard error is NaN for n < 2.
    """
    grouped = per_animal.groupby(animal_group)
    n = grouped.count("animal")
    mean = grouped.mean("animal")
    se = grouped.std("animal", ddof=1) / np.sqrt(n.where(n > 1))
    return mean, se, n


def load(scoring: str | Path, groups: str | Path) -> xr.Dataset:
    """Read and check both tables; the imaging readouts per animal, per dendrite segment and per group.

    Returns
    -------
    xarray.Dataset
        Over ``session`` (the sorted session days of all animals; coordinate ``session_day`` [d]):

        * the variables of :data:`sim.imaging.IMAGING_OUTPUTS` over ``(animal, session)``, NaN where an animal
          was not imaged; coordinate ``animal_group``; ``dendrite_length_um`` (animal), the field of view;
        * ``<name>_group_mean`` and ``<name>_group_se`` over ``(group, session)`` and ``n_animals``;
          ``treatment`` (group): the synaprune overrides of the group;
        * ``segment_<count>`` over ``(segment, session)`` for the counts, with ``segment_length_um``,
          ``segment_animal`` and ``segment_dendrite`` over ``segment``: counts per dendrite for a likelihood.

    Raises
    ------
    ConfigError
        Listing every problem of both files with its file and line number.
    """
    problems = _Problems()
    refused: set[str] = set()
    group_table = read_groups(groups, problems, refused)
    animal_group = {animal: g.name for g in group_table.values() for animal in g.animals}
    scored = read_scoring(scoring, set(animal_group), problems, refused)
    problems.check()
    all_days = np.array(sorted({day for entry in scored.values() for day in entry["days"]}))
    animals = [a for g in group_table.values() for a in g.animals]
    per_animal, per_segment, segments = [], [], []
    for animal in animals:
        entry = scored[animal]
        dendrites = entry["dendrites"]
        every = {(d, s): spine for d, (_, sp) in dendrites.items() for s, spine in sp.items()}
        length = sum(length for length, _ in dendrites.values())
        per_animal.append(_readouts(_detected(every, entry["days"]), length, entry["days"], all_days))
        for dendrite, (seg_length, spines) in dendrites.items():
            per_segment.append(_readouts(_detected(spines, entry["days"]), seg_length, entry["days"], all_days))
            segments.append((animal, dendrite, seg_length))
    ds = xr.concat(per_animal, dim="animal")
    ds["dendrite_length_um"] = ("animal", [sum(s[2] for s in segments if s[0] == a) for a in animals],
                                {"units": "um", "long_name": "dendrite length scored per animal (field of view)"})  # fmt: skip
    ds = ds.assign_coords(animal=("animal", animals), animal_group=("animal", [animal_group[a] for a in animals]))
    for name, (units, long_name) in IMAGING_OUTPUTS.items():
        mean, se, n = group_statistics(ds[name], ds["animal_group"])
        ds[f"{name}_group_mean"] = mean.rename(animal_group="group").assign_attrs(units=units, long_name=f"{long_name}: mean over the animals of the group")  # fmt: skip
        ds[f"{name}_group_se"] = se.rename(animal_group="group").assign_attrs(units=units, long_name=f"{long_name}: standard error of the group mean")  # fmt: skip
        if name == "spine_count":
            ds["n_animals"] = n.rename(animal_group="group").assign_attrs(units="1", long_name="animals imaged at the session")  # fmt: skip
    seg = xr.concat(per_segment, dim="segment")
    for name in ("spine_count", "gained_count", "lost_count", "surviving_count"):
        ds[f"segment_{name}"] = seg[name].assign_attrs(long_name=f"{IMAGING_OUTPUTS[name][1]} (one dendrite segment)")
    ds = ds.assign_coords(segment=("segment", np.arange(len(segments)), {"units": "1", "long_name": "dendrite segment"}))  # fmt: skip
    ds["segment_length_um"] = ("segment", [s[2] for s in segments], {"units": "um", "long_name": "length of the dendrite segment"})  # fmt: skip
    ds["segment_animal"] = ("segment", [s[0] for s in segments], {"long_name": "animal of the dendrite segment"})
    ds["segment_dendrite"] = ("segment", [s[1] for s in segments], {"long_name": "dendrite identifier in the animal"})
    names = list(ds["group"].values)
    ds["treatment"] = ("group", [shlex.join(group_table[g].overrides) for g in names], {"long_name": "synaprune overrides of the group's treatment (shell words)"})  # fmt: skip
    ds = ds.assign_coords(session=np.arange(all_days.size), session_day=("session", all_days))
    ds["session"].attrs.update(units="1", long_name="imaging session (sorted session days of all animals)")
    ds["session_day"].attrs.update(units="d", long_name="day of the imaging session")
    ds["animal"].attrs.update(long_name="animal")
    ds["animal_group"].attrs.update(long_name="group of the animal")
    ds["group"].attrs.update(long_name="treatment group")
    ds.attrs.update(
        source_scoring=Path(scoring).name,
        source_groups=Path(groups).name,
        readouts="sim.imaging.score_readouts per animal and per dendrite segment; group mean and SE over animals",
        turnover_ratio_definition="(gained + lost) / (2 N_previous) (Holtmaat et al. 2005, previous-session count)",
        survival_definition="spines scored at the animal's first session and scored again at session k, per spine at the first session",  # fmt: skip
    )
    return ds


# ---------------------------------------------------------------------- synthetic example
#: Treatments of the packaged synthetic example (groups table, drug/dose form): vehicle and diazepam 5 mg/kg i.p.
#: once daily for 7 days (the sedative arm of Shi et al. 2022), wild-type mice.
EXAMPLE_TREATMENTS: dict[str, dict[str, Any]] = {
    "vehicle": {"drug": "diazepam", "dose_mg_per_kg": 0.0, "interval_h": 24.0, "start_day": 0.0, "stop_day": 7.0,
                "route": "ip", "genotype": "wt"},
    "diazepam": {"drug": "diazepam", "dose_mg_per_kg": 5.0, "interval_h": 24.0, "start_day": 0.0, "stop_day": 7.0,
                 "route": "ip", "genotype": "wt"},
}  # fmt: skip

#: Settings of the packaged synthetic example (see :func:`simulate_example`).
EXAMPLE_SETTINGS: dict[str, Any] = {
    "animals_per_group": 4,
    "segments": 5,
    "segment_length_um": 20.0,
    "duration_days": 28.0,
    "interval_days": 4.0,
    "seed": 2022,
}

#: Where the packaged example lives (``sim/data``) and its file names.
EXAMPLE_DIR = Path(__file__).resolve().parent / "data"
EXAMPLE_SCORING = "example_imaging_scoring.csv"
EXAMPLE_GROUPS = "example_imaging_groups.csv"
#: The generating parameter values of the example (float fields of these stage groups), one row per parameter.
EXAMPLE_PARAMETERS = "example_imaging_parameters.csv"
EXAMPLE_PARAMETER_GROUPS = ("microglia", "spines")


def example_parameters(treatments: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Rows ``{parameter, value, units}`` of the values that generated the example (shared by its groups).

    The float fields of :data:`EXAMPLE_PARAMETER_GROUPS` in the model of each treatment of
    :data:`EXAMPLE_TREATMENTS`; a ConfigError if the groups differ in one of them (then no single value generated
    the data).
    """
    from dataclasses import fields

    treatments = EXAMPLE_TREATMENTS if treatments is None else treatments
    runs = [presets.from_overrides(_regimen_overrides(t)[0]) for t in treatments.values()]
    rows = []
    for group in EXAMPLE_PARAMETER_GROUPS:
        for f in fields(getattr(runs[0], group)):
            if not f.init or f.type not in (float, "float"):
                continue
            values = {float(getattr(getattr(run, group), f.name)) for run in runs}
            if len(values) != 1:
                raise ConfigError(f"{group}.{f.name} differs between the example's groups: {sorted(values)}")
            rows.append({"parameter": f"{group}.{f.name}", "value": values.pop(), "units": f.metadata.get("units", "")})
    return rows


def simulate_example(
    treatments: dict[str, dict[str, Any]] | None = None, **settings: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, xr.Dataset]]:
    """Synthetic imaging data from the agent engine and :mod:`sim.imaging` at the packaged model's parameters.

    Each group is simulated with its treatment (``engine=agents``, one replicate per animal, the calibrated
    default model), imaged with perfect detection every ``interval_days`` from day 0 over all ``segments`` x
    ``segment_length_um`` of dendrite, and written as scoring rows (one per spine ever scored per session; the
    dendrite of a spine is its simulated segment).

    Parameters
    ----------
    treatments
        Group -> groups-table treatment columns (:data:`REGIMEN_COLUMNS`); :data:`EXAMPLE_TREATMENTS` if omitted.
    **settings
        Overrides of :data:`EXAMPLE_SETTINGS`. Group ``i`` (in order) uses seed ``seed + i``.

    Returns
    -------
    tuple
        Scoring rows, groups rows (dicts by column) and, per group, :func:`sim.imaging.image` of the simulation
        (``replicate`` k is animal ``<group>_<k+1>``): the readouts the rows must give back.
    """
    from sim.imaging import ImagingProtocol, detected_spines, image
    from sim.run import simulate

    treatments = EXAMPLE_TREATMENTS if treatments is None else treatments
    unknown = sorted(set(settings) - set(EXAMPLE_SETTINGS))
    if unknown:
        raise ConfigError(f"simulate_example() got unknown settings {unknown}: allowed are {sorted(EXAMPLE_SETTINGS)}")
    opt = {**EXAMPLE_SETTINGS, **settings}
    length = float(opt["segment_length_um"])
    protocol = ImagingProtocol(interval_days=float(opt["interval_days"]), fov_length_um=opt["segments"] * length)
    scoring, groups, imaged = [], [], {}
    for index, (group, treatment) in enumerate(treatments.items()):
        overrides, problems = _regimen_overrides(treatment)
        if problems:
            raise ConfigError(f"treatment of group {group!r}: {'; '.join(problems)}")
        run = presets.from_overrides([*overrides, "engine=agents", f"engine.replicates={opt['animals_per_group']}",
                                      f"engine.segments={opt['segments']}", f"engine.segment_length_um={length!r}",
                                      "engine.progress=false", "engine.record_cells=false",
                                      f"duration_days={float(opt['duration_days'])!r}", f"seed={opt['seed'] + index}"])  # fmt: skip
        ds = simulate(run)
        imaged[group] = image(ds, protocol)
        detected = detected_spines(ds, protocol).transpose("replicate", "spine", "session")
        days = detected["session_day"].values
        position = ds["spine_position"].transpose("replicate", "spine").values
        for r in range(detected.sizes["replicate"]):
            animal = f"{group}_{r + 1}"
            groups.append({"group": group, "animal": animal, **treatment})
            table = detected.values[r]
            seen = np.flatnonzero(table.any(axis=1))
            dendrites = {int(position[r, i] // length) for i in seen}
            if len(dendrites) != opt["segments"]:
                raise ConfigError(f"animal {animal!r}: a segment has no scored spine; use longer segments")
            for k, day in enumerate(days):
                scoring += [{"animal": animal, "dendrite": f"d{int(position[r, i] // length) + 1}",
                             "segment_length_um": length, "session_day": float(day), "spine_id": f"s{i}",
                             "present": int(table[i, k])} for i in seen]  # fmt: skip
    return scoring, groups, imaged


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write rows (dicts with the same keys) as a CSV table; numbers written with ``repr`` (exact round trip)."""
    path = Path(path)
    columns = list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[row[c] for c in columns] for row in rows])
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.imaging_data scoring.csv groups.csv --out readouts.nc``: 0 on success, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m sim.imaging_data", description=__doc__.splitlines()[0])
    parser.add_argument("scoring", help="scoring table (.csv or .xlsx)")
    parser.add_argument("groups", help="groups table (.csv or .xlsx)")
    parser.add_argument("--out", default="readouts.nc", help="NetCDF file to write (default: readouts.nc)")
    args = parser.parse_args(argv)
    try:
        ds = load(args.scoring, args.groups)
        check_writable(Path(args.out).resolve().parent)
        path = save_dataset(ds, args.out)
    except ConfigError as error:
        print(f"sim.imaging_data: error: {error}", file=sys.stderr)  # one line: every problem, file and line number
        return 2
    print(f"wrote {path}: {ds.sizes['animal']} animals in {ds.sizes['group']} groups, {ds.sizes['session']} sessions")
    return 0


__all__ = [
    "EXAMPLE_DIR",
    "EXAMPLE_GROUPS",
    "EXAMPLE_PARAMETERS",
    "EXAMPLE_PARAMETER_GROUPS",
    "EXAMPLE_SCORING",
    "EXAMPLE_SETTINGS",
    "EXAMPLE_TREATMENTS",
    "EXPERIMENT_COLUMNS",
    "REGIMEN_COLUMNS",
    "SCORING_COLUMNS",
    "Group",
    "group_statistics",
    "load",
    "main",
    "read_groups",
    "read_rows",
    "read_scoring",
    "simulate_example",
    "example_parameters",
    "write_csv",
]

if __name__ == "__main__":
    sys.exit(main())
