"""Standard figures: functions take a Dataset (or a dict of them) and return Axes.

Imports only :mod:`sim.core` and :mod:`sim.analysis` of the package (derived quantities such as the interval
turnover come from there), so any application may use it; ``pyproject.toml`` ``[tool.importlinter]`` checks this.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.analysis import deficit_at, dose_events, interval_turnover
from sim.core.files import atomic_path
from sim.core.results import replicate_mean as _mean

#: How a unit string stored in a result (either spelling: the schema's ``uM``/``percent`` or the UDUNITS
#: ``umol/L``/``%``) is written on an axis for a biologist. ``"1"`` is resolved by :func:`readable_units` from
#: what the dimensionless quantity is (a fraction, a fold change, an index).
UNIT_LABELS: dict[str, str] = {
    "uM": "µM",
    "umol/L": "µM",
    "umol L-1": "µM",
    "nM": "nM",
    "nmol/L": "nM",
    "percent": "%",
    "%": "%",
    "1/um": "spines/µm",
    "um-1": "spines/µm",
    "1/d": "/day",
    "d-1": "/day",
    "d": "days",
    "day": "days",
    "h": "h",
    "um": "µm",
    "mg/kg": "mg/kg",
    "mg kg-1": "mg/kg",
    "mg": "mg",
    "count": "count",
}

#: Factor from a stored concentration unit to nM (free brain concentrations are read in nM).
_TO_NANOMOLAR = {"uM": 1e3, "umol/L": 1e3, "umol L-1": 1e3, "nM": 1.0, "nmol/L": 1.0}

#: What a dimensionless ("1") output is, for its axis label.
DIMENSIONLESS: dict[str, str] = {
    "tspo_occupancy": "fraction of sites",
    "gabaa_occupancy": "fraction of sites",
    "tspo_agonism": "fraction",
    "microglia_activation": "fraction, 0 = resting",
    "microglial_tspo": "fold change vs resting",
    "microglial_tspo_total": "fold change vs resting",
    "c1q_level": "fold change vs resting",
    "microglia_density": "fraction of intact brain",
    "sedation": "fraction of performance lost",
    "nor_discrimination_index": "index, 0 = chance",
    "mean_tspo_occupancy": "fraction of sites",
    "mean_gabaa_occupancy": "fraction of sites",
    "peak_tspo_occupancy": "fraction of sites",
    "gained_fraction": "fraction",
    "lost_fraction": "fraction",
}


def readable_units(units: str, dimensionless: str = "fraction") -> str:
    """A stored unit string as a biologist reads it (µM, %, spines/µm, /day); ``"1"`` -> ``dimensionless``."""
    units = str(units).strip()
    if units in ("1", ""):
        return dimensionless
    return UNIT_LABELS.get(units, units)


def _label(da: xr.DataArray, text: str | None = None) -> str:
    """Axis label ``"<text or long_name> [<readable units>]"`` of a result variable."""
    name = str(da.name)
    units = readable_units(da.attrs.get("units", ""), DIMENSIONLESS.get(name, "fraction"))
    return f"{text or da.attrs.get('long_name', name)} [{units}]"


def _reference(line):
    """Mark a constant guide line (baseline, chance): exempt from legends, its meaning is in the axis label."""
    line.set_gid("reference")
    return line


_ROUTES = {"ip": "i.p.", "iv": "i.v.", "sc": "s.c.", "oral": "oral", "drinking_water": "in drinking water"}


def schedule_text(ds: xr.Dataset) -> str:
    """The dosing schedule of a result in words, e.g. ``"diazepam 5 mg/kg/day × 7 d, i.p. (days 0–7, 7 doses)"``.

    Drug, route, dose and dosing window come from the attributes (``drug``, ``route``, ``dose_mg_per_kg``,
    ``dosing_start_day``, ``dosing_stop_day``); the interval, the number of doses and whether doses changed
    (tapers) are derived from ``cumulative_dose`` (:func:`sim.analysis.dose_events`), since the interval is not
    recorded as an attribute.
    """
    drug = ds.attrs.get("drug", "")
    route = str(ds.attrs.get("route", ""))
    start, stop = ds.attrs.get("dosing_start_day", math.nan), ds.attrs.get("dosing_stop_day", math.nan)
    times, doses = dose_events(ds) if "cumulative_dose" in ds else (np.array([]), np.array([]))
    if not (np.isfinite(start) and np.isfinite(stop)) or times.size == 0:
        return f"{drug}: no dose given (vehicle)"
    dose = float(f"{float(ds.attrs.get('dose_mg_per_kg', doses[0])):.3g}")  # 3 significant digits
    span = f"{stop - start:g} d"
    window = f"days {start:g}–{stop:g}"
    total = float(doses.sum())
    if route == "drinking_water":
        return f"{drug} {dose:g} mg/kg/day × {span}, in drinking water ({window}, {total:.3g} mg/kg in total)"
    if times.size == 1:
        return f"{drug} {dose:g} mg/kg, single {_ROUTES.get(route, route)} dose (day {float(times[0]):g})"
    interval_h = float(np.median(np.diff(times))) * 24.0
    per = "/day" if abs(interval_h - 24.0) < 1e-6 else f" every {interval_h:.3g} h"
    taper = "" if np.allclose(doses, doses[0], rtol=1e-6) else f", tapered to {float(doses[-1]):.3g} mg/kg"
    return (
        f"{drug} {dose:g} mg/kg{per} × {span}, {_ROUTES.get(route, route)}{taper} "
        f"({window}, {times.size} doses, {total:.3g} mg/kg in total)"
    )


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
            label=kwargs.pop("label", "dosing period"),
            **kwargs,
        )
    return ax


def dose_rug(ax, ds: xr.Dataset, color: str = "k", y: float = 0.97):
    """Mark every administration as a tick at the top of ``ax`` (visible on any time axis); returns the line.

    Times come from ``cumulative_dose`` (:func:`sim.analysis.dose_events`); for drinking water, where intake is
    continuous, the dosing period is shaded instead and nothing is drawn (returns None).
    """
    if ds.attrs.get("route") == "drinking_water" or "cumulative_dose" not in ds:
        return None
    times, doses = dose_events(ds)
    if times.size == 0:
        return None
    low, high = float(doses.min()), float(doses.max())
    amounts = f"{high:.3g} mg/kg" if np.isclose(low, high) else f"{low:.3g}–{high:.3g} mg/kg"
    (line,) = ax.plot(
        times, np.full(times.size, y), "|", color=color, ms=9, mew=1.2, transform=ax.get_xaxis_transform(),
        clip_on=False, label=f"dose ({times.size} × {amounts})",
    )  # fmt: skip
    return line


#: Colour of each quantity in the time-course figure: one colour, one meaning, in every panel (TSPO is green
#: whether it is the occupancy or the microglial expression). Compounds use their own colours and line styles.
QUANTITY_COLOURS = {
    "tspo": "#2ca02c",
    "gabaa": "#1f77b4",
    "activation": "#9467bd",
    "c1q": "#d62728",
    "spines": "k",
    "nor": "#17becf",
    "sedation": "#000080",
    "alternation": "#008080",
}
_COMPOUND_COLOURS = ("#8c564b", "#ff7f0e", "#e377c2", "#bcbd22", "#7f7f7f", "#5254a3")
_COMPOUND_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def plot_timecourse(ds: xr.Dataset, axes=None, label: str | None = None):
    """Eight panels sharing time: exposure and acute effects (left), microglia -> spines -> memory (right).

    Left column: unbound brain concentration of every compound [nM] with a tick per dose, receptor occupancy
    (fraction of sites), sedation and spontaneous alternation [%]. Right column: microglial activation (fraction,
    0 = resting), C1q and microglial TSPO (fold change vs resting; both start at 1), spine density [% of
    baseline] and the NOR discrimination index (0 = chance). The dosing period is shaded in every panel; the title
    states the schedule (:func:`schedule_text`).

    Parameters
    ----------
    ds
        A single run (``time`` and optionally ``replicate``/``compound``).
    axes
        A (4, 2) array of Axes to draw into; new figure if None.
    label
        Legend label of the spine-density line (default ``"spine density"``).

    Returns
    -------
    numpy.ndarray
        The eight Axes in reading order (row by row): conc, activation, occupancy, C1q/TSPO, sedation, spines,
        alternation, NOR (``axes.reshape(4, 2)`` gives the grid).
    """
    if axes is None:
        _, axes = plt.subplots(4, 2, figsize=(12, 9.5), sharex=True, constrained_layout=True)
    axes = np.asarray(axes).reshape(4, 2)
    (ax_conc, ax_act), (ax_occ, ax_fold), (ax_sed, ax_spine), (ax_alt, ax_nor) = axes
    for i, ax in enumerate(axes.flat):
        shade_dosing(ax, ds, label="dosing period" if i < 2 else "_dosing period")  # legend once per column
    colours = QUANTITY_COLOURS
    t = ds.time
    conc = ds["brain_free_concentration"]
    factor = _TO_NANOMOLAR.get(conc.attrs.get("units", "uM"), 1.0)
    for i, name in enumerate(ds["compound"].values):
        ax_conc.plot(t, _mean(conc.sel(compound=name)) * factor, lw=1.0, color=_COMPOUND_COLOURS[i % 6],
                     ls=_COMPOUND_STYLES[i % 6], label=str(name))  # fmt: skip
    ax_conc.set_yscale("symlog", linthresh=1.0)
    top = float(np.nanmax(_mean(conc).values)) * factor if conc.size else 1.0
    ax_conc.set_ylim(-0.1, max(10.0, 1e3 * top))  # head room above the pulses for the dose ticks and the legend
    dose_rug(ax_conc, ds, y=0.96)
    ax_conc.set_ylabel("unbound brain conc. [nM]")
    ax_conc.set_title("drug exposure", fontsize=9)
    ax_occ.plot(t, _mean(ds.tspo_occupancy), color=colours["tspo"], label="TSPO occupancy")
    ax_occ.plot(t, _mean(ds.gabaa_occupancy), color=colours["gabaa"], ls="--", label="GABA-A (BZ site) occupancy")
    ax_occ.set_ylabel("occupancy\n[fraction of sites]")
    ax_occ.set_ylim(-0.02, 1.02)
    ax_sed.plot(t, _mean(ds.sedation), color=colours["sedation"], label="sedation (GABA-A, acute)")
    ax_sed.set_ylabel(_label(ds.sedation, "sedation").replace(" [", "\n["))
    ax_alt.plot(t, _mean(ds.spontaneous_alternation), color=colours["alternation"], label="spontaneous alternation")
    ax_alt.set_ylabel(_label(ds.spontaneous_alternation, "alternation"))
    ax_act.plot(t, _mean(ds.microglia_activation), color=colours["activation"], label="microglial activation")
    ax_act.set_ylabel("activation\n[fraction, 0 = resting]")
    ax_act.set_title("microglia → spines → memory", fontsize=9)
    ax_fold.plot(t, _mean(ds.c1q_level), color=colours["c1q"], label="C1q")
    ax_fold.plot(t, _mean(ds.microglial_tspo_total), color=colours["tspo"], ls="--",
                 label="microglial TSPO per volume (PET proxy)")  # fmt: skip
    _reference(ax_fold.axhline(1.0, color="0.5", lw=0.5, ls=":"))
    ax_fold.set_ylabel("fold change\nvs resting [1 = resting]")
    rel = ds.spine_density_relative
    if "replicate" in rel.dims and rel.sizes["replicate"] > 1:
        ax_spine.fill_between(t, rel.quantile(0.1, "replicate"), rel.quantile(0.9, "replicate"), alpha=0.3,
                              color=colours["spines"], lw=0, label="10–90 % of replicates")  # fmt: skip
    ax_spine.plot(t, _mean(rel), color=colours["spines"], label=label or "spine density")
    _reference(ax_spine.axhline(100.0, color="0.5", lw=0.5, ls="--"))
    ax_spine.set_ylabel(f"spine density\n[{readable_units(rel.attrs.get('units', '%'))} of baseline]")
    ax_nor.plot(t, _mean(ds.nor_discrimination_index), color=colours["nor"], label="NOR discrimination index")
    _reference(ax_nor.axhline(0.0, color="0.5", lw=0.5, ls=":"))
    ax_nor.set_ylabel("NOR discrimination\n[index, 0 = chance]")
    for ax in axes[-1]:
        ax.set_xlabel("time since first dose [days]")
    ax_conc.legend(fontsize=6.5, loc="upper right", bbox_to_anchor=(1.0, 0.91), ncol=3)  # below the dose ticks
    for ax in axes.flat[1:]:
        ax.legend(fontsize=7, loc="best")
    region = str(ds.attrs.get("region", "")).replace("_", " ")
    axes[0, 0].figure.suptitle(
        f"{schedule_text(ds)}\n{ds.attrs.get('species', '')}, {ds.attrs.get('genotype', '')}, {region}", fontsize=10
    )
    return axes.ravel()


def plot_exposure_bridge(ds: xr.Dataset, ax=None):
    """Exposure bridge of a translated run (``sim.uncertainty.exposure_bridge``) as a dot plot, log scale.

    TSPO occupancy-time relative to each mouse arm, over the run and per dosing day (1 = the same exposure as the arm).

    It rests on PK and TSPO binding only, no microglial assumption; the title says so. Returns ``ax``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    arms = [str(a) for a in ds["mouse_arm"].values]
    rows = np.arange(len(arms))
    bars = (
        ("tspo_occupancy_time_relative", "over the run", "#2ca02c", -0.2),
        ("tspo_occupancy_time_per_dosing_day_relative", "per dosing day", "#98df8a", 0.2),
    )
    values = []
    for name, label, colour, offset in bars:
        ratio = np.asarray(ds[name].values, dtype=float)
        values.extend(ratio[np.isfinite(ratio) & (ratio > 0)])
        ax.hlines(rows + offset, 1.0, ratio, color=colour, lw=3)  # from "the same exposure as the arm" to the ratio
        ax.plot(ratio, rows + offset, "o", color=colour, label=label)
        for y, r in zip(rows + offset, ratio):
            if np.isfinite(r) and r > 0:
                ax.text(r, y, f" {r:.3g}×", va="center", fontsize=7)
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    if values:
        ax.set_xlim(min(min(values), 1.0) / 3.0, max(max(values), 1.0) * 5.0)
    ax.set_ylim(-0.7, len(arms) - 0.3)
    ax.set_yticks(rows)
    ax.set_yticklabels([f"{a}\n({float(ds['mouse_arm_tspo_occupancy_time'].sel(mouse_arm=a)):.3g} h)" for a in arms],
                       fontsize=7)  # fmt: skip
    ax.set_xlabel("TSPO occupancy-time of this regimen\nrelative to the mouse arm [1]")
    total, per_day = float(ds["tspo_occupancy_time"]), float(ds["tspo_occupancy_time_per_dosing_day"])
    ax.set_title(
        f"Exposure bridge: exposure only, no microglial assumption\n(this run: {total:.3g} h, {per_day:.3g} h per "
        "dosing day)",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="lower right")
    return ax


def save_figure(fig, path, dpi: float = 120) -> None:
    """Write ``fig`` to ``path`` as PNG atomically (a ``.part`` file, then a rename) and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def save_timecourse(ds: xr.Dataset, path) -> None:
    """Write the standard eight-panel figure (:func:`plot_timecourse`) to ``path`` (PNG, written atomically)."""
    save_figure(plot_timecourse(ds)[0].figure, path)


# ---------------------------------------------------------------------------------------------- study figures
#: Style of each study arm in every study figure: label, colour, line style, line width, z-order. Vehicle arms
#: are wide grey bands drawn underneath, so an arm that stays at baseline (TSPO-KO, clonazepam, ...) is drawn
#: visibly on top of them instead of hiding them.
ARM_STYLE: dict[str, tuple[str, str, object, float, float]] = {
    "vehicle": ("vehicle", "0.6", "-", 4.0, 1.0),
    "high_dose": ("diazepam 5 mg/kg/day × 7 d", "C3", "-", 1.6, 3.0),
    "low_dose": ("diazepam 1 mg/kg/day × 56 d", "C0", "-", 1.6, 3.0),
    "high_dose_2wk": ("diazepam 5 mg/kg/day × 14 d", "C1", "-", 1.6, 3.0),
    "xbd173": ("XBD173 1 mg/kg/day × 7 d", "C2", "-.", 1.6, 3.0),
    "clonazepam": ("clonazepam 5 mg/kg/day × 7 d", "C4", "--", 1.6, 4.0),
    "plx5622_vehicle": ("PLX5622 + vehicle", "0.35", (0, (6, 2)), 3.0, 2.0),
    "plx5622_high_dose": ("PLX5622 + diazepam 5 mg/kg/day × 7 d", "C3", ":", 1.8, 4.0),
}


def _arm_style(arm: str) -> dict:
    label, color, ls, lw, zorder = ARM_STYLE.get(arm, (arm.replace("_", " "), None, "-", 1.5, 3.0))
    return {"label": label, "color": color, "ls": ls, "lw": lw, "zorder": zorder}


def dosing_bars(ax, results: dict[str, xr.Dataset], arms, height: float = 0.025, bottom: float = 0.015):
    """One horizontal bar per dosed arm at the bottom of ``ax``, in the arm's colour, spanning its dosing period.

    Bars are stacked (``height`` and ``bottom`` in axes fractions); arms without a dose get none. Returns the
    number of bars drawn.
    """
    n = 0
    for arm in arms:
        ds = results[arm]
        start, stop = ds.attrs.get("dosing_start_day", math.nan), ds.attrs.get("dosing_stop_day", math.nan)
        if not (np.isfinite(start) and np.isfinite(stop)):
            continue
        style = _arm_style(arm)
        ax.broken_barh([(start, stop - start)], (bottom + n * 1.4 * height, height), color=style["color"],
                       alpha=0.8, transform=ax.get_xaxis_transform(), lw=0)  # fmt: skip
        n += 1
    return n


def _dosing_bar_handle(n: int):
    from matplotlib.patches import Patch

    return Patch(color="0.5", alpha=0.8, label=f"dosing period of each arm ({n} bars at the bottom, arm colour)")


def plot_relative_density(results: dict[str, xr.Dataset], arms=None, ax=None, shade: str | None = None):
    """Spine density (% of baseline) over time, one line per arm, each arm's dosing period as a bar in its colour.

    ``shade`` additionally shades the dosing period of that arm over the whole height.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10.5, 4.5), constrained_layout=True)
    arms = arms or [a for a in ARM_STYLE if a in results and not a.startswith("plx5622")]
    if shade:
        shade_dosing(ax, results[shade], label=f"dosing period: {_arm_style(shade)['label']}")
    for arm in arms:
        ds = results[arm]
        ax.plot(ds.time, _mean(ds.spine_density_relative), **_arm_style(arm))
    n = dosing_bars(ax, results, arms)
    low, high = ax.get_ylim()
    room = 0.015 + n * 1.4 * 0.025 + 0.02  # axes fraction taken by the bars: the data start above it
    ax.set_ylim((low - room * high) / (1.0 - room), high)
    _reference(ax.axhline(100.0, color="0.3", lw=0.5, ls=":"))
    ax.set_xlabel("time since first dose [days]")
    ax.set_ylabel("spine density [% of baseline]")
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, _dosing_bar_handle(n)], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_genotypes(results: dict[str, xr.Dataset], axes=None):
    """One panel per dosing arm: wild type, TSPO-KO and GABA-A-BZ-insensitive mice (vehicle underneath)."""
    base_arms = [a for a in ("high_dose", "low_dose", "high_dose_2wk") if a in results]
    if axes is None:
        _, axes = plt.subplots(
            1, len(base_arms), figsize=(4.2 * len(base_arms), 3.8), sharey=True, constrained_layout=True
        )
    for ax, arm in zip(np.atleast_1d(axes), base_arms):
        shade_dosing(ax, results[arm])
        if "vehicle" in results:
            ax.plot(results["vehicle"].time, _mean(results["vehicle"].spine_density_relative),
                    **_arm_style("vehicle"))  # fmt: skip
        for suffix, label, color, style, lw, zorder in (
            ("", "wild type", "C3", "-", 2.5, 3),
            ("_tspo_ko", "TSPO-KO", "k", "--", 1.5, 4),
            ("_gabaa_insensitive", "GABA-A BZ-insensitive", "C0", ":", 1.8, 5),
        ):
            if arm + suffix in results:
                ds = results[arm + suffix]
                ax.plot(ds.time, _mean(ds.spine_density_relative), color=color, ls=style, lw=lw, zorder=zorder,
                        label=label)  # fmt: skip
        ax.set_title(_arm_style(arm)["label"], fontsize=9)
        ax.set_xlabel("time since first dose [days]")
        ax.set_ylabel("spine density [% of baseline]")
        ax.legend(fontsize=7, loc="lower right")
    return axes


#: The Bollinger et al. 2020 groups (labels of :data:`sim.validation.ARMS`) and their bar labels.
STRESS_GROUPS = {
    "bollinger_control_vehicle": "control\nvehicle",
    "bollinger_control_diazepam": "control\ndiazepam",
    "bollinger_cus_vehicle": "CUS\nvehicle",
    "bollinger_cus_diazepam": "CUS\ndiazepam",
}


def plot_stress_groups(
    results: dict[str, xr.Dataset],
    net_effect: xr.DataArray | None = None,
    axes=None,
    net_effect_draws: xr.DataArray | None = None,
):
    """The four Bollinger et al. 2020 groups side by side, and diazepam's net effect on the stressed cortex by dose.

    Left: spine density at the end of CUS [% of control + vehicle at the same day] for every group in
    :data:`STRESS_GROUPS` that ``results`` holds; GABA-A-BZ-insensitive mice (label suffix ``_gabaa_insensitive``)
    and female mice (``_female``) as hatched bars beside their wild-type males. Right (if ``net_effect`` is given,
    a DataArray over ``dose`` [mg/kg/day]): deficit of CUS + diazepam minus that of CUS + vehicle [percentage
    points]; below 0 diazepam protects, above 0 its TSPO pruning outweighs the protection. ``net_effect_draws``
    (``draw`` x ``dose``, e.g. :func:`sim.stress_posterior.net_effect`) adds its 5-95 % band and median.
    """
    panels = 1 if net_effect is None else 2
    if axes is None:
        _, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.8), constrained_layout=True)
    axes = np.atleast_1d(axes)
    control = results["bollinger_control_vehicle"]
    end = float(control.time[-1])
    ax = axes[0]
    ticks, labelled = [], set()
    for i, (arm, label) in enumerate(a for a in STRESS_GROUPS.items() if a[0] in results):
        ticks.append((i, label))
        for offset, suffix, hatch, name in (
            (-0.27, "", None, "wild-type male"),
            (0.0, "_gabaa_insensitive", "//", "GABA-A BZ-insensitive"),
            (0.27, "_female", "..", "female"),
        ):
            if arm + suffix in results:
                value = 100.0 - deficit_at(results[arm + suffix], end, control)
                ax.bar(i + offset, value, width=0.26, color="C3" if "diazepam" in arm else "0.6", hatch=hatch,
                       edgecolor="k", lw=0.5, label=None if name in labelled else name)  # fmt: skip
                labelled.add(name)
    ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=8)
    _reference(ax.axhline(100.0, color="0.3", lw=0.5, ls=":"))
    ax.set_ylim(80.0, 108.0)  # room for the legend above the bars
    ax.set_xlabel("group (stress, daily treatment)")
    ax.set_ylabel(f"spine density on day {end:g} [% of control + vehicle]")
    ax.set_title("medial PFC at the end of 14 d CUS", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=3)
    if net_effect is not None:
        ax = axes[1]
        if net_effect_draws is not None:
            q05, q50, q95 = np.nanquantile(net_effect_draws.values, [0.05, 0.5, 0.95], axis=0)
            dose = net_effect_draws["dose"]
            n = net_effect_draws.sizes["draw"]
            ax.fill_between(dose, q05, q95, color="C3", alpha=0.2, lw=0, label=f"5-95 % over {n} posterior draws")
            ax.plot(dose, q50, color="C3", lw=0.8, ls="--", label="posterior median")
        ax.plot(net_effect["dose"], net_effect, color="C3", marker="o", ms=3, label="wild type, 14 d CUS")
        ax.legend(fontsize=7, loc="lower right")
        _reference(ax.axhline(0.0, color="0.3", lw=0.5, ls=":"))
        ax.set_xlabel("diazepam dose [mg/kg/day i.p.]")
        ax.set_ylabel("net effect on CUS spine loss [percentage points]")
        ax.set_title("below 0: protects; above 0: prunes more", fontsize=9)
    return axes


def _steps(turnover: xr.DataArray, interval_days: float):
    """x, y of a step line that also draws the last interval to its end."""
    starts = turnover.interval_start.values
    return np.append(starts, starts[-1] + interval_days), np.append(turnover.values, turnover.values[-1])


def plot_interval_turnover(results: dict[str, xr.Dataset], arms=None, interval_days: float = 7.0, axes=None):
    """Gained and lost spines per imaging interval (two panels), one line per arm.

    Interval 0 is days 0–7 after the first dose, which for the PLX5622 arms is already one week into depletion
    (depletion starts at day -7). That interval is the one the PLX5622 finding ("more spines form") is about
    and is highlighted. From the second interval on, the depleted arms form *fewer* spines than vehicle: with
    90 % fewer microglia, density keeps rising above baseline, and the homeostatic term lowers formation as
    density rises. The formation panel says so.
    """
    arms = arms or [
        a for a in ("vehicle", "high_dose", "low_dose", "plx5622_vehicle", "plx5622_high_dose") if a in results
    ]
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharey=True, constrained_layout=True)
    depleted = any(arm.startswith("plx5622") for arm in arms)
    if depleted:
        axes[0].axvspan(0.0, interval_days, color="C3", alpha=0.08, lw=0,
                        label="PLX5622 finding: days 0–7\n(one week into depletion)")  # fmt: skip
    for arm in arms:
        turnover = interval_turnover(results[arm], interval_days)
        style = _arm_style(arm)
        axes[0].step(*_steps(100 * turnover.gained_fraction, interval_days), where="post", **style)
        axes[1].step(*_steps(100 * turnover.lost_fraction, interval_days), where="post", **style)
    axes[0].set_ylabel(f"% of spines per {interval_days:g}-day interval")
    axes[0].set_title("formation (gained)", fontsize=9)
    axes[1].set_title("elimination (lost)", fontsize=9)
    if depleted:
        axes[0].figure.supxlabel(
            "PLX5622 (depletion from day −7): in days 0–7 (the finding) both depleted arms form more spines than "
            "their controls. From week 2 they form fewer than vehicle:\nwith 90 % of microglia gone, density keeps "
            "rising above baseline and the homeostatic term lowers formation. Diazepam changes nothing in "
            "depleted mice (the two PLX5622 lines coincide).",
            fontsize=7.5,
            color="0.2",
        )
    for ax in axes:
        ax.set_xlabel("interval start [days since first dose]")
    if depleted:
        axes[0].legend(handles=axes[0].patches[:1], fontsize=7, loc="upper left")
    axes[1].legend(fontsize=7, loc="upper right")  # the arms (same styles in both panels)
    return axes


def plot_cognition(results: dict[str, xr.Dataset], arms=("vehicle", "high_dose", "low_dose"), test_day=None, axes=None):
    """Novel-object recognition and spontaneous alternation over time (daily values, 24 h after each dose)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4.0), constrained_layout=True)
    for arm in arms:
        ds = results[arm]
        daily = ds.sel(time=ds.time[(np.abs(ds.time - np.round(ds.time)) < 1e-6)])
        style = _arm_style(arm)
        axes[0].plot(daily.time, _mean(daily.nor_discrimination_index), **style)
        axes[1].plot(daily.time, _mean(daily.spontaneous_alternation), **style)
    first = results[arms[0]]
    axes[0].set_ylabel("NOR discrimination index\n[index, 0 = chance]")
    axes[1].set_ylabel(_label(first.spontaneous_alternation))
    axes[0].set_title("novel-object recognition (tested daily, 24 h after a dose)", fontsize=9)
    axes[1].set_title("spontaneous alternation (tested daily, 24 h after a dose)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("time since first dose [days]")
        if test_day is not None:
            ax.axvline(test_day, color="0.5", ls=":", lw=1, label=f"behaviour test of the study (day {test_day:g})")
    handles, _ = axes[0].get_legend_handles_labels()  # same arms, styles and test day in both panels
    axes[0].figure.legend(handles=handles, fontsize=8, loc="outside lower center", ncol=len(handles))
    return axes


#: Calibration targets drawn by :func:`plot_main_figure` (sim.validation holds the authoritative ones): loss at
#: day 7 of 13 % with its tolerance 10–16 %, and recovery (deficit < 2 %) first reached within days 42–70.
MAIN_TARGETS = {"loss_day": 7.0, "loss_percent": 13.0, "loss_tolerance": (10.0, 16.0), "recovery_window": (42.0, 70.0),
                "recovery_deficit": 2.0}  # fmt: skip


def plot_main_figure(results: dict[str, xr.Dataset], ax=None):
    """The headline result: loss and recovery after 5 mg/kg x 7 d, wild type vs TSPO-KO, with the study's targets.

    The study's points are drawn without error bars (none is known: the numbers are from press coverage); the
    calibration tolerances are drawn as hatched bands with their own legend entries.
    """
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    target = MAIN_TARGETS
    shade_dosing(ax, results["high_dose"], label="dosing: diazepam 5 mg/kg/day, i.p.")
    ax.plot(results["vehicle"].time, _mean(results["vehicle"].spine_density_relative), **_arm_style("vehicle"))
    ax.plot(results["high_dose"].time, _mean(results["high_dose"].spine_density_relative), color="C3", lw=1.8,
            zorder=3, label="wild type")  # fmt: skip
    ax.plot(results["high_dose_tspo_ko"].time, _mean(results["high_dose_tspo_ko"].spine_density_relative),
            color="k", ls="--", lw=1.5, zorder=4, label="TSPO-KO")  # fmt: skip
    low, high = target["loss_tolerance"]
    day = target["loss_day"]
    ax.add_patch(Rectangle((day - 0.8, 100 - high), 1.6, high - low, facecolor="C3", alpha=0.15, hatch="///",
                           edgecolor="C3", lw=0.5, zorder=2,
                           label=f"calibration target ± tolerance (loss {low:g}–{high:g} %)"))  # fmt: skip
    ax.plot([day], [100 - target["loss_percent"]], "o", color="C3", mfc="white", ms=7, zorder=5,
            label=f"study: −{target['loss_percent']:g} % at day {day:g} (Alzforum; no error bar known)")  # fmt: skip
    first, last = target["recovery_window"]
    ax.add_patch(Rectangle((first, 100 - target["recovery_deficit"]), last - first, target["recovery_deficit"],
                           facecolor="0.5", alpha=0.15, hatch="\\\\\\", edgecolor="0.5", lw=0.5, zorder=2,
                           label=f"calibration target: deficit < {target['recovery_deficit']:g} % first "
                                 f"reached in days {first:g}–{last:g}"))  # fmt: skip
    ax.plot([56.0], [100.0], marker="s", color="C3", mfc="white", ls="none", ms=7, zorder=5,
            label="study: baseline at ~day 56 (PZ)")  # fmt: skip
    ax.set_xlabel("time since first dose [days]")
    ax.set_ylabel("spine density [% of baseline]")
    ax.set_title("Diazepam prunes spines via TSPO: loss and recovery (somatosensory cortex)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax


# ---------------------------------------------------------------------------------------------- teaching demo
class TeachingFigure:
    """Five stacked panels for the classroom demo (:mod:`sim.teaching`), updated in place.

    Panels: brain concentration of the drug and its metabolites, TSPO and GABA-A occupancy, microglial activation
    and C1q, spine density (% of baseline) and the novel-object-recognition (NOR) discrimination index. A run
    with the teaching demo's stress switch on (``teaching_stress_start_day`` in its attributes) also shows the
    CUS window as a red band in every panel, the neuronal activity (x stress-free baseline) in the microglia panel
    and the region in the spine panel's label.

    Made for speed: the artists are created once and :meth:`update` only moves their data (``set_data``). Axis
    limits are rounded to coarse steps (whole fortnights; whole decades on the logarithmic concentration axis;
    10 % steps for spines), so most updates leave the axes, ticks and labels unchanged; :meth:`render` then
    restores the cached background and draws only the changing artists (blitting) instead of the whole figure. The figure is a bare
    :class:`matplotlib.figure.Figure` with an Agg canvas, not registered with pyplot, so a notebook shows it only
    where it is displayed (``display(fig.figure)``, or :meth:`to_png` in an image widget).

    Parameters
    ----------
    figsize
        Figure size [inch].
    dpi
        Resolution [dots per inch]; lower is faster to render.
    """

    def __init__(self, figsize: tuple[float, float] = (8.0, 9.0), dpi: float = 72.0) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        fig = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(fig)
        axes = fig.subplots(5, 1, sharex=True)
        fig.subplots_adjust(left=0.13, right=0.97, top=0.92, bottom=0.06, hspace=0.2)
        self.figure, self.axes = fig, axes
        self.shades, self.stress_shades = [], []  # dosing period (grey) and CUS window (red), full height
        for ax in axes:
            shade = Rectangle((0.0, 0.0), 0.0, 1.0, transform=ax.get_xaxis_transform(), color="0.88", lw=0)
            ax.add_patch(shade)
            self.shades.append(shade)
            stress = Rectangle((0.0, 0.0), 0.0, 1.0, transform=ax.get_xaxis_transform(), color="C3", alpha=0.1, lw=0)
            ax.add_patch(stress)
            self.stress_shades.append(stress)
        ax_conc, ax_occ, ax_glia, ax_spine, ax_nor = axes
        empty: list[float] = []
        self.lines = {
            "parent": ax_conc.plot(empty, empty, color="C3", label="drug")[0],
            "metabolites": ax_conc.plot(empty, empty, color="C1", ls="--", label="active metabolites (sum)")[0],
            "tspo": ax_occ.plot(empty, empty, color="C2", label="TSPO")[0],
            "gabaa": ax_occ.plot(empty, empty, color="C0", ls="--", label="GABA-A (benzodiazepine site)")[0],
            "activation": ax_glia.plot(empty, empty, color="C4", label="activation")[0],
            "c1q": ax_glia.plot(empty, empty, color="C5", ls="--", label="C1q (x resting)")[0],
            "activity": ax_glia.plot(empty, empty, color="C3", lw=0.8, label="neuronal activity (x baseline)")[0],
            "spines": ax_spine.plot(empty, empty, color="k", label="spine density")[0],
            "nor": ax_nor.plot(empty, empty, color="C0", lw=0.6, alpha=0.6, label="NOR index (any time)")[0],
            "nor_daily": ax_nor.plot(empty, empty, "o-", color="C0", ms=3, label="NOR test, 24 h after a dose")[0],
        }
        references = [
            ax_spine.axhline(100.0, color="0.5", lw=0.6, ls=":"),
            ax_nor.axhline(0.0, color="0.5", lw=0.6, ls=":"),
        ]
        ax_conc.set_ylabel("brain conc.\n[µM] (log)")
        ax_conc.set_yscale("log")
        ax_occ.set_ylabel("receptor occupancy\n[fraction of sites]")
        ax_occ.set_ylim(-0.03, 1.03)
        ax_glia.set_ylabel("activation [fraction]\nC1q [× resting]")
        ax_spine.set_ylabel("spine density\n[% of baseline]")
        ax_nor.set_ylabel("NOR index\n[index, 0 = chance]")
        ax_nor.set_xlabel("time since first dose [days]")
        from matplotlib.ticker import LogLocator, MaxNLocator

        self.labels = {}  # coloured line labels: cheaper to draw than legends
        for ax, names, top in (
            (ax_conc, ("parent", "metabolites"), True),
            (ax_occ, ("tspo", "gabaa"), True),
            (ax_glia, ("activation", "c1q", "activity"), True),
            (ax_nor, ("nor", "nor_daily"), False),
        ):
            for i, name in enumerate(names):
                line = self.lines[name]
                y = 0.95 - 0.15 * i if top else 0.05 + 0.15 * (len(names) - 1 - i)
                self.labels[name] = ax.text(
                    0.99, y, line.get_label(), color=line.get_color(), fontsize=7, ha="right",
                    va="top" if top else "bottom", transform=ax.transAxes,
                )  # fmt: skip
        ax_conc.yaxis.set_major_locator(LogLocator(numticks=4))
        for ax in axes[1:]:
            ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
        self.stress_label = ax_spine.text(
            0.01, 0.05, "", color="C3", fontsize=7, ha="left", va="bottom", transform=ax_spine.transAxes
        )
        self.title = fig.suptitle("", fontsize=9)
        shading = [*self.shades, *self.stress_shades, self.stress_label]  # the label on top of the dosing shade
        self._dynamic = [*shading, *references, *self.lines.values(), self.title]  # drawn in this order
        for artist in self._dynamic:
            artist.set_animated(True)
        self._layout: tuple | None = None
        self._drawn_layout: tuple | None = None
        self._background = None

    def update(self, ds: xr.Dataset, title: str | None = None) -> TeachingFigure:
        """Show ``ds`` (a result from :meth:`sim.teaching.TeachingDemo.update`); returns ``self``.

        Only artists' data and (rounded) limits change; :meth:`render` draws the result.
        """
        t = ds.time.values
        conc = _mean(ds.brain_concentration)
        compounds = [str(c) for c in ds.compound.values]
        parent = ds.attrs.get("drug", compounds[0])
        parent = parent if parent in compounds else compounds[0]
        others = [c for c in compounds if c != parent]
        conc_values = conc.values
        parent_conc = conc_values[compounds.index(parent)]
        self.lines["parent"].set_data(t, parent_conc)
        if others:
            self.lines["metabolites"].set_data(t, conc_values[[compounds.index(c) for c in others]].sum(axis=0))
        else:
            self.lines["metabolites"].set_data([], [])
        self.lines["tspo"].set_data(t, ds.tspo_occupancy.values)
        self.lines["gabaa"].set_data(t, ds.gabaa_occupancy.values)
        c1q = _mean(ds.c1q_level).values
        self.lines["activation"].set_data(t, _mean(ds.microglia_activation).values)
        self.lines["c1q"].set_data(t, c1q)
        activity = _mean(ds.neuronal_activity).values if "neuronal_activity" in ds else np.array([])
        self.lines["activity"].set_data(t if activity.size else [], activity)
        spines = _mean(ds.spine_density_relative).values
        self.lines["spines"].set_data(t, spines)
        nor = _mean(ds.nor_discrimination_index).values
        self.lines["nor"].set_data(t, nor)
        daily = np.abs(t - np.round(t)) < 1e-6
        self.lines["nor_daily"].set_data(t[daily], nor[daily])
        start, stop = ds.attrs.get("dosing_start_day", math.nan), ds.attrs.get("dosing_stop_day", math.nan)
        dosed = bool(np.isfinite(start) and np.isfinite(stop))
        for shade in self.shades:
            shade.set_x(start if dosed else 0.0)
            shade.set_width(stop - start if dosed else 0.0)
        cus = ds.attrs.get("teaching_stress_start_day", math.nan), ds.attrs.get("teaching_stress_stop_day", math.nan)
        stressed = bool(np.isfinite(cus[0]) and np.isfinite(cus[1]))
        for shade in self.stress_shades:
            shade.set_x(cus[0] if stressed else 0.0)
            shade.set_width(cus[1] - cus[0] if stressed else 0.0)
        region = str(ds.attrs.get("region", "")).replace("_", " ")
        self.title.set_text(title or "")
        top = max(float(np.nanmax(conc_values)), 1e-6)
        self._layout = (
            14.0 * math.ceil(float(t[-1]) / 14.0 - 1e-9) if t[-1] > 0 else 1.0,  # x limit: whole fortnights
            10.0 ** max(0, math.ceil(math.log10(1.5 * top))),  # concentration: whole decades, at least 1 uM
            max(4.0, math.ceil(max(float(np.nanmax(c1q)), float(np.nanmax(activity, initial=0.0))))),
            min(80.0, 10.0 * math.floor((float(np.nanmin(spines)) - 1.0) / 10.0)),
            max(110.0, 10.0 * math.ceil((float(np.nanmax(spines)) + 1.0) / 10.0)),
            max(0.35, 0.05 * math.ceil((float(np.nanmax(nor)) + 0.01) / 0.05)),
            parent,
            bool(others),
            region if stressed else "",  # the activity line's label is static (drawn with the background)
        )
        x_end, conc_top, glia_top, spine_low, spine_high, nor_top, _, _, stress_region = self._layout
        ax_conc, _, ax_glia, ax_spine, ax_nor = self.axes
        ax_conc.set_xlim(0.0, x_end)
        ax_conc.set_ylim(1e-3 * min(1.0, conc_top), conc_top)
        ax_glia.set_ylim(-0.03, glia_top)
        ax_spine.set_ylim(spine_low, spine_high)
        ax_nor.set_ylim(-0.02, nor_top)
        self.labels["parent"].set_text(parent)
        self.labels["metabolites"].set_visible(bool(others))
        self.labels["activity"].set_visible(stressed)
        self.stress_label.set_text(f"red band: chronic unpredictable stress, {stress_region}" if stressed else "")
        return self

    def render(self) -> bool:
        """Draw the current state into the Agg buffer; returns True if the whole figure had to be redrawn.

        A full draw happens the first time and whenever an axis limit or a line label changed; otherwise the
        cached background is restored and only the lines, the dosing and CUS shading (with its label) and the title
        are drawn.
        """
        canvas = self.figure.canvas
        full = self._background is None or self._layout != self._drawn_layout
        if full:
            canvas.draw()  # animated artists are skipped here
            self._background = canvas.copy_from_bbox(self.figure.bbox)
            self._drawn_layout = self._layout
        else:
            canvas.restore_region(self._background)
        for artist in self._dynamic:
            self.figure.draw_artist(artist)
        return full

    def _repr_png_(self) -> bytes:
        """Rich display in notebooks (``display(figure)``), with or without a matplotlib backend integration."""
        self.render()
        return self.to_png(compress_level=6)

    def to_png(self, compress_level: int = 1) -> bytes:
        """The rendered buffer (call :meth:`render` first) as PNG bytes, with fast compression."""
        import io

        from PIL import Image

        canvas = self.figure.canvas
        width, height = canvas.get_width_height(physical=True)
        image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        out = io.BytesIO()
        image.save(out, format="png", compress_level=compress_level)
        return out.getvalue()


# ---------------------------------------------------------------------------------------------- comparisons
def _place_labels(ax, points_px: np.ndarray, labels: list[str], fontsize: float) -> list[tuple[float, float]]:
    """Offsets [points] for point labels so that no two label boxes overlap (greedy, in order of height).

    Each label is tried right of its point, then above, below, left and further out; a box is estimated as
    0.6 x fontsize per character wide and 1.2 x fontsize high. Returns one (dx, dy) offset per label.
    """
    scale = ax.figure.dpi / 72.0  # pixels per point
    candidates = [(5, 2), (5, -10), (-5, 2), (-5, -10), (5, 12), (5, -20), (-5, 12), (-5, -20), (5, 22), (5, -30),
                  (-5, 22), (-5, -30), (5, 32), (5, -40)]  # fmt: skip
    placed: list[tuple[float, float, float, float]] = []
    offsets: list[tuple[float, float]] = [(5.0, 2.0)] * len(labels)

    def box(i, dx, dy):
        width, height = 0.6 * fontsize * len(labels[i]) * scale, 1.2 * fontsize * scale
        x, y = points_px[i, 0] + dx * scale, points_px[i, 1] + dy * scale
        left = x if dx >= 0 else x - width
        return left, y, left + width, y + height

    def free(b):
        points_clear = all(not (b[0] - 3 < px < b[2] + 3 and b[1] - 3 < py < b[3] + 3) for px, py in points_px)
        return points_clear and all(b[2] <= o[0] or b[0] >= o[2] or b[3] <= o[1] or b[1] >= o[3] for o in placed)

    for i in np.argsort(-points_px[:, 1], kind="stable"):
        for dx, dy in candidates:
            b = box(i, dx, dy)
            if free(b):
                break
        else:
            dx, dy = candidates[0]
            b = box(i, dx, dy)
        placed.append(b)
        offsets[i] = (float(dx), float(dy))
    return offsets


def plot_occupancy_map(table: xr.Dataset, dim: str = "variant", ax=None):
    """Mean TSPO occupancy against mean GABA-A occupancy, one labelled point per ``dim`` entry.

    ``table`` is a stack of :func:`sim.analysis.summarize` (e.g. :func:`sim.comparison.summary_table`). The TSPO
    axis is logarithmic (occupancies span orders of magnitude); zero occupancies are drawn at the bottom edge.
    Labels are offset so that they do not overlap (:func:`_place_labels`); a thin line joins a label moved away
    from its point.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    x, y = table.mean_gabaa_occupancy.values, table.mean_tspo_occupancy.values
    floor = 1e-5
    ax.scatter(x, np.maximum(y, floor), color="C3", zorder=3)
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 1.5)
    ax.set_xlim(-0.02, 1.02)
    labels = [str(label) for label in table[dim].values]
    engine = ax.figure.get_layout_engine()
    if engine is not None:  # place labels in the final pixel geometry of the axes
        engine.execute(ax.figure)
    points = ax.transData.transform(np.column_stack([x, np.maximum(y, floor)]))
    fontsize = 8.0
    for label, xi, yi, (dx, dy) in zip(labels, x, y, _place_labels(ax, points, labels, fontsize)):
        far = abs(dy) > 10
        ax.annotate(label, (xi, max(yi, floor)), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                    ha="left" if dx >= 0 else "right", va="bottom",
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5} if far else None)  # fmt: skip
    ax.set_xlabel(_label(table.mean_gabaa_occupancy, "mean GABA-A occupancy"))
    ax.set_ylabel(_label(table.mean_tspo_occupancy, "mean TSPO occupancy"))
    return ax


def plot_summary_bars(table: xr.Dataset, variable: str, dim: str = "variant", ax=None, color: str = "C3"):
    """One horizontal bar per ``dim`` entry for a summary variable, labelled from its ``long_name`` and ``units``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.4 * table.sizes[dim] + 1.0), constrained_layout=True)
    labels = [str(v) for v in table[dim].values]
    ax.barh(labels, table[variable].values, color=color)
    ax.invert_yaxis()
    ax.set_xlabel(textwrap.fill(_label(table[variable]), 60))
    ax.set_ylabel(dim)
    return ax


def plot_regimen_comparison(results: dict[str, xr.Dataset], axes=None):
    """Two panels sharing time: the dose of each administration (markers) and the spine density, one colour each."""
    if axes is None:
        _, axes = plt.subplots(
            2, 1, figsize=(8, 6), sharex=True, constrained_layout=True, gridspec_kw={"height_ratios": [1, 2]}
        )
    ax_dose, ax_spine = axes
    for i, (label, ds) in enumerate(results.items()):
        color = f"C{i}"
        times, doses = dose_events(ds)
        ax_dose.plot(times, doses, "o", ms=3, color=color, label=label)
        ax_spine.plot(ds.time, _mean(ds.spine_density_relative), color=color, label=label)
    ax_dose.set_ylabel("dose [mg/kg]")
    ax_dose.legend(fontsize=7)
    _reference(ax_spine.axhline(100.0, color="0.6", lw=0.5, ls="--"))
    ax_spine.set_ylabel("spine density [% of baseline]")
    ax_spine.set_xlabel("time since first dose [days]")
    return axes
