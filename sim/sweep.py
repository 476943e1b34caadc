"""Many simulations in one call: :func:`sweep` returns one Dataset with a dimension per swept key.

::

    import sim
    ds = sim.sweep(sim.PruningModel(), {"drug": ["diazepam", "xbd173"], "regimen.dose_mg_per_kg": [1.0, 5.0]})
    ds["spine_density_relative"].sel(drug="xbd173", dose=5.0)

Keys
    ``"<group>.<field>"`` of any stage group (:data:`sim.core.stage.GROUPS`: ``microglia.activation_rate_per_h``,
    ``regimen.stop_day``, ``pk.…``, ...), each value converted to the field's declared type as the configuration
    files are; or ``"<group>"`` with option names of ``sim/configs/<group>`` (``drug``, ``species``, ``genotype``,
    ``depletion``, ``microglia`` = ``adaptive``, ``spines`` = ``hippocampus``, ...). An option is applied to the
    base the way the command line composes it: the groups that option changes (e.g. ``drug`` -> drug and pk,
    composed for the base's drug, species and genotype with ``calibration=shi2022``) replace the base's; field keys
    are applied after the options. Run settings (``duration_days``, ``engine``, ...) cannot be swept: they change
    the output grid or the engine.

Execution
    Sets that differ only in the float fields of the downstream stages (:func:`sim.engines.batch.downstream_groups`:
    microglia, spines) share one :class:`~sim.engines.batch.BatchEngine` call, PK and binding integrated once; every
    other difference (drug, species, genotype, regimen, pk, binding, depletion, cognition, stage classes) starts a
    new group, and a group with one distinct set runs through :func:`sim.run.simulate_model` (ODE engine).

Result
    ``mode="product"``: one dimension per key, named after the key with "." -> "__" (``regimen.dose_mg_per_kg`` is
    ``dose`` and ``regimen.stop_day`` is ``withdrawal_time``, as in CLI sweeps and :func:`sim.io.combine_results`);
    ``mode="zip"``: one dimension ``sample`` and one coordinate per key. Each carries ``config_key`` (and the field's
    ``units``/``long_name``). ``compound`` is the outer join over the sets (NaN where a drug lacks a compound).
    The outputs that one batch shares (PK, binding, sedation, cumulative dose) are computed once and may be
    read-only broadcast views: ``ds.copy(deep=True)`` before writing into the arrays. ``variables=[...]`` returns
    only the named outputs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import sys
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from sim import library
from sim.checks import check_run, estimate_bytes
from sim.core.params import ConfigError
from sim.core.results import CANONICAL_ORDER, COORD_ATTRS, finalize
from sim.core.stage import GROUPS
from sim.engines.batch import BatchEngine, downstream_groups, output_names
from sim.engines.ode import OdeEngine
from sim.model import PruningModel
from sim.run import (
    RunConfig,
    _engine_description,
    calibration_attributes,
    calibration_of,
    check_run_settings,
    simulate_model,
)

#: Modes of :func:`sweep`.
MODES = ("product", "zip")

#: Keys whose dimension keeps the name CLI sweeps give it (:func:`sim.run.simulate` with ``sweep=True``).
DIMENSION_NAMES = {"regimen.dose_mg_per_kg": "dose", "regimen.stop_day": "withdrawal_time"}

#: Attributes of the ``sample`` dimension of a zip sweep.
SAMPLE_ATTRS = {"units": "1", "long_name": "member of the sweep (zip mode: the i-th value of every key)"}

#: The configuration the option keys are composed on (plus the base's drug, species and genotype).
_COMPOSE_BASE = ("experiment=shi2022_high_dose", f"calibration={library.HEADLINE_CALIBRATION}")


def dimension_name(key: str) -> str:
    """Name of the dimension (or zip coordinate) of a swept ``key``."""
    return DIMENSION_NAMES.get(key, key.replace(".", "__"))


# ---------------------------------------------------------------------------------------------------- parsing
@dataclasses.dataclass(frozen=True)
class _Key:
    key: str
    group: str
    field: str  # "" for an option key
    values: tuple
    attrs: dict  # units and long_name of the field (or option group), and config_key


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (library.config_dir() / group).glob("*.yaml") if not p.stem.startswith("base_"))


def _parse_key(run: RunConfig, key: Any, values: Any) -> _Key:
    if not isinstance(key, str):
        raise ConfigError(f"sweep key {key!r} is not allowed: give '<group>' or '<group>.<field>' as a string")
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)):
        raise ConfigError(f"sweep values of {key!r} = {values!r} are not allowed: give a list of values")
    values = list(values.tolist() if isinstance(values, np.ndarray) else values)
    if not values:
        raise ConfigError(f"sweep values of {key!r} = [] are not allowed: give at least one value")
    group, _, name = key.partition(".")
    if group not in GROUPS:
        raise ConfigError(
            f"sweep key {key!r} is not allowed: {group!r} is not a stage group (choose one of {', '.join(GROUPS)}; "
            "run settings such as duration_days cannot be swept)"
        )
    if not name:
        allowed = _options(group)
        for value in values:
            if value not in allowed:
                raise ConfigError(f"{key} = {value!r} is not allowed: choose one of {', '.join(allowed)}")
        return _Key(key, group, "", tuple(values), _attrs(key, {"units": "", "long_name": f"{group} option"}))
    cls = type(getattr(run, group))
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    if "." in name or name not in fields:
        raise ConfigError(
            f"sweep key {key!r} is not allowed: {group} has no field {name!r} (fields: {', '.join(fields)})"
        )
    hint = typing.get_type_hints(cls)[name]
    values = [v.item() if isinstance(v, np.generic) else v for v in values]  # numpy scalars as Python numbers
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    attrs = {"units": str(meta.get("units", "")), "long_name": str(meta.get("long_name", key))}
    if hint is float and all(type(v) is float for v in values):  # already what _coerce returns (fast for 1e6)
        return _Key(key, group, name, tuple(values), _attrs(key, attrs))
    return _Key(key, group, name, tuple(library._coerce(v, hint, key) for v in values), _attrs(key, attrs))


def _attrs(key: str, attrs: dict[str, str]) -> dict[str, str]:
    """Coordinate attributes of a swept key: those of its CLI dimension (``dose``, ...) or of its field/option."""
    return {**COORD_ATTRS.get(dimension_name(key), attrs), "config_key": key}


def _check_zip(keys: list[_Key]) -> None:
    sizes = {k.key: len(k.values) for k in keys}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{key}: {n}" for key, n in sizes.items())
        raise ConfigError(
            f"mode = 'zip' is not allowed with value lists of different lengths ({listed}): make them equal"
        )


def _indices(keys: list[_Key], mode: str) -> list[tuple[int, ...]]:
    if mode == "product":
        return list(itertools.product(*(range(len(k.values)) for k in keys)))
    _check_zip(keys)
    return [(i,) * len(keys) for i in range(len(keys[0].values))]


# ---------------------------------------------------------------------------------------------------- building
def _apply_options(run: RunConfig, options: dict[str, str], cache: dict) -> dict[str, Any]:
    """Stages that the ``group=option`` choices change, composed for the base's drug, species and genotype."""
    choices = {g: getattr(run, g).name for g in ("drug", "species", "genotype")}
    key = tuple(sorted(options.items()))
    if key not in cache:
        reference = [*_COMPOSE_BASE, *(f"{g}={o}" for g, o in choices.items())]
        chosen = [*_COMPOSE_BASE, *(f"{g}={options.get(g, o)}" for g, o in choices.items())]
        chosen += [f"{g}={o}" for g, o in options.items() if g not in choices]
        try:
            before = library.build(library.compose(reference))
        except ConfigError as error:
            raise ConfigError(
                f"option keys need a base whose drug, species and genotype are packaged options ({error})"
            ) from None
        try:
            after = library.build(library.compose(chosen))
        except ConfigError as error:
            listed = ", ".join(f"{g}={o}" for g, o in options.items())
            raise ConfigError(f"sweep set {listed} is not allowed: {error}") from None
        cache[key] = {g: after[g] for g in GROUPS if repr(after[g]) != repr(before[g])}
    return cache[key]


def _build(run: RunConfig, keys: list[_Key], index: tuple[int, ...], cache: dict) -> RunConfig:
    options = {k.group: k.values[i] for k, i in zip(keys, index) if not k.field}
    stages = _apply_options(run, options, cache) if options else {}
    fields: dict[str, dict[str, Any]] = {}
    for k, i in zip(keys, index):
        if k.field:
            fields.setdefault(k.group, {})[k.field] = k.values[i]
    for group, changes in fields.items():
        stage = stages.get(group, getattr(run, group))
        try:
            stages[group] = dataclasses.replace(stage, **changes)
        except ConfigError as error:
            message = str(error)
            prefix = f"{type(stage).__name__}."
            raise ConfigError(f"{group}.{message[len(prefix) :]}" if message.startswith(prefix) else message) from None
    return dataclasses.replace(run, **stages) if stages else run


def _batch_signature(model: PruningModel, reprs: dict[int, tuple[Any, str]]) -> tuple:
    """What must be equal for sets to share one batch: everything but the float fields of downstream stages.

    ``reprs`` remembers the ``repr`` of each stage object by ``id`` during one sweep (sets share the objects of
    the groups they do not change; the object is kept with its text, so its ``id`` is not reused).
    """
    down = downstream_groups(model)
    parts = []
    for group in GROUPS:
        stage = getattr(model, group)
        if group not in down:
            if id(stage) not in reprs:
                reprs[id(stage)] = (stage, repr(stage))
            parts.append(reprs[id(stage)][1])
        else:
            fixed = [
                (f.name, repr(getattr(stage, f.name)))
                for f in dataclasses.fields(stage)
                if f.init and type(getattr(stage, f.name)) is not float
            ]
            parts.append((type(stage), tuple(fixed)))
    return tuple(parts)


def _columns(models: list[PruningModel]) -> dict[str, list[float]]:
    """The downstream float fields that differ between ``models``, as BatchEngine parameter columns."""
    out = {}
    for group in downstream_groups(models[0]):
        for f in dataclasses.fields(getattr(models[0], group)):
            column = [getattr(getattr(m, group), f.name) for m in models]
            if f.init and type(column[0]) is float and any(v != column[0] for v in column):
                out[f"{group}.{f.name}"] = column
    return out


# ---------------------------------------------------------------------------------------------------- running
def _check_memory(counts: list[tuple[PruningModel, int]], engine: Any, run: RunConfig, output_times: int) -> None:
    """Refuse a sweep whose results (``count`` sets like each model) exceed ``run.memory_limit_gib`` (sim.checks)."""
    needed = 0.0
    for model, count in counts:
        per_set, _ = estimate_bytes(model, engine, run.duration_days, output_times)
        states = 8.0 * model.bounds[-1] * output_times  # the batch's state array
        needed += count * (per_set + states)
    needed *= 2.0  # the results of the groups and the assembled Dataset
    limit_gib = run.memory_limit_gib
    if not math.isfinite(needed) or needed > limit_gib * 2.0**30:
        n = sum(count for _, count in counts)
        raise ConfigError(
            f"this sweep of {n} sets needs about {needed / 2.0**30:.3g} GiB ({output_times} output times per set; "
            f"results plus one copy while they are assembled), more than memory_limit_gib = {limit_gib:g}: "
            "sweep fewer values, shorten duration_days, raise output_step_h or raise memory_limit_gib"
        )


def _run_group(
    members: list[tuple[int, PruningModel]], times_h: np.ndarray, engine: BatchEngine, variables: Sequence[str] | None
) -> xr.Dataset:
    models = [m for _, m in members]
    columns = _columns(models)
    if columns:
        ds = engine.simulate(models[0], times_h, columns, variables=variables)
        ds = ds.drop_vars([k.replace(".", "__") for k in columns])
    else:  # every member is the same set: simulate it once
        ds = simulate_model(models[0], times_h)
        ds = (ds[list(dict.fromkeys(variables))] if variables is not None else ds).expand_dims(draw=[0])
        ds = ds.isel(draw=[0] * len(models))
        ds.attrs = {}
    return ds.assign_coords(draw=[i for i, _ in members]).rename(draw="_set")


def _assemble(parts: list[xr.Dataset], keys: list[_Key], mode: str, n: int) -> xr.Dataset:
    if len(parts) == 1:
        flat = parts[0]
    else:  # the outer join over compounds: NaN where a set's drug lacks a compound
        flat = xr.concat(parts, dim="_set", join="outer", coords="minimal", compat="override", combine_attrs="override")
    if np.any(np.diff(flat["_set"].values) < 0):
        flat = flat.sortby("_set")
    flat = flat.drop_vars("_set")
    if mode == "product":
        dims = [dimension_name(k.key) for k in keys]
        shape = [len(k.values) for k in keys]
    else:
        dims, shape = ["sample"], [n]
    variables = {}
    for name, var in flat.data_vars.items():
        rest = [d for d in var.dims if d != "_set"]
        data = var.transpose("_set", *rest).values.reshape(shape + [var.sizes[d] for d in rest])
        variables[name] = xr.Variable(dims + rest, data, var.attrs)
    coords = {name: flat[name].variable for name in flat.coords if name != "_set"}
    ds = xr.Dataset(variables, coords=coords)
    for k in keys:
        attrs = k.attrs
        scalar = all(np.ndim(v) == 0 for v in k.values)
        values = np.asarray(k.values) if scalar else np.array([json.dumps(v) for v in k.values])  # list fields
        if mode == "product":
            ds = ds.assign_coords({dimension_name(k.key): (dimension_name(k.key), values, attrs)})
        else:
            ds = ds.assign_coords({dimension_name(k.key): ("sample", values, attrs)})
    if mode == "zip":
        ds = ds.assign_coords(sample=("sample", np.arange(n), SAMPLE_ATTRS))
    order = [d for d in CANONICAL_ORDER if d in ds.dims and d not in dims]
    return ds.transpose(*dims, *order, ...)


def prepare(
    model_or_config: PruningModel | RunConfig,
    values: Mapping[str, Sequence[Any]],
    mode: str = "product",
    duration_days: float | None = None,
    output_step_h: float | None = None,
    variables: Sequence[str] | None = None,
) -> tuple[RunConfig, list[_Key]]:
    """The checks :func:`sweep` makes before it builds a set: the base run and the parsed keys.

    Used by :func:`sweep` and :mod:`sim.distributed` (which splits the sets into chunks); raises the same
    errors (:class:`ConfigError`: keys, values, zip lengths, mode, engine, ``variables``, run settings).
    """
    if isinstance(model_or_config, PruningModel):
        run = RunConfig(
            **{group: getattr(model_or_config, group) for group in GROUPS}, calibration=calibration_of(model_or_config)
        )
    elif isinstance(model_or_config, RunConfig):
        run = model_or_config
    else:
        raise TypeError(f"sweep() takes a PruningModel or a RunConfig, not {type(model_or_config).__name__}")
    settings = {"duration_days": duration_days, "output_step_h": output_step_h}
    run = dataclasses.replace(run, **{key: value for key, value in settings.items() if value is not None})
    check_run_settings(run.duration_days, run.output_step_h, run.seed)
    if not isinstance(run.engine, OdeEngine):
        raise ConfigError(f"engine = {type(run.engine).__name__} is not allowed in a sweep: use the ODE engine")
    if mode not in MODES:
        raise ConfigError(f"mode = {mode!r} is not allowed: choose one of {', '.join(MODES)}")
    if not isinstance(values, Mapping) or not values:
        raise ConfigError(f"sweep values = {values!r} are not allowed: give a non-empty {{key: [values]}} mapping")
    if variables is not None:
        output_names(variables)  # checked before anything runs
    keys = [_parse_key(run, key, column) for key, column in values.items()]
    if mode == "zip":
        _check_zip(keys)
    return run, keys


def sweep(
    model_or_config: PruningModel | RunConfig,
    values: Mapping[str, Sequence[Any]],
    *,
    mode: str = "product",
    duration_days: float | None = None,
    output_step_h: float | None = None,
    progress: bool = True,
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Simulate every set of ``values`` on top of ``model_or_config``; one Dataset (see the module docstring).

    Parameters
    ----------
    model_or_config
        The base: a :class:`~sim.model.PruningModel` (run for 70 d, hourly output, unless the keywords say
        otherwise) or a :class:`~sim.run.RunConfig` (its duration, output step and memory limit, which the keywords
        replace; its engine must be the ODE engine).
    values
        ``{key: [value, ...]}``; keys as in the module docstring.
    mode
        ``"product"`` (every combination, one dimension per key) or ``"zip"`` (the i-th value of every key, one
        dimension ``sample``; all lists the same length).
    duration_days, output_step_h
        Simulated time [d] and output spacing [h].
    progress
        Show a progress bar over the groups (only on a terminal, after 2 s).
    variables
        Names of the outputs to return (default: all of them), e.g. ``["spine_density_relative"]``: less
        memory and time for large sweeps.

    Raises
    ------
    ConfigError
        Before anything runs, for an unknown key, option or field, a value of the wrong type or refused by its
        stage, an empty value list, zip lists of different lengths, an unknown mode, a non-ODE engine, an unknown
        output name in ``variables``, or a sweep whose estimated memory exceeds the memory limit.
    """
    run, keys = prepare(model_or_config, values, mode, duration_days, output_step_h, variables)
    indices = _indices(keys, mode)
    times_h = run.times_h()

    _check_memory([(run.model(), len(indices))], run.engine, run, times_h.size)  # before building every set
    cache: dict = {}
    reprs: dict = {}
    groups: dict[tuple, list[tuple[int, PruningModel]]] = {}
    for s, index in enumerate(indices):
        model = _build(run, keys, index, cache).model()
        groups.setdefault(_batch_signature(model, reprs), []).append((s, model))
    _check_memory([(m[0][1], len(m)) for m in groups.values()], run.engine, run, times_h.size)
    checked = {}
    for members in groups.values():
        checked.update(check_run(members[0][1], run.engine, run.duration_days, times_h.size, math.inf,
                                 dose_limit=library.max_daily_dose))  # fmt: skip

    from tqdm.auto import tqdm  # imported on use: `import sim` stays light

    engine = BatchEngine()
    bar = tqdm(groups.values(), desc="sweep", unit="group", delay=2.0, disable=not (progress and sys.stderr.isatty()))
    parts = [_run_group(members, times_h, engine, variables) for members in bar]
    ds = _assemble(parts, keys, mode, len(indices))
    spec = {
        "sweep_mode": mode,
        "sweep_keys": json.dumps([k.key for k in keys]),
        "sweep_values": json.dumps({k.key: list(k.values) for k in keys}),
        "sweep_sets": len(indices),
        "sweep_groups": len(groups),
        "experiment": run.name,
        **calibration_attributes(run.calibration),
        **checked,
    }
    return finalize(ds, config=run.to_yaml(), seed=run.seed, engine=_engine_description(engine), attrs=spec)


__all__ = ["DIMENSION_NAMES", "MODES", "dimension_name", "prepare", "sweep"]
