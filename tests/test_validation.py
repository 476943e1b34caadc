"""Every Shi et al. 2022 finding as a test of the calibrated model (the default configuration).

One module-scoped run of all study arms (~7 s), then one assertion per finding. A change that broke the biology
(e.g. no TSPO drive, no C1q tagging, no homeostatic regrowth) fails these; see ``test_broken_biology_fails``.
"""

from __future__ import annotations

import math

import pytest

from sim import analysis
from sim.analysis import formation_per_interval
from sim.validation import (
    ARMS,
    CONTROLS,
    control,
    deficit,
    evaluate,
    max_deficit,
    recovery_day,
    run_arms,
)


@pytest.fixture(scope="module")
def arms():
    return run_arms()


@pytest.fixture(scope="module")
def findings(arms):
    return {f.key: f for f in evaluate(arms)}


def test_every_arm_has_an_experiment_config(arms):
    assert set(arms) == set(ARMS)


def test_each_arm_is_compared_with_its_matched_control(arms):
    assert control(arms, "high_dose") is arms["vehicle"]
    assert control(arms, "plx5622_high_dose") is arms["plx5622_vehicle"]
    assert control(arms, "vehicle") is None and set(CONTROLS) == set(ARMS) - {"vehicle", "plx5622_vehicle"}
    # the low-dose arms run to day 84, the vehicle only to day 70: they fall back to the drug-free baseline
    assert control(arms, "low_dose") is None and float(arms["low_dose"].time[-1]) > float(arms["vehicle"].time[-1])
    # residual microglia ignore diazepam: no loss against the PLX5622 vehicle, although depletion alone puts the
    # density far above the drug-free baseline (a "gain" of more than 5 % if compared with the baseline)
    assert abs(deficit(arms, "plx5622_high_dose", 7.0)) < 0.1
    assert analysis.deficit_at(arms["plx5622_high_dose"], 7.0) < -5.0


def test_high_dose_loses_13_percent_by_day_7(arms):
    assert 10.0 <= deficit(arms, "high_dose", 7.0) <= 16.0


def test_deficit_gone_first_between_day_42_and_70(arms):
    day = recovery_day(arms, "high_dose")
    assert 42.0 <= day <= 70.0
    assert deficit(arms, "high_dose", 40.0) >= 2.0  # still visibly low before day 42


@pytest.mark.parametrize("arm", ["high_dose_tspo_ko", "low_dose_tspo_ko", "high_dose_2wk_tspo_ko"])
def test_tspo_knockout_loses_no_spines(arms, arm):
    assert max_deficit(arms, arm) < 1.0
    assert float(arms[arm].tspo_occupancy.max()) == 0.0


@pytest.mark.parametrize("arm", ["high_dose", "low_dose", "high_dose_2wk"])
def test_gabaa_insensitive_loss_matches_wild_type(arms, arm):
    wild, mutant = max_deficit(arms, arm), max_deficit(arms, arm + "_gabaa_insensitive")
    assert wild > 1.0
    assert abs(mutant - wild) <= 0.10 * wild
    assert float(arms[arm + "_gabaa_insensitive"].gabaa_occupancy.max()) == 0.0


def test_xbd173_mimics_diazepam(arms):
    assert max_deficit(arms, "xbd173") > 5.0
    assert float(arms["xbd173"].gabaa_occupancy.max()) == 0.0


def test_clonazepam_gives_under_a_fifth_of_diazepam_loss(arms):
    assert deficit(arms, "clonazepam", 7.0) < deficit(arms, "high_dose", 7.0) / 5.0


def test_plx5622_raises_formation_with_and_without_diazepam(arms):
    for intact, depleted in (("vehicle", "plx5622_vehicle"), ("high_dose", "plx5622_high_dose")):
        assert formation_per_interval(arms[depleted], 0.0, 7.0) > formation_per_interval(arms[intact], 0.0, 7.0)


def test_residual_microglia_ignore_diazepam_and_have_high_tspo(arms):
    ds = arms["plx5622_high_dose"]
    assert float(ds.microglia_activation.max()) < 0.01
    assert float(ds.microglial_tspo.isel(time=0)) > 1.0
    assert float(ds.microglia_density.isel(time=0)) < 0.5


def test_high_dose_loses_spines_faster_than_low_dose(arms):
    assert deficit(arms, "high_dose", 7.0) > deficit(arms, "low_dose", 7.0)


def test_low_dose_impairs_object_recognition_but_not_alternation(findings):
    assert findings["nor_impaired_low_dose"].passed, findings["nor_impaired_low_dose"].model
    assert findings["alternation_spared_low_dose"].passed, findings["alternation_spared_low_dose"].model


def _expected_failures() -> set[str]:
    """The low-dose recovery fails by design when no mechanism variant meets every criterion (sim.calibrate)."""
    from sim.calibrate import CALIBRATION_DIR, HEADLINE

    text = (CALIBRATION_DIR / f"{HEADLINE}.yaml").read_text()
    return {"low_dose_recovery"} if "WITHOUT the low-dose target" in text else set()


def test_every_required_finding_passes(findings):
    failed = {f.key for f in findings.values() if f.required and not f.passed}
    assert failed == _expected_failures(), [findings[k].model for k in failed]
    assert sum(f.required for f in findings.values()) == 12


def test_low_dose_recovery_finding_agrees_with_the_acceptance_criterion(arms, findings):
    from sim import targets

    ds = arms["low_dose"]
    late = 100.0 - ds.spine_density_relative.sel(time=slice(77.0, None)).values
    assert findings["low_dose_recovery"].passed == bool(late.max() < 2.0)
    assert f"{late.max():.1f} %" in findings["low_dose_recovery"].model
    t, d = ds.time.values, 100.0 - ds.spine_density_relative.values
    criterion = targets.acceptance({"high_dose": t, "low_dose": t}, {"high_dose": d, "low_dose": d})
    assert bool(criterion["low_dose_recovery"]) == findings["low_dose_recovery"].passed


def test_microglia_tspo_and_c1q_rise_under_diazepam(arms):
    ds = arms["high_dose_2wk"]
    assert float(ds.tspo_pet_proxy.interp(time=14.0)) > 1.0  # TSPO-PET arm readout (induction fold > 1)
    assert float(ds.c1q_level.max()) > 1.0
    assert ds.tspo_pet_proxy.attrs["units"] == "1" and "TSPO-PET" in ds.tspo_pet_proxy.attrs["long_name"]


def test_tspo_pet_proxy_is_tissue_tspo_relative_to_the_same_tissue_drug_free(arms):
    import numpy as np

    wt = arms["high_dose_2wk"]
    np.testing.assert_allclose(wt.tspo_pet_proxy, wt.microglial_tspo_total / wt.microglial_tspo_total[0], rtol=1e-12)
    depleted = arms["plx5622_high_dose"]  # fewer microglia with raised resting TSPO: drug-free tissue = 1
    assert float(depleted.tspo_pet_proxy[0]) == pytest.approx(1.0, rel=1e-9)
    assert float(depleted.microglial_tspo_total[0]) != pytest.approx(1.0, rel=1e-3)
    assert float(arms["high_dose_tspo_ko"].tspo_pet_proxy.max()) == 0.0  # no TSPO, no specific signal


def test_broken_biology_fails():
    """Without C1q/engulfment gains and formation suppression the drug cannot prune: the findings must fail."""
    broken = run_arms(
        ["microglia.c1q_gain=0", "microglia.engulfment_gain=0", "spines.activated_formation_suppression=0"],
        arms={"vehicle": "vehicle", "high_dose": "shi2022_high_dose"},
    )
    assert deficit(broken, "high_dose", 7.0) < 1.0
    assert math.isnan(recovery_day(broken, "high_dose")) or recovery_day(broken, "high_dose") < 42.0


def test_command_line_prints_findings_and_writes_csv(arms, monkeypatch, tmp_path, capsys):
    import csv

    from sim import validation

    monkeypatch.setattr(validation, "run_arms", lambda overrides: arms)
    assert validation.main(["--csv", str(tmp_path / "v.csv")]) == (1 if _expected_failures() else 0)
    with open(tmp_path / "v.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(evaluate(arms)) and rows[0]["finding"] == "high_dose_loss_day7"
    assert capsys.readouterr().out.count("pass ") == sum(r["result"] == "pass" for r in rows)
