"""Batch engine vs the ODE engine: time per parameter set and the largest relative error in spine density.

    .venv/bin/python benchmarks/bench_batch.py [--arm shi2022_high_dose] [--sizes 1 100 1000] [--check 10]

Parameter sets: the free parameters of the default variant (sim.targets) drawn from their priors, narrowed to a
quarter of the prior log-sd around the composed default so every set prunes plausibly. Times exclude the one-off
numba compilation (a warm-up call) but include the shared PK/binding integration and every per-set readout.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from sim import presets, targets
from sim.engines import batch
from sim.engines.batch import BatchEngine, models_for, upstream
from sim.run import simulate_model


def parameter_sets(model, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    spec = targets.VARIANTS[targets.DEFAULT_VARIANT]
    out = {}
    for prior in spec.free:
        group, name = prior.key.split(".")
        center = math.log(getattr(getattr(model, group), name))
        out[prior.key] = np.exp(rng.normal(center, prior.log_sd / 4, n))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", default="shi2022_high_dose")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--check", type=int, default=10, help="sets compared with the ODE engine")
    args = parser.parse_args()
    cfg = presets.from_overrides([f"experiment={args.arm}"])
    model, times = cfg.model(), cfg.times_h()
    rng = np.random.default_rng(0)
    engine = BatchEngine()
    engine.spine_density_relative(model, times, parameter_sets(model, 2, rng))  # compile / load the kernel

    batch._UPSTREAM.clear()  # time the integration, not the per-process cache
    start = time.perf_counter()
    shared = upstream(model, times, engine.signal_step_h)
    t_up = time.perf_counter() - start
    print(f"arm {args.arm}: {times.size} output times, upstream (PK + binding, once per arm) {t_up:.3f} s")
    for n in args.sizes:
        values = parameter_sets(model, n, rng)
        t_kernel = t_total = math.inf
        for _ in range(3 if n < 1000 else 1):  # best of 3 (the machine may be shared)
            start = time.perf_counter()
            engine.integrate(model, times, values, shared)
            t_kernel = min(t_kernel, time.perf_counter() - start)
            start = time.perf_counter()
            engine.spine_density_relative(model, times, values, shared)
            t_total = min(t_total, time.perf_counter() - start)
        print(
            f"batch N = {n:5d}: {1e3 * t_total / n:8.2f} ms per set incl. readouts "
            f"({1e3 * t_kernel / n:.2f} ms states only; {t_total:.2f} s in all)"
        )

    values = parameter_sets(model, args.check, rng)
    relative, _ = engine.spine_density_relative(model, times, values, shared)
    start = time.perf_counter()
    worst = 0.0
    for i, m in enumerate(models_for(model, values)):
        reference = simulate_model(m, times)["spine_density_relative"].values
        worst = max(worst, float(np.max(np.abs(relative[i] - reference) / reference)))
    t_ode = (time.perf_counter() - start) / args.check
    print(f"simulate_model (ODE engine): {1e3 * t_ode:8.2f} ms per set")
    print(f"max relative error of spine density vs the ODE engine over {args.check} sets: {worst:.2e}")


if __name__ == "__main__":
    main()
