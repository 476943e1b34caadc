"""``sim.PruningModel()`` is the calibrated headline arm, runs without Hydra, and equals the command-line result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.io import open_result


@pytest.fixture(scope="module")
def cli_result(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("cli")
    synaprune = Path(sys.executable).parent / "synaprune"
    proc = subprocess.run(
        [str(synaprune), "experiment=shi2022_high_dose", "figure=false", f"hydra.run.dir={run_dir}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return run_dir / "result.nc"


def test_default_model_equals_the_headline_command(cli_result):
    api = sim.simulate(sim.PruningModel())
    cli = open_result(cli_result).squeeze(("dose", "withdrawal_time"), drop=True)
    assert set(api.data_vars) == set(cli.data_vars)
    assert set(api.coords) == set(cli.coords)
    for name in api.coords:
        np.testing.assert_array_equal(api[name].values, cli[name].values, err_msg=name)
    for name in api.data_vars:
        np.testing.assert_allclose(api[name].values, cli[name].values, rtol=1e-9, atol=1e-12, err_msg=name)
    # and it is the calibrated arm: the published high-dose loss at day 7 (Alzforum: -13 %)
    assert 100.0 - float(api.spine_density_relative.sel(time=7.0)) == pytest.approx(13.0, abs=1.5)


def test_default_model_runs_without_importing_hydra():
    code = (
        "import sys, sim; ds = sim.simulate(sim.PruningModel()); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')); "
        "assert not bad, bad; print(ds.attrs['calibration'], ds.attrs['calibration_sha256'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    calibration, digest = proc.stdout.split()
    assert calibration == "shi2022" and len(digest) == 64


def test_result_records_model_variant_and_calibration():
    ds = sim.simulate(sim.PruningModel(), duration_days=1.0)
    assert "microglia=MicrogliaActivation" in ds.attrs["model_variant"]
    assert ds.attrs["calibration"] == "shi2022"
    changed = sim.PruningModel()
    changed.microglia.c1q_gain = 2.0  # not a fitted value: still the calibration
    assert sim.simulate(changed, duration_days=1.0).attrs["calibration"] == "shi2022"
    changed.spines.homeostatic_gain *= 1.5  # a fitted value: no longer the packaged calibration
    assert sim.simulate(changed, duration_days=1.0).attrs["calibration"] == "none"


def test_default_model_is_a_fresh_object_each_time():
    first, second = sim.PruningModel(), sim.PruningModel()
    first.microglia.c1q_gain = 99.0
    assert second.microglia.c1q_gain != 99.0
