"""Species constants and their validation."""

from __future__ import annotations

import pytest

from sim import ConfigError, Species


def test_default_is_an_adult_mouse():
    species = Species()
    assert species.name == "mouse"
    assert 0.015 < species.body_weight_kg < 0.05


@pytest.mark.parametrize("kwargs", [{"body_weight_kg": 0.0}, {"body_weight_kg": -70.0}])
def test_invalid_species_name_the_key(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        Species(**kwargs)
