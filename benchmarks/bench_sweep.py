"""sim.sweep vs one sim.simulate per set vs libRoadRunner on synaprune's own SBML export (70 d, hourly output).

    .venv/bin/python benchmarks/bench_sweep.py [--sets 1000] [--simulate-sets 1000] [--arm shi2022_high_dose]
    .venv/bin/python benchmarks/bench_sweep.py --cli-only [--cli-rates 20 --cli-doses 10]   # the batch launcher

``--cli-rates R --cli-doses D`` (default 20 x 10 = 200 sets; 0 skips it): ``synaprune -m hydra/launcher=batch`` over
``microglia.activation_rate_per_h`` (R values) x ``regimen.dose_mg_per_kg`` (D values), figure off, against
``sim.sweep`` of the same product grid in this process (the same RunConfig). The command's fixed start-up (interpreter,
imports, Hydra's composition of the command and its sweeper, up to the launcher) is timed by the same command with
``hydra.launcher.store=zarr``, which the launcher refuses before composing the base; per-set costs are printed with
and without it. The command also writes ``sweep.nc``; ``sim.sweep`` + ``sim.io.save_dataset`` is printed too.

Parameter sets: ``microglia.activation_rate_per_h`` and ``microglia.engulfment_gain`` log-uniform within ×/÷ 2 of the
calibrated values (seed 0), run as one zip sweep. libRoadRunner (if installed) loads ``sim.to_sbml(config)`` once
(parse + JIT, reported separately), then per set: ``resetAll``, the set's downstream record values written into the
SBML parameters they are named after (``<group>_<record field>``, from ``model.records()``, so a set means what it
means to the simulator), the set's initial downstream state, and ``simulate`` on the same hourly grid with
per-state absolute tolerances (relative 1e-10, absolute 1e-14 per state, as tests/test_sbml.py). Times are wall
clock, best of 3 (sweeps and single runs; the machine may be shared), after a warm-up (numba kernels compiled and
cached). Errors: largest relative difference in spine density. ``sim.sweep`` is timed twice: returning every output variable of every set (~26
hourly series per set; those of PK and binding are computed once and shared), and with
``variables=["spine_density"]``, the fair comparison with libRoadRunner, which returns only the two spine states.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import sim
from sim import presets
from sim.engines.batch import BatchEngine

KEYS = ("microglia.activation_rate_per_h", "microglia.engulfment_gain")
DOWNSTREAM = ("microglia", "spines")


def parameter_sets(model: sim.PruningModel, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for key in KEYS:
        group, name = key.split(".")
        out[key] = getattr(getattr(model, group), name) * np.exp(rng.uniform(-math.log(2.0), math.log(2.0), n))
    return out


def model_of(model: sim.PruningModel, values: dict[str, np.ndarray], i: int) -> sim.PruningModel:
    fields: dict[str, dict[str, float]] = {}
    for key, column in values.items():
        group, name = key.split(".")
        fields.setdefault(group, {})[name] = float(column[i])
    return dataclasses.replace(model, **{g: dataclasses.replace(getattr(model, g), **f) for g, f in fields.items()})


def best_of(function, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


class RoadRunnerSets:
    """One libRoadRunner instance of the exported SBML, re-run per parameter set."""

    def __init__(self, config):
        import roadrunner

        model = config.model()
        start = time.perf_counter()
        self.rr = roadrunner.RoadRunner(sim.to_sbml(config))
        self.load_s = time.perf_counter() - start
        self.states = [f"{group}_{name}" for group in ("pk", "binding", *DOWNSTREAM)
                       for name in getattr(model, group).state_names]  # fmt: skip
        self.parameters = set(self.rr.model.getGlobalParameterIds())
        self.rr.integrator.relative_tolerance = 1e-10
        self.rr.integrator.absolute_tolerance = [1e-14] * len(self.states)
        self.rr.integrator.maximum_num_steps = 100000
        self.times = None

    def run(self, model: sim.PruningModel, times_h: np.ndarray) -> np.ndarray:
        """Spine density [1/um] at ``times_h`` for ``model`` (same structure as the exported one)."""
        rr = self.rr
        rr.resetAll()
        for stage, record in zip(model.chain, model.records()):
            if stage.group in DOWNSTREAM:
                for name, value in record._asdict().items():
                    sid = f"{stage.group}_{name}"
                    if sid in self.parameters and np.ndim(value) == 0:
                        rr[sid] = float(value)
        n_up = len(model.pk.state_names) + len(model.binding.state_names)
        for sid, value in list(zip(self.states, model.initial_state()))[n_up:]:  # upstream: the SBML's own (the
            rr[sid] = float(value)  # dose at t = 0 is already in pk_depot at the start)
        selections = ["spines_untagged_spine_density", "spines_tagged_spine_density"]
        result = np.asarray(rr.simulate(times=list(times_h), selections=selections))
        return result.sum(axis=1)


def _command(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "SYNAPRUNE_CONFIG_DIR")}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, env=env)
    return time.perf_counter() - start, proc


_COLD = """
import json, sys, time
t0 = time.perf_counter()
import sim
from sim import presets
config = presets.from_overrides([f"experiment={sys.argv[1]}", "figure=false"])
values = json.loads(sys.argv[2])
t1 = time.perf_counter()
ds = sim.sweep(config, values, progress=False)
t2 = time.perf_counter()
sim.io.save_dataset(ds, sys.argv[3])
t3 = time.perf_counter()
print(json.dumps({"start": t1 - t0, "sweep": t2 - t1, "save": t3 - t2}))
"""


def bench_batch_launcher(arm: str, n_rates: int, n_doses: int) -> None:
    """``synaprune -m hydra/launcher=batch`` vs ``sim.sweep`` of the same product grid (module docstring)."""
    config = presets.from_overrides([f"experiment={arm}", "figure=false"])
    rate = config.microglia.activation_rate_per_h
    values = {
        "microglia.activation_rate_per_h": [float(f"{v:.6g}") for v in rate * np.geomspace(0.5, 2.0, n_rates)],
        "regimen.dose_mg_per_kg": [float(f"{v:.4g}") for v in np.geomspace(0.5, 10.0, n_doses)],
    }
    n = n_rates * n_doses
    grid = [f"{key}={','.join(repr(v) for v in column)}" for key, column in values.items()]
    sim.sweep(config, {k: v[:2] for k, v in values.items()}, progress=False)  # warm-up: kernels
    t_warm = best_of(lambda: sim.sweep(config, values, progress=False), 2)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", _COLD, arm, json.dumps(values), f"{tmp}/cold.nc"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        cold = json.loads(proc.stdout.strip().splitlines()[-1])
        common = ["-m", "hydra/launcher=batch", f"experiment={arm}", "figure=false", *grid]
        refused = ["hydra.launcher.store=zarr", "hydra.launcher.chunk_sets=0", f"hydra.sweep.dir={tmp}/refused"]
        t_start, proc = _command([*common, *refused])  # refused by the launcher before any simulation
        assert proc.returncode == 2 and "chunk_sets = 0 is not allowed" in proc.stderr, proc.stderr
        t_cli, proc = _command([*common, f"hydra.sweep.dir={tmp}/batch"])
        assert proc.returncode == 0, proc.stderr
        check = sim.collect(f"{tmp}/batch")
    assert check.sizes["dose"] == n_doses and check.sizes["microglia__activation_rate_per_h"] == n_rates
    net = t_cli - t_start
    fresh = cold["sweep"] + cold["save"]
    print(f"synaprune -m hydra/launcher=batch, {n} sets ({n_rates} rates x {n_doses} doses, {arm}, 70 d hourly):")
    print(f"  command end to end:                    {t_cli:7.2f} s ({1e3 * t_cli / n:6.2f} ms per set)")
    print(f"  its fixed start-up (chunk_sets=0, refused): {t_start:4.2f} s")
    print(f"  command without start-up:              {net:7.2f} s ({1e3 * net / n:6.2f} ms per set; writes sweep.nc)")
    print(f"  fresh process: sim.sweep {cold['sweep']:.2f} s + save_dataset {cold['save']:.2f} s "
          f"(imports and config {cold['start']:.2f} s)")  # fmt: skip
    print(f"  warm process: sim.sweep {t_warm:.2f} s ({1e3 * t_warm / n:.2f} ms per set)")
    print(f"  ratio, without start-up: command / (fresh sim.sweep + save) = {net / fresh:.2f}x (target <= 1.2x); "
          f"/ fresh sim.sweep = {net / cold['sweep']:.2f}x; / warm sim.sweep = {net / t_warm:.2f}x")  # fmt: skip
    print(f"  ratio, with start-up: command / (fresh process total) = {t_cli / (fresh + cold['start']):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", default="shi2022_high_dose")
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--simulate-sets", type=int, default=1000, help="sets run one by one with sim.simulate")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many for the one-simulation timings")
    parser.add_argument("--cli-rates", type=int, default=20, help="batch-launcher grid: activation rates (0: skip)")
    parser.add_argument("--cli-doses", type=int, default=10, help="batch-launcher grid: doses")
    parser.add_argument("--cli-only", action="store_true", help="only the batch-launcher comparison")
    args = parser.parse_args()
    if args.cli_rates > 0 and args.cli_doses > 0:
        bench_batch_launcher(args.arm, args.cli_rates, args.cli_doses)
    if args.cli_only:
        return
    config = presets.from_overrides([f"experiment={args.arm}", "duration_days=70", "output_step_h=1"])
    model, times_h = config.model(), config.times_h()
    values = parameter_sets(model, args.sets)
    sim.sweep(config, {k: v[:2] for k, v in values.items()}, mode="zip", progress=False)  # warm-up: kernels
    sim.simulate(config)

    t_one = best_of(lambda: sim.simulate(config), args.repeats)
    t_sweep = best_of(lambda: sim.sweep(config, values, mode="zip", progress=False))
    only = ["spine_density"]
    t_spine = best_of(lambda: sim.sweep(config, values, mode="zip", progress=False, variables=only))
    t_states = best_of(lambda: BatchEngine().integrate(model, times_h, values))  # the kernel, no readouts
    ds = sim.sweep(config, values, mode="zip", progress=False)
    density = ds["spine_density"].values  # sample x time [1/um]
    print(f"arm {args.arm}, 70 d, {times_h.size} hourly output times")
    print(f"sim.simulate, one set end to end:           {1e3 * t_one:9.1f} ms")
    per_set = 1e3 * t_sweep / args.sets
    print(f"sim.sweep, {args.sets} sets (zip, one batch):   {t_sweep:9.2f} s ({per_set:.2f} ms per set; "
          f"states only, BatchEngine.integrate: {t_states:.2f} s)")  # fmt: skip
    print(f"sim.sweep, {args.sets} sets, spine density only:   {t_spine:9.2f} s (variables={only})")

    n_sim = min(args.simulate_sets, args.sets)
    worst_sim = 0.0
    start = time.perf_counter()
    for i in range(n_sim):
        reference = sim.simulate(model_of(model, values, i))["spine_density"].values
        worst_sim = max(worst_sim, float(np.max(np.abs(density[i] - reference) / reference)))
    t_sims = time.perf_counter() - start
    print(f"{n_sim} x sim.simulate:                 {t_sims:9.2f} s ({1e3 * t_sims / n_sim:.1f} ms per set)")
    print(f"  sweep / ({args.sets} x simulate):          {t_sweep / (t_sims * args.sets / n_sim):9.4f}x")
    print(f"  max relative error sweep vs simulate over {n_sim} sets: {worst_sim:.2e}")

    try:
        import roadrunner  # noqa: F401
    except ImportError:
        print("libroadrunner is not installed: no comparison with libRoadRunner")
        return
    rr = RoadRunnerSets(config)
    rr.run(model, times_h)
    t_rr_one = best_of(lambda: rr.run(model, times_h), args.repeats)
    worst_rr = 0.0
    start = time.perf_counter()
    for i in range(args.sets):
        other = rr.run(model_of(model, values, i), times_h)
        worst_rr = max(worst_rr, float(np.max(np.abs(density[i] - other) / other)))
    t_rr = time.perf_counter() - start
    print(f"libRoadRunner: load (SBML parse + JIT) {rr.load_s:.2f} s; one set (reset + run) {1e3 * t_rr_one:.1f} ms")
    print(f"libRoadRunner, {args.sets} sets:                {t_rr:9.2f} s ({1e3 * t_rr / args.sets:.1f} ms per set)")
    print(f"  one simulation: sim.simulate / libRoadRunner run = {t_one / t_rr_one:.2f}x (target <= 1.0x); "
          f"/ (load + run) = {t_one / (rr.load_s + t_rr_one):.2f}x")  # fmt: skip
    print(f"  {args.sets} sets: sim.sweep / libRoadRunner total = {t_sweep / t_rr:.4f}x all outputs, "
          f"{t_spine / t_rr:.4f}x spine density only (target <= 0.05x); states only {t_states / t_rr:.4f}x")  # fmt: skip
    print(f"  max relative error of spine density, sweep vs libRoadRunner over {args.sets} sets: {worst_rr:.2e}")


if __name__ == "__main__":
    main()
