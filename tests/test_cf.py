"""CF 1.11 compliance of result files (IOOS compliance-checker, run in-process) and UDUNITS units.

The one documented exception is the relative time axis: ``time`` is in days since the first dose (``units="d"``),
not ``days since <date>``, which xarray would decode to dates (README, "Use it").
"""

from __future__ import annotations

import cf_units
import pytest
from compliance_checker.runner import CheckSuite

import sim
from sim.core.results import CONVENTIONS, COORD_ATTRS, OUTPUTS
from sim.io import combine_results, open_result, save_dataset

CHECKER = "cf:1.11"

# The only failures the checker may report: (section, message), all about the relative time axis.
TIME_AXIS_FAILURES = {
    ("§3.1 Units", "time must be in a valid units format <unit> since <epoch> not d"),
    ("§4.4 Time Coordinate", "time does not have correct time units"),
}

AGENTS = ["engine=agents", "engine.replicates=2", "engine.segments=3"]


def cf_failures(path) -> tuple[set[tuple[str, str]], dict]:
    """Failed checks of ``path`` as ``(section, message)`` pairs, and the exceptions the checker raised."""
    CheckSuite.load_all_available_checkers()
    suite = CheckSuite()
    dataset = suite.load_dataset(str(path))
    try:
        groups, errors = suite.run_all(dataset, [CHECKER])[CHECKER]
    finally:
        dataset.close()

    failures: set[tuple[str, str]] = set()

    def collect(results) -> None:
        for result in results:
            collect(result.children)
            if result.value[0] != result.value[1]:
                failures.update((result.name, message) for message in result.msgs)

    collect(groups)
    return failures, errors


def write(tmp_path, overrides: list[str], sweep: bool = False):
    run = sim.presets.experiment("shi2022_high_dose", ["debug=smoke", *overrides])
    return save_dataset(sim.simulate(run, sweep=sweep), tmp_path / "result.nc")


@pytest.mark.parametrize(
    "overrides",
    [[], AGENTS + ["engine.record_spines=false"], AGENTS + ["engine.record_spines=true"]],
    ids=["ode", "agents", "agents_spines"],
)
def test_only_the_relative_time_axis_fails_cf(tmp_path, overrides):
    path = write(tmp_path, overrides)
    failures, errors = cf_failures(path)
    assert not errors, f"the checker raised: {errors}"
    assert failures == TIME_AXIS_FAILURES
    ds = open_result(path)
    assert ds.attrs["Conventions"] == CONVENTIONS == "CF-1.11"
    assert ds.time.attrs["units"] == "d" and ds.time.dtype.kind == "f"  # not decoded to datetimes
    assert "_FillValue" not in ds.time.encoding
    if "engine.record_spines=true" in overrides:
        assert "birth_time" in ds and "spine" in ds.dims
    elif overrides:
        assert "birth_time" not in ds


def test_a_combined_sweep_grid_keeps_cf_compliance(tmp_path):
    paths = [write(tmp_path / str(dose), [f"regimen.dose_mg_per_kg={dose}"], sweep=True) for dose in (1.0, 5.0)]
    grid = combine_results(paths)
    assert grid.sizes["dose"] == 2 and grid.withdrawal_time.values.tolist() == [7.0]
    assert grid.attrs["Conventions"] == CONVENTIONS
    assert list(grid.compound.values) == ["diazepam", "nordiazepam", "temazepam", "oxazepam"]
    path = save_dataset(grid, tmp_path / "grid.nc")
    failures, errors = cf_failures(path)
    assert not errors and failures == TIME_AXIS_FAILURES


def test_every_unit_is_udunits():
    units = [units for _dims, units, _name in OUTPUTS.values()]
    units += [attrs["units"] for attrs in COORD_ATTRS.values() if "units" in attrs]
    for unit in units:
        assert cf_units.Unit(unit).is_udunits(), unit
    with pytest.raises(ValueError):
        cf_units.Unit("uM")  # why results use umol/L: UDUNITS has no molar


def test_udunits_and_pint_agree_on_the_renamed_units():
    import pint

    ureg = pint.UnitRegistry()
    for unit, si in (("umol/L", "mol/m^3"), ("%", "1"), ("1/d", "1/s")):
        factor = cf_units.Unit(unit).convert(1.0, cf_units.Unit(si))
        assert ureg.Quantity(1.0, unit).to(si).magnitude == pytest.approx(factor, rel=1e-12), unit
