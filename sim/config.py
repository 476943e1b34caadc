"""Hydra structured configs: one schema per stage class, registered as ``base_<ClassName>``.

Only this module and :mod:`sim.cli` import Hydra. Each option YAML in ``sim/configs/<group>/`` extends the schema of
its stage class, so ``OmegaConf.to_object`` returns real stage objects: a typo (``microglia.c1q_gian=3``) or a
wrong type (``regimen.interval_h=abc``) fails when the config is composed, and ``__post_init__`` validation
(negative doses, stop before start, ...) runs during the conversion. A key added with ``+`` or ``++`` that no schema
declares (``+regimen.dose_mg_per_kgg=1``) is refused by :func:`to_run_config` with the same message as a typo.

The default run directories (``sim/configs/config.yaml``) end in ``${synaprune_run_id:}``: the time to the
microsecond plus six random hex digits, drawn once per invocation (:func:`new_run_id`), so two runs started in the
same second never share a folder.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import secrets
import typing
import warnings
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from sim.core.params import ConfigError
from sim.core.stage import GROUPS, stage_classes
from sim.drug import Compound
from sim.engines import ENGINES
from sim.library import (  # config_dir is defined there
    RENAMED_KEYS,
    config_dir,
    expand_aliases,
    is_calibration_path,
    load_calibration_file,
    missing_kinetics,
)
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
    hints = typing.get_type_hints(RunConfig)  # resolved: e.g. the UncertaintySettings of RunConfig.uncertainty
    for f in dataclasses.fields(RunConfig):
        if f.name in GROUPS or f.name == "engine":
            fields.append((f.name, Any, dataclasses.field(default=MISSING)))
        elif f.default_factory is not dataclasses.MISSING:
            fields.append((f.name, hints[f.name], dataclasses.field(default_factory=f.default_factory)))
        else:
            fields.append((f.name, hints[f.name], dataclasses.field(default=f.default)))
    schema = dataclasses.make_dataclass("RunSchema", fields)
    # importable as sim.config.RunSchema: pickled by reference (joblib's cloudpickle would pickle a class of no
    # module by value and, unpickling a job's result, overwrite this class's fields with copies whose MISSING
    # sentinels are no longer dataclasses.MISSING, breaking every later composition in the process)
    schema.__module__ = __name__
    return schema


RunSchema = _run_schema()


_RUN_ID: list[str] = []


def new_run_id() -> str:
    """Draw this invocation's run id: ``YYYY-mm-dd_HH-MM-SS.ffffff_<6 random hex digits>`` (local time).

    :func:`sim.cli.main` draws one per command; ``${synaprune_run_id:}`` in ``config.yaml`` returns it.
    """
    now = datetime.datetime.now()
    _RUN_ID[:] = [f"{now:%Y-%m-%d_%H-%M-%S}.{now:%f}_{secrets.token_hex(3)}"]
    return _RUN_ID[0]


def run_id() -> str:
    """The current invocation's run id (drawn on first use)."""
    return _RUN_ID[0] if _RUN_ID else new_run_id()


#: Longest job folder name written as it is; longer ones are cut and end in a hash of the whole name.
JOB_DIRNAME_MAX = 100

_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+@-]")


def job_dirname(override_dirname: Any, num: Any = 0) -> str:
    """Folder name of one job of a ``-m`` sweep: its swept overrides, e.g. ``drug=xbd173,regimen.dose_mg_per_kg=5``.

    ``${synaprune_job_dir:${hydra.job.override_dirname},${hydra.job.num}}`` in ``config.yaml``. The name depends on
    the job's values, not on its position in the sweep, so re-running a sweep into the same ``hydra.sweep.dir``
    finds each job's earlier folder (resume). Characters unsafe in file names (``/``, spaces, quotes, brackets) become
    ``_``; a name that had such characters, or is longer than :data:`JOB_DIRNAME_MAX`, ends in ``-`` and 10 hex digits
    of the SHA-256 of the unchanged name, so two jobs never share a folder. A job without swept overrides is named
    after its number (``0``), as Hydra's default.
    """
    text = "" if override_dirname is None else str(override_dirname)
    if not text:
        return str(num)
    safe = _UNSAFE.sub("_", text)
    if safe.startswith("."):
        safe = "_" + safe[1:]
    if safe == text and len(safe) <= JOB_DIRNAME_MAX:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{safe[: JOB_DIRNAME_MAX - 11]}-{digest}"


def register_resolvers() -> None:
    """Register ``${synaprune_run_id:}`` (cached per config: every job of a sweep sees one value) and the job folders.

    ``${synaprune_job_dir:...}``: :func:`job_dirname`.
    """
    if not OmegaConf.has_resolver("synaprune_run_id"):
        OmegaConf.register_new_resolver("synaprune_run_id", run_id, use_cache=True)
    if not OmegaConf.has_resolver("synaprune_job_dir"):
        OmegaConf.register_new_resolver("synaprune_job_dir", job_dirname)


def register_configs() -> None:
    """Store the root schema as ``base_run`` and each stage schema as ``<group>/base_<ClassName>``."""
    register_resolvers()
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


def unknown_key_message(key: str, cls: type) -> str:
    """The one-line refusal of ``key`` (dotted, as typed), a field that the dataclass ``cls`` does not have."""
    if key in RENAMED_KEYS:  # a root key of an earlier version
        return f"{key} is not allowed: {RENAMED_KEYS[key]}"
    fields = ", ".join(f.name for f in dataclasses.fields(cls))
    owner = "the root config" if "." not in key else cls.__name__
    return f"{key} is not allowed: {owner} has no field {key.rsplit('.', 1)[-1]!r}; fields: {fields}"


def check_known_keys(cfg: DictConfig, where: str = "") -> None:
    """Raise :class:`ConfigError` for a key that the schema of its node does not declare.

    Struct mode already refuses ``regimen.foo=1``; ``+regimen.foo=1`` and ``++regimen.foo=1`` bypass it (Hydra adds
    the key with struct mode off) and ``OmegaConf.to_object`` would then drop the key silently.
    """
    cls = OmegaConf.get_type(cfg)
    names = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
    for key in cfg.keys():
        full = f"{where}.{key}" if where else str(key)
        if names is not None and key not in names:
            raise ConfigError(unknown_key_message(full, cls))
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_none() and not node._is_missing():
            check_known_keys(node, full)


def to_run_config(cfg: DictConfig) -> RunConfig:
    """Convert a composed config into a validated :class:`RunConfig` of real stage objects.

    Raises :class:`~sim.core.params.ConfigError` naming the key as typed in an override, also for a key that no
    schema declares (added with ``+``).
    """
    check_known_keys(cfg)
    try:
        obj = OmegaConf.to_object(cfg)
        values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(RunConfig)}
        return RunConfig(**values)
    except ConfigError as error:
        raise ConfigError(user_keys(str(error))) from None


_FROM_ENV = re.compile(r"\$\{oc\.env:\s*([^,}\s]+)")


def environment_keys(cfg: DictConfig) -> dict[str, list[str]]:
    """Keys whose value comes from an environment variable (``${oc.env:VAR}``) -> the variables' names.

    Such a value is part of the resolved config stored in the result, yet nowhere on the command line; the
    ``synaprune`` command warns about it and records the keys in the result attribute ``from_environment``.
    """
    found: dict[str, list[str]] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, f"{key}.{name}" if key else str(name))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{key}[{i}]")
        elif isinstance(node, str) and _FROM_ENV.search(node):
            found[key] = _FROM_ENV.findall(node)

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return found


def environment_message(keys: dict[str, list[str]]) -> str:
    """One line naming the keys taken from environment variables (``name from $SYNAPRUNE_NAME``)."""
    listed = ", ".join(f"{key} from ${' and $'.join(names)}" for key, names in keys.items())
    return f"values taken from environment variables (${{oc.env:...}}): {listed}; recorded in from_environment"


def override_values(lines: list[str], run: RunConfig) -> dict[str, Any]:
    """``{key: value}`` of command-line overrides, stage fields as ``run`` converted them (``5`` -> ``5.0``).

    Recorded in each result (``hydra_overrides``), so :func:`sim.io.collect` finds the swept values with their types.
    Deletions (``~key``) are left out; values other than strings, numbers and booleans are written as text.
    """
    out: dict[str, Any] = {}
    for override in OverridesParser.create().parse_overrides(list(lines)):
        if override.is_delete():
            continue
        key = override.key_or_group
        value = override.value()
        group, dot, field = key.partition(".")
        if dot and group in GROUPS and "." not in field and hasattr(getattr(run, group), field):
            value = getattr(getattr(run, group), field)
        out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return out


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


def check_repeated_groups(overrides: list[str]) -> None:
    """Refuse a config group chosen twice (``regimen=daily_oral regimen=single_dose``).

    Hydra keeps the last choice without a word, even after an option that does not exist (``experiment=typo
    experiment=vehicle``); :func:`sim.library.compose` refuses the repetition with this same message.
    """
    groups = {p.name for p in config_dir().iterdir() if p.is_dir()}
    seen: set[str] = set()
    for text in overrides:
        key, equals, _ = str(text).partition("=")
        key = key.strip().lstrip("+")
        if not equals or text.startswith("-") or key not in groups:
            continue
        if key in seen:
            raise ConfigError(f"the override {text!r} repeats the group {key!r}")
        seen.add(key)


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``config.yaml`` with Hydra overrides (no run directory, no logging)."""
    register_configs()
    check_repeated_groups(list(overrides or []))
    overrides = calibration_file_overrides(expand_aliases(overrides or []))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=False)


def load_config(overrides: list[str] | None = None) -> RunConfig:
    """Compose with ``overrides`` and convert: ``sim.load_config(["drug=xbd173", "genotype=tspo_ko"])``.

    Raises
    ------
    ConfigError
        For any input error (unknown option or key, with or without ``+``; wrong type; bad value; malformed YAML),
        with the one-line message the ``synaprune`` command prints.
    """
    try:
        cfg = compose_config(overrides)
        run = to_run_config(cfg)
        keys = environment_keys(cfg)
        if keys:
            warnings.warn(environment_message(keys), UserWarning, stacklevel=2)
        return run
    except ConfigError as error:
        raise ConfigError(user_keys(str(error))) from None
    except Exception as error:
        message = user_error(error)
        if message is None:
            raise
        raise ConfigError(" ".join(user_keys(message).split())) from None


# ------------------------------------------------------------------------------------------ one-line messages
def _options(options) -> str:
    return ", ".join(o for o in options or () if not o.startswith("base_"))


def _omegaconf_message(error: OmegaConfBaseException) -> str:
    key = getattr(error, "full_key", None) or "?"
    detail = str(error).splitlines()[0]
    object_type = getattr(error, "object_type", None)
    if isinstance(error, (ConfigKeyError, ConfigAttributeError)) and dataclasses.is_dataclass(object_type):
        return unknown_key_message(key, object_type)
    return f"{key}: {detail}"


_APPEND = re.compile(r"Could not append to config\. An item is already at '(?P<key>[^']*)'")
_REMOVE_PLUS = re.compile(r"remove \+ prefix: '(?P<fixed>[^']*)'")


def user_error(error: BaseException) -> str | None:
    """One-line description of a user error raised while composing or running, or None for a bug."""
    cause = error.__cause__ or error.__context__
    if isinstance(error, ConfigError):
        return str(error)
    if isinstance(error, MissingConfigException):
        group, _, option = (error.missing_cfg_file or "").rpartition("/")
        if not group:
            return str(error).splitlines()[0]
        if group == "pk" and "_" in option:  # pk is <drug>_<species>: no kinetics of this drug in this species
            return str(missing_kinetics(*option.rsplit("_", 1)))
        hint = ""
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
        append = _APPEND.search(str(error))
        if append:  # `+key=value` for a key the schema has: Hydra would suggest `++`; the spelling is `key=value`
            fixed = _REMOVE_PLUS.search(str(error))
            spelling = fixed["fixed"] if fixed else f"{append['key']}=..."
            return f"+{spelling} is not allowed: {append['key']} is already a config key; write {spelling} (no '+')"
        return str(error)
    if isinstance(error, OSError) and error.filename is not None:
        return (
            f"cannot create or write {str(error.filename)!r}: {error.strerror or error} "
            "(set hydra.run.dir, or hydra.sweep.dir with -m, to a writable directory)"
        )
    return None
