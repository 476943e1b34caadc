"""Standard figures: functions take a Dataset (or a dict of them) and return Axes.

Imports only :mod:`sim.core` and :mod:`sim.analysis` of the package (derived quantities such as the interval
turnover come from there), so any application may use it; ``pyproject.toml`` ``[tool.importlinter]`` checks this.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from sim.analysis import dose_events, interval_turnover
from sim.core.files import atomic_path
from sim.core.results import replicate_mean as _mean


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
    """Write the standard four-panel figure to ``path`` (PNG, written atomically: :func:`sim.core.files.atomic_path`)."""
    axes = plot_timecourse(ds)
    fig = axes[0].figure
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------------------------- study figures
ARM_STYLE = {
    "vehicle": ("vehicle", "0.4", "-"),
    "high_dose": ("diazepam 5 mg/kg x 7 d", "C3", "-"),
    "low_dose": ("diazepam 1 mg/kg x 56 d", "C0", "-"),
    "high_dose_2wk": ("diazepam 5 mg/kg x 14 d", "C1", "-"),
    "xbd173": ("XBD173 1 mg/kg x 7 d", "C2", "-"),
    "clonazepam": ("clonazepam 5 mg/kg x 7 d", "C4", "-"),
}


def plot_relative_density(results: dict[str, xr.Dataset], arms=None, ax=None, shade: str | None = None):
    """Spine density (% of baseline) over time, one line per arm; ``shade`` names the arm whose dosing is shaded."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    arms = arms or [a for a in ARM_STYLE if a in results]
    if shade:
        shade_dosing(ax, results[shade])
    for arm in arms:
        label, color, style = ARM_STYLE.get(arm, (arm, None, "-"))
        ds = results[arm]
        ax.plot(ds.time, _mean(ds.spine_density_relative), color=color, ls=style, label=label)
    ax.axhline(100.0, color="0.6", lw=0.5, ls="--")
    ax.set_xlabel("time since first dose [d]")
    ax.set_ylabel("spine density [% of baseline]")
    ax.legend(fontsize=7)
    return ax


def plot_genotypes(results: dict[str, xr.Dataset], axes=None):
    """One panel per dosing arm: wild type, TSPO-KO and GABA-A-BZ-insensitive mice."""
    base_arms = [a for a in ("high_dose", "low_dose", "high_dose_2wk") if a in results]
    if axes is None:
        _, axes = plt.subplots(
            1, len(base_arms), figsize=(4 * len(base_arms), 3.5), sharey=True, constrained_layout=True
        )
    for ax, arm in zip(np.atleast_1d(axes), base_arms):
        shade_dosing(ax, results[arm])
        for suffix, label, color, style in (
            ("", "wild type", "C3", "-"),
            ("_tspo_ko", "TSPO-KO", "k", "-"),
            ("_gabaa_insensitive", "GABA-A BZ-insensitive", "C0", "--"),
        ):
            if arm + suffix in results:
                ds = results[arm + suffix]
                ax.plot(ds.time, _mean(ds.spine_density_relative), color=color, ls=style, label=label)
        ax.set_title(ARM_STYLE[arm][0], fontsize=9)
        ax.set_xlabel("time since first dose [d]")
        ax.axhline(100.0, color="0.6", lw=0.5, ls="--")
    np.atleast_1d(axes)[0].set_ylabel("spine density [% of baseline]")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return axes


def plot_interval_turnover(results: dict[str, xr.Dataset], arms=None, interval_days: float = 7.0, axes=None):
    """Gained and lost spines per imaging interval (two panels), one line per arm."""
    arms = arms or [
        a for a in ("vehicle", "high_dose", "low_dose", "plx5622_vehicle", "plx5622_high_dose") if a in results
    ]
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True, constrained_layout=True)
    for arm in arms:
        turnover = interval_turnover(results[arm], interval_days)
        label = ARM_STYLE.get(arm, (arm.replace("_", " "),))[0]
        axes[0].step(turnover.interval_start, 100 * turnover.gained_fraction, where="post", label=label)
        axes[1].step(turnover.interval_start, 100 * turnover.lost_fraction, where="post", label=label)
    axes[0].set_ylabel(f"% of spines per {interval_days:g}-day interval")
    axes[0].set_title("formation (gained)", fontsize=9)
    axes[1].set_title("elimination (lost)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("interval start [d]")
    axes[1].legend(fontsize=7)
    return axes


def plot_cognition(results: dict[str, xr.Dataset], arms=("vehicle", "high_dose", "low_dose"), test_day=None, axes=None):
    """Novel-object recognition and spontaneous alternation over time (daily values, 24 h after each dose)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    for arm in arms:
        ds = results[arm]
        daily = ds.sel(time=ds.time[(np.abs(ds.time - np.round(ds.time)) < 1e-6)])
        label, color, _ = ARM_STYLE.get(arm, (arm, None, "-"))
        axes[0].plot(daily.time, _mean(daily.nor_discrimination_index), color=color, label=label)
        axes[1].plot(daily.time, _mean(daily.spontaneous_alternation), color=color, label=label)
    axes[0].set_ylabel(_label(results[arms[0]].nor_discrimination_index))
    axes[1].set_ylabel(_label(results[arms[0]].spontaneous_alternation))
    for ax in axes:
        ax.set_xlabel("time since first dose [d]")
        if test_day is not None:
            ax.axvline(test_day, color="0.5", ls=":", lw=1)
    axes[0].legend(fontsize=7)
    return axes


def plot_main_figure(results: dict[str, xr.Dataset], ax=None):
    """The headline result: loss and recovery after 5 mg/kg x 7 d, wild type vs TSPO-KO, with the study's targets."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    shade_dosing(ax, results["high_dose"], label="diazepam 5 mg/kg/day")
    ax.plot(results["vehicle"].time, _mean(results["vehicle"].spine_density_relative), color="0.5", label="vehicle")
    ax.plot(
        results["high_dose"].time, _mean(results["high_dose"].spine_density_relative), color="C3", label="wild type"
    )
    ax.plot(
        results["high_dose_tspo_ko"].time,
        _mean(results["high_dose_tspo_ko"].spine_density_relative),
        color="k",
        ls="--",
        label="TSPO-KO",
    )
    ax.errorbar(
        [7.0], [87.0], yerr=[[3.0], [3.0]], fmt="o", color="C3", mfc="white", label="study: -13 % at day 7 (Alzforum)"
    )
    ax.plot([56.0], [100.0], marker="s", color="C3", mfc="white", ls="none", label="study: baseline at ~day 56 (PZ)")
    ax.set_xlabel("time since first dose [d]")
    ax.set_ylabel("spine density [% of baseline]")
    ax.set_title("Diazepam prunes spines via TSPO: loss and recovery (somatosensory cortex)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax


# ---------------------------------------------------------------------------------------------- teaching demo
class TeachingFigure:
    """Five stacked panels for the classroom demo (:mod:`sim.teaching`), updated in place.

    Panels: brain concentration of the drug and its metabolites, TSPO and GABA-A occupancy, microglial activation
    and C1q, spine density (% of baseline) and the novel-object-recognition (NOR) discrimination index.

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
        self.shades = []
        for ax in axes:
            shade = Rectangle((0.0, 0.0), 0.0, 1.0, transform=ax.get_xaxis_transform(), color="0.88", lw=0)
            ax.add_patch(shade)
            self.shades.append(shade)
        ax_conc, ax_occ, ax_glia, ax_spine, ax_nor = axes
        empty: list[float] = []
        self.lines = {
            "parent": ax_conc.plot(empty, empty, color="C3", label="drug")[0],
            "metabolites": ax_conc.plot(empty, empty, color="C1", ls="--", label="active metabolites (sum)")[0],
            "tspo": ax_occ.plot(empty, empty, color="C2", label="TSPO")[0],
            "gabaa": ax_occ.plot(empty, empty, color="C0", ls="--", label="GABA-A (benzodiazepine site)")[0],
            "activation": ax_glia.plot(empty, empty, color="C4", label="activation")[0],
            "c1q": ax_glia.plot(empty, empty, color="C5", ls="--", label="C1q (x resting)")[0],
            "spines": ax_spine.plot(empty, empty, color="k", label="spine density")[0],
            "nor": ax_nor.plot(empty, empty, color="C0", lw=0.6, alpha=0.6, label="NOR index (any time)")[0],
            "nor_daily": ax_nor.plot(empty, empty, "o-", color="C0", ms=3, label="NOR test, 24 h after a dose")[0],
        }
        references = [
            ax_spine.axhline(100.0, color="0.5", lw=0.6, ls=":"),
            ax_nor.axhline(0.0, color="0.5", lw=0.6, ls=":"),
        ]
        ax_conc.set_ylabel("brain conc.\n[uM] (log)")
        ax_conc.set_yscale("log")
        ax_occ.set_ylabel("receptor\noccupancy [1]")
        ax_occ.set_ylim(-0.03, 1.03)
        ax_glia.set_ylabel("microglia [1]")
        ax_spine.set_ylabel("spine density\n[% of baseline]")
        ax_nor.set_ylabel("NOR index [1]\n(0 = chance)")
        ax_nor.set_xlabel("time since first dose [d]")
        from matplotlib.ticker import LogLocator, MaxNLocator

        self.labels = {}  # coloured line labels: cheaper to draw than legends
        for ax, names, top in (
            (ax_conc, ("parent", "metabolites"), True),
            (ax_occ, ("tspo", "gabaa"), True),
            (ax_glia, ("activation", "c1q"), True),
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
        self.title = fig.suptitle("", fontsize=9)
        self._dynamic = [*self.shades, *references, *self.lines.values(), self.title]  # drawn in this order
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
        self.title.set_text(title or "")
        top = max(float(np.nanmax(conc_values)), 1e-6)
        self._layout = (
            14.0 * math.ceil(float(t[-1]) / 14.0 - 1e-9) if t[-1] > 0 else 1.0,  # x limit: whole fortnights
            10.0 ** max(0, math.ceil(math.log10(1.5 * top))),  # concentration: whole decades, at least 1 uM
            max(4.0, math.ceil(float(np.nanmax(c1q)))),
            min(80.0, 10.0 * math.floor((float(np.nanmin(spines)) - 1.0) / 10.0)),
            max(110.0, 10.0 * math.ceil((float(np.nanmax(spines)) + 1.0) / 10.0)),
            max(0.35, 0.05 * math.ceil((float(np.nanmax(nor)) + 0.01) / 0.05)),
            parent,
            bool(others),
        )
        x_end, conc_top, glia_top, spine_low, spine_high, nor_top, _, _ = self._layout
        ax_conc, _, ax_glia, ax_spine, ax_nor = self.axes
        ax_conc.set_xlim(0.0, x_end)
        ax_conc.set_ylim(1e-3 * min(1.0, conc_top), conc_top)
        ax_glia.set_ylim(-0.03, glia_top)
        ax_spine.set_ylim(spine_low, spine_high)
        ax_nor.set_ylim(-0.02, nor_top)
        self.labels["parent"].set_text(parent)
        self.labels["metabolites"].set_visible(bool(others))
        return self

    def render(self) -> bool:
        """Draw the current state into the Agg buffer; returns True if the whole figure had to be redrawn.

        A full draw happens the first time and whenever an axis limit or a line label changed; otherwise the
        cached background is restored and only the lines, the dosing shading and the title are drawn.
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
def plot_occupancy_map(table: xr.Dataset, dim: str = "variant", ax=None):
    """Mean TSPO occupancy against mean GABA-A occupancy, one labelled point per ``dim`` entry.

    ``table`` is a stack of :func:`sim.analysis.summarize` (e.g. :func:`sim.comparison.summary_table`). The TSPO
    axis is logarithmic (occupancies span orders of magnitude); zero occupancies are drawn at the bottom edge.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5), constrained_layout=True)
    x, y = table.mean_gabaa_occupancy.values, table.mean_tspo_occupancy.values
    floor = 1e-5
    ax.scatter(x, np.maximum(y, floor), color="C3", zorder=3)
    for label, xi, yi in zip(table[dim].values, x, y):
        ax.annotate(str(label), (xi, max(yi, floor)), xytext=(4, 3), textcoords="offset points", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 1.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"mean GABA-A occupancy [{table.mean_gabaa_occupancy.attrs.get('units', '')}]")
    ax.set_ylabel(f"mean TSPO occupancy [{table.mean_tspo_occupancy.attrs.get('units', '')}]")
    return ax


def plot_summary_bars(table: xr.Dataset, variable: str, dim: str = "variant", ax=None, color: str = "C3"):
    """One horizontal bar per ``dim`` entry for a summary variable, labelled from its ``long_name`` and ``units``."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.4 * table.sizes[dim] + 1.0), constrained_layout=True)
    labels = [str(v) for v in table[dim].values]
    ax.barh(labels, table[variable].values, color=color)
    ax.invert_yaxis()
    ax.set_xlabel(_label(table[variable]))
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
    ax_spine.axhline(100.0, color="0.6", lw=0.5, ls="--")
    ax_spine.set_ylabel("spine density [% of baseline]")
    ax_spine.set_xlabel("time since first dose [d]")
    return axes
