"""sim.checks: a run is refused before anything is allocated when its model, its dosing window or its size is wrong."""

from __future__ import annotations

import dataclasses
import tracemalloc

import pytest

import sim
from sim import ConfigError, DosingRegimen
from sim.checks import estimate_bytes


@pytest.fixture
def model():
    return sim.PruningModel()


@pytest.mark.parametrize(
    ("regimen", "key"),
    [
        ({"start_day": 100.0, "stop_day": 107.0}, "regimen.start_day = 100.0"),
        ({"dose_days": [1.0, 100.0, 200.0]}, r"regimen.dose_days\[1\] = 100.0"),
        ({"missed_doses": [2, 999]}, r"regimen.missed_doses\[1\] = 999 .* 7 administrations"),
        ({"missed_doses": [-1]}, r"regimen.missed_doses\[0\] = -1"),
    ],
)
def test_drug_outside_the_simulated_window_is_refused(model, regimen, key):
    model = dataclasses.replace(model, regimen=DosingRegimen(**{"dose_mg_per_kg": 5.0, **regimen}))
    with pytest.raises(ConfigError, match=key):
        sim.simulate(model)


def test_vehicle_starting_late_is_fine(model):
    vehicle = dataclasses.replace(model, regimen=DosingRegimen(dose_mg_per_kg=0.0, start_day=100.0, stop_day=107.0))
    assert float(sim.simulate(vehicle, duration_days=2.0).cumulative_dose[-1]) == 0.0


def test_a_model_changed_after_it_was_built_is_checked_again(model):
    model.regimen.dose_mg_per_kg = -5.0
    with pytest.raises(ConfigError, match=r"regimen.dose_mg_per_kg = -5.0 is not allowed"):
        sim.simulate(model)
    model.regimen.dose_mg_per_kg = 5.0
    model.microglia.c1q_half_life_h = 0.0
    with pytest.raises(ConfigError, match="microglia.c1q_half_life_h"):
        sim.simulate_model(model, [0.0, 1.0])


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"duration_days": 1e7}, "output times"),
        ({"duration_days": 1e308}, "inf output times"),
        ({"output_step_h": 1e-6}, "output times"),
        ({"engine": sim.AgentEngine(dt_h=1e-5)}, "agent steps"),
        ({"engine": sim.AgentEngine(segment_length_um=1e9)}, "spine sites"),
    ],
)
def test_runs_too_large_are_refused_before_allocating(model, settings, words):
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=f"GiB .*{words}.*memory_limit_gib = 4"):
            sim.simulate(model, **settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # refused from the estimate, not after trying


def test_a_tiny_dosing_interval_is_refused(model):
    model = dataclasses.replace(model, regimen=DosingRegimen(dose_mg_per_kg=5.0, interval_h=1e-6))
    with pytest.raises(ConfigError, match=r"regimen.interval_h = 1e-06 .* administrations"):
        sim.simulate(model)


def test_the_limit_is_configurable():
    run = sim.presets.experiment("shi2022_high_dose", ["memory_limit_gib=0.0001"])
    with pytest.raises(ConfigError, match="memory_limit_gib = 0.0001"):
        sim.simulate(run)


def test_the_estimate_bounds_the_real_output_size(model):
    ds = sim.simulate(model, duration_days=10.0, output_step_h=2.0)
    estimate, _ = estimate_bytes(model, sim.OdeEngine(), 10.0, ds.sizes["time"])
    actual = sum(v.nbytes for v in ds.data_vars.values())
    assert actual <= estimate <= 3 * actual


@pytest.mark.parametrize("dose", [2e6, 1e200])
def test_doses_beyond_the_solver_are_refused_even_when_allowed(model, dose):
    regimen = DosingRegimen(dose_mg_per_kg=dose, allow_implausible_dose=True)
    with pytest.raises(ConfigError, match="beyond what the solver can integrate"):
        sim.simulate(dataclasses.replace(model, regimen=regimen), duration_days=2.0)
