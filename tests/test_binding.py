"""Binding stage: equilibrium competitive occupancy, genotype switches and Ki scaling."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim import Compound, ConfigError, Drug, EquilibriumBinding, Genotype
from sim.binding import weighted_occupancy


def occupancy(free: np.ndarray, affinity: np.ndarray) -> np.ndarray:
    """Per-compound occupancy: the stage function with a one-hot weight for each compound."""
    return np.array([weighted_occupancy(affinity, np.eye(affinity.size)[i], free) for i in range(affinity.size)])


def context(drug: Drug, names: tuple[str, ...], genotype: Genotype | None = None) -> SimpleNamespace:
    return SimpleNamespace(drug=drug, pk=SimpleNamespace(names=names), genotype=genotype or Genotype())


concentrations = st.floats(0.0, 1e6, allow_subnormal=False)
affinities = st.one_of(st.just(0.0), st.floats(1e-8, 1e6, allow_subnormal=False))  # 1/µM; 0 = no affinity


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    n_compounds=st.integers(1, 4),
    n_times=st.integers(1, 5),
)
def test_occupancy_lies_in_unit_interval(data, n_compounds, n_times):
    free = data.draw(hnp.arrays(float, (n_compounds, n_times), elements=concentrations))
    affinity = data.draw(hnp.arrays(float, n_compounds, elements=affinities))
    theta = occupancy(free, affinity)
    assert theta.shape == free.shape
    assert np.all(theta >= 0.0)
    assert np.all(theta.sum(axis=0) <= 1.0)
    assert np.all(theta[affinity == 0.0] == 0.0)


@settings(max_examples=100, deadline=None)
@given(free=st.floats(0.0, 1e4), ki_nM=st.floats(1e-3, 1e6))
def test_single_ligand_is_hyperbolic(free, ki_nM):
    theta = occupancy(np.array([free]), np.array([1e3 / ki_nM]))[0]
    assert theta == pytest.approx(free / (free + ki_nM * 1e-3), rel=1e-12, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(a=st.floats(1e-3, 1e3), b=st.floats(1e-3, 1e3), ka=st.floats(1e-3, 1e3), kb=st.floats(1e-3, 1e3))
def test_competitive_binding_closed_form(a, b, ka, kb):
    theta = occupancy(np.array([a, b]), np.array([ka, kb]))
    denominator = 1.0 + a * ka + b * kb
    np.testing.assert_allclose(theta, [a * ka / denominator, b * kb / denominator], rtol=1e-12)
    # a competitor can only lower the other ligand's occupancy
    alone = occupancy(np.array([a]), np.array([ka]))[0]
    assert theta[0] <= alone * (1 + 1e-12)


def test_negative_concentrations_count_as_zero():
    theta = occupancy(np.array([-1e-20, 1.0]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(theta, [0.0, 0.5])


def drug_two():
    return Drug(
        name="d",
        compounds={
            "p": Compound(tspo_ki_nM=100.0, gabaa_ki_nM=10.0, tspo_efficacy=1.0, gabaa_efficacy=1.0),
            "m": Compound(tspo_ki_nM=math.inf, gabaa_ki_nM=20.0, gabaa_efficacy=0.5),
        },
    )


def test_affinities_are_inverse_ki_in_per_uM():
    constants = EquilibriumBinding(tspo_ki_scale=2.0).record(context(drug_two(), ("m", "p")))._asdict()
    np.testing.assert_allclose(constants["tspo_affinity"], [0.0, 1e3 / 200.0])
    np.testing.assert_allclose(constants["gabaa_affinity"], [1e3 / 20.0, 1e3 / 10.0])
    np.testing.assert_allclose(constants["gabaa_efficacy"], [0.5, 1.0])


def test_signal_weights_by_efficacy_and_genotype():
    binding = EquilibriumBinding()
    free = np.array([[0.1], [0.02]])  # µM: p at its TSPO Ki, m at its GABA-A Ki

    def signal(genotype):
        return binding.readouts(binding.record(context(drug_two(), ("p", "m"), genotype)), free)

    wt = signal(Genotype())
    assert wt["tspo_occupancy"][0] == pytest.approx(0.5)
    assert wt["tspo_agonism"][0] == pytest.approx(0.5)
    gabaa_p, gabaa_m = 0.1 / 0.01, 0.02 / 0.02
    assert wt["gabaa_occupancy"][0] == pytest.approx((gabaa_p + gabaa_m) / (1 + gabaa_p + gabaa_m))
    assert wt["gabaa_agonism"][0] == pytest.approx((gabaa_p + 0.5 * gabaa_m) / (1 + gabaa_p + gabaa_m))

    ko = signal(Genotype(name="tspo_ko", tspo_expression=0.0))
    assert ko["tspo_occupancy"][0] == 0.0 and ko["tspo_agonism"][0] == 0.0
    assert ko["gabaa_occupancy"][0] == wt["gabaa_occupancy"][0]

    insensitive = signal(Genotype(name="gabaa_bz_insensitive", gabaa_bz_sensitivity=0.0))
    assert insensitive["gabaa_occupancy"][0] == 0.0 and insensitive["gabaa_agonism"][0] == 0.0
    assert insensitive["tspo_occupancy"][0] == wt["tspo_occupancy"][0]


@pytest.mark.parametrize("name", ["tspo_ki_scale", "gabaa_ki_scale"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan])
def test_ki_scales_must_be_positive(name, value):
    with pytest.raises(ConfigError, match=name):
        EquilibriumBinding(**{name: value})
