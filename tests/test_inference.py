"""Posterior sampler (sim.inference): the density it targets, its output file and its reproducibility."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sim import presets, targets
from sim.core.params import ConfigError
from sim.inference import Posterior, main, sample
from sim.io import open_result
from sim.posterior import variable_name
from sim.run import simulate_model


@pytest.fixture(scope="module")
def posterior():
    return Posterior.of()


def test_log_probability_is_likelihood_plus_priors_by_hand(posterior):
    """Two distinct sets, scored independently with the ODE engine and the formulas written out here."""
    spec = targets.VARIANTS[targets.DEFAULT_VARIANT]
    start = posterior.start()
    sets = np.array([start + 0.1 * np.arange(1, start.size + 1), start - 0.07 * np.arange(start.size, 0, -1)])
    got = posterior(sets)
    for row, log_values in enumerate(sets):
        values = {key: float(math.exp(v)) for key, v in zip(spec.keys, log_values)}
        times, deficits = {}, {}
        for arm, overrides in targets.ARMS.items():
            cfg = presets.from_overrides([*overrides, *spec.selections])
            stages = {}
            for key, value in values.items():
                group, name = key.split(".")
                stages.setdefault(group, {})[name] = value
            model = dataclasses.replace(
                cfg.model(), **{g: dataclasses.replace(getattr(cfg, g), **f) for g, f in stages.items()}
            )
            ds = simulate_model(model, cfg.times_h())
            times[arm] = ds["time"].values
            deficits[arm] = 100.0 - ds["spine_density_relative"].values
        obs = targets.observables(times, deficits)
        log_like = 0.0
        for t in targets.TARGETS:
            z = (float(obs[t.name]) - t.value) / t.sigma
            if t.kind == "at_most":  # censored: log P(report "below the value") = log Phi(-z)
                log_like += math.log(0.5 * math.erfc(z / math.sqrt(2.0)))
            else:
                log_like += -0.5 * z**2
        log_prior = sum(
            -0.5 * ((v - math.log(p.median)) / p.log_sd) ** 2 - math.log(p.log_sd * math.sqrt(2 * math.pi))
            for p, v in zip(spec.free, log_values)
        )
        # the engines agree to ~1e-5 in density; the likelihood magnifies that by the residuals (up to ~5 sigma)
        assert got[row] == pytest.approx(log_like + log_prior, rel=1e-3)
    assert abs(got[0] - got[1]) > 1.0  # the two sets are told apart far beyond the tolerance


def test_refused_or_non_finite_sets_have_zero_probability(posterior):
    start = posterior.start()
    bad = start.copy()
    bad[0] = np.inf
    lp = posterior(np.array([start, bad]))
    assert np.isfinite(lp[0]) and lp[1] == -np.inf


def test_smoke_chain_writes_names_and_attributes_and_repeats_bit_for_bit(tmp_path):
    spec = targets.VARIANTS[targets.DEFAULT_VARIANT]
    args = ["--walkers", "8", "--steps", "4", "--seed", "7", "--burn-in", "1", "--thin", "1"]
    assert main([*args, "--output", str(tmp_path / "a.nc")]) == 0
    assert main([*args, "--output", str(tmp_path / "b.nc")]) == 0
    a, b = open_result(tmp_path / "a.nc"), open_result(tmp_path / "b.nc")
    assert (tmp_path / "a.md").is_file()
    assert a.attrs["free_parameters"].split() == list(spec.keys)
    for key in ("variant", "priors", "targets", "seed", "walkers", "steps", "burn_in", "thin", "acceptance_fraction"):
        assert key in a.attrs, key
    for key in ("autocorrelation_time_steps", "effective_sample_size", "run_time_s", "command", "sim_version"):
        assert key in a.attrs, key
    assert a.attrs["calibration_sha256"] and a.attrs["git_commit"]
    assert a.sizes == {"chain": 8, "draw": 3}
    for key in spec.keys:
        variable = a[variable_name(key)]
        assert variable.attrs["config_key"] == key and variable.attrs["units"]
        assert np.all(variable.values > 0)  # parameter values, not their logs
        np.testing.assert_array_equal(variable.values, b[variable_name(key)].values)
    np.testing.assert_array_equal(a["log_probability"].values, b["log_probability"].values)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--walkers", "5", "--steps", "4", "--seed", "1"], "walkers = 5"),
        (["--walkers", "8", "--steps", "4", "--seed", "1", "--variant", "nope"], "variant = 'nope'"),
        (["--walkers", "8", "--steps", "1", "--seed", "1"], "steps = 1"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, args, message):
    assert main([*args, "--output", str(tmp_path / "x.nc")]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


class _Toy(Posterior):
    """Two parameters: a flat likelihood for the first (posterior = prior) and a Gaussian one in log space for the
    second (posterior Normal with precision-weighted mean)."""

    center, width = math.log(2.0), 0.25

    def start(self):
        return np.array([math.log(self.variant.free[0].median), self.center])

    def log_likelihood(self, log_values):
        return -0.5 * ((log_values[:, 1] - self.center) / self.width) ** 2


def test_sampler_targets_prior_times_likelihood():
    priors = (
        targets.Prior("microglia.activation_rate_per_h", 0.7, 0.4, "1/h", "test"),
        targets.Prior("spines.homeostatic_gain", 0.5, 0.5, "1", "test"),
    )
    toy = _Toy(targets.Variant("toy", "test", (), priors))
    sampler, diag = sample(toy, walkers=32, steps=1500, seed=3, burn_in=300, thin=1)
    chain = sampler.get_chain(discard=300, flat=True)
    ess = float(np.min(diag["effective_sample_size"]))
    # first: the prior N(log 0.7, 0.4)
    se = 0.4 / math.sqrt(ess)
    assert np.mean(chain[:, 0]) == pytest.approx(math.log(0.7), abs=4 * se)
    assert np.std(chain[:, 0]) == pytest.approx(0.4, abs=4 * se)
    # second: N(log 0.5, 0.5) x N(log 2, 0.25) in log space
    precision = 1 / 0.5**2 + 1 / 0.25**2
    mean = (math.log(0.5) / 0.5**2 + math.log(2.0) / 0.25**2) / precision
    sd = precision**-0.5
    assert np.mean(chain[:, 1]) == pytest.approx(mean, abs=4 * sd / math.sqrt(ess))
    assert np.std(chain[:, 1]) == pytest.approx(sd, abs=4 * sd / math.sqrt(ess))
    assert 0.2 < diag["acceptance_fraction"] < 0.9


def test_unknown_variant_is_refused():
    with pytest.raises(ConfigError, match="variant = 'nope' is not allowed"):
        Posterior.of("nope")
