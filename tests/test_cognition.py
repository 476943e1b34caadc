"""Cognition readouts: baselines, chance levels, monotonicity and the detectability criterion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import BehaviouralReadout, ConfigError


def test_vehicle_mice_score_their_baselines():
    readout = BehaviouralReadout()
    assert readout.novel_object_recognition(100.0, 0.0) == pytest.approx(readout.nor_baseline_index)
    assert readout.spontaneous_alternation(100.0, 0.0) == pytest.approx(readout.alternation_baseline_percent)
    # more spines than baseline is no deficit
    assert readout.novel_object_recognition(130.0, 0.0) == pytest.approx(readout.nor_baseline_index)


def test_readouts_reach_chance_at_their_deficits():
    readout = BehaviouralReadout(nor_deficit_at_chance=0.25, alternation_deficit_at_chance=0.5)
    assert readout.novel_object_recognition(75.0, 0.0) == pytest.approx(0.0, abs=1e-15)
    assert readout.novel_object_recognition(10.0, 0.0) == 0.0
    assert readout.spontaneous_alternation(50.0, 0.0) == pytest.approx(readout.alternation_chance_percent)
    # halfway to the deficit at chance: halfway between baseline and chance
    assert readout.novel_object_recognition(87.5, 0.0) == pytest.approx(0.5 * readout.nor_baseline_index)


def test_sedation_scales_performance_down():
    readout = BehaviouralReadout(max_sedation=0.4)
    assert readout.sedation(1.0) == pytest.approx(0.4)
    assert readout.sedation(2.0) == pytest.approx(0.4)  # clipped to full agonism
    assert readout.novel_object_recognition(100.0, 1.0) == pytest.approx(0.6 * readout.nor_baseline_index)
    above = readout.alternation_baseline_percent - readout.alternation_chance_percent
    expected = readout.alternation_chance_percent + 0.6 * above
    assert readout.spontaneous_alternation(100.0, 1.0) == pytest.approx(expected)


@settings(max_examples=100, deadline=None)
@given(relative=st.floats(0.0, 200.0), lower=st.floats(0.0, 200.0), agonism=st.floats(0.0, 1.0))
def test_readouts_never_improve_with_fewer_spines(relative, lower, agonism):
    readout = BehaviouralReadout()
    lower = min(lower, relative)
    assert readout.novel_object_recognition(lower, agonism) <= readout.novel_object_recognition(relative, agonism)
    assert readout.spontaneous_alternation(lower, agonism) <= readout.spontaneous_alternation(relative, agonism)
    assert 0.0 <= readout.novel_object_recognition(lower, agonism) <= readout.nor_baseline_index


def test_minimal_detectable_drop():
    readout = BehaviouralReadout(animals_per_group=8)
    z = 1.959963984540054 + 0.8416212335729143  # two-sided alpha 0.05, power 0.8
    assert readout.minimal_detectable_drop(0.15) == pytest.approx(z * 0.15 * np.sqrt(2 / 8), rel=1e-9)
    assert readout.minimal_detectable_drop(0.15) > BehaviouralReadout(animals_per_group=20).minimal_detectable_drop(
        0.15
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"nor_baseline_index": 1.5}, {"max_sedation": -0.1}, {"animals_per_group": 0}, {"nor_deficit_at_chance": 0}],
)
def test_invalid_readouts_name_the_key(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        BehaviouralReadout(**kwargs)
