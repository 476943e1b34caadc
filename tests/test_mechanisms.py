"""Mechanism variants: drug-free steady states, the analytic adaptation steady state, the one-pool limit, bad input."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.integrate import odeint

import sim
from sim import ConfigError, presets
from sim.engines.ode import OdeEngine
from sim.microglia import AdaptiveMicroglia, MicrogliaActivation, adaptive_microglia_rhs, microglia_rhs
from sim.run import simulate_model
from sim.spines import SpineTurnover, TwoPoolSpines

CONTEXT = SimpleNamespace(
    genotype=SimpleNamespace(tspo_expression=1.0),
    depletion=SimpleNamespace(tspo_fold=1.0, responsiveness=1.0, density=1.0),
)


def config(*overrides: str):
    return presets.from_overrides(["calibration=none", *overrides])


def test_variants_are_selected_by_config():
    cfg = config("microglia=adaptive", "spines=two_pool")
    assert type(cfg.microglia) is AdaptiveMicroglia and type(cfg.spines) is TwoPoolSpines
    model = cfg.model()
    assert model.state_names[-4:] == (
        "microglial_adaptation",
        "untagged_spine_density",
        "tagged_spine_density",
        "persistent_spine_density",
    )


def test_drug_free_variants_do_not_drift_and_keep_the_configured_pools():
    cfg = config("microglia=adaptive", "spines=two_pool", "spines.persistent_fraction=0.66",
                 "spines.baseline_density_per_um=0.52", "regimen.dose_mg_per_kg=0")  # fmt: skip
    model = cfg.model()
    times = np.array([0.0, 24.0 * 50, 24.0 * 100])
    states = OdeEngine().integrate(model, times)
    # no drift beyond the solver tolerance (rtol 1e-8) over 100 days
    np.testing.assert_allclose(states[:, -1], model.initial_state(), rtol=1e-7, atol=1e-10)
    untagged, tagged, persistent = states[model.slice("spines")][:, -1]
    assert untagged + tagged + persistent == pytest.approx(0.52, rel=1e-8)
    assert persistent / (untagged + tagged + persistent) == pytest.approx(0.66, rel=1e-8)
    ds = simulate_model(model, times)
    np.testing.assert_allclose(ds.spine_density_relative, 100.0, rtol=1e-8)
    np.testing.assert_allclose(ds.spine_formation_rate, ds.spine_elimination_rate, rtol=1e-7)
    np.testing.assert_allclose(ds.spine_elimination_rate, cfg.spines.elimination_per_day, rtol=1e-7)


def _integrate(stage, record, y0, agonism, days):
    def f(y, t):
        out = np.zeros(y.size)
        stage.rhs(record, y, np.array([agonism]), out)
        return out

    return odeint(f, y0, [0.0, 24.0 * days], rtol=1e-10, atol=1e-13)[-1]


def test_adaptation_reduces_activation_to_its_analytic_steady_state():
    mg = AdaptiveMicroglia(activation_rate_per_h=0.7, deactivation_half_life_h=13.0, stimulus_ec50=0.4,
                           stimulus_hill=1.7, adaptation_half_life_h=31.0, adapted_response=0.27)  # fmt: skip
    record = mg.record(CONTEXT)
    agonism = 0.3
    s = agonism**1.7 / (agonism**1.7 + 0.4**1.7)
    y = _integrate(mg, record, mg.initial_state(record), agonism, 60)
    adaptation, activation = mg.steady_state(s)
    assert y[3] == pytest.approx(adaptation, rel=1e-6) and y[3] == pytest.approx(s, rel=1e-6)
    assert y[0] == pytest.approx(activation, rel=1e-6)
    on = 0.7 * 0.27 * s
    assert activation == pytest.approx(on / (on + math.log(2) / 13.0), rel=1e-12)  # written out independently
    plain = MicrogliaActivation(**{f.name: getattr(mg, f.name) for f in dataclasses.fields(MicrogliaActivation)})
    y_plain = _integrate(plain, plain.record(CONTEXT), plain.initial_state(plain.record(CONTEXT)), agonism, 60)
    on_plain = 0.7 * s
    assert y_plain[0] == pytest.approx(on_plain / (on_plain + math.log(2) / 13.0), rel=1e-6)
    assert y[0] < 0.75 * y_plain[0]
    # before the adaptation builds up (a few hours) both respond alike
    early = _integrate(mg, record, mg.initial_state(record), agonism, 0.05)
    early_plain = _integrate(plain, plain.record(CONTEXT), plain.initial_state(plain.record(CONTEXT)), agonism, 0.05)
    assert early[0] == pytest.approx(early_plain[0], rel=0.05)


def test_adapted_response_one_is_the_plain_microglia():
    mg = AdaptiveMicroglia(adapted_response=1.0, adaptation_half_life_h=17.0, tspo_induction_fold=3.0)
    plain = MicrogliaActivation(tspo_induction_fold=3.0)
    state = np.array([0.2, 1.3, 1.7, 0.4])
    out, out_plain = np.zeros(4), np.zeros(3)
    adaptive_microglia_rhs(mg.record(CONTEXT), state, np.array([0.35]), out)
    microglia_rhs(plain.record(CONTEXT), state[:3], np.array([0.35]), out_plain)
    np.testing.assert_allclose(out[:3], out_plain, rtol=1e-14)


def test_two_pools_without_a_persistent_pool_are_one_pool():
    """Limit persistent_fraction -> 0: no stabilisation, the transient pool is the one pool (same e0, phi, dwell)."""
    one = simulate_model(*_model_and_times("spines=somatosensory_cortex"))
    two = simulate_model(*_model_and_times("spines=two_pool", "spines.persistent_fraction=0"))
    np.testing.assert_allclose(two.spine_density_relative, one.spine_density_relative, rtol=1e-7)
    np.testing.assert_allclose(two.spine_elimination_rate, one.spine_elimination_rate, rtol=1e-6)
    # with a persistent pool the same drive removes fewer spines: only the transient pool is pruned
    pooled = simulate_model(*_model_and_times("spines=two_pool"))
    assert float(pooled.spine_density_relative.min()) > float(one.spine_density_relative.min())


def _model_and_times(*overrides):
    cfg = presets.from_overrides(["experiment=shi2022_high_dose", "duration_days=14", "output_step_h=12", *overrides])
    return cfg.model(), cfg.times_h()


def test_two_pool_derived_rates_by_hand():
    sp = TwoPoolSpines(elimination_per_day=0.03, persistent_fraction=0.6, persistent_half_life_days=100.0,
                       microglial_share=0.25, tagged_dwell_h=20.0, baseline_density_per_um=0.5)  # fmt: skip
    e_p = math.log(2) / 100.0
    e_t = (0.03 - 0.6 * e_p) / 0.4
    assert sp.transient_elimination_per_day == pytest.approx(e_t)
    tagged = 0.25 * e_t / 24.0 * 0.2 * 20.0
    assert sp.baseline_tagged_density == pytest.approx(tagged)
    assert sp.stabilisation_rate == pytest.approx(e_p / 24.0 * 0.3 / (0.2 - tagged))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["microglia=nonsense"], "microglia = 'nonsense' is not allowed: choose one of adaptive, default"),
        (
            ["spines=nonsense"],
            "spines = 'nonsense' is not allowed: choose one of hippocampus, prefrontal_cortex, somatosensory_cortex",
        ),
        (["spines=two_pool", "spines.persistent_fraction=1.0"], "spines.persistent_fraction = 1.0 is not allowed"),
        (["microglia.tspo_induction_fold=0.5"], "microglia.tspo_induction_fold = 0.5 is not allowed"),
    ],
)
def test_bad_variant_input_is_one_clear_error(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        presets.from_overrides(overrides)


def test_agent_engine_refuses_two_pools():
    cfg = presets.from_overrides(["spines=two_pool", "engine=agents", "debug=smoke"])
    with pytest.raises(ConfigError, match="engine=agents simulates one spine pool only"):
        sim.simulate(cfg)


def test_calibrated_variant_files_select_with_their_stage():
    from sim import targets

    for name, variant in targets.VARIANTS.items():
        from sim.calibrate import VARIANTS_DIR

        cfg = presets.from_overrides([*variant.selections, f"calibration={VARIANTS_DIR / name}.yaml"])
        for prior in variant.free:
            stage, field = prior.key.split(".")
            assert getattr(getattr(cfg, stage), field) != getattr(
                getattr(presets.from_overrides([*variant.selections, "calibration=none"]), stage), field
            ), (name, prior.key)
    assert isinstance(presets.from_overrides([]).spines, SpineTurnover)
