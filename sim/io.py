"""Reading and writing results: atomic NetCDF output, job locks and :func:`collect` of sweep folders.

:func:`collect` turns a sweep folder (plain ``synaprune -m`` or ``hydra/launcher=batch``) into one Dataset.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import json
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import xarray as xr
import yaml

from sim import presets
from sim import sweep as sweeping
from sim.core.files import STALE_AFTER_S, _process_alive, atomic_path
from sim.core.params import ConfigError
from sim.core.results import netcdf_encoding

ENGINE = "h5netcdf"

#: The file a batch-launcher sweep writes into ``hydra.sweep.dir`` (``synaprune -m hydra/launcher=batch ...``).
BATCH_FILE = "sweep.nc"

#: The chunked store of ``synaprune -m hydra/launcher=batch hydra.launcher.store=zarr`` (:mod:`sim.distributed`).
BATCH_STORE = "sweep.zarr"

#: The lock file of a job folder while a job runs in it (JSON: pid and host of its process).
LOCK_NAME = ".synaprune.lock"

#: Result attribute: the job's command-line overrides as JSON ``{key: value}`` (stage fields as converted).
OVERRIDES_ATTR = "hydra_overrides"


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


def save_with_summary(ds: xr.Dataset, path: str | os.PathLike, summary: str) -> tuple[Path, Path]:
    """Write ``ds`` (:func:`save_dataset`) and the Markdown ``summary`` beside it (``.md``), each atomically."""
    path = save_dataset(ds, path)
    md = path.with_suffix(".md")
    with atomic_path(md) as tmp:
        tmp.write_text(summary, encoding="utf-8")
    return path, md


def open_result(path: str | os.PathLike) -> xr.Dataset:
    """Open a result written by :func:`save_dataset` (loaded into memory, file closed)."""
    with xr.open_dataset(path, engine=ENGINE) as ds:
        return ds.load()


def combine_results(paths: Iterable[str | os.PathLike]) -> xr.Dataset:
    """Deprecated: use :func:`collect` (``sim.collect(sweep_dir)``), which combines any sweep, not only doses.

    Combine multirun results (each with length-1 ``dose`` and ``withdrawal_time`` dims) into one grid.

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
    warnings.warn(
        "sim.io.combine_results is deprecated: use sim.collect(sweep_dir), which combines any sweep folder "
        "(every swept key a dimension, each run's config kept)",
        DeprecationWarning,
        stacklevel=2,
    )
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


# ------------------------------------------------------------------------------------------------ job locks
class JobLocked(Exception):
    """Another live process holds the lock of this job folder (:func:`job_lock`)."""

    def __init__(self, path: Path, holder: dict | None):
        self.path, self.holder = path, holder
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "a process that is starting"
        super().__init__(f"{path.parent} is locked by {who} ({path.name})")


def _read_lock(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) and "pid" in holder and "host" in holder else None
    except (OSError, ValueError):
        return None


def _lock_is_stale(path: Path, holder: dict | None) -> bool:
    """A lock is stale when its process no longer runs on this host, or when it is unreadable and old."""
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > STALE_AFTER_S
        except OSError:
            return True
    return holder["host"] == socket.gethostname() and not _process_alive(int(holder["pid"]))


@contextlib.contextmanager
def job_lock(directory: str | os.PathLike) -> Iterator[Path]:
    """Hold ``<directory>/.synaprune.lock`` while the block runs; raise :class:`JobLocked` if a live process has it.

    The lock is created with ``O_EXCL`` and records this process's pid and host; it is removed at the end. A lock
    left by a process that no longer runs on this host (a killed job) is taken over: it is renamed away (only one
    contender's rename succeeds) and created afresh. A lock of another host is never taken over (its process
    cannot be checked from here).
    """
    path = Path(directory) / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if not _lock_is_stale(path, holder):
                raise JobLocked(path, holder) from None
            aside = path.with_name(f"{LOCK_NAME}.{me['pid']}.stale")
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                continue  # another process took it over first
            if _read_lock(aside) != holder:  # a fresh lock was renamed (a race): put it back
                with contextlib.suppress(OSError):
                    os.link(aside, path)
            with contextlib.suppress(OSError):
                os.unlink(aside)
            continue
        with os.fdopen(fd, "w") as file:
            json.dump(me, file)
        break
    else:
        raise JobLocked(path, _read_lock(path))
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if _read_lock(path) == me:
                os.unlink(path)


def completed_result(path: str | os.PathLike, config: str) -> bool:
    """Whether ``path`` is a complete result of the resolved ``config`` (YAML, the result's ``config`` attribute).

    False if the file is absent or does not open (a ``.part`` file never has the final name: results are written
    atomically). Raises :class:`ConfigError` if it opens but records another configuration: the job would now
    compute something else, and resuming must not mix the two.
    """
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            stored = ds.attrs.get("config")
            complete = bool(ds.data_vars) and all(size > 0 for size in ds.sizes.values())
    except (OSError, ValueError):
        return False
    if not complete or not isinstance(stored, str):
        return False
    if stored != config:
        changed = [line for line in difflib.ndiff(stored.splitlines(), config.splitlines()) if line[:1] in "+-"]
        detail = "; ".join(" ".join(line.split()) for line in changed[:4])
        raise ConfigError(
            f"{path} was computed with other settings than this run ({detail}): a resume into the same "
            "hydra.sweep.dir must repeat the command that started it; choose a new hydra.sweep.dir for new settings"
        )
    return True


# --------------------------------------------------------------------------------------------------- collect
def _parse_value(text: str) -> Any:
    """A command-line value as Hydra types it for the simple cases: int, float, bool, null, else the string."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _override_items(lines: Iterable[str], sweep: bool = False) -> dict[str, list[Any]]:
    """``["drug=a,b", "regimen.stop_day=7"]`` -> ``{"drug": ["a", "b"], "regimen.stop_day": [7]}``.

    Only simple comma lists are split (``sweep=True``); a value with brackets, braces or a function (``range(...)``)
    stays one value. Deletions (``~key``) are skipped; ``+``/``++`` prefixes are dropped from the key.
    """
    items: dict[str, list[Any]] = {}
    for line in lines:
        key, equals, value = str(line).partition("=")
        if not equals or key.startswith("~"):
            continue
        key = key.lstrip("+")
        if key.startswith("hydra.") or key.startswith("hydra/"):
            continue
        simple = not any(c in value for c in "[]{}()'\"")
        items[key] = [_parse_value(v) for v in value.split(",")] if sweep and simple else [_parse_value(value)]
    return items


def _job_overrides(job: Path, ds: xr.Dataset | None) -> dict[str, Any] | None:
    """The overrides of one job folder: the result's ``hydra_overrides`` attribute, else ``.hydra/overrides.yaml``."""
    if ds is not None and OVERRIDES_ATTR in ds.attrs:
        return dict(json.loads(ds.attrs[OVERRIDES_ATTR]))
    listed = job / ".hydra" / "overrides.yaml"
    if not listed.is_file():
        return None
    return {key: values[0] for key, values in _override_items(yaml.safe_load(listed.read_text()) or []).items()}


def _sweep_definition(root: Path) -> dict[str, list[Any]]:
    """The swept values of ``multirun.yaml`` (the command's overrides), for jobs that never started."""
    path = root / "multirun.yaml"
    try:
        lines = yaml.safe_load(path.read_text())["hydra"]["overrides"]["task"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return {}
    return _override_items(lines or [], sweep=True)


def _sort_key(value: Any) -> tuple:
    return (
        (0, float(value), "")
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else (1, 0.0, str(value))
    )


def _format(key: str, value: Any) -> str:
    return f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"


def collect(sweep_dir: str | os.PathLike, *, allow_missing: bool = False, output_file: str = "result.nc") -> xr.Dataset:
    """One Dataset from a sweep folder: every swept key a dimension (named by :func:`sim.sweep.dimension_name`).

    ``sweep_dir`` is a ``hydra.sweep.dir``: of ``synaprune -m hydra/launcher=batch ...`` (its ``sweep.nc`` is
    returned as it is) or of a plain ``synaprune -m ...`` sweep, whose job folders each hold a ``result.nc``. A
    key is swept when the jobs (and the command's sweep in ``multirun.yaml``) give it more than one value; its
    values are sorted, stage fields converted to the field's type as :func:`sim.sweep` does, so both launchers give
    the same dimensions and coordinates for the same grid. Each run's resolved configuration is kept in the string
    variable ``config`` along the swept dimensions; the length-1 ``dose``/``withdrawal_time`` dimensions of single
    runs are dropped unless swept.

    Raises
    ------
    ConfigError
        If the folder holds no results, or a combination of the grid has no complete result (each is named); with
        ``allow_missing=True`` such combinations are NaN (``config`` is ``""``) and a UserWarning names them.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise ConfigError(f"collect(): {str(root)!r} is not a folder: give the hydra.sweep.dir of a sweep")
    if (root / BATCH_FILE).is_file():
        return open_result(root / BATCH_FILE)
    complete: list[tuple[dict[str, Any], xr.Dataset]] = []
    seen: dict[str, list[Any]] = {}
    order: list[str] = []
    for job in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        ds = None
        if (job / output_file).is_file():
            with contextlib.suppress(OSError, ValueError):
                ds = open_result(job / output_file)
        overrides = _job_overrides(job, ds)
        if overrides is None:
            continue
        for key, value in overrides.items():
            if key not in seen:
                seen[key], order = [], [*order, key]
            if value not in seen[key]:
                seen[key].append(value)
        if ds is not None:
            complete.append((overrides, ds))
    if not complete:
        raise ConfigError(f"collect(): {str(root)!r} holds no {output_file} in job folders nor a {BATCH_FILE}")
    for key, values in _sweep_definition(root).items():
        if key in seen and len(values) > 1:  # values of jobs that never started
            seen[key].extend(v for v in values if v not in seen[key])
    swept = [key for key in order if len(seen[key]) > 1]
    base = presets.from_overrides([])
    grid_values: dict[str, list[Any]] = {}
    attrs: dict[str, dict[str, str]] = {}
    for key in swept:
        try:
            parsed = sweeping._parse_key(base, key, seen[key])
            values, attrs[key] = list(parsed.values), parsed.attrs
        except ConfigError:  # not a stage key (experiment, duration_days, ...): the values as typed
            values, attrs[key] = list(seen[key]), {"long_name": key, "units": "", "config_key": key}
        grid_values[key] = sorted(dict.fromkeys(values), key=_sort_key)
        convert = dict(zip(seen[key], values))
        for overrides, _ in complete:
            if key in overrides:
                overrides[key] = convert.get(overrides[key], overrides[key])
    dims = [sweeping.dimension_name(key) for key in swept]
    present = {tuple(overrides.get(key) for key in swept) for overrides, _ in complete}
    missing = [point for point in itertools.product(*grid_values.values()) if point not in present]
    if missing:
        listed = "; ".join(", ".join(_format(k, v) for k, v in zip(swept, point)) for point in missing)
        message = (
            f"collect(): {len(missing)} job(s) of the sweep in {str(root)!r} have no complete {output_file}: {listed}"
        )
        if not allow_missing:
            raise ConfigError(message + " (re-run the same command to compute them, or pass allow_missing=True)")
        warnings.warn(message + "; they are NaN", UserWarning, stacklevel=2)

    parts = []
    for overrides, ds in complete:
        single = [d for d in ("dose", "withdrawal_time") if d in ds.dims and ds.sizes[d] == 1 and d not in dims]
        ds = ds.squeeze(single, drop=True).drop_vars(single, errors="ignore")
        config = ds.attrs.get("config", "")
        ds = ds.drop_vars([d for d in dims if d in ds.variables])
        if dims:
            ds = ds.squeeze([d for d in dims if d in ds.dims], drop=True)
        ds["config"] = xr.Variable((), config, {"long_name": "resolved configuration of the run (YAML)", "units": ""})
        parts.append(ds.assign_coords({d: overrides.get(k) for d, k in zip(dims, swept)}))
    histories = dict.fromkeys(str(ds.attrs["history"]) for _, ds in complete if ds.attrs.get("history"))
    if not dims:
        (grid,) = parts[:1]
    else:
        flat = xr.concat(parts, dim="_job", join="outer", coords="different", compat="equals",
                         combine_attrs="drop_conflicts")  # fmt: skip
        grid = flat.swap_dims(_job=dims[0]) if len(dims) == 1 else flat.set_index(_job=dims).unstack("_job")
        grid = grid.reindex({d: grid_values[k] for d, k in zip(dims, swept)})
        grid["config"] = grid["config"].fillna("").astype(str)
        for d, k in zip(dims, swept):
            grid[d].attrs.update(attrs[k])
        grid = grid.transpose(*dims, ...)
    if histories:
        grid.attrs["history"] = "\n".join(histories)
    grid.attrs["sweep_keys"] = json.dumps(swept)
    return grid
