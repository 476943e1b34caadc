"""Batch engine (sim.engines.batch) against the ODE engine, one parameter set at a time."""

from __future__ import annotations

import numpy as np
import pytest

from sim import presets
from sim.core.params import ConfigError
from sim.engines.batch import BatchEngine, downstream_groups, kernel_source, models_for, stack_records, upstream
from sim.run import simulate_model

# Distinct perturbations of six downstream parameters (two stages), three sets. The Hill coefficients are below the
# calibrated one so that the low dose prunes visibly too (the comparison is then not of flat lines).
VALUES = {
    "microglia.stimulus_hill": [1.3, 2.1, 1.7],
    "microglia.activation_rate_per_h": [0.21, 0.83, 3.7],
    "microglia.c1q_gain": [4.3, 6.9, 5.2],
    "spines.elimination_per_day": [0.019, 0.031, 0.026],
    "spines.homeostatic_gain": [0.62, 1.45, 2.3],
    "spines.tagged_dwell_h": [17.0, 29.0, 22.0],
}


def _arm(name: str, step_h: float = 2.0):
    cfg = presets.from_overrides([f"experiment={name}", f"output_step_h={step_h}"])
    return cfg.model(), cfg.times_h()


@pytest.mark.parametrize("arm", ["shi2022_high_dose", "shi2022_low_dose"])
def test_batch_matches_the_ode_engine_for_distinct_parameter_sets(arm):
    model, times = _arm(arm)
    relative, _ = BatchEngine().spine_density_relative(model, times, VALUES)
    for i, m in enumerate(models_for(model, VALUES)):
        reference = simulate_model(m, times)["spine_density_relative"].values
        assert np.max(np.abs(relative[i] - reference) / reference) < 1e-4, i
        assert reference.min() < 97.0  # the sets really prune: the comparison is not of flat lines
    # the sets differ from one another, so a mix-up of sets would be seen
    assert np.min(np.abs(np.diff(relative.min(axis=1)))) > 0.5


def test_drug_free_arm_stays_at_baseline():
    model, times = _arm("vehicle", 6.0)
    relative, _ = BatchEngine().spine_density_relative(model, times, VALUES)
    np.testing.assert_allclose(relative, 100.0, rtol=0, atol=1e-9)


def test_dataset_has_draw_dimension_units_and_the_set_values():
    model, times = _arm("shi2022_high_dose", 24.0)
    ds = BatchEngine().simulate(model, times, VALUES)
    assert ds["spine_density_relative"].dims == ("draw", "time")
    assert ds.sizes["draw"] == 3
    for name, variable in ds.variables.items():
        if name not in ("draw", "compound"):
            assert variable.attrs.get("units") is not None and variable.attrs.get("long_name"), name
    np.testing.assert_array_equal(ds["spines__homeostatic_gain"].values, VALUES["spines.homeostatic_gain"])
    assert ds["spines__homeostatic_gain"].attrs["config_key"] == "spines.homeostatic_gain"
    # upstream outputs are shared by all sets; downstream ones are not
    assert np.ptp(ds["tspo_agonism"].values, axis=0).max() == 0.0
    assert np.ptp(ds["microglia_activation"].values, axis=0).max() > 0.01


def test_kernel_wires_the_stage_functions_of_the_model():
    model, _ = _arm("shi2022_high_dose", 24.0)
    source = kernel_source(model)
    for stage in model.chain:
        assert f"import {type(stage).rhs.__name__} as" in source
    assert downstream_groups(model) == ("stress", "microglia", "spines")
    n_down = sum(len(getattr(model, g).state_names) for g in downstream_groups(model))
    assert f"y[{n_down - len(model.spines.state_names)}:{n_down}]" in source


def test_refused_sets_raise_or_give_nan():
    model, times = _arm("shi2022_high_dose", 24.0)
    bad = {"spines.elimination_per_day": [0.025, -1.0]}
    with pytest.raises(ConfigError, match="elimination_per_day"):
        BatchEngine().integrate(model, times, bad)
    relative, _ = BatchEngine().spine_density_relative(model, times, bad, invalid="none")
    assert np.all(np.isnan(relative[1])) and np.all(np.isfinite(relative[0]))
    with pytest.raises(ConfigError, match="pk.dosed"):
        models_for(model, {"pk.dosed": [1.0]})
    with pytest.raises(ConfigError, match="no field 'nonsense'"):
        models_for(model, {"spines.nonsense": [1.0]})


def test_shared_upstream_is_reused_unchanged():
    model, times = _arm("shi2022_high_dose", 24.0)
    up = upstream(model, times)
    engine = BatchEngine()
    a, _ = engine.spine_density_relative(model, times, VALUES, up)
    b, _ = engine.spine_density_relative(model, times, VALUES)
    np.testing.assert_array_equal(a, b)


def test_batch_dataset_equals_simulate_model_variable_by_variable():
    model, times = _arm("shi2022_high_dose", 6.0)
    ds = BatchEngine().simulate(model, times, VALUES)
    for i, m in enumerate(models_for(model, VALUES)):
        reference = simulate_model(m, times)
        assert set(reference.data_vars) <= set(ds.data_vars)
        for name, expected in reference.data_vars.items():
            got = ds[name].isel(draw=i)
            assert got.dims == expected.dims and got.attrs == expected.attrs, name
            # rtol 1e-4 as for spine density, and 1e-4 of the variable's largest value where it nears 0 (the
            # behavioural indices amplify the density difference of the two integrators, ~1e-5, as they near chance)
            scale = float(np.max(np.abs(expected.values)))
            np.testing.assert_allclose(got.values, expected.values, rtol=1e-4, atol=1e-4 * scale, err_msg=name)
    # the three sets differ in every downstream output, so a set read with another set's constants would be seen
    for name in ("spine_formation_rate", "spine_elimination_rate", "microglial_tspo", "c1q_level"):
        values = ds[name].values[:, 1:]
        assert np.max(np.ptp(values, axis=0)) > 0.01 * np.max(np.abs(values)), name


@pytest.mark.parametrize("overrides", [["spines=two_pool"], ["microglia=adaptive", "depletion=plx5622"]])
def test_vectorised_readouts_equal_each_sets_own_readouts(overrides):
    cfg = presets.from_overrides(["experiment=shi2022_high_dose", "output_step_h=12", *overrides])
    model, times = cfg.model(), cfg.times_h()
    values = dict(VALUES)
    if "spines=two_pool" in overrides:
        values["spines.persistent_half_life_days"] = [90.0, 150.0, 210.0]
    engine = BatchEngine()
    ds = engine.simulate(model, times, values)
    states, models, up = engine.integrate(model, times, values)
    for i, m in enumerate(models):
        own = m.readouts(up.times_h, np.concatenate([up.states, states[i]]))  # the single-run path, set by set
        assert set(own) == set(ds.data_vars) - {k.replace(".", "__") for k in values}
        for name, expected in own.items():
            np.testing.assert_allclose(ds[name].values[i], expected, rtol=1e-13, atol=0, err_msg=name)


def test_variables_selects_outputs_and_refuses_unknown_names():
    model, times = _arm("shi2022_high_dose", 24.0)
    engine = BatchEngine()
    ds = engine.simulate(model, times, VALUES, variables=["spine_density_relative", "tspo_agonism"])
    full = engine.simulate(model, times, VALUES)
    assert set(ds.data_vars) == {"spine_density_relative", "tspo_agonism", *(k.replace(".", "__") for k in VALUES)}
    np.testing.assert_array_equal(ds["spine_density_relative"].values, full["spine_density_relative"].values)
    for bad in (["spine_densty"], ["birth_time"], "spine_density", []):
        with pytest.raises(ConfigError, match="variables"):
            engine.simulate(model, times, VALUES, variables=bad)


def test_stack_records_keeps_shared_fields_and_gives_varying_ones_a_set_axis():
    model, _ = _arm("shi2022_high_dose", 24.0)
    records = [m.spines.record(m) for m in models_for(model, {"spines.homeostatic_gain": [0.5, 1.5]})]
    stacked = stack_records(records)
    assert stacked.baseline_density == records[0].baseline_density
    np.testing.assert_array_equal(stacked.homeostatic_gain, [[0.5], [1.5]])
