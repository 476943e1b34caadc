"""Wall time of one 70-day ODE simulation, end to end and in parts, and of the command as a new process.

Usage::

    .venv/bin/python benchmarks/bench_ode.py                    # sim.PruningModel(): the headline arm, 20 repeats
    .venv/bin/python benchmarks/bench_ode.py --repeats 50 --profile
    .venv/bin/python benchmarks/bench_ode.py --experiment shi2022_low_dose --no-cli

Prints, in one run:

* ``import floor``: a new Python process that runs ``import sim`` and nothing else (median of 5);
* ``cli``: ``synaprune experiment=shi2022_high_dose figure=false`` as a new process (median of 5), and its excess
  over the import floor (target: <= 0.3 s);
* ``simulate``: ``sim.simulate(model)``, the whole run from a model to a Dataset with provenance;
* ``integrate``: ``OdeEngine.integrate`` alone (schedule, compiled right-hand side, piecewise solver calls);
* ``readouts`` and ``to_dataset``: states -> outputs, outputs -> Dataset;
* the ratio ``simulate / integrate`` (target: <= 1.1).

The first call of each timed step is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sim
from sim.core.results import to_dataset

RATIO_TARGET = 1.1
CLI_EXCESS_TARGET_S = 0.3


def timed(function, repeats: int) -> list[float]:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def process_seconds(command: list[str], repeats: int, cwd: str) -> float:
    """Median wall time of ``command`` as a new process [s] (one warm-up run not counted)."""
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=None, help="a packaged experiment instead of sim.PruningModel()")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-cli", action="store_true", help="skip the new-process timings")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of sim.simulate")
    args = parser.parse_args()

    if args.experiment:
        run = sim.presets.experiment(args.experiment)
        model, times_h, engine, label = run.model(), run.times_h(), run.engine, f"experiment={args.experiment}"
    else:
        model, label = sim.PruningModel(), "sim.PruningModel()"
        times_h, engine = sim.run.output_times_h(70.0, 1.0), sim.OdeEngine()
        run = model
    states = engine.integrate(model, times_h)
    outputs = model.readouts(times_h, states)
    coords = {"compound": list(model.pk.names)}

    results = {
        "simulate": timed(lambda: sim.simulate(run), args.repeats),
        "integrate": timed(lambda: engine.integrate(model, times_h), args.repeats),
        "readouts": timed(lambda: model.readouts(times_h, states), args.repeats),
        "to_dataset": timed(lambda: to_dataset(times_h / 24.0, dict(outputs), coords=coords), args.repeats),
    }
    sched = model.schedule(float(times_h[-1]))
    print(
        f"synaprune {sim.__version__}: {label}; {times_h[-1] / 24:g} days, {times_h.size} output times, "
        f"{sched.breakpoints_h.size - 1} solver segments"
    )
    print(f"{'step':<16}{'median ms':>11}{'min ms':>9}{'max ms':>9}{'n':>5}")
    for name, values in results.items():
        print(f"{name:<16}{statistics.median(values):>11.2f}{min(values):>9.2f}{max(values):>9.2f}{len(values):>5}")
    ratio = statistics.median(results["simulate"]) / statistics.median(results["integrate"])
    verdict = "OK" if ratio <= RATIO_TARGET else "over target"
    print(f"simulate / integrate = {ratio:.2f} ({verdict}, target <= {RATIO_TARGET})")

    if not args.no_cli:
        bin_dir = Path(sys.executable).parent
        with tempfile.TemporaryDirectory() as tmp:
            floor = process_seconds([sys.executable, "-c", "import sim"], 5, tmp)
            cli = process_seconds(
                [
                    str(bin_dir / "synaprune"),
                    "experiment=shi2022_high_dose",
                    "figure=false",
                    f"hydra.run.dir={tmp}/run",
                ],
                5,
                tmp,
            )
        excess = cli - floor
        verdict = "OK" if excess <= CLI_EXCESS_TARGET_S else "over target"
        print(f"import floor (python -c 'import sim'): {floor:.2f} s")
        print(f"synaprune experiment=shi2022_high_dose figure=false: {cli:.2f} s, {excess:.2f} s above the floor "
              f"({verdict}, target <= {CLI_EXCESS_TARGET_S} s)")  # fmt: skip

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(10):
            sim.simulate(run)
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(25)
        print(stream.getvalue())


if __name__ == "__main__":
    main()
