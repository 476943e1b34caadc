"""``synaprune -m hydra/launcher=batch``: a whole grid in one process through sim.sweep, one sweep.nc; the same grid
through plain ``-m`` (joblib launcher, one run per job) collected by ``sim.collect`` gives the same numbers; keys the
batch launcher cannot sweep are refused with one line before anything is written. The CLI runs in-process
(``sim.cli.main``), except for the joblib workers, which are processes of their own."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import in_process_cli

import sim
import sim.cli
from hydra_plugins.synaprune_batch_launcher.batch_launcher import plan_batch
from sim.core.params import ConfigError
from sim.io import open_result

SHORT = ["duration_days=9", "output_step_h=12", "figure=false"]


def synaprune(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run the ``synaprune`` command in this process; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with in_process_cli(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        sys.argv = ["synaprune", *args]
        try:
            sim.cli.main()
            code = 0
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


def test_the_four_dimensional_sweep_of_the_issue_is_one_command_and_one_dataset(tmp_path):
    folder = tmp_path / "grid"
    code, out, err = synaprune(
        "-m", "hydra/launcher=batch", "experiment=shi2022_high_dose", "duration_days=9", "output_step_h=12",
        "drug=diazepam,xbd173", "regimen.dose_mg_per_kg=1,5", "regimen.stop_day=3,7", "genotype=wt,tspo_ko",
        f"hydra.sweep.dir={folder}", cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["multirun.yaml", "sweep.nc", "sweep.png"]
    assert f"result: {(folder / 'sweep.nc').resolve()}" in out
    ds = open_result(folder / "sweep.nc")
    density = ds.spine_density_relative
    assert density.dims == ("drug", "dose", "withdrawal_time", "genotype", "time")
    assert density.shape[:4] == (2, 2, 2, 2) and not bool(density.isnull().any())
    np.testing.assert_array_equal(ds.dose, [1.0, 5.0])
    np.testing.assert_array_equal(ds.withdrawal_time, [3.0, 7.0])
    assert ds.dose.attrs["units"] == "mg/kg" and ds.genotype.attrs["config_key"] == "genotype"
    # provenance: the resolved base config (without the swept keys), seed, version, commit, choices, overrides
    base = sim.load_config(["experiment=shi2022_high_dose", "duration_days=9", "output_step_h=12"])
    assert ds.attrs["config"] == base.to_yaml()
    assert ds.attrs["seed"] == 0 and ds.attrs["sim_version"] == sim.__version__ and "git_commit" in ds.attrs
    assert json.loads(ds.attrs["hydra_choices"])["experiment"] == "shi2022_high_dose"
    assert json.loads(ds.attrs["hydra_overrides"]) == {
        "experiment": "shi2022_high_dose", "duration_days": 9, "output_step_h": 12,
    }  # fmt: skip
    assert json.loads(ds.attrs["sweep_keys"]) == ["drug", "regimen.dose_mg_per_kg", "regimen.stop_day", "genotype"]
    # one corner against an independent single run of the same overrides
    point = ["drug=xbd173", "regimen.dose_mg_per_kg=5", "regimen.stop_day=3", "genotype=tspo_ko"]
    single = sim.simulate(
        sim.load_config(["experiment=shi2022_high_dose", "duration_days=9", "output_step_h=12", *point])
    )
    corner = density.sel(drug="xbd173", dose=5.0, withdrawal_time=3.0, genotype="tspo_ko")
    np.testing.assert_allclose(corner, single.spine_density_relative, rtol=1e-9, atol=0)
    # sim.collect opens the folder unchanged; a re-run of the same command finds it complete and writes nothing
    assert sim.collect(folder).identical(ds)
    before = (folder / "sweep.nc").stat()
    code, out, err = synaprune(
        "-m", "hydra/launcher=batch", "experiment=shi2022_high_dose", "duration_days=9", "output_step_h=12",
        "drug=diazepam,xbd173", "regimen.dose_mg_per_kg=1,5", "regimen.stop_day=3,7", "genotype=wt,tspo_ko",
        f"hydra.sweep.dir={folder}", cwd=tmp_path,
    )  # fmt: skip
    assert code == 0 and "is complete" in out, err
    after = (folder / "sweep.nc").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_plain_multirun_and_the_batch_launcher_collect_to_the_same_grid(tmp_path):
    sweep = ["drug=diazepam,xbd173", "regimen.dose_mg_per_kg=5,1", *SHORT]
    plain, batch = tmp_path / "plain", tmp_path / "batch"
    code, _, err = synaprune("-m", *sweep, f"hydra.sweep.dir={plain}", cwd=tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in plain.iterdir() if p.is_dir()) == [
        "drug=diazepam,regimen.dose_mg_per_kg=1", "drug=diazepam,regimen.dose_mg_per_kg=5",
        "drug=xbd173,regimen.dose_mg_per_kg=1", "drug=xbd173,regimen.dose_mg_per_kg=5",
    ]  # fmt: skip
    code, _, err = synaprune("-m", "hydra/launcher=batch", *sweep, f"hydra.sweep.dir={batch}", cwd=tmp_path)
    assert code == 0, err
    a, b = sim.collect(plain), sim.collect(batch)
    assert a.spine_density_relative.dims == b.spine_density_relative.dims == ("drug", "dose", "time")
    for name in ("drug", "dose", "time"):
        np.testing.assert_array_equal(a[name], b[name])
    assert a.dose.attrs == b.dose.attrs
    np.testing.assert_allclose(a.spine_density_relative, b.spine_density_relative, rtol=1e-9, atol=0)
    # plain -m keeps each run's resolved config along the swept dimensions
    config = a.config.sel(drug="xbd173", dose=1.0).item()
    assert config == open_result(plain / "drug=xbd173,regimen.dose_mg_per_kg=1" / "result.nc").attrs["config"]
    assert "name: xbd173" in config and "dose_mg_per_kg: 1.0" in config


def test_the_joblib_launcher_runs_one_process_per_job(tmp_path):
    folder = tmp_path / "joblib"
    code, _, err = synaprune("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "genotype=wt,tspo_ko", *SHORT,
                             f"hydra.sweep.dir={folder}", cwd=tmp_path)  # fmt: skip
    assert code == 0, err
    grid = sim.collect(folder)
    np.testing.assert_array_equal(grid.genotype, ["tspo_ko", "wt"])
    for genotype in ("wt", "tspo_ko"):
        overrides = json.loads(open_result(folder / f"genotype={genotype}" / "result.nc").attrs["hydra_overrides"])
        assert overrides["genotype"] == genotype
    sim.load_config(["genotype=tspo_ko"])  # results unpickled from the workers left this process's schemas intact
    # without TSPO, no microglial pruning: the knockout keeps more spines than the wild type on the last day
    last = grid.spine_density_relative.isel(time=-1)
    assert float(last.sel(genotype="tspo_ko")) > float(last.sel(genotype="wt"))


REFUSED = {
    "experiment": (["experiment=shi2022_low_dose,shi2022_high_dose"], ["experiment", "shi2022_low_dose"]),
    "run_setting": (["seed=1,2"], ["seed", "1, 2", "run setting"]),
    "agents": (["engine=agents", "drug=diazepam,xbd173"], ["engine", "agents", "ODE"]),
    "added_key": (["+regimen.foo=1,2"], ["regimen.foo", "+key"]),
    "store": (["hydra.launcher.store=hdf", "drug=diazepam,xbd173"], ["hydra.launcher.store", "'hdf'", "nc, zarr"]),
    "scheduler_nc": (["hydra.launcher.scheduler=local", "drug=diazepam,xbd173"], ["scheduler", "store = nc", "zarr"]),
    "chunk_sets": (
        ["hydra.launcher.store=zarr", "hydra.launcher.chunk_sets=0", "drug=diazepam,xbd173"],
        ["chunk_sets", "0", ">= 1"],
    ),
    "no_scheduler": (
        ["hydra.launcher.store=zarr", "hydra.launcher.scheduler=tcp://127.0.0.1:9", "drug=diazepam,xbd173"],
        ["tcp://127.0.0.1:9", "not reachable"],
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_the_batch_launcher_cannot_sweep_is_refused_in_one_line_before_anything_is_written(tmp_path, case):
    overrides, words = REFUSED[case]
    folder = tmp_path / "sweep"
    code, out, err = synaprune("-m", "hydra/launcher=batch", *overrides, *SHORT, f"hydra.sweep.dir={folder}",
                               cwd=tmp_path)  # fmt: skip
    message = err.strip()
    assert code == 2, (out, err)
    assert message.startswith("synaprune: error: ") and "\n" not in message, message
    for word in words:
        assert word in message, message
    if case in ("experiment", "run_setting", "added_key"):
        assert "use plain -m" in message
    assert not folder.exists()  # not even multirun.yaml


def test_plan_batch_splits_base_and_swept_keys_and_tells_product_from_zip():
    jobs = [["experiment=vehicle", f"drug={d}", f"regimen.dose_mg_per_kg={x}"] for d in ("xbd173", "diazepam")
            for x in (5, 1.5)]  # fmt: skip
    plan = plan_batch(jobs)
    assert plan.base == ["experiment=vehicle"] and plan.mode == "product"
    assert plan.values == {"drug": ["diazepam", "xbd173"], "regimen.dose_mg_per_kg": [1.5, 5]}
    zipped = plan_batch([["drug=xbd173", "genotype=wt"], ["drug=diazepam", "genotype=tspo_ko"]])
    assert zipped.mode == "zip" and zipped.values == {"drug": ["xbd173", "diazepam"], "genotype": ["wt", "tspo_ko"]}
    with pytest.raises(ConfigError, match=r"cannot sweep seed \(1, 2\).*use plain -m"):
        plan_batch([["seed=1"], ["seed=2"]])


def test_the_plugins_are_registered_with_hydra():
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        launchers = {cls.__name__ for cls in Plugins.instance().discover(Launcher)}
    assert {"BatchLauncher", "JoblibLauncher"} <= launchers
    assert "batch.yaml" in ConfigStore.instance().list("hydra/launcher")


def test_the_slurm_launcher_config_is_found_in_the_search_path():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sim.config import config_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")  # hydra-submitit-launcher's submitit_slurm
    assert (launcher.timeout_min, launcher.cpus_per_task, launcher.mem_gb) == (30, 1, 2)
    assert cfg.hydra.sweeper._target_.endswith("SynapruneSweeper")  # job folders named by overrides, resume


def test_the_zarr_store_of_the_batch_launcher_resumes_and_equals_the_netcdf_sweep(tmp_path):
    sweep = ["drug=diazepam,xbd173", "regimen.dose_mg_per_kg=5,1", "microglia.activation_rate_per_h=0.01,0.02", *SHORT]
    nc, zarr_dir = tmp_path / "nc", tmp_path / "zarr"
    code, _, err = synaprune("-m", "hydra/launcher=batch", *sweep, f"hydra.sweep.dir={nc}", cwd=tmp_path)
    assert code == 0, err
    chunked = ["-m", "hydra/launcher=batch", "hydra.launcher.store=zarr", "hydra.launcher.chunk_sets=3", *sweep,
               f"hydra.sweep.dir={zarr_dir}"]  # fmt: skip
    code, out, err = synaprune(*chunked, cwd=tmp_path)
    assert code == 0, err
    assert f"result: {(zarr_dir / 'sweep.zarr').resolve()}" in out
    whole, stored = sim.collect(nc), sim.collect(zarr_dir)
    density = stored.spine_density_relative
    assert density.dims == whole.spine_density_relative.dims == ("drug", "dose", "microglia__activation_rate_per_h",
                                                                 "time")  # fmt: skip
    np.testing.assert_array_equal(density, whole.spine_density_relative)
    # a run killed after two of its three chunks: the third chunk's flag is down and its data are garbage
    import zarr

    group = zarr.open_group(zarr_dir / "sweep.zarr", mode="r+")
    assert group["done"][:].tolist() == [True, True, True]
    group["done"][2] = False
    group["spine_density_relative"][6:] = -1.0
    with pytest.raises(ConfigError, match="incomplete: 2 of 3 chunks done"):
        sim.collect(zarr_dir)
    first = group["spine_density_relative"][:6]
    code, out, err = synaprune(*chunked, cwd=tmp_path)  # the same command resumes: only the missing chunk runs
    assert code == 0, err
    np.testing.assert_array_equal(sim.collect(zarr_dir).spine_density_relative, whole.spine_density_relative)
    np.testing.assert_array_equal(group["spine_density_relative"][:6], first)
    # the same folder with another base setting is refused in one line; the store is left as it was
    code, out, err = synaprune(*chunked[:-1], "regimen.start_day=1", chunked[-1], cwd=tmp_path)
    message = err.strip()
    assert code == 2 and message.startswith("synaprune: error: ") and "\n" not in message, (out, err)
    assert "holds a different sweep" in message
    np.testing.assert_array_equal(sim.collect(zarr_dir).spine_density_relative, whole.spine_density_relative)


def test_a_single_agent_run_refuses_an_unreachable_scheduler_in_one_line_before_writing(tmp_path):
    folder = tmp_path / "run"
    code, out, err = synaprune("engine=agents", "scheduler=tcp://127.0.0.1:9", "duration_days=2",
                               f"hydra.run.dir={folder}", cwd=tmp_path)  # fmt: skip
    message = err.strip()
    assert code == 2 and message.startswith("synaprune: error: ") and "\n" not in message, (out, err)
    assert "tcp://127.0.0.1:9" in message and "not reachable" in message
    assert not folder.exists()
