"""sim.sweep: many simulations as one Dataset, checked against one sim.simulate per set."""

from __future__ import annotations

import dataclasses
import importlib
import json

import numpy as np
import pytest

import sim
from sim import presets
from sim.core.params import ConfigError

RATE = "microglia.activation_rate_per_h"
GAIN = "microglia.engulfment_gain"

#: The module (``sim.sweep`` is the function, which shadows the module as an attribute of ``sim``).
sweep_module = importlib.import_module("sim.sweep")


def _relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def _reference(model: sim.PruningModel, duration_days: float, output_step_h: float) -> np.ndarray:
    ds = sim.simulate(model, duration_days=duration_days, output_step_h=output_step_h)
    return ds["spine_density_relative"].values


def test_day7_loss_of_1000_downstream_sets_in_one_batch_matches_simulate_per_set():
    base = sim.PruningModel()
    rng = np.random.default_rng(11)
    factor = np.exp(rng.uniform(-np.log(2.0), np.log(2.0), (2, 1000)))  # log-uniform x/÷ 2
    rates = base.microglia.activation_rate_per_h * factor[0]
    gains = base.microglia.engulfment_gain * factor[1]
    ds = sim.sweep(base, {RATE: rates, GAIN: gains}, mode="zip", duration_days=7, output_step_h=6, progress=False)
    assert ds["spine_density_relative"].dims == ("sample", "time")
    assert ds.attrs["sweep_groups"] == 1  # downstream-only sets share one batch (PK integrated once)
    loss = 100.0 - ds["spine_density_relative"].sel(time=7.0)
    assert loss.sizes["sample"] == 1000 and np.all(np.isfinite(loss))
    assert float(loss.max() - loss.min()) > 5.0  # the sets differ, so the spot checks can tell them apart
    np.testing.assert_allclose(ds[sweep_module.dimension_name(RATE)].values, rates)
    for i in (0, 417, int(np.argmax(loss.values)), int(np.argmin(loss.values))):
        microglia = dataclasses.replace(
            base.microglia, activation_rate_per_h=float(rates[i]), engulfment_gain=float(gains[i])
        )
        reference = _reference(dataclasses.replace(base, microglia=microglia), 7, 6)
        assert _relative_error(ds["spine_density_relative"].isel(sample=i).values, reference) <= 1e-4


def test_drug_dose_genotype_grid_outer_joins_compounds_and_tspo_ko_stays_at_baseline():
    values = {"drug": ["diazepam", "xbd173"], "regimen.dose_mg_per_kg": [1.0, 5.0], "genotype": ["wt", "tspo_ko"]}
    ds = sim.sweep(sim.PruningModel(), values, duration_days=14, progress=False)
    assert dict(ds["spine_density_relative"].sizes) == {"drug": 2, "dose": 2, "genotype": 2, "time": 14 * 24 + 1}
    diazepam = set(sim.PruningModel().pk.names)
    assert set(ds["compound"].values) == diazepam | {"xbd173"}
    brain = ds["brain_concentration"].sel(time=slice(0.1, None))
    assert np.all(np.isnan(brain.sel(drug="xbd173", compound=sorted(diazepam))))
    assert np.all(np.isnan(brain.sel(drug="diazepam", compound="xbd173")))
    for drug in ("xbd173", "diazepam"):  # present compounds: numbers everywhere, drug in the brain
        assert (
            np.all(np.isfinite(brain.sel(drug=drug, compound=drug)))
            and float(brain.sel(drug=drug, compound=drug).max()) > 0
        )
    density = ds["spine_density_relative"]
    np.testing.assert_allclose(density.sel(genotype="tspo_ko"), 100.0, atol=1e-6)
    assert float(density.sel(drug="diazepam", dose=5.0, genotype="wt").min()) < 95.0
    for drug, dose, genotype in (("xbd173", 5.0, "wt"), ("diazepam", 1.0, "wt"), ("diazepam", 5.0, "tspo_ko")):
        model = presets.model(drug=drug, genotype=genotype, regimen={"dose_mg_per_kg": dose})
        member = density.sel(drug=drug, dose=dose, genotype=genotype).values
        assert _relative_error(member, _reference(model, 14, 1)) <= 1e-4


def test_product_and_zip_give_the_same_numbers_for_the_same_sets():
    rates, gains = [0.11, 0.23], [0.7, 1.3, 2.9]
    product = sim.sweep(sim.PruningModel(), {RATE: rates, GAIN: gains}, duration_days=10, progress=False)
    pairs = [(r, g) for r in rates for g in gains]
    zipped = sim.sweep(
        sim.PruningModel(), {RATE: [p[0] for p in pairs], GAIN: [p[1] for p in pairs]}, mode="zip",
        duration_days=10, progress=False,
    )  # fmt: skip
    for i, (r, g) in enumerate(pairs):
        a = product["spine_density_relative"].sel(
            {"microglia__activation_rate_per_h": r, "microglia__engulfment_gain": g}
        )
        np.testing.assert_allclose(a.values, zipped["spine_density_relative"].isel(sample=i).values, rtol=1e-10)
    assert len(np.unique(product["spine_density_relative"].isel(time=-100).values)) == 6


@pytest.mark.parametrize("rates", [[0.11, 0.23, 0.47], [0.23, 0.23]])  # one batch; one set run once (ODE engine)
def test_variables_returns_only_those_outputs_with_the_same_numbers(rates):
    names = ["spine_density_relative", "tspo_agonism", "brain_concentration"]
    kwargs = {"mode": "zip", "duration_days": 10, "output_step_h": 6, "progress": False}
    full = sim.sweep(sim.PruningModel(), {RATE: rates}, **kwargs)
    only = sim.sweep(sim.PruningModel(), {RATE: rates}, variables=names, **kwargs)
    assert list(only.data_vars) == names
    for name in names:
        assert only[name].dims == full[name].dims and only[name].attrs == full[name].attrs
        np.testing.assert_array_equal(only[name].values, full[name].values)
    with pytest.raises(ConfigError, match="spine_densty"):
        sim.sweep(sim.PruningModel(), {RATE: rates}, variables=["spine_densty"], **kwargs)


def test_dimension_names_attributes_and_provenance():
    values = {RATE: list(np.array([0.2, 0.4])), "regimen.dose_mg_per_kg": [2.0, 5.0], "regimen.stop_day": [3.0, 7.0]}
    ds = sim.sweep(sim.PruningModel(), values, duration_days=10, output_step_h=12, progress=False)
    assert ds["spine_density_relative"].dims == ("microglia__activation_rate_per_h", "dose", "withdrawal_time", "time")
    rate = ds["microglia__activation_rate_per_h"]
    assert rate.attrs["config_key"] == RATE and rate.attrs["units"] and rate.attrs["long_name"]
    cli = sim.simulate(sim.PruningModel(), duration_days=10, output_step_h=12, sweep=True)  # how CLI runs name them
    for name, key in (("dose", "regimen.dose_mg_per_kg"), ("withdrawal_time", "regimen.stop_day")):
        assert name in cli.dims
        assert ds[name].attrs["units"] == cli[name].attrs["units"]
        assert ds[name].attrs["config_key"] == key
    for name in ds.data_vars:
        assert ds[name].attrs["units"] is not None and ds[name].attrs["long_name"]
    assert json.loads(ds.attrs["sweep_values"]) == values and ds.attrs["sweep_mode"] == "product"
    for attr in ("sim_version", "git_commit", "config", "seed"):
        assert attr in ds.attrs
    assert "microglia:" in ds.attrs["config"]
    # later withdrawal prolongs the loss: the grid is not a copy of one member
    later = ds["spine_density_relative"].sel(microglia__activation_rate_per_h=0.4, dose=5.0, time=9.0)
    assert float(later.sel(withdrawal_time=7.0)) < float(later.sel(withdrawal_time=3.0))


def test_group_option_keys_run_per_group_and_match_the_composed_configuration():
    ds = sim.sweep(sim.PruningModel(), {"microglia": ["default", "adaptive"]}, duration_days=7, progress=False)
    assert ds["microglia"].attrs["config_key"] == "microglia" and ds.attrs["sweep_groups"] == 2
    run = presets.from_overrides(["experiment=shi2022_high_dose", "microglia=adaptive"])
    reference = _reference(run.model(), 7, 1)
    assert _relative_error(ds["spine_density_relative"].sel(microglia="adaptive").values, reference) <= 1e-4


def test_list_fields_sweep_with_their_json_text_as_coordinate():
    days = [[0.0, 1.0], [0.0, 2.0, 4.0]]
    ds = sim.sweep(sim.PruningModel(), {"regimen.dose_days": days}, duration_days=8, progress=False)
    assert list(ds["regimen__dose_days"].values) == ["[0.0, 1.0]", "[0.0, 2.0, 4.0]"]
    cumulative = ds["cumulative_dose"].sel(time=7.0).values
    np.testing.assert_allclose(cumulative, [2 * 5.0, 3 * 5.0])  # 5 mg/kg per listed day


@pytest.mark.parametrize(
    ("values", "kwargs", "words"),
    [
        ({"microglia.nonsense": [1.0]}, {}, ["microglia.nonsense", "nonsense", "activation_rate_per_h"]),
        ({"regimen.dose_mg_per_kg": ["a"]}, {}, ["regimen.dose_mg_per_kg", "'a'", "a number"]),
        ({"drug": ["nope"]}, {}, ["drug", "'nope'", "diazepam", "xbd173"]),
        ({RATE: []}, {}, [RATE, "[]", "at least one value"]),
        ({RATE: "0.3"}, {}, [RATE, "'0.3'", "list"]),
        ({RATE: [0.1, 0.2], GAIN: [1.0]}, {"mode": "zip"}, [RATE, GAIN, "2", "1", "different lengths"]),
        ({RATE: [0.1]}, {"mode": "grid"}, ["mode", "'grid'", "product", "zip"]),
        ({"duration_days": [7.0]}, {}, ["duration_days", "stage group"]),
        ({RATE: [-1.0]}, {}, [RATE, "-1"]),
        ({}, {}, ["non-empty"]),
    ],
)
def test_bad_input_is_refused_before_anything_runs(monkeypatch, values, kwargs, words):
    def fail(*args, **kwargs):
        raise AssertionError("a simulation ran before the input was checked")

    monkeypatch.setattr(sweep_module, "_run_group", fail)
    with pytest.raises(ConfigError) as error:
        sim.sweep(sim.PruningModel(), values, progress=False, **kwargs)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_a_sweep_larger_than_the_memory_limit_is_refused_with_the_estimate(monkeypatch):
    monkeypatch.setattr(sweep_module, "_run_group", lambda *a: pytest.fail("ran before the memory check"))
    run = dataclasses.replace(presets.from_overrides([]), memory_limit_gib=0.01)
    with pytest.raises(ConfigError, match=r"needs about [0-9.]+ GiB .*memory_limit_gib = 0.01") as error:
        sim.sweep(run, {RATE: np.linspace(0.1, 0.5, 50), GAIN: np.linspace(0.5, 2.0, 50)}, progress=False)
    assert "2500 sets" in str(error.value)


def test_combining_cli_results_of_different_drugs_names_the_difference_and_points_to_sweep(tmp_path):
    paths = []
    for drug in ("diazepam", "xbd173"):
        ds = sim.simulate(presets.model(drug=drug), duration_days=2, output_step_h=24, sweep=True)
        paths.append(sim.io.save_dataset(ds, tmp_path / f"{drug}.nc"))
    with pytest.raises(ConfigError, match=r"differ in drug.*sim\.sweep"):
        sim.io.combine_results(paths)
