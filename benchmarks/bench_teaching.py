"""Time one update of the classroom demo: compute (TeachingDemo.update) and compute + redraw (Agg, PNG).

Usage::

    /work/venv/bin/python benchmarks/bench_teaching.py [--repeat 3]

The settings mimic a lesson (:func:`lesson_settings`): dragging the dose, dosing-days and follow-up sliders
at their step sizes, switching genotype, microglia depletion and drug. Each setting is run ``--repeat`` times; medians are over all updates. "redraw" is
what :class:`sim.teaching.TeachingApp` does after computing: move the line data, render (blitting when the axes
did not change, otherwise a full draw) and encode the PNG shown in the notebook. Model composition (~0.5 s per
drug, once) is done before timing, as ``TeachingDemo.prepare`` does in the notebook.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from sim.plotting import TeachingFigure
from sim.teaching import TeachingDemo, describe

DEFAULT = {
    "drug": "diazepam",
    "dose_mg_per_kg": 5.0,
    "days": 7,
    "follow_up_days": 63,
    "genotype": "wt",
    "depleted": False,
}


def lesson_settings() -> list[dict]:
    """Settings in the order a class goes through them: slider drags at the sliders' own step sizes.

    Each control is moved from the current state (as a student would), so consecutive settings differ in one
    control: dose 5 -> 10 -> 0 mg/kg in 0.25 steps, dosing days 7 -> 28 -> 1, follow-up 63 -> 84 -> 21 days,
    the genotypes, depletion, and four drugs.
    """
    current = dict(DEFAULT)
    out = [dict(current)]

    def move(name, values):
        for value in values:
            current[name] = value
            out.append(dict(current))

    move("dose_mg_per_kg", [float(d) for d in np.arange(5.25, 10.01, 0.25)])
    move("dose_mg_per_kg", [float(d) for d in np.arange(9.75, -0.01, -0.25)])
    move("dose_mg_per_kg", [5.0])
    move("days", list(range(8, 29)) + list(range(27, 0, -1)) + [7])
    move("follow_up_days", list(range(64, 85)) + list(range(83, 20, -1)) + [63])
    move("genotype", ["tspo_ko", "gabaa_bz_insensitive", "wt"])
    move("depleted", [True])
    move("genotype", ["tspo_ko", "wt"])
    move("depleted", [False])
    move("dose_mg_per_kg", [1.0])
    move("drug", ["xbd173", "clonazepam", "alprazolam", "diazepam"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each setting")
    args = parser.parse_args(argv)

    settings = lesson_settings()
    demo = TeachingDemo().prepare({s["drug"] for s in settings})
    figure = TeachingFigure()
    figure.update(demo.update(**DEFAULT)).render()  # warm-up: numba kernel, first full draw
    compute, total, full_draw = [], [], []
    for _ in range(args.repeat):
        for s in settings:
            start = time.perf_counter()
            ds = demo.update(**s)
            middle = time.perf_counter()
            figure.update(ds, title=describe(ds))
            full = figure.render()
            figure.to_png()
            end = time.perf_counter()
            compute.append(middle - start)
            total.append(end - start)
            full_draw.append(full)
    compute_ms, total_ms = 1e3 * np.array(compute), 1e3 * np.array(total)
    full_draw = np.array(full_draw)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}"
    )
    grid = f"output grid {demo.output_step_h:g} h + {len(demo.peak_offsets_h)} points after each dose"
    print(f"{len(settings)} settings x {args.repeat} repeats = {compute_ms.size} updates, {grid}")
    print(f"compute          median {np.median(compute_ms):6.1f} ms   90th pct {np.percentile(compute_ms, 90):6.1f} ms")
    print(f"compute + redraw median {np.median(total_ms):6.1f} ms   90th pct {np.percentile(total_ms, 90):6.1f} ms")
    print(
        f"full redraws: {full_draw.mean():.0%} of updates; compute + redraw median with a full redraw "
        f"{np.median(total_ms[full_draw]):.1f} ms, with blitting {np.median(total_ms[~full_draw]):.1f} ms"
    )
    slowest = int(np.argmax(compute_ms[: len(settings)]))
    print(f"slowest setting (first pass): {settings[slowest]} -> {compute_ms[slowest]:.1f} ms compute")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
