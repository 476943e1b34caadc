"""Drug library entries: compounds, affinities and their validation."""

from __future__ import annotations

import math

import pytest

from sim import Compound, ConfigError, Drug


def test_defaults_mean_no_affinity():
    compound = Compound()
    assert compound.tspo_ki_nM == math.inf and compound.gabaa_ki_nM == math.inf


def test_compounds_given_as_dicts_become_dataclasses():
    drug = Drug(name="d", compounds={"d": {"tspo_ki_nM": 5.0}})
    assert isinstance(drug.compounds["d"], Compound)
    assert drug.compounds["d"].tspo_ki_nM == 5.0


def test_a_drug_needs_a_compound():
    with pytest.raises(ConfigError, match="at least the drug itself"):
        Drug(name="empty", compounds={})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"molar_mass_g_per_mol": 0.0},
        {"tspo_ki_nM": 0.0},
        {"gabaa_ki_nM": -5.0},
        {"tspo_ki_nM": math.nan},
        {"tspo_efficacy": 1.5},
        {"gabaa_efficacy": -0.1},
    ],
)
def test_invalid_compounds_name_the_key(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        Compound(**kwargs)
