"""Plausible doses: a sourced maximum daily dose per drug and species (``sim/configs/limits/max_daily_dose.yaml``).

Above it ``sim.simulate`` (and the CLI, exit 2) refuses with one line naming the key, the value, the daily amount,
the limit and its source; ``regimen.allow_implausible_dose=true`` runs it with a warning recorded in the result.
The daily amount is the actual one: several doses a day add up, tapers and drinking-water intake count as given.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import sim
from sim import library, presets
from sim.checks import check_plausible_dose, largest_daily_amount_mg_per_kg
from sim.core.params import ConfigError
from sim.dosing import DosingRegimen
from sim.run import simulate_model

LIMITS_FILE = Path(sim.__file__).parent / "configs" / library.MAX_DAILY_DOSE_FILE
PK_PAIRS = sorted(
    tuple(path.stem.rsplit("_", 1)) for path in (Path(sim.__file__).parent / "configs" / "pk").glob("*.yaml")
)
#: Oral LD50s of the Valium/diazepam label [mg/kg] and the rule of the limits file: one tenth of it.
DIAZEPAM_ORAL_LD50 = {"mouse": 720.0, "rat": 1240.0}
MOUSE_LIMIT = DIAZEPAM_ORAL_LD50["mouse"] / 10.0  # 72 mg/kg/day
#: Valium label: 2-10 mg two to four times daily.
DIAZEPAM_HUMAN_LIMIT_MG = 10.0 * 4


def limit_of(model) -> dict | None:
    return library.max_daily_dose(model.drug.name, model.species.name)


def check(model, duration_days: float = 70.0) -> str:
    return check_plausible_dose(model, duration_days, limit_of(model))


def with_regimen(model, **fields):
    return dataclasses.replace(model, regimen=DosingRegimen(**fields))


@pytest.fixture(scope="module")
def mouse():
    """The calibrated diazepam mouse model (Shi et al. 2022 high-dose arm)."""
    return presets.experiment("shi2022_high_dose").model()


# ---------------------------------------------------------------------------------------------------- the data
def test_limits_file_has_an_entry_for_every_pair_with_kinetics_and_each_is_sourced_or_tagged():
    data = yaml.safe_load(LIMITS_FILE.read_text())
    for drug, species in PK_PAIRS:
        entry = data[drug][species]
        assert entry["status"] in ("FOUND", "SECONDARY_label", "ASSUMPTION", "NOT_FOUND"), (drug, species)
        assert entry["units"] == ("mg/day" if species == "human" else "mg/kg/day"), (drug, species)
        if entry["status"] == "NOT_FOUND":
            assert entry["value"] is None and library.max_daily_dose(drug, species) is None
            continue
        assert entry["value"] > 0 and entry["basis"], (drug, species)
        if entry["status"] == "ASSUMPTION":
            assert entry["basis"].startswith("assumption:"), (drug, species)
        else:
            assert "http" in entry["source"] or "setid" in entry["source"], (drug, species)


def test_rodent_limits_are_a_tenth_of_the_label_oral_ld50_and_the_human_limit_is_the_label_maximum():
    for species, ld50 in DIAZEPAM_ORAL_LD50.items():
        limit = library.max_daily_dose("diazepam", species)
        assert limit["value"] == pytest.approx(ld50 / 10.0) and limit["units"] == "mg/kg/day"
    human = library.max_daily_dose("diazepam", "human")
    assert human["value"] == DIAZEPAM_HUMAN_LIMIT_MG and human["units"] == "mg/day"


@pytest.mark.parametrize("name", presets.experiments())
def test_every_shipped_experiment_is_plausible(name):
    run = presets.experiment(name)
    model = run.model()
    assert check_plausible_dose(model, run.duration_days, limit_of(model)) == ""
    dose = model.regimen.dose_per_kg(model.species.body_weight_kg)
    if model.drug.name == "diazepam" and model.species.name == "mouse" and dose > 0:  # the check is live for these
        assert limit_of(model)["value"] == MOUSE_LIMIT


@pytest.mark.parametrize(("drug", "species"), PK_PAIRS)
def test_every_drug_and_species_with_kinetics_is_plausible_at_its_default_regimen(drug, species):
    regimen = ["regimen=human_daily_oral"] if species == "human" else []
    run = presets.from_overrides([f"drug={drug}", f"species={species}", *regimen])
    assert check_plausible_dose(run.model(), run.duration_days, limit_of(run.model())) == ""


# ---------------------------------------------------------------------------------------------------- refusals
def test_an_absurd_dose_is_refused_by_simulate_with_one_line_naming_key_value_amount_limit_source_and_override():
    run = presets.experiment("shi2022_high_dose", ["regimen.dose_mg_per_kg=1e9"])
    with pytest.raises(ConfigError) as caught:
        sim.simulate(run)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("regimen.dose_mg_per_kg = 1000000000.0 is not allowed")
    for fragment in ("1e+09 mg/kg/day", f"{MOUSE_LIMIT:g} mg/kg/day", "pfizermedicalinformation.com", "status FOUND",
                     "regimen.allow_implausible_dose=true"):  # fmt: skip
        assert fragment in message, fragment


def test_a_model_changed_after_loading_is_checked_when_simulated():
    model = sim.PruningModel()
    model.regimen.dose_mg_per_kg = 3.0 * MOUSE_LIMIT
    with pytest.raises(ConfigError, match=r"regimen\.dose_mg_per_kg = 216\.0 is not allowed: it amounts to 216 "):
        sim.simulate(model, duration_days=10.0)


def test_the_cli_refuses_an_absurd_dose_with_exit_2_one_line_and_no_run_folder(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "SYNAPRUNE_CONFIG_DIR")}
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "sim", "experiment=shi2022_high_dose", "regimen.dose_mg_per_kg=1e9",
               f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "regimen.dose_mg_per_kg = 1000000000.0 is not allowed" in message
    assert "regimen.allow_implausible_dose=true" in message
    assert not run_dir.exists()


def test_a_human_dose_ten_times_the_label_maximum_is_refused_in_mg_per_day():
    run = presets.from_overrides(["species=human", "regimen=human_daily_oral", "regimen.dose_mg=400"])
    with pytest.raises(ConfigError) as caught:
        sim.simulate(run)
    message = str(caught.value)
    assert message.startswith("regimen.dose_mg = 400.0 is not allowed: it amounts to 400 mg/day of diazepam in human")
    assert f"plausible maximum of {DIAZEPAM_HUMAN_LIMIT_MG:g} mg/day" in message
    at_limit = presets.from_overrides(["species=human", "regimen=human_daily_oral", "regimen.dose_mg=40"])
    assert check(at_limit.model(), at_limit.duration_days) == ""


def test_allow_implausible_dose_runs_warns_and_records_the_message():
    run = presets.experiment(
        "shi2022_high_dose", ["regimen.dose_mg_per_kg=90", "regimen.allow_implausible_dose=true", "debug=smoke"]
    )
    with pytest.warns(UserWarning, match=r"regimen\.dose_mg_per_kg = 90\.0 amounts to 90 mg/kg/day") as caught:
        ds = sim.simulate(run)
    assert caught[0].filename == __file__  # attributed to the caller of sim.simulate
    recorded = ds.attrs["implausible_dose"]
    assert "90 mg/kg/day" in recorded and f"{MOUSE_LIMIT:g} mg/kg/day" in recorded
    assert "regimen.allow_implausible_dose = true" in recorded
    assert ds.attrs["dose_mg_per_kg"] == 90.0


def test_simulate_model_records_the_override_too_and_a_plausible_run_records_nothing(mouse):
    big = with_regimen(mouse, dose_mg_per_kg=80.0, stop_day=1.0, allow_implausible_dose=True)
    with pytest.warns(UserWarning, match="80 mg/kg/day"):
        ds = simulate_model(big, np.linspace(0.0, 24.0, 5))
    assert "80 mg/kg/day" in ds.attrs["implausible_dose"]
    plain = simulate_model(with_regimen(mouse, dose_mg_per_kg=7.0, stop_day=1.0), np.linspace(0.0, 24.0, 5))
    assert "implausible_dose" not in plain.attrs


def test_a_pair_without_a_limit_is_allowed_silently(mouse, recwarn):
    assert library.max_daily_dose("midazolam", "human") is None
    assert library.max_daily_dose("diazepam", "dog") is None
    huge = with_regimen(mouse, dose_mg_per_kg=1e6)
    assert check_plausible_dose(huge, 70.0, None) == ""
    assert not recwarn.list


# ---------------------------------------------------------------------------------------------------- daily amounts
@pytest.mark.parametrize("start_day", [0.0, 0.3])
def test_several_doses_a_day_add_up(mouse, start_day):
    four_quarters = with_regimen(
        mouse, dose_mg_per_kg=MOUSE_LIMIT / 4, interval_h=6.0, start_day=start_day, stop_day=3.0
    )
    assert largest_daily_amount_mg_per_kg(four_quarters.regimen, 0.025, 70.0) == pytest.approx(MOUSE_LIMIT)
    assert check(four_quarters) == ""
    four_thirds = with_regimen(mouse, dose_mg_per_kg=MOUSE_LIMIT / 3, interval_h=6.0, start_day=start_day, stop_day=3.0)
    with pytest.raises(ConfigError, match=r"amounts to 96 mg/kg/day"):
        check(four_thirds)


def test_missed_doses_lower_the_amount_of_every_24_h_window_they_fall_in(mouse):
    every_8h = dict(dose_mg_per_kg=30.0, interval_h=8.0, stop_day=2.0)  # 90 mg/kg/day
    with pytest.raises(ConfigError, match="amounts to 90 mg/kg/day"):
        check(with_regimen(mouse, **every_8h, missed_doses=[1]))  # day 1 still gives 90
    assert check(with_regimen(mouse, **every_8h, missed_doses=[1, 4])) == ""  # 60 each day


def test_explicit_amounts_count_not_the_nominal_dose(mouse):
    amounts = with_regimen(
        mouse, dose_mg_per_kg=1.0, dose_days=[0.0, 1.0, 2.0], dose_amounts_mg_per_kg=[11.0, 77.0, 13.0], stop_day=3.0
    )
    with pytest.raises(ConfigError, match=r"regimen\.dose_amounts_mg_per_kg = \[11\.0, 77\.0, 13\.0\] .* 77 mg/kg/day"):
        check(amounts)
    same_day = with_regimen(
        mouse, dose_mg_per_kg=1.0, dose_days=[4.0, 4.5], dose_amounts_mg_per_kg=[40.0, 41.0], stop_day=5.0
    )
    assert largest_daily_amount_mg_per_kg(same_day.regimen, 0.025, 70.0) == pytest.approx(81.0)


def test_a_taper_counts_the_tapered_amounts(mouse):
    halved_from_the_start = with_regimen(
        mouse, dose_mg_per_kg=130.0, stop_day=14.0, taper="percent", taper_start_day=0.0, taper_percent=50.0
    )
    assert largest_daily_amount_mg_per_kg(halved_from_the_start.regimen, 0.025, 70.0) == pytest.approx(65.0)
    assert check(halved_from_the_start) == ""
    late_taper = dataclasses.replace(halved_from_the_start.regimen, taper_start_day=7.0)
    with pytest.raises(ConfigError, match="amounts to 130 mg/kg/day"):
        check(dataclasses.replace(mouse, regimen=late_taper))
    stepped = with_regimen(mouse, dose_mg_per_kg=75.0, stop_day=14.0, taper="step", taper_start_day=0.0,
                           taper_step_mg_per_kg=4.5)  # fmt: skip
    assert largest_daily_amount_mg_per_kg(stepped.regimen, 0.025, 70.0) == pytest.approx(70.5)


def test_drinking_water_counts_the_intake_of_each_day(mouse):
    water = with_regimen(mouse, route="drinking_water", dose_mg_per_kg=85.0, stop_day=7.0)
    with pytest.raises(ConfigError, match="amounts to 85 mg/kg/day"):
        check(water)
    # from noon of day 0 to noon of day 1: 80 % of the daily dose in the dark half of day 0, 20 % in day 1's light
    half_days = with_regimen(mouse, route="drinking_water", dose_mg_per_kg=85.0, start_day=0.5, stop_day=1.5)
    assert largest_daily_amount_mg_per_kg(half_days.regimen, 0.025, 70.0) == pytest.approx(0.8 * 85.0)
    assert check(half_days) == ""
    tapered = with_regimen(mouse, route="drinking_water", dose_mg_per_kg=88.0, stop_day=7.0, taper="percent",
                           taper_start_day=0.0, taper_percent=25.0)  # fmt: skip
    assert largest_daily_amount_mg_per_kg(tapered.regimen, 0.025, 70.0) == pytest.approx(66.0)
    assert check(tapered) == ""


def test_only_doses_inside_the_run_count(mouse):
    late = with_regimen(
        mouse, dose_mg_per_kg=1.0, dose_days=[1.0, 9.0], dose_amounts_mg_per_kg=[6.0, 99.0], stop_day=10.0
    )
    assert check(late, duration_days=8.5) == ""
    with pytest.raises(ConfigError, match="99 mg/kg/day"):
        check(late, duration_days=10.0)


def test_the_override_must_be_a_boolean():
    with pytest.raises(ConfigError, match="regimen.allow_implausible_dose = 'yes' is not allowed"):
        DosingRegimen(dose_mg_per_kg=1.0, allow_implausible_dose="yes")


@pytest.mark.parametrize(
    ("overrides", "key", "daily"),
    [
        (["regimen.dose_mg=15"], r"regimen\.dose_mg = 15\.0", "45 mg/day"),  # 15 mg three times daily
        (["regimen.dose_mg=null", "regimen.dose_mg_per_kg=0.2"], r"regimen\.dose_mg_per_kg = 0\.2", "42 mg/day"),
    ],
)
def test_a_human_regimen_above_the_label_maximum_is_refused_in_mg_and_in_mg_per_kg(overrides, key, daily):
    """Diazepam 5 mg three times daily raised above the Valium label's 40 mg/day, given in mg or in mg/kg (70 kg)."""
    run = presets.experiment("human_diazepam_5mg_tid", overrides)
    with pytest.raises(ConfigError) as refused:
        check(run.model(), run.duration_days)
    message = str(refused.value)
    assert re.search(key, message) and daily in message and "40 mg/day" in message and "[valium_label]" in message
    assert check(presets.experiment("human_diazepam_5mg_tid", ["regimen.dose_mg=13"]).model()) == ""  # 39 mg/day
