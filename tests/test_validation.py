"""Every Shi et al. 2022 finding as a test of the calibrated model (the default configuration).

One module-scoped run of all study arms (~7 s), then one assertion per finding. A change that broke the biology
(e.g. no TSPO drive, no C1q tagging, no homeostatic regrowth) fails these; see ``test_broken_biology_fails``.
"""

from __future__ import annotations

import math

import pytest

from sim import analysis, validation
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
    controls = {"vehicle", "plx5622_vehicle", "bollinger_control_vehicle", "bollinger_control_vehicle_28d"}
    assert control(arms, "vehicle") is None and set(CONTROLS) == set(ARMS) - controls
    assert control(arms, "bollinger_cus_diazepam_gabaa_insensitive") is arms["bollinger_control_vehicle"]
    assert control(arms, "bollinger_cus_vehicle_28d") is arms["bollinger_control_vehicle_28d"]
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


def test_behaviour_findings_follow_their_criteria(findings):
    """Each behaviour finding's verdict is its stated criterion (drop vs minimal detectable drop) — pass or fail."""
    import re

    for key, impaired in (("nor_impaired_low_dose", True), ("alternation_spared_low_dose", False)):
        drop, detectable = map(float, re.findall(r"[-\d.]+(?= |\))", findings[key].model)[:2])
        assert findings[key].passed == ((drop > detectable) if impaired else (drop < detectable)), key
    assert findings["alternation_spared_low_dose"].passed


def test_low_dose_loss_finding_is_the_day56_deficit(arms, findings):
    f = findings["low_dose_loss"]
    assert f.value == pytest.approx(deficit(arms, "low_dose", 56.0))
    assert f.passed == (f.value >= validation.DETECTABLE_LOSS_PERCENT)


def test_exactly_the_known_failures_fail(findings):
    """The required findings that fail are exactly validation.KNOWN_FAILURES (each with its reason)."""
    failed = {f.key for f in findings.values() if f.required and not f.passed}
    assert failed == set(validation.KNOWN_FAILURES), [findings[k].model for k in failed]
    assert all(len(reason) > 40 for reason in validation.KNOWN_FAILURES.values())
    assert sum(f.required for f in findings.values()) == 17  # 13 of Shi et al., 2 of Bollinger, 2 of Woodburn


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
    assert validation.main(["--csv", str(tmp_path / "v.csv")]) == 0  # failures listed in KNOWN_FAILURES only
    with open(tmp_path / "v.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(evaluate(arms)) and rows[0]["finding"] == "high_dose_loss_day7"
    assert capsys.readouterr().out.count("pass ") == sum(r["result"] == "pass" for r in rows)


def test_intervals_of_identical_draws_collapse_to_the_point_values(arms, findings):
    """with_intervals evaluates every draw like the point estimate: two copies of the arms give a zero-width interval."""
    import xarray as xr

    draws = {label: xr.concat([ds, ds], "draw") for label, ds in arms.items()}
    point = list(findings.values())
    for f in validation.with_intervals(point, draws):
        low, mid, high = f.interval
        if math.isfinite(f.value):
            assert low == mid == high == pytest.approx(f.value, rel=1e-12, abs=1e-12), f.key
        assert f.pass_fraction == (1.0 if f.passed else 0.0), f.key
    extras = validation.extra_intervals(draws)
    for key, value in validation.extra_readouts(arms).items():
        if math.isfinite(value):
            assert extras[key][0] == extras[key][2] == pytest.approx(value), key


def test_unexpected_failures_make_the_exit_status_non_zero(findings):
    import dataclasses

    broken = [dataclasses.replace(f, passed=False) if f.key == "tspo_ko_spared" else f for f in findings.values()]
    assert validation.exit_status(list(findings.values())) == 0
    assert validation.exit_status(broken) == 1


def test_a_spine_loss_interval_from_no_effect_to_large_effect_says_so():
    assert "uninformative" in validation.describe_interval((0.5, 6.0, 14.0), "%")
    assert "uninformative" not in validation.describe_interval((3.0, 6.0, 14.0), "%")
    assert validation.describe_interval((38.0, 50.0, 61.5), "d") == "38-61.5 d"


def test_bollinger_findings_are_the_stress_deficits_at_the_end_of_cus(arms, findings):
    """The Bollinger rows read the deficits against control + vehicle on day 14, as tests/test_stress.py does."""
    base = float(arms["bollinger_control_vehicle"].spine_density[-1])
    loss = {
        k: 100 * (1 - float(arms[f"bollinger_{k}"].spine_density[-1]) / base) for k in ("cus_vehicle", "cus_diazepam")
    }
    assert findings["cus_loss"].value == pytest.approx(loss["cus_vehicle"], rel=1e-9)
    assert findings["cus_loss"].passed and findings["cus_diazepam_protects"].passed
    assert findings["cus_diazepam_protects"].value == pytest.approx(
        loss["cus_diazepam"] / loss["cus_vehicle"], rel=1e-9
    )
    prediction = findings["cus_gabaa_insensitive_unprotected"]
    assert not prediction.required and prediction.role == "prediction" and prediction.value > 1.0


def test_sex_persistence_and_knockout_rows_read_their_arms(arms, findings):
    """[woodburn2021] rows and the TSPO-KO prediction: each value is its arm's deficit against its own control."""
    assert findings["cus_female_spared"].value == pytest.approx(deficit(arms, "bollinger_cus_vehicle_female", 14.0))
    assert findings["cus_female_spared"].passed and findings["cus_female_spared"].value < 1e-6  # response 0
    late = findings["cus_deficit_persists_28d"]
    assert late.value == pytest.approx(deficit(arms, "bollinger_cus_vehicle_28d", 28.0))
    assert late.passed and late.value > findings["cus_loss"].value  # stress still on: the loss deepens
    female_dzp = findings["cus_female_diazepam_unprotected"]
    assert female_dzp.value == pytest.approx(deficit(arms, "bollinger_control_diazepam", 14.0), rel=1e-6)
    ko = findings["cus_tspo_ko"]
    assert ko.value == pytest.approx(deficit(arms, "bollinger_cus_diazepam_tspo_ko", 14.0))
    assert ko.passed and not ko.required


def test_other_engines_leave_the_stress_arms_out():
    kept = validation._runnable(ARMS, ["engine=agents"])
    assert set(ARMS) - set(kept) == set(validation.BOLLINGER_ARMS) and len(validation.BOLLINGER_ARMS) == 12
    assert validation._runnable(ARMS, ["engine=agents", "engine=ode"]) == ARMS


def test_stress_net_effect_is_the_diazepam_minus_vehicle_loss_under_cus(findings):
    """0 at dose 0 (CUS + vehicle itself); at 1 mg/kg the loss of the protection row minus the CUS + vehicle loss."""
    net = validation.stress_net_effect([0.0, 1.0])
    assert net.attrs["units"] == "percentage points" and net["dose"].attrs["units"] == "mg/kg"
    veh = findings["cus_loss"].value
    assert net.values[0] == pytest.approx(0.0, abs=1e-9)
    assert net.values[1] == pytest.approx(findings["cus_diazepam_protects"].value * veh - veh, rel=1e-9)
