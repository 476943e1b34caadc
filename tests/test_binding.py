"""Binding stage: equilibrium competitive occupancy, genotype switches, Ki scaling, species-specific TSPO Ki and the
in-vivo correction of GABA-A affinities."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sim import Compound, ConfigError, Drug, EquilibriumBinding, Genotype, Species, presets, simulate_model
from sim.binding import weighted_occupancy


def occupancy(free: np.ndarray, affinity: np.ndarray) -> np.ndarray:
    """Per-compound occupancy: the stage function with a one-hot weight for each compound."""
    return np.array([weighted_occupancy(affinity, np.eye(affinity.size)[i], free) for i in range(affinity.size)])


def context(
    drug: Drug, names: tuple[str, ...], genotype: Genotype | None = None, species: str = "mouse", binder: str = "high"
) -> SimpleNamespace:
    return SimpleNamespace(
        drug=drug,
        pk=SimpleNamespace(names=names),
        genotype=genotype or Genotype(),
        species=Species(name=species, tspo_binder=binder),
    )


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
    binding = EquilibriumBinding(tspo_ki_scale=2.0, gabaa_ki_scale=3.0)
    constants = binding.record(context(drug_two(), ("m", "p")))._asdict()
    np.testing.assert_allclose(constants["tspo_affinity"], [0.0, 1e3 / 200.0])
    np.testing.assert_allclose(constants["gabaa_affinity"], [1e3 / 60.0, 1e3 / 30.0])
    np.testing.assert_allclose(constants["gabaa_efficacy"], [0.5, 1.0])


def test_signal_weights_by_efficacy_and_genotype():
    binding = EquilibriumBinding(gabaa_ki_scale=1.0)
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


def test_tspo_ki_is_species_specific_where_measured():
    """A human run uses the human Ki of a compound that has one, the rodent Ki otherwise; mouse runs the rodent Ki."""
    drug = Drug(
        name="d",
        compounds={
            "p": Compound(tspo_ki_nM=91.0, tspo_ki_by_species_nM={"human": 177.0}),
            "m": Compound(tspo_ki_nM=5000.0),
        },
    )
    binding = EquilibriumBinding()
    human = binding.record(context(drug, ("p", "m"), species="human")).tspo_affinity
    mouse = binding.record(context(drug, ("p", "m"), species="mouse")).tspo_affinity
    np.testing.assert_allclose(human, [1e3 / 177.0, 1e3 / 5000.0])
    np.testing.assert_allclose(mouse, [1e3 / 91.0, 1e3 / 5000.0])
    assert drug.borrowed_tspo_ki("human") == ["m"]


def test_packaged_diazepam_uses_the_human_placenta_ki_in_human_runs():
    diazepam = presets.from_overrides(["species=human"]).model().drug.compounds["diazepam"]
    assert diazepam.tspo_ki_for("human") == 177.0  # Fares & Gavish 1986, human placenta
    assert diazepam.tspo_ki_for("mouse") == 91.0  # mouse glioblastoma


def test_species_ki_must_be_positive():
    with pytest.raises(ConfigError, match=r"tspo_ki_by_species_nM\.human = -1"):
        Compound(tspo_ki_by_species_nM={"human": -1.0})


def test_in_vivo_gabaa_correction_reproduces_the_midazolam_in_vivo_kd():
    """The default correction turns midazolam's in-vitro Ki into its in-vivo free Kd of about 59 nM (Videbaek 1993)."""
    midazolam = presets.from_overrides(["drug=midazolam"]).model()
    in_vivo_ki = 1e3 / midazolam.binding.record(midazolam).gabaa_affinity[0]
    assert in_vivo_ki == pytest.approx(59.0, rel=0.02)


def test_gabaa_occupancy_and_sedation_at_the_behavioural_test_are_small():
    """24 h after the last 1 mg/kg dose (day 56) and the 7th 5 mg/kg dose (day 7), GABA-A occupancy is a few % at most.

    With in-vitro (0-4 degC) Ki the 5 mg/kg arm had 41 % occupancy and 20 % sedation at that time.
    """
    for experiment, day in (("shi2022_high_dose", 7.0), ("shi2022_low_dose", 56.0)):
        cfg = presets.from_overrides([f"experiment={experiment}", f"duration_days={day + 0.5}", "output_step_h=1"])
        ds = simulate_model(cfg.model(), cfg.times_h())
        assert float(ds.gabaa_occupancy.interp(time=day)) < 0.05, experiment
        assert float(ds.sedation.interp(time=day)) < 0.03, experiment


# ---------------------------------------------------------------------------------------------- rs6971 binding classes
def drug_rs6971():
    """A ligand whose two human TSPO forms differ (Ki 2 and 30 nM) and one that binds both alike (Ki 50 nM)."""
    return Drug(
        name="d",
        compounds={
            "second_gen": Compound(tspo_ki_nM=7.0, tspo_ki_by_binder_nM={"high": 2.0, "low": 30.0}),
            "insensitive": Compound(tspo_ki_nM=50.0),
        },
    )


@pytest.mark.parametrize("free_uM", [0.001, 0.01, 0.1])
def test_mixed_binders_average_two_site_populations(free_uM):
    """Occupancy of one ligand alone: high and low binders follow one hyperbola each, mixed binders their mean."""
    binding = EquilibriumBinding()
    free = np.array([[free_uM], [0.0]])

    def occupancy_of(binder):
        record = binding.record(context(drug_rs6971(), ("second_gen", "insensitive"), species="human", binder=binder))
        return binding.readouts(record, free)["tspo_occupancy"][0]

    c_nM = free_uM * 1e3
    high, low = c_nM / (c_nM + 2.0), c_nM / (c_nM + 30.0)
    assert occupancy_of("high") == pytest.approx(high, rel=1e-12)
    assert occupancy_of("low") == pytest.approx(low, rel=1e-12)
    assert occupancy_of("mixed") == pytest.approx(0.5 * (high + low), rel=1e-12)
    assert low < 0.5 * (high + low) < high


def test_a_ligand_without_binder_specific_ki_is_blind_to_rs6971():
    binding = EquilibriumBinding()
    free = np.array([[0.0], [0.05]])
    occupancies = {
        binder: binding.readouts(
            binding.record(context(drug_rs6971(), ("second_gen", "insensitive"), species="human", binder=binder)),
            free,
        )["tspo_occupancy"][0]
        for binder in ("high", "mixed", "low")
    }
    assert occupancies["high"] == occupancies["mixed"] == occupancies["low"] == pytest.approx(50.0 / 100.0)


def test_binder_specific_ki_applies_to_humans_only():
    compound = drug_rs6971().compounds["second_gen"]
    assert compound.tspo_ki_for("human", "low") == 30.0
    assert compound.tspo_ki_for("human", "high") == 2.0
    assert compound.tspo_ki_for("mouse", "low") == compound.tspo_ki_for("mouse") == 7.0


def test_packaged_pk11195_binds_both_human_forms_alike():
    """[3H]PK11195 has the same Kd in high- and low-affinity binders (Owen et al. 2010)."""
    pk11195 = presets.from_overrides(["drug=pk11195"]).model().drug.compounds["pk11195"]
    assert pk11195.tspo_ki_for("human", "low") == pk11195.tspo_ki_for("human", "high") == 2.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tspo_ki_by_binder_nM": {"medium": 1.0}}, r"tspo_ki_by_binder_nM has key 'medium'.*high, low"),
        ({"tspo_ki_by_binder_nM": {"low": 0.0}}, r"tspo_ki_by_binder_nM\.low = 0\.0 is not allowed"),
    ],
)
def test_binder_ki_keys_and_values_are_checked(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Compound(**kwargs)
