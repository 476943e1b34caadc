"""The stress-arm posterior conditional on the round-2 posterior (sim.stress_posterior, sim.posterior)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sim import posterior, presets, stress_posterior, uncertainty
from sim.core.params import ConfigError
from sim.run import simulate_model


@pytest.fixture(scope="module")
def cond():
    return posterior.load_conditional()


def test_vectorised_bisection_finds_analytic_roots_and_flags_unbracketed_sets():
    c = np.array([0.04, 2.0, 300.0, 1e9])  # roots of x^2 - c: 0.2, sqrt 2, sqrt 300; the last beyond the bracket

    def gap(x):
        return x**2 - c

    roots, bracketed = stress_posterior.bisect(gap, 1e-3, 1e3, c.size)
    np.testing.assert_allclose(roots[:3], np.sqrt(c[:3]), rtol=1e-6)
    assert bracketed.tolist() == [True, True, True, False] and np.isnan(roots[3])


def test_crossover_dose_interpolates_the_first_sign_change_up():
    net = xr.DataArray(
        [[-2.0, -1.0, 1.0, 3.0], [-1.0, -0.5, -0.25, -0.1], [1.0, -1.0, 1.0, 2.0]],
        dims=("draw", "dose"),
        coords={"dose": [0.0, 1.0, 2.0, 4.0]},
    )
    crossing = stress_posterior.crossover_dose(net)
    assert crossing[0] == pytest.approx(1.5) and np.isnan(crossing[1]) and crossing[2] == pytest.approx(1.5)


@pytest.mark.parametrize("assumption", stress_posterior.ASSUMPTIONS, ids=lambda a: a.name)
def test_sampled_assumptions_stay_in_their_bounds(assumption):
    values = assumption.sample(np.random.default_rng(3), 5000)
    low, high = assumption.bounds[-2:]
    assert values.min() >= low and values.max() <= high
    if assumption.distribution == "truncnormal":
        assert np.mean(values) == pytest.approx(assumption.bounds[0], abs=0.1)


def test_the_file_is_the_current_version_and_keeps_the_base_draws(cond):
    assert cond.attrs["version"] == posterior.CONDITIONAL_VERSION and cond.attrs["context"] == "cus"
    assert cond.attrs["git_dirty"] == 0, "regenerate the stress posterior from a committed tree"
    base = posterior.draws(posterior.load())
    index = cond["source_draw"].values
    assert cond.sizes["draw"] > 0.9 * base[next(iter(base))].size  # few draws rejected
    for key, values in base.items():  # the Shi parameters of each kept draw are exactly the base draw's
        np.testing.assert_array_equal(cond[posterior.variable_name(key)].values, values[index], err_msg=key)
    keys = posterior.draws(cond, 3)
    assert {"stress.csf1_gain", "stress.gabaa_ec50", "stress.female_csf1_response"} <= set(keys)


def test_every_kept_draw_meets_its_sampled_targets(cond):
    np.testing.assert_allclose(cond["achieved_cus_vehicle_loss_percent"], cond["cus_loss_percent"], atol=1e-4)
    np.testing.assert_allclose(cond["achieved_cus_diazepam_loss_percent"], cond["cus_diazepam_loss_percent"], atol=1e-3)
    # females ([woodburn2021]: unaltered): the sampled response never costs them 2 % of their spines
    assert float(cond["achieved_female_cus_vehicle_loss_percent"].max()) < stress_posterior.FEMALE_UNALTERED_PERCENT
    # the finding: CUS + diazepam loses at most a third of CUS + vehicle, and at least diazepam's TSPO loss
    assert np.all(cond["cus_diazepam_loss_percent"] <= cond["cus_loss_percent"] / 3.0 + 1e-9)
    assert np.all(cond["achieved_cus_diazepam_loss_percent"] >= cond["achieved_control_diazepam_loss_percent"] - 1e-6)


def test_the_ode_engine_reproduces_the_solved_draws(cond):
    """Independent engine: five draws run with the ODE engine meet the losses the batch engine solved for."""
    pick = np.random.default_rng(5).choice(cond.sizes["draw"], 5, replace=False)
    keys = str(cond.attrs["free_parameters"]).split() + str(cond.attrs["conditional_parameters"]).split()
    for i in pick:
        overrides = [f"{k}={float(cond[posterior.variable_name(k)][i]):.17g}" for k in keys]
        shi = [o for o in overrides if not o.startswith("stress.")]

        def final(arm, extra):
            run = presets.experiment(f"bollinger2020_{arm}", ["output_step_h=24", *extra])
            return simulate_model(run.model(), run.times_h())["spine_density"].values[-1]

        control = final("control_vehicle", shi)
        for arm, target in (("cus_vehicle", "cus_loss_percent"), ("cus_diazepam", "cus_diazepam_loss_percent")):
            loss = 100.0 * (1.0 - final(arm, overrides) / control)
            assert loss == pytest.approx(float(cond[target][i]), abs=0.02), (arm, int(i))


def test_load_conditional_refuses_another_version(cond, tmp_path):
    stale = cond.copy()
    stale.attrs["version"] = posterior.CONDITIONAL_VERSION - 1
    path = tmp_path / "stale.nc"
    stale.to_netcdf(path)
    with pytest.raises(ConfigError, match="version") as error:
        posterior.load_conditional(path=path)
    assert "python -m sim.stress_posterior" in str(error.value)
    with pytest.raises(ConfigError, match="does not exist"):
        posterior.load_conditional(path=tmp_path / "missing.nc")


def test_uncertainty_posterior_of_a_stressed_run_draws_shi_and_stress_parameters_together(cond):
    run = uncertainty.with_uncertainty(presets.experiment("bollinger2020_cus_diazepam"), "posterior", 7)
    values, attrs = uncertainty.parameter_draws(run)
    assert "stress.gabaa_ec50" in values and "microglia.stimulus_hill" in values
    assert posterior.conditional_path().name in attrs["uncertainty_source"]
    # the pairs are the file's rows: the EC50 of each draw sits with that draw's Hill coefficient
    rows = {
        float(h): float(e) for h, e in zip(cond["microglia__stimulus_hill"].values, cond["stress__gabaa_ec50"].values)
    }
    for hill, ec50 in zip(values["microglia.stimulus_hill"], values["stress.gabaa_ec50"]):
        assert rows[float(hill)] == ec50
    wrong_region = uncertainty.with_uncertainty(
        presets.experiment("bollinger2020_cus_diazepam", ["spines=somatosensory_cortex"]), "posterior", 7
    )
    with pytest.raises(ConfigError, match="spines=prefrontal_cortex"):
        uncertainty.parameter_draws(wrong_region)
