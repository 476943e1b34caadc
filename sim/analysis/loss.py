r"""Spine loss: the deficit against a matched control run, its value at a day, its maximum, and recovery.

Definitions (one each, used by every application):

* **deficit** [percent]: spine loss in percent of the matched control run's density at the same time,
  :math:`100\,(1 - r/r_c)` with :math:`r` and :math:`r_c` the ``spine_density_relative`` of the run and of its
  control (each in percent of its own drug-free baseline). The control is the vehicle run, or for depleted arms
  the PLX5622-vehicle run. Comparing relative densities makes a control of another region or genotype usable
  as long as its drug-free course is the same (the vehicle run stays at 100 %). **Without a control run** the
  deficit is taken against the run's own drug-free baseline, :math:`100 - r`; for a non-depleted arm this equals
  the deficit against vehicle (the vehicle run stays at its baseline), for a depleted arm it does not (depletion
  alone raises the density).
* **recovery day** [d]: the first output time *after the last dose* from which the deficit stays below the
  threshold (2 %) to the end of the run; NaN if the deficit never reached the threshold, +inf if it is still at
  or above it at the end of the run.
* **last dose** [d]: read from the ``cumulative_dose`` output (the last output time at which it increased), not
  from the ``dosing_stop_day`` attribute: the attribute is the end of the dosing *window* (for once-daily doses a
  day after the last dose; a taper or an interval regimen may stop dosing earlier), attributes are dropped by
  some xarray operations, and ``cumulative_dose`` is an output of every engine.

Agent results are reduced to their replicate means first.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from sim.analysis.registry import attrs, derived
from sim.core.results import replicate_mean

#: Deficit below which a run counts as recovered [percent].
RECOVERY_THRESHOLD_PERCENT = 2.0


def times(ds: xr.Dataset) -> np.ndarray:
    """The output times of a result [d] as a numpy array (cheap: no DataArray is built)."""
    return ds.indexes["time"].values if "time" in ds.indexes else ds.variables["time"].values


def series(ds: xr.Dataset, name: str) -> np.ndarray:
    """Variable ``name`` of one run as a numpy array over time (replicate means; cheap: no DataArray is built).

    The replicate mean skips NaN, as :func:`sim.core.results.replicate_mean` does. Extra dimensions other than
    ``replicate`` stay (e.g. ``compound`` first for concentrations).
    """
    variable = ds.variables[name]
    values = variable.values
    if "replicate" in variable.dims:
        values = np.nanmean(values, axis=variable.dims.index("replicate"))
    return values


def _single(da: xr.DataArray) -> np.ndarray:
    """Values of a time series of one run (replicate means) as a 1-D array."""
    da = replicate_mean(da)
    if da.dims != ("time",):
        raise ValueError(f"select a single run first (dimensions {da.dims}, expected ('time',))")
    return da.values


def dose_events(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Output times at which a dose was counted and the dose given there.

    Returns
    -------
    times, doses
        Times [d] (the first output time at or after each administration) and doses [mg/kg] (administrations
        between two output times are summed), from the increase of ``cumulative_dose``.
    """
    doses = np.diff(series(ds, "cumulative_dose"), prepend=0.0)
    given = doses > 0
    return times(ds)[given], doses[given]


@derived("last_dose_day", "d", "time of the last dose (first output time at or after it)")
def last_dose_day(ds: xr.Dataset) -> float:
    """Time of the last dose [d]: the last output time at which ``cumulative_dose`` rose (NaN: no dose)."""
    times, _ = dose_events(ds)
    return float(times[-1]) if times.size else math.nan


@derived(
    "spine_deficit",
    "percent",
    "spine loss in percent of the matched control run (without a control: of the drug-free baseline)",
)
def deficit(ds: xr.Dataset, control: xr.Dataset | None = None) -> xr.DataArray:
    """Spine loss over time [percent] against the matched control run, or the drug-free baseline without one.

    Parameters
    ----------
    ds
        A result (either engine; replicate means are used).
    control
        The matched control run (vehicle; PLX5622 vehicle for depleted arms). Interpolated to ``ds.time`` if its
        grid differs; it must span the run's times (:func:`covers`), else ValueError. ``None``: the drug-free
        baseline (``100 - spine_density_relative``).

    Returns
    -------
    xarray.DataArray
        ``spine_deficit`` [percent] over ``time`` (and any extra dimension of ``ds`` except ``replicate``);
        positive: fewer spines than the control.
    """
    rel = replicate_mean(ds["spine_density_relative"])
    if control is None:
        out = 100.0 - rel
    else:
        ref = replicate_mean(control["spine_density_relative"])
        if not np.array_equal(ref["time"].values, rel["time"].values):
            if not covers(control, ds):
                raise ValueError(
                    f"the control run covers days {float(ref.time[0]):g}-{float(ref.time[-1]):g}, the run days "
                    f"{float(rel.time[0]):g}-{float(rel.time[-1]):g}: simulate the control at least as long"
                )
            ref = ref.interp(time=rel["time"])
        out = 100.0 * (1.0 - rel / ref)
    out.attrs = attrs("spine_deficit")
    return out.rename("spine_deficit")


def covers(control: xr.Dataset, ds: xr.Dataset) -> bool:
    """True if ``control`` has output times spanning all of ``ds``'s (so it can serve as its control)."""
    t, tc = ds["time"].values, control["time"].values
    return bool(tc[0] <= t[0] and tc[-1] >= t[-1])


def _deficit_values(ds: xr.Dataset, control: xr.Dataset | None) -> np.ndarray:
    """The deficit of one run as a 1-D array [percent] (numpy only when there is no control: fast)."""
    if control is None:
        values = 100.0 - series(ds, "spine_density_relative")
        if values.ndim != 1:
            raise ValueError(f"select a single run first (spine_density_relative has shape {values.shape})")
        return values
    return _single(deficit(ds, control))


def deficit_at(ds: xr.Dataset, day: float, control: xr.Dataset | None = None) -> float:
    """The deficit (:func:`deficit`) at ``day`` [d], linearly interpolated [percent]."""
    return float(np.interp(day, times(ds), _deficit_values(ds, control)))


@derived(
    "max_spine_loss",
    "percent",
    "largest spine loss relative to the matched control run, without one the drug-free baseline (negative: a gain)",
)
def max_deficit(ds: xr.Dataset, control: xr.Dataset | None = None) -> float:
    """Largest deficit (:func:`deficit`) over the run [percent]."""
    return float(np.max(_deficit_values(ds, control)))


@derived(
    "recovery_day",
    "d",
    f"first time after the last dose from which the spine loss stays below {RECOVERY_THRESHOLD_PERCENT:g} % to the "
    f"end of the run (NaN: the loss never reached {RECOVERY_THRESHOLD_PERCENT:g} %; inf: not recovered in the run)",
)
def recovery_day(
    ds: xr.Dataset, control: xr.Dataset | None = None, threshold_percent: float = RECOVERY_THRESHOLD_PERCENT
) -> float:
    """First time after the last dose from which the deficit stays below ``threshold_percent`` [d].

    Parameters
    ----------
    ds
        A result of one run.
    control
        Matched control run for :func:`deficit` (``None``: the drug-free baseline).
    threshold_percent
        Deficit counted as recovered [percent].

    Returns
    -------
    float
        Time since the first dose [d]; NaN if the deficit never reached ``threshold_percent``; ``math.inf`` if it
        is at or above it at the last output time. The search starts at :func:`last_dose_day` (at the first
        output time if no dose was given); a run already below the threshold then recovers at that time.
    """
    return float(recovery_days(times(ds), _deficit_values(ds, control), last_dose_day(ds), threshold_percent))


def recovery_days(
    times_d: np.ndarray,
    loss: np.ndarray,
    last_dose_d: np.ndarray | float,
    threshold_percent: float = RECOVERY_THRESHOLD_PERCENT,
) -> np.ndarray:
    """The rule of :func:`recovery_day` for many runs at once: ``loss`` [percent] of shape (..., time).

    ``last_dose_d`` [d] (shape ``loss.shape[:-1]``; NaN or inf: no dose, the search starts at the first output
    time). Returns the recovery day [d] per run: NaN where the loss never reached ``threshold_percent``, inf where it
    is at or above it at the last output time.
    """
    t = np.asarray(times_d, dtype=float)
    loss = np.asarray(loss, dtype=float)
    last = np.asarray(last_dose_d, dtype=float)
    last = np.where(np.isfinite(last), last, t[0])
    end = t.size - 1
    above = loss >= threshold_percent
    after = t >= last[..., None]
    still = after & above
    last_still = end - np.argmax(still[..., ::-1], axis=-1)  # the last output time still at or above it
    recovered = np.where(
        still.any(axis=-1),
        np.where(last_still == end, np.inf, t[np.minimum(last_still + 1, end)]),
        t[np.argmax(after, axis=-1)],  # below it from the last dose on
    )
    return np.where(above.any(axis=-1), recovered, np.nan)


__all__ = [
    "RECOVERY_THRESHOLD_PERCENT",
    "covers",
    "deficit",
    "deficit_at",
    "dose_events",
    "last_dose_day",
    "max_deficit",
    "recovery_day",
    "recovery_days",
    "series",
    "times",
]
