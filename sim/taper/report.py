"""Taper planner, outputs: the Markdown table, the figure, the files and ``python -m sim.taper`` (:func:`main`).

The plan itself (the Dataset these read) comes from :func:`sim.taper.plan.plan_taper`.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from sim.core.params import ConfigError
from sim.taper.plan import DISCLAIMER, FOLLOW_UP_DAYS, RUN_IN_DAYS, STRATEGIES, SWITCH_TO, plan_taper

#: First line of the package docstring, the command's description.
DESCRIPTION = "Taper planner: how to come off a benzodiazepine with the least spine loss under a limit on withdrawal."


# ---------------------------------------------------------------------------------------------------- outputs
def schedule_rows(ds: xr.Dataset, strategy: str) -> list[tuple[int, int, float]]:
    """The schedule of ``strategy`` as ``(first day, last day, dose [mg])`` runs of equal daily doses."""
    doses = np.round(ds["dose_mg"].sel(strategy=strategy).values, 3)
    rows, first = [], 0
    for k in range(1, doses.size + 1):
        if k == doses.size or doses[k] != doses[first]:
            rows.append((first, k - 1, float(doses[first])))
            first = k
    return rows


def summary(ds: xr.Dataset) -> str:
    """Markdown: the inputs, the comparison of strategies and the plan's schedule as a printable table."""
    a = ds.attrs
    relative = (
        f" = {a['withdrawal_limit_relative']:g} x the abrupt stop's peak" if "withdrawal_limit_relative" in a else ""
    )
    lines = [
        f"# Taper plan: {a['dose_mg']:g} mg/day ({a['dose_mg_per_kg']:.3g} mg/kg/day) {a['drug']} ({a['species']})",
        "",
        f"{DISCLAIMER.capitalize()}. Horizon {a['horizon_days']} d from plan day 0 after {a['run_in_days']} d on the "
        f"current dose; withdrawal limit {a['withdrawal_limit']:.3g}{relative} (peak withdrawal proxy, [1]); a taper ends at least "
        f"{a['follow_up_days']} d before the horizon.",
        "",
        f"For scale: stopping abruptly on day 0 peaks at {a['abrupt_stop_withdrawal_proxy_peak']:.3g} with a "
        f"cumulative spine deficit of {a['abrupt_stop_spine_deficit']:.4g} % d.",
        "",
        f"**Plan: {a['plan_schedule']}** (least cumulative spine deficit among the schedules that meet the limit).",
        "",
        "| strategy | drug | schedule | last dose day | cumulative spine deficit [% d] | over draws: median [5-95 %] "
        "| peak withdrawal proxy [1] | meets limit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in ds["strategy"].values:
        one = ds.sel(strategy=s)
        label = _label(one)
        lines.append(
            f"| {s} | {one['drug_taken'].item()} | {label} | {float(one['last_dose_day']):g} | "
            f"{float(one['cumulative_spine_deficit']):.4g} | {_band_text(one)} | "
            f"{float(one['withdrawal_proxy_peak']):.3g} | "
            f"{'yes' if int(one['meets_limit']) else 'no'} |"
        )
    plan = a["plan"]
    drug = ds["drug_taken"].sel(strategy=plan).item()
    lines += [
        "",
        f"## Schedule of the plan ({a['plan_schedule']}), once daily by mouth",
        "",
        "| days | dose of " + drug + " [mg/day] |",
        "|---|---|",
    ]
    for first, last, dose in schedule_rows(ds, plan):
        days = f"{first}" if first == last else f"{first}–{last}"
        lines.append(f"| {days} | {dose:g} |")
    lines += [
        "",
        f"Search: {a['method']}. {ds.sizes['candidate']} schedules evaluated; run time with the bands "
        f"{a.get('run_time_s', float('nan'))} s.",
        f"Equivalent doses: {a['equivalence_source']}.",
        f"Central line: {a['central_line']}. Bands: {a['bands']}.",
        "Caveats: the withdrawal proxy is a receptor-adaptation signal with mouse time scales (sim.tolerance), not a "
        "symptom score; human microglia and spines are translated from mice with stated ranges.",
        "",
    ]
    return "\n".join(lines)


def _band_text(one: xr.Dataset) -> str:
    median = float(one["cumulative_spine_deficit_median"])
    if not math.isfinite(median):
        return "no band"
    low, high = float(one["cumulative_spine_deficit_q05"]), float(one["cumulative_spine_deficit_q95"])
    return f"{median:.4g} [{low:.4g}–{high:.4g}]"


def _label(one: xr.Dataset) -> str:
    if math.isfinite(float(one["percent_per_step"])):
        hold = f"{one['drug_taken'].item()} for the hold, then " if str(one["strategy"].values) == "switch" else ""
        return f"{hold}{float(one['percent_per_step']):.3g} % every {float(one['step_days']):g} d"
    if math.isfinite(float(one["duration_days"])):
        return f"linear to 0 over {float(one['duration_days']):.3g} d"
    return "current dose every day"


def plot_taper(ds: xr.Dataset, axes=None):
    """Three panels: daily dose, withdrawal proxy with the limit, spine density with bands (per strategy)."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    for i, s in enumerate(ds["strategy"].values):
        one, color = ds.sel(strategy=s), f"C{i}"
        label = f"{s} ({one['drug_taken'].item()})"
        axes[0].step(ds["day"], one["dose_mg"], where="post", color=color, label=label)
        axes[1].plot(ds["time"], one["withdrawal_deficit"], color=color, label=label)
        axes[2].plot(ds["time"], one["spine_density_relative"], color=color, label=label)
        if np.isfinite(one["spine_density_relative_q05"]).any():
            axes[2].fill_between(
                ds["time"],
                one["spine_density_relative_q05"],
                one["spine_density_relative_q95"],
                color=color,
                alpha=0.15,
                lw=0,
            )
            axes[2].plot(ds["time"], one["spine_density_relative_median"], color=color, ls=":", lw=1)
    axes[1].axhline(ds.attrs["withdrawal_limit"], color="k", ls="--", lw=1, label="limit")
    titles = (
        "daily dose [mg] (grey: on the current dose)",
        "withdrawal proxy [1], limit dashed",
        "spine density [%]: line one run; dotted median, band 5-95 % of draws",
    )
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("plan day")
        ax.axvspan(float(ds["time"].min()), 0.0, color="0.92", lw=0, zorder=0)
    axes[0].set_xlim(float(ds["time"].min()), float(ds["time"].max()))
    axes[0].legend(fontsize=7)
    axes[0].figure.suptitle(f"{ds.attrs['title']}; plan: {ds.attrs['plan_schedule']} ({DISCLAIMER})", fontsize=9)
    return axes


def write(ds: xr.Dataset, out_dir: str | Path) -> tuple[Path, Path, Path]:
    """``taper.nc``, ``taper.md`` (:func:`summary`) and ``taper.png`` (:func:`plot_taper`) in ``out_dir``."""
    from sim.io import check_writable, save_with_summary
    from sim.plotting import save_figure

    folder = check_writable(out_dir)
    nc, md = save_with_summary(ds, folder / "taper.nc", summary(ds))
    png = folder / "taper.png"
    save_figure(plot_taper(ds)[0].figure, png)
    return nc, md, png


def _writable(out_dir: str) -> None:
    """Refuse an output folder that cannot be created or written, without creating it."""
    path = Path(out_dir).resolve()
    probe = path
    while not probe.exists():
        probe = probe.parent
    import os

    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise ConfigError(f"output directory {out_dir!r} cannot be written ({probe} is not a writable folder)")


# ---------------------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    """The command line ``python -m sim.taper`` (options in ``--help`` and the package docstring).

    ``--drug D --dose-mg X --horizon-days H`` and one limit, ``--withdrawal-limit L`` or
    ``--withdrawal-limit-relative F``; writes into ``--out DIR``. Bad input: one line on stderr, exit 2.
    """
    parser = argparse.ArgumentParser(prog="python -m sim.taper", description=DESCRIPTION)
    parser.add_argument("--drug", required=True, help="current drug, e.g. diazepam")
    parser.add_argument("--dose-mg", type=float, default=None, help="current daily dose [mg] (or --dose-mg-per-kg)")
    parser.add_argument("--dose-mg-per-kg", type=float, default=None, help="current daily dose [mg/kg]")
    parser.add_argument("--horizon-days", type=int, required=True, help="days from plan day 0 [d]")
    limit = parser.add_mutually_exclusive_group(required=True)
    limit.add_argument("--withdrawal-limit", type=float, help="largest allowed peak withdrawal proxy [1]")
    limit.add_argument(
        "--withdrawal-limit-relative",
        type=float,
        help="largest allowed peak withdrawal proxy as a fraction of an abrupt stop's peak (e.g. 0.1)",
    )
    parser.add_argument(
        "--strategies", default=",".join(STRATEGIES), help=f"comma-separated, of {', '.join(STRATEGIES)}"
    )
    parser.add_argument("--species", default="human", help="species option (default human)")
    parser.add_argument("--switch-to", default=SWITCH_TO, help=f"low-TSPO drug of the switch (default {SWITCH_TO})")
    parser.add_argument("--percent-per-step", type=float, default=None, help="fix the percent per step [%%]")
    parser.add_argument("--step-days", type=float, default=None, help="fix the step length [d]")
    parser.add_argument("--duration-days", type=float, default=None, help="fix the linear taper's duration [d]")
    parser.add_argument("--run-in-days", type=int, default=RUN_IN_DAYS, help="days on the current dose before day 0")
    parser.add_argument("--follow-up-days", type=int, default=FOLLOW_UP_DAYS, help="days after the last dose [d]")
    parser.add_argument("--no-bands", action="store_true", help="skip the uncertainty bands (faster)")
    parser.add_argument("--out", default=".", help="output folder (default: the current folder)")
    args = parser.parse_args(argv)
    try:
        _writable(args.out)
        ds = plan_taper(
            args.drug,
            args.dose_mg,
            args.horizon_days,
            args.strategies,
            args.withdrawal_limit,
            dose_mg_per_kg=args.dose_mg_per_kg,
            species=args.species,
            switch_to=args.switch_to,
            percent_per_step=args.percent_per_step,
            step_days=args.step_days,
            duration_days=args.duration_days,
            run_in_days=args.run_in_days,
            follow_up_days=args.follow_up_days,
            bands=not args.no_bands,
            withdrawal_limit_relative=args.withdrawal_limit_relative,
        )
        ds.attrs["command"] = "python -m sim.taper " + " ".join(sys.argv[1:] if argv is None else argv)
        paths = write(ds, args.out)
    except ConfigError as error:
        print(f"sim.taper: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path.resolve()}")
    print(summary(ds))
    return 0
