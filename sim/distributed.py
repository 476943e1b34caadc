"""Large sweeps in chunks: :func:`run_sweep` writes a resumable Zarr store, optionally mapped over a Dask cluster.

::

    import sim
    from sim.distributed import open_sweep, run_sweep

    path = run_sweep(sim.PruningModel(), {"microglia.activation_rate_per_h": rates, "spines.max_density_per_um": d},
                     mode="zip", store="big.zarr", client="local", variables=["spine_density_relative"],
                     output_step_h=24.0, dtype="float32")
    ds = open_sweep(path)  # the Dataset sim.sweep would return (zip: dimension ``sample``), read lazily

Sets and chunks
    The sets of a sweep (:func:`sim.sweep`; ``mode="product"``: every combination, the last key varying fastest;
    ``mode="zip"``: the i-th value of every key) are numbered ``0 .. n-1`` and split into chunks of ``chunk_sets``
    consecutive sets. A chunk is run as a zip sweep of its own sets: grouped as :func:`sim.sweep` groups them
    (sets differing only in float fields of the downstream stages share one integration of PK and binding), and
    every set integrated by the :class:`~sim.engines.batch.BatchEngine`. A set's numbers therefore do not depend on
    the chunk it falls in or on the other sets there: they equal :func:`sim.sweep`'s wherever that batches the set
    (bit for bit), and agree within the solvers' tolerances where :func:`sim.sweep` runs a lone set through the ODE
    engine (a group of one distinct set).

Store layout (Zarr v3, one directory)
    ``set`` (0 .. n-1) and one coordinate per swept key along ``set`` (named as :func:`sim.sweep` names the
    dimension, e.g. ``dose``, ``microglia__activation_rate_per_h``; option names and list values as text);
    ``time`` [d] and ``compound`` (of every set's drug, as :func:`sim.sweep`). Data variables: the outputs asked for as
    ``variables`` (dims ``set`` + their own, float64 or ``dtype``; Zarr chunks of ``chunk_sets`` sets, one per
    sweep chunk) and with ``summaries=True`` per set ``max_spine_loss`` [percent], ``day_of_max_spine_loss`` [d] and
    ``recovery_day`` [d] (the definitions of :mod:`sim.analysis.loss`, without a control run, on the output grid).
    ``done`` (dimension ``sweep_chunk``) is True for every chunk whose data are written. Attributes: the provenance
    of every result (version, git commit, resolved base configuration, seed, engine), ``sweep_mode``,
    ``sweep_keys``, ``sweep_values`` (JSON; with zip sweeps of more than :data:`ATTR_VALUES_MAX` sets only in the key
    coordinates), ``sweep_spec`` (what defines the sweep, JSON) and ``sweep_fingerprint`` (its SHA-256).

Resume
    Chunks are written by the calling process as they finish (one writer, no locks): first the data, then the
    chunk's ``done`` flag. A failure loses only the chunks in flight; a chunk that raises does not stop the others,
    and :func:`run_sweep` raises once the rest are stored. Calling :func:`run_sweep` again with the same arguments
    computes only the chunks not done. A store holding a different sweep (another key, value, mode, base
    configuration, seed, output, dtype, ``chunk_sets``, package version or git commit) is refused with
    :class:`~sim.core.params.ConfigError` and left untouched; so is an existing path that is not a sweep store.

Clients (:func:`get_client`)
    ``None``: chunks run one after the other in this process. ``"local"``: a :class:`distributed.LocalCluster` of
    ``n_workers`` processes (default: one per core) with one thread each, closed at the end. A scheduler address
    (``"tcp://host:8786"``; dask-jobqueue, Kubernetes or ``dask scheduler`` clusters) or a
    :class:`distributed.Client`: chunks are mapped over its workers (give them one thread each: the batch kernel
    runs single-threaded in a worker). A worker that dies mid-chunk has the chunk retried elsewhere by Dask. An
    address that does not answer within ``timeout_s`` is a ConfigError before anything is written.

Dask and Zarr are imported on use, so ``import sim`` stays light.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim import library
from sim.analysis.loss import recovery_days
from sim.analysis.registry import attrs as derived_attrs
from sim.checks import check_run
from sim.core import __version__
from sim.core.files import part_path
from sim.core.params import ConfigError
from sim.core.results import (
    CANONICAL_ORDER,
    COORD_ATTRS,
    OUTPUTS,
    STRESS_OUTPUTS,
    TOLERANCE_OUTPUTS,
    git_state,
    provenance,
)
from sim.engines.batch import BatchEngine, downstream_groups, output_names
from sim.model import PruningModel
from sim.run import RunConfig, _engine_description, calibration_attributes
from sim.sweep import SAMPLE_ATTRS, _batch_signature, _build, _check_memory, _columns, _Key, dimension_name, prepare

#: Attribute that marks a directory as a sweep store (its value: the layout version).
STORE_MARKER = "synaprune_sweep_store"
STORE_LAYOUT = 1

#: Per-set summaries stored with ``summaries=True`` (names of :data:`sim.analysis.DERIVED`).
SUMMARIES = ("max_spine_loss", "day_of_max_spine_loss", "recovery_day")

#: Zip sweeps with more sets keep their values only in the key coordinates, not in the ``sweep_values`` attribute.
ATTR_VALUES_MAX = 10_000

#: ``chunk_sets="auto"``: chunks of at most this many sets, and at most :data:`AUTO_CHUNK_BYTES` of outputs.
AUTO_CHUNK_SETS = 10_000
AUTO_CHUNK_BYTES = 2**27

DTYPES = ("float64", "float32")

#: Probing every combination of the representative values of the keys up front stops beyond this many sets.
_PROBE_MAX = 4096


# ---------------------------------------------------------------------------------------------------- clients
def get_client(client: Any = None, *, n_workers: int | None = None, timeout_s: float = 10.0) -> Any:
    """A :class:`distributed.Client` for ``client``, or ``None`` (run in this process).

    Parameters
    ----------
    client
        ``None`` (returns ``None``), a :class:`distributed.Client` (returned as is), ``"local"`` (starts a
        :class:`distributed.LocalCluster` of ``n_workers`` worker processes with one thread each; the returned
        client owns it: ``client.close()`` stops it) or a scheduler address such as ``"tcp://host:8786"``.
    n_workers
        Worker processes of a ``"local"`` cluster (default: the number of cores); ignored otherwise.
    timeout_s
        Seconds to wait for a scheduler at an address before giving up [s].

    Raises
    ------
    ConfigError
        For any other value, a bad ``n_workers`` or ``timeout_s``, or an address where no scheduler answers within
        ``timeout_s``.
    """
    if client is None:
        return None
    from distributed import Client  # imported on use: `import sim` stays light

    if isinstance(client, Client):
        return client
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s < math.inf:
        raise ConfigError(f"timeout_s = {timeout_s!r} is not allowed: give a positive number of seconds")
    if client == "local":
        if n_workers is None:
            n_workers = os.cpu_count() or 1
        if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
            raise ConfigError(f"n_workers = {n_workers!r} is not allowed: give a whole number >= 1")
        return Client(n_workers=int(n_workers), threads_per_worker=1, processes=True, dashboard_address=":0")
    if not isinstance(client, str) or "://" not in client:
        raise ConfigError(
            f"client = {client!r} is not allowed: give None, 'local', a scheduler address such as "
            "'tcp://host:8786' or a distributed.Client"
        )
    try:
        _probe(client, timeout_s)
        return Client(client, timeout=timeout_s)
    except (OSError, TimeoutError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(
            f"client = {client!r} is not reachable: no Dask scheduler answered within {timeout_s:g} s ({reason}); "
            "start one there or check the address"
        ) from None


def _probe(address: str, timeout_s: float) -> None:
    """Open and close a TCP connection to a ``tcp://host:port`` address: a refused port fails at once (OSError).

    Dask's client retries a refused connection until its timeout; this tells "nothing listens there" right away.
    Other schemes (tls, inproc, ucx) are left to Dask.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"client = {address!r} is not allowed: its port is not a number in 0-65535") from None
    if parts.scheme != "tcp" or parts.hostname is None or port is None:
        return
    with socket.create_connection((parts.hostname, port), timeout=timeout_s):
        pass


# ---------------------------------------------------------------------------------------------------- sets
@dataclasses.dataclass(frozen=True)
class _Chunk:
    """What a worker needs to run one chunk: the base, the chunk's sets as a zip sweep, and what to return."""

    index: int
    start: int
    run: RunConfig
    keys: list  # _Key with the values of this chunk's sets only
    variables: tuple[str, ...]
    compounds: tuple[str, ...]
    dtype: str
    summaries: bool


def _set_indices(keys: list[_Key], mode: str, start: int, stop: int) -> list[np.ndarray]:
    """Index into each key's values of the sets ``start .. stop-1`` (product: last key fastest, as sim.sweep)."""
    flat = np.arange(start, stop)
    if mode == "zip":
        return [flat] * len(keys)
    return list(np.unravel_index(flat, [len(k.values) for k in keys]))


def _chunk_keys(keys: list[_Key], mode: str, start: int, stop: int) -> list[_Key]:
    return [
        dataclasses.replace(k, values=tuple(k.values[i] for i in index))
        for k, index in zip(keys, _set_indices(keys, mode, start, stop))
    ]


def _representatives(key: _Key) -> list[int]:
    """Value indices that stand for all of ``key``'s values in the up-front checks.

    Numbers: the smallest, the largest and the first non-finite one (the stages' checks of a number are ranges);
    other values (options, flags, lists): the first index of each distinct value.
    """
    if all(type(v) in (float, int) for v in key.values):
        values = np.asarray(key.values, dtype=float)
        finite = np.flatnonzero(np.isfinite(values))
        picks = {int(i) for i in np.flatnonzero(~np.isfinite(values))[:1]}
        if finite.size:
            picks |= {int(finite[np.argmin(values[finite])]), int(finite[np.argmax(values[finite])])}
        return sorted(picks)
    first: dict[str, int] = {}
    for i, value in enumerate(key.values):
        first.setdefault(repr(value), i)
    return sorted(first.values())


def _probes(keys: list[_Key], mode: str) -> list[tuple[int, ...]]:
    """Sets checked before the store is created (every set is checked again in its chunk)."""
    picks = [_representatives(k) for k in keys]
    if mode == "zip":
        rows = sorted({i for p in picks for i in p})
        return [(i,) * len(keys) for i in rows]
    if math.prod(len(p) for p in picks) <= _PROBE_MAX:
        return list(itertools.product(*picks))
    return sorted({tuple(i if j == k else 0 for j in range(len(keys))) for k, p in enumerate(picks) for i in p})


def _check_sets(run: RunConfig, keys: list[_Key], mode: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Build and check (:func:`sim.checks.check_run`) the probe sets; their attributes and the union of compounds."""
    times = run.times_h().size
    cache: dict = {}
    checked: dict[str, str] = {}
    compounds = []
    options = [j for j, k in enumerate(keys) if not k.field]
    for index in _probes(keys, mode):
        model = _build(run, keys, index, cache).model()
        checked.update(check_run(model, run.engine, run.duration_days, times, math.inf,
                                 dose_limit=library.max_daily_dose))  # fmt: skip
        compounds.append(tuple(model.pk.names))
    if options:  # every combination of options that occurs, for the compound axis
        if mode == "zip":
            combos = set(zip(*(keys[j].values for j in options)))
        else:
            combos = set(itertools.product(*(keys[j].values for j in options)))
        for combo in combos:
            option_keys = [dataclasses.replace(keys[j], values=(value,)) for j, value in zip(options, combo)]
            compounds.append(tuple(_build(run, option_keys, (0,) * len(options), cache).model().pk.names))
    return checked, _union(compounds)


def _union(lists: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The compounds of all sets in the order xarray's outer join gives them (as :func:`sim.sweep` assembles)."""
    distinct = list(dict.fromkeys(lists))
    if len(distinct) == 1:
        return distinct[0]
    arrays = [xr.DataArray(np.zeros(len(c)), coords={"compound": list(c)}, dims="compound") for c in distinct]
    return tuple(str(c) for c in xr.align(*arrays, join="outer")[0]["compound"].values)


# ---------------------------------------------------------------------------------------------------- chunks
def _one_column(model: PruningModel, n: int) -> dict[str, list[float]]:
    """A batch column that changes nothing (the first downstream float field), for a group of one distinct set."""
    for group in downstream_groups(model):
        stage = getattr(model, group)
        for f in dataclasses.fields(stage):
            if f.init and type(getattr(stage, f.name)) is float:
                return {f"{group}.{f.name}": [getattr(stage, f.name)] * n}
    raise ConfigError("the downstream stages have no float field: the batch engine cannot run this sweep")


def _limit_threads() -> None:
    """In a Dask worker, run the numba kernel on one thread (the cluster's processes are the parallelism)."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return
    import numba

    numba.set_num_threads(1)


def _simulate_chunk(chunk: _Chunk) -> dict[str, np.ndarray]:
    """The outputs (cast to ``chunk.dtype``) and summaries of one chunk's sets, each with a leading set axis."""
    _limit_threads()
    run, keys = chunk.run, chunk.keys
    n = len(keys[0].values)
    times_h = run.times_h()
    cache: dict = {}
    reprs: dict = {}
    groups: dict[tuple, list[tuple[int, PruningModel]]] = {}
    for s in range(n):
        model = _build(run, keys, (s,) * len(keys), cache).model()
        groups.setdefault(_batch_signature(model, reprs), []).append((s, model))
    for members in groups.values():
        check_run(members[0][1], run.engine, run.duration_days, times_h.size, math.inf,
                  dose_limit=library.max_daily_dose)  # fmt: skip
    wanted = list(chunk.variables)
    if chunk.summaries:
        wanted += [v for v in ("spine_density_relative", "cumulative_dose") if v not in wanted]
    engine = BatchEngine()
    out: dict[str, np.ndarray] = {}
    for members in groups.values():
        models = [m for _, m in members]
        columns = _columns(models) or _one_column(models[0], len(models))
        ds = engine.simulate(models[0], times_h, columns, variables=wanted)
        rows = np.array([s for s, _ in members])
        for name in wanted:
            var = ds[name]
            if "compound" in var.dims:
                extra = set(var["compound"].values.tolist()) - set(chunk.compounds)
                if extra:
                    raise ConfigError(f"sweep chunk {chunk.index} has compounds {sorted(extra)} not in the store")
                var = var.reindex(compound=list(chunk.compounds))
            values = var.transpose("draw", *OUTPUTS[name][0]).values
            if name not in out:
                out[name] = np.full((n,) + values.shape[1:], np.nan)
            out[name][rows] = values
    result = {name: out[name].astype(chunk.dtype) for name in chunk.variables}
    if chunk.summaries:
        result.update(summaries(times_h / 24.0, out["spine_density_relative"], out["cumulative_dose"]))
    return result


def summaries(
    times_d: np.ndarray, spine_density_relative: np.ndarray, cumulative_dose: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-set spine-loss summaries of many runs at once (rows: sets, columns: output times ``times_d`` [d]).

    The definitions of :func:`sim.analysis.max_deficit`, :func:`sim.analysis.day_of_max_spine_loss` and
    :func:`sim.analysis.recovery_day` without a control run (loss = 100 - ``spine_density_relative`` [percent]),
    vectorised over the sets; NaN for a set whose series is not finite. ``cumulative_dose`` [mg/kg] gives the last
    dose of each set.
    """
    rel = np.asarray(spine_density_relative, dtype=float)
    t = np.asarray(times_d, dtype=float)
    last_col = t.size - 1
    loss = 100.0 - rel
    failed = ~np.all(np.isfinite(loss), axis=1)
    peak = np.max(loss, axis=1)
    day = t[np.argmin(np.where(failed[:, None], 0.0, rel), axis=1)]
    dosed = np.diff(np.asarray(cumulative_dose, dtype=float), axis=1, prepend=0.0) > 0
    last_dose = np.where(dosed.any(axis=1), t[last_col - np.argmax(dosed[:, ::-1], axis=1)], t[0])
    recovery = recovery_days(t, loss, last_dose)
    for values in (peak, day, recovery):
        values[failed] = np.nan
    return {"max_spine_loss": peak, "day_of_max_spine_loss": day, "recovery_day": recovery}


# ---------------------------------------------------------------------------------------------------- store
def _values_digest(key: _Key) -> str:
    return hashlib.sha256(json.dumps(list(key.values)).encode()).hexdigest()


def _spec(run, keys, mode, chunk_sets, variables, dtype, with_summaries) -> dict[str, Any]:
    """Everything that defines the sweep and its store layout (its SHA-256 is the fingerprint)."""
    return {
        "mode": mode,
        "keys": [k.key for k in keys],
        "values_sha256": {k.key: _values_digest(k) for k in keys},
        "sets": math.prod(len(k.values) for k in keys) if mode == "product" else len(keys[0].values),
        "config": run.to_yaml(),
        "seed": int(run.seed),
        "sim_version": __version__,
        "git_commit": git_state()[0],
        "variables": list(variables),
        "dtype": dtype,
        "summaries": bool(with_summaries),
        "chunk_sets": int(chunk_sets),
        "layout": STORE_LAYOUT,
    }


def _fingerprint(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _difference(stored: dict[str, Any], wanted: dict[str, Any]) -> str:
    """The first part of the sweep that differs between two specs, in words."""
    for name in wanted:
        a, b = stored.get(name), wanted[name]
        if a == b:
            continue
        if name == "values_sha256" and isinstance(a, dict) and set(a) == set(b):
            key = next(k for k in b if a[k] != b[k])
            return f"key {key!r} differs (other values)"
        if name == "config":
            pairs = itertools.zip_longest(str(a).splitlines(), str(b).splitlines(), fillvalue="")
            line_a, line_b = next((x, y) for x, y in pairs if x != y)
            return f"base configuration differs (stored {line_a.strip()!r}, requested {line_b.strip()!r})"
        return f"{name} differs (stored {a!r}, requested {b!r})"
    return "fingerprint differs"


def _read_attrs(store: Path) -> dict[str, Any] | None:
    """The attributes of a sweep store at ``store``; ``None`` if nothing is there (or an empty directory)."""
    if not store.exists():
        return None
    if store.is_dir() and not any(store.iterdir()):
        return None
    try:
        meta = json.loads((store / "zarr.json").read_text())
        attrs = meta.get("attributes", {})
    except (OSError, ValueError, AttributeError):
        attrs = {}
    if not isinstance(attrs, dict) or STORE_MARKER not in attrs:
        raise ConfigError(
            f"store = '{store}' exists and is not a synaprune sweep store: choose a new path (nothing was changed)"
        )
    return attrs


def _coordinate(key: _Key, values: Sequence[Any]) -> np.ndarray:
    """Values of a key as a coordinate: numbers as they are, options as text, list values as JSON text."""
    if all(type(v) in (float, int, str, bool) or np.ndim(v) == 0 for v in key.values):
        array = np.asarray(values)
        return array.astype(object) if array.dtype.kind in "UO" else array
    return np.array([json.dumps(v) for v in values], dtype=object)


def _create(store, run, keys, mode, spec, attrs, compounds, chunk_sets) -> None:
    """Write the empty store (coordinates, metadata, ``done`` all False) under a temporary name, then rename it."""
    import dask.array as da

    n = spec["sets"]
    times = run.times_h() / 24.0
    n_chunks = math.ceil(n / chunk_sets)
    coords: dict[str, Any] = {"set": ("set", np.arange(n), {"units": "1", "long_name": "member of the sweep"})}
    for k, index in zip(keys, _set_indices(keys, mode, 0, n)):
        coords[dimension_name(k.key)] = ("set", _coordinate(k, [k.values[i] for i in index]), k.attrs)
    coords["time"] = ("time", times, {"units": "d", "long_name": "time since the first dose", "standard_name": "time"})
    variables: dict[str, Any] = {}
    encoding: dict[str, dict[str, Any]] = {"done": {"chunks": (1,)}}
    for name in spec["variables"]:
        dims, units, long_name = OUTPUTS[name]
        shape = [n] + [len(compounds) if d == "compound" else times.size for d in dims]
        chunks = (chunk_sets, *shape[1:])
        data = da.zeros(shape, chunks=chunks, dtype=spec["dtype"])
        variables[name] = (("set", *dims), data, {"units": units, "long_name": long_name})
    if spec["summaries"]:
        for name in SUMMARIES:
            variables[name] = ("set", da.zeros(n, chunks=chunk_sets), derived_attrs(name))
    coords["compound"] = ("compound", np.array(compounds, dtype=object), COORD_ATTRS["compound"])
    variables["done"] = ("sweep_chunk", np.zeros(n_chunks, dtype=bool), {"long_name": "chunk written"})
    ds = xr.Dataset(variables, coords=coords, attrs=attrs)
    for name in variables:
        if name != "done":
            encoding[name] = {"chunks": ds[name].data.chunksize}
    tmp = part_path(store)
    try:
        ds.to_zarr(tmp, mode="w-", compute=False, consolidated=False, encoding=encoding, zarr_format=3)
        os.replace(tmp, store)  # an empty directory at ``store`` is replaced too
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------------- running
def _chunk_size(chunk_sets: Any, run: RunConfig, variables: Sequence[str], n: int) -> int:
    if chunk_sets == "auto":
        times = run.times_h().size
        compounds = len(run.model().pk.names)
        per_set = 8 * times * sum(compounds if "compound" in OUTPUTS[v][0] else 1 for v in variables) + 8 * 3
        return max(1, min(n, AUTO_CHUNK_SETS, AUTO_CHUNK_BYTES // per_set))
    if isinstance(chunk_sets, bool) or not isinstance(chunk_sets, (int, np.integer)) or chunk_sets < 1:
        raise ConfigError(f"chunk_sets = {chunk_sets!r} is not allowed: give a whole number >= 1 or 'auto'")
    return int(chunk_sets)


def run_sweep(
    model_or_config: PruningModel | RunConfig,
    values: Mapping[str, Sequence[Any]],
    *,
    store: str | os.PathLike,
    mode: str = "product",
    chunk_sets: int | str = 1000,
    client: Any = None,
    n_workers: int | None = None,
    timeout_s: float = 10.0,
    variables: Sequence[str] | None = None,
    dtype: str | None = None,
    summaries: bool = True,
    duration_days: float | None = None,
    output_step_h: float | None = None,
    progress: bool = True,
) -> Path:
    """Run the sweep :func:`sim.sweep` would run, chunk by chunk, into the Zarr store ``store``; return its path.

    See the module docstring for the store layout, resuming and clients; :func:`open_sweep` reads the result.

    Parameters
    ----------
    model_or_config, values, mode, duration_days, output_step_h, variables
        As for :func:`sim.sweep` (``variables``: the outputs stored; default all of a batch).
    store
        Directory of the Zarr store: created if absent (or empty), resumed if it holds this sweep.
    chunk_sets
        Sets per chunk (the unit of work, of writing and of resuming), or ``"auto"`` (at most 10 000 sets and
        128 MiB of outputs per chunk).
    client, n_workers, timeout_s
        Where the chunks run (:func:`get_client`): ``None`` (this process), ``"local"``, a scheduler address or a
        :class:`distributed.Client`.
    dtype
        ``"float64"`` (default) or ``"float32"`` for the stored outputs (summaries stay float64).
    summaries
        Store per-set ``max_spine_loss``, ``day_of_max_spine_loss`` and ``recovery_day``.
    progress
        Progress bar over the chunks (only on a terminal).

    Raises
    ------
    ConfigError
        Before anything is written: everything :func:`sim.sweep` refuses (checked on representative sets; every
        set is checked again in its chunk), a bad ``chunk_sets``, ``dtype`` or client, a chunk larger than the
        memory limit, an unreachable scheduler, a path that is not a sweep store or a store of another sweep.
        After the other chunks are stored: the error of a chunk whose sets are refused.
    RuntimeError
        After the other chunks are stored, if a chunk failed for another reason (run again to retry it).
    """
    run, keys = prepare(model_or_config, values, mode, duration_days, output_step_h, variables)
    absent = () if run.model().stress.state_names else STRESS_OUTPUTS  # stress=none has no stress outputs
    absent += () if run.model().tolerance.state_names else TOLERANCE_OUTPUTS  # nor tolerance=none its outputs
    every = [name for name in sorted(output_names(None)) if "replicate" not in OUTPUTS[name][0] and name not in absent]
    stored = tuple(dict.fromkeys(variables)) if variables is not None else tuple(every)
    dtype = "float64" if dtype is None else dtype
    if dtype not in DTYPES:
        raise ConfigError(f"dtype = {dtype!r} is not allowed: choose one of {', '.join(DTYPES)}")
    n = math.prod(len(k.values) for k in keys) if mode == "product" else len(keys[0].values)
    chunk_sets = _chunk_size(chunk_sets, run, stored, n)
    times_h = run.times_h()
    try:
        _check_memory([(run.model(), chunk_sets)], run.engine, run, times_h.size)
    except ConfigError as error:
        raise ConfigError(f"chunk_sets = {chunk_sets}: {error}") from None
    spec = _spec(run, keys, mode, chunk_sets, stored, dtype, summaries)
    fingerprint = _fingerprint(spec)
    store = Path(store)
    existing = _read_attrs(store)
    if existing is not None and existing.get("sweep_fingerprint") != fingerprint:
        try:
            old = json.loads(existing.get("sweep_spec", "{}"))
        except ValueError:
            old = {}
        raise ConfigError(f"store '{store}' holds a different sweep: {_difference(old, spec)}; nothing was changed")
    checked, compounds = _check_sets(run, keys, mode) if existing is None else ({}, ())
    owned = client is not None and not _is_client(client)
    dask_client = get_client(client, n_workers=n_workers, timeout_s=timeout_s)
    try:
        if existing is None:
            attrs = {
                STORE_MARKER: STORE_LAYOUT,
                "sweep_mode": mode,
                "sweep_keys": json.dumps([k.key for k in keys]),
                "sweep_sets": n,
                "sweep_chunk_sets": chunk_sets,
                "experiment": run.name,
                **calibration_attributes(run.calibration),
                **checked,
                **provenance(run.to_yaml(), run.seed, _engine_description(BatchEngine())),
                "sweep_spec": json.dumps(spec),
                "sweep_fingerprint": fingerprint,
            }
            if mode == "product" or n <= ATTR_VALUES_MAX:
                attrs["sweep_values"] = json.dumps({k.key: list(k.values) for k in keys})
            _create(store, run, keys, mode, spec, attrs, compounds, chunk_sets)
        _run_chunks(store, run, keys, mode, spec, dask_client, progress)
    finally:
        if owned and dask_client is not None:
            dask_client.close()
    return store


def _is_client(client: Any) -> bool:
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(client, distributed.Client)


def _run_chunks(store: Path, run: RunConfig, keys: list[_Key], mode: str, spec: dict, client: Any, progress) -> None:
    """Compute the chunks not done yet (here or on ``client``) and write each as it finishes."""
    import zarr
    from tqdm.auto import tqdm  # imported on use: `import sim` stays light

    group = zarr.open_group(store, mode="r+", zarr_format=3)
    n, size = spec["sets"], spec["chunk_sets"]
    done = group["done"][:]
    compounds = tuple(str(c) for c in group["compound"][:])
    todo = [i for i in range(done.size) if not done[i]]

    def chunk(i: int) -> _Chunk:
        start, stop = i * size, min(n, (i + 1) * size)
        keys_i = _chunk_keys(keys, mode, start, stop)
        return _Chunk(i, start, run, keys_i, tuple(spec["variables"]), compounds, spec["dtype"], spec["summaries"])

    arrays = {name: group[name] for name in (*spec["variables"], *(SUMMARIES if spec["summaries"] else ()), "done")}

    def write(i: int, result: dict[str, np.ndarray]) -> None:
        start = i * size
        for name, values in result.items():
            arrays[name][start : start + values.shape[0]] = values
        arrays["done"][i] = True  # only after the chunk's data are written

    failures: list[tuple[int, BaseException]] = []
    bar = tqdm(total=len(todo), desc="sweep", unit="chunk", delay=2.0,
               disable=not (progress and sys.stderr.isatty()))  # fmt: skip
    try:
        if client is None:
            for i in todo:
                try:
                    result = _simulate_chunk(chunk(i))
                except Exception as error:  # noqa: BLE001 - the other chunks still run; raised below
                    failures.append((i, error))
                else:
                    write(i, result)
                bar.update()
        else:
            from distributed import as_completed

            waiting = iter(todo)  # submitted a few at a time: small graphs, bounded memory on the scheduler
            threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
            index = {}

            def submit() -> Any:
                i = next(waiting, None)
                if i is None:
                    return None
                future = client.submit(_simulate_chunk, chunk(i), pure=False)
                index[future.key] = i
                return future

            queue = as_completed([f for f in (submit() for _ in range(max(4, 2 * threads))) if f is not None])
            for future in queue:
                following = submit()
                if following is not None:
                    queue.add(following)
                i = index.pop(future.key)
                if future.status == "error":
                    failures.append((i, future.exception()))
                else:
                    write(i, future.result())
                future.release()
                bar.update()
    finally:
        bar.close()
    if failures:
        i, error = failures[0]
        listed = ", ".join(str(j) for j, _ in failures[:10]) + (", ..." if len(failures) > 10 else "")
        where = f"chunk {i} failed ({len(failures)} of {len(todo)} chunks failed: {listed}; the others are stored"
        if isinstance(error, ConfigError):
            raise ConfigError(f"{error} ({where})") from None
        raise RuntimeError(f"{where}; run again with the same arguments to retry): {error!r}") from error


# ---------------------------------------------------------------------------------------------------- reading
def open_sweep(store: str | os.PathLike, *, complete: bool = True) -> xr.Dataset:
    """The Dataset of a sweep store, shaped as :func:`sim.sweep` returns it (read lazily with Dask).

    ``mode="product"``: one dimension per key; ``mode="zip"``: dimension ``sample`` with one coordinate per key.
    Per-set summaries keep the same leading dimensions. ``complete=False`` opens a store whose chunks are not all
    done (their sets read as NaN); otherwise that is a :class:`ConfigError`.
    """
    store = Path(store)
    attrs = _read_attrs(store)
    if attrs is None:
        raise ConfigError(f"store = '{store}' does not exist: run sim.distributed.run_sweep first")
    ds = xr.open_zarr(store, consolidated=False, zarr_format=3)
    done = ds["done"].values
    if complete and not done.all():
        raise ConfigError(
            f"store '{store}' is incomplete: {int(done.sum())} of {done.size} chunks done; run run_sweep again with "
            "the same arguments to finish it (or open_sweep(..., complete=False))"
        )
    ds = ds.drop_vars("done")
    spec = json.loads(ds.attrs["sweep_spec"])
    names = [dimension_name(key) for key in spec["keys"]]
    text = [name for name in ds.coords if ds[name].dtype.kind in "OUT"]
    for name in text:
        ds = ds.assign_coords({name: (ds[name].dims, np.array(ds[name].values.tolist(), dtype=str), ds[name].attrs)})
    order = [d for d in CANONICAL_ORDER if d in ds.dims]
    if spec["mode"] == "zip":
        ds = ds.drop_vars("set").rename(set="sample")
        ds = ds.assign_coords(sample=("sample", np.arange(ds.sizes["sample"]), SAMPLE_ATTRS))
        return ds.transpose("sample", *order, ...)
    values = json.loads(ds.attrs["sweep_values"])
    shape = [len(values[key]) for key in spec["keys"]]
    variables = {}
    for name, var in ds.data_vars.items():
        rest = [d for d in var.dims if d != "set"]
        data = var.data.reshape(shape + [var.sizes[d] for d in rest])
        variables[name] = xr.Variable(names + rest, data, var.attrs)
    coords = {name: ds[name].variable for name in ds.coords if "set" not in ds[name].dims}
    for key, name in zip(spec["keys"], names):
        column = values[key]
        scalar = all(np.ndim(v) == 0 for v in column)
        coords[name] = (name, np.asarray(column) if scalar else np.array([json.dumps(v) for v in column]),
                        ds[name].attrs)  # fmt: skip
    out = xr.Dataset(variables, coords=coords, attrs=ds.attrs)
    return out.transpose(*names, *order, ...)


__all__ = ["SUMMARIES", "get_client", "open_sweep", "run_sweep", "summaries"]
