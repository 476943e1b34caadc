"""SBML export (sim.sbml): a valid document whose independent simulation reproduces synaprune.

libRoadRunner integrates the exported rate rules and dose events on its own (CVODE, one absolute tolerance per
state); its spine densities and drug amounts must match :func:`sim.run.simulate_model` to 1e-4 relative for a
21-day high-dose run, a drug-free run with microglia depletion (whose initial state is not the intact one) and a
drinking-water run (infusion-rate events). COPASI, if python-copasi is installed, must agree as well.
"""

from __future__ import annotations

import dataclasses
import locale
from xml.etree import ElementTree

import libsbml
import numpy as np
import pytest

import sim
from sim.core.maths import stage_function
from sim.core.stage import CHAIN
from sim.microglia import microglia_rhs
from sim.sbml import NAMESPACE, main, to_sbml

roadrunner = pytest.importorskip("roadrunner")

ARMS = {
    "high_dose_21d": ["experiment=shi2022_high_dose", "duration_days=21"],
    "drug_free_plx5622": ["experiment=shi2022_plx5622_vehicle", "duration_days=21"],
    "drinking_water_10d": ["experiment=shi2022_high_dose", "regimen=drinking_water", "duration_days=10"],
    "cus_diazepam_18d": ["experiment=bollinger2020_cus_diazepam", "duration_days=18"],  # the stress stage's states
}


@pytest.fixture(scope="module", params=sorted(ARMS))
def arm(request):
    config = sim.presets.from_overrides(ARMS[request.param])
    return config, to_sbml(config)


def errors(text: str) -> list[str]:
    document = libsbml.readSBMLFromString(text)
    document.checkConsistency()
    return [
        f"{document.getError(i).getErrorId()}: {document.getError(i).getMessage()}"
        for i in range(document.getNumErrors())
        if document.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]


def state_ids(model: sim.PruningModel) -> list[str]:
    return [f"{group}_{name}" for group in CHAIN for name in getattr(model, group).state_names]


def test_document_is_valid_level_3(arm):
    _, text = arm
    document = libsbml.readSBMLFromString(text)
    assert (document.getLevel(), document.getVersion()) == (3, 2)
    assert errors(text) == []
    assert document.getModel().getTimeUnits() == "u_h"


def test_parameters_carry_units_and_their_source(arm):
    config, text = arm
    sbml = libsbml.readSBMLFromString(text).getModel()
    for p in sbml.getListOfParameters():
        assert p.isSetUnits(), p.getId()
        if p.getConstant():
            annotation = p.getAnnotationString()
            assert NAMESPACE in annotation and 'source="' in annotation, p.getId()
    # A parameter named like a stage field carries that field's source and value.
    hill = sbml.getParameter("microglia_stimulus_hill")
    field = {f.name: f for f in dataclasses.fields(config.microglia)}["stimulus_hill"]
    element = ElementTree.fromstring(hill.getAnnotationString())[0]
    assert element.get("source") == field.metadata["source"]
    assert element.get("parameter") == "MicrogliaActivation.stimulus_hill"
    assert hill.getValue() == config.microglia.stimulus_hill


def test_states_start_at_the_models_initial_state(arm):
    config, text = arm
    model = config.model()
    sbml = libsbml.readSBMLFromString(text).getModel()
    values = [sbml.getParameter(sid).getValue() for sid in state_ids(model)]
    np.testing.assert_allclose(values, model.initial_state(), rtol=1e-14, atol=0)  # 15 digits in the XML
    assert sbml.getNumRules() == len(values)


def simulate_sbml(text: str, model: sim.PruningModel, times_h: np.ndarray) -> dict[str, np.ndarray]:
    rr = roadrunner.RoadRunner(text)
    ids = state_ids(model)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = [1e-14] * len(ids)  # one per state (a scalar one fails near 874 h)
    rr.integrator.maximum_num_steps = 100000
    result = np.array(rr.simulate(times=list(times_h), selections=ids))
    return dict(zip(ids, result.T))


def test_roadrunner_reproduces_simulate_model(arm):
    config, text = arm
    model = config.model()
    times_h = np.arange(0.0, config.duration_days * 24.0 + 0.5, 1.0)
    reference = sim.simulate_model(model, times_h)
    states = simulate_sbml(text, model, times_h)

    density = states["spines_untagged_spine_density"] + states["spines_tagged_spine_density"]
    np.testing.assert_allclose(density, reference["spine_density"].values, rtol=1e-4, atol=0)
    assert np.ptp(density) > 1e-3 * density[0]  # the comparison sees dynamics, not a constant

    for i, compound in enumerate(model.pk.names):
        expected = reference["plasma_concentration"].sel(compound=compound).values * model.pk.volumes[i]
        amount = states[f"pk_amount_{compound}"]
        peak = np.max(np.abs(expected))
        np.testing.assert_allclose(amount, expected, rtol=1e-4, atol=1e-9 * peak + 1e-15, err_msg=compound)
    if "plx5622" in config.name:
        assert all(np.all(states[f"pk_amount_{c}"] == 0.0) for c in model.pk.names)
    else:
        assert np.max(states[f"pk_amount_{model.pk.dosed}"]) > 0.5  # the doses arrived


def test_cli_writes_the_document(tmp_path, capsys):
    out = tmp_path / "model.xml"
    assert main(["experiment=vehicle", "duration_days=3", "--output", str(out)]) == 0
    assert errors(out.read_text(encoding="utf-8")) == []
    assert main(["experiment=vehicle", "duration_days=3"]) == 0
    assert capsys.readouterr().out == out.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- a stage variant
@stage_function
def _microglia_with_lysosomes_rhs(p, state, upstream, out):
    """The microglia stage plus a phagolysosome pool L following activation: dL/dt = k_Q (A - L)."""
    signal = microglia_rhs(p, state[:3], upstream, out[:3])
    out[3] = p.c1q_rate * (state[0] - state[3])
    return signal


@dataclasses.dataclass
class MicrogliaWithLysosomes(sim.MicrogliaActivation):
    """A stage variant with an extra state, unknown to sim.sbml (as other stage variants will be)."""

    state_names = ("activation", "microglial_tspo", "c1q", "lysosomes")
    rhs = staticmethod(_microglia_with_lysosomes_rhs)

    def initial_state(self, record):
        return np.append(super().initial_state(record), 0.0)


def test_export_is_generic_over_the_stages_of_the_chain():
    """A chain with an extra state: the SBML rate rules, evaluated by libRoadRunner, equal PruningModel.rhs."""
    base = sim.PruningModel()
    fields = {f.name: getattr(base.microglia, f.name) for f in dataclasses.fields(base.microglia)}
    model = dataclasses.replace(base, microglia=MicrogliaWithLysosomes(**fields))
    text = to_sbml(model, duration_days=1.0)
    assert errors(text) == []
    rr = roadrunner.RoadRunner(text)
    rng = np.random.default_rng(11)
    y = rng.uniform(0.05, 2.0, len(model.state_names))  # distinct values: a swapped state would show
    ids = state_ids(model)
    assert "microglia_lysosomes" in ids
    for sid, value in zip(ids, y):
        rr[sid] = value
    named = rr.getRatesOfChangeNamedArray()
    rates = dict(zip((name.rstrip("'") for name in named.colnames), np.ravel(named)))
    np.testing.assert_allclose([rates[s] for s in ids], model.rhs(0.0, y, 0.0), rtol=1e-12, atol=1e-15)


def simulate_copasi(text: str, model: sim.PruningModel, end_h: float) -> dict[str, np.ndarray]:
    """States every hour from 0 to ``end_h`` [h] simulated by COPASI (LSODA) from the SBML text.

    COPASI sets the process locale to "C" (ASCII file encoding for every later test): it is restored afterwards.
    """
    saved = locale.setlocale(locale.LC_ALL)
    try:
        copasi = pytest.importorskip("COPASI")
    finally:
        locale.setlocale(locale.LC_ALL, saved)
    datamodel = copasi.CRootContainer.addDatamodel()
    try:
        assert datamodel.importSBMLFromString(text)
        task = datamodel.getTask("Time-Course")
        task.setMethodType(copasi.CTaskEnum.Method_deterministic)
        problem = task.getProblem()
        problem.setStepNumber(int(round(end_h)))
        problem.setDuration(float(end_h))
        problem.setTimeSeriesRequested(True)
        method = task.getMethod()
        method.getParameter("Relative Tolerance").setValue(1e-10)
        method.getParameter("Absolute Tolerance").setValue(1e-14)
        method.getParameter("Max Internal Steps").setValue(1000000)
        assert task.initialize(copasi.CCopasiTask.OUTPUT_UI)
        assert task.process(True), copasi.CCopasiMessage.getAllMessageText()
        series = task.getTimeSeries()
        column = {series.getTitle(i): i for i in range(series.getNumVariables())}
        steps = range(series.getRecordedSteps())
        return {
            f"{group}_{name}": np.array([series.getData(k, column[f"Values[{group}: {name}]"]) for k in steps])
            for group in CHAIN
            for name in getattr(model, group).state_names
        }
    finally:
        copasi.CRootContainer.removeDatamodel(datamodel)
        locale.setlocale(locale.LC_ALL, saved)


def test_copasi_reproduces_simulate_model(arm):
    config, text = arm
    if config.stress.name != "none":  # libRoadRunner reproduces this arm (test above); COPASI's integrator stops
        pytest.skip("known limitation: COPASI's LSODA fails at the 1-hour switch of the CUS window (open)")
    model = config.model()
    end_h = config.duration_days * 24.0
    states = simulate_copasi(text, model, end_h)
    reference = sim.simulate_model(model, np.arange(0.0, end_h + 0.5, 1.0))
    density = states["spines_untagged_spine_density"] + states["spines_tagged_spine_density"]
    np.testing.assert_allclose(density, reference["spine_density"].values, rtol=1e-4, atol=0)
    for i, compound in enumerate(model.pk.names):
        expected = reference["plasma_concentration"].sel(compound=compound).values * model.pk.volumes[i]
        peak = np.max(np.abs(expected))
        np.testing.assert_allclose(
            states[f"pk_amount_{compound}"], expected, rtol=1e-4, atol=1e-9 * peak + 1e-15, err_msg=compound
        )
