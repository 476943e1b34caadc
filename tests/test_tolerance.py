"""The tolerance stage (sim.tolerance): GABA-A adaptation, its recovery and the withdrawal-severity proxy.

* ``tolerance=none`` leaves every output of main unchanged (the reference written before the stress and tolerance
  stages existed, ``tests/data/main_stress_none_reference.npz``);
* the adaptation ODE follows its analytic solution: an exponential approach to ``c a`` with the onset half-time
  under constant agonism, and an exponential decay with the (different) recovery half-time once the drug is gone;
* the compiled kernel equals the Python chain, an independent transcription of the module's equations and the
  stage functions evaluated on symbols;
* the withdrawal proxy is 0 without drug, positive after an abrupt stop, and larger after a longer course;
* bad input is refused with one line.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import DATA
from scipy.integrate import solve_ivp
from test_equations import LN2, assert_symbolic_chain_equals_kernel, distinct_model, reference_rhs

from sim import presets
from sim.core.params import ConfigError
from sim.engines.batch import BatchEngine
from sim.run import simulate_model
from sim.tolerance import AdaptiveTolerance, NoTolerance, tolerance_rhs, withdrawal_summary

TOLERANCE = AdaptiveTolerance(compensation=0.63, onset_half_time_h=37.0, recovery_half_time_h=11.0)


def test_tolerance_none_reproduces_main_to_1e_12():
    reference = np.load(DATA / "main_stress_none_reference.npz")
    run = presets.experiment("shi2022_high_dose", ["duration_days=21", "output_step_h=6"])
    assert isinstance(run.tolerance, NoTolerance) and run.model().tolerance.state_names == ()
    ds = simulate_model(run.model(), run.times_h())
    assert not {"gabaa_adaptation", "gabaa_signalling_net", "withdrawal_deficit"} & set(ds.data_vars)
    names = [key.split("/", 1)[1] for key in reference.files if key.startswith("shi2022_high_dose/")]
    assert len(names) == 8
    for name in names:
        np.testing.assert_allclose(ds[name].values, reference[f"shi2022_high_dose/{name}"], rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------- the ODE
def integrate_stage(agonism: float, a0: float, hours: np.ndarray) -> np.ndarray:
    """The stage's own rhs under constant GABA-A agonism, integrated tightly (adaptation at ``hours``)."""
    record = TOLERANCE.record()

    def rhs(t, y):
        out = np.zeros(1)
        tolerance_rhs(record, y, np.array([0.2, agonism]), out)
        return out

    return solve_ivp(rhs, (0.0, hours[-1]), [a0], t_eval=hours, rtol=1e-11, atol=1e-14, method="DOP853").y[0]


def test_adaptation_approaches_its_set_point_with_the_onset_half_time_and_recovers_with_its_own():
    agonism, hours = 0.3, np.array([5.0, 37.0, 90.0, 400.0])
    onset = integrate_stage(agonism, 0.0, hours)
    target = 0.63 * agonism
    np.testing.assert_allclose(onset, target * (1.0 - np.exp(-LN2 / 37.0 * hours)), rtol=1e-8)
    assert onset[1] == pytest.approx(target / 2, rel=1e-8)  # one onset half-time: half-way
    start = onset[-1]
    recovery = integrate_stage(0.0, start, hours)  # drug gone
    np.testing.assert_allclose(recovery, start * np.exp(-LN2 / 11.0 * hours), rtol=1e-8, atol=1e-15)
    assert recovery[1] < start * 0.5**3  # 37 h is more than three recovery half-times: the rates are not swapped


def test_signal_passed_on_is_the_adapted_signalling():
    record, out = TOLERANCE.record(), np.zeros(1)
    for agonism, adaptation, passed in ((0.3, 0.1, 0.2), (0.05, 0.12, 0.0)):
        signal = tolerance_rhs(record, np.array([adaptation]), np.array([0.17, agonism]), out)
        np.testing.assert_allclose(signal, [0.17, passed], atol=1e-16)


# ---------------------------------------------------------------------------------------------- equations
def tolerance_model(rng):
    return dataclasses.replace(distinct_model(rng), tolerance=TOLERANCE)


def reference_tolerance(m, y, infusion):
    """dy/dt with an adaptive tolerance stage, transcribed from the sim.tolerance docstring."""
    names, n_pk = m.pk.names, m.n_pk
    adaptation = y[n_pk]
    base = reference_rhs(dataclasses.replace(m, tolerance=NoTolerance()), np.delete(y, n_pk), infusion)
    free = [m.pk.compounds[n].free_fraction * y[1 + i] / m.pk.compounds[n].volume_l_per_kg for i, n in enumerate(names)]
    ratio = [
        max(f, 0) * 1e3 / (m.drug.compounds[n].gabaa_ki_nM * m.binding.gabaa_ki_scale) for f, n in zip(free, names)
    ]
    gabaa = (
        m.genotype.gabaa_bz_sensitivity
        * sum(r * m.drug.compounds[n].gabaa_efficacy for r, n in zip(ratio, names))
        / (1 + sum(ratio))
    )
    target = TOLERANCE.compensation * gabaa
    rate = LN2 / 37.0 if target > adaptation else LN2 / 11.0
    return np.insert(base, n_pk, rate * (target - adaptation)), gabaa


def state_on(side: str, model, rng) -> np.ndarray:
    """A state whose adaptation lies below (``onset``) or above (``recovery``) its target 0.63 a."""
    y = np.concatenate([rng.uniform(0.5, 5.0, model.n_pk), [0.0], [0.3, 1.4, 2.1, 0.25, 0.12]])
    _, gabaa = reference_tolerance(model, y, 0.37)
    y[model.n_pk] = 0.4 * gabaa if side == "onset" else 0.9 * gabaa
    return y


@pytest.mark.parametrize("side", ["onset", "recovery"])
def test_compiled_tolerance_chain_matches_python_and_its_equations(side):
    rng = np.random.default_rng(41)
    model = tolerance_model(rng)
    assert model.state_names[model.n_pk] == "gabaa_adaptation"
    y = state_on(side, model, rng)
    expected, _ = reference_tolerance(model, y, 0.37)
    compiled = model.compiled_rhs()(0.0, y, 0.37)
    np.testing.assert_allclose(compiled, expected, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(model.rhs(0.0, y, 0.37), compiled, rtol=1e-12, atol=1e-16)


def test_tolerance_stage_functions_evaluate_on_symbols():
    rng = np.random.default_rng(42)
    model = tolerance_model(rng)
    assert_symbolic_chain_equals_kernel(model, state_on("recovery", model, rng))


# ---------------------------------------------------------------------------------------------- withdrawal proxy
def human_diazepam(stop_day: int, *extra: str):
    run = presets.experiment(
        "human_diazepam_5mg_tid",
        [f"regimen.stop_day={stop_day}", "duration_days=80", "output_step_h=6", "tolerance=adaptive", *extra],
    )
    with pytest.warns(UserWarning, match="extrapolations"):  # human spines: the caveat of every human run
        return simulate_model(run.model(), run.times_h())


def test_withdrawal_proxy_is_zero_without_drug():
    ds = human_diazepam(14, "regimen.dose_mg=0")
    for name in ("gabaa_adaptation", "gabaa_signalling_net", "withdrawal_deficit"):
        assert np.all(ds[name].values == 0.0), name
        assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]
    assert withdrawal_summary(ds) == {"area_h": 0.0, "peak": 0.0, "peak_day": pytest.approx(math.nan, nan_ok=True),
                                      "duration_h": 0.0}  # fmt: skip


def test_longer_course_gives_a_deeper_and_longer_withdrawal():
    short, long = (withdrawal_summary(human_diazepam(day), start_day=day) for day in (14, 42))
    assert short["peak"] > 0 and short["area_h"] > 0  # an abrupt stop after two weeks already leaves a deficit
    assert long["peak"] > short["peak"] and long["area_h"] > short["area_h"]
    assert long["duration_h"] >= short["duration_h"]


def test_batch_engine_integrates_the_stage_with_the_upstream_signal():
    """The batch engine integrates the tolerance stage once, upstream of the sets (outputs equal the ODE engine's)."""
    run = presets.experiment("bollinger2020_cus_diazepam", ["tolerance=adaptive", "output_step_h=6"])
    one = simulate_model(run.model(), run.times_h())
    batch = BatchEngine().simulate(run.model(), run.times_h(), {"stress.gabaa_ec50": [0.0236, 0.05]})
    assert one.gabaa_adaptation.max() > 0.01
    for name in ("gabaa_adaptation", "gabaa_signalling_net", "withdrawal_deficit"):
        expected = np.broadcast_to(one[name].values, batch[name].shape)  # the same for every set
        np.testing.assert_allclose(batch[name].values, expected, rtol=0, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(batch.neuronal_activity.values[0], one.neuronal_activity.values, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_tolerance_input_is_refused_with_one_line():
    for overrides, words in (
        (["tolerance=adaptive", "tolerance.compensation=1.5"], "tolerance.compensation = 1.5"),
        (["tolerance=adaptive", "tolerance.recovery_half_time_h=0"], "tolerance.recovery_half_time_h = 0"),
        (["tolerance=slow"], "slow"),
    ):
        with pytest.raises(ConfigError, match=words) as error:
            presets.from_overrides(overrides)
        assert "\n" not in str(error.value)
