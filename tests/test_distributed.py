"""sim.distributed: chunked sweeps in a resumable Zarr store, checked against sim.sweep and sim.analysis."""

from __future__ import annotations

import functools
import hashlib
import math
import os
import signal
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sim
import sim.distributed as distributed
from sim import analysis
from sim.core.params import ConfigError
from sim.distributed import open_sweep, run_sweep

RATE = "microglia.activation_rate_per_h"
GAIN = "microglia.engulfment_gain"
RUN = {"duration_days": 21.0, "output_step_h": 12.0}

#: drug x dose x rate: every (drug, dose) group has three distinct downstream sets, so sim.sweep batches them all;
#: chunks of 5 sets cut through the groups.
GRID = {"drug": ["diazepam", "xbd173"], "regimen.dose_mg_per_kg": [1.0, 5.0], RATE: [0.05, 0.3, 2.0]}


def _tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + file.read_bytes())
    return digest.hexdigest()


def _assert_same(ds: xr.Dataset, ref: xr.Dataset) -> None:
    """Same outputs (bit for bit), dimensions and coordinates as the sim.sweep result ``ref``."""
    assert set(ref.data_vars) <= set(ds.data_vars)
    assert dict(ds.sizes) == dict(ref.sizes)
    for name in ref.data_vars:
        assert ds[name].dims == ref[name].dims, name
        np.testing.assert_array_equal(ds[name].values, ref[name].values, err_msg=name)
        assert ds[name].attrs["units"] == ref[name].attrs["units"]
    for name in ref.coords:
        np.testing.assert_array_equal(ds[name].values, ref[name].values, err_msg=name)
        assert ds[name].attrs.get("config_key") == ref[name].attrs.get("config_key")


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The GRID sweep stored in chunks of 5 sets, and sim.sweep's result of it."""
    store = run_sweep(sim.PruningModel(), GRID, store=tmp_path_factory.mktemp("grid") / "s.zarr", chunk_sets=5,
                      progress=False, **RUN)  # fmt: skip
    return store, sim.sweep(sim.PruningModel(), GRID, progress=False, **RUN)


def test_product_store_equals_sim_sweep_bit_for_bit_and_summaries_match_sim_analysis(grid):
    store, ref = grid
    ds = open_sweep(store).load()
    _assert_same(ds, ref)
    assert ds.attrs["sweep_mode"] == "product" and ds.attrs["git_commit"] == ref.attrs["git_commit"]
    assert ds.attrs["config"] == ref.attrs["config"] and ds.attrs["seed"] == ref.attrs["seed"] == 0
    seen = set()
    for drug in GRID["drug"]:
        for dose in GRID["regimen.dose_mg_per_kg"]:
            for rate in GRID[RATE]:
                one = ref.sel(drug=drug, dose=dose, microglia__activation_rate_per_h=rate)
                got = ds.sel(drug=drug, dose=dose, microglia__activation_rate_per_h=rate)
                assert float(got["max_spine_loss"]) == analysis.max_deficit(one)
                assert float(got["day_of_max_spine_loss"]) == analysis.summary.day_of_max_spine_loss(one)
                recovery = analysis.recovery_day(one)
                np.testing.assert_equal(float(got["recovery_day"]), recovery)
                seen.add("nan" if math.isnan(recovery) else "inf" if math.isinf(recovery) else "day")
    assert seen == {"nan", "inf", "day"}  # the grid exercises every branch of the recovery definition


def test_zip_store_in_float32_equals_sim_sweep_and_records_the_chunks(tmp_path):
    rng = np.random.default_rng(5)
    values = {"drug": ["diazepam", "xbd173", "diazepam", "diazepam", "xbd173", "diazepam", "diazepam"],
              RATE: rng.uniform(0.05, 1.0, 7), GAIN: rng.uniform(1.0, 10.0, 7)}  # fmt: skip
    wanted = ["spine_density_relative", "brain_concentration"]
    store = run_sweep(sim.PruningModel(), values, mode="zip", store=tmp_path / "z.zarr", chunk_sets=3,
                      variables=wanted, dtype="float32", summaries=False, progress=False, **RUN)  # fmt: skip
    ref = sim.sweep(sim.PruningModel(), values, mode="zip", variables=wanted, progress=False, **RUN)
    ds = open_sweep(store).load()
    assert set(ds.data_vars) == set(wanted) and ds["spine_density_relative"].dtype == np.float32
    _assert_same(ds, ref.astype(np.float32))
    assert ds["sample"].attrs == ref["sample"].attrs
    raw = xr.open_zarr(store, consolidated=False)
    assert raw["done"].values.tolist() == [True, True, True]  # 7 sets in chunks of 3
    assert raw["spine_density_relative"].encoding["chunks"] == (3, ref.sizes["time"])
    np.testing.assert_array_equal(raw[distributed.dimension_name(GAIN)].values, values[GAIN])


def test_summaries_of_hand_made_series_follow_the_sim_analysis_definitions():
    t = np.arange(6.0)
    rel = np.array([
        [100.0, 97.0, 95.0, 99.0, 99.5, 100.0],  # peak 5 % on day 2, last dose day 2, below 2 % from day 3
        [100.0, 99.0, 99.5, 99.0, 99.9, 100.0],  # never 2 %: recovery NaN
        [100.0, 99.0, 96.0, 97.0, 97.5, 97.9],  # still at 2.1 % at the end: inf
        [100.0, 97.0, np.nan, 99.0, 99.0, 99.0],  # failed set: NaN everywhere
    ])  # fmt: skip
    dose = np.array([[1.0, 1.0, 2.0, 2.0, 2.0, 2.0]] * 4)
    got = distributed.summaries(t, rel, dose)
    np.testing.assert_array_equal(got["max_spine_loss"], [5.0, 1.0, 4.0, np.nan])
    np.testing.assert_array_equal(got["day_of_max_spine_loss"], [2.0, 1.0, 2.0, np.nan])
    np.testing.assert_array_equal(got["recovery_day"], [3.0, np.nan, np.inf, np.nan])
    for i in range(3):
        one = xr.Dataset({"spine_density_relative": ("time", rel[i]), "cumulative_dose": ("time", dose[i])},
                         coords={"time": t})  # fmt: skip
        np.testing.assert_equal(got["recovery_day"][i], analysis.recovery_day(one))
        assert got["max_spine_loss"][i] == analysis.max_deficit(one)


def test_a_failed_chunk_leaves_the_others_done_and_a_rerun_computes_only_it(tmp_path, monkeypatch):
    values = {RATE: [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4], GAIN: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]}
    original = distributed._simulate_chunk
    calls = []

    def flaky(chunk):
        calls.append(chunk.index)
        if chunk.index == 1 and calls.count(1) == 1:
            raise OSError("node lost")
        return original(chunk)

    monkeypatch.setattr(distributed, "_simulate_chunk", flaky)
    store = tmp_path / "r.zarr"
    kwargs = dict(mode="zip", store=store, chunk_sets=3, variables=["spine_density_relative"], progress=False, **RUN)
    with pytest.raises(RuntimeError, match="chunk 1 failed .*run again"):
        run_sweep(sim.PruningModel(), values, **kwargs)
    assert calls == [0, 1, 2]
    assert xr.open_zarr(store, consolidated=False)["done"].values.tolist() == [True, False, True]
    with pytest.raises(ConfigError, match="incomplete: 2 of 3 chunks done"):
        open_sweep(store)
    partial = open_sweep(store, complete=False)["spine_density_relative"].values
    assert np.all(np.isnan(partial[3:6])) and np.all(np.isfinite(partial[[0, 1, 2, 6]]))
    assert run_sweep(sim.PruningModel(), values, **kwargs) == store
    assert calls == [0, 1, 2, 1]  # the rerun computed only the failed chunk
    ref = sim.sweep(sim.PruningModel(), values, mode="zip", variables=["spine_density_relative"], progress=False, **RUN)
    _assert_same(open_sweep(store).load(), ref)
    run_sweep(sim.PruningModel(), values, **kwargs)  # complete: nothing to do
    assert calls == [0, 1, 2, 1]


def test_a_store_of_another_sweep_or_another_directory_is_refused_untouched(grid, tmp_path):
    store, _ = grid
    before = _tree_digest(store)
    other = {**GRID, RATE: [0.05, 0.3, 2.5]}
    with pytest.raises(ConfigError, match=r"holds a different sweep: key 'microglia.activation_rate_per_h' differs"):
        run_sweep(sim.PruningModel(), other, store=store, chunk_sets=5, progress=False, **RUN)
    with pytest.raises(ConfigError, match="holds a different sweep: chunk_sets differs \\(stored 5, requested 4\\)"):
        run_sweep(sim.PruningModel(), GRID, store=store, chunk_sets=4, progress=False, **RUN)
    with pytest.raises(ConfigError, match="base configuration differs"):
        run_sweep(sim.PruningModel(), GRID, store=store, chunk_sets=5, progress=False, duration_days=20.0)
    assert _tree_digest(store) == before
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    for path in (folder, folder / "notes.txt"):
        with pytest.raises(ConfigError, match="exists and is not a synaprune sweep store"):
            run_sweep(sim.PruningModel(), GRID, store=path, progress=False, **RUN)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"] and (folder / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("values", "options", "message"),
    [
        ({"microglia.no_such_rate": [1.0]}, {}, "microglia has no field 'no_such_rate'"),
        ({RATE: [0.2, -0.1, 0.4]}, {}, r"activation_rate_per_h = -0.1 is not allowed"),
        ({RATE: [0.2]}, {"chunk_sets": 0}, "chunk_sets = 0 is not allowed"),
        ({RATE: [0.2]}, {"dtype": "float16"}, "dtype = 'float16' is not allowed"),
        ({RATE: [0.2], GAIN: [1.0, 2.0]}, {"mode": "zip"}, "value lists of different lengths"),
        ({RATE: [0.2]}, {"client": "nowhere"}, "client = 'nowhere' is not allowed"),
        ({RATE: [0.2]}, {"variables": ["spine_position"]}, "are not outputs of a batch"),
    ],
)
def test_bad_input_is_refused_before_the_store_is_created(tmp_path, values, options, message):
    store = tmp_path / "bad.zarr"
    with pytest.raises(ConfigError, match=message):
        run_sweep(sim.PruningModel(), values, store=store, progress=False, **{**RUN, **options})
    assert not store.exists() and list(tmp_path.iterdir()) == []


def test_an_unreachable_scheduler_is_one_config_error_within_the_timeout(tmp_path):
    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ConfigError, match=rf"client = 'tcp://127.0.0.1:{port}' is not reachable.* within 2 s"):
        run_sweep(sim.PruningModel(), {RATE: [0.2]}, store=tmp_path / "s.zarr", client=f"tcp://127.0.0.1:{port}",
                  timeout_s=2.0, progress=False, **RUN)  # fmt: skip
    assert time.monotonic() - start < 10.0
    assert list(tmp_path.iterdir()) == []


def _killing(chunk, marker: str, original):
    """Kill this worker process the first time chunk 1 arrives (the marker file remembers), else run the chunk."""
    if chunk.index == 1 and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return original(chunk)


def test_a_worker_killed_mid_run_has_its_chunk_retried_and_the_store_equals_the_serial_run(tmp_path, monkeypatch):
    import cloudpickle
    from distributed import LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    values = {RATE: [0.1, 0.2, 0.4, 0.8, 1.6, 3.2], GAIN: [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]}
    kwargs = dict(mode="zip", chunk_sets=2, variables=["spine_density_relative"], progress=False, **RUN)
    serial = run_sweep(sim.PruningModel(), values, store=tmp_path / "serial.zarr", **kwargs)
    marker = tmp_path / "killed"
    killing = functools.partial(_killing, marker=str(marker), original=distributed._simulate_chunk)
    monkeypatch.setattr(distributed, "_simulate_chunk", killing)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
            address = cluster.scheduler_address  # "tcp://127.0.0.1:port": a cluster given by its address
            store = run_sweep(sim.PruningModel(), values, store=tmp_path / "cluster.zarr", client=address, **kwargs)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()  # a worker was killed with chunk 1 in flight
    a, b = open_sweep(store).load(), open_sweep(serial).load()
    for name in ("spine_density_relative", "max_spine_loss", "recovery_day"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert a.attrs["sweep_fingerprint"] == b.attrs["sweep_fingerprint"]
