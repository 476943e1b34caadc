"""The taper planner (sim.taper): schedules, the search, the switch, and bad input.

* the schedules follow their definitions (a percent taper lands on its floor in exactly ``n`` reductions; the switch
  dose is the clinical equivalence ratio);
* the state hand-over at plan day 0 equals one continuous run from the start of the history;
* a slower taper (fewer percent per step, longer steps, a longer linear taper) never gives a higher peak withdrawal
  proxy, and the searched schedule meets the limit while the next faster one breaks it;
* within one step length a slower taper never gives a lower spine deficit (across step lengths no order is claimed);
* switching to clonazepam (no TSPO affinity to speak of) lowers the spine deficit of the same schedule;
* the uncertainty bands: paired draws (the same parameter rows for each schedule) on the plan's time axis, and the
  deficit quantiles are those of the drawn trajectories integrated from day 0;
* bad input: one line, exit 2, nothing written.

Cheap settings throughout: 28 days of history, a 70-day horizon, a 12-h output grid; bands over 8 draws only in the
two band tests.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sim.core.params import ConfigError
from sim.engines.ode import OdeEngine
from sim.taper import Planner, main, percent_doses, percent_for_steps, plan_taper, spine_deficit, switch_dose_mg
from sim.taper.plan import _band, _regimen, to_dataset

CHEAP = {"run_in_days": 28, "output_step_h": 12.0}


@pytest.fixture(scope="module")
def planner():
    return Planner("diazepam", 15.0, 70, **CHEAP)


def test_percent_taper_lands_on_its_floor_in_n_reductions_and_stops():
    for n, step in ((3, 7), (5, 4)):
        doses = percent_doses(12.0, 60, percent_for_steps(n), step, start_day=2)
        ratio = 0.05 ** (1.0 / n)
        expected = [12.0] * 2 + [12.0 * ratio**j for j in range(n + 1) for _ in range(step)]
        expected += [0.0] * (60 - len(expected))
        np.testing.assert_allclose(doses, expected, rtol=1e-12)
        assert doses[2 + n * step] == pytest.approx(0.6)  # 5 % of 12 mg, held for one step


def test_linear_taper_and_switch_dose(planner):
    linear = planner.schedule("linear", duration_days=4.0)
    np.testing.assert_allclose(linear.doses_mg, [15.0, 11.25, 7.5, 3.75] + [0.0] * 66)
    assert linear.last_dose_day == 3
    assert switch_dose_mg("diazepam", 15.0, "clonazepam") == pytest.approx(0.75)  # 10 mg diazepam ~ 0.5 mg
    assert switch_dose_mg("diazepam", 15.0, "lorazepam") == pytest.approx(1.5)  # ~ 1 mg lorazepam


def test_hand_over_at_day_0_equals_one_continuous_run(planner):
    evaluation = planner.evaluate(planner.schedule("percent", percent_per_step=percent_for_steps(2), step_days=7))
    doses = [planner.dose_mg] * planner.run_in_days + list(evaluation.schedule.doses_mg)
    model = dataclasses.replace(planner.base, regimen=_regimen(doses, planner.body_weight_kg))
    end_h = 24.0 * (planner.run_in_days + planner.horizon_days)
    whole = OdeEngine().simulate(model, np.arange(0.0, end_h + 1e-9, planner.output_step_h))
    whole = whole.assign_coords(time=whole["time"].values - planner.run_in_days).sel(time=slice(0, None))
    for name in ("spine_density_relative", "withdrawal_deficit", "gabaa_adaptation"):
        np.testing.assert_allclose(evaluation.result[name], whole[name], rtol=1e-6, atol=1e-9)
    assert spine_deficit(whole) == pytest.approx(evaluation.spine_deficit, rel=1e-6)


def test_slower_taper_never_peaks_higher_and_loses_more_spines(planner):
    def peak(strategy, **parameters):
        return planner.evaluate(planner.schedule(strategy, **parameters)).withdrawal_peak

    def deficit(strategy, **parameters):
        return planner.evaluate(planner.schedule(strategy, **parameters)).spine_deficit

    for step in (3, 7):  # fewer percent per step (more reductions): lower or equal peak
        peaks = [peak("percent", percent_per_step=percent_for_steps(n), step_days=step) for n in (1, 2, 3, 5)]
        assert np.all(np.diff(peaks) <= 1e-12), (step, peaks)
        assert peaks[0] > 2 * peaks[-1]  # and the effect is not negligible
        deficits = [deficit("percent", percent_per_step=percent_for_steps(n), step_days=step) for n in (1, 2, 3, 5)]
        assert np.all(np.diff(deficits) > 0), (step, deficits)  # the other side: more spine loss
    for n in (2, 3):  # longer steps at the same rate: lower or equal peak
        assert peak("percent", percent_per_step=percent_for_steps(n), step_days=7) <= peak(
            "percent", percent_per_step=percent_for_steps(n), step_days=3
        )
    linear = [peak("linear", duration_days=t) for t in (5.0, 15.0, 40.0)]
    assert np.all(np.diff(linear) < 0), linear
    linear = [deficit("linear", duration_days=t) for t in (5.0, 15.0, 40.0)]
    assert np.all(np.diff(linear) > 0), linear


def test_search_picks_the_fastest_schedule_that_meets_the_limit():
    limit = 0.0015
    ds = plan_taper(
        "diazepam", 15.0, 70, ("percent", "linear"), limit, step_days=7, follow_up_days=21, bands=False, **CHEAP
    )
    assert np.all(ds["withdrawal_proxy_peak"].values <= limit)
    assert np.all(ds["meets_limit"].values == 1)
    candidates = ds["candidate_withdrawal_proxy_peak"].values
    deficits = ds["candidate_cumulative_spine_deficit"].values
    for strategy in ("percent", "linear"):
        mine = ds["candidate_strategy"].values == strategy
        feasible = mine & (candidates <= limit)
        chosen = float(ds["cumulative_spine_deficit"].sel(strategy=strategy))
        assert chosen == pytest.approx(deficits[feasible].min())
        assert np.any(mine & (candidates > limit) & (deficits < chosen))  # a faster schedule breaks the limit
        ends = ds["candidate_last_dose_day"].values
        slower = mine & (ends > float(ds["last_dose_day"].sel(strategy=strategy)))
        assert slower.any() and np.all(candidates[slower] <= limit)  # no slower schedule breaks it
    chosen_percent = float(ds["percent_per_step"].sel(strategy="percent"))
    steps = round(math.log(0.05) / math.log(1 - chosen_percent / 100))
    assert chosen_percent == pytest.approx(percent_for_steps(steps))
    assert ds.attrs["plan"] in ("percent", "linear")
    dose = ds["dose_mg"].sel(strategy=ds.attrs["plan"]).values
    assert dose[0] == 15.0 and np.all(dose[-21:] == 0)  # ends before the follow-up


def test_switch_to_clonazepam_lowers_the_spine_deficit_of_the_same_schedule(planner):
    for n, step in ((2, 7), (4, 3)):
        rate = percent_for_steps(n)
        same = planner.evaluate(planner.schedule("percent", percent_per_step=rate, step_days=step))
        switched = planner.evaluate(planner.schedule("switch", percent_per_step=rate, step_days=step, hold_days=0))
        assert switched.schedule.drug == "clonazepam"
        np.testing.assert_allclose(np.asarray(switched.schedule.doses_mg) * 20.0, same.schedule.doses_mg)
        assert switched.spine_deficit < 0.9 * same.spine_deficit
        tspo = switched.result["tspo_occupancy"]
        assert float(tspo.isel(time=-1)) < 0.01 * float(tspo.isel(time=0))  # the diazepam washes out


@pytest.fixture(scope="module")
def bands(planner):
    """Bands of ``continue`` and of a percent taper (full dose on days 0-6) over 8 posterior x translation draws."""
    schedules = {
        "continue": planner.schedule("continue"),
        "percent": planner.schedule("percent", percent_per_step=percent_for_steps(2), step_days=7),
    }
    return schedules, {s: _band(planner, one, draws=8) for s, one in schedules.items()}


def test_bands_are_paired_draws_on_the_plan_time_axis(planner, bands):
    _, band = bands
    continued, tapered = band["continue"], band["percent"]
    assert continued.sizes["draw"] == 8
    for name in ("microglia__activation_rate_per_h", "spines__homeostatic_gain", "microglia__response_scale"):
        np.testing.assert_array_equal(continued[name], tapered[name])  # the same parameter rows for each schedule
    time = continued["time"].values
    assert time[0] == -planner.run_in_days and time[-1] == planner.horizon_days  # plan days
    same = time < 7.0  # the same doses until the first reduction on day 7: the same trajectories, draw by draw
    density = "spine_density_relative"
    np.testing.assert_allclose(continued[density][:, same], tapered[density][:, same], rtol=1e-9)
    assert np.all(tapered[density][:, -1] > continued[density][:, -1])  # and then they part: the taper recovers


def test_band_quantiles_of_the_deficit_come_from_the_draws_from_day_0(planner, bands):
    from scipy.integrate import trapezoid

    schedules, band = bands
    per_draw = {}
    for s, one in band.items():  # an independent integration of the drawn trajectories over the horizon
        after = one["spine_density_relative"].sel(time=slice(0.0, None))
        per_draw[s] = trapezoid(100.0 - after.values, after["time"].values, axis=-1)
    assert np.all(per_draw["continue"] > per_draw["percent"])  # paired: the taper helps in every draw
    best = {s: planner.evaluate(one) for s, one in schedules.items()}
    ds = to_dataset(planner, best, band, limit=1.0, follow_up_days=28, hold_days=0)
    for s in schedules:
        quantiles = [float(ds[f"cumulative_spine_deficit_{q}"].sel(strategy=s)) for q in ("q05", "median", "q95")]
        np.testing.assert_allclose(quantiles, np.quantile(per_draw[s], [0.05, 0.5, 0.95]), rtol=1e-9)
        assert quantiles[0] < quantiles[1] < quantiles[2]
        scored = float(ds["cumulative_spine_deficit"].sel(strategy=s))  # one run with the translation midpoints
        assert per_draw[s].min() < scored < per_draw[s].max()
        line = ds["spine_density_relative_median"].sel(strategy=s).sel(time=slice(0.0, None)).values
        np.testing.assert_allclose(line, np.median(band[s]["spine_density_relative"].sel(time=slice(0.0, None)), 0))
    for q in ("q05", "median", "q95"):
        assert float(ds[f"cumulative_spine_deficit_{q}"].sel(strategy="continue")) > float(
            ds[f"cumulative_spine_deficit_{q}"].sel(strategy="percent")
        )


def test_plan_taper_refuses_unknown_strategy_before_running():
    with pytest.raises(ConfigError, match="strategy = 'cold_turkey' is not allowed: choose one of continue"):
        plan_taper("diazepam", 15.0, 70, ["percent", "cold_turkey"], 0.001)


BAD = {
    "unknown strategy": (["--strategies", "percent,cold_turkey"], "strategy = 'cold_turkey' is not allowed"),
    "never reaches zero": (
        ["--strategies", "percent", "--percent-per-step", "10", "--step-days", "14"],
        "it does not reach zero within the horizon",
    ),
    "horizon binds": (["--strategies", "percent,linear", "--step-days", "7"], "the horizon binds"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_cli_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    extra, words = BAD[case]
    out = tmp_path / "plan"
    limit = "1e-6" if case == "horizon binds" else "0.001"
    argv = ["--drug", "diazepam", "--dose-mg", "15", "--horizon-days", "56", "--withdrawal-limit", limit]
    argv += ["--run-in-days", "14", "--no-bands", "--out", str(out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_cli_limit_below_the_dosing_itself_says_so(tmp_path, capsys):
    out = tmp_path / "plan"
    argv = ["--drug", "midazolam", "--dose-mg", "7.5", "--horizon-days", "42", "--withdrawal-limit", "1e-4"]
    argv += ["--strategies", "continue,percent", "--step-days", "7", "--run-in-days", "14", "--no-bands"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the dosing itself binds" in err, err
    assert not out.exists()


def test_cli_writes_table_result_and_figure(tmp_path, capsys):
    import xarray as xr

    argv = ["--drug", "diazepam", "--dose-mg", "15", "--horizon-days", "56", "--withdrawal-limit", "0.002"]
    argv += ["--strategies", "continue,percent", "--step-days", "7", "--run-in-days", "14", "--no-bands"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    table = (tmp_path / "taper.md").read_text()
    assert "| days | dose of diazepam [mg/day] |" in table and "not clinical advice" in table
    assert (tmp_path / "taper.png").stat().st_size > 10_000
    with xr.open_dataset(tmp_path / "taper.nc") as ds:
        for name, variable in ds.variables.items():
            assert "long_name" in variable.attrs, name
            if variable.dtype.kind == "f":
                assert "units" in variable.attrs, name
        assert ds.attrs["plan"] == "percent" and ds.attrs["command"].startswith("python -m sim.taper")
        assert float(ds["withdrawal_proxy_peak"].sel(strategy="percent")) <= 0.002


def test_cli_relative_limit_is_a_fraction_of_the_abrupt_stop_and_exactly_one_limit_is_given(tmp_path, capsys):
    import xarray as xr

    argv = ["--drug", "diazepam", "--dose-mg", "15", "--horizon-days", "56", "--withdrawal-limit-relative", "0.4"]
    argv += ["--strategies", "continue,percent", "--step-days", "7", "--run-in-days", "14", "--no-bands"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    with xr.open_dataset(tmp_path / "taper.nc") as ds:
        peak = ds.attrs["abrupt_stop_withdrawal_proxy_peak"]
        assert peak > 0 and ds.attrs["withdrawal_limit"] == pytest.approx(0.4 * peak, rel=1e-12)
        assert float(ds["withdrawal_proxy_peak"].sel(strategy="percent")) <= 0.4 * peak
    assert "0.4 x the abrupt stop's peak" in (tmp_path / "taper.md").read_text()
    with pytest.raises(ConfigError, match="give exactly one"):
        plan_taper("diazepam", 15.0, 56, ["percent"], 0.001, withdrawal_limit_relative=0.4)
    with pytest.raises(SystemExit):  # the command line refuses both (argparse: mutually exclusive)
        main([*argv, "--withdrawal-limit", "0.001", "--out", str(tmp_path / "both")])
    assert not (tmp_path / "both").exists()
