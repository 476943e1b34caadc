"""RunConfig, simulate/simulate_model, and golden ODE runs (tests/data/*.nc).

Golden runs pin every microglia, spine and cognition value on the command line and use ``calibration=none``, so
recalibration does not touch them; a change to the model's structure or to configs/compound*/pk does. After an
intended change, regenerate with ``pytest tests/test_run.py --update-golden`` and commit the new files.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr
from conftest import DATA

import sim
from sim.config import compose_config, to_run_config
from sim.io import open_result, save_dataset

PINNED = [
    "calibration=none",
    "microglia.activation_rate_per_h=0.5",
    "microglia.deactivation_half_life_h=24",
    "microglia.stimulus_ec50=0.5",
    "microglia.stimulus_hill=2",
    "microglia.tspo_receptor_coupling=0.5",
    "microglia.tspo_half_life_h=24",
    "microglia.c1q_half_life_h=24",
    "microglia.c1q_gain=6",
    "microglia.engulfment_gain=6",
    "spines.baseline_density_per_um=0.45",
    "spines.elimination_per_day=0.025",
    "spines.microglial_share=0.3",
    "spines.tagged_dwell_h=24",
    "spines.homeostatic_gain=1",
    "spines.baseline_formation_suppression=0.3",
    "spines.activated_formation_suppression=0.5",
    "cognition.nor_baseline_index=0.3",
    "cognition.nor_deficit_at_chance=0.2",
    "cognition.alternation_baseline_percent=70",
    "cognition.alternation_chance_percent=50",
    "cognition.alternation_deficit_at_chance=1",
    "cognition.max_sedation=0.5",
    "microglia.tspo_induction_fold=9",
    "output_step_h=6",
]
GOLDEN = {
    "golden_high_dose": ["experiment=shi2022_high_dose", "duration_days=21"],
    "golden_drinking_water": ["regimen=drinking_water", "regimen.dose_mg_per_kg=10", "duration_days=14"],
}
GOLDEN_RTOL, GOLDEN_ATOL = 1e-6, 1e-10  # solver rtol 1e-8: platform differences stay far below this


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_ode_run(name, update_golden):
    overrides = GOLDEN[name] + PINNED
    ds = sim.simulate(sim.load_config(overrides))
    path = DATA / f"{name}.nc"
    if update_golden:
        stored = ds.copy()
        stored.attrs = {"golden_overrides": " ".join(overrides), "sim_version": ds.attrs["sim_version"]}
        save_dataset(stored, path)
    assert path.is_file(), f"{path} is missing: run pytest --update-golden"
    golden = open_result(path)
    assert golden.attrs["golden_overrides"] == " ".join(overrides), "overrides changed: run pytest --update-golden"
    missing = set(golden.data_vars) - set(ds.data_vars)
    assert not missing, f"outputs {missing} disappeared"
    xr.testing.assert_allclose(ds[list(golden.data_vars)], golden, rtol=GOLDEN_RTOL, atol=GOLDEN_ATOL)
    for name_ in golden.data_vars:
        assert ds[name_].attrs["units"] == golden[name_].attrs["units"], name_


def test_golden_run_is_not_trivial():
    golden = open_result(DATA / "golden_high_dose.nc")
    assert float(golden.spine_density_relative.min()) < 99.0
    assert float(golden.microglia_activation.max()) > 0.01


# ---------------------------------------------------------------------- RunConfig
def test_output_grid_includes_the_end():
    run = sim.RunConfig(duration_days=1.0, output_step_h=5.0)
    np.testing.assert_array_equal(run.times_h(), [0.0, 5.0, 10.0, 15.0, 20.0, 24.0])
    np.testing.assert_array_equal(sim.RunConfig(duration_days=1.0, output_step_h=6.0).times_h(), [0, 6, 12, 18, 24])
    grid = sim.RunConfig(duration_days=70.0, output_step_h=0.1).times_h()
    assert grid[-1] == 70 * 24.0 and np.all(np.diff(grid) > 0)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"duration_days": 0.0}, "duration_days"),
        ({"output_step_h": -1.0}, "output_step_h"),
        ({"duration_days": 1.0, "output_step_h": 48.0}, "output_step_h"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
    ],
)
def test_invalid_run_config(kwargs, key):
    with pytest.raises(sim.ConfigError, match=key):
        sim.RunConfig(**kwargs)


def test_model_from_run_config_uses_its_stages():
    run = sim.RunConfig(genotype=sim.Genotype(name="tspo_ko", tspo_expression=0.0))
    assert run.model().genotype.name == "tspo_ko"


def test_simulate_refuses_a_composed_hydra_config_with_a_hint():
    cfg = compose_config(["experiment=shi2022_high_dose", "debug=smoke"])
    with pytest.raises(TypeError, match="to_run_config"):
        sim.simulate(cfg)
    from_run = sim.simulate(to_run_config(cfg))
    assert from_run.attrs["experiment"] == "shi2022_high_dose"


def test_run_settings_belong_to_the_run_config():
    run = sim.presets.experiment("shi2022_high_dose", ["debug=smoke"])
    with pytest.raises(TypeError, match="duration_days"):
        sim.simulate(run, duration_days=3.0)


def test_model_keywords_set_the_run():
    ds = sim.simulate(sim.PruningModel(), duration_days=2.0, output_step_h=6.0)
    np.testing.assert_allclose(ds.time, np.arange(0.0, 2.01, 0.25))


def test_simulate_model_without_hydra(model):
    ds = sim.simulate_model(model, np.arange(0.0, 49.0, 1.0))
    assert ds.time.attrs["units"] == "d" and float(ds.time[-1]) == 2.0
    assert ds.attrs["drug"] == "diazepam" and ds.attrs["route"] == "ip"
    assert ds.attrs["dosing_start_day"] == 0.0 and ds.attrs["dosing_stop_day"] == 7.0
    assert ds.spine_density.dims == ("time",)
    assert ds.plasma_concentration.dims == ("compound", "time")


def test_same_seed_same_result(model):
    t = np.arange(0.0, 49.0, 6.0)
    a, b = sim.simulate_model(model, t, seed=3), sim.simulate_model(model, t, seed=3)
    for ds in (a, b):  # the history attribute is a wall-clock timestamp (provenance, not the result)
        del ds.attrs["history"]
    xr.testing.assert_identical(a, b)


def test_run_config_dataclass_fields_are_documented():
    documented = {row["name"] for row in sim.core.params.parameter_table(sim.RunConfig)}
    stages = set(sim.core.stage.GROUPS) | {"engine"}  # every stage group, and the engine
    assert {f.name for f in dataclasses.fields(sim.RunConfig)} == documented | stages


def test_non_mouse_species_carry_an_extrapolation_caveat():
    cfg = sim.load_config(["species=human", "regimen=human_daily_oral", "debug=smoke"])
    with pytest.warns(UserWarning, match="extrapolations"):
        ds = sim.simulate(cfg)
    assert "extrapolations" in ds.attrs["caveat"]
    assert "caveat" not in sim.simulate(sim.load_config(["debug=smoke"])).attrs
