"""Agent-engine throughput and memory: spine-steps per second for 1e4, 1e5, 1e6 spines over a 70-day run.

Usage::

    python benchmarks/bench_agents.py                       # 1e4 1e5 1e6 spines
    python benchmarks/bench_agents.py --sizes 1e4 1e5
    python benchmarks/bench_agents.py --record              # also keep per-spine records
    python benchmarks/bench_agents.py --cv 0.3              # heterogeneous microglial cells
    python benchmarks/bench_agents.py --dask-workers 2 --spines 1e8   # chunks over a 2-worker LocalCluster

Each size runs in a fresh subprocess (clean peak RSS). The model is the full calibrated one
(``experiment=shi2022_high_dose``: PK, binding, microglia, spines; 70 days, hourly output). A spine-step is one
spine advanced by one ``dt_h`` step; spines are counted at baseline (segments x segment length x baseline
density). "total" includes the upstream ODE, the readouts and building the Dataset; "spines" subtracts the time
of the upstream ODE run alone. Memory: peak RSS increase over the warmed-up process and the tracemalloc peak of a
second run, per spine.

With ``--dask-workers N`` one run of ``--spines`` spines (``record_spines=false``, ``record_cells=false``, chunks of
``--chunk-segments`` segments) goes through a ``LocalCluster`` of N single-threaded worker processes; it prints the
wall time of ``AgentEngine.simulate`` (upstream ODE included, cluster start-up and worker warm-up excluded),
spine-steps per second (also per worker CPU-second, which a shared machine does not dilute) and the peak RSS of the
client and of each worker.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np


def child(size: float, record: bool, cv: float) -> dict:
    import sim
    from sim.engines.agents import AgentEngine
    from sim.engines.ode import OdeEngine

    cfg = sim.load_config(["experiment=shi2022_high_dose", "duration_days=70", "output_step_h=1"])
    model, times = cfg.model(), cfg.times_h()
    length = 20.0
    segments = max(1, int(round(size / (model.spines.baseline_density_per_um * length))))
    spines = segments * length * model.spines.baseline_density_per_um
    engine = AgentEngine(
        replicates=1,
        segments=segments,
        segment_length_um=length,
        record_spines=record,
        progress=False,
        microglia_heterogeneity_cv=cv,
    )
    warm = AgentEngine(replicates=1, segments=2, record_spines=record, progress=False)
    warm.simulate(model, times[:49], np.random.default_rng(0))  # JIT / cache load, imports
    edges = engine.step_edges(times)
    grid = np.union1d(times, 0.5 * (edges[1:] + edges[:-1]))
    start = time.perf_counter()
    OdeEngine().integrate(model, grid)
    upstream = time.perf_counter() - start
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    engine.simulate(model, times, np.random.default_rng(1))
    total = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    engine.simulate(model, times, np.random.default_rng(1))
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    steps = edges.size - 1
    return {
        "spines": spines,
        "segments": segments,
        "steps": steps,
        "total_s": total,
        "upstream_s": upstream,
        "rate_total": spines * steps / total,
        "rate_spines": spines * steps / max(total - upstream, 1e-9),
        "rss_bytes_per_spine": (rss_after - rss_before) / spines,
        "traced_bytes_per_spine": traced / spines,
        "cells": engine.cells(model),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def dask_run(workers: int, size: float, chunk_segments: int, replicates: int) -> None:
    import logging

    from dask.distributed import Client, LocalCluster

    import sim
    from sim.engines.agents import AgentEngine

    cfg = sim.load_config(["experiment=shi2022_high_dose", "duration_days=70", "output_step_h=1"])
    model, times = cfg.model(), cfg.times_h()
    length = 20.0
    per_replicate = size / replicates
    segments = max(1, int(round(per_replicate / (model.spines.baseline_density_per_um * length))))
    spines = replicates * segments * length * model.spines.baseline_density_per_um
    settings = {"segment_length_um": length, "record_spines": False, "record_cells": False, "progress": False}
    engine = AgentEngine(replicates=replicates, segments=segments, chunk_segments=chunk_segments, **settings)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    with cluster, Client(cluster) as client:
        warm = AgentEngine(replicates=2 * workers, segments=2, **settings)
        warm.simulate(model, times[:49], np.random.default_rng(0), client=client)  # imports and kernel per worker
        cpu_before = client.run(_cpu_seconds)
        start = time.perf_counter()
        ds = engine.simulate(model, times, np.random.default_rng(1), client=client)
        wall = time.perf_counter() - start
        cpu = sum(client.run(_cpu_seconds).values()) - sum(cpu_before.values())
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    steps = engine.step_edges(times).size - 1
    gib = 1024.0**3
    print(
        f"{spines:.3g} spines ({replicates} replicate(s) x {segments} segments of {length} um), {steps} steps of "
        f"dt = 1 h, {ds.attrs['agent_chunks']} chunks of {chunk_segments} segments, {workers} Dask worker(s)"
    )
    print(f"wall time            {wall:10.1f} s")
    print(f"spine-steps/s        {spines * steps / wall:10.3g}")
    print(f"worker CPU time      {cpu:10.1f} s   ({spines * steps / cpu:.3g} spine-steps per worker CPU-second)")
    print(f"peak RSS client      {client_peak / gib:10.2f} GiB")
    for address, peak in sorted(peaks.items()):
        print(f"peak RSS worker      {peak / gib:10.2f} GiB  ({address})")
    print(f"peak RSS total       {(client_peak + sum(peaks.values())) / gib:10.2f} GiB")
    print(f"mean spine density at day 70: {float(ds.spine_density.isel(time=-1).mean()):.4f} /um")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6])
    parser.add_argument("--record", action="store_true", help="record per-spine events (birth, tag, loss)")
    parser.add_argument("--cv", type=float, default=0.0, help="engine.microglia_heterogeneity_cv")
    parser.add_argument("--dask-workers", type=int, help="run --spines spines through a LocalCluster of N workers")
    parser.add_argument("--spines", type=float, default=1e8, help="spines of the --dask-workers run")
    parser.add_argument("--replicates", type=int, default=1, help="replicates of the --dask-workers run")
    parser.add_argument("--chunk-segments", type=int, default=100_000, help="engine.chunk_segments (--dask-workers)")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dask_workers:
        dask_run(args.dask_workers, args.spines, args.chunk_segments, args.replicates)
        return
    if args.child:
        print(json.dumps(child(args.child, args.record, args.cv)))
        return
    print(f"record_spines={args.record} microglia_heterogeneity_cv={args.cv}; 70-day high-dose run, dt = 1 h, one core")
    header = (
        f"{'spines':>9} {'cells':>6} {'steps':>6} {'total [s]':>10} {'ODE [s]':>8} {'spine-steps/s':>14} "
        f"{'(spines only)':>14} {'RSS B/spine':>12} {'traced B/spine':>15}"
    )
    print(header)
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size), "--cv", str(args.cv)]
        if args.record:
            command.append("--record")
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{r['spines']:9.3g} {r['cells']:6d} {r['steps']:6d} {r['total_s']:10.3f} {r['upstream_s']:8.3f} "
            f"{r['rate_total']:14.3g} {r['rate_spines']:14.3g} {r['rss_bytes_per_spine']:12.1f} "
            f"{r['traced_bytes_per_spine']:15.1f}"
        )


if __name__ == "__main__":
    main()
