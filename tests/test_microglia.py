"""Microglia stage: stimulus transduction, the activation vector field, TSPO induction, C1q, depletion.

Only structural laws are tested here; the calibrated rates may change (configs/calibration/)."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import ConfigError, MicrogliaActivation, MicrogliaDepletion
from sim.microglia import microglia_rhs, stimulus

fractions = st.floats(0.0, 1.0)
positive = st.floats(1e-3, 1e3)


def stage(**kwargs) -> MicrogliaActivation:
    return MicrogliaActivation(**kwargs)


def rec(mg: MicrogliaActivation, resting: float = 1.0, fold: float = 9.0, responsiveness: float = 1.0):
    """The stage's record in a context with the given resting TSPO, induction fold and responsiveness."""
    context = SimpleNamespace(
        genotype=SimpleNamespace(tspo_expression=1.0),
        depletion=SimpleNamespace(tspo_fold=resting, responsiveness=responsiveness, density=1.0),
    )
    return dataclasses.replace(mg, tspo_induction_fold=fold).record(context)


def stim(mg, agonism, tspo, responsiveness):
    return stimulus(rec(mg, responsiveness=responsiveness), agonism, np.asarray(tspo, dtype=float))


def rhs(mg, state, agonism, resting, fold, responsiveness):
    out = np.zeros(3)
    microglia_rhs(rec(mg, resting, fold, responsiveness), np.asarray(state, dtype=float), np.array([agonism]), out)
    return out


@settings(max_examples=100, deadline=None)
@given(agonism=fractions, ec50=st.floats(1e-3, 10.0), hill=st.floats(0.25, 4.0))
def test_stimulus_is_a_hill_function_of_agonism(agonism, ec50, hill):
    s = float(stim(stage(stimulus_ec50=ec50, stimulus_hill=hill), agonism, 1.0, 1.0))
    assert 0.0 <= s < 1.0
    assert s == pytest.approx(agonism**hill / (agonism**hill + ec50**hill), rel=1e-12, abs=1e-300)


def test_half_maximal_stimulus_at_ec50():
    assert float(stim(stage(stimulus_ec50=0.3, stimulus_hill=2.0), 0.3, 1.0, 1.0)) == pytest.approx(0.5)


@pytest.mark.parametrize("tspo_level", [0.0, 1.0, 9.0])
def test_unresponsive_microglia_or_no_agonism_mean_no_stimulus(tspo_level):
    # (a TSPO knockout acts through the binding stage: its agonism is zero, see tests/test_binding.py)
    assert float(stim(stage(), 1.0, tspo_level, 0.0)) == 0.0
    assert float(stim(stage(), 0.0, tspo_level, 1.0)) == 0.0


def test_more_tspo_never_lowers_the_stimulus():
    levels = np.linspace(0.0, 9.0, 50)
    s = stim(stage(), 0.3, levels, 1.0)
    assert np.all(np.diff(s) >= 0.0)


@settings(max_examples=100, deadline=None)
@given(agonism=fractions, tspo=st.floats(0.0, 20.0), c1q=st.floats(0.0, 10.0), fold=st.floats(1.0, 20.0))
def test_activation_vector_field_points_into_unit_interval(agonism, tspo, c1q, fold):
    mg = stage()
    low = rhs(mg, np.array([0.0, tspo, c1q]), agonism, 1.0, fold, 1.0)
    high = rhs(mg, np.array([1.0, tspo, c1q]), agonism, 1.0, fold, 1.0)
    assert low[0] >= 0.0
    assert high[0] <= 0.0


def test_resting_microglia_are_at_a_fixed_point():
    mg = stage()
    for resting in (0.0, 1.0, 2.0):
        np.testing.assert_array_equal(rhs(mg, mg.initial_state(rec(mg, resting)), 0.0, resting, 9.0, 1.0), 0.0)


def test_constant_stimulus_steady_state():
    """With constant agonism and fixed TSPO, A* = k_act s / (k_act s + k_deact), C1q* = 1 + g_Q A*."""
    mg = stage(activation_rate_per_h=0.05, deactivation_half_life_h=30.0, c1q_gain=1.5)
    s = float(stim(mg, 0.4, 1.0, 1.0))
    activation = mg.activation_rate_per_h * s / (mg.activation_rate_per_h * s + mg.deactivation_rate)
    # fold 1: the TSPO target stays at rest whatever the activation, so TSPO = 1 is steady too
    state = np.array([activation, 1.0, 1.0 + 1.5 * activation])
    np.testing.assert_allclose(rhs(mg, state, 0.4, 1.0, 1.0, 1.0), 0.0, atol=1e-15)


def test_tspo_and_c1q_relax_to_their_targets_with_their_half_lives():
    mg = stage(tspo_half_life_h=10.0, c1q_half_life_h=5.0, c1q_gain=2.0)
    d = rhs(mg, np.array([0.5, 1.0, 1.0]), 0.0, 1.0, 9.0, 1.0)
    assert d[1] == pytest.approx(math.log(2) / 10.0 * (1.0 * (1 + 8 * 0.5) - 1.0))
    assert d[2] == pytest.approx(math.log(2) / 5.0 * (1 + 2.0 * 0.5 - 1.0))


def test_engulfment_capacity():
    np.testing.assert_allclose(stage(engulfment_gain=3.0).engulfment_capacity([0.0, 0.5, 1.0]), [1.0, 2.5, 4.0])


def test_depletion_density():
    assert MicrogliaDepletion().density == 1.0
    assert MicrogliaDepletion(fraction_depleted=0.9).density == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"activation_rate_per_h": 0.0},
        {"deactivation_half_life_h": -1.0},
        {"stimulus_ec50": 0.0},
        {"stimulus_hill": math.nan},
        {"c1q_gain": -1.0},
        {"engulfment_gain": -0.5},
    ],
)
def test_invalid_activation_names_the_key(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        stage(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"fraction_depleted": 1.0}, {"fraction_depleted": -0.1}, {"residual_responsiveness": 2.0}]
)
def test_invalid_depletion_names_the_key(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        MicrogliaDepletion(**kwargs)
