"""Parameter declaration and validation helpers (sim/core/params.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sim.core.params import (
    ConfigError,
    check_choice,
    check_finite,
    check_fraction,
    check_positive,
    param,
    parameter_table,
)


@dataclasses.dataclass
class Example:
    rate_per_h: float = param(1.0, units="1/h", long_name="a rate", source="assumption: test", symbol="k")
    days: list[float] = param([1.0], units="d", long_name="some days", source="test")
    label: str = "not documented"


def test_param_records_metadata_and_copies_mutable_defaults():
    a, b = Example(), Example()
    a.days.append(2.0)
    assert b.days == [1.0]
    rows = parameter_table(Example)
    assert [row["name"] for row in rows] == ["rate_per_h", "days"]  # fields without param() are not listed
    assert rows[0] == {
        "name": "rate_per_h",
        "default": 1.0,
        "units": "1/h",
        "long_name": "a rate",
        "source": "assumption: test",
        "symbol": "k",
    }
    assert rows[1]["default"] == [1.0]


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, "3", True, None])
def test_check_positive_rejects(value):
    obj = Example(rate_per_h=value)
    with pytest.raises(ConfigError, match=r"Example\.rate_per_h = .* is not allowed"):
        check_positive(obj, "rate_per_h")


def test_check_positive_options():
    check_positive(Example(rate_per_h=0.0), "rate_per_h", allow_zero=True)
    check_positive(Example(rate_per_h=math.inf), "rate_per_h", allow_inf=True)
    with pytest.raises(ConfigError, match="> 0"):
        check_positive(Example(rate_per_h=0.0), "rate_per_h")


def test_config_key_prefix_is_used_when_set():
    obj = Example(rate_per_h=-1.0)
    obj._config_key = "stage"
    with pytest.raises(ConfigError, match=r"^stage\.rate_per_h = -1\.0"):
        check_positive(obj, "rate_per_h")


def test_other_checks():
    check_fraction(Example(rate_per_h=1.0), "rate_per_h")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        check_fraction(Example(rate_per_h=1.5), "rate_per_h")
    with pytest.raises(ConfigError, match="finite"):
        check_finite(Example(rate_per_h=math.nan), "rate_per_h")
    with pytest.raises(ConfigError, match="choose one of a, b"):
        check_choice(Example(label="c"), "label", ["a", "b"])


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
