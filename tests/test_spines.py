"""Spine stage: the drug-free steady state follows from the observable baseline, fluxes have the right signs,
and the derived rate constants reproduce the user's numbers. No calibrated value is assumed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim import ConfigError, SpineTurnover
from sim.spines import relative_density, spine_rhs

spine_parameters = st.fixed_dictionaries(
    {
        "baseline_density_per_um": st.floats(0.05, 5.0),
        "elimination_per_day": st.floats(1e-3, 0.2),
        "microglial_share": st.floats(0.0, 1.0),
        "tagged_dwell_h": st.floats(0.1, 100.0),
        "homeostatic_gain": st.floats(0.0, 10.0),
        "baseline_formation_suppression": st.floats(0.0, 0.95),
        "activated_formation_suppression": st.floats(0.0, 2.0),
    }
)


def rhs(spines: SpineTurnover, state, activation, c1q, capacity, density):
    """Derivatives of (untagged, tagged) from the stage function, with the microglia signal spelled out."""
    out = np.zeros(2)
    spine_rhs(spines.record(), np.asarray(state, dtype=float), np.array([activation, c1q, capacity, density]), out)
    return out


def make(params: dict) -> SpineTurnover:
    try:
        return SpineTurnover(**params)
    except ConfigError:
        assume(False)  # tagged spines would exceed the population: rejected by design, tested below
        raise


@settings(max_examples=150, deadline=None)
@given(params=spine_parameters)
def test_baseline_is_the_drug_free_steady_state(params):
    spines = make(params)
    state = spines.initial_state()
    assert state.sum() == pytest.approx(spines.baseline_density_per_um, rel=1e-14)
    assert np.all(state >= 0.0)
    d = rhs(spines, state, 0.0, 1.0, 1.0, 1.0)
    scale = spines.elimination_per_day / 24.0 * spines.baseline_density_per_um
    np.testing.assert_allclose(d, 0.0, atol=1e-12 * scale)


@settings(max_examples=150, deadline=None)
@given(params=spine_parameters)
def test_derived_rates_reproduce_the_observables(params):
    spines = make(params)
    untagged, tagged = spines.initial_state()
    formation, elimination = spines.rates_per_day(untagged, tagged, 0.0, 1.0, 1.0, 1.0)
    assert formation == pytest.approx(spines.elimination_per_day, rel=1e-12)
    assert elimination == pytest.approx(spines.elimination_per_day, rel=1e-12)
    engulfed_per_day = 24.0 * spines.engulfment(tagged, 1.0, 1.0) / spines.baseline_density_per_um
    assert engulfed_per_day == pytest.approx(
        spines.microglial_share * spines.elimination_per_day, rel=1e-12, abs=1e-300
    )


@settings(max_examples=150, deadline=None)
@given(
    params=spine_parameters,
    untagged=st.floats(0.0, 5.0),
    tagged=st.floats(0.0, 5.0),
    activation=st.floats(0.0, 1.0),
    c1q=st.floats(0.0, 10.0),
    density=st.floats(0.0, 1.0),
)
def test_vector_field_keeps_densities_non_negative(params, untagged, tagged, activation, c1q, density):
    spines = make(params)
    capacity = 1.0 + 2.0 * activation
    assert rhs(spines, np.array([0.0, tagged]), activation, c1q, capacity, density)[0] >= 0.0
    assert rhs(spines, np.array([untagged, 0.0]), activation, c1q, capacity, density)[1] >= 0.0
    assert spines.formation(untagged + tagged, activation, density) >= 0.0


def test_activation_and_c1q_increase_loss_and_reduce_formation():
    spines = SpineTurnover()
    untagged, tagged = spines.initial_state()
    rest = spines.rates_per_day(untagged, tagged, 0.0, 1.0, 1.0, 1.0)
    active = spines.rates_per_day(untagged, tagged, 1.0, 1.0, 3.0, 1.0)
    assert active[1] > rest[1]
    assert active[0] < rest[0]
    assert spines.tagging(1.0, 3.0, 1.0) == pytest.approx(3.0 * spines.tagging(1.0, 1.0, 1.0))


def test_homeostasis_raises_formation_below_baseline():
    spines = SpineTurnover(homeostatic_gain=2.0)
    s0 = spines.baseline_density_per_um
    at, below = spines.formation(s0, 0.0, 1.0), spines.formation(0.8 * s0, 0.0, 1.0)
    assert below == pytest.approx(at * (1 + 2.0 * 0.2))
    assert spines.formation(10 * s0, 0.0, 1.0) == 0.0  # clipped, never negative


def test_depletion_removes_microglial_suppression_and_engulfment():
    spines = SpineTurnover()
    untagged, tagged = spines.initial_state()
    intact = rhs(spines, np.array([untagged, tagged]), 0.0, 1.0, 1.0, 1.0)
    depleted = rhs(spines, np.array([untagged, tagged]), 0.0, 1.0, 1.0, 0.1)
    assert depleted.sum() > intact.sum()  # net growth when microglia are gone


def test_relative_density():
    np.testing.assert_allclose(relative_density([0.45, 0.225], 0.45), [100.0, 50.0])


def test_tagged_pool_larger_than_population_is_rejected():
    with pytest.raises(ConfigError, match="tagged_dwell_h"):
        SpineTurnover(elimination_per_day=0.5, microglial_share=1.0, tagged_dwell_h=100.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline_density_per_um": 0.0},
        {"elimination_per_day": -0.1},
        {"microglial_share": 1.5},
        {"baseline_formation_suppression": 1.0},
        {"homeostatic_gain": -1.0},
    ],
)
def test_invalid_spines_name_the_key(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        SpineTurnover(**kwargs)
