"""The ``synaprune`` command: compose a config with Hydra, simulate, write ``result.nc`` and ``timecourse.png``.

Usage: ``synaprune experiment=shi2022_high_dose drug=xbd173 genotype=tspo_ko regimen.dose_mg_per_kg=2.5``
(also ``python -m sim ...``). Every Hydra override and ``-m`` multirun works. Bad input exits with status 2 and a
message naming the key, the value and what is allowed, before any output is written; a run folder that Hydra
created for the refused invocation is removed again (:class:`RunDirectoryGuard`). A key that no schema declares is
refused with or without ``+``. ``animate=true`` also writes ``dendrite.gif`` (:mod:`sim.animate`; ``animate.fps``,
``animate.duration_s``, ...: :class:`sim.run.AnimationOptions`); ``engine=agents`` runs the stochastic engine;
``uncertainty=posterior`` (or ``ranges``) runs the experiment over parameter draws (:mod:`sim.uncertainty`:
dimension ``draw``, median and 5-95 % bands).

Each invocation writes into its own folder, ``outputs/<name>/<date>_<time>.<microseconds>_<6 random hex>``
(``multirun/...`` with ``-m``), unless ``hydra.run.dir`` / ``hydra.sweep.dir`` names one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sim.config import (
    _omegaconf_message,
    calibration_file_overrides,
    check_repeated_groups,
    config_dir,
    environment_keys,
    environment_message,
    expand_aliases,
    new_run_id,
    override_values,
    register_configs,
    to_run_config,
    user_error,
    user_keys,
)
from sim.core.files import atomic_path
from sim.core.params import ConfigError
from sim.io import OVERRIDES_ATTR, JobLocked, check_writable, completed_result, job_lock, save_dataset
from sim.run import simulate

register_configs()


@dataclass
class _Folder:
    """A run or sweep folder of this invocation and the folders its creation adds (none if it existed)."""

    path: Path  # absolute
    created: list[Path]  # the folder and its missing ancestors, innermost first; empty if the folder existed
    children: frozenset[str]  # names inside the folder before the run (a sweep folder that existed)
    sweep: bool


_FOLDERS: list[_Folder] = []


def _record(directory: str, sweep: bool) -> None:
    path = Path(os.path.abspath(directory))
    created, p = [], path
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    children = frozenset(c.name for c in path.iterdir()) if path.is_dir() else frozenset()
    _FOLDERS.append(_Folder(path, created, children, sweep))


class RunDirectoryGuard(Callback):
    """Hydra callback (``hydra.callbacks.run_directory`` in ``config.yaml``): note whether the run folder exists.

    Called before Hydra creates the run (or sweep) folder, so a refusal can remove exactly what this invocation
    created and never a folder the user had before.
    """

    def on_run_start(self, config: DictConfig, **kwargs) -> None:  # noqa: D102
        _record(str(OmegaConf.select(config, "hydra.run.dir")), sweep=False)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:  # noqa: D102
        _record(str(OmegaConf.select(config, "hydra.sweep.dir")), sweep=True)


def _close_logs_in(directory: Path) -> None:
    """Close the log files Hydra opened inside ``directory`` (``cli.log``) so the folder can go."""
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            name = getattr(handler, "baseFilename", None)
            if name and Path(name).is_relative_to(directory):
                handler.close()
                logger.removeHandler(handler)


def _job_dir() -> Path | None:
    if not HydraConfig.initialized():
        return None
    output = OmegaConf.select(HydraConfig.get(), "runtime.output_dir")
    return Path(output) if output else None


def _discard_folders() -> None:
    """Remove what Hydra created for this refused invocation: its run folder (or this job's folder of a sweep).

    Only folders that did not exist when the invocation started are removed (a sweep folder only if nothing but
    Hydra's ``multirun.yaml`` is left in it); empty parent folders the invocation created go too.
    """
    while _FOLDERS:
        folder = _FOLDERS.pop()
        _close_logs_in(folder.path)
        if folder.sweep:
            job = _job_dir()
            if job is not None and job.parent == folder.path and job.name not in folder.children:
                shutil.rmtree(job, ignore_errors=True)
            if not folder.created or not folder.path.is_dir():
                continue
            if {c.name for c in folder.path.iterdir()} - {"multirun.yaml"}:
                continue  # other jobs' results
        if not folder.created:
            continue
        shutil.rmtree(folder.path, ignore_errors=True)
        for parent in folder.created[1:]:
            try:
                parent.rmdir()  # only if empty: a concurrent run's folder keeps it
            except OSError:
                break


def _fail(message: str) -> None:
    message = user_keys(message)
    print(f"synaprune: error: {' '.join(message.split())}", file=sys.stderr)
    _discard_folders()
    sys.exit(2)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _main(cfg: DictConfig) -> None:
    try:
        run = to_run_config(cfg)
    except ConfigError as error:
        _fail(str(error))
    except OmegaConfBaseException as error:
        _fail(_omegaconf_message(error))
    hydra_cfg = HydraConfig.get()
    try:
        out_dir = Path(check_writable(hydra_cfg.runtime.output_dir))
    except ConfigError as error:
        _fail(str(error))
    if hydra_cfg.mode != RunMode.MULTIRUN:
        _run(cfg, run, out_dir)
        return
    try:  # a job of a sweep: one process per job folder; a complete result of the same settings is kept
        with job_lock(out_dir):
            if completed_result(out_dir / run.output_file, run.to_yaml()):
                print(f"synaprune: {out_dir.name}: complete ({run.output_file} of the same settings), skipped")
                return
            _run(cfg, run, out_dir)
    except JobLocked as locked:
        print(f"synaprune: {out_dir.name}: skipped, {locked}; re-run the sweep when it has ended", file=sys.stderr)
    except ConfigError as error:  # a resume with changed settings (sim.io.completed_result)
        _fail(str(error))


def _save_hydra_record(cfg: DictConfig, out_dir: Path) -> None:
    """Hydra's ``.hydra/`` record (config, hydra settings, overrides), written once the run is going to run.

    ``hydra.output_subdir`` is null in ``config.yaml`` so that Hydra does not rewrite the record of a complete job
    when a sweep is resumed; with another ``hydra.output_subdir`` Hydra writes it itself.
    """
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is not None:
        return
    record = out_dir / ".hydra"
    record.mkdir(exist_ok=True)
    for name, node in (("config.yaml", cfg), ("hydra.yaml", OmegaConf.create({"hydra": hydra_cfg})),
                       ("overrides.yaml", hydra_cfg.overrides.task)):  # fmt: skip
        with atomic_path(record / name) as tmp:
            OmegaConf.save(node, tmp)


def _simulate(run):
    """:func:`sim.run.simulate` of ``run``; ``scheduler=`` (agent engine) runs its chunks on a Dask client."""
    if run.scheduler is None:
        return simulate(run, sweep=True)
    import distributed  # noqa: F401 (sets its loggers to INFO on import: quieted after it)

    from sim.distributed import get_client

    logging.getLogger("distributed").setLevel(logging.WARNING)  # Hydra's INFO root would print the cluster's chatter
    client = get_client(run.scheduler)
    try:
        return simulate(run, sweep=True, client=client)
    finally:
        client.close()  # of this run's own making (and its LocalCluster)


def _run(cfg: DictConfig, run, out_dir: Path) -> None:
    """Simulate ``run`` and write its files into ``out_dir``; ``result.nc`` last, so that it marks a complete run."""
    hydra_cfg = HydraConfig.get()
    _save_hydra_record(cfg, out_dir)
    try:
        from sim.uncertainty import run_with_uncertainty, single_run_note, translated, with_run_coords

        if translated(run):  # a species other than the mouse: posterior x translation draws, exposure bridge
            ds = with_run_coords(run, run_with_uncertainty(run))
        elif run.uncertainty.method != "none":  # the run over parameter draws (dimension draw) with bands
            ds = run_with_uncertainty(run)
        else:
            ds = _simulate(run)
            ds.attrs.update(single_run_note(run))  # translation=none for another species: caveat and disclaimer
    except ConfigError as error:
        _fail(str(error))
    from_environment = environment_keys(cfg)
    if from_environment:  # part of the stored config, yet not on the command line
        print(f"synaprune: warning: {environment_message(from_environment)}", file=sys.stderr)
        ds.attrs["from_environment"] = ", ".join(from_environment)
    ds.attrs["hydra_choices"] = json.dumps({k: v for k, v in hydra_cfg.runtime.choices.items() if v is not None})
    ds.attrs[OVERRIDES_ATTR] = json.dumps(override_values(list(hydra_cfg.overrides.task), run))
    figure = out_dir / "timecourse.png"
    if run.figure:
        from sim.plotting import save_timecourse
        from sim.uncertainty import save_bands, save_single_with_disclaimer, save_translated

        if "tspo_occupancy_time" in ds:  # another species: the band beside the exposure bridge
            save_translated(ds, figure)
        elif "draw" in ds.dims:  # median and 5-95 % bands
            save_bands(ds, figure)
        elif "disclaimer" in ds.attrs:  # another species with translation=none
            save_single_with_disclaimer(ds.squeeze(("dose", "withdrawal_time")), figure)
        else:
            save_timecourse(ds.squeeze(("dose", "withdrawal_time")), figure)
    movie = None
    if run.animate.enabled:  # `animate=true`: teaching GIF of single spines (sim.animate), whatever the engine
        from sim.animate import save_run_gif

        movie = save_run_gif(run, out_dir / "dendrite.gif")
    result = save_dataset(ds, out_dir / run.output_file)
    print(f"result: {result.resolve()}")
    if run.figure:
        print(f"figure: {figure.resolve()}")
    if movie is not None:
        print(f"animation: {movie.resolve()}")


def main() -> None:
    """Console-script entry point: user errors exit with status 2 and one line on stderr.

    ``HYDRA_FULL_ERROR=1`` makes Hydra re-raise composition errors (unknown option, typo, wrong type, malformed
    YAML, unwritable run directory) instead of printing a stack trace and exiting with 1; they are reported here.
    Anything else is a bug and keeps its traceback.
    """
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    new_run_id()  # this invocation's folder name (sim.config: ${synaprune_run_id:})
    _FOLDERS.clear()
    try:  # calibration=PATH: the file becomes a calibration option in Hydra's ConfigStore (sim.config)
        check_repeated_groups(sys.argv[1:])
        sys.argv[1:] = calibration_file_overrides(expand_aliases(sys.argv[1:]))  # animate=true: animate.enabled
    except ConfigError as error:
        _fail(str(error))
    try:
        _main()
    except Exception as error:
        message = user_error(error)
        if message is None:
            raise
        _fail(message)


if __name__ == "__main__":
    main()
