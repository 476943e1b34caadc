"""Posterior files and predictions (sim.posterior)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sim import presets, targets
from sim.core.params import ConfigError
from sim.engines.batch import models_for
from sim.io import save_dataset
from sim.posterior import (
    deficit_at,
    draws,
    first_recovered_day,
    load,
    max_deficit,
    phrase,
    predict,
    spans_no_to_large,
    variable_name,
)
from sim.run import simulate_model

SPEC = targets.VARIANTS[targets.DEFAULT_VARIANT]


def _posterior(keys=SPEC.keys, variant=SPEC.name, values=None) -> xr.Dataset:
    """A hand-made posterior: 2 chains x 2 draws of distinct values around the composed defaults."""
    model = presets.from_overrides(list(targets.ARMS["high_dose"])).model()
    data = {}
    for i, key in enumerate(keys):
        group, _, name = key.partition(".")
        base = float(getattr(getattr(model, group), name, 1.0))
        factors = np.array([[0.8, 1.1], [1.25, 0.95]]) ** (i + 1)
        data[variable_name(key)] = (("chain", "draw"), base * factors, {"units": "1", "config_key": key})
    return xr.Dataset(data, attrs={"variant": variant, "free_parameters": " ".join(keys)})


def test_a_file_with_other_free_parameters_is_refused_naming_both_sides(tmp_path):
    keys = (*SPEC.keys[1:], "microglia.c1q_gain")  # one key of the variant swapped for a parameter it does not fit
    path = save_dataset(_posterior(keys=keys), tmp_path / "other.nc")
    with pytest.raises(ConfigError) as error:
        load(path=path)
    message = str(error.value)
    assert "\n" not in message
    assert f"only in the file: microglia.c1q_gain; only in the variant: {SPEC.keys[0]}" in message
    with pytest.raises(ConfigError, match="variant = 'nope' is not allowed"):
        load("nope", path=path)
    with pytest.raises(ConfigError, match="does not exist"):
        load(path=tmp_path / "missing.nc")


def test_predict_gives_quantiles_of_the_readout_over_the_draws():
    ds = _posterior()
    times = np.arange(0.0, 70 * 24 + 1, 3.0)
    result = predict(
        list(targets.ARMS["high_dose"]),
        deficit_at(7.0),
        n_draws=None,
        posterior=ds,
        times_h=times,
        quantiles=(0.1, 0.5),
    )
    values = draws(ds)
    model = presets.from_overrides(list(targets.ARMS["high_dose"])).model()
    expected = [
        100.0 - np.interp(7.0, times / 24, simulate_model(m, times)["spine_density_relative"].values)
        for m in models_for(model, values)
    ]
    # batch vs ODE engine: <= 1e-4 relative on spine density (~90 % of baseline), i.e. < 9e-3 percentage points here
    np.testing.assert_allclose(result["values"], expected, atol=5e-3)
    assert np.ptp(expected) > 1.0
    assert result["quantiles"][0.5] == pytest.approx(np.quantile(expected, 0.5), abs=5e-3)
    assert result["quantiles"][0.1] == pytest.approx(np.quantile(expected, 0.1), abs=5e-3)


def test_readouts():
    times = np.array([0.0, 7.0, 14.0, 21.0])
    deficit = np.array([[0.0, 12.0, 5.0, 1.0], [0.0, 3.0, 1.5, 0.5]])
    np.testing.assert_allclose(deficit_at(10.5)(times, deficit), [8.5, 2.25])
    np.testing.assert_allclose(max_deficit(times, deficit), [12.0, 3.0])
    np.testing.assert_allclose(first_recovered_day(7.0)(times, deficit), [21.0, 14.0])


def test_phrase_flags_an_interval_from_no_to_large_effect():
    wide = {0.05: 0.8, 0.5: 6.0, 0.95: 14.0}
    narrow = {0.05: 3.0, 0.5: 6.0, 0.95: 9.0}
    assert spans_no_to_large(wide) and not spans_no_to_large(narrow)
    assert "uninformative" in phrase(wide) and "no effect" in phrase(wide)
    assert phrase(narrow) == "spine loss 6 % (90 % interval 3-9 %)"
    assert not spans_no_to_large({0.05: 0.5, 0.95: 9.9}) and not spans_no_to_large({0.05: 2.1, 0.95: 30.0})


def test_the_packaged_posterior_belongs_to_the_default_variant():
    ds = load()
    assert tuple(ds.attrs["free_parameters"].split()) == SPEC.keys
    for key in SPEC.keys:
        assert np.all(ds[variable_name(key)].values > 0)
