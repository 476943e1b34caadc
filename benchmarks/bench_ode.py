"""Wall time of one 70-day ODE simulation (issue #2 target: well under 100 ms).

Usage::

    /work/venv/bin/python benchmarks/bench_ode.py                 # experiment=shi2022_high_dose, 20 repeats
    /work/venv/bin/python benchmarks/bench_ode.py --repeats 50 --profile
    /work/venv/bin/python benchmarks/bench_ode.py experiment=shi2022_low_dose engine.method=BDF

Reports the median (and min/max) over the repeats of

* ``compose``: ``sim.load_config(overrides)`` (Hydra composition and conversion; not part of the simulation),
* ``simulate``: ``sim.simulate(run)``, the whole run from a composed config to a Dataset with provenance,
* ``simulate_model``: the same without provenance (no git calls),
* ``integrate``: ``engine.integrate`` alone (schedule, compiled right-hand side, piecewise solver calls),
* ``readouts``: ``model.readouts`` alone (states -> every output variable),
* ``to_dataset``: building the xarray Dataset from the output arrays.

The first call of each is a warm-up and is not counted. ``--profile`` adds a cProfile listing of ``simulate``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time

import numpy as np

import sim
from sim.core.results import to_dataset

TARGET_MS = 100.0


def timed(function, repeats: int) -> list[float]:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (default: experiment=shi2022_high_dose)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of sim.simulate")
    args = parser.parse_args()
    overrides = args.overrides or ["experiment=shi2022_high_dose"]

    run = sim.load_config(overrides)
    model, times_h, engine = run.model(), run.times_h(), run.engine
    states = engine.integrate(model, times_h)
    outputs = model.readouts(times_h, states)
    coords = {"compound": list(model.pk.names)}

    results = {
        "compose": timed(lambda: sim.load_config(overrides), max(3, args.repeats // 4)),
        "simulate": timed(lambda: sim.simulate(run), args.repeats),
        "simulate_model": timed(lambda: sim.simulate_model(model, times_h, engine, run.seed), args.repeats),
        "integrate": timed(lambda: engine.integrate(model, times_h), args.repeats),
        "readouts": timed(lambda: model.readouts(times_h, states), args.repeats),
        "to_dataset": timed(lambda: to_dataset(times_h / 24.0, dict(outputs), coords=coords), args.repeats),
    }
    sched = model.schedule(float(times_h[-1]))
    print(
        f"synaprune {sim.__version__}: {' '.join(overrides)}; {run.duration_days:g} days, {times_h.size} output "
        f"times, {sched.breakpoints_h.size - 1} solver segments, engine {getattr(engine, 'method', engine)}"
    )
    print(f"{'step':<16}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'n':>5}")
    for name, values in results.items():
        print(f"{name:<16}{statistics.median(values):>11.2f}{min(values):>9.2f}{max(values):>9.2f}{len(values):>5}")
    median = statistics.median(results["simulate"])
    verdict = "OK" if median < TARGET_MS else "SLOW"
    print(f"one {run.duration_days:g}-day simulation: {median:.1f} ms median ({verdict}, target < {TARGET_MS:g} ms)")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(10):
            sim.simulate(run)
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(25)
        print(stream.getvalue())
    np.testing.assert_(np.isfinite(states).all())


if __name__ == "__main__":
    main()
