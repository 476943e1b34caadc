"""The result schema (sim/core/results.py): names, dimensions, metadata and provenance."""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sim.core import results
from sim.core.results import CANONICAL_ORDER, CONVENTIONS, COORD_ATTRS, OUTPUTS, netcdf_encoding, provenance, to_dataset


def test_to_dataset_attaches_metadata_and_orders_dimensions():
    time = np.array([0.0, 0.5, 1.0])
    ds = to_dataset(
        time,
        {"spine_density": np.ones(3), "plasma_concentration": np.zeros((2, 3))},
        coords={"compound": ["a", "b"]},
        attrs={"seed": 1},
    )
    assert ds.spine_density.attrs == {"units": "1/um", "long_name": "dendritic spine density"}
    assert ds.time.attrs == COORD_ATTRS["time"]
    assert ds.compound.attrs == COORD_ATTRS["compound"] and "units" not in ds.compound.attrs
    assert ds.plasma_concentration.dims == ("compound", "time")
    assert ds.attrs == {"seed": 1}


def test_to_dataset_adds_a_replicate_dimension_first():
    ds = to_dataset(np.arange(4.0), {"spine_density": np.ones((5, 4)), "c1q_level": np.ones(4)})
    assert ds.spine_density.dims == ("replicate", "time")
    assert ds.c1q_level.dims == ("time",)


def test_undeclared_outputs_are_rejected():
    with pytest.raises(KeyError, match="OUTPUTS"):
        to_dataset(np.arange(2.0), {"spine_count": np.ones(2)})


def test_schema_names_are_snake_case_nouns_in_canonical_dimensions():
    for name, (dims, _units, _) in OUTPUTS.items():
        assert name == name.lower() and " " not in name, name
        assert set(dims) <= set(CANONICAL_ORDER), name
        assert list(dims) == sorted(dims, key=CANONICAL_ORDER.index), name
        assert not name.endswith(("_um", "_h", "_d", "_percent")), f"{name}: no units in output names"


def test_provenance_types():
    attrs = provenance("a: 1\n", seed=7, engine="ode")
    assert attrs["seed"] == 7 and attrs["config"] == "a: 1\n"
    assert attrs["git_dirty"] in (0, 1) and not isinstance(attrs["git_dirty"], bool)
    assert all(isinstance(v, (str, int, float)) for v in attrs.values())
    assert "engine=ode" in attrs["source"]
    assert attrs["Conventions"] == CONVENTIONS == "CF-1.11"


def test_netcdf_encoding_drops_fill_values_of_coordinates_and_writes_labels_as_characters():
    ds = to_dataset(
        np.array([0.0, 1.0]),
        {"plasma_concentration": np.array([[0.0, np.nan]]), "spine_density": np.ones(2)},
        coords={"compound": ["diazepam"]},
    ).expand_dims(dose=[5.0], withdrawal_time=[np.inf])
    assert netcdf_encoding(ds) == {
        "time": {"_FillValue": None},
        "dose": {"_FillValue": None},
        "withdrawal_time": {"_FillValue": None},
        "compound": {"_FillValue": None, "dtype": "S1"},
    }  # data variables keep the default NaN fill: NaN marks missing values there


def test_output_units_are_cf_units_not_their_aliases():
    # UDUNITS (CF) has no molar and spells the output units so; tests/test_cf.py parses them with UDUNITS
    units = {units for _dims, units, _name in OUTPUTS.values()}
    assert {"umol/L", "%", "1/d"} <= units
    assert not units & {"uM", "nM", "percent", "per day"}


# ----------------------------------------------------------------------------------------- git provenance
def _git(*args: str, cwd: Path) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _copy_package(target: Path):
    """Copy the ``sim`` package to ``target/sim`` and load the copy's ``sim/core/results.py`` (its own git cache)."""
    source = Path(results.__file__).resolve().parents[1]
    shutil.copytree(source, target / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    path = target / "sim" / "core" / "results.py"
    spec = importlib.util.spec_from_file_location(f"copied_results_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def enclosing_repo(tmp_path) -> Path:
    """A git repository with one commit that does not track anything of the package."""
    repo = tmp_path / "project"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    (repo / "notes.txt").write_text("a project that has a venv in it\n")
    _git("add", "notes.txt", cwd=repo)
    _git("commit", "-q", "-m", "notes", cwd=repo)
    return repo


def test_an_installed_package_does_not_record_the_enclosing_repository(enclosing_repo):
    site = enclosing_repo / ".venv" / "lib" / "python3" / "site-packages"
    site.mkdir(parents=True)
    copy = _copy_package(site)
    assert copy.git_state() == (copy.INSTALLED, 0)
    assert copy.provenance("a: 1\n", seed=0, engine="ode")["git_commit"] == "unknown (installed package)"


def test_an_untracked_package_at_the_top_of_a_repository_is_not_a_checkout(enclosing_repo):
    copy = _copy_package(enclosing_repo)  # enclosing_repo/sim, never added
    assert copy.git_state() == (copy.INSTALLED, 0)


def test_a_git_checkout_of_the_package_records_its_commit_and_dirt(tmp_path):
    repo = tmp_path / "checkout"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    copy = _copy_package(repo)
    _git("add", "sim", cwd=repo)
    _git("commit", "-q", "-m", "the package", cwd=repo)
    head = _git("rev-parse", "HEAD", cwd=repo)
    assert copy.git_state() == (head, 0)
    (repo / "sim" / "core" / "params.py").write_text("# edited\n")
    copy._GIT_STATE["read_at"] = -math.inf  # skip the 10-s cache
    assert copy.git_state() == (head, 1)
