"""Your own imaging data: tidy tables -> the readouts of sim.imaging, validation of every row, CSV = Excel."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from sim import imaging_data
from sim.core.params import ConfigError
from sim.imaging import IMAGING_OUTPUTS

GROUPS = """group,animal,drug,dose_mg_per_kg,interval_h,start_day,stop_day,route,genotype
vehicle,m1,diazepam,0,24,0,7,ip,wt
vehicle,m2,diazepam,0,24,0,7,ip,wt
dzp,m3,diazepam,5,24,0,7,ip,wt
"""

# m1: dendrite a (10 um) spines s1 (lost day 4), s2 (stays), s3 (gained day 4); dendrite b (30 um) spine t1 (stays)
# m2: dendrite a (20 um) spines u1, u2 at day 0; u2 lost day 8; imaged on days 0, 4 and 8
# m3: dendrite a (10 um) spine v1, imaged on days 0 and 8 only
SCORING = """animal,dendrite,segment_length_um,session_day,spine_id,present
m1,a,10,0,s1,1
m1,a,10,0,s2,1
m1,b,30,0,t1,1
m1,a,10,4,s1,0
m1,a,10,4,s2,1
m1,a,10,4,s3,1
m1,b,30,4,t1,1
m2,a,20,0,u1,1
m2,a,20,0,u2,1
m2,a,20,4,u1,1
m2,a,20,4,u2,1
m2,a,20,8,u1,1
m2,a,20,8,u2,0
m3,a,10,0,v1,1
m3,a,10,8,v1,1
"""


@pytest.fixture
def tables(tmp_path):
    (tmp_path / "scoring.csv").write_text(SCORING)
    (tmp_path / "groups.csv").write_text(GROUPS)
    return tmp_path / "scoring.csv", tmp_path / "groups.csv"


def test_hand_counted_readouts_per_animal_and_group(tables):
    ds = imaging_data.load(*tables)
    np.testing.assert_array_equal(ds.session_day, [0.0, 4.0, 8.0])
    m1, m2, m3 = (ds.sel(animal=a) for a in ("m1", "m2", "m3"))
    # m1: 40 um; day 0 {s1, s2, t1}, day 4 {s2, s3, t1}; not imaged on day 8
    np.testing.assert_allclose(m1.spine_density, [3 / 40, 3 / 40, np.nan])
    np.testing.assert_allclose(m1.gained_fraction, [np.nan, 1 / 3, np.nan])
    np.testing.assert_allclose(m1.lost_fraction, [np.nan, 1 / 3, np.nan])
    np.testing.assert_allclose(m1.turnover_ratio, [np.nan, 1 / 3, np.nan])
    np.testing.assert_allclose(m1.surviving_fraction, [1.0, 2 / 3, np.nan])
    np.testing.assert_allclose(m2.lost_fraction, [np.nan, 0.0, 0.5])
    np.testing.assert_allclose(m2.surviving_fraction, [1.0, 1.0, 0.5])
    np.testing.assert_allclose(m3.spine_density, [0.1, np.nan, 0.1])
    np.testing.assert_allclose(m3.gained_fraction, [np.nan, np.nan, 0.0])  # day 8 compared with day 0, its previous
    assert float(m1.dendrite_length_um) == 40.0
    vehicle = ds.sel(group="vehicle")
    np.testing.assert_allclose(vehicle.surviving_fraction_group_mean, [1.0, (2 / 3 + 1) / 2, 0.5])
    np.testing.assert_allclose(vehicle.surviving_fraction_group_se, [0.0, np.std([2 / 3, 1], ddof=1) / np.sqrt(2), np.nan])  # fmt: skip
    np.testing.assert_array_equal(vehicle.n_animals, [2, 2, 1])
    # per dendrite segment: the counts a likelihood needs
    seg = ds.isel(segment=[i for i, (a, d) in enumerate(zip(ds.segment_animal.values, ds.segment_dendrite.values)) if (a, d) == ("m1", "a")])  # fmt: skip
    np.testing.assert_array_equal(seg.segment_spine_count.squeeze(), [2, 2, np.nan])
    np.testing.assert_array_equal(seg.segment_gained_count.squeeze(), [np.nan, 1, np.nan])
    assert str(ds.treatment.sel(group="dzp").item()).startswith("drug=diazepam genotype=wt")
    for name in ds.data_vars:
        assert "long_name" in ds[name].attrs, name
        if ds[name].dtype.kind == "f":
            assert "units" in ds[name].attrs, name


BAD_SCORING = """animal,dendrite,segment_length_um,session_day,spine_id,present
m1,a,10,0,s1,1
m1,a,10,4,s1,0
m1,a,10,8,s1,1
m9,a,10,0,x1,1
m2,a,-5,0,u1,1
m2,a,20,4,u1,1
m2,a,20,0,u1,1
m3,a,10,0,v1,2
"""
BAD_GROUPS = """group,animal,drug,dose_mg_per_kg,interval_h,start_day,stop_day,route,genotype
vehicle,m1,diazepam,0,24,0,7,ip,wt
vehicle,m2,diazepam,0,24,0,7,ip,wt
other,m3,nodrug,5,24,0,7,ip,wt
"""


def test_every_malformed_row_is_reported_with_its_line_in_one_message(tmp_path):
    (tmp_path / "s.csv").write_text(BAD_SCORING)
    (tmp_path / "g.csv").write_text(BAD_GROUPS)
    with pytest.raises(ConfigError) as error:
        imaging_data.load(tmp_path / "s.csv", tmp_path / "g.csv")
    message = str(error.value)
    assert "\n" not in message
    expected = {
        "s.csv:4": "present on day 8 after being lost on day 4",  # scored present again under the same id
        "s.csv:5": "unknown animal 'm9'",
        "s.csv:6": "segment_length_um = '-5'",  # negative length
        "s.csv:8": "out of order",  # day 0 after day 4 for the same spine
        "g.csv:4": "nodrug",  # unknown drug
    }
    for where, what in expected.items():
        assert re.search(re.escape(where) + r": [^;]*" + re.escape(what), message), (where, what, message)
    # m3 is in group 'other', whose row is refused: its scoring rows say so (not "unknown animal"); nothing loaded
    assert "s.csv:9: animal 'm3': its row in the groups table was refused" in message
    assert message.count("problem") == 1 and message.startswith("6 problem(s)")  # g.csv:4 and s.csv:4, 5, 6, 8, 9


def test_missing_column_and_unknown_experiment(tmp_path):
    (tmp_path / "s.csv").write_text(SCORING.replace(",present", ",scored", 1))
    (tmp_path / "g.csv").write_text("group,animal,experiment,overrides\nv,m1,vehicle,\nx,m2,no_such_experiment,\n")
    with pytest.raises(ConfigError) as error:
        imaging_data.load(tmp_path / "s.csv", tmp_path / "g.csv")
    message = str(error.value)
    assert "s.csv:1: missing column 'present'" in message
    assert "g.csv:3: experiment = 'no_such_experiment' is not allowed" in message


def test_cli_writes_nothing_on_bad_input_and_the_dataset_on_good(tmp_path, tables, capsys):
    (tmp_path / "bad.csv").write_text(BAD_SCORING)
    out = tmp_path / "out" / "readouts.nc"
    bad = subprocess.run([sys.executable, "-m", "sim.imaging_data", str(tmp_path / "bad.csv"), str(tables[1]), "--out", str(out)], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "bad.csv:4" in bad.stderr and bad.stdout == ""
    assert not out.exists() and not out.parent.exists()
    assert imaging_data.main([*map(str, tables), "--out", str(out)]) == 0
    with xr.open_dataset(out, engine="h5netcdf") as written:
        xr.testing.assert_allclose(written.load(), imaging_data.load(*tables))


def test_excel_and_csv_give_identical_datasets(tmp_path, tables):
    openpyxl = pytest.importorskip("openpyxl")
    paths = []
    for path in tables:
        book = openpyxl.Workbook()
        sheet = book.active
        for line in path.read_text().splitlines():
            sheet.append([float(v) if re.fullmatch(r"-?[0-9.]+", v) else v for v in line.split(",")])
        book.save(path.with_suffix(".xlsx"))
        paths.append(path.with_suffix(".xlsx"))
    from_csv, from_excel = imaging_data.load(*tables), imaging_data.load(*paths)
    assert from_excel.attrs["source_scoring"] == "scoring.xlsx"
    xr.testing.assert_identical(from_excel.drop_attrs(deep=False), from_csv.drop_attrs(deep=False))


def test_packaged_example_regenerates_and_gives_back_the_readouts_of_sim_imaging(tmp_path):
    """The shipped synthetic tables are what simulate_example() writes, and load() gives back sim.imaging's readouts."""
    scoring, groups, imaged = imaging_data.simulate_example()
    parameters = imaging_data.example_parameters()  # the generating values the fit must recover
    for rows, name in ((scoring, imaging_data.EXAMPLE_SCORING), (groups, imaging_data.EXAMPLE_GROUPS), (parameters, imaging_data.EXAMPLE_PARAMETERS)):  # fmt: skip
        assert imaging_data.write_csv(rows, tmp_path / name).read_bytes() == (imaging_data.EXAMPLE_DIR / name).read_bytes()  # fmt: skip
    ds = imaging_data.load(imaging_data.EXAMPLE_DIR / imaging_data.EXAMPLE_SCORING, imaging_data.EXAMPLE_DIR / imaging_data.EXAMPLE_GROUPS)  # fmt: skip
    n = imaging_data.EXAMPLE_SETTINGS["animals_per_group"]
    assert sorted(ds.group.values.tolist()) == ["diazepam", "vehicle"]
    np.testing.assert_array_equal(ds.n_animals, n)
    np.testing.assert_allclose(ds.session_day, np.arange(0.0, 28.1, 4.0))
    assert "regimen.dose_mg_per_kg=5.0" in str(ds.treatment.sel(group="diazepam").item())
    for group, image in imaged.items():  # round trip: agent spines -> rows -> load() = sim.imaging of the same spines
        assert image.sizes["replicate"] == n
        for r in range(n):
            got = ds.sel(animal=f"{group}_{r + 1}")
            np.testing.assert_array_equal(got.session_day, image.session_day)
            for name in IMAGING_OUTPUTS:
                np.testing.assert_allclose(got[name], image[name].isel(replicate=r), rtol=1e-14, err_msg=name)
        lost = image.lost_fraction.values  # group statistics: mean over animals and SD/sqrt(n), by numpy
        np.testing.assert_allclose(ds.lost_fraction_group_mean.sel(group=group), lost.mean(axis=0), rtol=1e-14)
        np.testing.assert_allclose(ds.lost_fraction_group_se.sel(group=group), lost.std(axis=0, ddof=1) / np.sqrt(n), rtol=1e-12)  # fmt: skip
    assert ds.segment_spine_count.sum("segment").values.tolist() == ds.spine_count.sum("animal").values.tolist()
    # the diazepam arm loses more of its first-session spines than vehicle by day 28 (the model's effect)
    assert ds.surviving_fraction_group_mean.sel(group="diazepam")[-1] < ds.surviving_fraction_group_mean.sel(group="vehicle")[-1]  # fmt: skip
    readme = (imaging_data.EXAMPLE_DIR / "README.md").read_text()
    assert "synthetic" in readme.lower() and "experiments/make_example_imaging_data.py" in readme


def test_unreadable_files_are_config_errors(tmp_path, tables):
    (tmp_path / "s.xlsx").write_text("not a workbook")
    (tmp_path / "s.txt").write_text(SCORING)
    for path, what in ((tmp_path / "s.xlsx", "cannot be read as an Excel workbook"), (tmp_path / "s.txt", "'.txt' is not allowed"), (tmp_path / "none.csv", "is not a file")):  # fmt: skip
        with pytest.raises(ConfigError, match=what):
            imaging_data.load(path, tables[1])


# ---------------------------------------------------------------------- the count likelihood of sim.fit_imaging
def _example():
    return imaging_data.load(imaging_data.EXAMPLE_DIR / imaging_data.EXAMPLE_SCORING, imaging_data.EXAMPLE_DIR / imaging_data.EXAMPLE_GROUPS)  # fmt: skip


def test_count_log_likelihood_equals_a_hand_written_sum():
    from sim.fit_imaging import count_log_likelihood

    ds = _example()
    days = ds.session_day.values
    rates = {"vehicle": (0.45, 0.07, 0.09), "diazepam": (0.40, 0.12, 0.05)}  # density [1/um], lost, gained [1]
    predicted = {
        g: xr.Dataset(
            {"spine_density": ("session", np.full(days.size, r[0])), "lost_fraction": ("session", np.full(days.size, r[1])),
             "gained_fraction": ("session", np.full(days.size, r[2]))},
            coords={"session_day": ("session", days)},
        )
        for g, r in rates.items()
    }  # fmt: skip
    expected = 0.0
    group_of = dict(zip(ds.animal.values, ds.animal_group.values))
    for s in range(ds.sizes["segment"]):
        rho, lam, gam = rates[group_of[str(ds.segment_animal.values[s])]]
        n = ds.segment_spine_count.values[s].astype(int)
        mu = rho * float(ds.segment_length_um[s])
        expected += n[0] * math.log(mu) - mu - math.lgamma(n[0] + 1)
        for k in range(1, days.size):
            lost, gained = int(ds.segment_lost_count.values[s, k]), int(ds.segment_gained_count.values[s, k])
            expected += math.log(math.comb(n[k - 1], lost)) + lost * math.log(lam) + (n[k - 1] - lost) * math.log(1 - lam)  # fmt: skip
            mu = n[k - 1] * gam
            expected += gained * math.log(mu) - mu - math.lgamma(gained + 1)
    assert count_log_likelihood(ds, predicted) == pytest.approx(expected, rel=1e-12)


def test_count_log_likelihood_prefers_each_groups_own_treatment():
    from sim.fit_imaging import count_log_likelihood, model_readouts
    from sim.imaging_data import Group

    ds = _example()
    days = ds.session_day.values
    predicted = {g: model_readouts(Group.from_dataset(ds, g), days) for g in ("vehicle", "diazepam")}
    assert Group.from_dataset(ds, "diazepam").animals == tuple(f"diazepam_{k}" for k in range(1, 5))
    swapped = {"vehicle": predicted["diazepam"], "diazepam": predicted["vehicle"]}
    assert count_log_likelihood(ds, predicted) > count_log_likelihood(ds, swapped) + 5.0
