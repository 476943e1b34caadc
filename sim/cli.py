"""The ``synaprune`` command: compose a config with Hydra, simulate, write ``result.nc`` and ``timecourse.png``.

Usage: ``synaprune experiment=shi2022_high_dose drug=xbd173 genotype=tspo_ko regimen.dose_mg_per_kg=2.5``
(also ``python -m sim ...``). Every Hydra override and ``-m`` multirun works. Bad input exits with status 2 and a
message naming the key, the value and what is allowed, before any output is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sim.config import config_dir, register_configs, to_run_config
from sim.core.params import ConfigError
from sim.io import check_writable, save_dataset
from sim.run import simulate

register_configs()


def _fail(message: str) -> None:
    print(f"synaprune: error: {message}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def _main(cfg: DictConfig) -> None:
    try:
        run = to_run_config(cfg)
    except ConfigError as error:
        _fail(str(error))
    except OmegaConfBaseException as error:
        _fail(str(error).splitlines()[0] + (f" (key: {error.full_key})" if getattr(error, "full_key", None) else ""))
    hydra_cfg = HydraConfig.get()
    try:
        out_dir = check_writable(hydra_cfg.runtime.output_dir)
    except ConfigError as error:
        _fail(str(error))
    try:
        ds = simulate(run)
    except ConfigError as error:
        _fail(str(error))
    dose = float(run.regimen.dose_per_kg(run.species.body_weight_kg))
    ds = ds.expand_dims(dose=[dose], withdrawal_time=[float(run.regimen.withdrawal_day)])
    ds["dose"].attrs.update(units="mg/kg", long_name="dose per administration")
    ds["withdrawal_time"].attrs.update(units="d", long_name="day dosing stops (inf: never withdrawn)")
    ds = ds.transpose("dose", "withdrawal_time", ..., missing_dims="ignore")
    ds.attrs["config"] = OmegaConf.to_yaml(cfg, resolve=True)
    ds.attrs["hydra_choices"] = json.dumps({k: v for k, v in hydra_cfg.runtime.choices.items() if v is not None})
    result = save_dataset(ds, Path(out_dir) / run.output_file)
    print(f"result: {result.resolve()}")
    if run.figure:
        from sim.plotting import save_timecourse

        figure = Path(out_dir) / "timecourse.png"
        save_timecourse(ds.squeeze(("dose", "withdrawal_time")), figure)
        print(f"figure: {figure.resolve()}")


def main() -> None:
    """Console-script entry point."""
    try:
        _main()
    except ConfigError as error:
        _fail(str(error))


if __name__ == "__main__":
    main()
