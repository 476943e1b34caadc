"""sim.targets: observables, residuals and acceptance on hand-computed arrays (no simulation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import targets

T_HI = np.array([0.0, 6.0, 8.0, 30.0, 50.0, 60.0, 70.0])
HI = np.array([0.0, 11.0, 15.0, 14.0, 3.0, 1.0, 0.5])
T_LO = np.array([0.0, 56.0, 70.0, 77.0, 80.0, 84.0])
LO = np.array([0.0, 9.0, 4.0, 1.5, 1.9, 1.0])


def test_observables_by_hand():
    obs = targets.observables({"high_dose": T_HI, "low_dose": T_LO}, {"high_dose": HI, "low_dose": LO})
    assert obs["high_dose_deficit_day7_percent"] == pytest.approx(13.0)  # halfway between 11 (day 6) and 15 (day 8)
    assert obs["high_dose_deficit_day56_percent"] == pytest.approx(3.0 - 0.6 * 2.0)  # 60 % of the way 50 -> 60
    assert obs["high_dose_loss_after_withdrawal_percent"] == pytest.approx(15.0 - 13.0)  # max after day 7 - day 7
    assert obs["low_dose_deficit_after_day77_percent"] == pytest.approx(1.9)


def test_residuals_gaussian_and_censored():
    obs = {
        "high_dose_deficit_day7_percent": 16.0,
        "high_dose_deficit_day56_percent": 1.0,
        "high_dose_loss_after_withdrawal_percent": 0.5,
        "low_dose_deficit_after_day77_percent": 1.0,  # two sigma below the bound: "recovered" is likely
    }
    # censored term: -2 log Phi((2 - 1) / 0.5) = -2 log Phi(2), Phi(2) = 0.977249868
    np.testing.assert_allclose(
        targets.residuals(obs), [3.0 / 1.5, -1.0 / 0.5, 0.5 / 1.0, math.sqrt(-2.0 * math.log(0.977249868))], rtol=1e-8
    )
    obs["low_dose_deficit_after_day77_percent"] = 2.0  # at the bound: a coin toss, log-likelihood log(1/2)
    assert targets.residuals(obs)[3] == pytest.approx(math.sqrt(2.0 * math.log(2.0)))
    assert float(targets.log_likelihood(obs)) == pytest.approx(-0.5 * (4.0 + 4.0 + 0.25) + math.log(0.5))
    obs["low_dose_deficit_after_day77_percent"] = 3.0  # two sigma above: Phi(-2) = 0.022750132
    assert targets.residuals(obs)[3] == pytest.approx(math.sqrt(-2.0 * math.log(0.022750132)), rel=1e-8)
    lower = [targets.residuals({**obs, "low_dose_deficit_after_day77_percent": d})[3] for d in (0.0, 1.0, 2.0, 3.0)]
    assert np.all(np.diff(lower) > 0)  # the more residual loss, the less likely the report "recovered"


def test_acceptance_by_hand_and_batched():
    times = {"high_dose": T_HI, "low_dose": T_LO}
    ok = targets.acceptance(times, {"high_dose": HI, "low_dose": LO})
    # day 7: 13 %; first output below 2 % after day 7: day 60; low dose from day 77: max 1.9 %
    assert {k: bool(v) for k, v in ok.items()} == {
        "high_dose_day7": True,
        "high_dose_recovery": True,
        "low_dose_recovery": True,
    }
    late = LO.copy()
    late[4] = 2.1  # day 80 above 2 %
    fast = HI.copy()
    fast[3:] = [1.0, 0.5, 0.2, 0.1]  # below 2 % already on day 30
    batch = targets.acceptance(times, {"high_dose": np.stack([HI, fast]), "low_dose": np.stack([late, LO])})
    np.testing.assert_array_equal(batch["high_dose_recovery"], [True, False])
    np.testing.assert_array_equal(batch["low_dose_recovery"], [False, True])
    assert targets.first_recovered_day(T_HI, fast, 7.0) == 30.0
    assert math.isinf(float(targets.first_recovered_day(T_HI, HI + 5.0, 7.0)))


def test_variants_name_their_selections_and_priors():
    assert targets.DEFAULT_VARIANT in targets.VARIANTS
    for name, variant in targets.VARIANTS.items():
        assert variant.name == name
        groups = {s.split("=")[0] for s in variant.selections}
        assert groups == {"microglia", "spines"}, name  # explicit: independent of the package defaults
        assert len(set(variant.keys)) == len(variant.keys)
        for prior in variant.free:
            assert prior.median > 0 and prior.log_sd > 0 and prior.source
    # the log-normal prior density integrates to one over log x
    prior = targets.VARIANTS["baseline"].free[0]
    grid = np.linspace(math.log(prior.median) - 10 * prior.log_sd, math.log(prior.median) + 10 * prior.log_sd, 4001)
    assert np.trapezoid(np.exp(prior.logpdf(grid)), grid) == pytest.approx(1.0, rel=1e-6)
