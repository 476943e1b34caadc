"""sim.presets (YAML read by sim.library, no Hydra) gives exactly what sim.load_config (Hydra) gives: for every
packaged experiment, for override sets that touch every feature of the composer, and for a user calibration file.
Errors are ConfigErrors that name the key, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim import presets
from sim.config import config_dir
from sim.core.params import ConfigError
from sim.core.stage import GROUPS as STAGES
from sim.microglia import MicrogliaActivation

EXPERIMENTS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))


def assert_identical(a, b, where: str = "run") -> None:
    """Equal values of the same types all the way down (a float field holds a float in both)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_experiments_lists_the_packaged_files():
    assert presets.experiments() == EXPERIMENTS
    assert {"shi2022_high_dose", "shi2022_xbd173", "vehicle"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_equals_hydra(name):
    hydra = sim.load_config([f"experiment={name}"])
    mine = presets.experiment(name)
    assert mine == hydra
    assert_identical(mine, hydra)
    assert mine.name == name


OVERRIDE_SETS = [
    ("shi2022_high_dose", ["drug=xbd173", "genotype=tspo_ko"]),
    ("shi2022_low_dose", ["species=human", "regimen=human_daily_oral", "regimen.dose_mg=10"]),
    ("shi2022_high_dose", ["calibration=none"]),
    ("shi2022_high_dose_tspo_ko", ["engine=agents", "engine.replicates=2"]),
    ("shi2022_low_dose", ["debug=smoke"]),
    ("shi2022_high_dose", ["regimen.stop_day=14"]),
    ("vehicle", ["depletion=plx5622", "spines=hippocampus"]),
    # a command-line choice beats the nested experiment's `override /drug: xbd173`
    ("shi2022_xbd173", ["drug=diazepam", "species=rat"]),
    # the value grammar: list, inf, quoted string, exponent, bool, null, negative int
    (
        "shi2022_high_dose",
        [
            "regimen.dose_days=[0, 1.5, 3]",
            "regimen.stop_day=inf",
            "tags=[a,b]",
            "name='my run'",
            "microglia.c1q_gain=2e0",
            "figure=false",
            "regimen.dose_mg=null",
            "seed=7",
            "engine.rtol=1e-6",
        ],
    ),
]


@pytest.mark.parametrize(("name", "overrides"), OVERRIDE_SETS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_overrides_equal_hydra(name, overrides):
    hydra = sim.load_config([f"experiment={name}", *overrides])
    mine = presets.experiment(name, overrides)
    assert mine == hydra
    assert_identical(mine, hydra)


@pytest.fixture
def user_calibration(tmp_path) -> Path:
    path = tmp_path / "my_calibration.yaml"
    path.write_text(
        "# @package _global_\n# my own fit\ncalibration: shi2022\n"  # the path replaces this name
        "microglia:\n  activation_rate_per_h: 0.123\n  c1q_gain: 3\n"
        "spines:\n  elimination_per_day: 0.0311\n  homeostatic_gain: 2\n"
    )
    return path


@pytest.mark.parametrize(
    "overrides",
    [[], ["experiment=shi2022_low_dose", "spines.homeostatic_gain=4.5", "debug=smoke"]],
    ids=["alone", "with experiment and key override"],
)
def test_user_calibration_file_equals_hydra(user_calibration, overrides):
    all_overrides = [f"calibration={user_calibration}", *overrides]
    hydra = sim.load_config(all_overrides)
    mine = presets.run_config(sim.library.compose(all_overrides))
    assert_identical(mine, hydra)
    assert mine.calibration == str(user_calibration.resolve())
    assert mine.microglia.activation_rate_per_h == 0.123 and mine.microglia.c1q_gain == 3.0
    assert mine.spines.elimination_per_day == 0.0311
    # the file sits where the packaged calibration sits: a key=value override still wins over it
    assert mine.spines.homeostatic_gain == (4.5 if overrides else 2.0)


def test_quoted_calibration_path_works_in_both_composers(user_calibration):
    override = f"calibration='{user_calibration}'"
    assert presets.experiment("vehicle", [override]) == sim.load_config(["experiment=vehicle", override])
    assert presets.experiment("vehicle", [override]).calibration == str(user_calibration.resolve())


def test_user_calibration_differs_from_the_packaged_one(user_calibration):
    packaged = presets.experiment("shi2022_high_dose")
    mine = presets.experiment("shi2022_high_dose", [f"calibration={user_calibration}"])
    assert packaged.calibration == "shi2022"
    assert mine.microglia != packaged.microglia and mine.spines != packaged.spines
    assert mine.regimen == packaged.regimen and mine.drug == packaged.drug


# ---------------------------------------------------------------------------------------------------- model()
@pytest.fixture(scope="module")
def hydra_headline() -> sim.RunConfig:
    return sim.load_config(["experiment=shi2022_high_dose"])


def test_model_is_the_calibrated_headline_model(hydra_headline):
    expected = hydra_headline.model()
    model = presets.model()
    assert isinstance(model, sim.PruningModel)
    for stage in STAGES:
        assert_identical(getattr(model, stage), getattr(expected, stage), stage)
    assert hydra_headline.calibration == "shi2022"


def test_model_options_and_dict_overrides_equal_hydra():
    hydra = sim.load_config(
        [
            "experiment=shi2022_high_dose",
            "drug=xbd173",
            "genotype=tspo_ko",
            "regimen.dose_mg_per_kg=1",
            "regimen.stop_day=56",
            "microglia.c1q_gain=2",
        ]
    ).model()
    model = presets.model(
        drug="xbd173", genotype="tspo_ko", regimen={"dose_mg_per_kg": 1, "stop_day": 56}, microglia={"c1q_gain": 2}
    )
    for stage in STAGES:
        assert_identical(getattr(model, stage), getattr(hydra, stage), stage)
    assert model.regimen.dose_mg_per_kg == 1.0 and isinstance(model.regimen.dose_mg_per_kg, float)


def test_model_stage_object_replaces_the_stage(hydra_headline):
    microglia = MicrogliaActivation(c1q_gain=2.5)
    model = presets.model(microglia=microglia)
    assert model.microglia is microglia
    assert model.spines == hydra_headline.spines  # the other stages stay calibrated


def test_model_species_option_changes_the_kinetics():
    model = presets.model(species="rat")
    assert model.species.name == "rat"
    assert model.pk == sim.load_config(["drug=diazepam", "species=rat"]).pk


# ---------------------------------------------------------------------------------------------------- errors
def test_unknown_experiment_names_the_experiments():
    with pytest.raises(ConfigError, match="experiment = 'shi2023' is not allowed: choose one of .*shi2022_high_dose"):
        presets.experiment("shi2023")


def test_unknown_option_names_the_options():
    with pytest.raises(ConfigError, match="drug = 'valium' is not allowed: choose one of .*diazepam.*xbd173"):
        presets.experiment("shi2022_high_dose", ["drug=valium"])
    with pytest.raises(
        ConfigError, match="genotype = 'ko' is not allowed: choose one of gabaa_bz_insensitive, tspo_ko"
    ):
        presets.model(genotype="ko")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overrides": ["microglia.c1q_gian=3"]}, r"microglia\.c1q_gian is not allowed: .* fields: .*c1q_gain"),
        (
            {"overrides": ["pk.compounds.diazepam.half_lief_h=1"]},
            r"pk\.compounds\.diazepam\.half_lief_h is not allowed",
        ),
        ({"overrides": ["durations_days=3"]}, r"durations_days is not allowed: the root config .* duration_days"),
        ({"overrides": ["regimen.interval_h=abc"]}, r"regimen\.interval_h = 'abc' is not allowed: it must be a number"),
        ({"overrides": ["seed=1.5"]}, r"seed = 1\.5 is not allowed: it must be an integer"),
        ({"overrides": ["regimen.interval_h=null"]}, r"regimen\.interval_h = None is not allowed"),
        ({"overrides": ["regimen.dose_mg_per_kg=-1"]}, r"^regimen\.dose_mg_per_kg = -1\.0 is not allowed"),
        ({"overrides": ["+foo=1"]}, r"the override '\+foo=1' is not supported"),
        ({"overrides": ["regimen.stop_day=7,14"]}, r"the override 'regimen\.stop_day=7,14' is not supported"),
    ],
)
def test_bad_overrides_fail_with_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        presets.experiment("shi2022_high_dose", **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"regimen": {"dose_mg_pr_kg": 1.0}}, r"regimen\.dose_mg_pr_kg is not allowed: .*dose_mg_per_kg"),
        ({"regimen": {"stop_day": "soon"}}, r"regimen\.stop_day = 'soon' is not allowed: it must be a number"),
        ({"neurons": {}}, r"stage 'neurons' is not allowed: choose one of drug, species"),
        ({"microglia": sim.Genotype()}, r"microglia = .* give a MicrogliaActivation object or a dict"),
        ({"drug": sim.Drug()}, r"drug = .* give the name of a drug option"),
    ],
)
def test_bad_model_arguments_fail(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        presets.model(**kwargs)


def test_drug_without_kinetics_in_a_species_names_the_species_that_have_them():
    with pytest.raises(
        ConfigError, match=r"no kinetics of pk11195 in human \(species with kinetics of pk11195: mouse\)"
    ):
        presets.model(drug="pk11195", species="human")
    with pytest.raises(ConfigError, match=r"no kinetics of nordiazepam in rat .*: human, mouse\)"):
        presets.experiment("shi2022_high_dose", ["drug=nordiazepam", "species=rat"])


def test_missing_calibration_file_is_a_config_error(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match="calibration = .*nowhere.yaml.* does not exist"):
        presets.experiment("shi2022_high_dose", [f"calibration={missing}"])
    with pytest.raises(ConfigError, match="calibration = .*nowhere.yaml.* does not exist"):
        sim.load_config([f"calibration={missing}"])


def test_typo_in_a_calibration_file_fails_in_both_composers(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("# @package _global_\nmicroglia:\n  activation_rate_pre_h: 0.3\n")
    with pytest.raises(ConfigError, match=r"microglia\.activation_rate_pre_h is not allowed"):
        presets.experiment("shi2022_high_dose", [f"calibration={path}"])
    with pytest.raises(Exception, match="activation_rate_pre_h") as info:
        sim.load_config([f"calibration={path}"])
    assert "activation_rate_pre_h" in str(info.value) + str(info.value.__cause__ or info.value.__context__)


def test_cli_missing_calibration_file_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "SYNAPRUNE_CONFIG_DIR")}
    proc = subprocess.run(
        [sys.executable, "-m", "sim", f"calibration={tmp_path / 'gone.yaml'}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "gone.yaml" in lines[0] and "does not exist" in lines[0], proc.stderr
    assert not (tmp_path / "run").exists()
