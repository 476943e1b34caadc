"""Shared fixtures: a seeded ``rng``; a small diazepam -> nordiazepam mouse ``model`` (``sim.PruningModel()``'s
calibrated stages with a two-compound drug, no configuration files); a ``prior_model`` with the stage priors
(``calibration=none``) read from the packaged configs; and the ``--update-golden`` option.

Tests assert laws, analytic solutions and invariants rather than calibrated numbers, so they survive recalibration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import Compound, CompoundPK, DosingRegimen, Drug, LinearChainPK, PruningModel

DATA = Path(__file__).parent / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/data/*.nc from the current code instead of comparing against them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20220317)


def diazepam_drug() -> Drug:
    """Diazepam and its main mouse metabolite nordiazepam (values as in configs/compound/)."""
    return Drug(
        name="diazepam",
        compounds={
            "diazepam": Compound(molar_mass_g_per_mol=284.74, tspo_ki_nM=91.0, gabaa_ki_nM=10.0),
            "nordiazepam": Compound(
                molar_mass_g_per_mol=270.72, tspo_ki_nM=10000.0, gabaa_ki_nM=15.0, gabaa_efficacy=0.7
            ),
        },
    )


def diazepam_mouse_pk() -> LinearChainPK:
    """Diazepam -> nordiazepam in the mouse, one compartment each (values as in configs/compound_pk/)."""
    return LinearChainPK(
        dosed="diazepam",
        compounds={
            "diazepam": CompoundPK(half_life_h=0.88, volume_l_per_kg=19.3, free_fraction=0.196, brain_plasma_ratio=4.5),
            "nordiazepam": CompoundPK(
                half_life_h=3.0,
                volume_l_per_kg=19.3,
                free_fraction=0.158,
                brain_plasma_ratio=3.5,
                formed_from={"diazepam": 0.5},
            ),
        },
        ka_ip_per_h=6.0,
        ka_oral_per_h=3.0,
        bioavailability_oral=0.8,
    )


def build_model(**stages) -> PruningModel:
    """A small diazepam mouse model on the calibrated defaults; keyword arguments replace whole stages."""
    base = PruningModel(
        drug=diazepam_drug(),
        pk=diazepam_mouse_pk(),
        regimen=DosingRegimen(route="ip", dose_mg_per_kg=5.0, interval_h=24.0, start_day=0.0, stop_day=7.0),
    )
    return dataclasses.replace(base, **stages) if stages else base


@pytest.fixture
def model() -> PruningModel:
    return build_model()


@pytest.fixture(scope="session")
def model_factory():
    """``build_model`` for Hypothesis tests, which cannot take function-scoped fixtures."""
    return build_model


@pytest.fixture(scope="session")
def prior_run() -> sim.RunConfig:
    """The high-dose Shi et al. arm from the packaged configs with stage priors (``calibration=none``)."""
    return sim.presets.from_overrides(["experiment=shi2022_high_dose", "calibration=none"])


@pytest.fixture(scope="session")
def prior_model(prior_run: sim.RunConfig) -> PruningModel:
    return prior_run.model()


@contextlib.contextmanager
def in_process_cli(cwd: Path):
    """cwd, ``sys.argv``, ``HYDRA_FULL_ERROR`` and the root logger restored after an in-process CLI call."""
    root = logging.getLogger()
    handlers, level, argv = list(root.handlers), root.level, sys.argv
    previous_cwd, previous_env = os.getcwd(), os.environ.get("HYDRA_FULL_ERROR")
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        sys.argv = argv
        if previous_env is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous_env
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


#: Runs ``sim.cli.main()`` (``synaprune``) once per command line in one interpreter (one Hydra import instead of one
#: per case); prints ``[[exit status, stderr], ...]`` as the last line.
_SYNAPRUNE_IN_PROCESS = """
import contextlib, io, json, sys
import sim.cli
results = []
for case in json.loads(sys.argv[1]):
    sys.argv = ["synaprune", *case]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            sim.cli.main()
            code = 0
        except SystemExit as exit:
            code = exit.code
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


def synaprune_cases(cases: list[list[str]], cwd: Path, env: dict[str, str] | None = None) -> tuple[list, str]:
    """``[(exit status, stderr), ...]`` of ``synaprune *case`` for every case, all run in one fresh interpreter in
    ``cwd``, and that interpreter's stdout."""
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _SYNAPRUNE_IN_PROCESS, json.dumps(cases)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return [tuple(r) for r in json.loads(done.stdout.strip().splitlines()[-1])], done.stdout
