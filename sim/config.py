"""Hydra structured configs: one schema per stage class, registered as ``base_<ClassName>``.

Only this module and :mod:`sim.cli` import Hydra. Each option YAML in ``sim/configs/<group>/`` extends the schema of
its stage class, so ``OmegaConf.to_object`` returns real stage objects: a typo (``microglia.c1q_gian=3``) or a
wrong type (``regimen.interval_h=abc``) fails when the config is composed, and ``__post_init__`` validation
(negative doses, stop before start, ...) runs during the conversion.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import MISSING, DictConfig, OmegaConf

from sim.core.params import ConfigError
from sim.core.stage import GROUPS, stage_classes
from sim.drug import Compound
from sim.engines import ENGINES
from sim.library import config_dir, is_calibration_path, load_calibration_file  # config_dir is defined there
from sim.pk import CompoundPK
from sim.run import RunConfig


def schemas() -> dict[str, list[type]]:
    """Config group -> the schema classes its options may extend.

    The stage registry (read when called, so a variant registered later is included), the nested compound entries
    and the engines.
    """
    return {
        **{group: list(stage_classes(group)) for group in GROUPS},
        "compound": [Compound],
        "compound_pk": [CompoundPK],
        "engine": list(ENGINES),
    }


#: The schemas at import time (for documentation; :func:`register_configs` reads the registry afresh).
SCHEMAS: dict[str, list[type]] = schemas()


def _run_schema() -> type:
    """RunConfig with every stage field typed ``Any = MISSING``: the chosen option fixes the class."""
    fields = []
    for f in dataclasses.fields(RunConfig):
        if f.name in GROUPS or f.name == "engine":
            fields.append((f.name, Any, dataclasses.field(default=MISSING)))
        elif f.default_factory is not dataclasses.MISSING:
            fields.append((f.name, f.type, dataclasses.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, f.type, dataclasses.field(default=f.default)))
    return dataclasses.make_dataclass("RunSchema", fields)


RunSchema = _run_schema()


def register_configs() -> None:
    """Store the root schema as ``base_run`` and each stage schema as ``<group>/base_<ClassName>``."""
    store = ConfigStore.instance()
    store.store(name="base_run", node=RunSchema)
    for group, classes in schemas().items():
        for cls in classes:
            store.store(group=group, name=f"base_{cls.__name__}", node=_schema(cls))


def _schema(cls: type) -> DictConfig:
    """The stage class as a schema node, with every dict field emptied.

    OmegaConf merges dicts key by key, so a non-empty default such as ``Drug.compounds = {"diazepam": ...}``
    would leak into every option that extends the schema (``drug=xbd173`` would also carry a diazepam compound,
    and its PK an extra, never-dosed diazepam state). Options list their own entries instead.
    """
    node = OmegaConf.structured(cls)
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING and isinstance(f.default_factory(), dict):
            node[f.name] = {}
    return node


def user_keys(message: str) -> str:
    """Name stage fields as the user types them: ``DosingRegimen.stop_day = ...`` -> ``regimen.stop_day = ...``.

    Compound and CompoundPK sit under ``drug.compounds.<name>`` and ``pk.compounds.<name>`` and keep their class
    name.
    """
    prefixes = {"RunConfig.": ""}
    prefixes.update(
        {
            f"{cls.__name__}.": f"{group}."
            for group, classes in schemas().items()
            for cls in classes
            if "compound" not in group
        }
    )
    for prefix, key in prefixes.items():
        if message.startswith(prefix):
            return key + message[len(prefix) :]
    return message


def to_run_config(cfg: DictConfig) -> RunConfig:
    """Convert a composed config into a validated :class:`RunConfig` of real stage objects.

    Raises :class:`~sim.core.params.ConfigError` naming the key as typed in an override.
    """
    try:
        obj = OmegaConf.to_object(cfg)
        values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(RunConfig)}
        return RunConfig(**values)
    except ConfigError as error:
        raise ConfigError(user_keys(str(error))) from None


def calibration_file_overrides(overrides: list[str]) -> list[str]:
    """Replace ``calibration=PATH`` (a ``.yaml`` file) by an option stored in Hydra's ConfigStore from that file.

    The file's content (a ``_global_`` package, plus ``calibration: <absolute path>``) then takes the place of the
    packaged calibration in the defaults list, so experiment files, ``debug=`` and ``key=value`` overrides still
    win over it and a typo in it fails in struct mode like any other. Raises ConfigError for a missing file.
    """
    result = []
    for override in overrides:
        key, equals, value = override.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]  # a quoted path
        if equals and key.strip() == "calibration" and is_calibration_path(value):
            content = load_calibration_file(value)
            name = "file_" + hashlib.sha256(content["calibration"].encode()).hexdigest()[:12]
            ConfigStore.instance().store(group="calibration", name=name, node=content, package="_global_")
            override = f"calibration={name}"
        result.append(override)
    return result


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``config.yaml`` with Hydra overrides (no run directory, no logging)."""
    register_configs()
    overrides = calibration_file_overrides(list(overrides or []))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=False)


def load_config(overrides: list[str] | None = None) -> RunConfig:
    """Compose with ``overrides`` and convert: ``sim.load_config(["drug=xbd173", "genotype=tspo_ko"])``."""
    return to_run_config(compose_config(overrides))
