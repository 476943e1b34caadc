"""Checks a run must pass before anything is allocated or written.

The model is valid *as it is now*, the drug is given inside the simulated window, and the outputs fit in memory.
Stage dataclasses validate themselves when built, but a model can be changed afterwards (``model.regimen.
dose_mg_per_kg = -5``). :func:`check_run` therefore validates every stage again when a run starts, then the things
that only the run knows: the simulated window, the size of the result and whether the dose is plausible
(:func:`check_plausible_dose`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.core.params import ConfigError
from sim.core.results import OUTPUTS
from sim.core.stage import GROUPS

#: Bytes per value of an output array (float64).
_BYTES = 8

#: Memory per dose event while the schedule is built (Python floats in sets, dicts and lists, then arrays); an
#: upper bound from building 1e6 events (~400 B each; measured with tracemalloc).
_BYTES_PER_DOSE_EVENT = 400.0

#: Largest daily amount any run accepts [mg/kg/day], plausible or not: far beyond lethality for every drug, and
#: well inside the range the ODE solver integrates (doses of ~1e200 mg/kg make LSODA fail).
NUMERICAL_DOSE_LIMIT_MG_PER_KG = 1e6

#: Most dose events a run may have: each restarts the ODE solver (~0.1 ms), so 1e5 events already cost ~10 s.
MAX_DOSE_EVENTS = 100_000


def validate_stages(model: Any) -> None:
    """Run every stage's own validation again (``__post_init__``) and the model's cross-checks."""
    for group in GROUPS:
        stage = getattr(model, group)
        check = getattr(stage, "__post_init__", None)
        if check is not None:
            try:
                check()
            except ConfigError as error:
                message = str(error)
                prefix = f"{type(stage).__name__}."
                raise ConfigError(
                    f"{group}.{message[len(prefix) :]}" if message.startswith(prefix) else message
                ) from None
    model.__post_init__()


def check_dosing_window(regimen: Any, duration_days: float, body_weight_kg: float) -> None:
    """Refuse a regimen that gives drug, but none of it inside ``[0, duration_days)``, and unknown missed doses.

    A regimen labelled with a dose > 0 must give some drug before the end of the run: a result labelled
    ``dose=5`` with every administration missed, zero, tapered to zero or at the last instant would mislead.
    """
    if regimen.dose_days:
        for i, day in enumerate(regimen.dose_days):
            if day > duration_days:
                raise ConfigError(
                    f"regimen.dose_days[{i}] = {day!r} is not allowed: it lies after the end of the run "
                    f"(duration_days = {duration_days:g}); lengthen duration_days or move the dose"
                )
    elif regimen.start_day >= duration_days and regimen.dose_per_kg(body_weight_kg) > 0:
        raise ConfigError(
            f"regimen.start_day = {regimen.start_day!r} is not allowed: dosing would start after the end of the run "
            f"(duration_days = {duration_days:g}); lengthen duration_days or start earlier"
        )
    if regimen.missed_doses and regimen.route != "drinking_water":
        scheduled = regimen.scheduled_days(duration_days).size
        for i, index in enumerate(regimen.missed_doses):
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < scheduled:
                raise ConfigError(
                    f"regimen.missed_doses[{i}] = {index!r} is not allowed: the regimen schedules {scheduled} "
                    f"administrations within the run, numbered 0 to {scheduled - 1}"
                )
    dose = regimen.dose_per_kg(body_weight_kg)
    if dose > 0 and regimen.total_dose_mg_per_kg(body_weight_kg, duration_days) <= 0:
        key = "regimen.dose_mg" if regimen.dose_mg is not None else "regimen.dose_mg_per_kg"
        raise ConfigError(
            f"{key} = {getattr(regimen, key.split('.')[1])!r} is not allowed with this schedule: no drug is given "
            f"before the end of the run (duration_days = {duration_days:g}; every administration is missed, zero, "
            "tapered to zero or at the end); use regimen.dose_mg_per_kg=0 for a vehicle group or change the schedule"
        )


def estimate_bytes(model: Any, engine: Any, duration_days: float, output_times: float) -> tuple[float, str]:
    """Estimated peak memory of a run's arrays [bytes] and how the estimate was made (for the error message).

    Output arrays: output times × (time series, per-compound series × compounds) × replicates; the agent engine
    adds its hazard arrays per step and, with ``record_spines``, a record per spine lifetime; dose events add the
    integration breakpoints.
    """
    times = float(output_times)
    compounds = len(model.pk.compounds)
    per_time = sum(compounds if "compound" in dims else 1 for dims, _, _ in OUTPUTS.values() if dims[-1] == "time")
    replicates = float(getattr(engine, "replicates", 1))
    total = _BYTES * times * per_time * replicates
    parts = [f"{times:.3g} output times × {per_time} series × {replicates:g} replicates"]
    events = _dose_events(model.regimen, duration_days)
    total += _BYTES_PER_DOSE_EVENT * events
    if events > 1e4:
        parts.append(f"{events:.3g} dose events")
    dt_h = getattr(engine, "dt_h", None)
    if dt_h:
        steps = duration_days * 24.0 / dt_h
        total += 6 * _BYTES * steps
        parts.append(f"{steps:.3g} agent steps of {dt_h:g} h")
        spines = (
            engine.segments * engine.segment_length_um * model.spines.baseline_density_per_um * engine.capacity_factor
        )
        total += 8.0 * spines  # slot state and positions (~6.5 B per spine, measured by benchmarks/bench_agents.py)
        parts.append(f"{spines:.3g} spine sites")
        if engine.record_spines:
            lifetimes = spines * (1.0 + model.spines.elimination_per_day * duration_days)
            total += 180.0 * lifetimes * replicates  # measured: ~180 B per recorded spine
            parts.append(f"{lifetimes * replicates:.3g} recorded spine lifetimes")
    return total, ", ".join(parts)


def _dose_events(regimen: Any, duration_days: float) -> float:
    if regimen.dose_days:
        return float(len(regimen.dose_days))
    end = min(regimen.stop_day, duration_days)
    if regimen.route == "drinking_water":
        return max(end - regimen.start_day, 0.0) * 3.0
    return max(end - regimen.start_day, 0.0) * 24.0 / regimen.interval_h


def check_size(model: Any, engine: Any, duration_days: float, output_times: float, limit_gib: float) -> None:
    """Refuse a run whose estimated arrays exceed ``limit_gib``, with the estimate and the keys to change."""
    events = _dose_events(model.regimen, duration_days)
    if not events <= MAX_DOSE_EVENTS:
        raise ConfigError(
            f"regimen.interval_h = {model.regimen.interval_h!r} is not allowed here: it gives {events:.3g} "
            f"administrations within the run, more than {MAX_DOSE_EVENTS:,} (each restarts the solver); "
            "lengthen regimen.interval_h or shorten the dosing period"
        )
    needed, how = estimate_bytes(model, engine, duration_days, output_times)
    if not math.isfinite(needed) or needed > limit_gib * 2.0**30:
        raise ConfigError(
            f"this run needs about {needed / 2.0**30:.3g} GiB ({how}), more than memory_limit_gib = "
            f"{limit_gib:g}: shorten duration_days, raise output_step_h, regimen.interval_h or engine.dt_h, lower "
            "engine.replicates or engine.segments, or raise memory_limit_gib"
        )


def largest_daily_amount_mg_per_kg(regimen: Any, body_weight_kg: float, duration_days: float) -> float:
    """Largest amount the regimen gives within one day of the run [mg/kg].

    Boluses (tapers, missed doses and explicit ``dose_amounts_mg_per_kg`` applied) are summed over every 24-h window
    that starts at an administration, so several doses a day add up; drinking water is integrated over each day of
    the regimen (lights on to lights on), taper included. Only administrations before ``duration_days`` count.
    """
    times_h, amounts = regimen.bolus_events(body_weight_kg, duration_days)
    largest = 0.0
    if amounts.size:
        order = np.argsort(times_h, kind="stable")
        times_h, cumulative = times_h[order], np.concatenate([[0.0], np.cumsum(amounts[order])])
        ends = np.searchsorted(times_h, times_h + 24.0 - 1e-6, side="left")
        largest = float(np.max(cumulative[ends] - cumulative[np.arange(times_h.size)]))
    per_day: dict[int, float] = {}
    for t0, t1, rate in regimen.infusion_segments(body_weight_kg, duration_days):
        day = math.floor(t0 / 24.0 + 1e-9)  # segments never straddle lights on (sim.dosing)
        per_day[day] = per_day.get(day, 0.0) + rate * (t1 - t0)
    return max(largest, *per_day.values()) if per_day else largest


def _dose_key(regimen: Any) -> tuple[str, Any]:
    if regimen.dose_days and regimen.dose_amounts_mg_per_kg:
        return "regimen.dose_amounts_mg_per_kg", regimen.dose_amounts_mg_per_kg
    if regimen.dose_mg is not None:
        return "regimen.dose_mg", regimen.dose_mg
    return "regimen.dose_mg_per_kg", regimen.dose_mg_per_kg


def check_plausible_dose(model: Any, duration_days: float, limit: dict[str, Any] | None) -> str:
    """Refuse a regimen above the plausible maximum daily dose of its drug in its species; ``""`` if plausible.

    ``limit`` is the entry of :func:`sim.library.max_daily_dose` for ``model.drug.name`` and ``model.species.name``
    (``sim/configs/limits/max_daily_dose.yaml``: ``value`` in mg/kg/day for rodents or mg/day for humans, converted
    with ``species.body_weight_kg``), compared with :func:`largest_daily_amount_mg_per_kg`. A drug/species pair
    without a limit (None) is allowed and says nothing. With
    ``regimen.allow_implausible_dose = true`` the run goes ahead: a :class:`UserWarning` is emitted and the message is
    returned, for the result's ``implausible_dose`` attribute.
    """
    drug, species = model.drug.name, model.species.name
    regimen, weight = model.regimen, model.species.body_weight_kg
    daily_mg_per_kg = largest_daily_amount_mg_per_kg(regimen, weight, duration_days)
    key, value = _dose_key(regimen)
    message = ""
    if limit is not None:
        daily = daily_mg_per_kg * weight if limit["units"] == "mg/day" else daily_mg_per_kg
        if daily > limit["value"] * (1.0 + 1e-9):
            source = "; ".join(part for part in (limit["basis"], limit["source"], f"status {limit['status']}") if part)
            detail = (
                f"{daily:.4g} {limit['units']} of {drug} in {species}, above the plausible maximum of "
                f"{limit['value']:g} {limit['units']} ({source})"
            )
            if not regimen.allow_implausible_dose:
                raise ConfigError(
                    f"{key} = {value!r} is not allowed: it amounts to {detail}; "
                    "set regimen.allow_implausible_dose=true to run it anyway"
                )
            message = f"{key} = {value!r} amounts to {detail}; run anyway because regimen.allow_implausible_dose = true"
    if daily_mg_per_kg > NUMERICAL_DOSE_LIMIT_MG_PER_KG:  # no override: the solver cannot integrate such amounts
        raise ConfigError(
            f"{key} = {value!r} is not allowed: {daily_mg_per_kg:.3g} mg/kg in one day is beyond what the solver can "
            f"integrate (at most {NUMERICAL_DOSE_LIMIT_MG_PER_KG:g} mg/kg/day, even with regimen.allow_implausible_dose)"
        )
    if message:
        warnings.warn(message, UserWarning, stacklevel=4)
    return message


def check_run(
    model: Any,
    engine: Any,
    duration_days: float,
    output_times: float,
    limit_gib: float,
    *,
    dose_limit: Callable[[str, str], dict[str, Any] | None],
) -> dict[str, str]:
    """Everything a run checks before it allocates anything (see the module docstring).

    ``dose_limit(drug, species)`` gives the plausible maximum daily dose (:func:`sim.library.max_daily_dose`;
    passed in because this module sits beside :mod:`sim.library`, not above it). Returns the attributes that checks
    passed only by an override add to the result (``implausible_dose``).
    """
    validate_stages(model)
    check = getattr(engine, "__post_init__", None)
    if check is not None:
        check()
    check_model = getattr(engine, "check_model", None)  # engine-specific limits on the stages it can simulate
    if check_model is not None:
        check_model(model)
    check_size(model, engine, duration_days, output_times, limit_gib)
    check_dosing_window(model.regimen, duration_days, model.species.body_weight_kg)
    limit = dose_limit(model.drug.name, model.species.name)
    implausible = check_plausible_dose(model, duration_days, limit)
    return {"implausible_dose": implausible} if implausible else {}


__all__ = [
    "check_dosing_window",
    "check_plausible_dose",
    "check_run",
    "check_size",
    "estimate_bytes",
    "largest_daily_amount_mg_per_kg",
    "validate_stages",
]
