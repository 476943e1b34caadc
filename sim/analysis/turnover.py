"""Spine turnover per imaging interval: expected fractions of spines formed and eliminated.

These are expected values from the population rates of a result (``spine_formation_rate``,
``spine_elimination_rate``), relative to the spines present at the start of the interval: what chronic imaging
reports as the gained and lost fractions per interval, if every spine formed (or lost) during the interval were
seen. :mod:`sim.imaging` simulates the imaging itself (sessions, field of view, detection misses).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.analysis.registry import attrs, derived
from sim.core.results import replicate_mean


def formation_per_interval(ds: xr.Dataset, start_day: float, end_day: float) -> float:
    """New spines formed in [start, end] as a fraction of the spines present at ``start`` [1].

    Trapezoidal integral of the formation flux (``spine_formation_rate * spine_density``, replicate means) over
    the output times in [start, end] [d], divided by the density at the first of them.
    """
    seg = ds.sel(time=slice(start_day, end_day))
    flux = replicate_mean(seg.spine_formation_rate * seg.spine_density)
    return float(flux.integrate("time") / replicate_mean(seg.spine_density).isel(time=0))


def elimination_per_interval(ds: xr.Dataset, start_day: float, end_day: float) -> float:
    """Spines eliminated in [start, end] as a fraction of the spines present at ``start`` [1]."""
    seg = ds.sel(time=slice(start_day, end_day))
    flux = replicate_mean(seg.spine_elimination_rate * seg.spine_density)
    return float(flux.integrate("time") / replicate_mean(seg.spine_density).isel(time=0))


def _interval_starts(ds: xr.Dataset, interval_days: float) -> np.ndarray:
    """Interval edges [d] from 0 to the end of the run (only whole intervals)."""
    return np.arange(0.0, float(ds.time[-1]) + 1e-9, interval_days)


def _per_interval(ds: xr.Dataset, interval_days: float, function, name: str) -> xr.DataArray:
    edges = _interval_starts(ds, interval_days)
    values = [function(ds, start, end) for start, end in zip(edges[:-1], edges[1:])]
    coord = xr.Variable("interval_start", edges[:-1], {"units": "d", "long_name": "start of imaging interval"})
    return xr.DataArray(np.array(values), dims="interval_start", coords={"interval_start": coord}, name=name,
                        attrs=attrs(name))  # fmt: skip


@derived("gained_fraction", "1", "spines gained per interval")
def gained_fraction(ds: xr.Dataset, interval_days: float = 7.0) -> xr.DataArray:
    """:func:`formation_per_interval` for consecutive intervals of ``interval_days`` [d] from day 0 [1]."""
    return _per_interval(ds, interval_days, formation_per_interval, "gained_fraction")


@derived("lost_fraction", "1", "spines lost per interval")
def lost_fraction(ds: xr.Dataset, interval_days: float = 7.0) -> xr.DataArray:
    """:func:`elimination_per_interval` for consecutive intervals of ``interval_days`` [d] from day 0 [1]."""
    return _per_interval(ds, interval_days, elimination_per_interval, "lost_fraction")


def interval_turnover(ds: xr.Dataset, interval_days: float = 7.0) -> xr.Dataset:
    """Expected fraction of spines gained and lost per imaging interval (relative to the interval's start).

    Returns
    -------
    xarray.Dataset
        ``gained_fraction`` and ``lost_fraction`` [1] over ``interval_start`` [d].
    """
    return xr.Dataset(
        {"gained_fraction": gained_fraction(ds, interval_days), "lost_fraction": lost_fraction(ds, interval_days)}
    )


__all__ = [
    "elimination_per_interval",
    "formation_per_interval",
    "gained_fraction",
    "interval_turnover",
    "lost_fraction",
]
