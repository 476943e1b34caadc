"""sim.sweep vs one sim.simulate per set vs libRoadRunner on synaprune's own SBML export (70 d, hourly output).

    .venv/bin/python benchmarks/bench_sweep.py [--sets 1000] [--simulate-sets 1000] [--arm shi2022_high_dose]

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
import math
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", default="shi2022_high_dose")
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--simulate-sets", type=int, default=1000, help="sets run one by one with sim.simulate")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many for the one-simulation timings")
    args = parser.parse_args()
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
