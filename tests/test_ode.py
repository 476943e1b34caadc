"""ODE engine: convergence under tighter tolerances, agreement between independent integrators, exact dose
restarts and robustness to degenerate time grids.

Tolerances. The engine runs at rtol 1e-8, atol 1e-12 (state units). Tightening both 100x changes relative spine
density by < 1e-6 (relative) and concentrations by < 1e-6 of their peak; LSODA (odeint) and BDF/Radau (solve_ivp)
agree to 1e-5 relative on spine density and 1e-5 of the peak on concentrations. Observed differences are about
10x smaller than these bounds.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim import ConfigError, DosingRegimen, OdeEngine, simulate_model

CONCENTRATIONS = ("plasma_concentration", "brain_free_concentration")


@pytest.fixture(scope="module")
def high_dose_run(prior_model):
    """The composed high-dose arm (priors, no calibration), 35 days at 1-h resolution."""
    return prior_model, np.arange(0.0, 35 * 24.0 + 1.0, 1.0)


def assert_same(reference, candidate, spine_rtol, concentration_rtol):
    np.testing.assert_allclose(
        candidate.spine_density_relative, reference.spine_density_relative, rtol=spine_rtol, atol=0
    )
    for name in CONCENTRATIONS:
        peak = float(reference[name].max())
        np.testing.assert_allclose(candidate[name], reference[name], rtol=0, atol=concentration_rtol * peak)
    np.testing.assert_allclose(
        candidate.microglia_activation, reference.microglia_activation, rtol=0, atol=concentration_rtol
    )


def test_result_unchanged_when_tolerances_are_tightened_100x(high_dose_run):
    model, t = high_dose_run
    default = OdeEngine()
    tight = dataclasses.replace(default, rtol=default.rtol / 100, atol=default.atol / 100)
    reference = simulate_model(model, t, tight)
    result = simulate_model(model, t, default)
    assert_same(reference, result, spine_rtol=1e-6, concentration_rtol=1e-6)
    assert float(result.spine_density_relative.min()) < 99.9  # the comparison is not between two flat lines


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_lsoda_agrees_with_solve_ivp(high_dose_run, method):
    model, t = high_dose_run
    t = t[t <= 21 * 24.0]
    lsoda = simulate_model(model, t, OdeEngine(method="LSODA"))
    other = simulate_model(model, t, OdeEngine(method=method))
    assert_same(lsoda, other, spine_rtol=1e-5, concentration_rtol=1e-5)


def test_dose_restart_is_exact_for_output_on_the_dose_time(model):
    """An output time equal to a dose time reports the state just after the dose (right-continuous)."""
    model = dataclasses.replace(model, regimen=DosingRegimen(route="iv", dose_mg_per_kg=1.0, stop_day=2.0))
    at = simulate_model(model, np.array([0.0, 24.0, 30.0]))
    before = simulate_model(model, np.array([0.0, 24.0 - 1e-9, 30.0]))
    jump = (at.plasma_concentration.values - before.plasma_concentration.values)[0, 1]
    volume = model.pk.compounds["diazepam"].volume_l_per_kg
    assert jump == pytest.approx(1e3 / 284.74 / volume, rel=1e-6)
    np.testing.assert_allclose(
        at.plasma_concentration.values[:, 2], before.plasma_concentration.values[:, 2], rtol=1e-9
    )


def test_output_grid_does_not_change_the_solution(model):
    """Segments restart at doses, not at output times: a coarse grid reads the same trajectory as a fine one."""
    fine = simulate_model(model, np.arange(0.0, 14 * 24.0 + 0.5, 0.5))
    coarse = simulate_model(model, np.arange(0.0, 14 * 24.0 + 1, 12.0))
    np.testing.assert_allclose(
        coarse.spine_density_relative, fine.spine_density_relative.sel(time=coarse.time), rtol=1e-7
    )


def test_integrate_returns_state_by_time(model):
    t = np.array([0.0, 5.0, 100.0])
    states = OdeEngine().integrate(model, t)
    assert states.shape == (len(model.state_names), 3)
    np.testing.assert_allclose(states[model.n_pk :, 0], model.initial_state()[model.n_pk :])


@pytest.mark.parametrize(
    "times_h",
    [
        np.linspace(0.0, 24.000000000000004, 41),  # a dose 4e-15 h before the end
        np.array([0.0, 24.0 + 1e-14, 48.0]),  # an output 1e-14 h after a dose
        np.array([0.0, 1e-300, 1.0]),  # an output 1e-300 h after the first dose
    ],
)
def test_degenerate_grids_give_finite_continuous_results(model, times_h):
    ds = simulate_model(model, times_h)
    assert np.all(np.isfinite(ds.to_array().values))
    clean = np.round(times_h, 6)
    reference = simulate_model(model, np.unique(clean)).plasma_concentration.values
    expected = reference[:, np.searchsorted(np.unique(clean), clean)]
    peak = 5.0 * 1e3 / 284.74 / 19.3  # µM, one whole dose in plasma
    # holding the state across < 1e-10 h changes it by < 1e-9 of the peak
    np.testing.assert_allclose(ds.plasma_concentration.values, expected, rtol=0, atol=1e-9 * peak)


@pytest.mark.parametrize("times_h", [np.array([0.0, 0.0, 1.0]), np.array([0.0, 2.0, 1.0]), np.array([-1.0, 1.0])])
def test_unsorted_or_negative_output_times_are_rejected(model, times_h):
    with pytest.raises(ValueError, match="strictly increasing"):
        OdeEngine().integrate(model, times_h)


def test_dose_a_hair_after_time_zero(model):
    model = dataclasses.replace(
        model, regimen=DosingRegimen(route="iv", dose_mg_per_kg=5.0, start_day=1e-183, stop_day=2.0)
    )
    ds = simulate_model(model, np.linspace(0.0, 24.0, 5))
    assert np.all(np.isfinite(ds.to_array().values))
    assert float(ds.plasma_concentration.sel(compound="diazepam")[1]) > 0.0


@pytest.mark.parametrize(
    ("kwargs", "key"), [({"method": "RK45"}, "method"), ({"rtol": 0.0}, "rtol"), ({"atol": -1}, "atol")]
)
def test_invalid_engine_settings(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        OdeEngine(**kwargs)
