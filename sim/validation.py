"""Shi et al. 2022 findings as checks: run every study arm and compare the model with what the study reports.

:func:`run_arms` simulates every arm (one ``experiment/*.yaml`` each); :func:`evaluate` turns the results into one
:class:`Finding` per reported result, with the study's statement, its source status, the model value, the
tolerance and pass/fail. Three findings are calibration targets (:mod:`sim.calibrate`); all others are predictions
of the single calibrated parameter set. Spine losses are taken against each arm's matched control arm
(:data:`CONTROLS`, :func:`sim.analysis.deficit`). ``python -m sim.validation`` prints the findings;
``experiments/reproduce.py`` writes them as a report with figures.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr

from sim import analysis, targets
from sim.analysis import formation_per_interval
from sim.core.results import replicate_mean as _mean
from sim.posterior import spans_no_to_large

ARMS: dict[str, str | list[str]] = {
    # arm label: experiment config
    "vehicle": "vehicle",
    "high_dose": "shi2022_high_dose",
    "low_dose": "shi2022_low_dose",
    "high_dose_2wk": "shi2022_high_dose_2wk",
    "high_dose_tspo_ko": "shi2022_high_dose_tspo_ko",
    "low_dose_tspo_ko": "shi2022_low_dose_tspo_ko",
    "high_dose_2wk_tspo_ko": "shi2022_high_dose_2wk_tspo_ko",
    "high_dose_gabaa_insensitive": "shi2022_high_dose_gabaa_insensitive",
    "low_dose_gabaa_insensitive": "shi2022_low_dose_gabaa_insensitive",
    "high_dose_2wk_gabaa_insensitive": "shi2022_high_dose_2wk_gabaa_insensitive",
    "xbd173": "shi2022_xbd173",
    "clonazepam": "clonazepam_high_dose",
    "plx5622_vehicle": "shi2022_plx5622_vehicle",
    "plx5622_high_dose": "shi2022_plx5622_high_dose",
    "high_dose_hippocampus": "shi2022_high_dose_hippocampus",
    "low_dose_hippocampus": "shi2022_low_dose_hippocampus",
    **{
        f"bollinger_{arm}{suffix}": [f"experiment=bollinger2020_{arm}", *genotype]
        for arm, suffix, genotype in (
            ("control_vehicle", "", []),
            ("control_diazepam", "", []),
            ("cus_vehicle", "", []),
            ("cus_diazepam", "", []),
            ("cus_vehicle", "_gabaa_insensitive", ["genotype=gabaa_bz_insensitive"]),
            ("cus_diazepam", "_gabaa_insensitive", ["genotype=gabaa_bz_insensitive"]),
            ("cus_vehicle", "_tspo_ko", ["genotype=tspo_ko"]),
            ("cus_diazepam", "_tspo_ko", ["genotype=tspo_ko"]),
            ("cus_vehicle", "_female", ["sex=female"]),
            ("cus_diazepam", "_female", ["sex=female"]),
            # [woodburn2021]: 28 days of CUS (and its own 28-day control)
            ("control_vehicle", "_28d", ["duration_days=28"]),
            ("cus_vehicle", "_28d", ["duration_days=28", "stress.duration_days=28"]),
        )
    },
}
"""Every arm: label -> experiment config name, or a list of overrides (experiment plus e.g. a genotype)."""

#: Bollinger et al. 2020 arms (chronic unpredictable stress, medial prefrontal cortex, 14 days): all compared with
#: wild-type control + vehicle at the end of CUS. The stress stage runs with the ODE engine only: with another
#: engine these arms and their findings are left out (:func:`run_arms`, :func:`evaluate`).
BOLLINGER_ARMS = tuple(label for label in ARMS if label.startswith("bollinger_"))
BOLLINGER_CONTROL = "bollinger_control_vehicle"
BOLLINGER_CONTROL_28D = "bollinger_control_vehicle_28d"

#: Spine loss of CUS + vehicle at the end of 14 days of CUS [percent of control + vehicle]: an assumption (the size
#: is not taken from [bollinger2020]; sim/configs/stress/cus.yaml is calibrated to it), and its tolerance [percent].
CUS_LOSS_PERCENT = 12.0
CUS_LOSS_TOLERANCE_PERCENT = 4.0  # two standard deviations of the assumption (12 +/- 2 %, sim.stress_posterior)

#: Day of the behavioural tests in the low-dose arm: the day after the last of 56 daily doses.
BEHAVIOUR_TEST_DAY = 56.0

#: Smallest spine loss [percent] a chronic two-photon study of a few mice per group would report as a loss
#: (assumption: between-animal SD of density changes of several percent; the study's n and SD were not found).
DETECTABLE_LOSS_PERCENT = 5.0

#: Required findings the default model fails, and why. Reported in docs/validation.md; the reproduction exits
#: non-zero only on a failure not listed here, and a test checks that this is exactly the set that fails, so a
#: change that fixes (or breaks) a finding must update it.
KNOWN_FAILURES: dict[str, str] = {
    "low_dose_loss": "the only variant that meets the low-dose recovery target ('hill', a steep occupancy -> "
    "activation map) does so by leaving the 1 mg/kg dose nearly ineffective; no compared structure gives a "
    "detectable 8-week loss that recovers within 3 weeks while the 1-week high dose takes ~7 weeks (sim.calibrate "
    "--all, docs/validation.md 'Mechanism variants')",
    "nor_impaired_low_dose": "follows from the small low-dose spine loss under the assumed behaviour mapping "
    "(NOR at chance at 20 % loss); the model cannot attribute the reported NOR impairment to cortical spine loss",
}


#: Matched control arm of each arm (vehicle; the PLX5622 vehicle for the depleted arm); arms not listed are
#: controls themselves. Deficits compare relative densities with the control's (:func:`sim.analysis.deficit`).
#: Arms followed longer than their control (the 56-day low-dose arms: 84 d, the vehicle arm 70 d) are compared
#: with the drug-free baseline instead (see :func:`control`); the vehicle run stays within 1e-13 % of it.
CONTROLS: dict[str, str] = {
    label: (
        "plx5622_vehicle"
        if label.startswith("plx5622_")
        else BOLLINGER_CONTROL_28D
        if label.startswith("bollinger_") and label.endswith("_28d")
        else BOLLINGER_CONTROL
        if label.startswith("bollinger_")
        else "vehicle"
    )
    for label in ARMS
    if label not in ("vehicle", "plx5622_vehicle", BOLLINGER_CONTROL, BOLLINGER_CONTROL_28D)
}


def _experiment(overrides: list[str]):
    """The RunConfig of command-line style ``overrides``, read from the package data (no Hydra)."""
    from sim import presets

    return presets.from_overrides(overrides)


def run_arms(overrides: list[str] | None = None, arms: dict[str, str] | None = None) -> dict[str, xr.Dataset]:
    """Simulate every arm (ODE engine unless ``overrides`` say otherwise); returns label -> Dataset."""
    import sim

    results = {}
    for label, experiment in _runnable(arms or ARMS, overrides).items():
        results[label] = sim.simulate(_experiment([*_arm_overrides(experiment), *(overrides or [])]))
    return results


def _arm_overrides(experiment: str | list[str]) -> list[str]:
    """The overrides of an :data:`ARMS` entry (an experiment name or a list of overrides)."""
    return [f"experiment={experiment}"] if isinstance(experiment, str) else list(experiment)


def _runnable(arms: dict, overrides: list[str] | None) -> dict:
    """``arms`` without the stress arms if ``overrides`` choose an engine other than ODE (the stress stage's only)."""
    engines = [o.split("=", 1)[1] for o in overrides or [] if o.startswith("engine=")]
    if engines and engines[-1] != "ode":
        return {label: value for label, value in arms.items() if label not in BOLLINGER_ARMS}
    return arms


def control(results: dict[str, xr.Dataset], arm: str) -> xr.Dataset | None:
    """The matched control run of ``arm`` in ``results``.

    None (deficits then against the drug-free baseline) if ``arm`` is a control itself, if its control is not in
    ``results``, or if the control run does not span the arm's times (:func:`sim.analysis.covers`).
    """
    ref = results.get(CONTROLS.get(arm, ""))
    return ref if ref is not None and analysis.covers(ref, results[arm]) else None


def deficit(results: dict[str, xr.Dataset], arm: str, day: float) -> float:
    """Spine loss of ``arm`` at ``day`` [percent of its matched control] (:func:`sim.analysis.deficit_at`)."""
    return analysis.deficit_at(results[arm], day, control(results, arm))


def max_deficit(results: dict[str, xr.Dataset], arm: str) -> float:
    """Largest spine loss of ``arm`` over the run [percent of its matched control]."""
    return analysis.max_deficit(results[arm], control(results, arm))


def max_deficit_from(results: dict[str, xr.Dataset], arm: str, day: float) -> float:
    """Largest spine loss of ``arm`` at any output from ``day`` on [percent of its matched control]."""
    late = results[arm].sel(time=slice(day, None))
    ref = control(results, arm)
    return analysis.max_deficit(late, None if ref is None else ref.sel(time=slice(day, None)))


def recovery_day(results: dict[str, xr.Dataset], arm: str) -> float:
    """Recovery day of ``arm`` against its matched control [d] (:func:`sim.analysis.recovery_day`)."""
    return analysis.recovery_day(results[arm], control(results, arm))


@dataclass
class Finding:
    """One reported result of the study and how the model compares."""

    key: str
    statement: str
    study: str
    status: str
    source: str
    role: str  # "calibration target" or "prediction"
    model: str
    tolerance: str
    passed: bool
    required: bool = True  # False: reported for completeness; a failure does not fail the reproduction
    note: str = ""
    value: float = math.nan  # the finding's headline number, in ``units`` (what the interval is given for)
    units: str = ""
    interval: tuple[float, float, float] | None = None  # posterior 5 %, 50 %, 95 % of ``value`` (with_intervals)
    pass_fraction: float | None = None  # fraction of posterior draws that pass


def evaluate(results: dict[str, xr.Dataset]) -> list[Finding]:
    """Compare the arms with every finding of Shi et al. 2022 listed in the reference data sheet."""
    r = results
    findings: list[Finding] = []

    def add(key, statement, study, status, source, role, model, tolerance, passed, value, units):
        findings.append(
            Finding(
                key, statement, study, status, source, role, model, tolerance, bool(passed), value=value, units=units
            )
        )

    d7 = deficit(r, "high_dose", 7.0)
    add(
        "high_dose_loss_day7",
        "5 mg/kg/day x 7 d lowers spine density in somatosensory cortex",
        "-13 % vs vehicle",
        "SECONDARY",
        "Alzforum news 2022",
        "calibration target",
        f"-{d7:.1f} %",
        "loss 10-16 %",
        10.0 <= d7 <= 16.0,
        d7,
        "%",
    )
    rec = recovery_day(r, "high_dose")
    add(
        "high_dose_recovery",
        "density recovers to baseline after the 1-week high dose",
        "baseline at ~56 d",
        "SECONDARY",
        "Pharmazeutische Zeitung 14.03.2022",
        "calibration target",
        f"deficit < 2 % from day {rec:.1f}",
        "first day in [42, 70]",
        42.0 <= rec <= 70.0,
        rec,
        "d",
    )
    ko = {k: max_deficit(r, k) for k in ("high_dose_tspo_ko", "low_dose_tspo_ko", "high_dose_2wk_tspo_ko")}
    add(
        "tspo_ko_spared",
        "TSPO-KO mice lose no spines at any dose or duration",
        "no impairment",
        "SECONDARY",
        "PZ; Spektrum",
        "prediction",
        "max loss " + ", ".join(f"{v:.2f} %" for v in ko.values()),
        "< 1 % in every KO arm",
        max(ko.values()) < 1.0,
        max(ko.values()),
        "%",
    )
    pairs = {
        "high_dose": "high_dose_gabaa_insensitive",
        "low_dose": "low_dose_gabaa_insensitive",
        "high_dose_2wk": "high_dose_2wk_gabaa_insensitive",
    }
    ratios = {wt: max_deficit(r, mut) / max_deficit(r, wt) for wt, mut in pairs.items()}
    add(
        "gabaa_independent",
        "spine loss is independent of GABA-A receptors",
        "pathology persists in the mutant",
        "FOUND",
        "Fig. 3 title, nature.com",
        "prediction",
        "mutant/WT loss " + ", ".join(f"{v:.3f}" for v in ratios.values()),
        "within 10 % of wild type",
        all(abs(v - 1.0) <= 0.10 for v in ratios.values()),
        max(ratios.values(), key=lambda v: abs(v - 1.0)),
        "1",
    )
    x = max_deficit(r, "xbd173")
    add(
        "xbd173_mimics",
        "XBD173 (TSPO ligand, no GABA-A action) reproduces the spine loss",
        "mimics diazepam",
        "SECONDARY",
        "PZ; Spektrum",
        "prediction",
        f"max loss {x:.1f} % (1 mg/kg/day, dose assumed)",
        "loss > 5 %",
        x > 5.0,
        x,
        "%",
    )
    c = deficit(r, "clonazepam", 7.0)
    add(
        "clonazepam_weak",
        "clonazepam (weak TSPO ligand) at the same mg/kg",
        "not tested in the study",
        "INFERRED",
        "TSPO Ki 30 uM, mouse glioblastoma sites [pmid6521970]",
        "prediction",
        f"day-7 loss {c:.2f} % vs diazepam {d7:.1f} %",
        "< 1/5 of diazepam",
        c < d7 / 5.0,
        c,
        "%",
    )
    f_veh, f_dzp = (formation_per_interval(r[k], 0.0, 7.0) for k in ("vehicle", "high_dose"))
    f_plx_veh, f_plx_dzp = (formation_per_interval(r[k], 0.0, 7.0) for k in ("plx5622_vehicle", "plx5622_high_dose"))
    add(
        "plx5622_formation",
        "PLX5622 depletion: more spines form, with and without diazepam",
        "formation up in both",
        "SECONDARY",
        "Spektrum 2022",
        "prediction",
        f"gained d0-7: vehicle {100 * f_veh:.1f} -> {100 * f_plx_veh:.1f} %, diazepam {100 * f_dzp:.1f} -> "
        f"{100 * f_plx_dzp:.1f} %",
        "higher in both groups",
        f_plx_veh > f_veh and f_plx_dzp > f_dzp,
        100.0 * min(f_plx_veh - f_veh, f_plx_dzp - f_dzp),
        "percentage points",
    )
    act = float(_mean(r["plx5622_high_dose"].microglia_activation).max())
    tspo0 = float(_mean(r["plx5622_high_dose"].microglial_tspo).isel(time=0))
    add(
        "plx5622_residual_unresponsive",
        "residual microglia after PLX5622 have high TSPO and ignore diazepam",
        "TSPO elevated, unresponsive",
        "SECONDARY",
        "Alzforum paper-page comment",
        "prediction",
        f"max activation {act:.3g}, resting TSPO x{tspo0:.1f}",
        "activation < 0.01 and TSPO > 1",
        act < 0.01 and tspo0 > 1.0,
        act,
        "1",
    )
    lo7 = deficit(r, "low_dose", 7.0)
    add(
        "dose_dependence",
        "high dose loses spines faster than low dose",
        "high dose faster",
        "SECONDARY",
        "Alzforum news 2022",
        "prediction",
        f"day-7 loss {d7:.1f} % (5 mg/kg) vs {lo7:.1f} % (1 mg/kg)",
        "high > low",
        d7 > lo7,
        d7 - lo7,
        "percentage points",
    )
    late = max_deficit_from(r, "low_dose", targets.LOW_DOSE_RECOVERED_BY_DAY)
    add(
        "low_dose_recovery",
        "the loss after 1 mg/kg/day x 8 wk recovers within 3 weeks of stopping",
        "recovered within 3 weeks",
        "SECONDARY",
        "Pharmazeutische Zeitung 14.03.2022",
        "calibration target",
        f"max loss {late:.1f} % from day {targets.LOW_DOSE_RECOVERED_BY_DAY:g} (last dose day 56)",
        f"< {targets.RECOVERED_PERCENT:g} % at every output from day {targets.LOW_DOSE_RECOVERED_BY_DAY:g}",
        late < targets.RECOVERED_PERCENT,
        late,
        "%",
    )
    lo56 = deficit(r, "low_dose", 56.0)
    add(
        "low_dose_loss",
        "1 mg/kg/day x 8 wk lowers spine density (then recovers)",
        "loss, size not reported",
        "SECONDARY",
        "Pharmazeutische Zeitung 14.03.2022",
        "prediction",
        f"loss {lo56:.1f} % on day 56",
        f">= {DETECTABLE_LOSS_PERCENT:g} % on day 56 (detectable by chronic imaging; assumption)",
        lo56 >= DETECTABLE_LOSS_PERCENT,
        lo56,
        "%",
    )
    findings.extend(_behaviour(r))
    if all(label in r for label in BOLLINGER_ARMS):
        findings.extend(_bollinger(r))
    return findings


def _bollinger(r: dict[str, xr.Dataset]) -> list[Finding]:
    """Bollinger et al. 2020 findings and the GABA-A-insensitive prediction (deficits at the end of CUS).

    CUS loses prefrontal spines, diazepam during CUS prevents it (GABA-A); benzodiazepine-insensitive GABA-A mice
    should lose that protection. Every deficit is against wild-type control + vehicle.
    """
    end = float(r[BOLLINGER_CONTROL].time[-1])
    veh, dzp = (deficit(r, f"bollinger_{arm}", end) for arm in ("cus_vehicle", "cus_diazepam"))
    mut_veh, mut_dzp = (
        deficit(r, f"bollinger_{arm}_gabaa_insensitive", end) for arm in ("cus_vehicle", "cus_diazepam")
    )
    source = "[bollinger2020] (abstract, doi:10.1038/s41386-020-0720-1)"
    low, high = CUS_LOSS_PERCENT - CUS_LOSS_TOLERANCE_PERCENT, CUS_LOSS_PERCENT + CUS_LOSS_TOLERANCE_PERCENT
    return [
        Finding(
            "cus_loss",
            f"14 d of CUS lower spine density in medial prefrontal cortex (vehicle, day {end:g})",
            f"loss (size assumed: {CUS_LOSS_PERCENT:g} %)",
            "FOUND (size: ASSUMPTION)",
            f"{source}; the size is an assumption, not from the paper",
            "calibration target",
            f"-{veh:.1f} %",
            f"loss {low:g}-{high:g} % (assumption)",
            low <= veh <= high,
            value=veh,
            units="%",
        ),
        Finding(
            "cus_diazepam_protects",
            "diazepam 1 mg/kg/day during CUS blocks the CUS spine loss",
            "spine loss blocked",
            "FOUND",
            source,
            "calibration target",
            f"-{dzp:.2f} % vs -{veh:.1f} % (CUS + vehicle)",
            "at most a third of the CUS + vehicle loss",
            dzp <= veh / 3.0,
            value=dzp / veh if veh else math.nan,
            units="1",
        ),
        Finding(
            "cus_gabaa_insensitive_unprotected",
            "benzodiazepine-insensitive GABA-A mice under CUS: diazepam no longer protects",
            "not tested in the study",
            "INFERRED",
            f"{source}: the protection acts through neuronal activity (GABA-A)",
            "prediction",
            f"CUS + diazepam -{mut_dzp:.1f} % vs CUS + vehicle -{mut_veh:.1f} % (mutant)",
            "protection vanishes: diazepam loses at least as much as vehicle",
            mut_dzp >= mut_veh,
            required=False,
            value=mut_dzp / mut_veh if mut_veh else math.nan,
            units="1",
            note="Not tuned: diazepam adds its TSPO loss to the undamped stress loss.",
        ),
        *_bollinger_sex_and_ko(r, end, veh),
    ]


def _bollinger_sex_and_ko(r: dict[str, xr.Dataset], end: float, veh: float) -> list[Finding]:
    """Female mice and 28 days of CUS ([woodburn2021]) and TSPO-KO mice under CUS (a prediction)."""
    source = "[woodburn2021] (abstract, PMC7970222)"
    fem_veh, fem_dzp = (deficit(r, f"bollinger_{arm}_female", end) for arm in ("cus_vehicle", "cus_diazepam"))
    ko_veh, ko_dzp = (deficit(r, f"bollinger_{arm}_tspo_ko", end) for arm in ("cus_vehicle", "cus_diazepam"))
    wt_dzp = deficit(r, "bollinger_cus_diazepam", end)
    end28 = float(r[BOLLINGER_CONTROL_28D].time[-1])
    late = deficit(r, "bollinger_cus_vehicle_28d", end28)
    return [
        Finding(
            "cus_female_spared",
            f"females: 14 d of CUS leave prefrontal spine density unaltered (vehicle, day {end:g})",
            "no spine loss in females",
            "FOUND",
            source,
            "calibration target",
            f"-{fem_veh:.2f} % (female) vs -{veh:.1f} % (male)",
            f"< {targets.RECOVERED_PERCENT:g} %",
            fem_veh < targets.RECOVERED_PERCENT,
            value=fem_veh,
            units="%",
            note="Holds by construction at the default female CSF1 response of 0; the posterior samples responses up to 0.25 that cost females less than 2 %.",
        ),
        Finding(
            "cus_deficit_persists_28d",
            f"males: the CUS spine deficit persists after 28 d of CUS (vehicle, day {end28:g})",
            "deficit persisted",
            "FOUND",
            source,
            "prediction",
            f"-{late:.1f} % on day {end28:g} vs -{veh:.1f} % on day {end:g}",
            f">= {DETECTABLE_LOSS_PERCENT:g} % on day {end28:g} (detectable; assumption)",
            late >= DETECTABLE_LOSS_PERCENT,
            value=late,
            units="%",
        ),
        Finding(
            "cus_female_diazepam_unprotected",
            "females under CUS: diazepam has nothing to protect and adds its TSPO loss",
            "not tested",
            "INFERRED",
            f"{source}; [shi2022] (TSPO arm assumed the same in both sexes)",
            "prediction",
            f"CUS + diazepam -{fem_dzp:.2f} % vs CUS + vehicle -{fem_veh:.2f} % (female)",
            "diazepam loses more than vehicle",
            fem_dzp > fem_veh,
            required=False,
            value=fem_dzp,
            units="%",
            note="Not tuned: the net effect in stressed females is the TSPO loss alone.",
        ),
        Finding(
            "cus_tspo_ko",
            "TSPO-KO mice under CUS: the stress loss stays, diazepam protects without its TSPO loss",
            "not tested",
            "INFERRED",
            "[bollinger2020] (CSF1 arm needs no TSPO); [shi2022] (TSPO-KO spared)",
            "prediction",
            f"CUS + vehicle -{ko_veh:.1f} %, CUS + diazepam -{ko_dzp:.2f} % (KO) vs -{wt_dzp:.2f} % (WT)",
            "KO vehicle loss > half of WT; KO diazepam loss < WT diazepam loss",
            ko_veh > 0.5 * veh and ko_dzp < wt_dzp,
            required=False,
            value=ko_dzp,
            units="%",
        ),
    ]


def stress_net_effect(doses, overrides: list[str] | None = None) -> xr.DataArray:
    """Diazepam's net effect on the stressed PFC by daily dose [percentage points] (a prediction, not tuned).

    Deficit of CUS + diazepam at each dose [mg/kg/day] minus that of CUS + vehicle, both at the end of CUS against
    control + vehicle: below 0 the GABA-A protection wins, above 0 the TSPO pruning.
    """
    import sim

    def run(arm, extra=()):
        return sim.simulate(_experiment([f"experiment=bollinger2020_{arm}", *extra, *(overrides or [])]))

    control, vehicle = run("control_vehicle"), run("cus_vehicle")
    end = float(control.time[-1])
    base = analysis.deficit_at(vehicle, end, control)
    net = [
        analysis.deficit_at(run("cus_diazepam", [f"regimen.dose_mg_per_kg={d}"]), end, control) - base for d in doses
    ]
    return xr.DataArray(
        np.array(net, dtype=float),
        coords={"dose": ("dose", np.asarray(doses, dtype=float), {"units": "mg/kg", "long_name": "daily dose"})},
        dims="dose",
        attrs={"units": "percentage points", "long_name": "CUS + diazepam minus CUS + vehicle spine loss, end of CUS"},
    )


@functools.cache
def _low_dose_cognition():
    """The behavioural readout of the low-dose arm (composed once: :func:`evaluate` runs once per posterior draw)."""
    return _experiment(["experiment=shi2022_low_dose"]).cognition


def _behaviour(r: dict[str, xr.Dataset]) -> list[Finding]:
    cognition = _low_dose_cognition()
    day = BEHAVIOUR_TEST_DAY
    nor_drop = float(
        _mean(r["vehicle"].nor_discrimination_index).interp(time=day)
        - _mean(r["low_dose"].nor_discrimination_index).interp(time=day)
    )
    sa_drop = float(
        _mean(r["vehicle"].spontaneous_alternation).interp(time=day)
        - _mean(r["low_dose"].spontaneous_alternation).interp(time=day)
    )
    nor_mdd = cognition.minimal_detectable_drop(cognition.nor_between_animal_sd)
    sa_mdd = cognition.minimal_detectable_drop(cognition.alternation_between_animal_sd)
    return [
        Finding(
            "nor_impaired_low_dose",
            "1 mg/kg x 8 wk impairs novel-object recognition",
            "significantly worse",
            "SECONDARY",
            "PZ",
            "prediction",
            f"DI drop {nor_drop:.3f} (detectable: {nor_mdd:.3f})",
            "drop > minimal detectable",
            nor_drop > nor_mdd,
            value=nor_drop,
            units="1",
        ),
        Finding(
            "alternation_spared_low_dose",
            "1 mg/kg x 8 wk spares spontaneous alternation",
            "no significant change",
            "SECONDARY",
            "PZ",
            "prediction",
            f"drop {sa_drop:.2f} % (detectable: {sa_mdd:.2f} %)",
            "drop < minimal detectable",
            sa_drop < sa_mdd,
            value=sa_drop,
            units="%",
        ),
        _memory_ordering(r),
    ]


def _memory_ordering(r: dict[str, xr.Dataset]) -> Finding:
    """Alzforum: high-dose mice 'had poorer memories than animals given low doses' (test timing not reported)."""

    def nor(arm: str, day: float) -> float:
        return float(_mean(r[arm].nor_discrimination_index).interp(time=day))

    same_day = (nor("high_dose", 7.0), nor("low_dose", 7.0))
    end = (nor("high_dose", 7.0), nor("low_dose", BEHAVIOUR_TEST_DAY))
    return Finding(
        "high_dose_poorer_memory",
        "high dose gives poorer memory than low dose",
        "poorer memories (timing not reported)",
        "SECONDARY",
        "Alzforum news 2022",
        "prediction",
        f"NOR DI at day 7: {same_day[0]:.3f} (5 mg/kg) vs {same_day[1]:.3f} (1 mg/kg); at the end of each regimen "
        f"(day 7 vs day 56): {end[0]:.3f} vs {end[1]:.3f}",
        "high < low at equal time since the first dose",
        same_day[0] < same_day[1],
        required=False,
        value=same_day[1] - same_day[0],
        units="1",
        note=(
            "The ordering reverses if each arm is tested at the end of its own regimen: the model predicts that "
            "8 weeks at 1 mg/kg end with more spine loss than 1 week at 5 mg/kg."
            if end[0] > end[1]
            else "The high dose also scores lower when each arm is tested at the end of its own regimen."
        ),
    )


def extra_readouts(results: dict[str, xr.Dataset]) -> dict[str, float]:
    """Model outputs the study measured without reported numbers (reported, not judged)."""
    r = results
    return {
        "tspo_pet_proxy_day14_2wk_arm_fold": float(_mean(r["high_dose_2wk"].tspo_pet_proxy).interp(time=14.0)),
        "c1q_peak_high_dose_fold": float(_mean(r["high_dose"].c1q_level).max()),
        "hippocampus_high_dose_day7_loss_percent": deficit(r, "high_dose_hippocampus", 7.0),
        "low_dose_day56_loss_percent": deficit(r, "low_dose", 56.0),
        "low_dose_recovery_day": recovery_day(r, "low_dose"),
        "high_dose_2wk_max_loss_percent": max_deficit(r, "high_dose_2wk"),
        "gained_fraction_days0_7_high_dose": formation_per_interval(r["high_dose"], 0.0, 7.0),
        "lost_fraction_days0_7_high_dose": analysis.elimination_per_interval(r["high_dose"], 0.0, 7.0),
    }


#: Posterior draws per arm for the intervals of :func:`with_intervals` (the 5-95 % quantiles of 200 draws move by
#: about a tenth of the interval width between seeds).
INTERVAL_DRAWS = 200


def run_arms_posterior(
    n_draws: int = INTERVAL_DRAWS,
    seed: int = 0,
    variant: str | None = None,
    overrides: list[str] | None = None,
    arms: dict[str, str] | None = None,
) -> dict[str, xr.Dataset]:
    """Every arm for ``n_draws`` posterior draws of the variant's free parameters (batch engine; ``draw`` dim).

    The draws come from the packaged posterior of ``variant`` (default: :data:`sim.targets.DEFAULT_VARIANT`),
    which :func:`sim.posterior.load` checks against the variant's free parameters; everything else is each arm's.
    When stress arms are among ``arms``, the draws are those of the stress-arm posterior conditional on it
    (:func:`sim.posterior.load_conditional`): every arm, stressed or not, gets the Shi parameters of the same draws
    (one parameter set for both studies), the stressed arms also their stress parameters.
    """
    from sim import posterior
    from sim.engines.batch import BatchEngine

    post = posterior.load(variant)
    spec = targets.VARIANTS[post.attrs["variant"]]
    runnable = _runnable(arms or ARMS, overrides)
    if any(label in BOLLINGER_ARMS for label in runnable):
        post = posterior.load_conditional(spec.name)
    values = posterior.draws(post, n_draws, seed)
    shi_only = {key: v for key, v in values.items() if not key.startswith("stress.")}
    engine = BatchEngine()
    results = {}
    for label, experiment in runnable.items():
        selections = (
            spec.selections if label not in BOLLINGER_ARMS else [o for o in spec.selections if "spines" not in o]
        )
        cfg = _experiment([*_arm_overrides(experiment), *selections, *(overrides or [])])
        model = cfg.model()
        results[label] = engine.simulate(model, cfg.times_h(), values if model.stress.state_names else shi_only)
    return results


def _per_draw(results: dict[str, xr.Dataset]):
    """The results of each posterior draw as a dict of single runs (one per draw, in order)."""
    n = next(iter(results.values())).sizes["draw"]
    for i in range(n):
        yield {label: ds.isel(draw=i, drop=True) for label, ds in results.items()}


def with_intervals(findings: list[Finding], draw_results: dict[str, xr.Dataset]) -> list[Finding]:
    """``findings`` with the posterior 5/50/95 % of each value and the fraction of draws that pass.

    ``draw_results`` are the arms of :func:`run_arms_posterior`. Each draw is evaluated exactly like the point
    estimate (:func:`evaluate`), so the interval is that of the finding as stated, not of a proxy.
    """
    per_draw = [evaluate(r) for r in _per_draw(draw_results)]
    out = []
    for i, f in enumerate(findings):
        values = np.array([d[i].value for d in per_draw], dtype=float)
        passed = np.array([d[i].passed for d in per_draw])
        q = np.nanquantile(values, [0.05, 0.5, 0.95]) if np.isfinite(values).any() else (math.nan,) * 3
        out.append(replace(f, interval=tuple(float(v) for v in q), pass_fraction=float(passed.mean())))
    return out


def extra_intervals(draw_results: dict[str, xr.Dataset]) -> dict[str, tuple[float, float, float]]:
    """Posterior 5/50/95 % of every :func:`extra_readouts` quantity."""
    per_draw = [extra_readouts(r) for r in _per_draw(draw_results)]
    out = {}
    for key in per_draw[0]:
        values = np.array([d[key] for d in per_draw], dtype=float)
        finite = values[np.isfinite(values)] if np.isfinite(values).any() else values
        out[key] = tuple(float(v) for v in np.quantile(finite, [0.05, 0.5, 0.95]))
    return out


def describe_interval(interval: tuple[float, float, float] | None, units: str) -> str:
    """``"5-95 %: 10.2-14.1 %"``; a spine-loss interval from "no effect" to "large effect" says so."""
    if interval is None:
        return ""
    low, _, high = interval
    unit = {"percentage points": " pp", "1": "", "d": " d"}.get(units, f" {units}")
    text = f"{_number(low)}-{_number(high)}{unit}"
    if units == "%" and spans_no_to_large({0.05: low, 0.95: high}):
        text += " (uninformative: from no effect to a large effect)"
    return text


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "never" if value > 0 else "nan"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def as_table(findings: list[Finding]) -> list[dict[str, str]]:
    """Findings as rows of strings (for CSV/Markdown)."""
    return [
        {
            "finding": f.key,
            "statement": f.statement,
            "study": f.study,
            "status": f.status,
            "source": f.source,
            "role": f.role if f.required else f"{f.role} (not required)",
            "model": f.model + (f". {f.note}" if f.note else ""),
            "posterior 5-95 %": describe_interval(f.interval, f.units),
            "draws passing": "" if f.pass_fraction is None else f"{100 * f.pass_fraction:.0f} %",
            "tolerance": f.tolerance,
            "result": "pass" if f.passed else "FAIL",
        }
        for f in findings
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.validation [overrides ...] [--csv FILE]``: run every arm and print each finding.

    Exit status 1 if a required finding fails. ``experiments/reproduce.py`` (in a checkout) also writes
    the report, the figures and the documentation.
    """
    import argparse
    import csv

    parser = argparse.ArgumentParser(prog="python -m sim.validation", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides applied to every arm (e.g. engine=agents)")
    parser.add_argument("--csv", type=Path, help="also write the findings table to this CSV file")
    args = parser.parse_intermixed_args(argv)
    findings = evaluate(run_arms(args.overrides))
    rows = as_table(findings)
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    for row in rows:
        print(f"{row['result']:4s}  {row['finding']:32s} {row['model']}")
    return exit_status(findings)


def exit_status(findings: list[Finding]) -> int:
    """0 if every required finding passes or fails for a reason listed in :data:`KNOWN_FAILURES`, else 1."""
    unexpected = [f.key for f in findings if f.required and not f.passed and f.key not in KNOWN_FAILURES]
    for key in unexpected:
        print(f"unexpected failure: {key}")
    return 1 if unexpected else 0


__all__ = [
    "ARMS",
    "BOLLINGER_ARMS",
    "CONTROLS",
    "Finding",
    "control",
    "deficit",
    "max_deficit",
    "max_deficit_from",
    "recovery_day",
    "as_table",
    "evaluate",
    "extra_readouts",
    "run_arms",
    "stress_net_effect",
]


if __name__ == "__main__":
    raise SystemExit(main())
