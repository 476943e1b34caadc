"""Species constants and their validation."""

from __future__ import annotations

import pytest

from sim import ConfigError, Species, presets


def test_default_is_an_adult_mouse():
    species = Species()
    assert species.name == "mouse"
    assert 0.015 < species.body_weight_kg < 0.05
    assert species.tspo_binder == "high"


@pytest.mark.parametrize("kwargs", [{"body_weight_kg": 0.0}, {"body_weight_kg": -70.0}])
def test_invalid_species_name_the_key(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        Species(**kwargs)


@pytest.mark.parametrize(("binder", "share"), [("high", 0.0), ("mixed", 0.5), ("low", 1.0)])
def test_rs6971_binder_class_sets_the_share_of_low_affinity_sites(binder, share):
    assert Species(name="human", tspo_binder=binder).tspo_low_affinity_share == share


def test_unknown_binder_class_is_one_clear_line():
    with pytest.raises(ConfigError) as error:
        presets.from_overrides(["species=human", "species.tspo_binder=medium"])
    message = str(error.value)
    assert "\n" not in message
    assert "tspo_binder = 'medium' is not allowed" in message and "high, mixed, low" in message


def test_binder_classes_other_than_high_are_human_only():
    with pytest.raises(ConfigError, match=r"species\.tspo_binder = 'low' is not allowed for species 'mouse'"):
        Species(name="mouse", tspo_binder="low")
