"""The ``synaprune`` command: compose a config with Hydra, simulate, write ``result.nc`` and ``timecourse.png``.

Usage: ``synaprune experiment=shi2022_high_dose drug=xbd173 genotype=tspo_ko regimen.dose_mg_per_kg=2.5``
(also ``python -m sim ...``). Every Hydra override and ``-m`` multirun works. Bad input exits with status 2 and a
message naming the key, the value and what is allowed, before any output is written.
``+animate=true`` also writes ``dendrite.gif`` (:mod:`sim.animate`); ``engine=agents`` runs the stochastic engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from sim.config import calibration_file_overrides, config_dir, register_configs, to_run_config, user_keys
from sim.core.params import ConfigError
from sim.io import check_writable, save_dataset
from sim.run import simulate

register_configs()


def _fail(message: str) -> None:
    message = user_keys(message)
    print(f"synaprune: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def _options(options) -> str:
    return ", ".join(o for o in options or () if not o.startswith("base_"))


def _omegaconf_message(error: OmegaConfBaseException) -> str:
    key = getattr(error, "full_key", None) or "?"
    detail = str(error).splitlines()[0]
    object_type = getattr(error, "object_type", None)
    if isinstance(error, (ConfigKeyError, ConfigAttributeError)) and dataclasses.is_dataclass(object_type):
        fields = ", ".join(f.name for f in dataclasses.fields(object_type))
        name = "the root config" if object_type.__name__ == "RunSchema" else object_type.__name__
        return f"{key} is not allowed: {name} has no field {key.rsplit('.', 1)[-1]!r}; fields: {fields}"
    return f"{key}: {detail}"


def _message(error: BaseException) -> str | None:
    """One-line description of a user error raised while composing or running, or None for a bug."""
    cause = error.__cause__ or error.__context__
    if isinstance(error, ConfigError):
        return str(error)
    if isinstance(error, MissingConfigException):
        group, _, option = (error.missing_cfg_file or "").rpartition("/")
        if not group:
            return str(error).splitlines()[0]
        hint = " (pk is <drug>_<species>: no kinetics for this drug in this species)" if group == "pk" else ""
        return f"{group} = {option!r} is not allowed: choose one of {_options(error.options)}{hint}"
    if isinstance(error, OverrideParseException):
        return f"cannot parse the override {error.override!r}: {error.message}"
    if isinstance(error, yaml.YAMLError) or isinstance(cause, yaml.YAMLError):
        error = error if isinstance(error, yaml.YAMLError) else cause
        mark = getattr(error, "problem_mark", None)
        where = f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else "a config file"
        return f"malformed YAML in {where}: {getattr(error, 'problem', None) or error}"
    if isinstance(error, OmegaConfBaseException):
        return _omegaconf_message(error)
    if isinstance(error, ConfigCompositionException):
        if isinstance(cause, OmegaConfBaseException):
            return _omegaconf_message(cause)
        return str(error)
    if isinstance(error, OSError) and error.filename is not None:
        return (
            f"cannot create or write {str(error.filename)!r}: {error.strerror or error} "
            "(set hydra.run.dir, or hydra.sweep.dir with -m, to a writable directory)"
        )
    return None


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
        out_dir = check_writable(hydra_cfg.runtime.output_dir)
    except ConfigError as error:
        _fail(str(error))
    try:
        ds = simulate(run, sweep=True)
    except ConfigError as error:
        _fail(str(error))
    ds.attrs["hydra_choices"] = json.dumps({k: v for k, v in hydra_cfg.runtime.choices.items() if v is not None})
    result = save_dataset(ds, Path(out_dir) / run.output_file)
    print(f"result: {result.resolve()}")
    if run.figure:
        from sim.plotting import save_timecourse

        figure = Path(out_dir) / "timecourse.png"
        save_timecourse(ds.squeeze(("dose", "withdrawal_time")), figure)
        print(f"figure: {figure.resolve()}")
    if cfg.get("animate"):  # `+animate=true`: teaching GIF of single spines (sim.animate), whatever the engine
        from sim.animate import save_dendrite_gif
        from sim.engines.agents import AgentEngine

        movie = save_dendrite_gif(
            run.model(),
            Path(out_dir) / "dendrite.gif",
            seed=run.seed,
            duration_days=run.duration_days,
            engine=run.engine if isinstance(run.engine, AgentEngine) else None,  # its microglia settings
        )
        print(f"animation: {movie.resolve()}")


def main() -> None:
    """Console-script entry point: user errors exit with status 2 and one line on stderr.

    ``HYDRA_FULL_ERROR=1`` makes Hydra re-raise composition errors (unknown option, typo, wrong type, malformed
    YAML, unwritable run directory) instead of printing a stack trace and exiting with 1; they are reported here.
    Anything else is a bug and keeps its traceback.
    """
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:  # calibration=PATH: the file becomes a calibration option in Hydra's ConfigStore (sim.config)
        sys.argv[1:] = calibration_file_overrides(sys.argv[1:])
    except ConfigError as error:
        _fail(str(error))
    try:
        _main()
    except Exception as error:
        message = _message(error)
        if message is None:
            raise
        _fail(message)


if __name__ == "__main__":
    main()
