"""Parameter declaration and validation helpers shared by all stages.

Every stage field is declared with :func:`param`, which records its unit (pint syntax), a long name and the
source of its default value. ``docs/model.md`` is generated from this metadata (``python -m sim.docs``), so the
parameter table cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the key, the value and what is allowed."""


def param(default: Any, *, units: str, long_name: str, source: str, symbol: str = "") -> Any:
    """Declare a stage parameter with its unit, meaning and provenance.

    Parameters
    ----------
    default
        Default value (a scalar, or a list/dict via a default factory).
    units
        Unit string in pint syntax, e.g. ``"1/h"``, ``"uM"``, ``"1"`` for dimensionless.
    long_name
        Human-readable meaning.
    source
        Where the default comes from (a citation) or ``"assumption: ..."`` with the reason.
    symbol
        Symbol used in ``docs/model.md`` equations.
    """
    metadata = {"units": units, "long_name": long_name, "source": source, "symbol": symbol}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _where(obj: Any, name: str) -> str:
    prefix = getattr(obj, "_config_key", None) or type(obj).__name__
    return f"{prefix}.{name}"


def check_finite(obj: Any, *names: str) -> None:
    """Raise :class:`ConfigError` unless every named field is a finite number."""
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"{_where(obj, name)} = {value!r} is not allowed: it must be a finite number")


def check_positive(obj: Any, *names: str, allow_zero: bool = False, allow_inf: bool = False) -> None:
    """Raise :class:`ConfigError` unless every named field is a positive (or non-negative) number."""
    for name in names:
        value = getattr(obj, name)
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok_type or math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise ConfigError(
                f"{_where(obj, name)} = {value!r} is not allowed: it must be a "
                f"{'non-negative' if allow_zero else 'positive'} finite number"
            )
        if value < 0 or (value == 0 and not allow_zero):
            raise ConfigError(
                f"{_where(obj, name)} = {value!r} is not allowed: it must be {'>= 0' if allow_zero else '> 0'}"
            )


def check_fraction(obj: Any, *names: str) -> None:
    """Raise :class:`ConfigError` unless every named field lies in [0, 1]."""
    for name in names:
        value = getattr(obj, name)
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok_type or not (0.0 <= value <= 1.0):
            raise ConfigError(f"{_where(obj, name)} = {value!r} is not allowed: it must lie in [0, 1]")


def check_choice(obj: Any, name: str, allowed: Iterable[str]) -> None:
    """Raise :class:`ConfigError` unless the named field is one of ``allowed``."""
    allowed = list(allowed)
    value = getattr(obj, name)
    if value not in allowed:
        raise ConfigError(f"{_where(obj, name)} = {value!r} is not allowed: choose one of {', '.join(allowed)}")


def parameter_table(cls: type) -> list[dict[str, Any]]:
    """Return one row per documented field of a stage dataclass (name, default, units, meaning, source)."""
    rows = []
    for f in dataclasses.fields(cls):
        if "units" not in f.metadata:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        rows.append({"name": f.name, "default": default, **f.metadata})
    return rows
