"""Genotypes: receptor expression fractions and their validation."""

from __future__ import annotations

import pytest

from sim import ConfigError, Genotype
from sim.genotype import GENOTYPES


def test_wild_type_has_every_receptor():
    genotype = Genotype()
    assert genotype.name == "wt" and GENOTYPES[0] == "wt"
    assert genotype.tspo_expression == 1.0 and genotype.gabaa_bz_sensitivity == 1.0


@pytest.mark.parametrize("name", ["tspo_expression", "gabaa_bz_sensitivity"])
@pytest.mark.parametrize("value", [-0.1, 1.1])
def test_fractions_must_lie_in_unit_interval(name, value):
    with pytest.raises(ConfigError, match=name):
        Genotype(**{name: value})
