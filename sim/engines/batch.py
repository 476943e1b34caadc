"""Batch engine: many parameter sets of the downstream stages (microglia, spines, ...) of one model in one call.

Pharmacokinetics and binding do not depend on the parameters of the stages that follow them in
:attr:`~sim.model.PruningModel.chain`. They are integrated once (:class:`~sim.engines.ode.OdeEngine`'s segment
integrator, tight tolerances, restarted at every dose) on a fine grid, and the signal they pass on (e.g. the TSPO
agonism) is evaluated there by the upstream stages' own functions. The downstream states of all parameter sets are
then integrated in one numba kernel (adaptive Dormand-Prince 5(4), :mod:`sim.engines.batch_kernel`) that calls the
downstream stages' own ``rhs`` stage functions with their records, wired by generated code as in
:mod:`sim.core.chain`; each formula stays in its stage module. Which stages are upstream, how many states each has
and what their records hold are read from the model (Stage protocol), never written here.

Parameter sets are given as ``{config key: values}`` (e.g. ``{"microglia.activation_rate_per_h": [0.3, 0.5]}``)
for keys of downstream stages; every set is validated by its stage class, and every derived constant comes from
the stage's ``record(model)``, so a set means exactly what the same overrides mean to the ODE engine.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import xarray as xr

from sim.core.chain import _field_expression, import_generated, pack, record_layout, source_digest
from sim.core.params import ConfigError
from sim.core.results import OUTPUTS, to_dataset
from sim.core.stage import CHAIN, GROUPS
from sim.engines import batch_kernel
from sim.engines.ode import _MIN_STEP_REL, OdeEngine
from sim.model import PruningModel

#: The last chained group whose output does not depend on downstream parameters; the batch starts after it.
LAST_UPSTREAM = "tolerance"

#: Coordinate attributes of the leading dimension of a batch result.
DRAW_ATTRS = {"units": "1", "long_name": "parameter set (draw)"}


def downstream_groups(model: PruningModel) -> tuple[str, ...]:
    """Groups of ``model.chain`` integrated per parameter set (those after :data:`LAST_UPSTREAM`)."""
    return CHAIN[CHAIN.index(LAST_UPSTREAM) + 1 :]


def _split(key: str, groups: Sequence[str], model: PruningModel) -> tuple[str, str]:
    group, _, name = key.partition(".")
    if group not in groups or not name or "." in name:
        raise ConfigError(
            f"parameter {key!r} is not allowed in a batch: give '<group>.<field>' of a downstream stage "
            f"({', '.join(groups)}); upstream stages (pk, binding) are integrated once for all sets"
        )
    fields = [f.name for f in dataclasses.fields(getattr(model, group))]
    if name not in fields:
        raise ConfigError(
            f"parameter {key!r} is not allowed: {group} has no field {name!r} (fields: {', '.join(fields)})"
        )
    return group, name


def models_for(
    model: PruningModel, values: Mapping[str, Sequence[float]], invalid: str = "raise"
) -> list[PruningModel | None]:
    """One model per parameter set: ``model`` with the downstream fields of ``values`` replaced (validated).

    A set its stage class refuses raises that :class:`ConfigError` (``invalid="raise"``) or gives ``None``
    (``invalid="none"``, e.g. a sampler's proposal outside the allowed range).
    """
    groups = downstream_groups(model)
    columns = {key: np.atleast_1d(np.asarray(v, dtype=float)) for key, v in values.items()}
    sizes = {key: col.size for key, col in columns.items()}
    if len(set(sizes.values())) > 1:
        raise ConfigError(f"parameter arrays differ in length: {sizes}")
    n = next(iter(sizes.values())) if sizes else 1
    targets = {key: _split(key, groups, model) for key in columns}
    out = []
    for s in range(n):
        fields: dict[str, dict[str, float]] = {}
        for key, (group, name) in targets.items():
            fields.setdefault(group, {})[name] = float(columns[key][s])
        try:
            stages = {group: dataclasses.replace(getattr(model, group), **f) for group, f in fields.items()}
            out.append(dataclasses.replace(model, **stages) if stages else model)
        except ConfigError:
            if invalid == "raise":
                raise
            out.append(None)
    return out


# ---------------------------------------------------------------------------------------------------- kernel
#: Source of the integrator template, read once (a later edit of the file does not change a running process).
_TEMPLATE = inspect.getsource(batch_kernel)
_KERNELS: dict[tuple, object] = {}


def kernel_source(model: PruningModel) -> str:
    """Python source of the batch kernel for the stage classes of ``model``.

    The integrator template (:mod:`sim.engines.batch_kernel`) followed by two generated functions:
    ``upstream_signal(states, infusion, theta)`` evaluates the upstream stage functions at every row of ``states``
    (time x upstream state) and returns the signal they pass downstream (time x signal); ``downstream_rhs(y,
    upstream, theta, dy)`` calls the downstream stage functions in chain order.
    """
    chain = model.chain
    split = CHAIN.index(LAST_UPSTREAM) + 1
    records = model.records()
    bounds = model.bounds
    lines = [
        _TEMPLATE,
        "",
        "# ---- generated by sim.engines.batch: the model's stage functions. Do not edit; the stages are the model.",
    ]
    for i, (stage, record) in enumerate(zip(chain, records)):
        function = type(stage).rhs
        lines.append(f"from {function.__module__} import {function.__name__} as stage_{i}  # {stage.group}")
        lines.append(f"from {type(record).__module__} import {type(record).__qualname__} as record_{i}")

    def rebuild(indices: range, indent: str) -> list[str]:
        layout = record_layout([records[i] for i in indices])
        return [
            f"{indent}p_{i} = record_{i}({', '.join(_field_expression(o, s) for o, s in fields)})"
            for i, fields in zip(indices, layout)
        ]

    n_up = bounds[split]
    lines += ["", "", "@njit(cache=True)", "def upstream_signal(states, infusion, theta):"]
    lines += rebuild(range(split), "    ")
    lines += ["    dy = np.empty(states.shape[1])", "    first = True", "    out = np.empty((0, 0))"]
    lines += ["    for j in range(states.shape[0]):", "        signal = np.full(1, infusion[j])"]
    for i in range(split):
        part = f"{bounds[i]}:{bounds[i + 1]}"
        lines.append(f"        signal = stage_{i}(p_{i}, states[j, {part}], signal, dy[{part}])")
    lines += [
        "        if first:",
        "            out = np.empty((states.shape[0], signal.size))",
        "            first = False",
        "        out[j, :] = signal",
        "    return out",
        "",
        "",
        "@njit(cache=True)",
        "def downstream_rhs(y, upstream, theta, dy):",
    ]
    lines += rebuild(range(split, len(chain)), "    ")
    lines.append("    signal = upstream")
    for i in range(split, len(chain)):
        part = f"{bounds[i] - n_up}:{bounds[i + 1] - n_up}"
        lines.append(f"    signal = stage_{i}(p_{i}, y[{part}], signal, dy[{part}])  # {type(chain[i]).__name__}")
    return "\n".join(lines) + "\n"


@cache
def _load(source: str, modules: tuple[str, ...]):
    return import_generated(f"batch_{source_digest(modules, source)[:20]}", source)


def kernel(model: PruningModel):
    """The compiled batch kernel module of ``model``'s stage classes (generated once per process and layout)."""
    records = model.records()
    key = (tuple(type(s) for s in model.chain), tuple(type(r) for r in records), record_layout(records), model.bounds)
    if key not in _KERNELS:
        modules = tuple([batch_kernel.__name__] + [c.rhs.__module__ for c in key[0]] + [r.__module__ for r in key[1]])
        _KERNELS[key] = _load(kernel_source(model), modules)
    return _KERNELS[key]


# ---------------------------------------------------------------------------------------------------- upstream
@dataclass(frozen=True)
class Upstream:
    """The upstream signal of one model structure and regimen on the batch grid.

    ``signal[first[k] : first[k] + count[k] + 1]`` holds segment ``k`` (from ``breakpoints_h[k]`` to
    ``breakpoints_h[k + 1]``) on ``count[k] + 1`` evenly spaced times including both ends; ``states`` are the
    upstream states at the output times ``times_h`` (for the readouts).
    """

    breakpoints_h: np.ndarray
    first: np.ndarray
    count: np.ndarray
    signal: np.ndarray
    times_h: np.ndarray
    states: np.ndarray  # upstream state x output time


_UPSTREAM: dict[tuple, Upstream] = {}
_UPSTREAM_SIZE = 16


def upstream(model: PruningModel, times_h: np.ndarray, signal_step_h: float = 0.01) -> Upstream:
    """Integrate the upstream stages of ``model`` once and evaluate their signal every ``signal_step_h`` [h].

    Remembered per process (the last 16) by everything but the downstream stages, the times and the step; the
    result is shared, so its arrays must not be modified (they stay writeable: numba compiles read-only arrays
    separately).
    """
    times_h = np.asarray(times_h, dtype=float)
    if times_h.ndim != 1 or times_h.size == 0 or times_h[0] < 0 or np.any(np.diff(times_h) <= 0):
        raise ValueError("times_h must be a non-empty, strictly increasing 1-d array starting at or after 0 h")
    if not signal_step_h > 0:
        raise ConfigError(f"signal_step_h = {signal_step_h!r} is not allowed: it must be > 0")
    down = downstream_groups(model)
    key = (
        tuple(repr(getattr(model, group)) for group in GROUPS if group not in down),
        tuple(type(getattr(model, group)) for group in down),
        times_h.tobytes(),
        float(signal_step_h),
    )
    if key not in _UPSTREAM:
        if len(_UPSTREAM) >= _UPSTREAM_SIZE:
            _UPSTREAM.pop(next(iter(_UPSTREAM)))
        _UPSTREAM[key] = _integrate_upstream(_reference(model), times_h, float(signal_step_h))
    return _UPSTREAM[key]


def _reference(model: PruningModel) -> PruningModel:
    """``model`` with its downstream stages at their class defaults, for the upstream integration.

    The integrator's adaptive steps also see the downstream states, so the upstream signal would otherwise carry
    (at the tolerance level) the downstream parameters of whichever set was integrated first; with the defaults it
    depends only on its cache key, whatever the order of the sets, the batch or the process history.
    """
    stages = {}
    for group in downstream_groups(model):
        try:
            stages[group] = type(getattr(model, group))()
        except (TypeError, ConfigError):  # no defaults: keep the model's own stage
            continue
    return dataclasses.replace(model, **stages)


def _integrate_upstream(model: PruningModel, times_h: np.ndarray, signal_step_h: float) -> Upstream:
    sched = model.schedule(float(times_h[-1]))
    records = model.records()
    rhs = model.compiled_rhs(records)
    split = CHAIN.index(LAST_UPSTREAM) + 1
    n_up = model.bounds[split]
    module = kernel(model)
    theta_up = pack(records[:split])
    dose_into = model.pk.record(model).input_vector
    pk = model.slice("pk")
    solver = OdeEngine(rtol=1e-10, atol=1e-14)
    y = model.initial_state()
    points = sched.breakpoints_h
    first, count, blocks = [], [], []
    out_states = np.empty((n_up, times_h.size))
    row = 0
    for i, t0 in enumerate(points[:-1]):
        t1 = points[i + 1]
        if sched.bolus_umol_per_kg[i]:
            y = y.copy()
            y[pk] += dose_into * sched.bolus_umol_per_kg[i]
        n = max(1, math.ceil((t1 - t0) / signal_step_h - 1e-9))
        grid = np.linspace(t0, t1, n + 1)
        inside = times_h[(times_h >= t0) & (times_h <= t1)]
        full = np.union1d(grid, inside)
        rate = float(sched.infusion_umol_per_kg_h[i])
        tiny = _MIN_STEP_REL * max(1.0, abs(t1))  # as in OdeEngine.integrate: LSODA refuses steps this short
        if t1 - t0 > tiny:
            full[1:] = np.maximum(full[1:], t0 + tiny)  # an output time 1e-14 h after a dose moves just beyond it
            states = solver._segment(rhs, y, full, rate, t0, t1)
        else:
            states = np.repeat(y[:, None], full.size, 1)
        at_grid = np.searchsorted(full, grid)
        blocks.append(
            module.upstream_signal(np.ascontiguousarray(states[:n_up, at_grid].T), np.full(n + 1, rate), theta_up)
        )
        mask = (times_h >= t0) & ((times_h < t1) | (t1 == points[-1]))
        out_states[:, mask] = states[:n_up, np.searchsorted(full, times_h[mask])]
        first.append(row)
        count.append(n)
        row += n + 1
        y = states[:, -1]
    result = Upstream(
        breakpoints_h=np.asarray(points, dtype=float),
        first=np.asarray(first, dtype=np.int64),
        count=np.asarray(count, dtype=np.int64),
        signal=np.ascontiguousarray(np.concatenate(blocks)),
        times_h=times_h.copy(),
        states=out_states,
    )
    return result


# ---------------------------------------------------------------------------------------------------- batch
@dataclass
class BatchEngine:
    """Integrate many downstream parameter sets of one model on a shared upstream signal.

    ``rtol``/``atol`` are the tolerances of the adaptive downstream integrator; ``signal_step_h`` [h] the spacing
    of the upstream signal grid (linear interpolation between its points); ``max_step_h`` [h] the longest step
    (keeps a steady state steady to ~1e-10 instead of drifting by up to the tolerance); ``max_steps`` bounds the
    accepted steps of one set (a set that needs more, or whose states become non-finite, gives NaN).
    """

    rtol: float = 1e-7
    atol: float = 1e-10
    signal_step_h: float = 0.01
    max_step_h: float = 6.0
    max_steps: int = 2_000_000

    def integrate(
        self,
        model: PruningModel,
        times_h: np.ndarray,
        values: Mapping[str, Sequence[float]],
        shared: Upstream | None = None,
        invalid: str = "raise",
    ) -> tuple[np.ndarray, list[PruningModel | None], Upstream]:
        """Downstream states (set x state x time) at ``times_h`` [h] for every set in ``values``.

        Returns the states, the model of each set (``None`` for a set refused with ``invalid="none"``, whose states
        are NaN) and the shared upstream integration (pass it back as ``shared`` to reuse it for the same model
        structure, regimen and times; ``times_h`` is then ignored).
        """
        states, models, up, _ = self._integrate(model, times_h, values, shared, invalid)
        return states, models, up

    def _integrate(self, model, times_h, values, shared, invalid):
        """:meth:`integrate`, plus the downstream records of every set stacked (:func:`stack_records`) by group."""
        models = models_for(model, values, invalid)
        up = shared if shared is not None else upstream(model, times_h, self.signal_step_h)
        times_h = up.times_h
        split = CHAIN.index(LAST_UPSTREAM) + 1
        n_up = model.bounds[split]
        groups = CHAIN[split:]
        lead = model.depletion.lead_h > 0  # depletion is not a downstream stage: the same for every set
        y0, down = [], []
        valid = next((m for m in models if m is not None), model)
        for m in models:
            m = m or valid
            records = tuple(getattr(m, group).record(m) for group in groups)
            down.append(records)
            if lead:  # drug-free depletion before time zero moves the state: integrate it (the model's own way)
                y0.append(m.initial_state()[n_up:])
            else:  # the stages' drug-free states, as PruningModel.initial_state composes them
                y0.append(np.concatenate([getattr(m, g).initial_state(r) for g, r in zip(groups, records)]))
        theta = _pack_sets(down)
        y0 = np.ascontiguousarray(np.array(y0))
        out = np.full((len(models), y0.shape[1], times_h.size), np.nan)
        status = np.zeros(len(models), dtype=np.int64)
        kernel(model).integrate_batch(
            y0, theta, up.breakpoints_h, up.first, up.count, up.signal, times_h,
            float(self.rtol), float(self.atol), float(self.max_step_h), int(self.max_steps), out, status,
        )  # fmt: skip
        out[status != batch_kernel.OK] = np.nan
        out[[m is None for m in models]] = np.nan
        stacked = {group: stack_records([r[i] for r in down]) for i, group in enumerate(groups)}
        return out, models, up, stacked

    def simulate(
        self,
        model: PruningModel,
        times_h: np.ndarray,
        values: Mapping[str, Sequence[float]],
        shared: Upstream | None = None,
        variables: Sequence[str] | None = None,
    ) -> xr.Dataset:
        """Every output of every set as a Dataset with a leading ``draw`` dimension; the set values as variables.

        ``variables``: names of the outputs to return (default: all), e.g. ``["spine_density_relative"]``.

        The outputs of the upstream stages and the regimen (concentrations, occupancies, agonism, sedation,
        cumulative dose) are computed once and are the same for every set: their ``draw`` axis is a read-only
        broadcast view (:func:`numpy.broadcast_to`, no memory per set; copy a variable before writing into it).
        The downstream outputs are read for all sets at once by the model's own
        :meth:`~sim.model.PruningModel.downstream_readouts`, each set with its own stage records.
        """
        wanted = output_names(variables)
        states, models, up, stacked = self._integrate(model, times_h, values, shared, "raise")
        n = len(models)
        shared_outputs = model.upstream_readouts(up.times_h, up.states)  # one time course for all sets
        data = {k: np.broadcast_to(v, (n,) + v.shape) for k, v in shared_outputs.items() if k in wanted}
        agonism = shared_outputs.pop("gabaa_agonism", None)  # kept for the stress stage's neuronal activity
        down = model.downstream_readouts(states, **stacked, gabaa_agonism=agonism)
        data.update((k, v) for k, v in down.items() if k in wanted)
        if variables is not None:  # in the order asked for
            missing = [name for name in variables if name not in data]
            if missing:
                raise ConfigError(
                    f"variables = {missing!r} are not allowed with stress = {model.stress.name!r}: the stress outputs "
                    "need a stress stage (e.g. stress=cus)"
                )
            data = {name: data[name] for name in dict.fromkeys(variables)}
        ds = to_dataset(up.times_h / 24.0, data, coords={"compound": list(model.pk.names)})
        ds = ds.rename({"replicate": "draw"}) if "replicate" in ds.dims else ds
        ds = ds.assign_coords(draw=np.arange(n)).transpose("draw", ...)
        ds["draw"].attrs.update(DRAW_ATTRS)
        for key, column in values.items():
            group, name = key.split(".")
            meta = {f.name: f.metadata for f in dataclasses.fields(getattr(model, group))}[name]
            ds[key.replace(".", "__")] = xr.Variable(
                "draw", np.atleast_1d(np.asarray(column, dtype=float)),
                {"units": meta.get("units", ""), "long_name": meta.get("long_name", key), "config_key": key},
            )  # fmt: skip
        return ds

    def spine_density_relative(
        self,
        model: PruningModel,
        times_h: np.ndarray,
        values: Mapping[str, Sequence[float]],
        shared: Upstream | None = None,
        invalid: str = "raise",
    ) -> tuple[np.ndarray, Upstream]:
        """Spine density relative to baseline [percent] (set x time), read by each set's model, and the upstream.

        Sets that failed (refused with ``invalid="none"``, or not integrable) give NaN.
        """
        states, models, up, stacked = self._integrate(model, times_h, values, shared, invalid)
        out = model.downstream_readouts(states, **stacked)["spine_density_relative"]
        failed = np.array([m is None for m in models]) | ~np.all(np.isfinite(states), axis=(1, 2))
        out[failed] = np.nan
        return out, up


def _pack_sets(down: list[tuple]) -> np.ndarray:
    """The packed records (:func:`sim.core.chain.pack`) of every set, one row per set (C-contiguous)."""
    layout = record_layout(down[0])
    if all(shape == () for fields in layout for _, shape in fields):  # scalar fields only: one row per set at once
        return np.array([[value for record in records for value in record] for records in down], dtype=float)
    for records in down[1:]:
        if record_layout(records) != layout:
            raise ConfigError("parameter sets change the shape of a stage record; they cannot share one batch")
    return np.ascontiguousarray(np.array([pack(records) for records in down]))


def output_names(variables: Sequence[str] | None) -> set[str]:
    """The output names asked for as ``variables=`` (all of :data:`~sim.core.results.OUTPUTS` if ``None``).

    Raises :class:`ConfigError` for an empty list, a bare string or a name that is not an output of a batch.
    """
    if variables is None:
        return set(OUTPUTS)
    if isinstance(variables, str) or not isinstance(variables, Sequence) or not variables:
        raise ConfigError(f"variables = {variables!r} is not allowed: give a non-empty list of output names")
    unknown = [v for v in variables if v not in OUTPUTS or "replicate" in OUTPUTS[v][0]]
    if unknown:
        allowed = ", ".join(k for k, v in OUTPUTS.items() if "replicate" not in v[0])
        raise ConfigError(f"variables = {unknown!r} are not outputs of a batch: choose from {allowed}")
    return set(variables)


def stack_records(records: Sequence[tuple]) -> tuple:
    """One record (same type) for many parameter sets, to read their outputs at once.

    A field with the same value in every set keeps that value; a scalar field that differs becomes an array of
    shape (set, 1), which broadcasts against outputs of shape (set x time).
    """
    first = records[0]
    fields = {}
    for name in first._fields:
        value = getattr(first, name)
        column = np.array([getattr(r, name) for r in records], dtype=float)
        if np.all(column == column[0]):
            fields[name] = value
        elif np.ndim(value) == 0:
            fields[name] = column[:, None]
        else:
            raise ConfigError(
                f"parameter sets differ in the array field {type(first).__name__}.{name}; a batch reads only "
                "scalar fields per set"
            )
    return type(first)(**fields)


__all__ = [
    "BatchEngine",
    "Upstream",
    "downstream_groups",
    "kernel",
    "kernel_source",
    "models_for",
    "output_names",
    "stack_records",
    "upstream",
]
