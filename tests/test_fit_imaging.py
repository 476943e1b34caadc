"""Fitting model parameters to imaging data (sim.fit_imaging): likelihood, Laplace intervals, recovery, bad input.

Recovery: the shipped synthetic example (sim/data, made by the agent engine and sim.imaging at the packaged model's
parameters, recorded in sim/data/example_imaging_parameters.csv) is fitted from a start away from those values;
the 95 % Laplace intervals of the three default parameters must cover the generating values. These three are the
well-identified ones for density, gain and loss data of a vehicle and a diazepam group: the spine density (from the
counts), the drug-free turnover (from the vehicle group's gained and lost spines) and the C1q gain (the size of
the drug's extra loss). Others are not identified by 4 animals per group (sim.fit_imaging docstring: e.g. the
activation rate, because at 5 mg/kg diazepam the model's activation is close to saturation), so their intervals
are not tested for coverage.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import xarray as xr

from sim import fit_imaging, imaging_data
from sim.core.params import ConfigError
from sim.imaging_data import Group

EXAMPLE = (imaging_data.EXAMPLE_DIR / imaging_data.EXAMPLE_SCORING, imaging_data.EXAMPLE_DIR / imaging_data.EXAMPLE_GROUPS)  # fmt: skip
GROUPS = "group,animal,drug,dose_mg_per_kg,interval_h,start_day,stop_day,route,genotype\nv,m1,diazepam,0,24,0,7,ip,wt\n"
# one 10 um dendrite, sessions on days 0 and 4: s1 lost, s2 stays, s3 gained
SCORING = """animal,dendrite,segment_length_um,session_day,spine_id,present
m1,a,10,0,s1,1
m1,a,10,0,s2,1
m1,a,10,4,s1,0
m1,a,10,4,s2,1
m1,a,10,4,s3,1
"""


def generating_values() -> dict[str, float]:
    with (imaging_data.EXAMPLE_DIR / imaging_data.EXAMPLE_PARAMETERS).open() as handle:
        return {row["parameter"]: float(row["value"]) for row in csv.DictReader(handle)}


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "scoring.csv").write_text(SCORING)
    (tmp_path / "groups.csv").write_text(GROUPS)
    return tmp_path / "scoring.csv", tmp_path / "groups.csv"


def test_likelihood_of_a_hand_counted_segment(tiny):
    """N0 = 2 on 10 um, then 1 of 2 lost and 1 gained: Poisson(2 | 2.5) x Binomial(1 | 2, 0.1) x Poisson(1 | 0.1)."""
    ds = imaging_data.load(*tiny)
    days = np.array([0.0, 4.0])
    model = xr.Dataset({"spine_density": ("session", [0.25, 0.25]), "lost_fraction": ("session", [np.nan, 0.1]),
                        "gained_fraction": ("session", [np.nan, 0.05])}, coords={"session_day": ("session", days)})  # fmt: skip
    expected = (2 * math.log(2.5) - 2.5 - math.log(2)) + math.log(2 * 0.1 * 0.9) + (math.log(0.1) - 0.1)
    assert fit_imaging.count_log_likelihood(ds, {"v": model}) == pytest.approx(expected, rel=1e-12)


def test_laplace_gives_back_the_covariance_of_a_gaussian():
    """On -log L = x^T A x / 2 the finite-difference Hessian is A and the covariance its inverse (distinct entries)."""
    a = np.array([[4.0, 1.2, -0.5], [1.2, 9.0, 0.7], [-0.5, 0.7, 2.5]])
    offsets = fit_imaging._stencil(3, 0.01)
    centre = np.array([0.3, -0.2, 0.1])
    values = np.array([0.5 * (centre + d) @ a @ (centre + d) for d in offsets])
    f0, grad, hess = fit_imaging._derivatives(values, 3, 0.01)
    np.testing.assert_allclose(grad, a @ centre, rtol=1e-9)
    np.testing.assert_allclose(hess, a, rtol=1e-7)
    cov, se, z = fit_imaging.laplace(hess)
    np.testing.assert_allclose(cov, np.linalg.inv(a), rtol=1e-7)
    np.testing.assert_allclose(se, np.sqrt(np.diag(np.linalg.inv(a))), rtol=1e-7)
    assert z == pytest.approx(1.959964, abs=1e-6)
    assert np.isnan(fit_imaging.laplace(np.diag([1.0, -1.0, 2.0]))[1]).all()  # not a maximum: no interval


def test_batched_readouts_agree_with_sim_imaging():
    """The fit's batched cohorts = sim.imaging.image (mean-field cohorts by solve_ivp) at distinct parameter values."""
    data = imaging_data.load(*EXAMPLE)
    params = ["microglia.c1q_gain", "spines.elimination_per_day", "microglia.activation_rate_per_h"]
    values = [4.0, 0.031, 0.27]
    evaluator = fit_imaging.Evaluator(data, params)
    fast = evaluator.readouts(np.array([values, [4.0, -0.031, 0.27]]))["diazepam"]
    reference = fit_imaging.model_readouts(Group.from_dataset(data, "diazepam"), data.session_day.values,
                                           [f"{p}={v!r}" for p, v in zip(params, values)])  # fmt: skip
    for name in ("spine_density", "gained_fraction", "lost_fraction", "surviving_fraction"):
        np.testing.assert_allclose(fast[name][0], reference[name].values, rtol=1e-6, err_msg=name)
    assert reference["lost_fraction"].values[1] > 0.12  # the drug's extra loss is in the comparison
    assert np.isnan(fast["lost_fraction"][1]).all()  # a set the model refuses (negative elimination): NaN, no error


def test_fit_recovers_the_generating_values_of_the_synthetic_example():
    """From a start away from the truth (distinct factors), the 95 % intervals cover the generating values."""
    truth = generating_values()
    params = list(fit_imaging.DEFAULT_PARAMETERS)
    factors = {"spines.baseline_density_per_um": 0.7, "spines.elimination_per_day": 1.6, "microglia.c1q_gain": 0.5}
    start = {p: truth[p] * factors[p] for p in params}
    ds = fit_imaging.fit_imaging(*EXAMPLE, params, seed=3, draws=20, start=start)
    assert ds.attrs["converged"] == 1, ds.attrs["optimizer_message"]
    np.testing.assert_allclose(ds.start_value, [start[p] for p in params])
    for p in params:
        row = ds.sel(parameter=p)
        assert int(row.identified) == 1, p
        assert float(row.ci_low) < truth[p] < float(row.ci_high), (p, truth[p], float(row.ci_low), float(row.ci_high))
        assert abs(math.log(float(row.estimate) / start[p])) > 2 * float(row.se_log), p  # it moved from the start
    # the diazepam group's extra loss is what identifies the C1q gain: the model band separates the groups
    lost = ds.model_lost_fraction.sel(session=1)
    assert float(ds.model_lost_fraction_low.sel(group="diazepam", session=1)) > float(ds.model_lost_fraction_high.sel(group="vehicle", session=1))  # fmt: skip
    assert float(lost.sel(group="diazepam")) > float(lost.sel(group="vehicle"))
    assert (ds.model_spine_density_low <= ds.model_spine_density).all() and (ds.model_spine_density <= ds.model_spine_density_high).all()  # fmt: skip
    assert ds.attrs["seed"] == 3 and ds.attrs["sim_version"] and "git_commit" in ds.attrs
    for name, var in ds.data_vars.items():
        assert "long_name" in var.attrs, name
        if var.dtype.kind == "f":
            assert "units" in var.attrs, name


def test_cli_writes_the_fit_and_its_figure_and_the_profile_interval_is_the_analytic_one(tmp_path, capsys):
    """``python -m sim.fit_imaging`` (its main(), in this process to save the start-up time), one parameter.

    With the density alone, log L depends on it only through the first-session counts: N log(rho) - rho L + const
    (N spines on L um in all), so the estimate is N / L and the ends of the 95 % profile interval solve
    N log(rho_hat / rho) + L (rho - rho_hat) = chi2_0.95(1) / 2 = 1.92.
    """
    from scipy import optimize, stats

    out = tmp_path / "fit"
    args = [*map(str, EXAMPLE), "--fit", "spines.baseline_density_per_um", "--intervals", "profile", "--draws", "5", "--seed", "1", "--out", str(out)]  # fmt: skip
    assert fit_imaging.main(args) == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["fit.md", "fit.nc", "fit.png"]
    ds = xr.open_dataset(out / "fit.nc")
    n, length = float(ds.segment_spine_count.isel(session=0).sum()), float(ds.segment_length_um.sum())
    rho_hat = n / length
    assert float(ds.estimate.squeeze()) == pytest.approx(rho_hat, rel=1e-3)
    drop = lambda rho: n * math.log(rho_hat / rho) + length * (rho - rho_hat) - stats.chi2.ppf(0.95, 1) / 2  # noqa: E731
    ends = optimize.brentq(drop, rho_hat / 2, rho_hat), optimize.brentq(drop, rho_hat, 2 * rho_hat)
    np.testing.assert_allclose([float(ds.ci_low.squeeze()), float(ds.ci_high.squeeze())], ends, rtol=3e-3)
    assert float(ds.ci_low.squeeze()) < generating_values()["spines.baseline_density_per_um"] < float(ds.ci_high.squeeze())  # fmt: skip
    assert "| `spines.baseline_density_per_um` |" in (out / "fit.md").read_text()
    assert "sim.fit_imaging" in ds.attrs["command"] and ds.attrs["seed"] == 1 and "profile" in ds.attrs["intervals"]
    ds.close()


BAD_SCORING = SCORING + "m1,a,-3,4,s9,1\n"


@pytest.mark.parametrize("form", ["drug", "experiment"])
def test_bad_input_is_one_message_and_nothing_is_written(tmp_path, form, capsys):
    (tmp_path / "s.csv").write_text(BAD_SCORING)
    if form == "drug":
        (tmp_path / "g.csv").write_text(GROUPS + "x,m2,valium,5,24,0,7,ip,wt\n")
        unknown = "valium"
    else:
        (tmp_path / "g.csv").write_text("group,animal,experiment\nv,m1,vehicle\nx,m2,no_such_experiment\n")
        unknown = "experiment = 'no_such_experiment' is not allowed"
    fit = "spines.baseline_density_per_um,microglia.no_such_rate,spines.region"
    out = tmp_path / "out"
    assert fit_imaging.main([str(tmp_path / "s.csv"), str(tmp_path / "g.csv"), "--fit", fit, "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("sim.fit_imaging: error: ") and message.count("\n") == 0, message
    for what in ("s.csv:7: segment_length_um = '-3'", "g.csv:3", unknown, "'microglia.no_such_rate' cannot be fitted",
                 "'spines.region' cannot be fitted", "choose from microglia.activation_rate_per_h"):  # fmt: skip
        assert what in message, (what, message)
    assert not out.exists()


def test_parameter_problems_are_all_listed():
    problems = fit_imaging.parameter_problems(["spines.elimination_per_day", "spines.elimination_per_day", "drug.x", "microglia.tspo_receptor_coupling"])  # fmt: skip
    text = "; ".join(problems)
    assert "'spines.elimination_per_day' is named twice" in text
    assert "'drug.x' cannot be fitted" in text
    assert len(problems) == 2
    from sim import presets

    problems = fit_imaging.parameter_problems(["microglia.tspo_receptor_coupling"], [presets.from_overrides([])])
    assert problems == ["parameter 'microglia.tspo_receptor_coupling' = 0.0 in a group: only parameters > 0 can be fitted (log space)"]  # fmt: skip
    assert fit_imaging.parameter_problems([]) == ["no parameter to fit: name at least one (--fit group.field,...)"]


def test_an_animal_that_skipped_a_session_is_refused(tmp_path):
    (tmp_path / "s.csv").write_text(SCORING + "m2,a,10,0,u1,1\n")
    (tmp_path / "g.csv").write_text(GROUPS + "v,m2,diazepam,0,24,0,7,ip,wt\n")
    with pytest.raises(ConfigError, match=r"animals \['m2'\] skipped a session"):
        fit_imaging.fit_imaging(tmp_path / "s.csv", tmp_path / "g.csv", ["spines.baseline_density_per_um"])
