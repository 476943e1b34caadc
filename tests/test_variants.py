"""A stage variant touches its own module and its config file and nothing else.

The variant below (written to a temporary module, as a user would write one) lets the TSPO agonism relax towards
its equilibrium value at a finite rate, adding one state variable. Registering it and adding
``binding/relaxing.yaml`` is all it takes for Hydra, the package-data reader, the state layout, the compiled kernel
and the readouts to use it.
"""

from __future__ import annotations

import importlib
import shutil
import sys

import numpy as np
import pytest

import sim
from sim.config import config_dir
from sim.core import stage as stage_registry

VARIANT = """
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sim.binding import EquilibriumBinding, weighted_occupancy
from sim.core.maths import stage_function, zeros
from sim.core.params import param
from sim.core.stage import register_stage


class RelaxingRecord(NamedTuple):
    tspo_affinity: np.ndarray
    tspo_efficacy: np.ndarray
    gabaa_affinity: np.ndarray
    gabaa_efficacy: np.ndarray
    tspo_present: float
    gabaa_sensitivity: float
    tspo_affinity_low: np.ndarray
    tspo_low_share: float
    rate: float


@stage_function
def relaxing_rhs(p, state, free, out):
    target = p.tspo_present * weighted_occupancy(p.tspo_affinity, p.tspo_efficacy, free)
    out[0] = p.rate * (target - state[0])
    signal = zeros(1, state[0])
    signal[0] = state[0]
    return signal


@register_stage("binding")
@dataclass
class RelaxingBinding(EquilibriumBinding):
    state_names = ("lagged_tspo_agonism",)
    rhs = staticmethod(relaxing_rhs)

    rate_per_h: float = param(1000.0, units="1/h", long_name="relaxation rate of the agonism", source="test")

    def record(self, model):
        return RelaxingRecord(*EquilibriumBinding.record(self, model), rate=self.rate_per_h)

    def initial_state(self, record=None):
        return np.zeros(1)
"""


@pytest.fixture
def variant(tmp_path, monkeypatch):
    """The variant module imported and registered (the registry is restored afterwards) and its config file."""
    for group in ("binding",):
        monkeypatch.setitem(stage_registry._REGISTRY, group, list(stage_registry._REGISTRY[group]))
    monkeypatch.setenv("SYNAPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "relaxing_binding.py").write_text(VARIANT)
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    sys.modules.pop("relaxing_binding", None)
    module = importlib.import_module("relaxing_binding")
    configs = tmp_path / "configs"
    shutil.copytree(config_dir(), configs)
    (configs / "binding" / "relaxing.yaml").write_text("defaults: [base_RelaxingBinding, _self_]\nrate_per_h: 1000.0\n")
    monkeypatch.setenv("SYNAPRUNE_CONFIG_DIR", str(configs))
    yield module
    sys.modules.pop("relaxing_binding", None)


def test_a_registered_variant_is_built_laid_out_compiled_and_simulated(variant):
    overrides = ["experiment=shi2022_high_dose", "binding=relaxing", "output_step_h=6"]
    run = sim.presets.from_overrides(overrides)
    assert type(run.binding) is variant.RelaxingBinding
    assert sim.load_config(overrides) == run  # Hydra builds the same variant from the same file
    model = run.model()
    assert "lagged_tspo_agonism" in model.state_names
    fast = sim.simulate(run)
    reference = sim.simulate(sim.presets.from_overrides(["experiment=shi2022_high_dose", "output_step_h=6"]))
    # a fast relaxation (1000 /h) is the equilibrium model; a slow one (0.02 /h) blunts the drive
    np.testing.assert_allclose(fast.spine_density_relative, reference.spine_density_relative, rtol=2e-4)
    slow_run = sim.presets.from_overrides([*overrides, "binding.rate_per_h=0.02"])
    slow = sim.simulate(slow_run)
    assert float(slow.spine_density_relative.min()) > float(reference.spine_density_relative.min()) + 1.0
    assert "binding=RelaxingBinding" in slow.attrs["model_variant"]
