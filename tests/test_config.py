"""Hydra configuration (template style): every experiment and every group option composes, converts and runs;
typos and wrong types fail at compose time; units are pint-parsable; outputs carry their metadata.

Options are found on disk, so new experiment files and group options are picked up without editing this file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pint
import pytest

import sim
from sim.config import SCHEMAS, compose_config, config_dir, to_run_config
from sim.core.params import ConfigError, parameter_table
from sim.core.results import COORD_ATTRS, OUTPUTS

CONFIGS = config_dir()
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
SPECIES = sorted(p.stem for p in (CONFIGS / "species").glob("*.yaml"))
UREG = pint.UnitRegistry()


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def drug_species_pairs() -> list[tuple[str, str]]:
    pairs = []
    for name in options("pk"):
        drug, _, species = name.rpartition("_")
        assert species in SPECIES, f"configs/pk/{name}.yaml does not end in a species ({', '.join(SPECIES)})"
        pairs.append((drug, species))
    return pairs


def assert_metadata(ds) -> None:
    for name, variable in ds.variables.items():
        assert variable.attrs.get("long_name"), f"{name} has no long_name"
        if np.issubdtype(variable.dtype, np.number):
            assert "units" in variable.attrs, f"{name} has no units"
            UREG.parse_expression(variable.attrs["units"])


# ---------------------------------------------------------------------- experiments
def test_experiments_are_found():
    assert {"shi2022_high_dose", "shi2022_low_dose", "vehicle"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_converts_and_runs(experiment):
    path = CONFIGS / "experiment" / f"{experiment}.yaml"
    assert path.read_text().startswith("# @package _global_"), "experiment files must be global packages"
    run = sim.load_config([f"experiment={experiment}", "debug=smoke"])
    assert run.name == experiment
    assert run.duration_days == 10.0 and run.output_step_h == 6.0  # debug=smoke overrides the experiment
    ds = sim.simulate(run)
    assert float(ds.time[-1]) == pytest.approx(10.0)
    assert ds.attrs["experiment"] == experiment
    assert_metadata(ds)
    if run.species.name == "mouse":
        assert np.all(np.isfinite(ds.spine_density.values))
    else:  # another species: posterior x translation draws with bands (sim.uncertainty), not one line
        assert ds.sizes["draw"] == run.uncertainty.draws and np.all(np.isfinite(ds.spine_density_relative_median))


def test_experiment_values_override_the_root_config():
    run = sim.load_config(["experiment=shi2022_low_dose"])
    assert run.name == "shi2022_low_dose"
    assert run.duration_days == 84.0
    assert run.regimen.dose_mg_per_kg == 1.0 and run.regimen.stop_day == 56.0
    # a command-line override beats the experiment
    assert sim.load_config(["experiment=shi2022_low_dose", "duration_days=3"]).duration_days == 3.0


# ---------------------------------------------------------------------- metadata and units
def test_every_output_has_long_name_and_units():
    for name, (dims, units, long_name) in OUTPUTS.items():
        assert long_name, name
        assert dims and all(isinstance(d, str) for d in dims), name
        UREG.parse_expression(units)
    for name, attrs in COORD_ATTRS.items():
        assert attrs.get("long_name"), name
        if "units" in attrs:
            UREG.parse_expression(attrs["units"])


def stage_classes() -> list[type]:
    classes = {cls for group in SCHEMAS.values() for cls in group}
    return sorted(classes | {sim.RunConfig}, key=lambda cls: cls.__name__)


# Field-name suffixes that promise a unit (B3: "config fields that a user types carry the unit in the name").
SUFFIX_DIMENSION = {
    "_per_h": "1/h",
    "_per_day": "1/d",
    "_h": "h",
    "_day": "d",
    "_days": "d",
    "_mg_per_kg": "mg/kg",
    "_nM": "nM",
    "_per_um": "1/um",
    "_um": "um",
    "_kg": "kg",
    "_percent": "percent",
    "_g_per_mol": "g/mol",
    "_l_per_kg": "L/kg",
}


@pytest.mark.parametrize("cls", stage_classes(), ids=lambda cls: cls.__name__)
def test_param_units_parse_with_pint(cls):
    rows = parameter_table(cls)
    assert rows, f"{cls.__name__} declares no parameters with param()"
    for row in rows:
        assert row["long_name"], f"{cls.__name__}.{row['name']} has no long_name"
        if row["units"] == "":
            continue  # strings, flags and file names
        quantity = UREG.parse_expression(row["units"])
        for suffix, unit in sorted(SUFFIX_DIMENSION.items(), key=lambda item: -len(item[0])):
            if row["name"].endswith(suffix):
                assert quantity.dimensionality == UREG.parse_expression(unit).dimensionality, (
                    f"{cls.__name__}.{row['name']} is declared in {row['units']!r} but its name says {unit}"
                )
                break


def test_percent_parses():
    assert UREG.parse_expression("percent").to("dimensionless").magnitude == pytest.approx(0.01)


# ---------------------------------------------------------------------- every group option composes
@pytest.mark.parametrize(("drug", "species"), drug_species_pairs())
def test_every_drug_species_pair_composes_and_runs(drug, species):
    overrides = [f"drug={drug}", f"species={species}", "duration_days=2", "output_step_h=12"]
    if species == "human":
        overrides.append("regimen=human_daily_oral")
    run = sim.load_config(overrides)
    assert run.drug.name == drug and run.species.name == species
    assert run.pk.dosed == drug and set(run.pk.names) <= set(run.drug.compounds)
    ds = sim.simulate(run)
    assert bool((ds.cumulative_dose.isel(time=-1) > 0).all())  # one run, or every draw of a non-mouse species


GROUPS = ["genotype", "regimen", "spines", "depletion", "species", "binding", "microglia", "cognition"]
GROUPS += ["engine", "calibration", "debug", "drug"]


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes(group, option):
    run = sim.load_config([f"{group}={option}"])
    model = run.model()
    assert model.initial_state().shape == (len(model.state_names),)
    if group in ("genotype", "species", "drug", "depletion", "spines"):
        assert getattr(run, group).name if group != "spines" else run.spines.region


def test_group_options_fix_the_stage_class():
    run = sim.load_config(["drug=xbd173", "genotype=tspo_ko", "regimen.dose_mg_per_kg=2.5"])
    assert isinstance(run.drug, sim.Drug) and isinstance(run.genotype, sim.Genotype)
    assert run.drug.name == "xbd173" and list(run.drug.compounds) == ["xbd173"]
    assert run.pk.dosed == "xbd173"
    assert run.genotype.tspo_expression == 0.0
    assert run.regimen.dose_mg_per_kg == 2.5
    assert run.model().resting_tspo == 0.0


# ---------------------------------------------------------------------- bad input fails early
def test_typo_in_an_override_fails_at_compose_time():
    with pytest.raises(Exception, match="c1q_gian"):
        compose_config(["microglia.c1q_gian=3"])


def test_wrong_type_fails_at_compose_time():
    with pytest.raises(Exception, match="interval_h") as info:
        compose_config(["regimen.interval_h=abc"])
    assert "abc" in str(info.value) or "abc" in str(info.value.__cause__)


def test_unknown_option_fails_at_compose_time():
    with pytest.raises(Exception, match="drug/valium"):
        compose_config(["drug=valium"])


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("regimen.dose_mg_per_kg=-1", "dose_mg_per_kg"),
        ("regimen.dose_mg_per_kg=nan", "dose_mg_per_kg"),
        ("duration_days=0", "duration_days"),
        ("regimen.stop_day=0.5", None),  # fine on its own
        ("microglia.stimulus_hill=0", "stimulus_hill"),
        ("seed=-3", "seed"),
    ],
)
def test_invalid_values_fail_at_conversion(override, key):
    cfg = compose_config([override])
    if key is None:
        to_run_config(cfg)
        return
    with pytest.raises(ConfigError, match=key):
        to_run_config(cfg)


def test_stop_before_start_fails():
    with pytest.raises(ConfigError, match=re.escape("regimen.stop_day")):
        sim.load_config(["regimen.start_day=5", "regimen.stop_day=3"])


def test_config_dir_can_be_overridden(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(CONFIGS, tmp_path / "configs")
    (tmp_path / "configs" / "genotype" / "half_tspo.yaml").write_text(
        "defaults: [base_Genotype, _self_]\nname: half_tspo\ntspo_expression: 0.5\n"
    )
    monkeypatch.setenv("SYNAPRUNE_CONFIG_DIR", str(tmp_path / "configs"))
    assert sim.load_config(["genotype=half_tspo"]).genotype.tspo_expression == 0.5


def test_resolved_config_is_stored_and_reloadable():
    import yaml

    run = sim.load_config(["experiment=shi2022_high_dose"])
    text = run.to_yaml()
    loaded = yaml.safe_load(text)
    assert loaded["regimen"]["dose_mg_per_kg"] == 5.0
    assert loaded["name"] == "shi2022_high_dose"
    fields = {f.name for f in dataclasses.fields(sim.RunConfig)}
    assert set(loaded) == fields
    assert not any(isinstance(v, float) and math.isnan(v) for v in loaded["regimen"].values())


def test_configs_directory_is_the_packaged_one(monkeypatch):
    monkeypatch.delenv("SYNAPRUNE_CONFIG_DIR", raising=False)
    assert config_dir() == Path(sim.__file__).resolve().parent / "configs"
    assert (config_dir() / "config.yaml").is_file()


def test_hydra_stays_at_the_edge():
    """Only sim/config.py and sim/cli.py import Hydra/OmegaConf; the core runs without them."""
    package = Path(sim.__file__).parent
    importers = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(hydra|omegaconf)\b", path.read_text(), re.M)
    }
    assert importers <= {"config.py", "cli.py"}, importers
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, sim; sim.simulate_model(sim.PruningModel(), np.arange(0.0, 25.0, 6.0)); "
        "assert not any(m.split('.')[0] in ('hydra', 'omegaconf') for m in sys.modules), 'hydra imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
