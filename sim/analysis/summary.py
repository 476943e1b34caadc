"""Summaries of one run: the handful of numbers a class discusses and a comparison tabulates.

Every summary value is a derived output in :data:`sim.analysis.DERIVED` (function, units, long name);
:data:`SUMMARY` lists them in table order. Spine losses here have no control run: they are taken against the
run's own drug-free baseline (:func:`sim.analysis.deficit` without ``control``). The functions use numpy on the
replicate means, so a whole summary costs well under a millisecond (the teaching demo recomputes it on every
slider move).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from sim.analysis.loss import RECOVERY_THRESHOLD_PERCENT, last_dose_day, max_deficit, recovery_day, series, times
from sim.analysis.registry import DERIVED, derived


def behaviour_test_day(ds: xr.Dataset) -> float:
    """Behavioural test day: 24 h after the last dose, i.e. the end of the last dosing day [d].

    Uses ``dosing_stop_day`` from the result's attributes (the first time point if no dose was given).
    """
    stop = ds.attrs.get("dosing_stop_day", math.nan)
    return float(stop) if np.isfinite(stop) else float(times(ds)[0])


@derived("lowest_spine_density", "percent", "lowest spine density, relative to the drug-free baseline")
def lowest_spine_density(ds: xr.Dataset) -> float:
    """Lowest spine density [percent of the drug-free baseline]."""
    return float(np.min(series(ds, "spine_density_relative")))


@derived("day_of_max_spine_loss", "d", "day of the lowest spine density")
def day_of_max_spine_loss(ds: xr.Dataset) -> float:
    """Time of the lowest spine density [d]."""
    return float(times(ds)[np.argmin(series(ds, "spine_density_relative"))])


@derived("spine_loss_at_test", "percent", "spine loss on the test day (24 h after the last dose)")
def spine_loss_at_test(ds: xr.Dataset) -> float:
    """Spine loss against the drug-free baseline on :func:`behaviour_test_day` [percent]."""
    return 100.0 - float(np.interp(behaviour_test_day(ds), times(ds), series(ds, "spine_density_relative")))


@derived(
    "peak_brain_concentration",
    "uM",
    "peak total brain concentration of the administered drug (on the output grid)",
)
def peak_brain_concentration(ds: xr.Dataset) -> float:
    """Peak total brain concentration of the administered drug (attribute ``drug``) on the output grid [uM]."""
    compounds = [str(c) for c in ds.indexes["compound"]]
    drug = ds.attrs.get("drug", "")
    parent = compounds.index(drug) if drug in compounds else 0
    return float(np.max(series(ds, "brain_concentration")[parent]))


def _time_mean_while_dosed(ds: xr.Dataset, name: str) -> float:
    """Trapezoidal time mean of ``name`` from ``dosing_start_day`` to the test day (0 if < 2 points) [its units]."""
    t = times(ds)
    start = ds.attrs.get("dosing_start_day", math.nan)
    dosing = (t >= start) & (t <= behaviour_test_day(ds)) if np.isfinite(start) else np.zeros(t.shape, dtype=bool)
    if dosing.sum() < 2:
        return 0.0
    td, yd = t[dosing], series(ds, name)[dosing]  # the grid may be uneven (extra points after doses)
    return float(np.sum(0.5 * (yd[1:] + yd[:-1]) * np.diff(td)) / (td[-1] - td[0]))


@derived("peak_tspo_occupancy", "1", "peak fraction of TSPO sites occupied (on the output grid)")
def peak_tspo_occupancy(ds: xr.Dataset) -> float:
    """Peak TSPO occupancy on the output grid [1]."""
    return float(np.max(series(ds, "tspo_occupancy")))


@derived("mean_tspo_occupancy", "1", "time-averaged TSPO occupancy from the first dose to the test day")
def mean_tspo_occupancy(ds: xr.Dataset) -> float:
    """Time-averaged TSPO occupancy from the first dose to the test day [1]."""
    return _time_mean_while_dosed(ds, "tspo_occupancy")


@derived("peak_gabaa_occupancy", "1", "peak fraction of GABA-A benzodiazepine sites occupied (on the output grid)")
def peak_gabaa_occupancy(ds: xr.Dataset) -> float:
    """Peak GABA-A occupancy on the output grid [1]."""
    return float(np.max(series(ds, "gabaa_occupancy")))


@derived("mean_gabaa_occupancy", "1", "time-averaged GABA-A occupancy from the first dose to the test day")
def mean_gabaa_occupancy(ds: xr.Dataset) -> float:
    """Time-averaged GABA-A occupancy from the first dose to the test day [1]."""
    return _time_mean_while_dosed(ds, "gabaa_occupancy")


@derived("peak_microglia_activation", "1", "peak microglial activation")
def peak_microglia_activation(ds: xr.Dataset) -> float:
    """Peak microglial activation [1]."""
    return float(np.max(series(ds, "microglia_activation")))


@derived("nor_at_test", "1", "novel-object-recognition discrimination index on the test day")
def nor_at_test(ds: xr.Dataset) -> float:
    """NOR discrimination index on :func:`behaviour_test_day` [1]."""
    return float(np.interp(behaviour_test_day(ds), times(ds), series(ds, "nor_discrimination_index")))


@derived("nor_drop_at_test", "1", "drop of the NOR discrimination index from its drug-free value on the test day")
def nor_drop_at_test(ds: xr.Dataset, nor_drug_free: float | None = None) -> float:
    """Drop of the NOR index on the test day from ``nor_drug_free`` (default: the run's value at time zero) [1]."""
    nor0 = float(series(ds, "nor_discrimination_index")[0]) if nor_drug_free is None else float(nor_drug_free)
    return nor0 - nor_at_test(ds)


@derived("total_dose", "mg/kg", "total dose given")
def total_dose(ds: xr.Dataset) -> float:
    """Total dose given by the end of the run [mg/kg]."""
    return float(series(ds, "cumulative_dose")[-1])


@derived(
    "recovery_after_last_dose",
    "d",
    "days from the last dose to recovery (recovery_day - last_dose_day; 0 if the loss never reached "
    f"{RECOVERY_THRESHOLD_PERCENT:g} %)",
)
def recovery_after_last_dose(ds: xr.Dataset) -> float:
    """Days from the last dose to :func:`~sim.analysis.recovery_day` (0 if the loss never reached 2 %) [d]."""
    if max_deficit(ds) < RECOVERY_THRESHOLD_PERCENT:
        return 0.0
    return recovery_day(ds) - last_dose_day(ds)


#: The summary values of :func:`summary_values` / :func:`summarize`, in table order (names in :data:`DERIVED`).
SUMMARY: tuple[str, ...] = (
    "lowest_spine_density",
    "max_spine_loss",
    "day_of_max_spine_loss",
    "recovery_day",
    "spine_loss_at_test",
    "peak_brain_concentration",
    "peak_tspo_occupancy",
    "mean_tspo_occupancy",
    "peak_gabaa_occupancy",
    "mean_gabaa_occupancy",
    "peak_microglia_activation",
    "nor_at_test",
    "nor_drop_at_test",
    "total_dose",
    "last_dose_day",
    "recovery_after_last_dose",
)


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
        :data:`SUMMARY` name -> value, in the units of :data:`DERIVED`.
    """
    values = {name: DERIVED[name].function(ds) for name in SUMMARY if name != "nor_drop_at_test"}
    values["nor_drop_at_test"] = nor_drop_at_test(ds, nor_drug_free)
    return {name: values[name] for name in SUMMARY}


def summarize(ds: xr.Dataset, nor_drug_free: float | None = None) -> xr.Dataset:
    """The numbers a class discusses, as a Dataset of scalars with ``units`` and ``long_name`` (from DERIVED).

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
    out = xr.Dataset(
        {k: ((), v, {"units": DERIVED[k].units, "long_name": DERIVED[k].long_name}) for k, v in values.items()}
    )
    out.attrs.update(
        behaviour_test_day=behaviour_test_day(ds),
        drug=ds.attrs.get("drug", ""),
        genotype=ds.attrs.get("genotype", ""),
        depletion=ds.attrs.get("depletion", "none"),
    )
    return out


__all__ = ["SUMMARY", "behaviour_test_day", "summarize", "summary_values"]
