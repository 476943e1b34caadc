"""The stress stage (sim.stress): its equations, the stress=none invariance and the Bollinger et al. 2020 arms.

* ``stress=none`` leaves every output of main (commit 1c10c26, before the stage existed) unchanged to 1e-12: the
  reference ``tests/data/main_stress_none_reference.npz`` was written by main's code (headline arm, a GABA-A-
  insensitive arm and a PLX5622 arm, 21 days);
* the compiled kernel with ``stress=cus`` equals an independent transcription of the module's equations, on numbers
  and on symbols, and every stress parameter (distinct values) changes it;
* the CSF1 excess follows its analytic solution under constant stress;
* the calibrated arm meets the stated target (CUS + vehicle loses 12 % of control + vehicle after 14 days, an
  assumption) and the finding (CUS + diazepam loses at most a third of it); predictions for GABA-A-insensitive and
  TSPO-KO mice under CUS;
* bad input is refused with one line.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import DATA
from test_equations import LN2, assert_symbolic_chain_equals_kernel, distinct_model, reference_rhs

from sim import presets
from sim.core.params import ConfigError
from sim.engines.batch import BatchEngine
from sim.engines.ode import OdeEngine
from sim.run import simulate_model
from sim.sex import Sex
from sim.stress import ChronicStress

TARGET_LOSS_PERCENT = 12.0  # assumption stated in sim/configs/stress/cus.yaml
TARGET_TOLERANCE_PERCENT = 1.0


# ---------------------------------------------------------------------------------------------- stress=none
REFERENCE_ARMS = ("shi2022_high_dose", "shi2022_low_dose_gabaa_insensitive", "shi2022_plx5622_high_dose")


@pytest.mark.parametrize("arm", REFERENCE_ARMS)
def test_stress_none_reproduces_main_to_1e_12(arm):
    reference = np.load(DATA / "main_stress_none_reference.npz")
    run = presets.experiment(arm, ["duration_days=21", "output_step_h=6"])
    assert type(run.stress).__name__ == "NoStress" and run.model().stress.state_names == ()
    ds = simulate_model(run.model(), run.times_h())
    names = [key.split("/", 1)[1] for key in reference.files if key.startswith(f"{arm}/")]
    assert len(names) == 8
    for name in names:
        np.testing.assert_allclose(ds[name].values, reference[f"{arm}/{name}"], rtol=1e-12, atol=1e-15, err_msg=name)


def test_zero_intensity_cus_equals_no_stress():
    """A CUS stage of intensity 0 keeps its CSF1 state at exactly 0 and the outputs of stress=none (solver noise)."""
    quiet = presets.experiment("bollinger2020_cus_diazepam", ["stress.intensity=0"])
    none = presets.experiment("bollinger2020_control_diazepam")
    states = OdeEngine().integrate(quiet.model(), quiet.times_h())
    assert np.all(states[quiet.model().slice("stress")][1] == 0.0)
    a, b = (simulate_model(r.model(), r.times_h()) for r in (quiet, none))
    np.testing.assert_allclose(a.spine_density.values, b.spine_density.values, rtol=1e-8)


# ---------------------------------------------------------------------------------------------- equations
def stress_model(rng: np.random.Generator, sex: str = "male"):
    """:func:`distinct_model` with a CUS stage whose parameters are all distinct (activity above baseline)."""
    stress = ChronicStress(start_day=1.3, duration_days=4.7, intensity=0.83, ramp_h=5.9, activity_gain=1.9,
                           gabaa_suppression=0.13, gabaa_ec50=0.41, csf1_half_life_h=17.0, csf1_gain=0.29,
                           female_csf1_response=0.61)  # fmt: skip
    return dataclasses.replace(distinct_model(rng), stress=stress, sex=Sex(sex))


def reference_stress(m, y, infusion):
    """dy/dt with a CUS stage, transcribed from the sim.stress docstring (the rest from test_equations)."""
    pk, names = m.pk, m.pk.names
    n_pk, st = m.n_pk, m.stress
    clock, csf1 = y[n_pk], y[n_pk + 1]
    rest = np.concatenate([y[:n_pk], y[n_pk + 2 :]])
    no_stress = dataclasses.replace(m, stress=presets.experiment("vehicle").stress)
    base = reference_rhs(no_stress, rest, infusion)
    free = [pk.compounds[n].free_fraction * y[1 + i] / pk.compounds[n].volume_l_per_kg for i, n in enumerate(names)]
    ratio = [max(free[i], 0) * 1e3 / (m.drug.compounds[n].gabaa_ki_nM * m.binding.gabaa_ki_scale)
             for i, n in enumerate(names)]  # fmt: skip
    gabaa = (
        m.genotype.gabaa_bz_sensitivity
        * sum(r * m.drug.compounds[n].gabaa_efficacy for r, n in zip(ratio, names))
        / (1 + sum(ratio))
    )
    w = st.ramp_h / 24.0
    on = min(1.0, max(0.0, (clock - st.start_day) / w))
    off = min(1.0, max(0.0, (clock - st.start_day - st.duration_days) / w))
    sigma = st.intensity * (on - off)
    activity = (1 + st.activity_gain * sigma) * (1 - st.gabaa_suppression * gabaa / (gabaa + st.gabaa_ec50))
    response = st.female_csf1_response if m.sex.name == "female" else 1.0
    d_csf1 = LN2 / st.csf1_half_life_h * (response * max(0.0, activity - 1) - csf1)
    mg = m.microglia
    a = y[n_pk + 2]
    k_deact = LN2 / mg.deactivation_half_life_h
    s = (base[n_pk] + k_deact * a) / (mg.activation_rate_per_h * (1 - a))  # the TSPO stimulus of the reference
    d_a = mg.activation_rate_per_h * (s + st.csf1_gain * csf1) * (1 - a) - k_deact * a
    return np.array([*base[:n_pk], 1 / 24, d_csf1, d_a, *base[n_pk + 1 :]])


def states_on_the_ramps(model, rng):
    """Two states: clock on the switch-on ramp and on the switch-off ramp (every stress parameter matters)."""
    st = model.stress
    ys = []
    for clock in (st.start_day + 0.4 * st.ramp_h / 24, st.end_day + 0.7 * st.ramp_h / 24):
        pk = rng.uniform(0.5, 5.0, model.n_pk)
        ys.append(np.concatenate([pk, [clock, 0.37], [0.3, 1.4, 2.1, 0.25, 0.12]]))
    return ys


@pytest.mark.parametrize("sex", ["male", "female"])
def test_compiled_stress_chain_matches_its_equations_for_every_parameter(sex):
    rng = np.random.default_rng(31)
    model = stress_model(rng, sex)
    assert model.state_names[model.n_pk : model.n_pk + 2] == ("stress_clock", "csf1_excess")
    fields = [f.name for f in dataclasses.fields(ChronicStress) if f.name != "name"]
    for y in states_on_the_ramps(model, rng):
        compiled = model.compiled_rhs()(0.0, y, 0.37)
        np.testing.assert_allclose(compiled, reference_stress(model, y, 0.37), rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(model.rhs(0.0, y, 0.37), compiled, rtol=1e-12, atol=1e-16)
        for name in fields:
            value = getattr(model.stress, name)
            changed = dataclasses.replace(model, stress=dataclasses.replace(model.stress, **{name: value * 0.93}))
            got = changed.compiled_rhs()(0.0, y, 0.37)
            np.testing.assert_allclose(got, reference_stress(changed, y, 0.37), rtol=1e-11, atol=1e-15, err_msg=name)
            if name == "female_csf1_response" and sex == "male":  # the female response does not touch males
                np.testing.assert_array_equal(got, compiled)
            elif name != "duration_days" or y[model.n_pk] > model.stress.end_day:
                assert np.any(np.abs(got - compiled) > 1e-12 * np.abs(compiled).max()), f"{name} has no effect"


def test_stress_stage_functions_evaluate_on_symbols():
    rng = np.random.default_rng(32)
    model = stress_model(rng)
    assert_symbolic_chain_equals_kernel(model, states_on_the_ramps(model, rng)[1])  # the switch-off ramp


def test_csf1_excess_follows_its_analytic_solution_under_constant_stress():
    """Vehicle, ramp 1e-3 h: X(t) = g_act I (1 - exp(-k_X (t - t0))) in the window, then decays with k_X."""
    run = presets.experiment("bollinger2020_cus_vehicle", ["stress.ramp_h=0.001", "stress.start_day=2",
                                                           "stress.duration_days=6", "duration_days=12"])  # fmt: skip
    model, st = run.model(), run.stress
    times = np.array([24.0, 24 * 5.0, 24 * 8.0, 24 * 11.0])
    x = OdeEngine().integrate(model, times)[model.slice("stress")][1]
    k = LN2 / st.csf1_half_life_h
    plateau = st.activity_gain * st.intensity
    on = plateau * (1 - math.exp(-k * 72.0))
    end = plateau * (1 - math.exp(-k * 144.0))
    expected = [0.0, on, end, end * math.exp(-k * 72.0)]
    np.testing.assert_allclose(x, expected, rtol=2e-4, atol=1e-12)


# ---------------------------------------------------------------------------------------------- outputs
STRESS_OUTPUTS = ("neuronal_activity", "csf1_excess")


def test_stress_outputs_are_the_csf1_state_and_the_activity_of_the_stage():
    """csf1_excess is the integrated state; vehicle activity is 1 + g_act I inside the CUS window and 1 outside;
    diazepam's damping multiplies the stress rise (the product of a zero-intensity run and the vehicle run)."""
    over = ["stress.start_day=2", "stress.duration_days=6", "duration_days=10", "stress.activity_gain=1.7",
            "stress.intensity=0.6"]  # fmt: skip
    vehicle = presets.experiment("bollinger2020_cus_vehicle", over)
    diazepam, quiet = (presets.experiment("bollinger2020_cus_diazepam", over + extra)
                       for extra in ([], ["stress.intensity=0"]))  # fmt: skip
    model = diazepam.model()
    ds = simulate_model(model, diazepam.times_h())
    for name in STRESS_OUTPUTS:
        assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]
    state = OdeEngine().integrate(model, diazepam.times_h())[model.slice("stress")][1]
    np.testing.assert_allclose(ds.csf1_excess.values, state, rtol=1e-12, atol=1e-15)
    assert ds.csf1_excess.values.max() > 0.01

    a_vehicle = simulate_model(vehicle.model(), vehicle.times_h()).neuronal_activity.values
    day = ds.time.values
    inside = (day > 2 + 1.5 / 24) & (day < 8)
    outside = (day < 2) | (day > 8 + 1.5 / 24)
    np.testing.assert_allclose(a_vehicle[inside], 1 + 1.7 * 0.6, rtol=1e-12)
    np.testing.assert_allclose(a_vehicle[outside], 1.0, rtol=1e-12)
    a_quiet = simulate_model(quiet.model(), quiet.times_h()).neuronal_activity.values
    assert a_quiet.min() < 0.9 and a_quiet.max() <= 1.0  # diazepam damps the unstressed activity below baseline
    # rtol: the two diazepam runs integrate the PK with the rest of the state, so their solver steps differ
    np.testing.assert_allclose(ds.neuronal_activity.values, a_quiet * a_vehicle, rtol=1e-7)


def test_batch_reads_the_stress_outputs_with_each_sets_constants():
    run = presets.experiment("bollinger2020_cus_diazepam")
    batch = BatchEngine().simulate(run.model(), run.times_h(), {"stress.gabaa_ec50": [0.0236, 0.05]})
    one = simulate_model(run.model(), run.times_h())
    for name in STRESS_OUTPUTS:  # the batch kernel's solver differs from odeint within its tolerance
        np.testing.assert_allclose(batch[name].values[0], one[name].values, rtol=1e-4, atol=1e-6)
    day = 7.0 + 12.0 / 24  # between two doses: a higher EC50 damps less
    assert np.all(
        batch.neuronal_activity.sel(time=day, method="nearest").values[1]
        > one.neuronal_activity.sel(time=day, method="nearest").values
    )


def test_stress_none_has_no_stress_outputs():
    """stress=none has no stress state and no activity of its own: the outputs are absent, not a constant 1."""
    run = presets.experiment("bollinger2020_control_diazepam", ["duration_days=2"])
    ds = simulate_model(run.model(), run.times_h())
    assert not set(STRESS_OUTPUTS) & set(ds.data_vars)


# ---------------------------------------------------------------------------------------------- Bollinger et al. 2020
def final_density(arm: str, overrides=()) -> float:
    run = presets.experiment(f"bollinger2020_{arm}", list(overrides))
    return float(simulate_model(run.model(), run.times_h())["spine_density"].values[-1])


@pytest.fixture(scope="module")
def deficits():
    """Deficit of each arm (and genotype) against wild-type control + vehicle at the end of CUS [percent]."""
    base = final_density("control_vehicle")
    out = {}
    for arm in ("control_diazepam", "cus_vehicle", "cus_diazepam"):
        for genotype in ("wt", "gabaa_bz_insensitive", "tspo_ko"):
            out[arm, genotype] = 100 * (1 - final_density(arm, [f"genotype={genotype}"]) / base)
    return out


def test_cus_vehicle_loses_the_stated_share_of_spines(deficits):
    assert abs(deficits["cus_vehicle", "wt"] - TARGET_LOSS_PERCENT) < TARGET_TOLERANCE_PERCENT


def test_diazepam_protects_the_stressed_cortex_through_gabaa(deficits):
    assert deficits["cus_diazepam", "wt"] <= deficits["cus_vehicle", "wt"] / 3
    # healthy cortex: diazepam still prunes (the TSPO arm), and the stress arm adds nothing without stress
    assert 0.5 < deficits["control_diazepam", "wt"] < deficits["cus_diazepam", "wt"]


def test_gabaa_insensitive_mice_lose_the_protection(deficits):
    """Prediction: without a benzodiazepine site diazepam cannot damp the activity; it adds the TSPO loss."""
    insensitive = deficits["cus_diazepam", "gabaa_bz_insensitive"]
    assert insensitive > deficits["cus_vehicle", "wt"]
    assert deficits["cus_vehicle", "gabaa_bz_insensitive"] == pytest.approx(deficits["cus_vehicle", "wt"], rel=1e-9)
    # in healthy cortex the genotype does not matter (Shi et al.'s GABA-A independence)
    assert deficits["control_diazepam", "gabaa_bz_insensitive"] == pytest.approx(
        deficits["control_diazepam", "wt"], rel=1e-9
    )


def test_tspo_ko_under_cus(deficits):
    """Prediction: the CSF1 arm needs no TSPO; TSPO-KO mice lose spines under CUS, diazepam still protects them."""
    assert deficits["control_diazepam", "tspo_ko"] == pytest.approx(0.0, abs=1e-9)
    assert deficits["cus_vehicle", "tspo_ko"] > 0.5 * deficits["cus_vehicle", "wt"]
    assert deficits["cus_diazepam", "tspo_ko"] < deficits["cus_diazepam", "wt"]


def test_sex_scales_only_the_csf1_response_to_stress():
    """Females ([woodburn2021]): no CSF1 response by default, so CUS costs no spines and diazepam only its TSPO loss;
    a female response of 1 is the male model to the bit; a partial response gives a partial loss."""

    def final(arm, *extra):
        run = presets.experiment(f"bollinger2020_{arm}", ["output_step_h=24", *extra])
        return simulate_model(run.model(), run.times_h())["spine_density"].values[-1]

    control = final("control_vehicle")
    male, female = (final("cus_vehicle", f"sex={sex}") for sex in ("male", "female"))
    assert female == pytest.approx(control, rel=1e-9) and male < 0.95 * control  # solver noise: extra states
    assert final("cus_diazepam", "sex=female") == pytest.approx(final("control_diazepam", "sex=female"), rel=1e-9)
    assert final("cus_vehicle", "sex=female", "stress.female_csf1_response=1") == male
    partial = final("cus_vehicle", "sex=female", "stress.female_csf1_response=0.7")
    assert male < partial < control


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "overrides, words",
    [
        (["stress=chronic"], ["stress", "chronic"]),
        (["spines=amygdala"], ["spines", "amygdala"]),
        (
            ["experiment=bollinger2020_cus_vehicle", "stress.start_day=20"],
            ["stress.start_day = 20", "duration_days = 14"],
        ),
        (["stress=cus", "stress.start_day=-1"], ["stress.start_day", "-1"]),
        (["stress=cus", "stress.duration_days=0"], ["stress.duration_days", "0"]),
        (["stress=cus", "stress.gabaa_suppression=1.5"], ["stress.gabaa_suppression", "1.5"]),
        (["stress=cus", "engine=agents"], ["stress", "engine=ode"]),
        (["sex=hermaphrodite"], ["sex", "hermaphrodite", "female, male"]),
        (["stress=cus", "stress.female_csf1_response=1.2"], ["stress.female_csf1_response", "1.2"]),
    ],
)
def test_bad_stress_input_is_one_clear_line(overrides, words):
    with pytest.raises(ConfigError) as error:
        presets.from_overrides(overrides)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_batch_refuses_stress_outputs_without_a_stress_stage():
    run = presets.experiment("bollinger2020_control_vehicle", ["duration_days=1"])
    with pytest.raises(ConfigError, match="neuronal_activity.*stress = 'none'"):
        BatchEngine().simulate(
            run.model(), run.times_h(), {"microglia.c1q_gain": [1.0]}, variables=["neuronal_activity"]
        )
