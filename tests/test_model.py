"""The coupled model: drug-free steady state, TSPO knockout, invariants over random drugs and regimens, the
compiled fast right-hand side, and the dose schedule handed to the engines."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import (
    Compound,
    CompoundPK,
    ConfigError,
    DosingRegimen,
    Drug,
    Genotype,
    LinearChainPK,
    MicrogliaActivation,
    MicrogliaDepletion,
    Species,
    SpineTurnover,
    simulate_model,
)
from sim.core.results import OUTPUTS

STEADY_RTOL = 1e-9


def assert_every_output_at_baseline(ds, model):
    """Every output equals its drug-free baseline at every time (to STEADY_RTOL)."""
    spines = model.spines
    cognition = model.cognition
    expected = {
        "tspo_occupancy": 0.0,
        "gabaa_occupancy": 0.0,
        "tspo_agonism": 0.0,
        "plasma_concentration": 0.0,
        "brain_concentration": 0.0,
        "brain_free_concentration": 0.0,
        "cumulative_dose": 0.0,
        "microglia_activation": 0.0,
        "microglial_tspo": model.resting_tspo,
        "microglial_tspo_total": model.resting_tspo,
        "tspo_pet_proxy": 1.0 if model.resting_tspo > 0 else 0.0,
        "c1q_level": 1.0,
        "microglia_density": 1.0,
        "spine_density": spines.baseline_density_per_um,
        "tagged_spine_density": spines.baseline_tagged_density,
        "spine_density_relative": 100.0,
        "spine_formation_rate": spines.elimination_per_day,
        "spine_elimination_rate": spines.elimination_per_day,
        "sedation": 0.0,
        "nor_discrimination_index": cognition.nor_baseline_index,
        "spontaneous_alternation": cognition.alternation_baseline_percent,
    }
    missing = set(ds.data_vars) - set(expected)
    assert not missing, f"add the baseline of {missing} to this test"
    for name, value in expected.items():
        np.testing.assert_allclose(ds[name].values, value, rtol=STEADY_RTOL, atol=0.0, err_msg=name)


def test_no_drug_keeps_every_output_at_baseline_for_70_days(model):
    model = dataclasses.replace(model, regimen=DosingRegimen(dose_mg_per_kg=0.0, stop_day=7.0))
    ds = simulate_model(model, np.arange(0.0, 70 * 24.0 + 1, 1.0))
    assert_every_output_at_baseline(ds, model)


def test_vehicle_experiment_keeps_every_output_at_baseline():
    """The composed vehicle arm, with whatever calibration is current: the baseline is a steady state by design."""
    run = sim.presets.from_overrides(["experiment=vehicle"])
    ds = sim.simulate(run)
    assert ds.time[-1] == 70.0
    assert_every_output_at_baseline(ds, run.model())


def tspo_ligand(ki_nM: float) -> Drug:
    return Drug(name="ligand", compounds={"ligand": Compound(tspo_ki_nM=ki_nM, gabaa_ki_nM=20.0)})


def ligand_pk() -> LinearChainPK:
    return LinearChainPK(dosed="ligand", compounds={"ligand": CompoundPK(half_life_h=2.0, volume_l_per_kg=3.0)})


@pytest.mark.filterwarnings("ignore:regimen.dose_mg_per_kg = .* amounts to")  # doses above the plausible limit
@settings(max_examples=8, deadline=None)
@given(
    # 0 (vehicle) or a dose large enough to reach the body: a subnormal dose (5e-324) rounds every administration
    # to zero, which sim.checks refuses as a drug that is never given
    dose=st.one_of(st.just(0.0), st.floats(1e-9, 1000.0)),
    duration_days=st.floats(1.0, 70.0),
    diazepam=st.booleans(),
    route=st.sampled_from(["ip", "oral", "iv", "drinking_water"]),
)
def test_tspo_knockout_never_changes_spines(model_factory, dose, duration_days, diazepam, route):
    regimen = DosingRegimen(  # the invariant holds at any dose, implausible ones included (sim.checks)
        route=route, dose_mg_per_kg=dose, interval_h=24.0, stop_day=14.0, allow_implausible_dose=True
    )
    stages = {} if diazepam else {"drug": tspo_ligand(0.3), "pk": ligand_pk()}
    model = model_factory(genotype=Genotype(name="tspo_ko", tspo_expression=0.0), regimen=regimen, **stages)
    ds = simulate_model(model, np.linspace(0.0, duration_days * 24.0, 57))
    np.testing.assert_allclose(ds.spine_density_relative, 100.0, rtol=STEADY_RTOL, atol=0)
    np.testing.assert_allclose(ds.spine_density, model.spines.baseline_density_per_um, rtol=STEADY_RTOL, atol=0)
    assert np.all(ds.microglia_activation.values == 0.0)
    assert np.all(ds.tspo_occupancy.values == 0.0)
    np.testing.assert_allclose(ds.c1q_level, 1.0, rtol=STEADY_RTOL, atol=0)


def test_tspo_knockout_test_would_see_a_wild_type_effect(model):
    """Guard against a vacuous knockout test: the same high dose does move wild-type spines."""
    regimen = DosingRegimen(dose_mg_per_kg=50.0, stop_day=14.0)
    ds = simulate_model(dataclasses.replace(model, regimen=regimen), np.linspace(0.0, 21 * 24.0, 22))
    assert ds.microglia_activation.max() > 1e-3
    assert abs(ds.spine_density_relative.min() - 100.0) > 1e-3


ki = st.one_of(st.just(math.inf), st.floats(0.01, 1e5))
compounds = st.fixed_dictionaries(
    {
        "tspo_ki_nM": ki,
        "gabaa_ki_nM": ki,
        "tspo_efficacy": st.floats(0.0, 1.0),
        "gabaa_efficacy": st.floats(0.0, 1.0),
        "molar_mass_g_per_mol": st.floats(100.0, 600.0),
    }
)
regimens = st.fixed_dictionaries(
    {
        "route": st.sampled_from(["iv", "ip", "sc", "oral", "drinking_water"]),
        "dose_mg_per_kg": st.one_of(st.floats(0.0, 100.0), st.floats(1e3, 1.5e5)),  # <= 1e6 mg/kg/day at 4-h intervals
        "interval_h": st.floats(4.0, 72.0),
        "start_day": st.floats(0.0, 3.0),
        "stop_day": st.floats(3.5, 30.0),
        "taper": st.sampled_from(["none", "step", "percent"]),
        "taper_start_day": st.floats(0.0, 10.0),
        "taper_step_mg_per_kg": st.floats(0.0, 10.0),
    }
)


@settings(max_examples=25, deadline=None)
@given(
    parent=compounds,
    metabolite=compounds,
    half_lives=st.tuples(st.floats(0.1, 50.0), st.floats(0.1, 50.0)),
    fraction=st.floats(0.0, 1.0),
    regimen=regimens,
    duration_days=st.floats(1.0, 40.0),
    genotype=st.sampled_from([Genotype(), Genotype(name="gabaa_bz_insensitive", gabaa_bz_sensitivity=0.0)]),
    depleted=st.booleans(),
)
def test_occupancies_stay_in_unit_interval_and_densities_non_negative(
    model_factory, parent, metabolite, half_lives, fraction, regimen, duration_days, genotype, depleted
):
    drug = Drug(name="d", compounds={"p": Compound(**parent), "m": Compound(**metabolite)})
    pk = LinearChainPK(
        dosed="p",
        compounds={
            "p": CompoundPK(half_life_h=half_lives[0]),
            "m": CompoundPK(half_life_h=half_lives[1], formed_from={"p": fraction}),
        },
    )
    depletion = MicrogliaDepletion(name="x", fraction_depleted=0.9, residual_tspo_fold=2.0) if depleted else None
    model = model_factory(
        drug=drug,
        pk=pk,
        regimen=DosingRegimen(**regimen),
        genotype=genotype,
        **({"depletion": depletion} if depletion else {}),
    )
    try:
        ds = simulate_model(model, np.linspace(0.0, duration_days * 24.0, 41))
    except ConfigError as error:  # no drug within the run (late start, zero taper): refused, never silently empty
        message = str(error)  # "dosing would start after the end of the run" or "no drug is given before the end ..."
        assert "after the end of the run" in message or "no drug is given before the end of the run" in message
        return
    for name in ("tspo_occupancy", "gabaa_occupancy", "tspo_agonism", "microglia_activation", "sedation"):
        values = ds[name].values
        assert np.all((values >= 0.0) & (values <= 1.0)), name
    for name in ("spine_density", "tagged_spine_density", "microglial_tspo", "c1q_level", "cumulative_dose"):
        assert np.all(ds[name].values >= 0.0), name
    assert np.all(ds.tagged_spine_density.values <= ds.spine_density.values * (1 + 1e-12))
    # concentrations may dip below zero only at the level of the solver's absolute tolerance
    for name in ("plasma_concentration", "brain_free_concentration", "brain_concentration"):
        peak = float(np.abs(ds[name]).max())
        assert ds[name].min() >= -1e-9 * max(peak, 1.0), name
    assert np.all(np.isfinite(ds.to_array().values))


# ---------------------------------------------------------------------- compiled right-hand side
VARIANTS = {
    "default": {},
    "tspo_ko": {"genotype": Genotype(name="tspo_ko", tspo_expression=0.0)},
    "depleted": {"depletion": MicrogliaDepletion(name="plx", fraction_depleted=0.9, residual_tspo_fold=2.0)},
    "depleted_unresponsive": {
        "depletion": MicrogliaDepletion(
            name="plx", fraction_depleted=0.8, residual_tspo_fold=1.5, residual_responsiveness=0.0
        )
    },
    "human": {"species": Species(name="human", body_weight_kg=70.0)},
    "steep": {
        "microglia": MicrogliaActivation(stimulus_hill=2.7, stimulus_ec50=0.2, c1q_gain=3.0, engulfment_gain=0.5),
        "spines": SpineTurnover(homeostatic_gain=3.0, activated_formation_suppression=1.5),
    },
    "drinking_water": {"regimen": DosingRegimen(route="drinking_water", dose_mg_per_kg=5.0)},
    "iv": {"regimen": DosingRegimen(route="iv", dose_mg_per_kg=5.0)},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_compiled_rhs_agrees_with_stage_rhs(model, rng, variant):
    """The compiled chain against the same stage functions evaluated by Python, at random states."""
    model = dataclasses.replace(model, **VARIANTS[variant])
    fast = model.compiled_rhs()
    n_pk = model.n_pk
    for _ in range(200):
        y = np.concatenate(
            [
                rng.lognormal(0.0, 3.0, n_pk) * rng.choice([1.0, 1.0, 1.0, -1e-6], n_pk),  # mostly positive amounts
                [rng.uniform(0.0, 1.0), rng.uniform(0.0, 10.0), rng.uniform(0.0, 5.0)],
                rng.uniform(0.0, 1.0, 2),
            ]
        )
        infusion = float(rng.choice([0.0, rng.lognormal(0.0, 2.0)]))
        t = float(rng.uniform(0.0, 1000.0))
        slow = model.rhs(t, y, infusion)
        quick = fast(t, y, infusion)
        assert quick.shape == slow.shape == y.shape
        scale = np.abs(y).max() * np.abs(model.pk.rate_matrix(model.regimen.route)).max() + infusion
        np.testing.assert_allclose(quick, slow, rtol=1e-12, atol=1e-15 * scale)


def test_compiled_rhs_is_zero_at_the_drug_free_steady_state(model):
    y = model.initial_state()
    d = model.compiled_rhs()(0.0, y, 0.0)
    assert np.all(d[: model.n_pk] == 0.0)
    np.testing.assert_allclose(d, 0.0, atol=1e-18)


# ---------------------------------------------------------------------- layout, schedule, outputs
def test_state_layout(model):
    assert model.state_names == (
        "depot",
        "amount_diazepam",
        "amount_nordiazepam",
        "activation",
        "microglial_tspo",
        "c1q",
        "untagged_spine_density",
        "tagged_spine_density",
    )
    assert model.initial_state().shape == (len(model.state_names),)


def test_schedule_in_umol_per_kg(model):
    sched = model.schedule(end_h=72.0)
    np.testing.assert_array_equal(sched.breakpoints_h, [0.0, 24.0, 48.0, 72.0])
    umol = 5.0 * 1e3 / 284.74
    np.testing.assert_allclose(sched.bolus_umol_per_kg, [umol, umol, umol, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(sched.infusion_umol_per_kg_h, 0.0)


def test_schedule_for_drinking_water(model):
    model = dataclasses.replace(model, regimen=DosingRegimen(route="drinking_water", dose_mg_per_kg=6.0, stop_day=1.0))
    sched = model.schedule(end_h=36.0)
    np.testing.assert_array_equal(sched.breakpoints_h, [0.0, 12.0, 24.0, 36.0])
    umol_per_mg = 1e3 / 284.74
    np.testing.assert_allclose(sched.infusion_umol_per_kg_h[:3], np.array([0.1, 0.4, 0.0]) * umol_per_mg, rtol=1e-14)
    np.testing.assert_array_equal(sched.bolus_umol_per_kg, 0.0)


def test_cumulative_dose_counts_a_bolus_at_its_time(model):
    t = np.array([0.0, 23.999, 24.0, 200.0])
    np.testing.assert_allclose(model.cumulative_dose(t), [5.0, 5.0, 10.0, 35.0])


def test_absolute_human_dose_is_converted(model):
    human = Species(name="human", body_weight_kg=70.0)
    model = dataclasses.replace(
        model, species=human, regimen=DosingRegimen(route="oral", dose_mg=10.0, interval_h=24.0, stop_day=3.0)
    )
    t = np.array([0.0, 24.0, 48.0, 72.0])
    np.testing.assert_allclose(model.cumulative_dose(t), np.array([1, 2, 3, 3]) * 10.0 / 70.0, rtol=1e-14)
    ds = simulate_model(model, t)
    assert ds.attrs["dose_mg_per_kg"] == pytest.approx(10.0 / 70.0)


def test_dosing_period(model):
    assert model.dosing_period_days == (0.0, 7.0)
    vehicle = dataclasses.replace(model, regimen=DosingRegimen(dose_mg_per_kg=0.0))
    assert all(math.isnan(v) for v in vehicle.dosing_period_days)


def test_readouts_cover_the_schema(model):
    t = np.linspace(0.0, 48.0, 5)
    ds = simulate_model(model, t)
    stress = {"neuronal_activity", "csf1_excess"}  # stress=cus only (tests/test_stress.py)
    stress |= {"gabaa_adaptation", "gabaa_signalling_net", "withdrawal_deficit"}  # tolerance=adaptive only
    expected = {name for name, (dims, _, _) in OUTPUTS.items() if "spine" not in dims and "replicate" not in dims}
    assert set(ds.data_vars) == expected - stress
    assert list(ds.compound.values) == ["diazepam", "nordiazepam"]


def test_pk_compound_missing_from_drug_is_rejected(model):
    drug = Drug(name="diazepam", compounds={"diazepam": Compound()})
    with pytest.raises(ConfigError, match="nordiazepam"):
        dataclasses.replace(model, drug=drug)
