"""sim.sensitivity: Sobol and Morris indices (SALib) of peak spine loss, time to recovery and memory deficit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim import presets
from sim.core.params import ConfigError
from sim.io import open_result
from sim.sensitivity import analyse, main, morris, posterior_ranges, ranking, sobol

# Ishigami function (a = 7, b = 0.1) on [-pi, pi]^3: analytic first-order and total Sobol indices
# (Ishigami and Homma 1990; the analytic values that SALib's own tests use).
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def ishigami(X):
    return {"y": np.sin(X[:, 0]) + 7.0 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])}


PI3 = {"x1": (-np.pi, np.pi), "x2": (-np.pi, np.pi), "x3": (-np.pi, np.pi)}


def test_sobol_estimator_recovers_the_ishigami_indices():
    ds = analyse(ishigami, PI3, "sobol", n=4096, seed=1)
    np.testing.assert_allclose(ds["S1"].sel(output="y").values, ISHIGAMI_S1, atol=0.04)
    np.testing.assert_allclose(ds["ST"].sel(output="y").values, ISHIGAMI_ST, atol=0.04)
    assert ds["S1"].dims == ("parameter", "output") and ds.attrs["sets"] == 4096 * 5
    for name in ds.data_vars:
        assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]


def test_morris_gives_zero_effect_to_an_unused_input():
    def linear(X):
        return {"y": 3.0 * X[:, 0] - 1.0 * X[:, 1]}  # x3 unused; |dy/dx1| = 3 |dy/dx2|

    ds = analyse(linear, PI3, "morris", n=10, seed=2)
    mu = ds["mu_star"].sel(output="y").values
    assert mu[2] == 0.0 and ds["sigma"].sel(output="y").values[0] == pytest.approx(0.0, abs=1e-12)
    assert mu[0] / mu[1] == pytest.approx(3.0)


@pytest.fixture(scope="module")
def model_indices():
    run = dataclasses.replace(presets.experiment("shi2022_high_dose"), output_step_h=6.0)
    ranges = {
        "microglia.activation_rate_per_h": (0.2, 2.0),
        "spines__homeostatic_gain": (0.5, 2.0),
        "cognition.nor_deficit_at_chance": (0.1, 0.4),
    }
    return sobol(run, ranges, n=32, seed=3, progress=False)


def test_a_readout_parameter_cannot_drive_spine_loss(model_indices):
    ds = model_indices
    for output in ("peak_spine_loss", "time_to_recovery"):
        st = ds["ST"].sel(output=output, parameter="cognition.nor_deficit_at_chance")
        assert abs(float(st)) < 1e-12  # cognition reads spine density; it never changes it
    assert float(ds["ST"].sel(output="memory_deficit", parameter="cognition.nor_deficit_at_chance")) > float(
        ds["ST_conf"].sel(output="memory_deficit", parameter="cognition.nor_deficit_at_chance")
    )


def test_activation_rate_drives_peak_loss_first(model_indices):
    (first, st), *_ = ranking(model_indices, "peak_spine_loss")
    assert first == "microglia.activation_rate_per_h" and st > 0.3
    # the homeostatic gain acts after the loss: it drives the time to recovery more than the peak
    gain = model_indices["ST"].sel(parameter="spines.homeostatic_gain")
    assert float(gain.sel(output="time_to_recovery")) > float(gain.sel(output="peak_spine_loss"))
    assert model_indices.attrs["ranges_source"] == "stated ranges"
    assert "independent uniform" in model_indices.attrs["ranges_note"]


def test_posterior_ranges_are_inner_quantiles_of_the_draws():
    ranges = posterior_ranges()
    assert set(ranges) == {
        "microglia.activation_rate_per_h",
        "spines.elimination_per_day",
        "spines.homeostatic_gain",
        "microglia.stimulus_hill",
    }
    for low, high in ranges.values():
        assert 0 < low < high


def test_bad_input_is_refused_before_running():
    run = presets.experiment("shi2022_high_dose")
    with pytest.raises(ConfigError, match=r"ranges\['spines.homeostatic_gain'\] = \(2.0, 1.0\) is not allowed"):
        sobol(run, {"spines.homeostatic_gain": (2.0, 1.0)}, n=8)
    with pytest.raises(ConfigError, match="n = 12 is not allowed for sobol: it must be a power of 2"):
        sobol(run, {"spines.homeostatic_gain": (1.0, 2.0)}, n=12)
    with pytest.raises(ConfigError, match="ranges = 'prior' is not allowed"):
        morris(run, "prior")
    with pytest.raises(ConfigError, match="cognition has no field 'typo'"):
        sobol(run, {"cognition.typo": (1.0, 2.0)}, n=8)
    with pytest.raises(ConfigError, match="the posterior .* was fitted with"):
        sobol(presets.experiment("shi2022_high_dose_hippocampus"), "posterior", n=8)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["experiment=nope"], "experiment = 'nope' is not allowed"),
        (["experiment=shi2022_high_dose", "method=fast"], "method = 'fast' is not allowed"),
        (["experiment=shi2022_high_dose", "n=abc"], "n = 'abc' is not allowed"),
        (["experiment=shi2022_high_dose", "ranges=prior"], "ranges = 'prior' is not allowed"),
        (["experiment=shi2022_low_dose_hippocampus"], "the posterior"),
        (["method=sobol"], "experiment is missing"),
    ],
)
def test_cli_refuses_bad_input_with_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main([*argv, f"output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_writes_result_and_figure(tmp_path):
    assert main(["experiment=shi2022_high_dose", "method=morris", "n=2", f"output_dir={tmp_path}"]) == 0
    ds = open_result(tmp_path / "sensitivity.nc")
    assert ds["mu_star"].dims == ("parameter", "output") and ds.attrs["method"] == "morris"
    assert ds.attrs["ranges_source"].startswith("posterior")
    assert (tmp_path / "sensitivity.png").stat().st_size > 1000
