"""Agent engine: agreement with the ODE, exact event-time statistics, seeds, schema and configuration errors.

Statistical tests use fixed seeds and a tolerance of 5 standard errors (written next to each check), so they are
deterministic on one machine and fail only if the engine is biased by several standard errors.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

import sim
from sim.core.params import ConfigError
from sim.engines.agents import AgentEngine, SpineHazards, Territories, replicate, run_replicate, stationary_distribution
from sim.microglia import MicrogliaDepletion

Z_MAX = 5.0  # standard errors


def _hazards(n_steps: int, dt: float, *, tagging=0.0, engulfment=0.0, intrinsic=0.0, formation=0.0, slots=4):
    """Hand-made hazards on a uniform grid (scalars are broadcast over steps)."""
    edges = dt * np.arange(n_steps + 1)
    full = [np.broadcast_to(np.asarray(x, dtype=float), (n_steps,)).copy() for x in (tagging, engulfment, formation)]
    return SpineHazards(
        edges_h=edges,
        tagging=full[0],
        engulfment=full[1],
        intrinsic=float(intrinsic),
        formation=full[2],
        homeostasis=np.ones(slots + 1),
        segment_length_um=1.0,
    )


def _run(h, init_u, init_t, seed=1, record=False, cells=None):
    out_times = h.edges_h.copy()
    return run_replicate(h, init_u, init_t, np.random.default_rng(seed), out_times, record, lambda n: None, cells)


def _binomial_z(observed_fraction, expected_fraction, n):
    se = np.sqrt(expected_fraction * (1 - expected_fraction) / n)
    return np.abs(observed_fraction - expected_fraction) / np.maximum(se, 1e-300)


# ---------------------------------------------------------------------- exactness of the per-step probabilities
def test_pure_death_survival_is_exp_minus_k_t():
    """k dt = 0.2: the exact 1 - exp(-k dt) gives exp(-2) after 10 steps; k dt would give 0.8**10 (25 SE away)."""
    n, k, dt = 100_000, 0.2, 1.0
    h = _hazards(10, dt, intrinsic=k, slots=1)
    result = _run(h, np.ones(n, np.int64), np.zeros(n, np.int64))
    survival = result.untagged / n
    expected = np.exp(-k * h.edges_h)
    assert np.all(_binomial_z(survival, expected, n) < Z_MAX)


def test_time_varying_hazard_integrates_step_by_step():
    """Untagged survival under a tagging hazard that changes every step is exp(-sum (a_j + e) dt)."""
    n, dt = 100_000, 2.0
    tagging = np.array([0.01, 0.3, 0.0, 0.15, 0.05, 0.4])
    h = _hazards(tagging.size, dt, tagging=tagging, intrinsic=0.02, slots=1)
    result = _run(h, np.ones(n, np.int64), np.zeros(n, np.int64))
    expected = np.exp(-np.concatenate([[0.0], np.cumsum((tagging + 0.02) * dt)]))
    assert np.all(_binomial_z(result.untagged / n, expected, n) < Z_MAX)


def test_tag_then_engulf_chain_matches_closed_form():
    """Tagged fraction of spines starting untagged: a/(b-a) (e^{-(a+e)t} - e^{-(b+e)t}) for constant hazards."""
    n, dt, a, b, e = 100_000, 1.0, 0.3, 0.1, 0.05
    h = _hazards(12, dt, tagging=a, engulfment=b, intrinsic=e, slots=1)
    result = _run(h, np.ones(n, np.int64), np.zeros(n, np.int64))
    t = h.edges_h
    expected = a / (b - a) * (np.exp(-(a + e) * t) - np.exp(-(b + e) * t))
    assert np.all(_binomial_z(result.tagged / n, expected, n) < Z_MAX)


def test_births_are_poisson_with_the_segment_rate():
    """No losses, constant formation 0.5/h per segment: mean count after t is 0.5 t (Poisson SE)."""
    n, rate = 20_000, 0.5
    h = _hazards(8, 1.0, formation=rate, slots=40)
    result = _run(h, np.zeros(n, np.int64), np.zeros(n, np.int64))
    mean = rate * h.edges_h[1:]
    z = np.abs(result.untagged[1:] / n - mean) / np.sqrt(mean / n)
    assert np.all(z < Z_MAX)
    assert result.blocked_births == 0


# ---------------------------------------------------------------------- engine against the ODE
AGREEMENT = {
    "vehicle": ["experiment=vehicle"],
    "high_dose": ["experiment=shi2022_high_dose"],
    "tspo_ko": ["experiment=shi2022_high_dose", "genotype=tspo_ko"],
}


def _agreement(overrides: list[str], replicates: int, segments: int):
    common = ["output_step_h=6", "engine.progress=false", "engine.record_spines=false"]
    ode = sim.simulate(sim.presets.from_overrides(overrides + common[:1]))
    agent_cfg = sim.presets.from_overrides(
        overrides
        + common
        + [
            "engine=agents",
            f"engine.replicates={replicates}",
            f"engine.segments={segments}",
        ]
    )
    return ode, sim.simulate(agent_cfg)


@pytest.mark.parametrize("case", list(AGREEMENT))
def test_agent_mean_matches_ode_within_five_standard_errors(case):
    ode, agent = _agreement(AGREEMENT[case], replicates=64, segments=100)
    for name in ("spine_density", "tagged_spine_density"):
        values = agent[name]
        mean = values.mean("replicate")
        se = values.std("replicate", ddof=1) / np.sqrt(values.sizes["replicate"])
        z = np.abs(mean - ode[name]) / se
        assert float(z.max()) < Z_MAX, f"{case}: {name} off by {float(z.max()):.1f} SE at day {float(z.idxmax()):.2f}"


def test_stationary_distribution_mean_is_the_mean_field_fixed_point(prior_model):
    engine = AgentEngine(segments=1)
    y0 = prior_model.initial_state()
    names = prior_model.state_names
    i_act, i_c1q = names.index("activation"), names.index("c1q")
    h0 = engine.hazards(prior_model, np.array([0.0, 1.0]), y0[i_act : i_act + 1], y0[i_c1q : i_c1q + 1])
    untagged, tagged, p = stationary_distribution(
        h0.formation[0], h0.homeostasis, h0.tagging[0], h0.engulfment[0], h0.intrinsic
    )
    np.testing.assert_allclose(p.sum(), 1.0)
    length = engine.segment_length_um
    expected = prior_model.spines.initial_state() * length
    np.testing.assert_allclose([p @ untagged, p @ tagged], expected, rtol=1e-6)
    # homeostasis makes the count less variable than Poisson
    total = untagged + tagged
    assert p @ (total - p @ total) ** 2 < p @ total


# ---------------------------------------------------------------------- seeds and schema
def _small(seed: int, extra: tuple[str, ...] = (), **engine) -> tuple[sim.RunConfig, object]:
    settings = {"replicates": 3, "segments": 8, "progress": False, **engine}
    overrides = ["experiment=shi2022_high_dose", "debug=smoke", f"seed={seed}", "engine=agents", *extra]
    cfg = sim.presets.from_overrides(overrides + [f"engine.{k}={str(v).lower()}" for k, v in settings.items()])
    return cfg, sim.simulate(cfg)


def test_same_seed_gives_identical_bits_and_other_seeds_differ():
    _, first = _small(7)
    _, again = _small(7)
    _, other = _small(8)
    for name in first.data_vars:
        assert first[name].values.tobytes() == again[name].values.tobytes(), name
    assert first.attrs["seed"] == 7
    assert not np.array_equal(first.spine_density.values, other.spine_density.values)
    assert not np.array_equal(first.birth_time.values, other.birth_time.values, equal_nan=True)


def test_replicate_depends_only_on_seed_and_index():
    _, three = _small(3, replicates=3)
    _, five = _small(3, replicates=5)
    np.testing.assert_array_equal(three.spine_density.values, five.spine_density.isel(replicate=slice(0, 3)).values)


def test_chunking_and_record_buffer_retries_do_not_change_results(monkeypatch):
    _, reference = _small(11, segments=20)
    monkeypatch.setattr(replicate, "_CALL_SEGMENTS", 3)
    monkeypatch.setattr(replicate, "_RECORD_HEADROOM", 0.01)  # forces replays of chunks with larger buffers
    _, chunked = _small(11, segments=20)
    for name in ("spine_density", "birth_time", "loss_time", "tag_time", "spine_position", "engulfed"):
        np.testing.assert_array_equal(reference[name].values, chunked[name].values)


def test_same_schema_as_the_ode_engine_plus_replicate():
    cfg, agent = _small(0)
    ode = sim.simulate(dataclasses.replace(cfg, engine=sim.OdeEngine()))
    per_spine = {"birth_time", "loss_time", "tag_time", "engulfed", "spine_position", "spine_cell"}
    per_cell = {"microglia_cell_position", "microglia_cell_multiplier", "microglia_cell_engulfed"}
    assert set(agent.data_vars) == set(ode.data_vars) | per_spine | per_cell
    for name in ode.data_vars:
        assert agent[name].attrs == ode[name].attrs, name
        extra = set(agent[name].dims) - set(ode[name].dims)
        assert extra <= {"replicate"}, name
    assert "replicate" in agent.spine_density.dims
    assert agent.birth_time.dims == ("replicate", "spine")
    assert agent.microglia_cell_position.dims == ("replicate", "cell")
    assert agent["cell"].attrs["units"] == "1"
    assert agent["replicate"].attrs["units"] == "1"
    for name in ("microglia_activation", "c1q_level", "tspo_occupancy"):  # same deterministic chain
        np.testing.assert_allclose(agent[name], ode[name], rtol=1e-6, atol=1e-9)


def test_spine_records_reproduce_the_counts():
    """Spines present at each output time according to the records = density x dendrite length."""
    cfg, ds = _small(5)
    t = ds.time
    born = ds.birth_time.isnull() | (ds.birth_time <= t)
    alive = ds.loss_time.isnull() | (ds.loss_time > t)
    count = (ds.spine_position.notnull() & born & alive).sum("spine")
    length = cfg.engine.segments * cfg.engine.segment_length_um
    np.testing.assert_allclose(count, ds.spine_density * length, rtol=0, atol=1e-9)
    positions = ds.spine_position.values[np.isfinite(ds.spine_position.values)]
    assert positions.min() >= 0 and positions.max() < length
    engulfed = ds.engulfed.values
    assert set(np.unique(engulfed[np.isfinite(engulfed)])) <= {0.0, 1.0}
    assert np.all(np.isnan(engulfed) == np.isnan(ds.loss_time.values))
    eaten = engulfed == 1.0
    tag, loss, birth = ds.tag_time.values[eaten], ds.loss_time.values[eaten], ds.birth_time.values[eaten]
    assert np.all((tag <= loss) | (np.isnan(tag) & np.isnan(birth)))  # tagged before eaten (or before time zero)
    assert np.isfinite(tag).any()


def test_engine_returns_a_dataset_with_time_in_days(model):
    """AgentEngine.simulate builds the Dataset itself: time [d], compounds of the PK stage, engine attributes."""
    engine = AgentEngine(replicates=2, segments=4, progress=False)
    times_h = np.linspace(0.0, 48.0, 9)
    ds = engine.simulate(model, times_h, np.random.default_rng(0))
    assert isinstance(ds, xr.Dataset)
    np.testing.assert_array_equal(ds.time.values, times_h / 24.0)
    assert ds.time.attrs["units"] == "d"
    assert list(ds.compound.values) == list(model.pk.names)
    assert ds.sizes["replicate"] == 2 and ds.attrs["agent_replicates"] == 2
    assert ds.sizes["cell"] == ds.attrs["agent_cells_per_replicate"] == engine.cells(model)
    assert ds.spine_density.dims == ("replicate", "time")


def test_without_records_there_is_no_spine_dimension():
    _, ds = _small(0, record_spines=False)
    assert "spine" not in ds.dims and "birth_time" not in ds


# ---------------------------------------------------------------------- microglial cells and territories
def test_cells_scale_with_microglia_density(model):
    """50 x 20 um with 35 um territories: 29 cells intact, round(n x 29) after depletion, never fewer than one."""
    engine = AgentEngine(segments=50, segment_length_um=20.0, microglia_territory_um=35.0)
    expected = {0.0: 29, 0.5: 15, 0.9: 3, 0.95: 1, 0.99: 1}  # 0.5 x 29 = 14.5 rounds up; 0.99 x 29 = 0.29 -> 1
    for fraction, cells in expected.items():
        depleted = dataclasses.replace(model, depletion=MicrogliaDepletion(fraction_depleted=fraction))
        assert engine.cells(depleted) == cells, fraction
    tiny = AgentEngine(segments=1, segment_length_um=5.0, microglia_territory_um=35.0)
    assert tiny.cells(model) == 1  # a dendrite shorter than a territory still has its cell


def test_depletion_leaves_fewer_cells_with_larger_territories():
    _, intact = _small(0, segments=20)
    _, depleted = _small(0, segments=20, extra=["depletion=plx5622"])
    assert intact.sizes["cell"] == 11 and depleted.sizes["cell"] == 1  # 400 um / 35 um; 0.1 x 11 = 1.1
    assert depleted.attrs["agent_territory_length_um"] == pytest.approx(400.0)
    assert intact.attrs["agent_territory_length_um"] == pytest.approx(400.0 / 11)
    np.testing.assert_allclose(depleted.microglia_cell_position, 200.0)


def test_territories_partition_the_dendrite():
    """Every spine site lies in exactly one territory, and the kernel credits each engulfment to that cell."""
    engine = AgentEngine(segments=40, segment_length_um=7.0, microglia_territory_um=23.0)
    cells = engine.territories(sim.PruningModel(), np.random.default_rng(0))
    length = 40 * 7.0
    assert cells.n_cells == 12 and cells.edges_um[0] == 0.0 and cells.edges_um[-1] == length
    assert np.all(np.diff(cells.edges_um) > 0)
    h = _hazards(30, 1.0, tagging=0.05, engulfment=0.2, intrinsic=0.01, formation=0.3, slots=5)
    h.segment_length_um = 7.0
    sites = (np.arange(40)[:, None] * 7.0 + h.slot_offsets_um).ravel()
    inside = (sites[:, None] >= cells.edges_um[:-1]) & (sites[:, None] < cells.edges_um[1:])
    assert np.all(inside.sum(axis=1) == 1)  # exactly one territory per site
    np.testing.assert_array_equal(inside.argmax(axis=1), cells.cell_of(sites))
    result = _run(h, np.full(40, 3, np.int64), np.ones(40, np.int64), record=True, cells=cells)
    eaten = result.engulfed == 1.0
    from_records = np.bincount(cells.cell_of(result.position_um[eaten]), minlength=cells.n_cells)
    np.testing.assert_array_equal(result.cell_engulfed, from_records)
    assert result.cell_engulfed.sum() > 20


def test_cell_multiplier_scales_the_tagging_hazard():
    """Two territories with multipliers 0.5 and 2: tagged fraction by t is 1 - exp(-m a t) in each (binomial SE)."""
    n, a, steps = 20_000, 0.1, 10
    h = _hazards(steps, 1.0, tagging=a, slots=1)
    cells = Territories(np.array([0.0, n / 2, n]), np.array([0.5, 2.0]))
    result = _run(h, np.ones(n, np.int64), np.zeros(n, np.int64), record=True, cells=cells)
    cell = cells.cell_of(result.position_um)
    for c, m in enumerate(cells.multiplier):
        tagged = np.isfinite(result.tag_h[cell == c]).mean()
        expected = 1.0 - np.exp(-m * a * steps)
        assert _binomial_z(tagged, expected, n / 2) < Z_MAX, (m, tagged, expected)


def _dispersion_statistic(cv: float, seed: int) -> tuple[float, int]:
    """Chi-square statistic of per-cell engulfment counts against the homogeneous binomial, and its cell count.

    Every segment starts with 4 tagged spines, engulfed at hazard 0.02/h for 10 h (no other events), so with
    identical cells each cell's count is Binomial(spines, 1 - exp(-0.2)) and the statistic is chi-square with
    one degree of freedom per cell.
    """
    segments, per_cell = 8_000, 50
    h = _hazards(10, 1.0, engulfment=0.02, slots=4)
    engine = AgentEngine(segments=segments, segment_length_um=1.0, microglia_territory_um=per_cell)
    engine.microglia_heterogeneity_cv = cv
    cells = engine.territories(sim.PruningModel(), np.random.default_rng(seed))
    result = _run(h, np.zeros(segments, np.int64), np.full(segments, 4, np.int64), seed, cells=cells)
    n, p = 4 * per_cell, 1.0 - np.exp(-0.2)
    counts = result.cell_engulfed
    return float(np.sum((counts - n * p) ** 2 / (n * p * (1 - p)))), counts.size


def test_heterogeneous_cells_overdisperse_engulfment_counts():
    """cv = 0: the per-cell counts are binomial (chi-square within 5 SE of its mean); cv = 0.5: far above.

    With cv = 0.5 the expected statistic is about 1 + n Var(p_c) / (p (1 - p)) = 6 per cell (n = 200 spines per
    cell), i.e. hundreds of standard errors above the homogeneous value, so ignoring the multipliers fails.
    """
    chi2, dof = _dispersion_statistic(0.0, seed=3)
    assert abs(chi2 - dof) < Z_MAX * np.sqrt(2 * dof), chi2
    chi2, dof = _dispersion_statistic(0.5, seed=3)
    assert chi2 > dof + 10 * Z_MAX * np.sqrt(2 * dof), chi2


def test_cell_multipliers_have_mean_one_and_the_requested_cv(model):
    engine = AgentEngine(segments=20_000, segment_length_um=35.0, microglia_heterogeneity_cv=0.4)
    m = engine.territories(model, np.random.default_rng(1)).multiplier
    assert m.size == 20_000 and np.all(m >= 0)
    assert abs(m.mean() - 1.0) < Z_MAX * 0.4 / np.sqrt(m.size)
    assert abs(m.std() - 0.4) < 0.02  # sampling SE of the SD is about 0.4 x 1.1 / sqrt(2 x 20000) = 0.002
    engine.microglia_heterogeneity_cv = 0.9  # the same seed keeps each cell's rank
    again = engine.territories(model, np.random.default_rng(1)).multiplier
    np.testing.assert_array_equal(np.argsort(m), np.argsort(again))
    engine.microglia_heterogeneity_cv = 0.0
    np.testing.assert_array_equal(engine.territories(model, np.random.default_rng(1)).multiplier, 1.0)


def test_heterogeneous_cells_are_reproducible_and_used():
    """Same seed and cv > 0: identical bits; the cells that engulf most are the ones with the largest multiplier."""
    settings = {"microglia_heterogeneity_cv": 1.0, "segments": 50, "replicates": 4}
    settings["contact_rate_per_h"] = 2.0  # room for cells up to 10x as responsive as the mean (see the next test)
    _, first = _small(2, **settings)
    _, again = _small(2, **settings)
    for name in first.data_vars:
        assert first[name].values.tobytes() == again[name].values.tobytes(), name
    m = first.microglia_cell_multiplier.values.ravel()
    eaten = first.microglia_cell_engulfed.values.ravel()
    assert first.sizes["cell"] == 29 and m.std() > 0.5
    rank = np.corrcoef(np.argsort(np.argsort(m)), np.argsort(np.argsort(eaten)))[0, 1]
    assert rank > 0.5, rank  # Spearman correlation; about 0 if the multipliers were ignored
    cell = first.spine_cell.values
    expected = np.floor(first.spine_position.values / first.attrs["agent_territory_length_um"])
    np.testing.assert_array_equal(cell, np.minimum(expected, first.sizes["cell"] - 1))
    engulfed = (first.engulfed == 1).values
    for r in range(first.sizes["replicate"]):
        counts = np.bincount(cell[r][engulfed[r]].astype(int), minlength=first.sizes["cell"])
        np.testing.assert_array_equal(counts, first.microglia_cell_engulfed.values[r])


def test_contact_check_counts_the_most_responsive_cell(model):
    """Hazards that fit the contacts of an average cell can still be too fast for a cell with a large multiplier."""
    engine = AgentEngine(replicates=1, segments=200, microglia_heterogeneity_cv=2.0, progress=False)
    with pytest.raises(ConfigError, match=r"multiplier .*microglia_heterogeneity_cv"):
        engine.simulate(model, np.linspace(0.0, 48.0, 9), np.random.default_rng(0))


# ---------------------------------------------------------------------- configuration errors
@pytest.mark.parametrize(
    "override, key",
    [
        ("engine.replicates=0", "engine.replicates"),
        ("engine.chunk_segments=0", "engine.chunk_segments"),
        ("engine.segment_length_um=-1", "engine.segment_length_um"),
        ("engine.dt_h=0", "engine.dt_h"),
        ("engine.capacity_factor=0.5", "engine.capacity_factor"),
        ("engine.microglia_territory_um=0", "engine.microglia_territory_um"),
        ("engine.microglia_heterogeneity_cv=-0.1", "engine.microglia_heterogeneity_cv"),
    ],
)
def test_bad_engine_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        sim.presets.from_overrides(["engine=agents", override])


def test_contacts_too_rare_for_the_tagging_and_engulfment_rates(model):
    engine = AgentEngine(replicates=1, segments=1, contact_rate_per_h=0.01, progress=False)
    with pytest.raises(ConfigError, match=r"engine\.contact_rate_per_h"):
        engine.simulate(model, np.linspace(0.0, 48.0, 9), np.random.default_rng(0))


def test_recording_spines_does_not_change_the_trajectories():
    _, recorded = _small(4)
    _, plain = _small(4, record_spines=False)
    np.testing.assert_array_equal(recorded.spine_density.values, plain.spine_density.values)
    np.testing.assert_array_equal(recorded.tagged_spine_density.values, plain.tagged_spine_density.values)
