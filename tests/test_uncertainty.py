"""sim.uncertainty: an experiment over posterior draws (dimension draw) with median and 5-95 % bands."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

import sim
from sim import presets, targets
from sim.core.params import ConfigError
from sim.io import open_result
from sim.uncertainty import parameter_draws, run_with_uncertainty, with_uncertainty

SMOKE = ["experiment=shi2022_high_dose", "duration_days=21", "output_step_h=6"]


@pytest.fixture(scope="module")
def banded():
    run = presets.from_overrides([*SMOKE, "uncertainty=posterior", "uncertainty.draws=12"])
    return run_with_uncertainty(run, progress=False)


def test_bands_contain_the_median_and_follow_the_draws(banded):
    rel = banded["spine_density_relative"]
    assert rel.dims == ("draw", "time") and banded.sizes["draw"] == 12
    low, mid, high = (banded[f"spine_density_relative_{s}"].values for s in ("q05", "median", "q95"))
    assert np.all(low <= mid) and np.all(mid <= high)
    np.testing.assert_allclose(mid, np.median(rel.values, axis=0))  # the median of the draws, independently
    assert float(np.max(high - low)) > 0.5  # the free parameters move spine density by more than half a percent
    for suffix in ("q05", "median", "q95"):
        attrs = banded[f"spine_density_relative_{suffix}"].attrs
        assert attrs["units"] == rel.attrs["units"] and attrs["long_name"]


def test_band_width_is_zero_for_an_output_the_draws_cannot_change(banded):
    # plasma concentration is upstream of every sampled (microglia, spines) parameter
    width = banded["plasma_concentration_q95"] - banded["plasma_concentration_q05"]
    assert float(np.max(np.abs(width))) == 0.0
    assert float(banded["plasma_concentration_median"].max()) > 0.0


def test_draws_are_coordinates_with_the_posterior_values(banded):
    keys = targets.VARIANTS[targets.DEFAULT_VARIANT].keys
    for key in keys:
        coord = banded[key.replace(".", "__")]
        assert coord.dims == ("draw",) and coord.attrs["units"] and np.unique(coord.values).size == 12
    assert banded.attrs["uncertainty_method"] == "posterior" and banded.attrs["dosing_stop_day"] == 7.0


def test_posterior_draws_are_reproducible_with_the_run_seed():
    run = presets.from_overrides(["uncertainty=posterior", "uncertainty.draws=30", "seed=4"])
    first, _ = parameter_draws(run)
    again, _ = parameter_draws(run)
    other, _ = parameter_draws(dataclasses.replace(run, seed=5))
    for key in first:
        assert first[key].tobytes() == again[key].tobytes()
    assert any(first[key].tobytes() != other[key].tobytes() for key in first)


def test_stated_ranges_are_uniform_within_bounds():
    run = with_uncertainty(presets.from_overrides([]), "ranges", 400, {"spines__homeostatic_gain": [0.5, 3.0]})
    values, attrs = parameter_draws(run)
    gain = values["spines.homeostatic_gain"]
    assert gain.size == 400 and gain.min() >= 0.5 and gain.max() < 3.0
    assert abs(np.mean(gain) - 1.75) < 0.15  # uniform mean (0.5 + 3.0) / 2, sd 0.72 / sqrt(400) = 0.036
    assert "correlations ignored" in attrs["uncertainty_source"]


@pytest.mark.parametrize("override", ["uncertainty.draws=1", "uncertainty.draws=-3"])
def test_too_few_draws_are_refused(override):
    for load in (presets.from_overrides, sim.load_config):
        with pytest.raises(ConfigError, match=r"uncertainty\.draws = -?\d+ is not allowed: it must be an integer >= 2"):
            load(["uncertainty=posterior", override])


def test_bad_settings_are_refused():
    with pytest.raises(
        ConfigError, match="uncertainty = 'maybe' is not allowed: choose one of none, posterior, ranges"
    ):
        presets.from_overrides(["uncertainty.method=maybe"])
    with pytest.raises(ConfigError, match=r"uncertainty\.ranges\.spines__homeostatic_gain = \[2\.0, 0\.5\]"):
        presets.from_overrides(["uncertainty=ranges", "uncertainty.ranges.spines__homeostatic_gain=[2.0,0.5]"])
    with pytest.raises(ConfigError, match="choose uncertainty=posterior or uncertainty=ranges"):
        parameter_draws(presets.from_overrides([]))


@pytest.mark.parametrize(
    ("override", "what"), [("microglia=adaptive", "AdaptiveMicroglia"), ("spines=hippocampus", "hippocampus")]
)
def test_a_run_the_posterior_does_not_fit_is_refused(override, what):
    run = presets.from_overrides([override, "uncertainty=posterior"])
    with pytest.raises(ConfigError, match=rf"the posterior \(variant 'hill'\) was fitted with .*{what}"):
        run_with_uncertainty(run, progress=False)


def test_default_is_a_single_run():
    assert presets.from_overrides([]).uncertainty.method == "none"
    assert sim.load_config([]).uncertainty == presets.from_overrides([]).uncertainty


def test_cli_writes_the_draw_dimension_and_bands(tmp_path):
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "SYNAPRUNE_CONFIG_DIR")}
    command = [sys.executable, "-m", "sim", "experiment=shi2022_high_dose", "debug=smoke", "figure=true",
               "uncertainty=posterior", "uncertainty.draws=20",
               f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ds = open_result(run_dir / "result.nc")
    assert ds.sizes["draw"] == 20 and "spine_density_relative_q95" in ds
    assert (run_dir / "timecourse.png").stat().st_size > 1000
