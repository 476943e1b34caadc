"""Property test of the ``synaprune`` command: whatever the overrides, a valid result or a one-line refusal.

Hypothesis generates override sets — valid, invalid and boundary values (0, negative, NaN, ±inf, huge and tiny
numbers, wrong types, unknown keys with and without ``+``, unknown group options, doses outside the simulated
window, missed doses, dose lists, routes, species/drug pairs) — and runs ``sim.cli.main()`` in this process with
a patched ``sys.argv`` (Hydra can be entered again in one process). Each example must end in one of two ways:

* exit 0 and a ``result.nc`` whose recorded dose (the ``dose`` coordinate and the ``dose_mg_per_kg`` attribute)
  is the regimen's dose and whose ``cumulative_dose`` at the end equals the drug the regimen actually gives in the
  simulated window (:meth:`sim.dosing.DosingRegimen.total_dose_mg_per_kg` of the same overrides composed without
  Hydra, :func:`sim.presets.from_overrides`); a result labelled with a dose > 0 must contain some drug;
* exit 2 with exactly one line on stderr, ``synaprune: error: ...``, no warning printed, and no run folder left.

Any other exception or exit code (a traceback) fails. The agent engine is not generated (its compile and run times
would exceed the budget of this test); ``figure=false`` and runs of 1-5 days keep an example at ~0.5 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import sys
import uuid
import warnings
from pathlib import Path

import pytest
from conftest import in_process_cli
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import sim
import sim.cli
from sim import presets
from sim.config import config_dir
from sim.core.params import ConfigError
from sim.dosing import ROUTES, DosingRegimen
from sim.io import open_result


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


#: Numbers and non-numbers at the edges: zero, negative, NaN, infinities, huge, tiny, wrong types. Not 1e-6: with
#: regimen.interval_h=1e-6 and duration_days <= 4 the size estimate (40 B per dose event) passes a run that needs
#: > 10 GiB and does not finish (an open bug of sim.checks._dose_events, see the report).
BOUNDARY = ["0", "-1", "-0.5", "nan", "inf", "-inf", "1e308", "1e-300", "1e9", "abc", "true", "null", "[1]"]


def decimal(low: float, high: float) -> st.SearchStrategy[str]:
    return st.floats(low, high, allow_nan=False).map(lambda x: f"{x:.3g}")


def day_list(low: int, high: int) -> st.SearchStrategy[str]:
    return st.lists(st.integers(low, high).map(str), max_size=4).map(lambda days: f"[{','.join(days)}]")


#: Valid-looking values of the run settings and regimen fields (a dose can still fall outside the window).
SETTINGS = {
    "duration_days": st.integers(1, 5).map(str),
    "output_step_h": st.sampled_from(["3", "6", "12", "24"]),
}
REGIMEN_FIELDS = {
    "dose_mg_per_kg": st.one_of(decimal(0.0, 20.0), st.just("0")),
    "dose_mg": decimal(0.5, 20.0),
    "interval_h": st.sampled_from(["6", "8", "12", "24", "48"]),
    "start_day": st.integers(0, 8).map(str),
    "stop_day": st.integers(1, 10).map(str),
    "route": st.sampled_from([*ROUTES, "nasal"]),
    "dose_days": day_list(0, 7),
    "dose_amounts_mg_per_kg": day_list(0, 10),
    "missed_doses": st.lists(st.sampled_from(["0", "1", "2", "3", "-1", "999"]), max_size=3).map(
        lambda xs: f"[{','.join(xs)}]"
    ),
    "taper": st.sampled_from(["none", "step", "percent"]),
    "taper_start_day": st.integers(0, 5).map(str),
    "taper_step_mg_per_kg": st.sampled_from(["0", "1", "2.5"]),
    "taper_percent": st.sampled_from(["10", "50", "100"]),
}
#: Doses of ~1e200 mg/kg and more make LSODA fail ("illegal input", a RuntimeError of the engine). The
#: plausible-dose limit (``regimen.allow_implausible_dose``, issue 9 item 2) refuses them before a run; until that
#: key exists, the generator keeps to doses below 1e200 (1e9 still tests a huge dose).
DOSES = ("regimen.dose_mg_per_kg", "regimen.dose_mg")
DOSE_LIMITS = "allow_implausible_dose" in {f.name for f in dataclasses.fields(DosingRegimen)}
#: Broken spellings of values: a boundary number, a list where a number belongs, a bad list element.
BROKEN_LIST = st.sampled_from(["[-1]", "[nan]", "[inf]", "[1e9]", "[1.5]", "[abc]", "[0,,1]", "[[1]]", "5"])

#: Keys no schema declares, with and without ``+``, and unknown group options.
UNKNOWN = st.sampled_from(
    [
        "regimen.dose_mg_per_kgg=1",
        "+regimen.dose_mg_per_kgg=1",
        "+regimen.foo=1",
        "++regimen.foo=1",
        "+new_key=1",
        "microglia.c1q_gian=3",
        "+animate=true",
        "+duration_days=3",
        "genotype=nude",
        "engine=fast",
        "depletion=lots",
        "regimen=weekly",
        "experiment=shi2023",
        "drug=valium",
        "species=dog",
        "regimen.dose_mg_per_kg=[1",
    ]
)


@st.composite
def override_sets(draw) -> list[str]:
    """One command line (without ``hydra.run.dir``): valid choices, then at most one deliberate break."""
    values = {"figure": "false", **{key: draw(value) for key, value in SETTINGS.items()}}
    for group in ("drug", "species", "regimen", "genotype", "depletion", "experiment"):
        if draw(st.integers(0, 2)) == 0:
            values[group] = draw(st.sampled_from(_options(group)))
    for name in draw(st.lists(st.sampled_from(sorted(REGIMEN_FIELDS)), max_size=3, unique=True)):
        values[f"regimen.{name}"] = draw(REGIMEN_FIELDS[name])
    extra = []
    kind = draw(st.sampled_from(["none", "none", "boundary", "unknown"]))
    if kind == "boundary":
        key = draw(st.sampled_from([*SETTINGS, *(f"regimen.{n}" for n in REGIMEN_FIELDS)]))
        lists = ("dose_days", "dose_amounts_mg_per_kg", "missed_doses")
        boundary = BOUNDARY if key not in DOSES or DOSE_LIMITS else [v for v in BOUNDARY if v != "1e308"]
        values[key] = draw(BROKEN_LIST if key.endswith(lists) else st.sampled_from(boundary))
    elif kind == "unknown":
        extra.append(draw(UNKNOWN))
    return draw(st.permutations([f"{k}={v}" for k, v in values.items()] + extra))


def run_cli(overrides: list[str], run_dir: Path) -> tuple[int, str, list[warnings.WarningMessage]]:
    """``synaprune *overrides hydra.run.dir=run_dir`` in this process: (exit code, stderr, warnings shown)."""
    argv, sys.argv = sys.argv, ["synaprune", *overrides, f"hydra.run.dir={run_dir}"]
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                try:
                    sim.cli.main()
                    code = 0
                except SystemExit as exit:
                    code = 0 if exit.code is None else exit.code
    finally:
        sys.argv = argv
    shown = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    return code, err.getvalue(), shown


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli_properties")


@settings(
    max_examples=int(os.environ.get("SYNAPRUNE_PROPERTY_EXAMPLES", "14")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(overrides=override_sets())
# Found by this test (exit 0 with a misleading result, or a traceback), kept as regressions:
@example(overrides=["figure=false", "duration_days=5", "output_step_h=24", "regimen.dose_days=[5]"])  # dose at the end
@example(
    overrides=["figure=false", "duration_days=2", "output_step_h=24", "regimen=single_dose", "regimen.missed_doses=[0]"]
)
@example(
    overrides=[
        "figure=false",
        "duration_days=2",
        "output_step_h=24",
        "regimen.taper=step",
        "regimen.taper_step_mg_per_kg=5",
        "regimen.taper_start_day=0",
    ]
)
@example(
    overrides=["figure=false", "duration_days=2", "output_step_h=24", "regimen.interval_h=1e12"]
)  # one dose, day 0
@example(overrides=["figure=false", "duration_days=2", "output_step_h=24", "experiment=shi2023", "experiment=vehicle"])
@example(overrides=["figure=false", "duration_days=2", "output_step_h=24", "regimen.missed_doses=[[1]]"])
@example(overrides=["figure=false", "duration_days=1", "output_step_h=3", "experiment=human_alprazolam_0p5mg_tid"])
def test_every_override_set_gives_a_true_result_or_a_one_line_refusal(workspace, overrides):
    run_dir = workspace / "runs" / uuid.uuid4().hex / "run"
    with in_process_cli(workspace):
        code, stderr, shown = run_cli(overrides, run_dir)
    assert code in (0, 2), (overrides, code, stderr)
    event(f"exit {code}")
    if code == 2:
        assert not shown, (overrides, [str(w.message) for w in shown])
        assert stderr.startswith("synaprune: error: ") and stderr.endswith("\n"), (overrides, stderr)
        assert stderr.count("\n") == 1, (overrides, stderr)
        assert not run_dir.exists() and not run_dir.parent.exists(), (overrides, sorted(run_dir.parent.rglob("*")))
        assert sorted(p.name for p in workspace.iterdir()) in ([], ["runs"]), overrides  # no outputs/ in the cwd
        return
    ds = open_result(run_dir / "result.nc")
    run = presets.from_overrides(overrides)  # the same command line composed without Hydra
    weight = run.species.body_weight_kg
    dose = run.regimen.dose_per_kg(weight)
    given_total = run.regimen.total_dose_mg_per_kg(weight, run.duration_days)
    assert float(ds.dose.item()) == pytest.approx(dose, rel=1e-12), overrides
    assert ds.attrs["dose_mg_per_kg"] == pytest.approx(dose, rel=1e-12), overrides
    assert float(ds.withdrawal_time.item()) == run.regimen.withdrawal_day, overrides
    final = ds.cumulative_dose.isel(time=-1)
    if "draw" in final.dims:  # another species: a run over draws; the dose is upstream of every drawn parameter
        assert run.species.name != "mouse" and float(final.max() - final.min()) == 0.0, overrides
        final = final.isel(draw=0)
    recorded = float(final.item())
    assert math.isfinite(recorded), overrides
    assert recorded == pytest.approx(given_total, rel=1e-6, abs=1e-9), overrides
    if dose > 0:
        assert given_total > 0, f"{overrides}: labelled {dose} mg/kg but no drug is given in the simulated window"
    assert float(ds.time[-1]) == pytest.approx(run.duration_days), overrides


# --------------------------------------------------------------------------- values from environment variables
def test_values_from_environment_variables_are_announced_and_recorded(workspace, monkeypatch):
    monkeypatch.setenv("SYNAPRUNE_TEST_NAME", "from_env_run")
    run_dir = workspace / "env" / "run"
    overrides = ["figure=false", "duration_days=1", "output_step_h=6", "name=${oc.env:SYNAPRUNE_TEST_NAME}"]
    with in_process_cli(workspace):
        code, stderr, _ = run_cli(overrides, run_dir)
    assert code == 0, stderr
    (line,) = [line for line in stderr.splitlines() if "environment" in line]
    assert line.startswith("synaprune: warning: ") and "name from $SYNAPRUNE_TEST_NAME" in line
    ds = open_result(run_dir / "result.nc")
    assert ds.attrs["from_environment"] == "name"
    assert ds.attrs["experiment"] == "from_env_run"


def test_a_run_without_environment_values_records_none(workspace):
    run_dir = workspace / "noenv" / "run"
    with in_process_cli(workspace):
        code, stderr, _ = run_cli(["figure=false", "duration_days=1", "output_step_h=6"], run_dir)
    assert code == 0, stderr
    assert "environment" not in stderr
    assert "from_environment" not in open_result(run_dir / "result.nc").attrs


def test_load_config_warns_about_environment_values(monkeypatch):
    monkeypatch.setenv("SYNAPRUNE_TEST_NAME", "from_env_run")
    with pytest.warns(UserWarning, match=r"name from \$SYNAPRUNE_TEST_NAME"):
        run = sim.load_config(["name=${oc.env:SYNAPRUNE_TEST_NAME}"])
    assert run.name == "from_env_run"


def test_an_unset_environment_variable_is_a_one_line_refusal(workspace, monkeypatch):
    monkeypatch.delenv("SYNAPRUNE_TEST_UNSET", raising=False)
    run_dir = workspace / "unset" / "run"
    with in_process_cli(workspace):
        code, stderr, _ = run_cli(["figure=false", "name=${oc.env:SYNAPRUNE_TEST_UNSET}"], run_dir)
    assert code == 2 and stderr.startswith("synaprune: error: ") and stderr.count("\n") == 1, stderr
    assert "SYNAPRUNE_TEST_UNSET" in stderr
    assert not run_dir.exists()


def test_a_group_chosen_twice_is_refused_by_both_composition_paths():
    """Hydra alone keeps the last choice silently, even after an option that does not exist."""
    for overrides in (["regimen=daily_oral", "regimen=single_dose"], ["experiment=shi2023", "experiment=vehicle"]):
        with pytest.raises(ConfigError, match=f"the override '{overrides[1]}' repeats the group"):
            sim.load_config(overrides)
        with pytest.raises(ConfigError, match=f"the override '{overrides[1]}' repeats the group"):
            presets.from_overrides(overrides)
    assert sim.load_config(["duration_days=2", "duration_days=3"]).duration_days == 3.0  # keys: the last one wins
