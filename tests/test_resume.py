"""Resuming a ``synaprune -m`` sweep into the same ``hydra.sweep.dir``: job folders named by their overrides, a lock
per job, complete results kept (not even rewritten), the missing job recomputed; a resume with other settings is
refused before anything is written. Also the pieces: folder names, the lock, ``sim.collect`` with a missing job."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_launcher import SHORT, synaprune

import sim
from sim.config import JOB_DIRNAME_MAX, job_dirname
from sim.core.params import ConfigError
from sim.io import LOCK_NAME, JobLocked, job_lock, open_result

SWEEP = ["drug=diazepam", "regimen.stop_day=3,5,7", *SHORT]  # drug: a fixed override, not in the folder names
JOBS = [f"regimen.stop_day={s}" for s in (3, 5, 7)]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under ``folder``: (inode, mtime in ns, content)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_killed_sweep_resumes_computing_only_the_missing_job(tmp_path):
    folder = tmp_path / "sweep"
    code, _, err = synaprune("-m", *SWEEP, f"hydra.sweep.dir={folder}", cwd=tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == JOBS
    reference = sim.collect(folder)
    # a kill: the job's result never appeared, its .part file and lock stayed behind (pid of a dead process)
    killed = folder / "regimen.stop_day=5"
    (killed / "result.nc").unlink()
    pid = dead_pid()
    part = killed / f".result.nc.{pid}.0123abcd.part"
    part.write_bytes(b"half a file")
    (killed / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    with pytest.raises(ConfigError, match=r"1 job\(s\) .*: regimen.stop_day=5 \(re-run"):
        sim.collect(folder)
    with pytest.warns(UserWarning, match="regimen.stop_day=5; they are NaN"):
        holey = sim.collect(folder, allow_missing=True)
    assert bool(holey.spine_density_relative.sel(withdrawal_time=5.0).isnull().all())
    assert not bool(holey.spine_density_relative.sel(withdrawal_time=7.0).isnull().any())
    assert holey.config.sel(withdrawal_time=5.0).item() == ""
    others = {job: snapshot(folder / job) for job in JOBS if job != killed.name}

    code, out, err = synaprune("-m", *SWEEP, f"hydra.sweep.dir={folder}", cwd=tmp_path)
    assert code == 0, err
    assert out.count("complete (result.nc of the same settings), skipped") == 2
    assert out.count("result: ") == 1 and f"result: {(killed / 'result.nc').resolve()}" in out
    for job, files in others.items():  # not even rewritten: same inode, mtime and bytes, .hydra/ included
        assert snapshot(folder / job) == files, job
    assert not part.exists() and not (killed / LOCK_NAME).exists()
    resumed = sim.collect(folder)
    np.testing.assert_array_equal(resumed.spine_density_relative, reference.spine_density_relative)
    assert (resumed.config == reference.config).all()


def test_a_resume_with_other_settings_is_refused_and_overwrites_nothing(tmp_path):
    folder = tmp_path / "sweep"
    code, _, err = synaprune("-m", *SWEEP, f"hydra.sweep.dir={folder}", cwd=tmp_path)
    assert code == 0, err
    (folder / JOBS[-1] / "result.nc").unlink()  # one job missing: it must not be computed with the new settings
    before = snapshot(folder)
    code, out, err = synaprune("-m", *SWEEP, "regimen.dose_mg_per_kg=2", f"hydra.sweep.dir={folder}", cwd=tmp_path)
    message = err.strip()
    assert code == 2, (out, err)
    assert message.startswith("synaprune: error: ") and "\n" not in message, message
    assert "other settings" in message and "dose_mg_per_kg" in message and "hydra.sweep.dir" in message
    after = snapshot(folder)
    assert after.keys() == before.keys()
    assert {k: v[2] for k, v in after.items()} == {k: v[2] for k, v in before.items()}  # multirun.yaml restored
    changed = [k for k in before if before[k][:2] != after[k][:2] and k != "multirun.yaml"]
    assert not changed


def test_a_job_locked_by_a_live_process_is_skipped_with_a_message(tmp_path):
    folder = tmp_path / "sweep"
    locked = folder / "genotype=tspo_ko"
    locked.mkdir(parents=True)
    (locked / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    code, out, err = synaprune("-m", "genotype=wt,tspo_ko", *SHORT, f"hydra.sweep.dir={folder}", cwd=tmp_path)
    assert code == 0, err
    assert "genotype=tspo_ko: skipped" in err and f"pid {os.getpid()}" in err
    assert (folder / "genotype=wt" / "result.nc").is_file() and not (locked / "result.nc").exists()
    assert (locked / LOCK_NAME).is_file()  # not ours to remove


def test_job_lock_is_exclusive_takes_over_a_dead_holder_and_is_released(tmp_path):
    with job_lock(tmp_path) as lock:
        assert json.loads(lock.read_text()) == {"pid": os.getpid(), "host": socket.gethostname()}
        with pytest.raises(JobLocked, match=f"pid {os.getpid()}"):
            with job_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK_NAME).exists()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname()}))
    with job_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead_pid(), "host": "another-host"}))
    with pytest.raises(JobLocked, match="another-host"):  # its process cannot be checked from here
        with job_lock(tmp_path):
            pass


def test_job_folder_names_are_the_overrides_made_safe():
    assert job_dirname("drug=xbd173,regimen.dose_mg_per_kg=5", 3) == "drug=xbd173,regimen.dose_mg_per_kg=5"
    assert job_dirname("", 3) == "3"
    slash = job_dirname("spines.region=a/b", 0)
    underscore = job_dirname("spines.region=a_b", 0)
    assert "/" not in slash and slash.startswith("spines.region=a_b-") and underscore == "spines.region=a_b"
    long = ",".join(f"microglia.field{i}={i}.5" for i in range(20))
    name = job_dirname(long, 0)
    assert len(name) == JOB_DIRNAME_MAX and name != job_dirname(long + "1", 0)
    assert job_dirname(".hidden=1", 0)[0] != "."


def test_collect_refuses_a_folder_without_results(tmp_path):
    with pytest.raises(ConfigError, match="holds no result.nc"):
        sim.collect(tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        sim.collect(tmp_path / "missing")


def test_collect_reads_overrides_of_results_without_the_attribute(tmp_path):
    """Results of earlier versions: the overrides come from Hydra's .hydra/overrides.yaml."""
    for dose in (1, 5):
        run = sim.presets.from_overrides([f"regimen.dose_mg_per_kg={dose}", "duration_days=2", "output_step_h=24"])
        job = tmp_path / str(dose)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- regimen.dose_mg_per_kg={dose}\n- duration_days=2\n")
        sim.io.save_dataset(sim.simulate(run, sweep=True), job / "result.nc")
    grid = sim.collect(tmp_path)
    np.testing.assert_array_equal(grid.dose, [1.0, 5.0])
    assert "withdrawal_time" not in grid.dims and grid.spine_density.dims[0] == "dose"
    assert open_result(tmp_path / "5" / "result.nc").attrs["config"] == grid.config.sel(dose=5.0).item()
