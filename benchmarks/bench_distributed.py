"""sim.distributed.run_sweep at scale: a zip sweep of N random sets over a local Dask cluster into a Zarr store.

    .venv/bin/python benchmarks/bench_distributed.py [--sets 1000000] [--workers 2] [--chunk-sets 2000] [--store DIR]

Sets: the four free parameters of the posterior variant ``hill`` (``microglia.activation_rate_per_h``,
``microglia.stimulus_hill``, ``spines.elimination_per_day``, ``spines.homeostatic_gain``), each log-uniform over its
posterior 5-95 % range (sim/configs/posterior/hill.md; seed 0), on the default model (diazepam 5 mg/kg/day), 70 d.
Stored: daily (``output_step_h=24``) ``spine_density_relative`` as float32 and the per-set summaries.

Printed: wall time (store creation to last chunk written, after the cluster is up; cluster start-up separately),
sets per second, peak resident memory of this process and of each worker (``ru_maxrss``, a restarted worker counts
from its restart), and the size of the store on disk. The store is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import sim
from sim.distributed import get_client, open_sweep, run_sweep

#: posterior 5-95 % ranges of the `hill` variant (sim/configs/posterior/hill.md)
RANGES = {
    "microglia.activation_rate_per_h": (0.284, 1.49),
    "microglia.stimulus_hill": (2.86, 6.76),
    "spines.elimination_per_day": (0.0161, 0.0366),
    "spines.homeostatic_gain": (0.306, 2.2),
}


def parameter_sets(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {key: np.exp(rng.uniform(math.log(lo), math.log(hi), n)) for key, (lo, hi) in RANGES.items()}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def size_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2.0**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=float, default=1e6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-sets", type=int, default=2000)
    parser.add_argument("--days", type=float, default=70.0)
    parser.add_argument("--store", type=Path, default=None, help="store directory (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the store")
    args = parser.parse_args()
    n = int(args.sets)
    values = parameter_sets(n)
    folder = Path(tempfile.mkdtemp(prefix="bench_distributed_")) if args.store is None else None
    store = args.store or folder / "sweep.zarr"

    start = time.perf_counter()
    client = get_client("local", n_workers=args.workers)
    started = time.perf_counter() - start
    try:
        start = time.perf_counter()
        run_sweep(sim.PruningModel(), values, mode="zip", store=store, chunk_sets=args.chunk_sets, client=client,
                  variables=["spine_density_relative"], dtype="float32", duration_days=args.days,
                  output_step_h=24.0)  # fmt: skip
        wall = time.perf_counter() - start
        workers = client.run(peak_rss_mib)
    finally:
        client.close()
    ds = open_sweep(store)
    loss = ds["max_spine_loss"].values
    print(f"{n} sets x {args.days:g} d (daily output), {args.workers} workers, chunks of {args.chunk_sets} sets")
    print(f"cluster start-up       {started:8.1f} s")
    print(f"run_sweep wall time    {wall:8.1f} s   ({n / wall:,.0f} sets/s)")
    print(f"peak RSS client        {peak_rss_mib():8.0f} MiB")
    for address, mib in sorted(workers.items()):
        print(f"peak RSS worker        {mib:8.0f} MiB   ({address})")
    print(f"store size             {size_mib(store):8.1f} MiB   ({store})")
    print(f"max spine loss [%]     median {np.nanmedian(loss):.2f}, 5-95 % {np.nanpercentile(loss, 5):.2f}-"
          f"{np.nanpercentile(loss, 95):.2f}, failed sets {int(np.isnan(loss).sum())}")  # fmt: skip
    if folder is not None and not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
