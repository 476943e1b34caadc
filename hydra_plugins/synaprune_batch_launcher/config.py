"""Structured configs of ``hydra/launcher=batch`` and ``hydra/sweeper=synaprune`` (registered in Hydra's ConfigStore)."""

from dataclasses import dataclass
from typing import Any, Dict  # noqa: UP035 (OmegaConf reads the annotations)

from hydra.core.config_store import ConfigStore

_PACKAGE = "hydra_plugins.synaprune_batch_launcher.batch_launcher"


@dataclass
class BatchLauncherConf:
    """``synaprune -m hydra/launcher=batch ...``: every job of the sweep in one process, one ``sweep.nc``."""

    _target_: str = f"{_PACKAGE}.BatchLauncher"
    store: str = "nc"  # nc: one sweep.nc written at the end; zarr: sweep.zarr chunk by chunk, resumed by a re-run
    scheduler: str | None = None  # zarr only: "local" (a LocalCluster) or a Dask scheduler address (tcp://host:8786)
    chunk_sets: int | None = None  # zarr only: parameter sets per chunk (None: sim.distributed's "auto")


@dataclass
class SynapruneSweeperConf:
    """Hydra's basic sweeper with folders named by the swept overrides and a resume check (``synaprune``'s default)."""

    _target_: str = f"{_PACKAGE}.SynapruneSweeper"
    max_batch_size: int | None = None
    params: Dict[str, str] | None = None  # noqa: UP006 (OmegaConf reads the annotation)


def _store() -> None:
    store = ConfigStore.instance()
    store.store(group="hydra/launcher", name="batch", node=BatchLauncherConf, provider="synaprune")
    store.store(group="hydra/sweeper", name="synaprune", node=SynapruneSweeperConf, provider="synaprune")


_store()

__all__: list[Any] = ["BatchLauncherConf", "SynapruneSweeperConf"]
