"""sim.analysis on hand-made results with known answers: deficit, recovery day, interval turnover, summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import analysis
from sim.core.results import to_dataset

DAY = np.arange(0.0, 20.0 + 1e-9, 0.5)  # output every 12 h to day 20


def result(rel, doses_on=(0, 1, 2, 3, 4), t=DAY, **extra):
    """A result with spine density ``rel`` [percent of baseline] and once-daily doses of 1 mg/kg on ``doses_on``."""
    rel = np.broadcast_to(np.asarray(rel, dtype=float), np.shape(rel) if np.ndim(rel) > 1 else t.shape)
    cumulative = np.array([sum(1.0 for d in doses_on if d <= ti) for ti in t])
    data = {"spine_density_relative": rel, "cumulative_dose": cumulative, **extra}
    stop = max(doses_on) + 1.0 if doses_on else math.nan
    return to_dataset(t, data, attrs={"dosing_start_day": 0.0 if doses_on else math.nan, "dosing_stop_day": stop})


def tent(t, peak_day=6.0, peak=10.0, back_day=16.0):
    """Deficit [percent]: rises linearly to ``peak`` at ``peak_day``, falls linearly to 0 at ``back_day``."""
    return np.interp(t, [0.0, peak_day, back_day], [0.0, peak, 0.0])


def test_deficit_against_baseline_and_against_a_matched_control():
    ds = result(np.full(DAY.shape, 90.0))
    np.testing.assert_allclose(analysis.deficit(ds), 10.0)
    control = result(np.full(DAY.shape, 120.0), doses_on=())
    np.testing.assert_allclose(analysis.deficit(ds, control), 25.0)  # 90 is 25 % below 120
    assert analysis.deficit(ds).attrs["units"] == "percent"
    assert analysis.deficit(ds).attrs["long_name"] == analysis.DERIVED["spine_deficit"].long_name


def test_control_on_another_grid_is_interpolated_and_must_cover_the_run():
    ds = result(100.0 - tent(DAY))
    fine = np.arange(0.0, 30.0 + 1e-9, 0.25)
    control = result(100.0 + fine, doses_on=(), t=fine)  # a control that rises 1 % per day
    expected = 100.0 * (1.0 - (100.0 - tent(DAY)) / (100.0 + DAY))
    np.testing.assert_allclose(analysis.deficit(ds, control), expected, rtol=1e-12)
    assert analysis.deficit_at(ds, 6.0, control) == pytest.approx(100.0 * (1.0 - 90.0 / 106.0))
    short = result(np.full(21, 100.0), doses_on=(), t=np.arange(21) * 0.5)
    assert not analysis.covers(short, ds)
    with pytest.raises(ValueError, match="control run covers days 0-10"):
        analysis.deficit(ds, short)


def test_agent_results_use_replicate_means():
    rel = np.stack([100.0 - 2 * tent(DAY), np.full(DAY.shape, 100.0)])  # mean: 100 - tent
    ds = result(rel)
    assert ds.spine_density_relative.dims == ("replicate", "time")
    assert analysis.max_deficit(ds) == pytest.approx(10.0)
    assert analysis.deficit_at(ds, 11.0) == pytest.approx(5.0)


def test_last_dose_comes_from_cumulative_dose():
    ds = result(100.0, doses_on=(0, 1, 2, 3, 4))
    assert analysis.last_dose_day(ds) == 4.0
    ds.attrs["dosing_stop_day"] = 99.0  # the attribute is not used
    assert analysis.last_dose_day(ds) == 4.0
    times, doses = analysis.dose_events(ds)
    np.testing.assert_array_equal(times, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(doses, [1, 1, 1, 1, 1])
    assert math.isnan(analysis.last_dose_day(result(100.0, doses_on=())))


def test_recovery_day_is_the_first_time_after_the_last_dose_from_which_the_deficit_stays_below_2_percent():
    # the tent falls from 10 % at day 6 to 0 at day 16: 2 % at day 14, 1.5 % at 14.5
    assert analysis.recovery_day(result(100.0 - tent(DAY))) == 14.5
    # a relapse above 2 % after a first recovery moves the recovery day past the relapse
    relapse = tent(DAY) + np.where((DAY >= 17.0) & (DAY <= 18.0), 3.0, 0.0)
    assert analysis.recovery_day(result(100.0 - relapse)) == 18.5
    # a loss that is over before the last dose recovers at the last dose
    early = tent(DAY, peak_day=1.0, back_day=2.0)
    assert analysis.recovery_day(result(100.0 - early), threshold_percent=2.0) == 4.0
    # never 2 % below: NaN; still 2 % below at the end of the run: inf
    assert math.isnan(analysis.recovery_day(result(100.0 - 0.5 * tent(DAY) / 2.6)))
    assert analysis.recovery_day(result(100.0 - tent(DAY, back_day=40.0))) == math.inf
    # against a matched control: the same run is not recovered if the control rose meanwhile
    control = result(100.0 + np.where(DAY > 10, 5.0, 0.0), doses_on=())
    assert analysis.recovery_day(result(100.0 - tent(DAY)), control) == math.inf


def test_interval_turnover_of_constant_rates_is_rate_times_interval():
    t = np.arange(0.0, 21.0 + 1e-9, 0.25)
    extra = {
        "spine_density": np.full(t.shape, 0.5),
        "spine_formation_rate": np.full(t.shape, 0.02),
        "spine_elimination_rate": np.full(t.shape, 0.03),
    }
    ds = result(100.0, t=t, **extra)
    turnover = analysis.interval_turnover(ds, 7.0)
    np.testing.assert_array_equal(turnover.interval_start, [0.0, 7.0, 14.0])
    np.testing.assert_allclose(turnover.gained_fraction, 7 * 0.02, rtol=1e-12)
    np.testing.assert_allclose(turnover.lost_fraction, 7 * 0.03, rtol=1e-12)
    assert analysis.formation_per_interval(ds, 0.0, 3.5) == pytest.approx(3.5 * 0.02)
    for name in ("gained_fraction", "lost_fraction"):
        assert turnover[name].attrs["long_name"] == analysis.DERIVED[name].long_name


def test_summary_values_follow_their_definitions():
    t = np.union1d(DAY, [0.25, 1.25])  # uneven grid
    n = t.size
    extra = {
        "brain_concentration": np.stack([np.sin(t) ** 2, 5.0 + 0 * t]),  # parent first; the metabolite is higher
        "tspo_occupancy": t / 10.0,  # linear: the trapezoidal mean is exact
        "gabaa_occupancy": np.full(n, 0.5),
        "microglia_activation": np.linspace(0.0, 0.3, n),
        "nor_discrimination_index": 0.3 - 0.01 * t,
    }
    ds = result(100.0 - tent(t), t=t, **extra)
    ds = ds.assign_coords(compound=["diazepam", "nordiazepam"])
    ds.attrs["drug"] = "diazepam"
    s = analysis.summary_values(ds)
    assert list(s) == list(analysis.SUMMARY)
    assert s["lowest_spine_density"] == 90.0 and s["max_spine_loss"] == 10.0 and s["day_of_max_spine_loss"] == 6.0
    assert s["recovery_day"] == 14.5 and s["last_dose_day"] == 4.0 and s["recovery_after_last_dose"] == 10.5
    assert s["spine_loss_at_test"] == pytest.approx(tent(5.0))  # test day: dosing_stop_day = 5
    assert s["mean_tspo_occupancy"] == pytest.approx(0.25)  # mean of t/10 over [0, 5]
    assert s["peak_tspo_occupancy"] == pytest.approx(2.0) and s["mean_gabaa_occupancy"] == pytest.approx(0.5)
    assert s["peak_brain_concentration"] == pytest.approx(np.max(np.sin(t) ** 2))  # the parent, not the metabolite
    assert s["nor_at_test"] == pytest.approx(0.25) and s["nor_drop_at_test"] == pytest.approx(0.05)
    assert analysis.summary_values(ds, nor_drug_free=0.4)["nor_drop_at_test"] == pytest.approx(0.15)
    assert s["total_dose"] == 5.0
    table = analysis.summarize(ds)
    for name in analysis.SUMMARY:
        assert table[name].attrs["units"] == analysis.DERIVED[name].units
        assert float(table[name]) == pytest.approx(s[name])


def test_every_derived_function_is_registered_once_and_applies_to_a_result():
    ds = result(100.0 - tent(DAY))
    for name in ("spine_deficit", "max_spine_loss", "recovery_day", "last_dose_day", "lowest_spine_density"):
        assert analysis.DERIVED[name].function(ds) is not None
    with pytest.raises(KeyError, match="defined twice"):
        analysis.registry.derived("max_spine_loss", "percent", "again")(lambda ds: 0.0)


def test_equivalent_doses_scale_the_table():
    doses = analysis.equivalent_doses(5.0)
    assert doses["diazepam"] == 5.0 and doses["lorazepam"] == pytest.approx(0.5)
    assert set(doses) == set(analysis.EQUIVALENT_ORAL_DOSE_MG)
