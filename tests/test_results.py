"""The result schema (sim/core/results.py): names, dimensions, metadata and provenance."""

from __future__ import annotations

import numpy as np
import pytest

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
