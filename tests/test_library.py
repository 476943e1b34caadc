"""sim.library: the Hydra composition rules it reproduces (defaults lists, _self_, packages, overrides,
interpolated choices), Hydra's value grammar, OmegaConf's type conversion, default stages, calibration files,
and that it stays free of Hydra and fast."""

from __future__ import annotations

import ast
import hashlib
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import sim
import sim.config
from sim import library
from sim.core.params import ConfigError
from sim.engines import AgentEngine, OdeEngine

CONFIGS = library.config_dir()
FORBIDDEN = ("hydra", "omegaconf", "sim.run", "sim.model", "sim.config", "sim.cli")


# ---------------------------------------------------------------------------------------------------- no Hydra
def test_library_imports_nothing_forbidden():
    tree = ast.parse(Path(library.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    bad = {name for name in imported for f in FORBIDDEN if name == f or name.startswith(f + ".")}
    assert not bad, f"sim.library imports {bad}"


def test_composing_loads_neither_hydra_nor_omegaconf():
    code = (
        "import sys; from sim import library; "
        "library.build(library.compose(['experiment=shi2022_xbd173', 'engine=agents'])); "
        "library.default_stage('microglia'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------------- config_dir
def test_config_dir_is_the_packaged_directory_and_single_definition(monkeypatch):
    monkeypatch.delenv("SYNAPRUNE_CONFIG_DIR", raising=False)
    assert (library.config_dir() / "config.yaml").is_file()
    assert library.config_dir() == Path(sim.__file__).resolve().parent / "configs"
    assert sim.config.config_dir is library.config_dir


def test_config_dir_env_override_is_honoured(tmp_path, monkeypatch):
    copy = tmp_path / "configs"
    shutil.copytree(CONFIGS, copy)
    mouse = copy / "species" / "mouse.yaml"
    mouse.write_text(mouse.read_text().replace("body_weight_kg: 0.025", "body_weight_kg: 0.031"))
    monkeypatch.setenv("SYNAPRUNE_CONFIG_DIR", str(copy))
    assert library.config_dir() == copy
    assert library.compose()["species"]["body_weight_kg"] == 0.031
    assert library.default_stage("species").body_weight_kg == 0.031
    monkeypatch.delenv("SYNAPRUNE_CONFIG_DIR")
    assert library.default_stage("species").body_weight_kg == 0.025


# ---------------------------------------------------------------------------------------------------- composition rules
def test_root_self_comes_before_the_groups_so_experiments_override_it():
    assert library.compose()["duration_days"] == 70 and library.compose()["name"] == "run"
    low = library.compose(["experiment=shi2022_low_dose"])
    assert low["duration_days"] == 84 and low["name"] == "shi2022_low_dose"
    assert low["regimen"]["stop_day"] == 56.0 and low["regimen"]["route"] == "ip"  # experiment merged into the group


def test_missing_self_means_last_and_outer_override_wins():
    """shi2022_xbd173 includes shi2022_high_dose and has no _self_: its own values come last, its override first."""
    node = library.compose(["experiment=shi2022_xbd173"])
    assert node["name"] == "shi2022_xbd173"
    assert node["regimen"]["dose_mg_per_kg"] == 1.0  # own content beats the included experiment's 5.0
    assert node["regimen"]["stop_day"] == 7.0 and node["tags"] == ["shi2022", "calibration_target"]  # included
    assert node["drug"]["name"] == "xbd173" and list(node["drug"]["compounds"]) == ["xbd173"]
    assert node["pk"]["dosed"] == "xbd173"  # pk: ${drug}_${species} follows the overridden choice


def test_command_line_choice_beats_an_experiment_override():
    node = library.compose(["experiment=clonazepam_high_dose", "drug=lorazepam"])
    assert node["drug"]["name"] == "lorazepam" and node["pk"]["dosed"] == "lorazepam"
    assert node["name"] == "clonazepam_high_dose"


def test_debug_comes_after_the_experiment_and_key_overrides_after_everything():
    node = library.compose(["experiment=shi2022_low_dose", "debug=smoke", "duration_days=3"])
    assert node["output_step_h"] == 6.0 and node["figure"] is False
    assert node["duration_days"] == 3


def test_package_includes_merge_with_the_including_file():
    node = library.compose()
    assert list(node["drug"]["compounds"]) == ["diazepam", "nordiazepam", "temazepam", "oxazepam"]
    nordiazepam = node["pk"]["compounds"]["nordiazepam"]
    assert nordiazepam["formed_from"] == {"diazepam": 0.5}  # from pk/diazepam_mouse.yaml
    assert nordiazepam["free_fraction"] == 0.158  # from compound_pk/nordiazepam_mouse.yaml
    assert node["drug"]["compounds"]["diazepam"]["tspo_ki_nM"] == 91.0


def test_hydra_key_is_dropped_and_calibration_is_recorded():
    node = library.compose()
    assert "hydra" not in node and "defaults" not in node
    assert node["calibration"] == "shi2022"
    fitted = yaml.safe_load((CONFIGS / "calibration" / "shi2022.yaml").read_text())
    assert node["microglia"]["activation_rate_per_h"] == fitted["microglia"]["activation_rate_per_h"]
    assert node["microglia"]["activation_rate_per_h"] != sim.microglia.MicrogliaActivation().activation_rate_per_h
    none = library.compose(["calibration=none"])
    assert none["calibration"] == "none" and "activation_rate_per_h" not in none["microglia"]


def test_hydra_overrides_are_ignored():
    assert library.compose(["hydra.run.dir=/tmp/x", "hydra.job.chdir=true"]) == library.compose()


@pytest.mark.parametrize(
    "override",
    ["+foo=1", "++seed=2", "~regimen", "regimen", "drug@x=diazepam", "regimen.stop_day=${duration_days}",
     "regimen.stop_day=range(1,3)", "regimen.stop_day=7,14", "drug=[diazepam]", "compound=diazepam",
     "name.first=x", "regimen.stop_day=[1"],
)  # fmt: skip
def test_unsupported_overrides_name_the_override(override):
    with pytest.raises(ConfigError) as info:
        library.build(library.compose([override]))
    message = str(info.value)
    assert override in message or override.split("=")[0] in message
    assert "\n" not in message


def test_repeated_group_is_an_error():
    with pytest.raises(ConfigError, match="repeats the group 'drug'"):
        library.compose(["drug=xbd173", "drug=diazepam"])


def test_unknown_options_name_what_exists():
    with pytest.raises(ConfigError, match="species = 'dog' is not allowed: choose one of human, mouse, rat"):
        library.compose(["species=dog"])
    with pytest.raises(ConfigError, match="pk = 'pk11195_rat' is not allowed: there are no kinetics of pk11195 in rat"):
        library.compose(["drug=pk11195", "species=rat"])


# ---------------------------------------------------------------------------------------------------- value grammar
VALUES = ["14", "-3", "0", "1.5", ".5", "1e-3", "2E+2", "1_000", "inf", "-inf", "+inf", "nan", "true", "False", "null",
          "[a,b]", "[1, 2.5, -inf]", "[]", "'5'", '"x y"', "abc", "yes", "off", "a/b.yaml", "1.2.3", "{a: 1, b: [x]}"]  # fmt: skip


@pytest.mark.parametrize("text", VALUES)
def test_values_parse_as_in_hydra_grammar(text):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    expected = OverridesParser.create().parse_override(f"key={text}").value()
    value = library.parse_value(text)
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(value, float) and math.isnan(value)
    else:
        assert value == expected and type(value) is type(expected), (value, expected)
        if isinstance(expected, list):
            assert [type(v) for v in value] == [type(v) for v in expected]


def test_yaml_files_read_as_omegaconf_reads_them(tmp_path):
    from omegaconf import OmegaConf

    text = "a: 1e-3\nb: .inf\nc: 2026-01-01\nd: 1_000\ne: yes\nf: 1.0e-8\ng: inf\nh: [1, x]\ni: ~\n"
    path = tmp_path / "f.yaml"
    path.write_text(text)
    expected = OmegaConf.to_container(OmegaConf.load(path))
    assert library._read(path).content == expected
    assert [type(v) for v in library._read(path).content.values()] == [type(v) for v in expected.values()]


def test_duplicate_keys_and_malformed_yaml_are_config_errors(tmp_path):
    (tmp_path / "dup.yaml").write_text("a: 1\na: 2\n")
    with pytest.raises(ConfigError, match="duplicate key a"):
        library._read(tmp_path / "dup.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="malformed YAML in .*bad.yaml, line"):
        library._read(tmp_path / "bad.yaml")


def test_edited_files_are_read_again(tmp_path):
    path = tmp_path / "cal.yaml"
    path.write_text("microglia:\n  c1q_gain: 2.0\n")
    assert library.compose([f"calibration={path}"])["microglia"]["c1q_gain"] == 2.0
    path.write_text("microglia:\n  c1q_gain: 3.25\n")
    assert library.compose([f"calibration={path}"])["microglia"]["c1q_gain"] == 3.25


# ---------------------------------------------------------------------------------------------------- build
def test_build_converts_types_as_omegaconf_does():
    built = library.build(
        library.compose(
            ["regimen.stop_day=14", "regimen.interval_h='12'", "regimen.missed_doses=['1', 2]",
             "regimen.dose_days=[0, 1]", "engine=agents", "engine.record_spines=0", "engine.progress=off",
             "engine.replicates='3'", "species.name=7"]
        )
    )  # fmt: skip
    regimen = built["regimen"]
    assert regimen.stop_day == 14.0 and type(regimen.stop_day) is float
    assert regimen.interval_h == 12.0 and type(regimen.interval_h) is float
    assert regimen.missed_doses == [1, 2] and all(type(i) is int for i in regimen.missed_doses)
    assert all(type(d) is float for d in regimen.dose_days)
    assert regimen.dose_mg is None
    engine = built["engine"]
    assert isinstance(engine, AgentEngine) and engine.record_spines is False and engine.progress is False
    assert engine.replicates == 3
    assert built["species"].name == "7"
    assert isinstance(library.build(library.compose())["engine"], OdeEngine)
    assert type(built["duration_days"]) is int  # top-level keys are copied; RunConfig converts them (presets)
    assert isinstance(built["pk"].compounds["nordiazepam"], sim.CompoundPK)
    assert isinstance(built["drug"].compounds["diazepam"], sim.Compound)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("engine=agents engine.replicates=2.5", r"engine\.replicates = 2\.5 is not allowed: it must be an integer"),
        ("regimen.stop_day=true", r"regimen\.stop_day = True is not allowed: it must be a number"),
        ("regimen.dose_days=5", r"regimen\.dose_days = 5 is not allowed: it must be a list"),
        ("regimen.dose_days=[x]", r"regimen\.dose_days\[0\] = 'x' is not allowed: it must be a number"),
        ("species.name=[a]", r"species\.name = \['a'\] is not allowed: it must be a string"),
        ("pk.compounds.diazepam.formed_from=3", r"pk\.compounds\.diazepam\.formed_from = 3 is not allowed"),
        ("microglia.c1q_gian=3", r"microglia\.c1q_gian is not allowed: MicrogliaActivation has no field 'c1q_gian'"),
        ("engine.name=gpu", r"engine\.name = 'gpu' is not allowed: choose one of ode, agents"),
        ("genotype.tspo_expression=2", r"^genotype\.tspo_expression = 2\.0 is not allowed: it must lie in \[0, 1\]"),
    ],
)
def test_build_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        library.build(library.compose(override.split()))


def test_build_requires_every_stage():
    node = library.compose()
    del node["microglia"]
    with pytest.raises(ConfigError, match="microglia: no option chosen"):
        library.build(node)


def test_dict_fields_left_out_are_empty_as_in_the_hydra_schema():
    with pytest.raises(ConfigError, match="has no compounds"):
        library.instantiate(sim.Drug, {"name": "nothing"}, "drug")


# ---------------------------------------------------------------------------------------------------- default stages
def test_default_stages_are_the_calibrated_headline_arm():
    hydra = sim.load_config(["experiment=shi2022_high_dose"])
    for group in sim.core.stage.GROUPS:
        assert library.default_stage(group) == getattr(hydra, group), group
    assert library.default_stage("engine") == hydra.engine
    calibration = yaml.safe_load((CONFIGS / "calibration" / "shi2022.yaml").read_text())
    assert library.default_stage("microglia").activation_rate_per_h == calibration["microglia"]["activation_rate_per_h"]
    assert library.default_stage("regimen").stop_day == 7.0 and library.default_stage("drug").name == "diazepam"


def test_default_stage_returns_a_fresh_object_each_call():
    first, second = library.default_stage("pk"), library.default_stage("pk")
    assert first == second and first is not second
    first.compounds["diazepam"].half_life_h = 99.0
    assert library.default_stage("pk").compounds["diazepam"].half_life_h != 99.0
    with pytest.raises(ConfigError, match="stage 'neurons' is not allowed"):
        library.default_stage("neurons")


# ---------------------------------------------------------------------------------------------------- calibration
def test_calibration_sha256():
    packaged = CONFIGS / "calibration" / "shi2022.yaml"
    assert library.calibration_sha256("shi2022") == hashlib.sha256(packaged.read_bytes()).hexdigest()
    assert library.calibration_sha256(str(packaged)) == library.calibration_sha256("shi2022")
    assert library.calibration_sha256("none") == ""
    with pytest.raises(ConfigError, match="does not exist"):
        library.calibration_sha256("/nonexistent/cal.yaml")


def test_relative_calibration_path_is_recorded_absolute(tmp_path, monkeypatch):
    (tmp_path / "cal.yaml").write_text("# @package _global_\nspines:\n  homeostatic_gain: 1.5\n")
    monkeypatch.chdir(tmp_path)
    node = library.compose(["calibration=cal.yaml"])
    assert node["calibration"] == str(tmp_path.resolve() / "cal.yaml")
    assert node["spines"]["homeostatic_gain"] == 1.5
    assert "activation_rate_per_h" not in node["microglia"]  # the packaged calibration is not applied


@pytest.mark.parametrize(
    ("text", "message"),
    [("defaults: [x]\n", "defaults list"), ("# @package microglia\nc1q_gain: 2\n", "global package"),
     ("- 1\n", "must hold a mapping")],
)  # fmt: skip
def test_unsupported_calibration_files(tmp_path, text, message):
    (tmp_path / "cal.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        library.compose([f"calibration={tmp_path / 'cal.yaml'}"])


# ---------------------------------------------------------------------------------------------------- speed
def test_compose_is_much_faster_than_hydra():
    overrides = ["experiment=shi2022_high_dose"]
    library.compose(overrides)
    start = time.perf_counter()
    for _ in range(10):
        library.compose(overrides)
    warm = (time.perf_counter() - start) / 10
    start = time.perf_counter()
    sim.config.compose_config(overrides)
    hydra = time.perf_counter() - start
    assert warm < hydra / 10, (warm, hydra)
