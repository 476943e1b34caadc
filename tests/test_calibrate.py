"""The stored calibration reproduces its targets, and re-fitting from the priors recovers it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.calibrate import PARAMETERS, TARGETS, base_config, calibrate, observables, to_yaml, with_values


@pytest.fixture(scope="module")
def calibrated():
    return sim.presets.from_overrides(["experiment=shi2022_high_dose", "output_step_h=3"])


def test_stored_calibration_meets_each_target_within_two_sigma(calibrated):
    obs = observables(calibrated)
    for target in TARGETS:
        assert abs(obs[target.name] - target.value) <= 2.0 * target.sigma, target.name


def test_calibration_file_is_the_default(calibrated):
    priors = sim.presets.from_overrides(["experiment=shi2022_high_dose", "calibration=none"])
    changed = [key for key in PARAMETERS if _get(calibrated, key) != _get(priors, key)]
    assert changed == list(PARAMETERS)


def test_with_values_substitutes_only_named_fields(calibrated):
    new = with_values(calibrated, {"spines.homeostatic_gain": 2.5})
    assert new.spines.homeostatic_gain == 2.5
    assert new.spines.elimination_per_day == calibrated.spines.elimination_per_day
    assert new.microglia == calibrated.microglia


@pytest.mark.slow
def test_refit_from_priors_recovers_stored_values(calibrated):
    result = calibrate(base_config())
    for key, value in result.values.items():
        assert math.isclose(value, _get(calibrated, key), rel_tol=0.02), key
    assert np.all(np.isfinite(result.correlation))
    text = to_yaml(result, "python -m sim.calibrate")
    assert "# @package _global_" in text and "activation_rate_per_h" in text


def _get(cfg, key):
    stage, field = key.split(".")
    return getattr(getattr(cfg, stage), field)


def test_package_data_is_written_by_default_only_in_a_checkout(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from sim import calibrate as module

    package = Path(module.__file__).resolve().parent
    in_git = any((parent / ".git").exists() for parent in [package, *package.parents])
    assert module.is_checkout(package) == in_git
    assert not module.is_checkout(tmp_path)
    monkeypatch.setattr(module, "is_checkout", lambda directory=None: False)
    with pytest.raises(SystemExit) as error:
        module.main([])  # fails before fitting anything
    assert error.value.code == 2 and "--output is required" in capsys.readouterr().err
