"""Teaching animation: one dendrite segment through dosing and withdrawal, spine by spine (a GIF).

Runs :class:`sim.engines.agents.AgentEngine` for one replicate of a few segments with the model's own parameters
and draws spines appearing (they grow in over a few hours), C1q-tagged spines in magenta, microglial processes
reaching out to engulf tagged spines, and regrowth after withdrawal. A timeline underneath shows microglial
activation and the mean-field spine density with the dosing period shaded; a clock gives the day.

The rows are the replicate's segments laid end to end (row ``r`` holds the dendrite from ``r x L`` to
``(r + 1) x L``), as in the engine. Each microglial cell is drawn as a soma at the centre of its territory, the
territories as alternately tinted bands along the shaft with dashed boundaries, and every process, productive or
not, grows from the soma of the cell that owns the spine (``spine_cell``). A territory may run over the end of a
row into the next one, and after depletion one cell may own several rows: its processes then cross rows. Soma
area is proportional to the cell's responsiveness multiplier (all equal unless
``engine.microglia_heterogeneity_cv > 0``).

Besides the productive contacts that the engine simulates, the figure draws the unproductive surveillance
contacts from the same contact process (rate ``contact_rate_per_h`` x microglia density per spine, each lasting
``contact_minutes``), so the picture of microglia touching spines about once an hour is honest but decorative.

So that the drug effect stands out from the noise of single spines, the defaults draw many dendrites
(:attr:`AnimationOptions.dendrites`: the relative fluctuation of the drawn count falls as one over the square root
of the number of spines, while the drug's relative loss does not) and spend a fixed share of the loop on the
dosing period (:attr:`AnimationOptions.dosing_share`: frames are denser in simulated time while the drug is given,
and the clock says so). The timeline also shows the drawn spine count against the mean field.

Usage::

    python -m sim.animate experiment=shi2022_high_dose --out dendrite.gif     # any Hydra overrides
    python -m sim.animate experiment=shi2022_high_dose animate.fps=10 animate.duration_s=15 animate.dpi=100 \
        animate.dendrites=16 animate.dosing_share=0.5                          # the look of the GIF
    synaprune experiment=shi2022_high_dose animate=true                       # writes dendrite.gif in the run dir
    synaprune experiment=shi2022_high_dose animate=true animate.fps=8 animate.duration_s=7.5   # the same options

or from Python: ``save_run_gif(sim.presets.from_overrides(["animate=true", ...]), "dendrite.gif")``. The
``animate.*`` options are :class:`sim.run.AnimationOptions` (``RunConfig.animate``), read and checked once for both
commands.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from PIL import Image

from sim.core.files import atomic_path
from sim.core.params import ConfigError
from sim.engines.agents import AgentEngine
from sim.engines.ode import OdeEngine
from sim.model import PruningModel
from sim.run import AnimationOptions, RunConfig, simulate_model

UNTAGGED_COLOUR = "#2f6fd0"
TAGGED_COLOUR = "#d6297a"
MICROGLIA_COLOUR = "#e08a1e"
SHAFT_COLOUR = "#7d8b99"
SOMA_HEIGHT = 3.2  # height of a microglia cell body above the shaft of its row
ROW_HEIGHT = 6.0  # vertical distance between drawn segments
TERRITORY_TINTS = ("#fbe3c4", "#f3d2a6")  # alternate territories along the dendrite


#: Figure size of the GIF [inch]: width, and heights of the dendrite panel and of the timeline.
FIGURE_IN = (8.0, 5.6, 2.2)


def frame_days(
    duration_days: float, frames: int, dosing_period: tuple[float, float], dosing_share: float | None
) -> np.ndarray:
    """Simulated day [d] of each frame: ``dosing_share`` of the frames in the dosing period, the rest spread evenly.

    Piecewise linear in the frame number: before, during and after ``dosing_period`` (first and last day [d]) the
    frames are evenly spaced in time; the dosing period gets ``max(dosing_share, its share of duration_days)`` of
    the loop. Without a dosing period within the run, or with ``dosing_share=None``, all frames are evenly spaced.
    """
    uniform = np.linspace(0.0, duration_days, frames)
    first, last = dosing_period
    if dosing_share is None or not (math.isfinite(first) and math.isfinite(last)):
        return uniform
    first, last = max(first, 0.0), min(last, duration_days)
    if not last > first:
        return uniform
    share = max(dosing_share, (last - first) / duration_days)
    before = (1.0 - share) * first / (duration_days - (last - first)) if share < 1.0 else 0.0
    knots = np.array([[0.0, 0.0], [before, first], [before + share, last], [1.0, duration_days]])
    knots = knots[np.concatenate([[True], np.diff(knots[:, 0]) > 0])]  # drop empty pieces
    return np.interp(np.linspace(0.0, 1.0, frames), knots[:, 0], knots[:, 1])


def _process(x0: float, y0: float, x1: float, y1: float, bend: float) -> np.ndarray:
    """A gently curved microglial process from (x0, y0) to (x1, y1) (quadratic Bezier, 16 points)."""
    s = np.linspace(0.0, 1.0, 16)[:, None]
    mid = np.array([(x0 + x1) / 2 + bend, (y0 + y1) / 2])
    p0, p1 = np.array([x0, y0]), np.array([x1, y1])
    return (1 - s) ** 2 * p0 + 2 * (1 - s) * s * mid + s**2 * p1


def dendrite_frames(
    model: PruningModel,
    *,
    seed: int = 0,
    duration_days: float = 70.0,
    segments: int = 3,
    segment_length_um: float = 40.0,
    frames: int = 120,
    engine: AgentEngine | None = None,
    dosing_share: float | None = None,
) -> tuple[xr.Dataset, xr.Dataset, np.ndarray]:
    """Simulate the drawn segments: (agent result, mean-field result, frame times [d]).

    ``engine`` supplies the microglia settings (territory, heterogeneity, contact rate); its replicates,
    segments and records are replaced by those of the drawing. The frame times are :func:`frame_days`.
    """
    times_h = 24.0 * frame_days(duration_days, frames, model.dosing_period_days, dosing_share)
    engine = dataclasses.replace(
        engine or AgentEngine(),
        replicates=1,
        segments=segments,
        segment_length_um=segment_length_um,
        record_spines=True,
        progress=False,
    )
    agents = simulate_model(model, times_h, engine, seed)
    mean_field = simulate_model(model, np.linspace(0.0, duration_days * 24.0, 8 * frames), OdeEngine(), seed)
    return agents, mean_field, times_h / 24.0


def spine_counts(agents: xr.Dataset, days: np.ndarray) -> np.ndarray:
    """Number of spines alive in the drawn segments (replicate 0 of ``agents``) on each of ``days`` [d]."""
    spines = agents.isel(replicate=0)
    keep = np.isfinite(spines["spine_position"].values)
    birth, loss = spines["birth_time"].values[keep], spines["loss_time"].values[keep]
    return np.array([((np.isnan(birth) | (birth <= t)) & (np.isnan(loss) | (loss > t))).sum() for t in days])


def save_dendrite_gif(
    model: PruningModel,
    path: str | Path,
    *,
    seed: int = 0,
    duration_days: float = 70.0,
    segments: int = AnimationOptions.dendrites,
    segment_length_um: float = 40.0,
    frames: int = AnimationOptions().frames,
    fps: int = AnimationOptions.fps,
    dpi: int = AnimationOptions.dpi,
    contact_minutes: float = 5.0,
    snapshot: str | Path | None = None,
    snapshot_day: float | None = None,
    engine: AgentEngine | None = None,
    dosing_share: float | None = AnimationOptions.dosing_share,
) -> Path:
    """Write the animation of a few dendrite segments to ``path`` (GIF) and return the path.

    Parameters
    ----------
    model
        The coupled model (its regimen sets the dosing period).
    path
        Output GIF.
    seed
        Seed of the spine simulation and of the drawn surveillance contacts.
    duration_days
        Simulated time [d].
    segments
        Number of dendrite segments drawn (one row each; laid end to end, they form one replicate's dendrite):
        :attr:`AnimationOptions.dendrites`.
    segment_length_um
        Length of each drawn segment [um].
    frames, fps, dpi
        Number of frames, frames per second and resolution of the GIF (:class:`AnimationOptions` checks them
        for ``python -m sim.animate``). The frames are ``FIGURE_IN`` x ``dpi`` pixels.
    contact_minutes
        Duration of a drawn surveillance contact [min].
    snapshot, snapshot_day
        Also save the frame closest to ``snapshot_day`` [d] (default: the end of dosing) as a PNG.
    engine
        Agent-engine settings to draw with (microglial territory, heterogeneity, contact rate); default
        :class:`~sim.engines.agents.AgentEngine` defaults.
    dosing_share
        Share of the frames in the dosing period (:func:`frame_days`); ``None``: evenly spaced in time.
    """
    agents, mean_field, days = dendrite_frames(
        model,
        seed=seed,
        duration_days=duration_days,
        segments=segments,
        segment_length_um=segment_length_um,
        frames=frames,
        engine=engine,
        dosing_share=dosing_share,
    )
    length = segment_length_um
    spines = agents.isel(replicate=0)
    keep = np.isfinite(spines["spine_position"].values)
    birth, tag = spines["birth_time"].values[keep], spines["tag_time"].values[keep]
    loss, engulfed = spines["loss_time"].values[keep], spines["engulfed"].values[keep]
    owner = spines["spine_cell"].values[keep].astype(int)
    row, x_pos = np.divmod(spines["spine_position"].values[keep], length)
    row_y = -ROW_HEIGHT * row
    centres = spines["microglia_cell_position"].values
    multiplier = spines["microglia_cell_multiplier"].values
    territory_edges = np.concatenate([[0.0], 0.5 * (centres[1:] + centres[:-1]), [segments * length]])
    soma_row, soma_x = np.divmod(centres, length)
    soma_y = -ROW_HEIGHT * soma_row + SOMA_HEIGHT
    slots = int(agents.attrs["agent_slots_per_segment"])
    site = np.round(x_pos / (length / slots) - 0.5).astype(int)
    side = np.where(site % 2 == 0, 1.0, -1.0)
    neck = 0.55 + 0.35 * ((site * 37) % 7) / 6.0
    steps = np.diff(days, prepend=days[0] - (days[1] - days[0] if days.size > 1 else 1.0))  # [d] before each frame
    contacts_per_spine = (
        float(agents.attrs["agent_contact_rate_per_h"]) * model.microglia_density * contact_minutes / 60.0
    )
    display_rng = np.random.default_rng([seed, 1])
    first, last = model.dosing_period_days

    width_in, panel_in, timeline_in = FIGURE_IN
    scale = min(1.0, panel_in / segments / 1.75)  # row height relative to the 1.75 in of a row among three
    fig = Figure(figsize=(width_in, panel_in + timeline_in), dpi=dpi)
    grid = fig.add_gridspec(
        2, 1, height_ratios=[panel_in, timeline_in * 0.6], hspace=0.2, left=0.07, right=0.97, top=0.94, bottom=0.08
    )
    canvas = FigureCanvasAgg(fig)  # no pyplot: the user's backend and open figures are untouched
    ax = fig.add_subplot(grid[0])
    ax_time = fig.add_subplot(grid[1])
    ax.set_xlim(-0.5, length + 0.5)
    ax.set_ylim(-ROW_HEIGHT * (segments - 1) - 2.4, 4.3)
    ax.axis("off")
    for r in range(segments):
        y0 = -ROW_HEIGHT * r
        ax.add_patch(Rectangle((0, y0 - 0.18), length, 0.36, color=SHAFT_COLOUR, zorder=2))
        for c in range(centres.size):  # the part of each territory that lies in this row
            x0 = max(territory_edges[c] - r * length, 0.0)
            x1 = min(territory_edges[c + 1] - r * length, length)
            if x1 > x0:
                tint = TERRITORY_TINTS[c % 2]
                ax.add_patch(Rectangle((x0, y0 - 1.5), x1 - x0, 3.0, color=tint, lw=0, zorder=0))
        for edge in territory_edges[1:-1]:
            if r * length < edge < (r + 1) * length:
                x = edge - r * length
                ax.plot([x, x], [y0 - 1.6, y0 + 1.6], color=MICROGLIA_COLOUR, lw=0.8, ls="--", zorder=1)
    sizes = 220.0 * scale * np.clip(multiplier, 0.25, 3.0)
    ax.scatter(soma_x, soma_y, s=sizes, color=MICROGLIA_COLOUR, zorder=4, edgecolors="none")
    ax.text(soma_x[0] + 1.6, soma_y[0], "microglia", va="center", fontsize=8, color=MICROGLIA_COLOUR)
    bar_y = -ROW_HEIGHT * (segments - 1) - 2.1
    ax.plot([0, 10], [bar_y, bar_y], color="k", lw=2)
    ax.text(5, bar_y + 0.15, "10 µm", ha="center", va="bottom", fontsize=7)
    necks = LineCollection([], colors=SHAFT_COLOUR, linewidths=1.6, zorder=1)
    processes = LineCollection([], colors=MICROGLIA_COLOUR, linewidths=1.1, zorder=3)
    ax.add_collection(necks)
    ax.add_collection(processes)
    heads = ax.scatter([], [], s=[], zorder=5, edgecolors="none")
    eaten = ax.scatter([], [], s=[], zorder=6, color=TAGGED_COLOUR, edgecolors=MICROGLIA_COLOUR, linewidths=2.0)
    ghosts = ax.scatter([], [], s=[], zorder=5, color=SHAFT_COLOUR, alpha=0.35, edgecolors="none")
    clock = ax.text(0.0, 1.0, "", transform=ax.transAxes, fontsize=11, fontweight="bold", va="bottom")
    phase = ax.text(1.0, 1.0, "", transform=ax.transAxes, fontsize=10, ha="right", va="bottom")
    drug = f"{model.drug.name} {model.regimen.dose_per_kg(model.species.body_weight_kg):.3g} mg/kg"
    legend = [
        Line2D([], [], marker="o", ls="", color=UNTAGGED_COLOUR, label="spine"),
        Line2D([], [], marker="o", ls="", color=TAGGED_COLOUR, label="C1q-tagged"),
        Line2D([], [], color=MICROGLIA_COLOUR, lw=1.1, label="contact"),
        Line2D([], [], color=MICROGLIA_COLOUR, lw=2.8, label="engulfment"),
        Line2D([], [], marker="o", ls="", color=SHAFT_COLOUR, alpha=0.35, label="lost (other causes)"),
        Line2D([], [], color=MICROGLIA_COLOUR, lw=0.8, ls="--", label="territory"),
    ]
    fig.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.55, 1.0),
        fontsize=8,
        frameon=False,
        ncol=6,
        columnspacing=1.0,
        handletextpad=0.3,
    )

    time_days = mean_field["time"].values
    if math.isfinite(first):
        ax_time.axvspan(first, last, color="0.85", lw=0, label=f"{drug} dosing")
    ax_time.plot(
        time_days,
        100 * mean_field["microglia_activation"].values,
        color=MICROGLIA_COLOUR,
        lw=1.2,
        label="microglial activation [%]",
    )
    ax_time.plot(
        time_days,
        mean_field["spine_density_relative"].values,
        color="k",
        lw=1.2,
        label="spine density, mean field [% baseline]",
    )
    alive_counts = spine_counts(agents, days)
    if alive_counts[0] > 0:
        ax_time.plot(
            days,
            100.0 * alive_counts / alive_counts[0],
            color=UNTAGGED_COLOUR,
            lw=0.9,
            label=f"spines drawn ({alive_counts[0]} on day 0) [% of day 0]",
        )
    ax_time.set_xlim(0, days[-1])
    ax_time.set_ylim(0, max(115.0, 1.05 * float(np.nanmax(mean_field["spine_density_relative"].values))))
    ax_time.set_xlabel("time since first dose [d]", fontsize=8)
    ax_time.tick_params(labelsize=8)
    ax_time.legend(fontsize=7, loc="lower right", frameon=False)
    marker = ax_time.axvline(0.0, color=TAGGED_COLOUR, lw=1.5)

    def draw(i: int) -> None:
        t = days[i]
        reach = max(0.5, 1.5 * steps[i])  # days a process is shown reaching for a spine before engulfing it
        digest = max(0.3, 1.0 * steps[i])  # days an engulfed spine is shown inside the process
        born = np.isnan(birth) | (birth <= t)
        alive = born & (np.isnan(loss) | (loss > t))
        age = np.where(np.isnan(birth), np.inf, t - birth)
        grow = np.clip(1.0 - np.exp(-age / 0.25), 0.15, 1.0)  # new spines grow in over ~6 h
        tip = row_y + side * (0.18 + neck * grow)
        full_tip = row_y + side * (0.18 + neck)
        necks.set_segments(
            [
                np.array([[x, y0 + 0.18 * sd], [x, y1]])
                for x, y0, sd, y1 in zip(x_pos[alive], row_y[alive], side[alive], tip[alive])
            ]
        )
        heads.set_offsets(np.column_stack([x_pos[alive], tip[alive]]) if alive.any() else np.empty((0, 2)))
        heads.set_sizes(70.0 * scale * grow[alive] ** 2)
        heads.set_color(np.where(alive & (tag <= t), TAGGED_COLOUR, UNTAGGED_COLOUR)[alive])
        hunting = alive & (engulfed == 1.0) & (tag <= t) & (loss - t <= reach)  # tagged, about to be eaten
        touched = alive & ~hunting & (display_rng.random(alive.size) < contacts_per_spine)
        digesting = (engulfed == 1.0) & (loss <= t) & (t - loss < digest)
        paths, widths = [], []
        for j in np.flatnonzero(hunting | touched | digesting):
            target = (tip[j] if alive[j] else full_tip[j]) + 0.15 * side[j]
            c = owner[j]  # the process comes from the cell whose territory holds the spine
            bend = 0.15 * length if x_pos[j] >= soma_x[c] else -0.15 * length
            paths.append(_process(soma_x[c], soma_y[c] - 0.4, x_pos[j], target, bend=bend))
            widths.append(1.1 if touched[j] else 2.8)
        processes.set_segments(paths)
        processes.set_linewidths(widths or [1.1])
        eaten.set_offsets(
            np.column_stack([x_pos[digesting], full_tip[digesting]]) if digesting.any() else np.empty((0, 2))
        )
        eaten.set_sizes(np.full(digesting.sum(), 25.0 * scale))
        gone = (loss <= t) & (loss > t - steps[i]) & (engulfed == 0.0)  # lost otherwise: a fading ghost
        ghosts.set_offsets(np.column_stack([x_pos[gone], full_tip[gone]]) if gone.any() else np.empty((0, 2)))
        ghosts.set_sizes(np.full(gone.sum(), 70.0 * scale))
        clock.set_text(f"day {t:5.1f}")
        if math.isfinite(first) and first <= t < last:
            phase.set_text(f"{drug} daily")
        elif math.isfinite(last) and t >= last:
            phase.set_text(f"withdrawal (day {t - last:.0f})")
        else:
            phase.set_text("drug-free")
        marker.set_xdata([t, t])

    # Blitting: the static figure is rendered once; each frame redraws only the moving artists.
    moving = [necks, heads, ghosts, processes, eaten, clock, phase, marker]
    for artist in moving:
        artist.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)

    def render(i: int) -> Image.Image:
        draw(i)
        canvas.restore_region(background)
        for artist in moving:
            fig.draw_artist(artist)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        return Image.fromarray(np.ascontiguousarray(rgb))

    path = Path(path)
    if snapshot is not None:
        when = last if snapshot_day is None and math.isfinite(last) else (snapshot_day or days[-1] / 2)
        with atomic_path(snapshot) as tmp:
            render(int(np.argmin(np.abs(days - when)))).save(tmp, format="PNG")
    images = [render(i).quantize(colors=64, method=Image.Quantize.FASTOCTREE) for i in range(days.size)]
    with atomic_path(path) as tmp:  # never a truncated GIF under the final name
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0, disposal=1
        )
    return path


def save_run_gif(run: RunConfig, path: str | Path) -> Path:
    """``dendrite.gif`` of a run configuration, drawn as its :class:`AnimationOptions` (``run.animate``) say.

    What ``synaprune ... animate=true`` writes into the run folder and ``python -m sim.animate`` writes to ``--out``;
    an agent engine (``engine=agents``) supplies its microglia settings.
    """
    options = run.animate
    return save_dendrite_gif(
        run.model(),
        path,
        seed=run.seed,
        duration_days=run.duration_days,
        segments=options.dendrites,
        frames=options.frames,
        fps=options.fps,
        dpi=options.dpi,
        dosing_share=options.dosing_share,
        engine=run.engine if isinstance(run.engine, AgentEngine) else None,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.animate [overrides ...] [animate.fps=...] [--out dendrite.gif]``: write the GIF, print its path.

    The overrides are those of ``synaprune`` with ``animate=true`` implied: ``animate.<field>=value`` sets
    :class:`AnimationOptions`. Bad input exits with status 2 and one line naming the key, the value and what is
    allowed, before anything is simulated or written.
    """
    from sim import presets

    parser = argparse.ArgumentParser(prog="python -m sim.animate", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. experiment=shi2022_high_dose")
    parser.add_argument("--out", type=Path, default=Path("dendrite.gif"), help="GIF to write (default: dendrite.gif)")
    args = parser.parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    try:
        run = presets.from_overrides(["animate=true", *args.overrides])
    except ConfigError as error:
        parser.error(str(error))
    if not run.animate.enabled:
        parser.error("animate = false is not allowed: python -m sim.animate always writes the GIF (leave animate= out)")
    path = save_run_gif(run, args.out)
    print(f"animation: {path.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
