"""Simulated two-photon imaging: hand-made spine histories with known answers, detection, ODE expectations."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import sim
from sim.core.params import ConfigError
from sim.imaging import IMAGING_OUTPUTS, ImagingProtocol, image

NAN = np.nan


def _records(birth, loss, position, *, segments=2, length=10.0, end_day=10.0) -> xr.Dataset:
    """An agent-like result with one replicate and the given spine histories [d, d, um]."""
    spine = ("replicate", "spine")
    ds = xr.Dataset(
        {
            "birth_time": (spine, np.array([birth], float)),
            "loss_time": (spine, np.array([loss], float)),
            "spine_position": (spine, np.array([position], float)),
        },
        coords={"time": np.linspace(0.0, end_day, 11), "replicate": [0], "spine": np.arange(len(birth))},
        attrs={"agent_segments": segments, "agent_segment_length_um": length, "seed": 0},
    )
    return ds


def test_hand_made_histories_give_the_counted_answers():
    # spine:     0    1    2    3    4    5 (outside view)  6 (padding)
    birth = [NAN, NAN, 1.0, 5.0, 3.0, NAN, NAN]
    loss = [NAN, 2.0, NAN, 7.0, 6.0, NAN, NAN]
    where = [1.0, 2.0, 3.0, 4.0, 5.0, 12.0, NAN]
    out = image(_records(birth, loss, where), ImagingProtocol(interval_days=4.0, fov_length_um=10.0))
    np.testing.assert_array_equal(out.session_day, [0.0, 4.0, 8.0])
    # present at day 0: {0, 1}; day 4: {0, 2, 4}; day 8: {0, 2}. Spine 3 lives between sessions: never seen.
    got = out.isel(replicate=0)
    np.testing.assert_array_equal(got.spine_count, [2, 3, 2])
    np.testing.assert_allclose(got.spine_density, [0.2, 0.3, 0.2])
    np.testing.assert_array_equal(got.gained_count, [NAN, 2, 0])
    np.testing.assert_array_equal(got.lost_count, [NAN, 1, 1])
    np.testing.assert_allclose(got.gained_fraction, [NAN, 1.0, 0.0])
    np.testing.assert_allclose(got.lost_fraction, [NAN, 0.5, 1 / 3])
    np.testing.assert_allclose(got.turnover_ratio, [NAN, 0.75, 1 / 6])
    np.testing.assert_allclose(got.surviving_fraction, [1.0, 0.5, 0.5])
    for name, (units, long_name) in IMAGING_OUTPUTS.items():
        assert out[name].attrs == {"units": units, "long_name": long_name}
    assert out.session_day.attrs["units"] == "d"


def test_detection_misses_make_spines_flicker():
    n = 20_000
    birth = np.concatenate([np.full(n, NAN), np.full(n, 3.9)])  # old spines, and spines 0.1 d old at day 4
    positions = np.linspace(0.0, 9.99, 2 * n)
    protocol = ImagingProtocol(
        first_day=4.0,
        interval_days=4.0,
        last_day=8.0,
        fov_length_um=10.0,
        detection_probability=0.9,
        new_spine_detection_probability=0.3,
        maturation_days=1.0,
    )
    out = image(_records(birth, np.full(2 * n, NAN), positions), protocol, rng=np.random.default_rng(1))
    p_new = protocol.detection(np.array([0.1]))[0]
    expected = n * 0.9 + n * p_new
    assert abs(float(out.spine_count[0, 0]) - expected) < 5 * np.sqrt(n * 0.09 + n * p_new * (1 - p_new))
    assert 0.3 < p_new < 0.9
    # nothing is born or lost, yet misses produce gains and losses
    assert float(out.gained_count[0, 1]) > 0 and float(out.lost_count[0, 1]) > 0


def test_field_of_view_longer_than_the_dendrite_is_refused():
    ds = _records([NAN], [NAN], [1.0], segments=2, length=10.0)
    with pytest.raises(ConfigError, match=r"imaging\.fov_length_um"):
        image(ds, ImagingProtocol(fov_length_um=25.0))


def test_bad_protocol_values_name_the_key():
    with pytest.raises(ConfigError, match=r"imaging\.interval_days"):
        ImagingProtocol(interval_days=0.0)
    with pytest.raises(ConfigError, match=r"imaging\.detection_probability"):
        ImagingProtocol(detection_probability=1.5)


@pytest.fixture(scope="module")
def high_dose():
    ode_cfg = sim.presets.from_overrides(["experiment=shi2022_high_dose", "duration_days=28"])
    agent_cfg = sim.presets.from_overrides(
        [
            "experiment=shi2022_high_dose",
            "duration_days=28",
            "engine=agents",
            "engine.replicates=100",
            "engine.segments=50",
            "engine.progress=false",
        ]
    )
    return ode_cfg.model(), sim.simulate(ode_cfg), sim.simulate(agent_cfg)


def test_ode_expectations_match_pooled_agent_imaging(high_dose):
    """Pooled over 100 replicates x 1 mm: within 5 binomial SE of the mean-field cohort values."""
    model, ode, agent = high_dose
    protocol = ImagingProtocol(interval_days=7.0, fov_length_um=1000.0)
    imaged, expected = image(agent, protocol), image(ode, protocol, model=model)
    assert "exact" in expected.attrs["expected_values"]
    total = imaged.sum("replicate")
    previous = total.spine_count.shift(session=1)
    for name, count, denominator in [
        ("gained_fraction", total.gained_count, previous),
        ("lost_fraction", total.lost_count, previous),
        ("surviving_fraction", total.surviving_count, total.spine_count.isel(session=0)),
    ]:
        p = expected[name]
        z = np.abs(count / denominator - p) / np.sqrt(p * (1 - p) / denominator)
        assert float(z[1:].max()) < 5.0, name
    se = imaged.spine_density.std("replicate") / 10.0
    assert float((np.abs(imaged.spine_density.mean("replicate") - expected.spine_density) / se).max()) < 5.0


def test_ode_without_model_is_a_labelled_approximation(high_dose):
    model, ode, _ = high_dose
    protocol = ImagingProtocol(interval_days=7.0)
    exact, rough = image(ode, protocol, model=model), image(ode, protocol)
    assert rough.attrs["expected_values"].startswith("approximation")
    np.testing.assert_allclose(rough.spine_density, exact.spine_density)
    for name in ("gained_fraction", "lost_fraction", "surviving_fraction"):
        np.testing.assert_allclose(rough[name][1:], exact[name][1:], rtol=0.05)


def test_agent_result_without_records_is_refused(high_dose):
    _, _, agent = high_dose
    with pytest.raises(ValueError, match="record_spines"):
        image(agent.drop_vars(["birth_time", "loss_time", "tag_time", "engulfed", "spine_position"]))
