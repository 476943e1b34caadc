"""Clinical human regimens (``experiment=human_<drug>_<regimen>``) and the one-unit dose rule.

Each regimen file gives a label dose in mg every ``interval_h`` hours; a short run of each experiment must give that
many mg per dose and 24 / interval_h doses a day, counted from the cumulative dose output. A dose in mg and the same
dose in mg/kg of the 70-kg adult are the same run, and the result records the dose in both units.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import sim
from sim import presets
from sim.config import config_dir

#: (experiment, drug, mg per dose, doses per day) as the label regimens state them; written out here, not read from
#: the files, so a file that drifts from its name and comment fails.
CLINICAL = [
    ("human_diazepam_5mg_tid", "diazepam", 5.0, 3),
    ("human_clonazepam_0p5mg_bid", "clonazepam", 0.5, 2),
    ("human_alprazolam_0p5mg_tid", "alprazolam", 0.5, 3),
    ("human_lorazepam_1mg_bid", "lorazepam", 1.0, 2),
    ("human_temazepam_20mg_nightly", "temazepam", 20.0, 1),
    ("human_oxazepam_15mg_tid", "oxazepam", 15.0, 3),
    ("human_chlordiazepoxide_10mg_tid", "chlordiazepoxide", 10.0, 3),
    ("human_midazolam_7p5mg_nightly", "midazolam", 7.5, 1),
]
SHORT = ["duration_days=3", "output_step_h=1", "translation=none"]  # dosing checks: the single line


def simulate(run):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*extrapolations", category=UserWarning)
        return sim.simulate(run)


def test_every_human_experiment_file_is_listed_here():
    shipped = {p.stem for p in (config_dir() / "experiment").glob("human_*.yaml")}
    assert shipped == {name for name, *_ in CLINICAL}


@pytest.mark.parametrize(("name", "drug", "dose_mg", "per_day"), CLINICAL, ids=[c[0] for c in CLINICAL])
def test_clinical_regimen_runs_with_its_label_dose_and_doses_per_day(name, drug, dose_mg, per_day):
    full = presets.experiment(name)
    assert (full.drug.name, full.species.name, full.regimen.route) == (drug, "human", "oral")
    assert full.regimen.stop_day >= 182.0 and full.duration_days > full.regimen.stop_day  # months, then follow-up
    assert full.regimen.dose_mg == dose_mg and full.regimen.dose_mg_per_kg is None
    ds = simulate(presets.experiment(name, SHORT))
    weight = full.species.body_weight_kg
    assert ds.attrs["dose_mg"] == dose_mg and ds.attrs["dose_mg_per_kg"] == pytest.approx(dose_mg / weight, rel=1e-15)
    given_mg = ds.cumulative_dose.values.reshape(-1) * weight
    t_h = np.round(ds.time.values * 24.0, 9)
    # doses given in each whole day [k, k+1): the cumulative dose 1 h before day k+1 minus 1 h before day k
    before = {day: given_mg[t_h == 24.0 * day - 1.0][0] if day else 0.0 for day in range(4)}
    per_day_mg = [before[day + 1] - before[day] for day in range(3)]
    np.testing.assert_allclose(per_day_mg, per_day * dose_mg, rtol=1e-12)
    steps = np.diff(given_mg)
    assert np.count_nonzero(steps > 1e-9 * dose_mg) == 3 * per_day - 1  # the first dose is already in t = 0
    np.testing.assert_allclose(steps[steps > 1e-9 * dose_mg], dose_mg, rtol=1e-12)


def test_a_dose_in_mg_and_the_same_dose_in_mg_per_kg_give_the_same_run():
    in_mg = simulate(presets.experiment("human_lorazepam_1mg_bid", SHORT))
    in_kg = simulate(
        presets.experiment(
            "human_lorazepam_1mg_bid", [*SHORT, "regimen.dose_mg=null", f"regimen.dose_mg_per_kg={1.0 / 70.0!r}"]
        )
    )
    for name in ("brain_free_concentration", "gabaa_occupancy", "tspo_occupancy", "spine_density", "cumulative_dose"):
        np.testing.assert_allclose(in_kg[name].values, in_mg[name].values, rtol=1e-12, atol=0, err_msg=name)
    for attrs in (in_mg.attrs, in_kg.attrs):
        assert attrs["dose_mg"] == pytest.approx(1.0, rel=1e-15) and attrs["body_weight_kg"] == 70.0
        assert attrs["dose_mg_per_kg"] == pytest.approx(1.0 / 70.0, rel=1e-15)
    assert (in_mg.attrs["dose_set_by"], in_kg.attrs["dose_set_by"]) == ("regimen.dose_mg", "regimen.dose_mg_per_kg")


def test_a_mouse_result_records_its_dose_in_mg_for_the_mouse_body_weight():
    ds = simulate(presets.experiment("shi2022_high_dose", SHORT))
    weight = presets.experiment("shi2022_high_dose").species.body_weight_kg
    assert ds.attrs["dose_mg_per_kg"] == 5.0 and ds.attrs["dose_mg"] == pytest.approx(5.0 * weight, rel=1e-15)
    assert ds.attrs["dose_set_by"] == "regimen.dose_mg_per_kg"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["regimen=human_daily_oral", "regimen.dose_mg_per_kg=0.2"], "are both set"),
        (["regimen.dose_mg_per_kg=null"], "neither regimen.dose_mg_per_kg nor regimen.dose_mg is set"),
        (["experiment=human_diazepam_5mg_tid", "regimen.dose_mg=null"], "neither"),
    ],
)
def test_both_or_neither_dose_unit_is_refused_when_the_config_is_composed(overrides, fragment):
    with pytest.raises(sim.ConfigError) as refused:
        presets.from_overrides(["species=human", *overrides])
    message = str(refused.value)
    assert fragment in message and "regimen.dose_mg_per_kg" in message and "regimen.dose_mg " in message


def test_overriding_the_unit_a_file_sets_still_works():
    assert presets.experiment("shi2022_high_dose", ["regimen.dose_mg_per_kg=2.5"]).regimen.dose_mg_per_kg == 2.5
    human = presets.from_overrides(["species=human", "regimen=human_daily_oral", "regimen.dose_mg=5"])
    assert (human.regimen.dose_mg, human.regimen.dose_mg_per_kg) == (5.0, None)
