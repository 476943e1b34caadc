"""Reading and writing results: atomic NetCDF output and combining multirun outputs."""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
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
    """Combine multirun results (each with length-1 ``dose`` and ``withdrawal_time`` dims) into one grid.

    Raises
    ------
    ConfigError
        If ``paths`` is empty (there is nothing to combine).

    Warns
    -----
    UserWarning
        If the runs do not fill the grid (a job of the sweep is missing): the grid holds NaN there, and the
        warning names every missing combination of the combined coordinates (e.g. ``dose=2, withdrawal_time=7``).
    """
    paths = list(paths)
    if not paths:
        raise ConfigError("combine_results() got no result files: pass the result.nc paths of the runs to combine")
    datasets = [open_result(p) for p in paths]
    try:
        grid = xr.combine_by_coords(datasets, combine_attrs="drop_conflicts", join="outer")  # holes: NaN + warning
    except ValueError as error:  # e.g. runs of different drugs: their compound coordinates cannot be aligned
        differ = [
            k for k in ("drug", "species", "genotype", "region") if len({str(d.attrs.get(k)) for d in datasets}) > 1
        ]
        raise ConfigError(
            f"combine_results() cannot combine these {len(paths)} runs into one (dose, withdrawal_time) grid"
            + (f": they differ in {', '.join(differ)}, which is not a dimension of CLI results" if differ else "")
            + f" ({error}); run such grids with sim.sweep, which joins compounds across drugs"
        ) from None
    _warn_missing_jobs(grid, datasets)
    # CF 2.6.2: a grid keeps a history, one line per distinct run history, when the runs' histories differ
    histories = dict.fromkeys(str(ds.attrs["history"]) for ds in datasets if ds.attrs.get("history"))
    if histories:
        grid.attrs.setdefault("history", "\n".join(histories))
    return grid


def _warn_missing_jobs(grid: xr.Dataset, datasets: list[xr.Dataset]) -> None:
    """Warn naming the coordinate combinations of ``grid`` that no dataset supplied (NaN holes of a missing job)."""
    dims = [
        str(d)
        for d in grid.dims
        if d in grid.coords and any(d not in ds.dims or ds.sizes[d] < grid.sizes[d] for ds in datasets)
    ]
    if not dims:
        return
    present = set()
    for ds in datasets:
        present.update(itertools.product(*(ds[d].values.tolist() if d in ds.dims else [None] for d in dims)))
    missing = [key for key in itertools.product(*(grid[d].values.tolist() for d in dims)) if key not in present]
    if missing:
        combos = "; ".join(
            ", ".join(f"{d}={v:g}" if isinstance(v, float) else f"{d}={v}" for d, v in zip(dims, key))
            for key in missing
        )
        warnings.warn(
            f"combine_results: {len(missing)} combination(s) of {', '.join(dims)} have no result and are NaN in the "
            f"grid (a job is missing): {combos}",
            UserWarning,
            stacklevel=3,
        )
