"""Result files: atomic writes, NetCDF round trips, provenance attributes and combining multirun outputs."""

from __future__ import annotations

import math
import string

import numpy as np
import pytest
import xarray as xr
import xarray.testing.strategies as xrst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.core.params import ConfigError
from sim.io import check_writable, combine_results, open_result, save_dataset


@pytest.fixture(scope="module")
def result() -> xr.Dataset:
    """A short composed run with the dimensions the CLI adds."""
    run = sim.presets.from_overrides(["experiment=shi2022_high_dose", "debug=smoke"])
    ds = sim.simulate(run)
    ds = ds.expand_dims(dose=[5.0], withdrawal_time=[math.inf])
    ds["dose"].attrs.update(units="mg/kg", long_name="dose per administration")
    ds["withdrawal_time"].attrs.update(units="d", long_name="day dosing stops (inf: never withdrawn)")
    return ds


class WriteFailed(RuntimeError):
    pass


@pytest.mark.parametrize("error", [WriteFailed, KeyboardInterrupt])
def test_failed_write_leaves_no_file(tmp_path, monkeypatch, result, error):
    def broken(self, path, *args, **kwargs):
        with open(path, "wb") as handle:  # half a file, then the failure
            handle.write(b"\x89HDF\r\n")
        raise error("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    target = tmp_path / "result.nc"
    with pytest.raises(error):
        save_dataset(result, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no .part file either


def test_failed_write_keeps_the_previous_result(tmp_path, monkeypatch, result):
    target = save_dataset(result, tmp_path / "result.nc")
    before = target.read_bytes()

    def broken(self, path, *args, **kwargs):
        raise WriteFailed("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(WriteFailed):
        save_dataset(result.isel(time=slice(0, 3)), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.nc"]


def test_round_trip_preserves_values_and_attributes(tmp_path, result):
    path = save_dataset(result, tmp_path / "nested" / "result.nc")
    back = open_result(path)
    xr.testing.assert_identical(back, result)
    assert math.isinf(float(back.withdrawal_time[0]))
    assert back.spine_density.attrs == result.spine_density.attrs


def test_provenance_attributes(result):
    attrs = result.attrs
    for key in ("config", "seed", "sim_version", "git_commit", "git_dirty", "title", "source", "history", "references"):
        assert key in attrs, key
    assert attrs["sim_version"] == sim.__version__
    assert attrs["seed"] == 0 and attrs["git_dirty"] in (0, 1)
    assert len(attrs["git_commit"]) == 40 or attrs["git_commit"] == "unknown"
    assert "shi2022_high_dose" in attrs["config"] and "duration_days: 10" in attrs["config"]
    assert attrs["Conventions"] == "CF-1.11"  # tests/test_cf.py runs the checker


def assert_netcdf_attribute(name: str, value) -> None:
    allowed = (str, int, float, np.integer, np.floating)
    if isinstance(value, (list, tuple, np.ndarray)):
        for item in value:
            assert_netcdf_attribute(name, item)
        return
    assert isinstance(value, allowed) and not isinstance(value, (bool, np.bool_)), f"{name} = {value!r}"


def test_attribute_values_are_strings_or_numbers(result):
    for key, value in result.attrs.items():
        assert_netcdf_attribute(key, value)
    for name, variable in result.variables.items():
        for key, value in variable.attrs.items():
            assert_netcdf_attribute(f"{name}.{key}", value)


def test_combine_multirun_results(tmp_path, result):
    paths = []
    for i, dose in enumerate([1.0, 5.0]):
        ds = result.assign_coords(dose=("dose", [dose], result.dose.attrs))
        ds.attrs["history"] = f"job {i}"  # conflicting attributes are dropped, history is joined
        paths.append(save_dataset(ds, tmp_path / str(i) / "result.nc"))
    grid = combine_results(paths)
    assert grid.sizes["dose"] == 2
    np.testing.assert_array_equal(grid.dose, [1.0, 5.0])
    assert grid.attrs["history"] == "job 0\njob 1"  # CF: the runs' histories, one line each
    assert grid.attrs["sim_version"] == sim.__version__
    assert grid.dose.attrs["units"] == "mg/kg"
    xr.testing.assert_identical(grid.spine_density.sel(dose=5.0), result.spine_density.isel(dose=0))


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "a" / "b").is_dir()
    assert list((tmp_path / "a" / "b").iterdir()) == []
    with pytest.raises(ConfigError, match="synaprune_forbidden"):
        check_writable("/proc/synaprune_forbidden")


names = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=4)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    variable=xrst.variables(
        dims=xrst.dimension_names(name_strategy=names, min_dims=1, max_dims=3),
        dtype=st.sampled_from([np.dtype("float64"), np.dtype("int64")]),
        attrs=st.dictionaries(names, st.one_of(st.text(string.printable, max_size=20), st.floats(-1e9, 1e9))),
    )
)
def test_round_trip_of_arbitrary_variables(tmp_path, variable):
    ds = xr.Dataset({"value": variable}, attrs={"seed": 1, "config": "a: 1\n"})
    back = open_result(save_dataset(ds, tmp_path / "any.nc"))
    xr.testing.assert_identical(back, ds)


def test_result_file_follows_the_umask(tmp_path, result):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        path = save_dataset(result, tmp_path / "result.nc")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_combining_no_results_is_refused():
    with pytest.raises(ConfigError, match="no result files"):
        combine_results([])
    with pytest.raises(ConfigError, match="no result files"):
        combine_results(iter(()))


def test_combining_a_grid_with_a_missing_job_names_the_hole(tmp_path, result):
    paths = []
    for dose, withdrawal in [(1.0, 7.0), (1.0, 14.0), (5.0, 7.0)]:  # (5, 14) never finished
        ds = result.assign_coords(
            dose=("dose", [dose], result.dose.attrs),
            withdrawal_time=("withdrawal_time", [withdrawal], result.withdrawal_time.attrs),
        )
        paths.append(save_dataset(ds, tmp_path / f"{dose}_{withdrawal}" / "result.nc"))
    with pytest.warns(UserWarning, match="1 combination") as record:
        grid = combine_results(paths)
    (warning,) = [w for w in record if "combine_results:" in str(w.message)]
    assert "dose=5, withdrawal_time=14" in str(warning.message)
    assert "dose=1, withdrawal_time=14" not in str(warning.message)
    assert bool(grid.spine_density.sel(dose=5.0, withdrawal_time=14.0).isnull().all())
    assert not bool(grid.spine_density.sel(dose=1.0, withdrawal_time=14.0).isnull().any())


def test_combining_a_full_grid_does_not_warn(tmp_path, result):
    import warnings

    paths = [
        save_dataset(result.assign_coords(dose=("dose", [d], result.dose.attrs)), tmp_path / str(d) / "result.nc")
        for d in (1.0, 2.0)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.warns(DeprecationWarning, match=r"sim\.collect\(sweep_dir\)"):  # still works, deprecated
            combine_results(paths)
