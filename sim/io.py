"""Reading and writing results: atomic NetCDF output and combining multirun outputs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import xarray as xr

from sim.core.files import atomic_path
from sim.core.params import ConfigError
from sim.core.results import netcdf_encoding

ENGINE = "h5netcdf"


def check_writable(directory: str | os.PathLike) -> Path:
    """Create ``directory`` if needed and prove a file can be written there; raise :class:`ConfigError` if not."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ConfigError(f"output directory {str(path)!r} cannot be written: {error.strerror or error}") from error
    return path


def save_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to NetCDF atomically (:func:`sim.core.files.atomic_path`): a ``.part`` file, then a rename.

    An interrupted run therefore never leaves a half-written result under the final name, and stale ``.part``
    files of killed runs in the same directory are removed.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE, encoding=netcdf_encoding(ds))  # CF: sim.core.results.netcdf_encoding
    return path


def open_result(path: str | os.PathLike) -> xr.Dataset:
    """Open a result written by :func:`save_dataset` (loaded into memory, file closed)."""
    with xr.open_dataset(path, engine=ENGINE) as ds:
        return ds.load()


def combine_results(paths: Iterable[str | os.PathLike]) -> xr.Dataset:
    """Combine multirun results (each with length-1 ``dose`` and ``withdrawal_time`` dims) into one grid."""
    datasets = [open_result(p) for p in paths]
    grid = xr.combine_by_coords(datasets, combine_attrs="drop_conflicts")
    # CF 2.6.2: a grid keeps a history, one line per distinct run history, when the runs' histories differ
    histories = dict.fromkeys(str(ds.attrs["history"]) for ds in datasets if ds.attrs.get("history"))
    if histories:
        grid.attrs.setdefault("history", "\n".join(histories))
    return grid
