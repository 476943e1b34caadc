"""Standard figures. The only module that imports matplotlib; functions take a Dataset and return Axes."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() not in (
    "agg",
    "module://matplotlib_inline.backend_inline",
) else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402


def shade_dosing(ax, ds: xr.Dataset, **kwargs):
    """Shade the dosing period stored in ``ds.attrs`` (``dosing_start_day`` .. ``dosing_stop_day``)."""
    start, stop = ds.attrs.get("dosing_start_day", math.nan), ds.attrs.get("dosing_stop_day", math.nan)
    if np.isfinite(start) and np.isfinite(stop):
        ax.axvspan(
            start,
            stop,
            color=kwargs.pop("color", "0.85"),
            alpha=kwargs.pop("alpha", 0.6),
            lw=0,
            label=kwargs.pop("label", "dosing"),
            **kwargs,
        )
    return ax


def _label(da: xr.DataArray) -> str:
    return f"{da.attrs.get('long_name', da.name)} [{da.attrs.get('units', '')}]"


def _mean(da: xr.DataArray) -> xr.DataArray:
    return da.mean("replicate") if "replicate" in da.dims else da


def plot_timecourse(ds: xr.Dataset, axes=None, label: str | None = None):
    """Four stacked panels: brain concentrations, receptor occupancy, microglia, spine density (% of baseline)."""
    if axes is None:
        _, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True, constrained_layout=True)
    ax_conc, ax_occ, ax_glia, ax_spine = axes
    for ax in axes:
        shade_dosing(ax, ds)
    conc = ds["brain_free_concentration"] * 1e3
    for name in ds["compound"].values:
        ax_conc.plot(ds.time, conc.sel(compound=name), lw=0.8, label=str(name))
    ax_conc.set_ylabel("free brain conc. [nM]")
    ax_conc.set_yscale("symlog", linthresh=1.0)
    ax_conc.legend(fontsize=7, ncol=2, loc="upper right")
    ax_occ.plot(ds.time, ds.tspo_occupancy, lw=0.8, label="TSPO")
    ax_occ.plot(ds.time, ds.gabaa_occupancy, lw=0.8, label="GABA-A (BZ site)")
    ax_occ.set_ylabel("occupancy [1]")
    ax_occ.set_ylim(-0.02, 1.02)
    ax_occ.legend(fontsize=7, loc="upper right")
    ax_glia.plot(ds.time, _mean(ds.microglia_activation), label="activation")
    ax_glia.plot(ds.time, _mean(ds.c1q_level) - 1.0, label="C1q rise (rel.)")
    ax_glia.plot(ds.time, _mean(ds.microglial_tspo_total), label="microglial TSPO (rel.)")
    ax_glia.set_ylabel("microglia [1]")
    ax_glia.legend(fontsize=7, loc="upper right")
    rel = ds.spine_density_relative
    if "replicate" in rel.dims:
        ax_spine.fill_between(ds.time, rel.quantile(0.1, "replicate"), rel.quantile(0.9, "replicate"), alpha=0.3)
    ax_spine.plot(ds.time, _mean(rel), color="k", label=label)
    ax_spine.axhline(100.0, color="0.5", lw=0.5, ls="--")
    ax_spine.set_ylabel(_label(rel).replace("spine density relative to the drug-free baseline", "spine density"))
    ax_spine.set_xlabel("time since first dose [d]")
    title = (
        f"{ds.attrs.get('drug', '')} {ds.attrs.get('dose_mg_per_kg', '')} mg/kg "
        f"({ds.attrs.get('route', '')}), {ds.attrs.get('genotype', '')}, {ds.attrs.get('region', '')}"
    )
    ax_conc.set_title(title, fontsize=9)
    return axes


def save_timecourse(ds: xr.Dataset, path) -> None:
    """Write the standard four-panel figure to ``path``."""
    axes = plot_timecourse(ds)
    fig = axes[0].figure
    fig.savefig(path, dpi=120)
    plt.close(fig)
