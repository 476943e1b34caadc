"""Translation from the calibrated mouse (issue 14, item 4): microglia.response_scale, spines.turnover_scale, the
``translation`` group, human runs over posterior x translation draws, and the exposure bridge."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr
from conftest import DATA

import sim
from sim import presets
from sim.core.params import ConfigError
from sim.engines.batch import BatchEngine
from sim.io import open_result, save_dataset
from sim.microglia import stimulus
from sim.run import simulate_model
from sim.uncertainty import BRIDGE_ARMS, DISCLAIMER, exposure_bridge, occupancy_time

HUMAN = ["species=human", "regimen=human_daily_oral", "regimen.dose_mg=10"]


def _with(run, response_scale=1.0, turnover_scale=1.0):
    return dataclasses.replace(
        run,
        microglia=dataclasses.replace(run.microglia, response_scale=response_scale),
        spines=dataclasses.replace(run.spines, turnover_scale=turnover_scale),
    )


# ---------------------------------------------------------------------------------------------- defaults unchanged
def test_default_scales_reproduce_the_golden_run_made_before_they_existed():
    golden = open_result(DATA / "golden_high_dose.nc")  # written before the translation parameters were added
    overrides = golden.attrs["golden_overrides"].split() + ["microglia.response_scale=1", "spines.turnover_scale=1"]
    ds = sim.simulate(sim.load_config(overrides))
    assert "draw" not in ds.dims and "disclaimer" not in ds.attrs  # a mouse run stays one run
    xr.testing.assert_allclose(ds[list(golden.data_vars)], golden, rtol=1e-6, atol=1e-10)


def test_unit_response_scale_is_the_old_stimulus_to_the_bit():
    model = presets.model()
    record = model.microglia.record(model)
    agonism = np.geomspace(1e-4, 2.0, 57)
    hill, ec50 = record.stimulus_hill, record.stimulus_ec50
    old = agonism**hill / (agonism**hill + ec50**hill)  # the stimulus as written before response_scale (T^0 r = 1)
    assert stimulus(record, agonism, 1.0).tobytes() == old.tobytes()
    halved = stimulus(record._replace(response_scale=0.37), agonism, 1.0)
    np.testing.assert_allclose(halved, 0.37 * old, rtol=1e-15)


# ---------------------------------------------------------------------------------------------- directions
@pytest.fixture(scope="module")
def high_dose():
    return presets.experiment("shi2022_high_dose", ["duration_days=35", "output_step_h=6"])


def _loss_and_recovery(ds):
    density, days = ds.spine_density_relative.values, ds.time.values
    low = density.min()
    assert days[density.argmin()] > 7.0  # the minimum lies after the last dose (day 7)
    return 100.0 - low, (density[-1] - low) / (100.0 - low)  # loss [%], fraction of it recovered by day 35


def test_smaller_response_loses_fewer_spines(high_dose):
    loss, _ = _loss_and_recovery(sim.simulate(high_dose))
    weak, _ = _loss_and_recovery(sim.simulate(_with(high_dose, response_scale=0.35)))
    assert loss > 10.0 and weak < 0.7 * loss


def test_slower_turnover_recovers_more_slowly(high_dose):
    _, recovered = _loss_and_recovery(sim.simulate(high_dose))
    _, slow = _loss_and_recovery(sim.simulate(_with(high_dose, turnover_scale=0.4)))
    assert recovered > 0.5 and slow < 0.7 * recovered


def test_turnover_scale_keeps_the_baseline_and_scales_every_drug_free_rate():
    fast, slow = presets.model().spines, dataclasses.replace(presets.model().spines, turnover_scale=0.23)
    np.testing.assert_allclose(slow.initial_state().sum(), fast.initial_state().sum(), rtol=1e-12)  # same baseline
    for name in ("max_formation_rate", "intrinsic_elimination_rate", "baseline_tagged_density"):
        np.testing.assert_allclose(getattr(slow, name), 0.23 * getattr(fast, name), rtol=1e-12, err_msg=name)


def test_ode_and_batch_engines_honour_both_scales_identically(high_dose):
    run = dataclasses.replace(high_dose, duration_days=14.0)
    values = {"microglia.response_scale": [0.35, 0.8, 1.0], "spines.turnover_scale": [0.45, 1.0, 0.15]}
    batch = BatchEngine().simulate(run.model(), run.times_h(), values, variables=["spine_density_relative"])
    curves = []
    for i in range(3):
        one = _with(run, values["microglia.response_scale"][i], values["spines.turnover_scale"][i])
        expected = simulate_model(one.model(), run.times_h()).spine_density_relative.values
        np.testing.assert_allclose(batch.spine_density_relative.values[i], expected, rtol=1e-4)
        curves.append(expected)
    assert min(np.abs(curves[i] - curves[j]).max() for i, j in ((0, 1), (0, 2), (1, 2))) > 0.1  # all distinct


# ---------------------------------------------------------------------------------------------- human runs
@pytest.fixture(scope="module")
def human():
    run = presets.from_overrides([*HUMAN, "duration_days=14", "uncertainty.draws=20", "seed=3"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the species caveat
        return sim.simulate(run)


def test_a_human_run_is_a_band_over_posterior_and_translation_draws(human):
    assert human.sizes["draw"] == 20 and human.spine_density_relative.dims == ("draw", "time")
    width = human.spine_density_relative_q95 - human.spine_density_relative_q05
    assert float(width.isel(time=-1)) > 0.0
    scale, turnover = human.microglia__response_scale.values, human.spines__turnover_scale.values
    assert 0.1 <= scale.min() and scale.max() <= 1.0 and np.unique(scale).size == 20
    assert 0.02 <= turnover.min() and turnover.max() <= 0.3 and np.unique(turnover).size == 20
    assert human.attrs["translation_parameters"] == "microglia.response_scale spines.turnover_scale"
    assert "microglia.activation_rate_per_h" in human.attrs["posterior_parameters"]
    assert json.loads(human.attrs["translation_fixed"])["microglia.tspo_induction_fold"]["value"] == 1.0  # [owen2017]
    assert human.attrs["disclaimer"] == DISCLAIMER and "mouse microglia" in human.attrs["band"]


def test_human_outputs_and_bridge_have_units_and_are_written(human, tmp_path):
    for name in ("tspo_occupancy_time", "tspo_occupancy_time_per_dosing_day", "tspo_occupancy_time_relative"):
        assert human[name].attrs["units"] and human[name].attrs["long_name"], name
    assert human.tspo_occupancy_time.attrs["units"] == "h"
    assert list(human.mouse_arm.values) == list(BRIDGE_ARMS)
    back = open_result(save_dataset(human, tmp_path / "human.nc"))
    assert back.attrs["disclaimer"] == DISCLAIMER and back.sizes["draw"] == 20


def test_translation_none_is_one_line_that_says_so():
    run = presets.from_overrides([*HUMAN, "duration_days=3", "translation=none"])
    assert run.microglia.tspo_induction_fold == 2.0  # no translation: the mouse stage as it is
    with pytest.warns(UserWarning, match="translation = none"):
        ds = sim.simulate(run)
    assert (
        "draw" not in ds.dims and ds.attrs["disclaimer"] == DISCLAIMER and "not a prediction" in ds.attrs["translation"]
    )


# ---------------------------------------------------------------------------------------------- exposure bridge
def test_the_high_dose_arm_relative_to_itself_is_exactly_one():
    bridge = exposure_bridge(presets.experiment("shi2022_high_dose"))
    assert float(bridge.tspo_occupancy_time_relative.sel(mouse_arm="shi2022_high_dose")) == 1.0
    assert float(bridge.tspo_occupancy_time_per_dosing_day_relative.sel(mouse_arm="shi2022_high_dose")) == 1.0
    total, days = occupancy_time(presets.experiment("shi2022_low_dose"))
    assert days == 56.0 and total > 0.0


def test_occupancy_time_scales_linearly_with_dose_far_from_saturation():
    # human diazepam is far from TSPO saturation (peak occupancy a few %): 3x the dose gives 3x the occupancy-time,
    # less only by the saturation term r/(1 + r) ~ r (1 - occupancy): between 3 (1 - peak occupancy) and 3
    low = presets.from_overrides(
        ["species=human", "regimen=human_daily_oral", "regimen.dose_mg=0.5", "duration_days=14"]
    )
    high = dataclasses.replace(low, regimen=dataclasses.replace(low.regimen, dose_mg=1.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        peak = float(
            sim.simulate(
                dataclasses.replace(high, translation=dataclasses.replace(high.translation, name="none"))
            ).tspo_occupancy.max()
        )
    ratio = occupancy_time(high)[0] / occupancy_time(low)[0]
    assert peak < 0.05
    assert 3.0 * (1.0 - peak) <= ratio < 3.0


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["translation=rat"], "translation = 'rat' is not allowed with species = 'human'"),
        (["translation.ranges.spines__turnover_scale.low=-1"], "a log-uniform range needs low > 0"),
        (["translation.ranges.spines__turnover_scale.distribution=normal"], "choose one of uniform, log-uniform"),
        (["engine=agents"], "engine = 'agents' is not allowed with translation = 'human'"),
    ],
)
def test_bad_translation_input_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        presets.from_overrides([*HUMAN, *overrides])


def test_bad_translation_on_the_command_line_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", *HUMAN, "translation=rat", f"hydra.run.dir={out}"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": "1"}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [
        "synaprune: error: translation = 'rat' is not allowed with species = 'human': use translation=human (the "
        "default) or translation=none"
    ]
    assert not out.exists()
