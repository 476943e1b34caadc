"""Dosing stage: exact event times and amounts, withdrawal, explicit schedules, missed doses, tapers, drinking
water and absolute (mg) doses. Every expectation below is computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import ConfigError, DosingRegimen


def test_daily_schedule_stops_before_stop_day():
    times, amounts = DosingRegimen(dose_mg_per_kg=5.0, interval_h=24.0, start_day=0.0, stop_day=7.0).bolus_events()
    np.testing.assert_array_equal(times, [0.0, 24.0, 48.0, 72.0, 96.0, 120.0, 144.0])  # day 7 itself excluded
    np.testing.assert_array_equal(amounts, np.full(7, 5.0))


def test_interval_schedule_with_offset_start():
    times, _ = DosingRegimen(dose_mg_per_kg=5.0, interval_h=12.0, start_day=1.0, stop_day=3.0).bolus_events()
    np.testing.assert_array_equal(times, [24.0, 36.0, 48.0, 60.0])


def test_interval_that_does_not_divide_a_day():
    # 8-hourly for one day: 0, 8, 16 h; the 4th dose would be at 24 h = stop_day (exclusive).
    times, _ = DosingRegimen(dose_mg_per_kg=5.0, interval_h=8.0, start_day=0.0, stop_day=1.0).bolus_events()
    np.testing.assert_allclose(times, [0.0, 8.0, 16.0], rtol=0, atol=1e-12)
    # a stop just after a dose time keeps that dose
    times, _ = DosingRegimen(dose_mg_per_kg=5.0, interval_h=24.0, start_day=0.0, stop_day=2.001).bolus_events()
    np.testing.assert_array_equal(times, [0.0, 24.0, 48.0])


def test_events_after_end_day_are_dropped():
    times, _ = DosingRegimen(dose_mg_per_kg=5.0, interval_h=24.0, stop_day=7.0).bolus_events(end_day=3.0)
    np.testing.assert_array_equal(times, [0.0, 24.0, 48.0])


def test_explicit_dose_days_and_amounts_are_sorted_together():
    reg = DosingRegimen(
        dose_mg_per_kg=5.0, dose_days=[3.0, 0.5, 1.0], dose_amounts_mg_per_kg=[3.0, 0.5, 1.0], stop_day=10.0
    )
    times, amounts = reg.bolus_events()
    np.testing.assert_array_equal(times, [12.0, 24.0, 72.0])
    np.testing.assert_array_equal(amounts, [0.5, 1.0, 3.0])
    assert reg.withdrawal_day == 3.0


def test_explicit_dose_days_ignore_interval_and_stop_day():
    reg = DosingRegimen(dose_mg_per_kg=2.0, dose_days=[0.0, 10.0], interval_h=1.0, stop_day=1.0)
    times, amounts = reg.bolus_events()
    np.testing.assert_array_equal(times, [0.0, 240.0])
    np.testing.assert_array_equal(amounts, [2.0, 2.0])


def test_missed_doses_are_removed_by_index():
    times, _ = DosingRegimen(dose_mg_per_kg=5.0, interval_h=24.0, stop_day=7.0, missed_doses=[1, 3, 99]).bolus_events()
    np.testing.assert_array_equal(times, [0.0, 48.0, 96.0, 120.0, 144.0])  # index 99 does not exist: ignored


def test_step_taper():
    reg = DosingRegimen(
        dose_mg_per_kg=1.0,
        interval_h=24.0,
        stop_day=56.0,
        taper="step",
        taper_start_day=28.0,
        taper_every_days=7.0,
        taper_step_mg_per_kg=0.2,
    )
    times, amounts = reg.bolus_events()
    by_day = dict(zip(times / 24.0, amounts))
    expected = {0: 1.0, 27: 1.0, 28: 0.8, 34: 0.8, 35: 0.6, 41: 0.6, 42: 0.4, 49: 0.2, 55: 0.2}
    for day, amount in expected.items():
        assert by_day[day] == pytest.approx(amount, abs=1e-12), day
    assert len(times) == 56
    assert reg.total_dose_mg_per_kg() == pytest.approx(28 * 1.0 + 7 * (0.8 + 0.6 + 0.4 + 0.2))


def test_step_taper_to_zero_drops_doses():
    reg = DosingRegimen(dose_mg_per_kg=0.5, stop_day=56.0, taper="step", taper_start_day=28.0, taper_step_mg_per_kg=0.2)
    times, amounts = reg.bolus_events()
    # days 0-27: 0.5; 28-34: 0.3; 35-41: 0.1; from day 42 the dose would be -0.1 -> 0 -> not given
    assert times[-1] == 41 * 24.0
    assert amounts.min() == pytest.approx(0.1)
    assert len(times) == 42


def test_percent_taper():
    reg = DosingRegimen(
        dose_mg_per_kg=1.0, stop_day=56.0, taper="percent", taper_start_day=28.0, taper_every_days=7.0
    )  # 25 % per week by default
    times, amounts = reg.bolus_events()
    by_day = dict(zip(times / 24.0, amounts))
    expected = {27: 1.0, 28: 0.75, 34: 0.75, 35: 0.5625, 42: 0.421875, 49: 0.31640625, 55: 0.31640625}
    for day, amount in expected.items():
        assert by_day[day] == pytest.approx(amount, rel=1e-12), day


def test_drinking_water_day_night_split():
    reg = DosingRegimen(route="drinking_water", dose_mg_per_kg=6.0, start_day=0.0, stop_day=2.0)
    assert reg.bolus_events()[0].size == 0
    segments = reg.infusion_segments()
    # 12 h light (20 %) then 12 h dark (80 %), twice
    light, dark = 6.0 * 0.2 / 12.0, 6.0 * 0.8 / 12.0
    expected = [(0.0, 12.0, light), (12.0, 24.0, dark), (24.0, 36.0, light), (36.0, 48.0, dark)]
    np.testing.assert_allclose(np.array(segments), np.array(expected), rtol=1e-12)
    assert reg.total_dose_mg_per_kg() == pytest.approx(12.0, rel=1e-12)


@pytest.mark.parametrize("lights_off_h", [0.0, 6.0, 12.0])
@pytest.mark.parametrize("dark_fraction", [0.5, 0.8, 1.0])
def test_drinking_water_total_per_day_is_the_daily_dose(lights_off_h, dark_fraction):
    reg = DosingRegimen(
        route="drinking_water",
        dose_mg_per_kg=5.0,
        stop_day=7.0,
        lights_off_h=lights_off_h,
        dark_phase_fraction=dark_fraction,
    )
    per_day = np.zeros(7)
    dark = np.zeros(7)
    for t0, t1, rate in reg.infusion_segments():
        day = int(t0 // 24)
        assert int((t1 - 1e-9) // 24) == day, "a segment crosses midnight"
        per_day[day] += rate * (t1 - t0)
        if lights_off_h <= (0.5 * (t0 + t1)) % 24.0 < lights_off_h + 12.0:
            dark[day] += rate * (t1 - t0)
    np.testing.assert_allclose(per_day, 5.0, rtol=1e-12)
    np.testing.assert_allclose(dark, 5.0 * dark_fraction, rtol=1e-12)


def test_drinking_water_partial_first_day():
    # starts at 06:00 (light until 12:00), stops at midnight: 6 h of light + 12 h of dark
    reg = DosingRegimen(route="drinking_water", dose_mg_per_kg=4.0, start_day=0.25, stop_day=1.0)
    assert reg.total_dose_mg_per_kg() == pytest.approx(4.0 * (0.2 * 6 / 12 + 0.8))
    assert reg.infusion_segments()[0][0] == 6.0


def test_drinking_water_stops_at_end_day():
    reg = DosingRegimen(route="drinking_water", dose_mg_per_kg=5.0, stop_day=7.0)
    assert reg.total_dose_mg_per_kg(end_day=2.5) == pytest.approx(5.0 * 2 + 5.0 * 0.2)


def test_absolute_dose_is_converted_with_body_weight():
    reg = DosingRegimen(route="oral", dose_mg=10.0, interval_h=24.0, stop_day=3.0)
    assert reg.dose_per_kg(70.0) == pytest.approx(10.0 / 70.0)
    _, amounts = reg.bolus_events(body_weight_kg=70.0)
    np.testing.assert_allclose(amounts, 10.0 / 70.0, rtol=1e-15)
    water = DosingRegimen(route="drinking_water", dose_mg=7.0, stop_day=2.0)
    assert water.total_dose_mg_per_kg(body_weight_kg=70.0) == pytest.approx(0.2, rel=1e-12)


def test_dose_attributes_give_both_units_and_the_key_that_set_the_dose():
    by_mg = DosingRegimen(route="oral", dose_mg=7.0, interval_h=8.0, stop_day=2.0).dose_attributes(56.0)
    by_kg = DosingRegimen(route="oral", dose_mg_per_kg=0.125, interval_h=8.0, stop_day=2.0).dose_attributes(56.0)
    assert by_mg == {"dose_mg_per_kg": 0.125, "dose_mg": 7.0, "body_weight_kg": 56.0, "dose_set_by": "regimen.dose_mg"}
    assert by_kg == {**by_mg, "dose_set_by": "regimen.dose_mg_per_kg"}  # 0.125 mg/kg x 56 kg = 7 mg


@pytest.mark.parametrize(
    "fields", [{}, {"dose_mg_per_kg": 5.0, "dose_mg": 10.0}, {"dose_mg_per_kg": 0.0, "dose_mg": 0.0}]
)
def test_both_or_neither_dose_unit_is_refused_naming_both_keys(fields):
    with pytest.raises(ConfigError) as refused:
        DosingRegimen(**fields)
    message = str(refused.value)
    assert "regimen.dose_mg_per_kg" in message and "regimen.dose_mg " in message and "\n" not in message
    assert ("regimen.dose_mg=null" in message) if fields else ("neither" in message)


def test_explicit_amounts_are_in_mg_per_kg_and_refused_with_a_dose_in_mg():
    with pytest.raises(
        ConfigError, match=r"regimen\.dose_amounts_mg_per_kg = \[7\.0, 14\.0\] .* regimen\.dose_mg = 10\.0"
    ):
        DosingRegimen(dose_mg=10.0, dose_days=[0.0, 1.0], dose_amounts_mg_per_kg=[7.0, 14.0])


def test_zero_dose_gives_no_events():
    assert DosingRegimen(dose_mg_per_kg=0.0).bolus_events()[0].size == 0
    assert DosingRegimen(route="drinking_water", dose_mg_per_kg=0.0).infusion_segments() == []


def test_never_withdrawn_needs_an_end_day():
    reg = DosingRegimen(dose_mg_per_kg=5.0, stop_day=math.inf)
    times, _ = reg.bolus_events(end_day=3.5)
    np.testing.assert_array_equal(times, [0.0, 24.0, 48.0, 72.0])
    assert reg.withdrawal_day == math.inf


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"dose_mg_per_kg": -1.0}, "dose_mg_per_kg"),
        ({"dose_mg_per_kg": math.nan}, "dose_mg_per_kg"),
        ({"dose_mg_per_kg": math.inf}, "dose_mg_per_kg"),
        ({"interval_h": 0.0}, "interval_h"),
        ({"start_day": 5.0, "stop_day": 3.0}, "stop_day"),
        ({"stop_day": 0.0}, "stop_day"),
        ({"route": "nasal"}, "route"),
        ({"taper": "slow"}, "taper"),
        ({"taper_percent": 150.0}, "taper_percent"),
        ({"dark_phase_fraction": 1.5}, "dark_phase_fraction"),
        ({"dose_days": [1.0, -1.0]}, "dose_days"),
        ({"dose_days": [1.0], "dose_amounts_mg_per_kg": [1.0, 2.0]}, "dose_amounts_mg_per_kg"),
        ({"route": "drinking_water", "dose_days": [1.0]}, "dose_days"),
        ({"dose_mg": -3.0}, "dose_mg"),
    ],
)
def test_invalid_regimens_name_the_key(kwargs, key):
    dose = {} if "dose_mg" in kwargs or "dose_mg_per_kg" in kwargs else {"dose_mg_per_kg": 1.0}
    with pytest.raises(ConfigError, match=key):
        DosingRegimen(**dose, **kwargs)


@settings(max_examples=60, deadline=None)
@given(
    interval_h=st.floats(0.5, 72.0),
    start_day=st.floats(0.0, 10.0),
    length_days=st.floats(0.01, 30.0),
    dose=st.floats(0.0, 100.0),
)
def test_interval_schedule_laws(interval_h, start_day, length_days, dose):
    reg = DosingRegimen(
        dose_mg_per_kg=dose, interval_h=interval_h, start_day=start_day, stop_day=start_day + length_days
    )
    times, amounts = reg.bolus_events()
    if dose == 0.0:
        assert times.size == 0
        return
    assert times[0] == pytest.approx(start_day * 24.0)
    assert np.all(times < (start_day + length_days) * 24.0 + 1e-6)
    np.testing.assert_allclose(np.diff(times), interval_h, rtol=1e-9)
    assert times.size == math.ceil(length_days * 24.0 / interval_h - 1e-9)
    assert reg.total_dose_mg_per_kg() == pytest.approx(dose * times.size)
