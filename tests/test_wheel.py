"""The wheel ships the configuration: built from a copy of the sources, installed into a fresh virtual
environment, ``synaprune experiment=shi2022_high_dose`` runs from a directory outside the checkout and writes a
result that opens. The fresh environment borrows the dependencies of the running one through a ``.pth`` file (no
network), but ``sim`` itself must come from the installed wheel."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from sim.io import open_result

REPO = Path(__file__).resolve().parents[1]


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=240, **kwargs)
    assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    # build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout (and reuse stale files)
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in ("sim", "hydra_plugins"):  # hydra_plugins: the batch launcher and sweeper, found by Hydra
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", dist,
         source])  # fmt: skip
    (wheel,) = dist.glob("synaprune-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {f"sim/{p.relative_to(REPO / 'sim').as_posix()}" for p in (REPO / "sim" / "configs").rglob("*.yaml")}
    assert "sim/configs/config.yaml" in names
    experiments = sorted(REPO.joinpath("sim", "configs", "experiment").glob("*.yaml"))
    assert experiments and all(f"sim/configs/experiment/{p.name}" in names for p in experiments)
    assert packaged <= names, f"missing from the wheel: {sorted(packaged - names)}"
    assert "hydra_plugins/synaprune_batch_launcher/batch_launcher.py" in names
    assert "hydra_plugins/__init__.py" not in names  # a namespace package shared with Hydra's other plugins

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # install first, then borrow the dependencies (pip must not see the development install of synaprune)
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--ignore-installed",
         "-q", wheel])  # fmt: skip
    (purelib / "_dev_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SYNAPRUNE_CONFIG_DIR", "HYDRA_FULL_ERROR", "PYTHONPATH")}
    code = "import sim, sim.library, hydra_plugins.synaprune_batch_launcher as p; print(sim.__file__, sim.library.config_dir(), p.__file__)"
    where = run([python, "-c", code], cwd=work, env=env).stdout.split()
    for path in where:
        assert Path(path).resolve().is_relative_to(env_dir.resolve()), where

    script = env_dir / ("Scripts/synaprune.exe" if os.name == "nt" else "bin/synaprune")
    proc = run([script, "experiment=shi2022_high_dose", "figure=false"], cwd=work, env=env)
    (result,) = work.glob("outputs/shi2022_high_dose/*/result.nc")
    assert str(result.resolve()) in proc.stdout
    ds = open_result(result)
    assert ds.attrs["experiment"] == "shi2022_high_dose"
    assert float(ds.time[-1]) == 70.0 and ds.sizes["time"] > 1

    # Hydra finds the batch launcher of the installed wheel: a 2-set sweep in one process, one sweep.nc
    sweep = work / "sweep"
    run([script, "-m", "hydra/launcher=batch", "drug=diazepam,xbd173", "duration_days=2", "figure=false",
         f"hydra.sweep.dir={sweep}"], cwd=work, env=env)  # fmt: skip
    assert open_result(sweep / "sweep.nc").sizes["drug"] == 2

    # the posterior and the per-variant fits are package data too: intervals work from an installed wheel
    code = (
        "from sim import posterior, targets, library; ds = posterior.load(); "
        "print(ds.attrs['variant'], targets.DEFAULT_VARIANT, (library.config_dir() / 'variants' / 'two_pool.yaml').is_file())"
    )
    variant, default, variant_fit = run([python, "-c", code], cwd=work, env=env).stdout.split()
    assert variant == default and variant_fit == "True"
