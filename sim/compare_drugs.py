"""Benzodiazepines at clinically equivalent doses, ranked by their predicted TSPO liability (issue 15).

``python -m sim.compare_drugs [--out DIR] [--days N] [--draws N] [--species human|mouse] [--drugs a,b,...]
[--reference-dose D] [--doses-per-day N] [--seed N] [--pk real|equal]`` writes ``compare_drugs.nc``,
``compare_drugs.md`` (the ranked table) and ``compare_drugs.png`` (ranked bars) into ``--out`` (default ``.``).
Bad input: one line on stderr, exit 2, nothing written.

**Doses.** Each drug at the dose the clinical equivalence table (:data:`sim.analysis.EQUIVALENT_ORAL_DOSE_MG`,
source :data:`sim.analysis.EQUIVALENCE_SOURCE`) makes equivalent to ``reference_dose`` of diazepam, given by mouth
``doses_per_day`` times a day in equal parts for ``duration_days`` (default 26 weeks, as the human clinical regimens
of ``sim/configs/regimen/human_*``). Human doses are in mg; for the mouse the same ratios are applied to mg/kg
(assumption, as in notebook 05). The table matches clinical (GABA-A) effect; it says nothing about TSPO.

**Readouts per drug** (human: over the posterior x translation draws of :mod:`sim.uncertainty`; mouse: posterior
draws; the same draws for every drug, so the comparison is paired; run through :func:`sim.sweep` as
:func:`sim.uncertainty.run_with_uncertainty` does):

* spine deficit: largest loss of spine density below the drug-free baseline during the run [percent], 5-95 % band;
* microglial activation: time mean over the run [1], 5-95 % band;
* TSPO occupancy-time: integral of TSPO occupancy over the run [h] (:func:`sim.uncertainty.occupancy_time`, the
  exposure bridge; PK and binding are not drawn, so it has no band), and the share of it carried by metabolites;
* GABA-A occupancy: time mean over the run [1] (on the output grid), the clinical effect the doses are matched for.

**Rank** by the median spine deficit (largest first). Deficits below :data:`RESOLUTION_PERCENT` (a hundred times the
solver's relative tolerance, far below anything imaging resolves) are ties, broken by TSPO occupancy-time (larger
first), then by name; the table marks the rows placed by the tie-break.

**Equal PK** (``pk="equal"``): every drug is given the reference drug's own (parent) kinetics in the species
(:data:`REFERENCE_DRUG`: half-life, volumes, free fraction, brain/plasma ratio, absorption and bioavailability) and
*no metabolites* (a drug's metabolites have their own affinities; keeping them would mix their binding into the
parent's), at the dose that gives the reference dose's GABA-A occupancy: molar dose proportional to the GABA-A Ki.
Every drug then occupies GABA-A alike, and its free brain concentration in units of its GABA-A Ki is the same
curve, so the TSPO occupancy and everything downstream rank by Ki(GABA-A) / Ki(TSPO) (drugs with the same ratio,
e.g. alprazolam and lorazepam, have the same curves and are ordered by name). Doses above a label maximum are allowed
in this mode (a counterfactual, not a regimen).

**Where the order changes and why** (``pk="real"``): the equal-PK ranking is run as well, and the change from its
TSPO occupancy-time to the real one is split into three chained counterfactuals (TSPO occupancy-time only: PK and
binding, no microglial assumption): *dose* (reference kinetics, no metabolites, the clinical table's dose instead of
the equal-GABA-A dose), *kinetics* (the drug's own parent kinetics), *metabolites* (its metabolites added). For a
drug whose rank changes, the dominant reason is the step that moved it most against the drugs it swapped places with
(sum over those drugs of the difference of the step's log factors).

Research and teaching tool, not medical advice: the microglia and spine stages are calibrated in mice.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from sim import library, presets
from sim.analysis import EQUIVALENCE_SOURCE, EQUIVALENT_ORAL_DOSE_MG
from sim.checks import check_plausible_dose
from sim.core import __version__
from sim.core.params import ConfigError
from sim.core.results import git_state
from sim.drug import Drug
from sim.run import RunConfig, model_attributes
from sim.sweep import sweep
from sim.uncertainty import (
    BAND_BASIS,
    DISCLAIMER,
    occupancy_time,
    parameter_draws,
    translated,
    with_uncertainty,
)

#: The equivalence table's reference drug; its parent kinetics are the "equal PK" of every drug.
REFERENCE_DRUG = "diazepam"
#: Species the comparison runs in, and the unit of the dose in each.
SPECIES: dict[str, str] = {"human": "mg", "mouse": "mg/kg"}
#: Default reference dose of diazepam per day, per species [mg for humans, mg/kg for mice].
DEFAULT_REFERENCE_DOSE: dict[str, float] = {"human": 10.0, "mouse": 5.0}
#: Default duration of continuous use [d]: 26 weeks, as the human clinical regimens (sim/configs/regimen/human_*).
DEFAULT_DAYS = 182.0
#: Default number of draws (the translated-run default of sim/configs/uncertainty).
DEFAULT_DRAWS = 200
#: Modes of the kinetics.
PK_MODES = ("real", "equal")
#: Spine deficits below this are ties in the ranking [percent of baseline]: 100 x the solver's relative tolerance
#: (1e-7 of a density near 100 %).
RESOLUTION_PERCENT = 1e-3
#: Output grid of the runs [h] (resolves the daily dose pulses for the GABA-A time mean).
OUTPUT_STEP_H = 1.0
#: The steps from equal to real kinetics, in the order they are applied (see the module docstring).
STEPS = ("dose", "kinetics", "metabolites")
#: Outputs of each run over draws.
_OUTPUTS = ["spine_density_relative", "microglia_activation", "gabaa_occupancy"]
QUANTILE_NAMES = (("q05", 0.05), ("median", 0.5), ("q95", 0.95))


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved settings of one comparison (all validated; see :func:`settings`)."""

    drugs: tuple[str, ...]
    species: str
    reference_dose: float
    duration_days: float
    draws: int
    seed: int
    doses_per_day: int
    pk: str

    @property
    def dose_units(self) -> str:
        """Unit of the doses: mg (humans) or mg/kg (mice)."""
        return SPECIES[self.species]


def settings(
    drugs: Sequence[str] | None = None,
    reference_dose: float | None = None,
    duration_days: float = DEFAULT_DAYS,
    species: str = "human",
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    doses_per_day: int = 1,
    pk: str = "real",
) -> Settings:
    """Validated :class:`Settings`; raise :class:`ConfigError` naming the key, the value and what is allowed."""
    table = list(EQUIVALENT_ORAL_DOSE_MG)
    drugs = table if drugs is None else drugs.split(",") if isinstance(drugs, str) else list(drugs)
    for drug in drugs:
        if drug not in EQUIVALENT_ORAL_DOSE_MG:
            raise ConfigError(
                f"drugs = {drug!r} is not allowed: choose from the equivalence table ({', '.join(table)})"
            )
    if len(set(drugs)) != len(drugs) or len(drugs) < 2:
        raise ConfigError(f"drugs = {','.join(drugs)!r} is not allowed: give at least two different drugs")
    if species not in SPECIES:
        raise ConfigError(f"species = {species!r} is not allowed: choose one of {', '.join(SPECIES)}")
    if pk not in PK_MODES:
        raise ConfigError(f"pk = {pk!r} is not allowed: choose one of {', '.join(PK_MODES)}")
    dose = DEFAULT_REFERENCE_DOSE[species] if reference_dose is None else reference_dose
    if not isinstance(dose, (int, float)) or not math.isfinite(dose) or dose <= 0:
        raise ConfigError(f"reference_dose = {dose!r} is not allowed: a positive number of {SPECIES[species]}")
    if not isinstance(duration_days, (int, float)) or not math.isfinite(duration_days) or duration_days < 1:
        raise ConfigError(f"duration_days = {duration_days!r} is not allowed: a number of days >= 1")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise ConfigError(f"draws = {draws!r} is not allowed: an integer >= 2")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed = {seed!r} is not allowed: a non-negative integer")
    if doses_per_day not in (1, 2, 3, 4):
        raise ConfigError(f"doses_per_day = {doses_per_day!r} is not allowed: 1, 2, 3 or 4")
    return Settings(tuple(drugs), species, float(dose), float(duration_days), draws, seed, doses_per_day, pk)


# ---------------------------------------------------------------------------------------------------- runs
def clinical_daily_dose(drug: str, s: Settings) -> float:
    """Daily dose of ``drug`` equivalent to ``s.reference_dose`` of diazepam by the clinical table [mg or mg/kg]."""
    table = EQUIVALENT_ORAL_DOSE_MG
    return s.reference_dose * table[drug] / table[REFERENCE_DRUG]


def clinical_run(drug: str, s: Settings) -> RunConfig:
    """The run of ``drug`` at its clinically equivalent dose with its real kinetics, over draws."""
    per_dose = clinical_daily_dose(drug, s) / s.doses_per_day
    if s.species == "human":
        regimen = ["regimen=human_daily_oral", f"regimen.dose_mg={per_dose!r}"]
    else:
        regimen = ["regimen=daily_oral", f"regimen.dose_mg_per_kg={per_dose!r}"]
    run = presets.from_overrides(
        [
            f"species={s.species}",
            f"drug={drug}",
            *regimen,
            f"regimen.interval_h={24.0 / s.doses_per_day!r}",
            "regimen.start_day=0",
            f"regimen.stop_day={s.duration_days!r}",
            f"duration_days={s.duration_days!r}",
            f"output_step_h={OUTPUT_STEP_H!r}",
            f"seed={s.seed}",
            f"uncertainty.draws={s.draws}",
        ]
    )
    return run if translated(run) else with_uncertainty(run, "posterior", s.draws)


def parent_only(run: RunConfig, kinetics: RunConfig | None = None) -> RunConfig:
    """``run`` without metabolites; with the parent kinetics and absorption of ``kinetics``'s dosed drug if given.

    The compound (and its affinities) stays the run's own drug; only the numbers of its disposition change.
    """
    name = run.drug.name
    source = kinetics or run
    pk = dataclasses.replace(source.pk, dosed=name, compounds={name: source.pk.compounds[source.pk.dosed]})
    return dataclasses.replace(run, pk=pk, drug=Drug(name=name, compounds={name: run.drug.compounds[name]}))


def equal_gabaa_daily_dose(drug: str, s: Settings) -> float:
    """Daily dose of ``drug`` whose molar amount gives the reference dose's GABA-A occupancy under equal PK.

    ``reference_dose x (Ki_GABA-A x molar mass of drug) / (Ki_GABA-A x molar mass of diazepam)`` [mg or mg/kg].
    """
    compounds = library.build(library.compose([f"drug={drug}"]))["drug"].compounds
    reference = library.build(library.compose([f"drug={REFERENCE_DRUG}"]))["drug"].compounds[REFERENCE_DRUG]
    c = compounds[drug]
    return (
        s.reference_dose
        * c.gabaa_ki_nM
        * c.molar_mass_g_per_mol
        / (reference.gabaa_ki_nM * reference.molar_mass_g_per_mol)
    )


def equal_pk_run(drug: str, s: Settings, reference: RunConfig) -> RunConfig:
    """``drug`` with the reference drug's parent kinetics, no metabolites, at :func:`equal_gabaa_daily_dose`."""
    run = parent_only(clinical_run(drug, s), kinetics=reference)
    regimen = run.regimen
    per_dose = equal_gabaa_daily_dose(drug, s) / s.doses_per_day
    field = "dose_mg" if regimen.dose_mg is not None else "dose_mg_per_kg"
    regimen = dataclasses.replace(regimen, **{field: per_dose}, allow_implausible_dose=True)
    return dataclasses.replace(run, regimen=regimen)


def affinity_ratio(run: RunConfig) -> tuple[float, float, float]:
    """(Ki GABA-A / Ki TSPO, Ki GABA-A [nM], Ki TSPO [nM]) of the run's dosed compound in its species (in vitro)."""
    c = run.drug.compounds[run.drug.name]
    tspo = c.tspo_ki_for(run.species.name, run.species.tspo_binder if run.species.name == "human" else "high")
    return c.gabaa_ki_nM / tspo, c.gabaa_ki_nM, tspo


def assumed_kinetics(run: RunConfig) -> bool:
    """True if the dosed compound's kinetics in the run's species rest on an assumption (its source says so first)."""
    return run.pk.compounds[run.pk.dosed].source.strip().lower().startswith("assumption")


def flags(run: RunConfig) -> str:
    """What the drug's row rests on beyond measurement: placeholder kinetics, unmeasured TSPO Ki ("" if neither)."""
    out = []
    if assumed_kinetics(run):
        out.append(f"kinetics assumed in {run.species.name}")
    c = run.drug.compounds[run.drug.name]
    if c.tspo_ki_source.strip().lower().startswith("assumption"):
        out.append("TSPO Ki assumed")
    elif "lower bound" in c.tspo_ki_source:
        out.append("TSPO Ki a lower bound (occupancy an upper estimate)")
    elif run.species.name != "mouse" and run.drug.borrowed_tspo_ki(run.species.name, (run.drug.name,)):
        out.append(f"TSPO Ki not measured in {run.species.name}")
    return "; ".join(out)


def _dosing_mean(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Trapezoidal time mean of ``name`` over the run (per draw) [its units]."""
    t = ds["time"]
    return ds[name].integrate("time") / float(t[-1] - t[0])


def _draws(run: RunConfig, values: dict[str, np.ndarray]) -> dict[str, np.ndarray | float]:
    """Spine deficit [percent] and mean activation [1] per draw, and mean GABA-A occupancy [1], of ``run``.

    ``values`` are the parameter draws (:func:`sim.uncertainty.parameter_draws`, the same for every drug), run in one
    :func:`sim.sweep` call as :func:`sim.uncertainty.run_with_uncertainty` does (without its time-course quantiles).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the species caveat and implausible counterfactual doses
        ds = sweep(run, values, mode="zip", variables=_OUTPUTS, progress=False).rename(sample="draw")
    deficit = 100.0 - ds["spine_density_relative"].min("time")
    gabaa = _dosing_mean(ds, "gabaa_occupancy")
    return {
        "spine_deficit": np.asarray(deficit.transpose("draw").values, dtype=float),
        "activation": np.asarray(_dosing_mean(ds, "microglia_activation").transpose("draw").values, dtype=float),
        "gabaa": float(gabaa.isel(draw=0)) if "draw" in gabaa.dims else float(gabaa),
    }


def rank_order(deficit: Sequence[float], occupancy: Sequence[float], names: Sequence[str]) -> list[int]:
    """Indices in rank order: median spine deficit (largest first; below :data:`RESOLUTION_PERCENT` a tie), then
    TSPO occupancy-time (largest first), then name.
    """  # noqa: D205

    def key(i: int) -> tuple:
        resolved = deficit[i] if deficit[i] >= RESOLUTION_PERCENT else 0.0
        return (-float(f"{resolved:.9g}"), -float(f"{occupancy[i]:.9g}"), names[i])

    return sorted(range(len(names)), key=key)


def _ranks(order: list[int]) -> np.ndarray:
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


# ---------------------------------------------------------------------------------------------------- compare
def check(s: Settings) -> tuple[RunConfig, dict[str, np.ndarray], dict[str, str]]:
    """Refuse, before anything runs, what :func:`settings` cannot see; the reference drug's run and the draws.

    Composes every drug's run (a species without kinetics of a drug: :func:`sim.library.missing_kinetics`), refuses a
    clinical dose above the drug's label maximum (:func:`sim.checks.check_plausible_dose`) and more draws than the
    posterior holds. Returns the reference run and its parameter draws with the attributes that describe them
    (:func:`sim.uncertainty.parameter_draws`; the same for every drug: they depend on the seed, not the drug).
    """
    runs = {d: clinical_run(d, s) for d in dict.fromkeys([REFERENCE_DRUG, *s.drugs])}
    for drug, run in runs.items():
        check_plausible_dose(run.model(), s.duration_days, library.max_daily_dose(drug, s.species))
    values, attrs = parameter_draws(runs[REFERENCE_DRUG])
    return runs[REFERENCE_DRUG], values, attrs


def compare_drugs(
    drugs: Sequence[str] | None = None,
    reference_dose: float | None = None,
    duration_days: float = DEFAULT_DAYS,
    species: str = "human",
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    doses_per_day: int = 1,
    pk: str = "real",
) -> xr.Dataset:
    """The drugs at equipotent doses, ranked (dimension ``drug`` in rank order); see the module docstring.

    Parameters
    ----------
    drugs
        Names from the equivalence table (default all of it).
    reference_dose
        Daily dose of diazepam the others are equivalent to [mg for humans (default 10), mg/kg for mice (default 5)].
    duration_days
        Days of continuous use (and of the run) [d].
    species
        ``human`` (translated: posterior x translation draws) or ``mouse`` (posterior draws).
    draws
        Number of parameter draws (the same draws for every drug).
    seed
        Seed of the draws.
    doses_per_day
        The daily dose is given in this many equal parts, evenly spaced.
    pk
        ``real``: each drug's own kinetics and metabolites, with the equal-PK ranking and the reasons where the two
        differ; ``equal``: the reference drug's parent kinetics for every drug, no metabolites, equal-GABA-A doses.

    Raises
    ------
    ConfigError
        Before anything runs: a drug outside the table, a bad number, a species without kinetics of a drug, more
        draws than the posterior holds, a real dose above a label maximum.
    """
    s = settings(drugs, reference_dose, duration_days, species, draws, seed, doses_per_day, pk)
    started = time.perf_counter()
    reference, values, draw_attrs = check(s)
    real = {d: clinical_run(d, s) for d in s.drugs}
    equal = {d: equal_pk_run(d, s, reference) for d in s.drugs}
    primary = real if pk == "real" else equal
    names = list(s.drugs)
    results = {d: _draws(primary[d], values) for d in names}
    occ = np.array([occupancy_time(primary[d])[0] for d in names])
    deficit = np.array([results[d]["spine_deficit"] for d in names])  # (drug, draw)
    activation = np.array([results[d]["activation"] for d in names])
    order = rank_order(np.median(deficit, axis=1), occ, names)
    data: dict[str, tuple] = {}
    if pk == "real":
        eq_results = {d: _draws(equal[d], values) for d in names}
        eq_deficit = np.array([np.median(eq_results[d]["spine_deficit"]) for d in names])
        steps = {
            "equal": np.array([occupancy_time(equal[d])[0] for d in names]),
            "dose": np.array([occupancy_time(parent_only(real[d], kinetics=reference))[0] for d in names]),
            "kinetics": np.array([occupancy_time(parent_only(real[d]))[0] for d in names]),
            "metabolites": occ,
        }
        eq_order = rank_order(eq_deficit, steps["equal"], names)
        data.update(_explanation(names, order, eq_order, steps, real, reference, eq_deficit, eq_results))
    ratio = [affinity_ratio(primary[d]) for d in names]
    unit = s.dose_units
    daily = [
        clinical_daily_dose(d, s) if pk == "real" else equal_gabaa_daily_dose(d, s) for d in names
    ]  # fmt: skip
    what = "real kinetics" if pk == "real" else "equal kinetics (reference parent PK, no metabolites)"
    data.update(
        {
            "rank": ("drug", _ranks(order), {"units": "1", "long_name": f"rank by predicted spine deficit ({what})"}),
            "rank_affinity_ratio": (
                "drug", _ranks(sorted(range(len(names)), key=lambda i: (-ratio[i][0], names[i]))),
                {"units": "1", "long_name": "rank by Ki(GABA-A) / Ki(TSPO) of the dosed compound (largest first)"},
            ),
            "daily_dose": ("drug", np.array(daily), {"units": unit, "long_name": f"daily dose ({what})"}),
            "clinical_daily_dose": (
                "drug", np.array([clinical_daily_dose(d, s) for d in names]),
                {"units": unit, "long_name": "daily dose equivalent to the reference dose of diazepam (clinical table)"},
            ),
            "affinity_ratio": ("drug", np.array([r[0] for r in ratio]), {"units": "1", "long_name": "Ki(GABA-A) / Ki(TSPO) of the dosed compound (in vitro)"}),
            "gabaa_ki": ("drug", np.array([r[1] for r in ratio]), {"units": "nM", "long_name": "GABA-A benzodiazepine-site Ki of the dosed compound (in vitro)"}),
            "tspo_ki": ("drug", np.array([r[2] for r in ratio]), {"units": "nM", "long_name": f"TSPO Ki of the dosed compound in {species}"}),
            "parent_half_life": (
                "drug", np.array([real[d].pk.compounds[d].half_life_h for d in names]),
                {"units": "h", "long_name": f"elimination half-life of the dosed compound in {species} (real kinetics)"},
            ),
            "tspo_occupancy_time": ("drug", occ, {"units": "h", "long_name": f"integral of TSPO occupancy over the run ({what}; PK and binding only)"}),
            "mean_gabaa_occupancy": ("drug", np.array([results[d]["gabaa"] for d in names]), {"units": "1", "long_name": f"time-mean GABA-A benzodiazepine-site occupancy over the run ({what})"}),
            "spine_deficit": (("drug", "draw"), deficit, {"units": "percent", "long_name": f"largest loss of spine density below the drug-free baseline during the run ({what})"}),
            "microglia_activation_mean": (("drug", "draw"), activation, {"units": "1", "long_name": f"time-mean microglial activation over the run ({what})"}),
            "flags": ("drug", np.array([flags(real[d]) for d in names], dtype=object), {"units": "", "long_name": "what the row rests on beyond measurement"}),
        }
    )  # fmt: skip
    ds = xr.Dataset(data, coords={"drug": ("drug", names, {"units": "", "long_name": "benzodiazepine"})})
    for name in ("spine_deficit", "microglia_activation_mean"):
        for suffix, q in QUANTILE_NAMES:
            words = "median" if q == 0.5 else f"{round(100 * q)}th percentile"
            ds[f"{name}_{suffix}"] = ds[name].quantile(q, dim="draw").drop_vars("quantile")
            ds[f"{name}_{suffix}"].attrs = {
                "units": ds[name].attrs["units"],
                "long_name": f"{words} over parameter draws of {ds[name].attrs['long_name']}",
            }
    ds["draw"] = ("draw", np.arange(s.draws), {"units": "1", "long_name": "parameter draw (the same for every drug)"})
    ds = ds.isel(drug=order)
    commit, dirty = git_state()
    ds.attrs.update(
        {
            "title": "synaprune: benzodiazepines at clinically equivalent doses ranked by predicted TSPO liability",
            "settings": json.dumps(dataclasses.asdict(s)),
            "seed": s.seed,
            "sim_version": __version__,
            "git_commit": commit,
            "git_dirty": dirty,
            "command": " ".join(sys.argv),
            "reference_drug": REFERENCE_DRUG,
            "equivalence_table_mg": json.dumps(EQUIVALENT_ORAL_DOSE_MG),
            "equivalence_source": EQUIVALENCE_SOURCE,
            "rank_key": "median spine deficit, largest first; deficits below "
            f"{RESOLUTION_PERCENT:g} percent are ties, broken by TSPO occupancy-time (largest first), then by name",
            "equal_pk": f"every drug with {REFERENCE_DRUG}'s parent kinetics in {species} (half-life, volumes, free "
            "fraction, brain/plasma ratio, absorption, bioavailability), metabolites switched off, at the molar dose "
            "proportional to its GABA-A Ki (equal GABA-A occupancy)",
            "equivalence_caveat": "the clinical table matches GABA-A (anxiolytic/sedative) effect in humans; for mice "
            "its ratios are applied to mg/kg (assumption)",
            "disclaimer": DISCLAIMER,
            "run_time_s": round(time.perf_counter() - started, 1),
            **draw_attrs,
            "caveat": model_attributes(reference.model()).get("caveat", ""),
            **({"band": BAND_BASIS} if translated(reference) else {}),
        }
    )
    if pk == "real":
        ds.attrs["steps"] = (
            "dose: reference kinetics, no metabolites, clinical dose instead of the equal-GABA-A dose; kinetics: the "
            "drug's own parent kinetics; metabolites: its metabolites added (factors of TSPO occupancy-time)"
        )
    return ds


def _explanation(names, order, eq_order, steps, real, reference, eq_deficit, eq_results) -> dict[str, tuple]:
    """Ranks under equal PK, the step factors of TSPO occupancy-time and the dominant reason of each rank change."""
    chain = ["equal", *STEPS]
    logs = {step: np.log(steps[step] / steps[prev]) for prev, step in zip(chain, chain[1:])}
    rank_real, rank_equal = _ranks(order), _ranks(eq_order)
    reasons = []
    for i, name in enumerate(names):
        swapped = [
            j
            for j in range(len(names))
            if j != i and (rank_real[i] - rank_real[j]) * (rank_equal[i] - rank_equal[j]) < 0
        ]
        if not swapped:
            reasons.append("same place as with equal PK")
            continue
        up = rank_real[i] < rank_equal[i]
        push = {step: sum(logs[step][i] - logs[step][j] for j in swapped) * (1 if up else -1) for step in STEPS}
        dominant = max(STEPS, key=lambda step: push[step])
        others = ", ".join(f"x{math.exp(logs[dominant][j]):.2g} for {names[j]}" for j in swapped)
        reasons.append(
            f"{'up' if up else 'down'} from {rank_equal[i]} to {rank_real[i]}; dominant step: {dominant} "
            f"(TSPO occupancy-time x{math.exp(logs[dominant][i]):.2g} here, {others}): "
            + _reason(dominant, name, real, reference)
        )
    share = 1.0 - steps["kinetics"] / steps["metabolites"]
    return {
        "rank_equal_pk": ("drug", rank_equal, {"units": "1", "long_name": "rank by predicted spine deficit with equal PK (reference parent kinetics, no metabolites, equal-GABA-A doses)"}),
        "spine_deficit_equal_pk_median": ("drug", eq_deficit, {"units": "percent", "long_name": "median over parameter draws of the largest spine loss with equal PK"}),
        "mean_gabaa_occupancy_equal_pk": ("drug", np.array([eq_results[d]["gabaa"] for d in names]), {"units": "1", "long_name": "time-mean GABA-A occupancy over the run with equal PK"}),
        "tspo_occupancy_time_equal_pk": ("drug", steps["equal"], {"units": "h", "long_name": "integral of TSPO occupancy over the run with equal PK"}),
        "dose_factor": ("drug", np.exp(logs["dose"]), {"units": "1", "long_name": "TSPO occupancy-time, clinical dose / equal-GABA-A dose (reference kinetics, no metabolites)"}),
        "kinetics_factor": ("drug", np.exp(logs["kinetics"]), {"units": "1", "long_name": "TSPO occupancy-time, own parent kinetics / reference kinetics (clinical dose, no metabolites)"}),
        "metabolites_factor": ("drug", np.exp(logs["metabolites"]), {"units": "1", "long_name": "TSPO occupancy-time, with / without metabolites (own kinetics, clinical dose)"}),
        "metabolite_share": ("drug", share, {"units": "1", "long_name": "share of the TSPO occupancy-time carried by metabolites (1 - parent only / all)"}),
        "reason": ("drug", np.array(reasons, dtype=object), {"units": "", "long_name": "where the rank with real PK differs from the rank with equal PK, and the dominant reason"}),
    }  # fmt: skip


def _reason(step: str, name: str, real: dict[str, RunConfig], reference: RunConfig) -> str:
    """What the dominant ``step`` changes for drug ``name``, in words."""
    if step == "dose":
        return "the clinical table's dose instead of the dose of equal GABA-A occupancy (table potency vs GABA-A Ki)"
    if step == "kinetics":
        own, ref = real[name].pk.compounds[name].half_life_h, reference.pk.compounds[REFERENCE_DRUG].half_life_h
        return (
            f"its own kinetics instead of {REFERENCE_DRUG}'s (half-life {own:g} h vs {ref:g} h; volume, free fraction, "
            "brain penetration, absorption)"
        )
    metabolites = [m for m in real[name].pk.names if m != name]
    return f"its active metabolites ({', '.join(metabolites) or 'none'})"


# ---------------------------------------------------------------------------------------------------- outputs
def _band(ds: xr.Dataset, name: str, drug: str, fmt: str = ".3g") -> str:
    q = [float(ds[f"{name}_{s}"].sel(drug=drug)) for s, _ in QUANTILE_NAMES]
    return f"{q[1]:{fmt}} [{q[0]:{fmt}}–{q[2]:{fmt}}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]


def summary(ds: xr.Dataset) -> str:
    """Markdown: settings, equivalence table and source, the ranked table, where and why the order changes."""
    s = json.loads(ds.attrs["settings"])
    unit = ds["daily_dose"].attrs["units"]
    real = s["pk"] == "real"
    lines = [
        f"# Benzodiazepines at clinically equivalent doses, ranked by predicted TSPO liability ({s['species']})",
        "",
        f"Generated by `python -m sim.compare_drugs` (synaprune {ds.attrs['sim_version']}, commit "
        f"{ds.attrs['git_commit']}); seed {ds.attrs['seed']}, {s['draws']} draws, {s['duration_days']:g} days of "
        f"continuous use, {s['doses_per_day']} dose(s) a day by mouth, kinetics: "
        f"{'real' if real else 'equal (' + ds.attrs['equal_pk'] + ')'}. {ds.attrs['disclaimer'].capitalize()}.",
        "",
        f"**Equivalence table** (daily dose equivalent to {s['reference_dose']:g} {unit} {REFERENCE_DRUG}; clinical "
        f"GABA-A effect, not TSPO): "
        + ", ".join(f"{d} {v:g} mg" for d, v in json.loads(ds.attrs["equivalence_table_mg"]).items())
        + f" per 10 mg diazepam. Source: {ds.attrs['equivalence_source']}.",
        "",
        f"**Rank key**: {ds.attrs['rank_key']}. Bands: 5–95 % over the draws (the same draws for every drug).",
        "",
    ]
    header = [
        "rank", "drug", f"daily dose [{unit}]", "spine deficit [% of baseline]", "microglial activation [1]",
        "TSPO occupancy-time [h]", "GABA-A occupancy [1]", "Ki GABA-A / Ki TSPO",
    ]  # fmt: skip
    if real:
        header += ["rank, equal PK", "metabolite share of TSPO occ.-time"]
    header += ["flags"]
    rows = []
    for drug in ds["drug"].values:
        row = ds.sel(drug=drug)
        tied = float(row["spine_deficit_median"]) < RESOLUTION_PERCENT
        cells = [
            f"{int(row['rank'])}{' †' if tied else ''}", str(drug), f"{float(row['daily_dose']):.3g}", _band(ds, "spine_deficit", drug),
            _band(ds, "microglia_activation_mean", drug), f"{float(row['tspo_occupancy_time']):.3g}",
            f"{float(row['mean_gabaa_occupancy']):.3g}", f"{float(row['affinity_ratio']):.3g}",
        ]  # fmt: skip
        if real:
            cells += [str(int(row["rank_equal_pk"])), f"{float(row['metabolite_share']):.2f}"]
        cells += [str(row["flags"].values) or "—"]
        rows.append(cells)
    lines += _table(header, rows)
    lines += [
        "",
        f"† median spine deficit below {RESOLUTION_PERCENT:g} %: placed by TSPO occupancy-time (the tie-break).",
    ]
    if real:
        lines += [
            "",
            "## Where the order with real PK differs from the order with equal PK, and why",
            "",
            f"Equal PK: {ds.attrs['equal_pk']}; it ranks by Ki(GABA-A) / Ki(TSPO). Steps from equal to real PK "
            f"({ds.attrs['steps']}); the dominant reason is the step that moved the drug most against the drugs it "
            "swapped places with. Computed, not written by hand.",
            "",
        ]
        header = ["drug", "rank equal PK → real", "dose factor", "kinetics factor", "metabolites factor", "why"]
        rows = [
            [
                str(drug), f"{int(ds['rank_equal_pk'].sel(drug=drug))} → {int(ds['rank'].sel(drug=drug))}",
                *(f"x{float(ds[f'{step}_factor'].sel(drug=drug)):.3g}" for step in STEPS),
                str(ds["reason"].sel(drug=drug).values),
            ]
            for drug in ds["drug"].values
        ]  # fmt: skip
        lines += _table(header, rows)
    lines += [
        "",
        "## Caveats",
        "",
        "- Equivalence tables are about GABA-A (clinical) effect, are approximate, and were not made for TSPO.",
        "- Human TSPO Ki is measured only for some drugs (flagged otherwise); many TSPO Ki are assumptions "
        "(see `sim/configs/compound/`).",
        "- Microglia and spines are calibrated in mice; the human band is an interval over posterior x translation "
        "draws, not a measurement; TSPO occupancy-time rests on PK and binding only.",
    ]
    if ds.attrs.get("caveat"):
        lines.append(f"- Species caveat ({REFERENCE_DRUG} run): {ds.attrs['caveat']}")
    return "\n".join(lines) + "\n"


def plot(ds: xr.Dataset):
    """Ranked horizontal bars: spine deficit and activation (median, 5-95 %), TSPO occupancy-time, GABA-A occupancy."""
    import matplotlib.pyplot as plt

    drugs = [str(d) for d in ds["drug"].values]
    y = np.arange(len(drugs))
    fig, axes = plt.subplots(1, 4, figsize=(15, 0.5 * len(drugs) + 2.2), sharey=True, constrained_layout=True)
    for ax, name, label in (
        (axes[0], "spine_deficit", "spine deficit [% of baseline]"),
        (axes[1], "microglia_activation_mean", "mean microglial activation [1]"),
    ):
        q05, med, q95 = (ds[f"{name}_{s}"].values for s, _ in QUANTILE_NAMES)
        ax.barh(y, med, color="C3", alpha=0.7)
        ax.errorbar(med, y, xerr=[med - q05, q95 - med], fmt="none", ecolor="k", capsize=3, lw=1)
        ax.set_xlabel(label + "\nmedian, 5–95 % of draws")
    for yi, value in zip(y, ds["spine_deficit_median"].values):
        text = f"{value:.2g} %" if value >= RESOLUTION_PERCENT else f"< {RESOLUTION_PERCENT:g} %"
        axes[0].annotate(text, (0, yi), xytext=(4, 6), textcoords="offset points", fontsize=7)
    axes[2].barh(y, ds["tspo_occupancy_time"].values, color="C0")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("TSPO occupancy-time [h]\n(PK and binding only)")
    axes[3].barh(y, ds["mean_gabaa_occupancy"].values, color="C2")
    axes[3].set_xlabel("mean GABA-A occupancy [1]\n(what the doses are matched for)")
    labels = [
        f"{int(ds['rank'].sel(drug=d))}. {d}" + (" *" if str(ds["flags"].sel(drug=d).values) else "") for d in drugs
    ]
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    s = json.loads(ds.attrs["settings"])
    fig.suptitle(
        f"{s['species']}: clinically equivalent doses ({s['reference_dose']:g} {ds['daily_dose'].attrs['units']} "
        f"diazepam/day), {s['duration_days']:g} d, {s['pk']} PK — * assumed kinetics or TSPO Ki — {DISCLAIMER}",
        fontsize=9,
    )
    return fig


def write(ds: xr.Dataset, out_dir: str | Path) -> tuple[Path, Path, Path]:
    """Write ``compare_drugs.nc`` with ``compare_drugs.md`` and ``compare_drugs.png`` into ``out_dir`` (atomically)."""
    from sim.io import save_with_summary
    from sim.plotting import save_figure

    nc, md = save_with_summary(ds, Path(out_dir) / "compare_drugs.nc", summary(ds))
    png = Path(out_dir) / "compare_drugs.png"
    save_figure(plot(ds), png)
    return nc, md, png


# ---------------------------------------------------------------------------------------------------- command line
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's default prints the usage too)
        raise ConfigError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (see the module docstring); bad input: one line on stderr, exit 2, nothing written."""
    from sim.io import check_writable

    parser = _Parser(prog="python -m sim.compare_drugs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="output directory (default .)")
    parser.add_argument("--days", type=float, default=DEFAULT_DAYS, help="days of continuous use")
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help="parameter draws")
    parser.add_argument("--species", default="human", help="human or mouse")
    parser.add_argument("--drugs", default=None, help="comma-separated drugs (default: the whole table)")
    parser.add_argument("--reference-dose", type=float, default=None, help="diazepam per day [mg human, mg/kg mouse]")
    parser.add_argument("--doses-per-day", type=int, default=1, help="the daily dose in this many parts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")
    parser.add_argument("--pk", default="real", help="real or equal")
    try:
        args = parser.parse_args(argv)
        drugs = None if args.drugs is None else [d.strip() for d in args.drugs.split(",")]
        s = settings(
            drugs, args.reference_dose, args.days, args.species, args.draws, args.seed, args.doses_per_day, args.pk
        )
        check(s)  # before the folder is made
        out = check_writable(args.out)
        ds = compare_drugs(**dataclasses.asdict(s))
    except ConfigError as error:
        print(f"sim.compare_drugs: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    nc, md, png = write(ds, out)
    print(summary(ds))
    print(f"wrote {nc}, {md} and {png} in {ds.attrs['run_time_s']:g} s")
    return 0


__all__ = [
    "DEFAULT_DAYS",
    "PK_MODES",
    "REFERENCE_DRUG",
    "RESOLUTION_PERCENT",
    "Settings",
    "compare_drugs",
    "equal_gabaa_daily_dose",
    "equal_pk_run",
    "main",
    "plot",
    "rank_order",
    "settings",
    "summary",
    "write",
]

if __name__ == "__main__":
    sys.exit(main())
