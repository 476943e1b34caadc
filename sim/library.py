"""The packaged configuration (``sim/configs``) read without Hydra: compose, build stage objects, default stages.

:func:`compose` reads ``config.yaml`` and the group files the way Hydra 1.3 composes them, for the features these
files use: defaults lists (``base_*`` schema entries are skipped: the stage dataclasses supply the defaults),
the ``_self_`` position (absent ``_self_`` = last, as Hydra does), ``/group@package: option`` includes,
``# @package _global_`` files, ``override /group: option`` inside experiment files, experiments that include
another experiment, and ``${drug}_${species}`` choices. Overrides are ``group=option`` (beats an experiment's
``override``, as in Hydra) and ``key.sub=value`` (applied after composition). Everything else raises
:class:`~sim.core.params.ConfigError` naming the override. The result is plain dicts, lists and scalars.

:func:`build` turns the composed dict into stage objects, converting scalars to the declared field types the way
OmegaConf does (an int for a float field becomes a float, ``"5"`` for a float field 5.0, ...);
:func:`default_stage` gives a fresh stage object of the calibrated headline arm (``experiment=shi2022_high_dose``,
mouse, diazepam, wild type, ``calibration=shi2022``).

``calibration=PATH`` (an existing ``.yaml`` file) reads a user's calibration file in the format of
``sim/configs/calibration/shi2022.yaml`` (always a ``_global_`` package) at the place of the packaged option; the
top-level key ``calibration`` holds the option name or the file's absolute path.

This module imports neither Hydra nor OmegaConf (nor :mod:`sim.run`, :mod:`sim.model`, :mod:`sim.config`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from sim.core.params import ConfigError
from sim.core.stage import GROUPS, default_class, engine_classes, stage_classes

# The class of each stage group, from the stage registry (sim.core.stage). The engine class is chosen by
# ``engine.name`` among the registered engines (sim.core.stage.engine_classes).


#: Root keys of earlier versions -> how they are spelled now (refused with this hint here and in :mod:`sim.config`).
RENAMED_KEYS = {
    "animation_fps": "animation_fps was renamed animate.fps (with animate=true)",
    "animation_frames": "animation_frames was replaced by animate.duration_s [s] (with animate=true): the GIF has "
    "animate.fps x animate.duration_s frames",
}


#: Root keys that stand for a field of a section on the command line: ``animate=true`` is ``animate.enabled=true``.
KEY_ALIASES = {"animate": "animate.enabled"}


def expand_aliases(overrides: Sequence[str]) -> list[str]:
    """``overrides`` with each :data:`KEY_ALIASES` key spelled out (``animate=true`` -> ``animate.enabled=true``).

    Only the bare key is replaced (any value, also a ``-m`` sweep ``animate=true,false``); ``+animate=...`` stays as
    it is and is refused as an added key.
    """
    result = []
    for text in overrides:
        key, equals, value = str(text).partition("=")
        result.append(f"{KEY_ALIASES[key.strip()]}={value}" if equals and key.strip() in KEY_ALIASES else text)
    return result


#: Key under which :func:`compose` records the schema class an option extends (``base_<Class>``).
SCHEMA_KEY = "_schema_"


def stage_class(group: str, schema: str | None = None) -> type:
    """The registered class of ``group`` named ``schema`` (the group's default class when None)."""
    if schema is None:
        return default_class(group)
    for cls in stage_classes(group):
        if cls.__name__ == schema:
            return cls
    names = ", ".join(cls.__name__ for cls in stage_classes(group))
    raise ConfigError(f"{group}: the option extends base_{schema}, which is not a registered {group} class ({names})")


#: The packaged calibration of the microglia and spine parameters.
HEADLINE_CALIBRATION = "shi2022"

#: Overrides of the calibrated headline arm that :func:`default_stage` builds from.
HEADLINE = (
    "experiment=shi2022_high_dose",
    "drug=diazepam",
    "species=mouse",
    "genotype=wt",
    "sex=male",
    f"calibration={HEADLINE_CALIBRATION}",
)


def config_dir() -> Path:
    """Directory holding ``config.yaml`` and the config groups (``SYNAPRUNE_CONFIG_DIR`` overrides it)."""
    env = os.environ.get("SYNAPRUNE_CONFIG_DIR")
    return Path(env) if env else _packaged_configs()


@functools.cache
def _packaged_configs() -> Path:
    return Path(str(files("sim") / "configs"))


# ---------------------------------------------------------------------------------------------------- YAML files
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml parser when available (5x faster)
    """OmegaConf's YAML dialect: ``1e-3`` is a float, no timestamps, duplicate keys are an error."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> Any:  # noqa: D102
        keys = set()
        for key_node, _ in node.value:
            if key_node.tag != yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG:
                continue
            if key_node.value in keys:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key_node.value}",
                    key_node.start_mark,
                )  # fmt: skip
            keys.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:
         [-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
        |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
        |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in _Loader.yaml_implicit_resolvers.items()
}

_HEADER = re.compile(r"^#\s*@package\s+(\S+)")


@dataclass(frozen=True)
class _File:
    header: str | None  # the ``# @package`` value
    defaults: tuple  # the raw defaults list
    content: dict  # everything else (read-only: merged by deep copy)


def _read(path: Path) -> _File:
    """Parse a config file; cached on (path, mtime, size), so an edited file is read again."""
    try:
        stat = path.stat()
    except OSError:
        raise ConfigError(f"cannot read the config file {str(path)!r}: it does not exist") from None
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _parse(path: str, mtime_ns: int, size: int) -> _File:
    text = Path(path).read_text(encoding="utf-8")
    header = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        match = _HEADER.match(stripped)
        if match:
            header = match.group(1)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError(
            f"malformed YAML in {path}, {where}: {getattr(error, 'problem', None) or error}".replace("\n", " ")
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values, not a {type(data).__name__}")
    content = {key: value for key, value in data.items() if key != "defaults"}
    defaults = data.get("defaults") or []
    if not isinstance(defaults, list):
        raise ConfigError(f"{path}: the defaults list must be a list")
    return _File(header, tuple(defaults), content)


def load_calibration_file(path: str | os.PathLike) -> dict:
    """Content of a user's calibration file (format of ``calibration/shi2022.yaml``), ``calibration`` set to its path.

    Raises :class:`ConfigError` if the file does not exist, is not a mapping, has a defaults list or declares a
    package other than ``_global_``.
    """
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise ConfigError(f"calibration = {str(path)!r} is not allowed: the file {str(resolved)!r} does not exist")
    loaded = _read(resolved)
    if loaded.defaults:
        raise ConfigError(f"calibration file {str(resolved)!r} has a defaults list, which is not supported")
    if loaded.header not in (None, "_global_"):
        raise ConfigError(f"calibration file {str(resolved)!r} must be a global package (# @package _global_)")
    return {**copy.deepcopy(loaded.content), "calibration": str(resolved)}


@functools.lru_cache(maxsize=8)
def _calibration_values(path: str) -> dict:
    content = load_calibration_file(path)
    return {group: dict(values) for group, values in content.items() if group in GROUPS and isinstance(values, dict)}


def calibration_values(value: str) -> dict[str, dict[str, Any]]:
    """The fitted stage values of a calibration (option name or file): ``{"microglia": {field: value}, ...}``."""
    if value == "none":
        return {}
    path = Path(value).expanduser() if is_calibration_path(value) else config_dir() / "calibration" / f"{value}.yaml"
    return copy.deepcopy(_calibration_values(str(path.resolve())))


def is_calibration_path(value: Any) -> bool:
    """True if a ``calibration=`` value names a file (ends in ``.yaml``/``.yml`` or contains a path separator)."""
    if not isinstance(value, str) or "," in value:
        return False
    return value.endswith((".yaml", ".yml")) or "/" in value or os.sep in value


def calibration_sha256(value: str) -> str:
    """SHA-256 (hex) of the calibration file behind ``value`` (an option name or a path); ``""`` for ``none``."""
    if value == "none":
        return ""
    path = Path(value).expanduser() if is_calibration_path(value) else config_dir() / "calibration" / f"{value}.yaml"
    if not path.is_file():
        raise ConfigError(f"calibration = {value!r} is not allowed: the file {str(path)!r} does not exist")
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Package-data file of plausible maximum daily doses (not a Hydra group; only :func:`max_daily_dose` reads it).
MAX_DAILY_DOSE_FILE = Path("limits") / "max_daily_dose.yaml"

#: Units a limit may be stated in: per kilogram of body weight (rodents) or absolute (humans).
DOSE_LIMIT_UNITS = ("mg/kg/day", "mg/day")


def max_daily_dose(drug: str, species: str) -> dict[str, Any] | None:
    """The plausible maximum daily dose of ``drug`` in ``species`` from ``limits/max_daily_dose.yaml``, or None.

    Returns ``{"value": float, "units": "mg/kg/day" | "mg/day", "basis": str, "source": str, "status": str}``; None
    when the file has no entry for the pair or the entry's value is null (such a pair is not checked). The file is
    read from :func:`config_dir` if it holds one, else from the packaged configuration.

    Raises
    ------
    ConfigError
        If the entry is malformed (value not a positive number, units not one of :data:`DOSE_LIMIT_UNITS`).
    """
    path = config_dir() / MAX_DAILY_DOSE_FILE
    if not path.is_file():
        path = _packaged_configs() / MAX_DAILY_DOSE_FILE
    entry = _read(path).content.get(drug, {})
    entry = entry.get(species) if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or entry.get("value") is None:
        return None
    value, units = entry["value"], entry.get("units")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or units not in DOSE_LIMIT_UNITS:
        raise ConfigError(
            f"{path}: {drug}.{species} must have a positive value and units one of {', '.join(DOSE_LIMIT_UNITS)}"
        )
    return {
        "value": float(value),
        "units": units,
        **{key: str(entry.get(key) or "") for key in ("basis", "source", "status")},
    }


# ---------------------------------------------------------------------------------------------------- overrides
_INT = re.compile(r"^[+-]?(0|[1-9](_?[0-9])*)$")
_DIGITS = r"[0-9](_?[0-9])*"
_FLOAT = re.compile(
    rf"^[+-]?((({_DIGITS})?\.{_DIGITS}|{_DIGITS}\.)([eE][+-]?[0-9]+)?|{_DIGITS}[eE][+-]?[0-9]+|inf|nan)$",
    re.IGNORECASE,
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")


def _split_top(text: str, override: str) -> list[str]:
    """Split at commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"cannot parse the override {override!r}: unbalanced {char!r}")
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        raise ConfigError(f"cannot parse the override {override!r}: unclosed bracket or quote")
    parts.append(text[start:])
    return parts


def parse_value(text: str, override: str = "") -> Any:
    """A value as Hydra's override grammar reads it (simple cases): numbers, inf/nan, bools, null, lists, strings."""
    override = override or text
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].replace("\\" + value[0], value[0])
    if "${" in value:
        raise ConfigError(f"the override {override!r} is not supported: interpolations (${{...}}) are not")
    if re.match(r"^[A-Za-z_]\w*\(.*\)$", value):
        raise ConfigError(f"the override {override!r} is not supported: sweep and cast functions are not")
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1]
        return [] if not inner.strip() else [parse_value(item, override) for item in _split_top(inner, override)]
    if value.startswith("{") and value.endswith("}"):
        inner, result = value[1:-1], {}
        for item in _split_top(inner, override) if inner.strip() else []:
            key, colon, rest = item.partition(":")
            if not colon or not key.strip():
                raise ConfigError(f"cannot parse the override {override!r}: {item.strip()!r} is not 'key: value'")
            result[key.strip()] = parse_value(rest, override)
        return result
    if len(_split_top(value, override)) > 1:
        raise ConfigError(f"the override {override!r} is not supported: comma-separated sweeps need `synaprune -m`")
    lower = value.lower()
    if lower == "null":
        return None
    if lower in ("true", "false"):
        return lower == "true"
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return value


@dataclass
class _Override:
    text: str
    key: str
    value: Any
    is_group: bool


def _parse_override(text: str, root: Path) -> _Override | None:
    """Split ``key=value``; None for ``hydra.*`` overrides (the hydra key is dropped anyway)."""
    key, equals, raw = text.partition("=")
    key = key.strip()
    if equals and key[:1] == "+" and key.lstrip("+"):  # as in sim.config: no key beyond the schema may be added
        bare = key.lstrip("+")
        raise ConfigError(
            f"the override {text!r} is not supported: {bare} cannot be added, only set; "
            f"write {bare}={raw.strip()} (no '+') for a field of the config"
        )
    if not equals or key[:1] in ("+", "~") or not key:
        raise ConfigError(
            f"the override {text!r} is not supported: use group=option or key.sub=value (no +, ++ or ~ prefixes)"
        )
    if key == "hydra" or key.startswith(("hydra.", "hydra/")):
        return None
    if "@" in key or "/" in key or not _KEY.match(key):
        raise ConfigError(f"the override {text!r} is not supported: {key!r} is not a group or a dotted key")
    is_group = "." not in key and (root / key).is_dir()
    return _Override(text, key, parse_value(raw, text), is_group)


# ---------------------------------------------------------------------------------------------------- compose
@dataclass
class _Entry:
    kind: str  # "self", "config", "group", "override", "schema"
    group: str = ""  # absolute group path (group entries) or config path (config entries)
    written: str = ""  # group or path as written, without a leading "/"
    package: str | None = None
    option: Any = None


@dataclass
class _State:
    root: Path  # the config directory
    choices: dict[str, Any] = field(default_factory=dict)  # override key -> option (first registration wins)
    origin: dict[str, str] = field(default_factory=dict)  # override key -> where it was registered
    used: set[str] = field(default_factory=set)
    known: dict[str, Any] = field(default_factory=dict)  # group -> final choice


def _options(group: str, root: Path | None = None) -> list[str]:
    root = root or config_dir()
    return sorted(p.stem for p in (root / group).glob("*.yaml") if not p.stem.startswith("base_"))


def _entry(item: Any, group_dir: str, where: str) -> _Entry | None:
    """One defaults-list item (``base_<Class>`` schema entries name the stage class of the option)."""
    if isinstance(item, str):
        if item == "_self_":
            return _Entry("self")
        name = item.strip()
        if name.rsplit("/", 1)[-1].startswith("base_"):
            return _Entry("schema", written=name.rsplit("/", 1)[-1][len("base_") :])
        written = name.lstrip("/")
        path = written if name.startswith("/") or not group_dir else f"{group_dir}/{name}"
        return _Entry("config", group=path, written=written)
    if isinstance(item, dict) and len(item) == 1:
        ((key, option),) = item.items()
        words = str(key).split()
        override = len(words) == 2 and words[0] == "override"
        if len(words) != 1 and not override:
            raise ConfigError(f"{where}: the defaults entry {item!r} is not supported")
        written, _, package = words[-1].partition("@")
        absolute = written.startswith("/")
        written = written.lstrip("/")
        group = written if absolute or not group_dir else f"{group_dir}/{written}"
        if group.startswith("hydra/"):
            return None  # Hydra's own groups (e.g. `override hydra/sweeper: synaprune`): no simulation settings
        if option is not None and not isinstance(option, str):
            raise ConfigError(f"{where}: the defaults entry {item!r} is not supported (one option per group)")
        return _Entry("override" if override else "group", group, written, package or None, option)
    raise ConfigError(f"{where}: the defaults entry {item!r} is not supported")


def _final_package(parent: str, package: str) -> str:
    """Hydra's package arithmetic: relative to the parent's package; ``_global_`` restarts at the root."""
    joined = package if not parent else (parent if not package else f"{parent}.{package}")
    index = joined.rfind("_global_")
    return joined if index == -1 else joined[index + len("_global_") + 1 :]


def missing_kinetics(drug: str, species: str, root: Path | None = None) -> ConfigError:
    """The one-line refusal of ``drug`` in ``species`` without a ``pk/<drug>_<species>`` file.

    Names the drugs that have kinetics in ``species`` and the species that have kinetics of ``drug`` (with their
    ``pk`` options), so the user sees both ways out.
    """
    pairs = [tuple(o.rsplit("_", 1)) for o in _options("pk", root) if "_" in o]
    drugs = sorted(d for d, s in pairs if s == species)
    have = [s for d, s in pairs if d == drug]
    where_known = (
        f"{drug} has kinetics in: {', '.join(f'{s} (pk={drug}_{s})' for s in have)}"
        if have
        else f"no species has kinetics of {drug}"
    )
    in_species = f"drugs with {species} kinetics: {', '.join(drugs)}" if drugs else f"no drug has {species} kinetics"
    return ConfigError(
        f"pk = '{drug}_{species}' is not allowed: there are no kinetics of {drug} in {species} ({in_species}; "
        f"{where_known})"
    )


def _unknown_option(group: str, option: str, state: _State, where: str) -> ConfigError:
    if group == "pk" and isinstance(state.known.get("drug"), str) and isinstance(state.known.get("species"), str):
        drug, species = state.known["drug"], state.known["species"]
        if option == f"{drug}_{species}":
            return missing_kinetics(drug, species, state.root)
    if not (state.root / group).is_dir():
        return ConfigError(f"{where}: there is no config group {group!r}")
    return ConfigError(f"{group} = {option!r} is not allowed: choose one of {', '.join(_options(group, state.root))}")


def _walk(state: _State, config_path: str, group_dir: str, package: str) -> list[tuple[str, dict]]:
    """(package, content) pairs of one config and its defaults, in merge order."""
    loaded = _read(state.root / f"{config_path}.yaml")
    where = f"{config_path}.yaml"
    entries = [e for e in (_entry(item, group_dir, where) for item in loaded.defaults) if e is not None]
    if not any(e.kind == "self" for e in entries):
        entries.append(_Entry("self"))  # Hydra 1.3: no _self_ = last (or no children at all; same merge order)
    for e in entries:
        if e.kind == "override":
            key = e.group + (f"@{e.package}" if e.package else "")
            if key not in state.choices:
                state.choices[key] = e.option
                state.origin[key] = f"override /{e.group} in {where}"
    parts: list[list[tuple[str, dict]]] = [[] for _ in entries]
    deferred = []
    for i in reversed(range(len(entries))):  # Hydra walks backwards: later entries register overrides first
        e = entries[i]
        if e.kind == "self":
            parts[i] = [(package, loaded.content)]
        elif e.kind == "schema":  # remember the class of a stage option (e.g. binding=kinetic); ignore the rest
            parts[i] = [(package, {SCHEMA_KEY: e.written})] if package in GROUPS else []
        elif e.kind == "config":
            child = _read(state.root / f"{e.group}.yaml")
            relative_dir = e.written.rpartition("/")[0].replace("/", ".")
            child_package = _final_package(package, child.header if child.header is not None else relative_dir)
            parts[i] = _walk(state, e.group, e.group.rpartition("/")[0], child_package)
        elif e.kind == "group":
            key = e.group + (f"@{e.package}" if e.package else "")
            option = e.option
            if key in state.choices:
                option = state.choices[key]
                state.used.add(key)
            if isinstance(option, str) and "${" in option:
                deferred.append((i, key, option))
                continue
            parts[i] = _group(state, e, key, option, package, where)
    for i, key, option in deferred:
        e = entries[i]

        def choice(match: re.Match) -> str:
            name = match.group(1)
            if not isinstance(state.known.get(name), str):
                raise ConfigError(f"{where}: cannot resolve ${{{name}}} in the defaults list (no choice of {name})")
            return state.known[name]

        parts[i] = _group(state, e, key, re.sub(r"\$\{([^}]*)\}", choice, option), package, where)
    return [pair for part in parts for pair in part]


def _group(state: _State, e: _Entry, key: str, option: Any, package: str, where: str) -> list[tuple[str, dict]]:
    state.known[key] = option
    if option is None:
        return []
    if e.group == "calibration" and is_calibration_path(option):
        return [("", load_calibration_file(option))]
    try:
        child = _read(state.root / e.group / f"{option}.yaml")
    except ConfigError:
        raise _unknown_option(e.group, option, state, where) from None
    own = e.package if e.package is not None else (child.header if child.header is not None else e.written)
    return _walk(state, f"{e.group}/{option}", e.group, _final_package(package, own.replace("/", ".")))


def _merge(target: dict, source: Mapping) -> None:
    """OmegaConf merge of plain data: mappings merge key by key, everything else (lists too) is replaced."""
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def merged(base: Mapping, changes: Mapping) -> dict:
    """A deep copy of ``base`` with ``changes`` merged in as :func:`compose` merges files (mappings key by key)."""
    result = copy.deepcopy(dict(base))
    _merge(result, changes)
    return result


def compose(overrides: Sequence[str] = ()) -> dict:
    """Compose ``config.yaml`` with ``overrides`` as Hydra 1.3 would, without Hydra: plain nested dicts.

    Parameters
    ----------
    overrides
        ``group=option`` (``experiment=shi2022_high_dose``, ``calibration=PATH`` to a ``.yaml`` file) and
        ``key.sub=value`` (``regimen.stop_day=14``), as on the ``synaprune`` command line.

    Returns
    -------
    dict
        The composed configuration without the ``hydra`` key; stage fields that no file sets are absent (the stage
        dataclass supplies them in :func:`build`). ``calibration`` holds the option name or the file's absolute path.

    Raises
    ------
    ConfigError
        For an unknown option (naming those that exist), an unsupported override or a malformed file.
    """
    if isinstance(overrides, str):
        raise ConfigError(f"overrides must be a list of strings, not the string {overrides!r}")
    state = _State(config_dir())
    keys: list[_Override] = []
    for text in expand_aliases(overrides):
        parsed = _parse_override(str(text), state.root)
        if parsed is None:
            continue
        if not parsed.is_group:
            keys.append(parsed)
            continue
        if parsed.value is not None and not isinstance(parsed.value, str):
            raise ConfigError(f"the override {text!r} is not supported: a group takes one option name")
        if parsed.key in state.choices:
            raise ConfigError(f"the override {text!r} repeats the group {parsed.key!r}")
        if parsed.key == "calibration" and is_calibration_path(parsed.value):
            load_calibration_file(parsed.value)  # fails early for a missing file
        state.choices[parsed.key] = parsed.value
        state.origin[parsed.key] = f"the override {text!r}"
    merges = _walk(state, "config", "", "")
    unused = [key for key in state.choices if key not in state.used]
    if unused:
        key = unused[0]
        raise ConfigError(f"{state.origin[key]} does not match a group of the defaults list")
    node: dict = {}
    for package, content in merges:
        target = node
        for part in package.split(".") if package else ():
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        _merge(target, content)
    node.pop("hydra", None)
    choice = state.known.get("calibration")
    if isinstance(choice, str):  # the option name (the packaged files also say it) or the file's absolute path
        node["calibration"] = str(Path(choice).expanduser().resolve()) if is_calibration_path(choice) else choice
    for override in keys:
        *path, last = override.key.split(".")
        target = node
        for i, part in enumerate(path):
            if part not in target:
                target[part] = {}
            if not isinstance(target[part], dict):
                where = ".".join(path[: i + 1])
                raise ConfigError(f"the override {override.text!r} is not allowed: {where} is not a mapping")
            target = target[part]
        target[last] = override.value
    return node


# ---------------------------------------------------------------------------------------------------- build
@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(tp: Any) -> str:
    names = {float: "a number", int: "an integer", bool: "a boolean (true or false)", str: "a string"}
    return names.get(tp) or "a " + (getattr(tp, "__name__", None) or str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` to the annotation ``tp`` like an OmegaConf node of that type, or raise ConfigError."""
    bad = f"{key} = {value!r} is not allowed"
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(typing.get_args(tp)):
            return None
        if len(args) != 1:
            raise ConfigError(f"{key}: union types other than Optional are not supported")
        return _coerce(value, args[0], key)
    if value is None:
        raise ConfigError(f"{bad}: it must be {_type_name(tp)} (the field is not optional)")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{bad}: it must be a mapping of {tp.__name__} fields")
        return instantiate(tp, value, key)
    if origin in (list, typing.List, Sequence):  # noqa: UP006
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{bad}: it must be a list")
        (item,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, typing.Dict, Mapping):  # noqa: UP006
        if not isinstance(value, Mapping):
            raise ConfigError(f"{bad}: it must be a mapping")
        _, item = typing.get_args(tp) or (str, Any)
        return {str(k): _coerce(v, item, f"{key}.{k}") for k, v in value.items()}
    try:
        if tp is float and type(value) in (float, int, str):
            return float(value)
        if tp is int and type(value) in (int, str):
            return int(value)
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int):
                return value != 0
            if isinstance(value, str):
                if value.lower() in ("yes", "y", "on", "true"):
                    return True
                if value.lower() in ("no", "n", "off", "false"):
                    return False
                return int(value) != 0
        if tp is str and not isinstance(value, (Mapping, list, tuple, bytes)):
            return str(value)
    except ValueError:
        pass
    if tp not in (float, int, bool, str):
        raise ConfigError(f"{key}: fields of type {tp!r} are not supported")
    raise ConfigError(f"{bad}: it must be {_type_name(tp)}")


def instantiate(cls: type, values: Mapping, key: str) -> Any:
    """A ``cls`` object from a mapping of field values, each converted to its declared type.

    ``key`` is where the mapping sits in the composed config (``"regimen"``, ``""`` for the root) and prefixes every
    error message. Dict fields that the mapping leaves out are empty, as in the Hydra schemas (``sim.config``).
    """
    if isinstance(values, cls):
        return values
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    hints = _hints(cls)
    kwargs = {}
    for name, value in values.items():
        where = f"{key}.{name}" if key else str(name)
        if name not in names:
            if not key and name in RENAMED_KEYS:
                raise ConfigError(f"{name} is not allowed: {RENAMED_KEYS[name]}")
            owner = "the root config" if not key else cls.__name__
            raise ConfigError(f"{where} is not allowed: {owner} has no field {name!r}; fields: {', '.join(names)}")
        kwargs[name] = _coerce(value, hints[name], where)
    for f in dataclasses.fields(cls):
        if f.init and f.name not in kwargs and f.default_factory is not dataclasses.MISSING:
            if isinstance(f.default_factory(), dict):
                kwargs[f.name] = {}
    try:
        return cls(**kwargs)
    except ConfigError as error:
        message = str(error)
        prefix = f"{cls.__name__}."
        if message.startswith(prefix):
            message = (f"{key}." if key else "") + message[len(prefix) :]
        raise ConfigError(message) from None


def engine_class(node: Mapping) -> type:
    """The engine class named by ``engine.name`` (the engines registered with :func:`sim.core.stage.register_engine`)."""
    names = engine_classes()
    name = node.get("name") if isinstance(node, Mapping) else None
    if name not in names:
        raise ConfigError(f"engine.name = {name!r} is not allowed: choose one of {', '.join(names)}")
    return names[name]


def build(node: Mapping) -> dict:
    """Stage objects from a composed config: ``{"drug": Drug(...), ..., "engine": OdeEngine(...), "name": ...}``.

    Every group of :data:`~sim.core.stage.GROUPS` and ``engine`` must be present; other top-level keys are copied (the caller
    checks them against the run configuration, e.g. :func:`sim.presets.experiment`).
    """
    missing = [group for group in (*GROUPS, "engine") if not isinstance(node.get(group), Mapping)]
    if missing:
        raise ConfigError(f"{missing[0]}: no option chosen (choose one of {', '.join(_options(missing[0]))})")
    out = {}
    for key, value in node.items():
        if key in GROUPS:
            values = dict(value)
            out[key] = instantiate(stage_class(key, values.pop(SCHEMA_KEY, None)), values, key)
        elif key == "engine":
            out[key] = instantiate(engine_class(value), value, key)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.lru_cache(maxsize=8)
def _headline(directory: str) -> dict:
    return compose(HEADLINE)


def default_stage(group: str) -> Any:
    """A fresh stage object of the calibrated headline arm (Shi et al. 2022 high dose, diazepam, wild-type mouse).

    The arm is composed once per process (and config directory); each call builds a new object.
    """
    node = _headline(str(config_dir()))
    if group == "engine":
        return instantiate(engine_class(node["engine"]), copy.deepcopy(node["engine"]), group)
    if group not in GROUPS:
        raise ConfigError(f"stage {group!r} is not allowed: choose one of {', '.join(GROUPS)}, engine")
    values = copy.deepcopy(node[group])
    return instantiate(stage_class(group, values.pop(SCHEMA_KEY, None)), values, group)
