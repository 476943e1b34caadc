"""Cognition readouts: baselines, chance levels, monotonicity, the detectability criterion, and sedation kept out of
the memory readouts attributed to spines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import BehaviouralReadout, ConfigError, presets, simulate_model


def test_vehicle_mice_score_their_baselines():
    readout = BehaviouralReadout()
    assert readout.novel_object_recognition(100.0) == pytest.approx(readout.nor_baseline_index)
    assert readout.spontaneous_alternation(100.0) == pytest.approx(readout.alternation_baseline_percent)
    # more spines than baseline is no deficit
    assert readout.novel_object_recognition(130.0) == pytest.approx(readout.nor_baseline_index)


def test_readouts_reach_chance_at_their_deficits():
    readout = BehaviouralReadout(nor_deficit_at_chance=0.25, alternation_deficit_at_chance=0.5)
    assert readout.novel_object_recognition(75.0) == pytest.approx(0.0, abs=1e-15)
    assert readout.novel_object_recognition(10.0) == 0.0
    assert readout.spontaneous_alternation(50.0) == pytest.approx(readout.alternation_chance_percent)
    # halfway to the deficit at chance: halfway between baseline and chance
    assert readout.novel_object_recognition(87.5) == pytest.approx(0.5 * readout.nor_baseline_index)


def test_sedation_is_proportional_to_gabaa_agonism_and_clipped():
    readout = BehaviouralReadout(max_sedation=0.4)
    assert readout.sedation(0.5) == pytest.approx(0.2)
    assert readout.sedation(1.0) == pytest.approx(0.4)
    assert readout.sedation(2.0) == pytest.approx(0.4)  # clipped to full agonism


def test_memory_readouts_attributed_to_spines_do_not_depend_on_gabaa_parameters():
    """Same spine trajectory, different GABA-A affinity, efficacy and sedation: identical NOR and alternation.

    Only the separate ``sedation`` output changes. Checked on a full 5 mg/kg run with outputs at the behavioural test.
    """
    cfg = presets.from_overrides(["experiment=shi2022_high_dose", "duration_days=8", "output_step_h=2"])
    base = cfg.model()
    compounds = {
        name: dataclasses.replace(c, gabaa_ki_nM=c.gabaa_ki_nM / 7.0, gabaa_efficacy=0.9)
        for name, c in base.drug.compounds.items()
    }
    changed = dataclasses.replace(
        base,
        drug=dataclasses.replace(base.drug, compounds=compounds),
        binding=dataclasses.replace(base.binding, gabaa_ki_scale=1.0),
        cognition=dataclasses.replace(base.cognition, max_sedation=0.9),
    )
    a, b = simulate_model(base, cfg.times_h()), simulate_model(changed, cfg.times_h())
    assert float(abs(b.gabaa_occupancy - a.gabaa_occupancy).max()) > 0.1  # the perturbation is large
    assert float(abs(b.sedation - a.sedation).max()) > 0.1
    for name in ("spine_density_relative", "nor_discrimination_index", "spontaneous_alternation"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@settings(max_examples=100, deadline=None)
@given(relative=st.floats(0.0, 200.0), lower=st.floats(0.0, 200.0))
def test_readouts_never_improve_with_fewer_spines(relative, lower):
    readout = BehaviouralReadout()
    lower = min(lower, relative)
    assert readout.novel_object_recognition(lower) <= readout.novel_object_recognition(relative)
    assert readout.spontaneous_alternation(lower) <= readout.spontaneous_alternation(relative)
    assert 0.0 <= readout.novel_object_recognition(lower) <= readout.nor_baseline_index


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
