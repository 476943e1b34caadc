"""The ``synaprune`` command (``python -m sim``), run as a subprocess: a good run writes result.nc; every kind of
bad input exits non-zero with one line naming the key, the value and what is allowed, and writes no result."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.config import config_dir
from sim.io import open_result


def run_cli(*overrides: str, run_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "SYNAPRUNE_CONFIG_DIR")}
    environment.update(env or {})
    command = [sys.executable, "-m", "sim", *overrides]
    if not any(o.startswith("hydra.run.dir=") for o in overrides):
        command.append(f"hydra.run.dir={run_dir}")
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, cwd=run_dir.parent)


def test_good_run_writes_result_and_figure(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("experiment=shi2022_high_dose", "debug=smoke", "figure=true", run_dir=run_dir)
    assert proc.returncode == 0, proc.stderr
    assert (run_dir / "result.nc").is_file()
    assert (run_dir / "timecourse.png").stat().st_size > 1000
    assert not list(run_dir.glob("*.part")) and not list(run_dir.glob(".*.part"))
    ds = open_result(run_dir / "result.nc")
    assert ds.sizes["dose"] == 1 and ds.sizes["withdrawal_time"] == 1
    assert float(ds.dose[0]) == 5.0 and float(ds.withdrawal_time[0]) == 7.0
    assert ds.dose.attrs["units"] == "mg/kg" and ds.withdrawal_time.attrs["units"] == "d"
    assert ds.spine_density.dims[:2] == ("dose", "withdrawal_time")
    assert "regimen:" in ds.attrs["config"] and '"experiment": "shi2022_high_dose"' in ds.attrs["hydra_choices"]
    assert float(ds.time[-1]) == 10.0


def test_human_dose_in_mg_is_labelled_per_kg(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("species=human", "regimen=human_daily_oral", "duration_days=3", "figure=false", run_dir=run_dir)
    assert proc.returncode == 0, proc.stderr
    ds = open_result(run_dir / "result.nc")
    np.testing.assert_allclose(ds.dose.values, [10.0 / 70.0])
    assert ds.attrs["dose_mg_per_kg"] == pytest.approx(10.0 / 70.0)


@pytest.fixture(scope="module")
def broken_configs(tmp_path_factory) -> Path:
    """A copy of configs/ with one malformed experiment file."""
    root = tmp_path_factory.mktemp("configs") / "configs"
    shutil.copytree(config_dir(), root)
    (root / "experiment" / "broken.yaml").write_text(
        "# @package _global_\nregimen: {dose_mg_per_kg: 5.0\nduration_days: [1, 2\n"
    )
    return root


BAD_INPUT = {
    "negative_dose": (["regimen.dose_mg_per_kg=-1"], ["regimen.dose_mg_per_kg", "-1.0", ">= 0"]),
    "nan_dose": (["regimen.dose_mg_per_kg=nan"], ["regimen.dose_mg_per_kg", "nan", "finite"]),
    "zero_duration": (["duration_days=0"], ["duration_days", "0.0", "> 0"]),
    "stop_before_start": (["regimen.start_day=5", "regimen.stop_day=3"], ["regimen.stop_day", "3.0", "start_day"]),
    "unknown_drug": (["drug=valium"], ["drug", "valium", "diazepam", "xbd173"]),
    "unknown_genotype": (["genotype=nude"], ["genotype", "nude", "wt", "tspo_ko"]),
    "unknown_species": (["species=dog"], ["species", "dog", "mouse", "human"]),
    "no_pk_for_pair": (["drug=pk11195", "species=human"], ["pk", "pk11195_human", "pk11195_mouse"]),
    "typo": (["microglia.c1q_gian=3"], ["microglia.c1q_gian", "c1q_gain"]),
    "wrong_type": (["regimen.interval_h=abc"], ["regimen.interval_h", "abc", "Float"]),
    "unknown_route": (["regimen.route=nasal"], ["regimen.route", "nasal", "drinking_water"]),
    "unparsable_override": (["regimen.dose_mg_per_kg=[1"], ["regimen.dose_mg_per_kg=[1"]),
    "unwritable_output": (
        ["hydra.run.dir=/proc/synaprune_forbidden"],
        ["/proc/synaprune_forbidden", "hydra.run.dir", "writable"],
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_fails_cleanly(tmp_path, case):
    overrides, fragments = BAD_INPUT[case]
    run_dir = tmp_path / "run"
    proc = run_cli(*overrides, "figure=false", run_dir=run_dir)
    assert_clean_failure(proc, fragments, tmp_path)


def test_malformed_yaml_fails_cleanly(tmp_path, broken_configs):
    proc = run_cli("experiment=broken", run_dir=tmp_path / "run", env={"SYNAPRUNE_CONFIG_DIR": str(broken_configs)})
    assert_clean_failure(proc, ["malformed YAML", "broken.yaml", "line 3"], tmp_path)


def assert_clean_failure(proc: subprocess.CompletedProcess, fragments: list[str], tmp_path: Path) -> None:
    assert proc.returncode != 0
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert message.startswith("synaprune: error: "), message
    assert "\n" not in message, f"expected one line, got:\n{message}"
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"
    assert not list(tmp_path.rglob("result.nc"))
    assert not list(tmp_path.rglob("*.part"))
    assert not (tmp_path / "run").exists()  # the run folder Hydra created for the refused input is gone
