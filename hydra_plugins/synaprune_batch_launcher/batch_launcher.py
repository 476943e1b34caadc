"""``hydra/launcher=batch``: a ``synaprune -m`` grid in one process through :func:`sim.sweep`; and the default sweeper.

:class:`BatchLauncher` composes the configuration once, without the swept overrides, translates the swept keys into
:func:`sim.sweep` keys (stage options such as ``drug=xbd173``, stage fields such as ``regimen.dose_mg_per_kg=5``),
runs the grid and writes one ``sweep.nc`` (every swept key a dimension) and ``sweep.png`` into ``hydra.sweep.dir``.
A key it cannot sweep in one process (``experiment``, run settings such as ``duration_days``, ``engine``) is
refused with one line before anything is written: such sweeps run as plain ``-m``, one run per job.

:class:`SynapruneSweeper` (``hydra/sweeper=synaprune``, the default in ``sim/configs/config.yaml``) is Hydra's basic
sweeper that (1) names each job folder by the job's swept overrides only (``drug=xbd173,regimen.dose_mg_per_kg=5``;
``sim.config.job_dirname``), so a re-run of the same command into the same ``hydra.sweep.dir`` finds each job's
earlier folder; (2) before any job runs, refuses a resume whose settings changed (a job folder holds a result of
another configuration), restoring ``multirun.yaml``; (3) does not compose every job beforehand for the batch
launcher, which composes the base once and checks every set itself.

Heavy imports (``sim``) happen on use: Hydra imports this module when it scans its plugins.
"""

import copy
import itertools
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, flag_override, open_dict

log = logging.getLogger(__name__)

#: Config groups that are not stages: an option changes several stages or the run settings.
_NOT_STAGES = {
    "experiment": "an experiment sets several stages and run settings at once",
    "calibration": "a calibration replaces fitted values of several stages",
    "engine": "sim.sweep runs the ODE engine only",
    "debug": "a debug option changes run settings",
}
_HINT = "use plain -m (one run per job) for this sweep"

#: ``hydra.launcher.store``: one NetCDF file written at the end, or a chunked Zarr store that resumes.
STORES = ("nc", "zarr")


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------------------------- the plan
@dataclass
class BatchPlan:
    """What one :func:`sim.sweep` call needs: the base overrides, the swept values and the mode."""

    base: list[str]  # overrides with one value over every job, as typed
    values: dict[str, list[Any]]  # swept key -> values (sorted for a product, in job order for zip)
    mode: str  # "product" (the jobs are every combination) or "zip"


def plan_batch(job_overrides: Sequence[Sequence[str]]) -> BatchPlan:
    """Split the jobs' overrides into base overrides and :func:`sim.sweep` keys; ConfigError for what cannot be swept.

    A key is swept when the jobs give it more than one value. Stage options (``drug``, ``genotype``, ``species``,
    ``regimen``, ...) and stage fields (``<group>.<field>``) are :func:`sim.sweep` keys; any other key swept
    (experiment, calibration, engine, debug, run settings such as ``duration_days`` or ``seed``, ``hydra.*``,
    additions ``+key`` and deletions ``~key``) is refused.
    """
    from sim.core.params import ConfigError
    from sim.core.stage import GROUPS

    parser, parsed = OverridesParser.create(), {}
    for line in {line for overrides in job_overrides for line in overrides}:  # each distinct override once (~3 ms)
        parsed[line] = parser.parse_override(line)
    jobs = [[parsed[line] for line in overrides] for overrides in job_overrides]
    if not jobs:
        raise ConfigError("hydra/launcher=batch got no jobs")
    order: list[str] = []
    lines: dict[str, list[str]] = {}
    typed: dict[str, dict[str, Any]] = {}
    kinds: dict[str, set] = {}
    for job in jobs:
        for override in job:
            key = override.key_or_group
            if key not in lines:
                order.append(key)
                lines[key], typed[key], kinds[key] = [], {}, set()
            text = override.get_value_element_as_str() if not override.is_delete() else "~"
            kinds[key].add(override.type)
            if text not in typed[key]:
                typed[key][text] = None if override.is_delete() else override.value()
                lines[key].append(override.input_line)
    swept = [key for key in order if len(typed[key]) > 1]
    for key in swept:
        shown = ", ".join(typed[key])
        group, dot, field = key.partition(".")
        if key.startswith("hydra"):
            reason = "hydra settings are not part of a simulation"
        elif kinds[key] != {OverrideType.CHANGE}:
            reason = "only plain key=value overrides can be swept in one process (no +key, ++key or ~key)"
        elif group in _NOT_STAGES and not dot:
            reason = _NOT_STAGES[group]
        elif group not in GROUPS:
            reason = f"{key} is a run setting, not a stage option or field (stages: {', '.join(GROUPS)})"
        elif dot and "." in field:
            reason = "nested fields (e.g. compounds of a drug) cannot be swept by sim.sweep"
        else:
            continue
        raise ConfigError(f"hydra/launcher=batch cannot sweep {key} ({shown}): {reason}; {_HINT}")
    base = [lines[key][0] for key in order if key not in swept]
    points = [tuple(_value_of(job, key) for key in swept) for job in jobs]
    values = {key: sorted(typed[key].values(), key=_sort_key) for key in swept}
    if len(points) == math.prod(len(v) for v in values.values()) and set(points) == set(
        itertools.product(*values.values())
    ):
        return BatchPlan(base, values, "product")
    return BatchPlan(base, {key: [point[i] for point in points] for i, key in enumerate(swept)}, "zip")


def _value_of(job, key: str) -> Any:
    for override in job:
        if override.key_or_group == key:
            return override.value()
    return None


def _sort_key(value: Any) -> tuple:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return (0, float(value), "") if number else (1, 0.0, str(value))


# -------------------------------------------------------------------------------------------- the launcher
class BatchLauncher(Launcher):
    """Runs every job of a ``-m`` sweep as one :func:`sim.sweep` call; writes ``sweep.nc`` and ``sweep.png``."""

    def __init__(self, store: str = "nc", scheduler: str | None = None, chunk_sets: int | None = None) -> None:
        self.store, self.scheduler, self.chunk_sets = store, scheduler, chunk_sets
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:  # noqa: D102
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def check_settings(self) -> None:
        """Refuse launcher settings that are not allowed (one line each), before anything is written."""
        from sim.core.params import ConfigError

        if self.store not in STORES:
            raise ConfigError(
                f"hydra.launcher.store = {self.store!r} is not allowed: choose one of {', '.join(STORES)}"
            )
        if self.store == "nc":
            for key, value in (("scheduler", self.scheduler), ("chunk_sets", self.chunk_sets)):
                if value is not None:
                    raise ConfigError(
                        f"hydra.launcher.{key} = {value!r} is not allowed with hydra.launcher.store = nc (one sweep.nc "
                        "written at the end): add hydra.launcher.store=zarr for a chunked store that resumes"
                    )
        chunk = self.chunk_sets
        if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
            raise ConfigError(f"hydra.launcher.chunk_sets = {chunk!r} is not allowed: give an integer >= 1")

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:  # noqa: D102
        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        self.check_settings()
        plan = plan_batch(job_overrides)
        base = self.hydra_context.config_loader.load_sweep_config(self.config, plan.base)
        with open_dict(base):
            base.hydra.job.num = initial_job_idx
        HydraConfig.instance().set_config(base)
        run_batch(base, plan, store=self.store, scheduler=self.scheduler, chunk_sets=self.chunk_sets)
        return [
            JobReturn(overrides=list(o), working_dir=str(Path.cwd()), status=JobStatus.COMPLETED, _return_value=None)
            for o in job_overrides
        ]


def run_batch(
    base: DictConfig, plan: BatchPlan, store: str = "nc", scheduler: str | None = None, chunk_sets: int | None = None
) -> Path:
    """Simulate the grid of ``plan`` on the composed ``base``; write ``sweep.nc`` (or ``sweep.zarr``) and ``sweep.png``.

    ``store="zarr"``: :func:`sim.distributed.run_sweep` writes the grid chunk by chunk (``chunk_sets`` sets each,
    ``"auto"`` when None) into ``sweep.zarr``, on the Dask scheduler ``scheduler`` (``"local"`` or an address) or in
    this process; a re-run of the same command resumes it.
    """
    from sim.config import to_run_config
    from sim.core.params import ConfigError
    from sim.engines.ode import OdeEngine
    from sim.io import JobLocked, check_writable, job_lock

    task = copy.deepcopy(base)
    with flag_override(task, ["struct", "readonly"], [False, False]):
        del task["hydra"]
    run = to_run_config(task)
    if not isinstance(run.engine, OdeEngine):
        raise ConfigError(
            f"hydra/launcher=batch cannot run engine = {run.engine.name!r}: sim.sweep runs the ODE engine; {_HINT}"
        )
    if run.animate.enabled:
        raise ConfigError(f"hydra/launcher=batch cannot write animations (animate = true); {_HINT}")
    if not plan.values:
        raise ConfigError(f"hydra/launcher=batch needs at least one key with several values (key=a,b); {_HINT}")
    out_dir = check_writable(str(base.hydra.sweep.dir))
    try:
        with job_lock(out_dir):
            if store == "zarr":
                return _write_store(base, run, plan, out_dir, scheduler, chunk_sets)
            return _write_batch(base, task, run, plan, out_dir)
    except JobLocked as locked:
        raise ConfigError(f"{locked}: another synaprune sweep writes into this hydra.sweep.dir") from None


def _write_batch(base: DictConfig, task: DictConfig, run: Any, plan: BatchPlan, out_dir: Path) -> Path:
    import sim
    from sim.config import environment_keys, environment_message, override_values
    from sim.core.params import ConfigError
    from sim.io import BATCH_FILE, OVERRIDES_ATTR, open_result, save_dataset

    path = out_dir / BATCH_FILE
    swept = json.dumps({key: [v if isinstance(v, (str, int, float, bool)) else str(v) for v in values]
                        for key, values in plan.values.items()})  # fmt: skip
    if path.is_file():  # a resume: the same sweep is complete; another one is refused
        stored = open_result(path).attrs
        if stored.get("config") == run.to_yaml() and stored.get("batch_sweep") == swept:
            print(f"synaprune: {path} is complete (same settings and grid): nothing to do")
            return path
        raise ConfigError(
            f"{path} holds a sweep with other settings or another grid: choose a new hydra.sweep.dir (nothing was "
            "overwritten)"
        )
    log.info(f"Batch launcher: {math.prod(len(v) for v in plan.values.values())} sets of {', '.join(plan.values)} "
             f"({plan.mode}) in one sim.sweep")  # fmt: skip
    ds = sim.sweep(run, plan.values, mode=plan.mode)
    ds.attrs["hydra_choices"] = json.dumps(
        {k: v for k, v in OmegaConf.to_container(base.hydra.runtime.choices).items() if v is not None}
    )
    ds.attrs[OVERRIDES_ATTR] = json.dumps(override_values(plan.base, run))
    ds.attrs["batch_sweep"] = swept
    ds.attrs["launcher"] = "batch"
    from_environment = environment_keys(task)
    if from_environment:
        print(f"synaprune: warning: {environment_message(from_environment)}", file=sys.stderr)
        ds.attrs["from_environment"] = ", ".join(from_environment)
    if run.figure:  # before the result: a complete sweep.nc means everything is written
        figure = save_sweep_figure(ds, out_dir / "sweep.png")
    save_dataset(ds, path)
    print(f"result: {path.resolve()}")
    if run.figure:
        print(f"figure: {figure.resolve()}")
    return path


def _write_store(
    base: DictConfig, run: Any, plan: BatchPlan, out_dir: Path, scheduler: str | None, chunk_sets: int | None
) -> Path:
    """``sweep.zarr`` through :func:`sim.distributed.run_sweep` (resumes a store of the same sweep) and the figure."""
    from sim.distributed import open_sweep, run_sweep
    from sim.io import BATCH_STORE

    total = (
        math.prod(len(v) for v in plan.values.values())
        if plan.mode == "product"
        else len(next(iter(plan.values.values())))
    )
    where = f"on {scheduler}" if scheduler else "in this process"
    import distributed  # noqa: F401 (sets its loggers to INFO on import: quieted after it)

    logging.getLogger("distributed").setLevel(logging.WARNING)  # Hydra's INFO root would print the cluster's chatter
    log.info(f"Batch launcher: {total} sets of {', '.join(plan.values)} ({plan.mode}) into {BATCH_STORE} {where}")
    path = run_sweep(run, plan.values, mode=plan.mode, store=out_dir / BATCH_STORE,
                     chunk_sets="auto" if chunk_sets is None else chunk_sets, client=scheduler)  # fmt: skip
    print(f"result: {path.resolve()}")
    if run.figure:
        figure = save_sweep_figure(open_sweep(path), out_dir / "sweep.png")
        print(f"figure: {figure.resolve()}")
    return path


def save_sweep_figure(ds, path: Path, max_lines: int = 64) -> Path:
    """``sweep.png``: relative spine density over time, one line per set (the first ``max_lines`` sets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.plotting import save_figure

    da = ds["spine_density_relative"]
    dims = [d for d in da.dims if d != "time"]
    flat = da.stack(_set=dims) if dims else da.expand_dims(_set=[0])
    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=100)
    n = flat.sizes["_set"]
    for i in range(min(n, max_lines)):
        line = flat.isel(_set=i)
        label = ", ".join(f"{d}={_plain(line[d].item())}" for d in dims)
        ax.plot(line["time"], line, lw=1.0, label=label)
    ax.set_xlabel("time [days]")
    ax.set_ylabel(f"{da.attrs.get('long_name', da.name)} [%]")
    ax.set_title(f"{n} sets" + (f" (first {max_lines} shown)" if n > max_lines else ""), fontsize=9)
    if n <= 12:
        ax.legend(fontsize=6, frameon=False)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    return path


# --------------------------------------------------------------------------------------------- the sweeper
class _ComposeOnce:
    """Hydra's config loader, with each job's configuration composed by the sweeper's check kept for its launch.

    The basic sweeper composes every job to check it, then the launcher composes it again (~0.2 s each). A job's
    kept composition is handed out once (then composed afresh); it is not pickled to other processes (joblib).
    """

    def __init__(self, loader: Any) -> None:
        self._loader, self._kept = loader, {}

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:  # noqa: D102
        key = tuple(sweep_overrides)
        kept = self._kept.pop(key, None)
        return kept if kept is not None else self._loader.load_sweep_config(master_config, list(sweep_overrides))

    def keep(self, sweep_overrides: Sequence[str], config: DictConfig) -> None:
        """Hand ``config`` out on the next request for these overrides."""
        self._kept[tuple(sweep_overrides)] = config

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def __getstate__(self) -> dict:
        return {"_loader": self._loader, "_kept": {}}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class SynapruneSweeper(BasicSweeper):
    """Hydra's basic sweeper with job folders named by swept overrides and a resume check (module docstring)."""

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Share one composition per job between the check before the sweep and the launcher (Hydra composes twice)."""
        context = HydraContext(
            config_loader=_ComposeOnce(hydra_context.config_loader), callbacks=hydra_context.callbacks
        )
        super().setup(hydra_context=context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:  # noqa: D102
        assert self.config is not None
        overrides = OverridesParser.create().parse_overrides([*self._parse_config(), *arguments])
        fixed = [o.key_or_group for o in overrides if not o.is_sweep_override()]
        if fixed:  # job folders are named by the swept overrides only: the rest is the same for every job
            exclude = list(self.config.hydra.job.config.override_dirname.exclude_keys) + fixed
            listed = ",".join(json.dumps(key) for key in dict.fromkeys(exclude))
            with flag_override(self.config, ["struct", "readonly"], [False, False]):
                self.config.hydra.overrides.hydra.append(f"hydra.job.config.override_dirname.exclude_keys=[{listed}]")
        record = Path(str(self.config.hydra.sweep.dir)) / "multirun.yaml"
        before = record.read_bytes() if record.is_file() else None
        try:
            return super().sweep(arguments)
        except BaseException:  # a refusal (exit 2) leaves the earlier sweep's record as it was
            if before is not None and record.is_file() and record.read_bytes() != before:
                record.write_bytes(before)
            raise

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Compose every job (Hydra's check) and refuse a resume whose settings changed, before any job runs.

        The batch launcher composes the base once and checks every set itself (no per-job composition).
        """
        if isinstance(self.launcher, BatchLauncher):
            return
        from sim.config import to_run_config
        from sim.io import completed_result

        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        for num, overrides in enumerate(batch):
            job = loader.load_sweep_config(self.config, list(overrides))
            if isinstance(loader, _ComposeOnce):
                loader.keep(overrides, copy.deepcopy(job))
            with open_dict(job):
                job.hydra.job.num = num
            folder = Path(str(job.hydra.sweep.dir)) / str(OmegaConf.select(job, "hydra.sweep.subdir"))
            result = folder / str(job.output_file)
            if result.is_file():
                task = copy.deepcopy(job)
                with flag_override(task, ["struct", "readonly"], [False, False]):
                    del task["hydra"]
                completed_result(result, to_run_config(task).to_yaml())  # ConfigError if the settings changed
