"""Agent engine in chunks: chunk streams, reduction, bounded work in flight, and Dask (2-worker LocalCluster).

A chunk is a block of ``chunk_segments`` segments of one replicate with its own random stream; the tests check that
a chunk's spines depend only on the seed, the replicate and the chunk index, that chunked results are consistent
(records reproduce counts, engulfments are credited to the right cell, the mean still follows the ODE) and that
running the chunks in this process, on threads, on one or two Dask workers, or with a worker killed mid-run gives
the same bits.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import signal

import numpy as np
import pytest

import sim
from sim.engines.agents import AgentEngine
from sim.engines.agents.chunks import in_flight

TIMES_H = np.linspace(0.0, 10 * 24.0, 11)
# heterogeneous cells (territories straddle chunk edges) with records: every output depends on the streams
SETTINGS = {"replicates": 3, "segments": 10, "chunk_segments": 3, "microglia_heterogeneity_cv": 0.5}
SETTINGS |= {"contact_rate_per_h": 3.0, "progress": False}


def _simulate(model, client=None, **settings):
    engine = AgentEngine(**{**SETTINGS, **settings})
    return engine.simulate(model, TIMES_H, np.random.default_rng(17), client=client)


def _assert_same_bits(a, b):
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name


# ---------------------------------------------------------------------- chunk streams and reduction (no cluster)
def test_a_chunk_depends_only_on_seed_replicate_and_chunk_index(model):
    """Segments 0-5 (chunks 0 and 1) are the same whether the replicate has 3, 6 or 10 segments."""
    settings = {"microglia_heterogeneity_cv": 0.0, "replicates": 2}  # cells then do not depend on the cell count
    runs = [_simulate(model, segments=n, **settings) for n in (3, 6, 10)]
    for r in range(2):
        for short, long in zip(runs, runs[1:]):
            length = short.attrs["agent_segments"] * short.attrs["agent_segment_length_um"]
            for name in ("birth_time", "tag_time", "loss_time", "spine_position"):
                a, b = short[name].values[r], long[name].values[r]
                keep_a = np.isfinite(short.spine_position.values[r])
                keep_b = long.spine_position.values[r] < length
                np.testing.assert_array_equal(a[keep_a], b[keep_b])
    assert runs[1].attrs["agent_chunks"] == 2 * 2 and runs[2].attrs["agent_chunks"] == 2 * 4
    # other chunk indices have other streams: chunk 1 is not a copy of chunk 0
    assert not np.array_equal(runs[1].birth_time.values[0, :5], runs[1].birth_time.values[0, -5:], equal_nan=True)


def test_chunked_records_reproduce_counts_and_cells(model):
    """Records combined over chunks give the densities; engulfments are credited to the cell holding the spine."""
    ds = _simulate(model)
    assert ds.attrs["agent_chunks"] == 3 * 4
    t = ds.time
    born = ds.birth_time.isnull() | (ds.birth_time <= t)
    alive = ds.loss_time.isnull() | (ds.loss_time > t)
    count = (ds.spine_position.notnull() & born & alive).sum("spine")
    length = SETTINGS["segments"] * ds.attrs["agent_segment_length_um"]
    np.testing.assert_allclose(count, ds.spine_density * length, rtol=0, atol=1e-9)
    cell = ds.spine_cell.values
    expected = np.floor(ds.spine_position.values / ds.attrs["agent_territory_length_um"])
    np.testing.assert_array_equal(cell, np.minimum(expected, ds.sizes["cell"] - 1))
    engulfed = (ds.engulfed == 1).values
    for r in range(ds.sizes["replicate"]):
        counts = np.bincount(cell[r][engulfed[r]].astype(int), minlength=ds.sizes["cell"])
        np.testing.assert_array_equal(counts, ds.microglia_cell_engulfed.values[r])
    assert ds.microglia_cell_engulfed.values.sum() > 0


def test_threads_completing_out_of_order_give_the_serial_bits(model):
    serial = _simulate(model)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        threaded = _simulate(model, client=pool)
    _assert_same_bits(serial, threaded)


class _CountingExecutor:
    """A serial executor that records how many submitted chunks were not yet collected."""

    def __init__(self) -> None:
        self.pending = self.most = self.submitted = 0

    def submit(self, fn, *args):
        self.pending += 1
        self.submitted += 1
        self.most = max(self.most, self.pending)
        future = concurrent.futures.Future()
        future.set_result(fn(*args))
        done = future.result

        def result():
            self.pending -= 1
            return done()

        future.result = result
        return future


def test_chunks_in_flight_are_bounded(model):
    executor = _CountingExecutor()
    _simulate(model, client=executor, replicates=6, record_spines=False)
    assert executor.submitted == 6 * 4 > in_flight(executor) == 8
    assert executor.most == in_flight(executor)


def test_without_cell_outputs_the_spines_are_unchanged(model):
    full = _simulate(model, record_spines=False)
    lean = _simulate(model, record_spines=False, record_cells=False)
    assert "cell" not in lean.dims and "microglia_cell_engulfed" not in lean
    for name in lean.data_vars:
        assert full[name].values.tobytes() == lean[name].values.tobytes(), name


def test_chunked_mean_matches_ode_within_five_standard_errors():
    """Many small chunks with independent streams: the replicate mean still follows the ODE (vehicle and high dose)."""
    for experiment in ("vehicle", "shi2022_high_dose"):
        common = [f"experiment={experiment}", "duration_days=14", "output_step_h=24"]
        ode = sim.simulate(sim.presets.from_overrides(common))
        agent = sim.simulate(
            sim.presets.from_overrides(
                [*common, "engine=agents", "engine.replicates=48", "engine.segments=60", "engine.chunk_segments=7"]
                + ["engine.record_spines=false", "engine.progress=false", "seed=5"]
            )
        )
        assert agent.attrs["agent_chunks"] == 48 * 9
        for name in ("spine_density", "tagged_spine_density"):
            values = agent[name].isel(time=slice(1, None))
            se = values.std("replicate", ddof=1) / np.sqrt(values.sizes["replicate"])
            z = np.abs(values.mean("replicate") - ode[name].isel(time=slice(1, None))) / se
            assert float(z.max()) < 5.0, f"{experiment}: {name} off by {float(z.max()):.1f} SE"


# ---------------------------------------------------------------------- Dask: 2-worker LocalCluster
@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


class _Pinned:
    """Submits every chunk to one worker of ``client`` (a one-worker run on the same cluster)."""

    def __init__(self, client, worker: str) -> None:
        self.client, self.worker = client, worker

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, workers=[self.worker])


def test_one_and_two_dask_workers_give_the_serial_bits(model, dask_client):
    serial = _simulate(model)
    two = _simulate(model, client=dask_client)
    _assert_same_bits(serial, two)
    one = _simulate(model, client=_Pinned(dask_client, sorted(dask_client.nthreads())[0]))
    _assert_same_bits(serial, one)


def _kill_worker_once(fn, marker: str, target: tuple[int, int]):
    """``fn`` that kills its own worker process (SIGKILL) the first time it runs chunk ``target``."""

    def run(plan, chunk):
        if (chunk.replicate, chunk.index) == target:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return fn(plan, chunk)

    return run


class _KillOnce:
    def __init__(self, client, marker: str, target: tuple[int, int]) -> None:
        self.client, self.marker, self.target = client, marker, target

    def nthreads(self):
        return self.client.nthreads()

    def submit(self, fn, *args):
        return self.client.submit(_kill_worker_once(fn, self.marker, self.target), *args)


def test_a_worker_killed_mid_run_changes_nothing(model, dask_client, tmp_path):
    """Dask reruns the chunks of the killed worker elsewhere; chunks are pure, so the bits are the serial ones."""
    serial = _simulate(model)
    marker = tmp_path / "killed"
    killed = _simulate(model, client=_KillOnce(dask_client, str(marker), (1, 2)))
    assert marker.exists()  # the worker really died while running chunk 2 of replicate 1
    _assert_same_bits(serial, killed)


def test_a_run_configuration_sends_the_agent_chunks_to_a_client_and_refuses_scheduler_misuse(tmp_path):
    """sim.simulate(run, client=...) gives the in-process bits; `scheduler` is checked and needs a client."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    import sim
    from sim.core.params import ConfigError

    engine = sim.AgentEngine(replicates=2, segments=6, chunk_segments=2, progress=False)
    run = dataclasses.replace(sim.presets.experiment("shi2022_high_dose"), engine=engine, duration_days=10.0,
                              output_step_h=24.0, seed=11)  # fmt: skip
    here = sim.simulate(run)
    with ThreadPoolExecutor(max_workers=2) as pool:
        there = sim.simulate(dataclasses.replace(run, scheduler="local"), client=pool)
    for name in ("spine_density", "tagged_spine_density", "microglia_cell_engulfed", "birth_time", "loss_time"):
        np.testing.assert_array_equal(here[name], there[name])
    with pytest.raises(ConfigError, match="scheduler = 'local' needs a client"):
        sim.simulate(dataclasses.replace(run, scheduler="local"))
    with pytest.raises(ConfigError, match=r"scheduler = 'nowhere' is not allowed: give null, local or a Dask"):
        dataclasses.replace(run, scheduler="nowhere")
    with pytest.raises(ConfigError, match=r"scheduler = 'local' is not allowed with engine = 'ode'"):
        dataclasses.replace(run, engine=sim.OdeEngine(), scheduler="local")
    with pytest.raises(ConfigError, match=r"simulate\(client=...\) is not allowed with the ODE engine"):
        sim.simulate(dataclasses.replace(run, engine=sim.OdeEngine()), client=object())
