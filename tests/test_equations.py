"""The readable stage functions are the code that runs.

* ``test_compiled_chain_matches_the_written_equations_for_every_parameter``: every numeric parameter of every stage
  is set to a distinct random value, then perturbed one at a time; the compiled kernel the ODE engine integrates
  must agree with an independent transcription of the equations in docs/model.md (``reference_rhs`` below, written
  from the dataclass fields, not from the records), and must change whenever the equations say it should. Swapping
  two parameters in a record (e.g. the TSPO and C1q half-lives) fails it.
* every stage function evaluates on sympy symbols and gives the same expressions as the reference;
* editing a stage function's source gives a new compiled kernel (the numba cache cannot serve stale code).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys

import numpy as np
import pytest
import sympy

from sim import (
    Compound,
    CompoundPK,
    DosingRegimen,
    Drug,
    EquilibriumBinding,
    Genotype,
    LinearChainPK,
    MicrogliaActivation,
    MicrogliaDepletion,
    PruningModel,
    Species,
    SpineTurnover,
)
from sim.core import chain as ode_kernel
from sim.core.stage import CHAIN

LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------- reference equations
def reference_rhs(m: PruningModel, y, infusion, *, lib=math):
    """dy/dt [per hour] transcribed from docs/model.md using only the dataclass fields of ``m``."""
    maximum = (lambda a, b: sympy.Max(a, b)) if lib is sympy else max
    pk, names = m.pk, m.pk.names
    ka = getattr(pk, f"ka_{m.regimen.route}_per_h")
    bioavailability = getattr(pk, f"bioavailability_{m.regimen.route}")
    two = [n for n in names if pk.compounds[n].peripheral_volume_l_per_kg > 0]  # peripheral states follow, in order
    depot, amounts = y[0], list(y[1 : 1 + len(names)])
    peripheral = dict(zip(two, y[1 + len(names) : 1 + len(names) + len(two)]))
    k12 = {n: pk.compounds[n].distribution_rate_per_h for n in two}
    k21 = {n: k12[n] * pk.compounds[n].volume_l_per_kg / pk.compounds[n].peripheral_volume_l_per_kg for n in two}
    beta = {n: LN2 / pk.compounds[n].half_life_h for n in names}  # terminal rate
    ke = {n: beta[n] * (k12[n] + k21[n] - beta[n]) / (k21[n] - beta[n]) if n in two else beta[n] for n in names}
    d = [-ka * depot + bioavailability * infusion]
    for i, name in enumerate(names):
        rate = -ke[name] * amounts[i] + (ka * depot if name == pk.dosed else 0)
        for precursor, fraction in pk.compounds[name].formed_from.items():
            rate += fraction * ke[precursor] * amounts[names.index(precursor)]
        if name in two:
            rate += -k12[name] * amounts[i] + k21[name] * peripheral[name]
        d.append(rate)
    for name in two:
        d.append(k12[name] * amounts[names.index(name)] - k21[name] * peripheral[name])
    free = [pk.compounds[n].free_fraction * amounts[i] / pk.compounds[n].volume_l_per_kg for i, n in enumerate(names)]
    tspo_ki = [m.drug.compounds[n].tspo_ki_by_species_nM.get(m.species.name, m.drug.compounds[n].tspo_ki_nM)
               for n in names]  # fmt: skip
    ratio = [maximum(free[i], 0) * 1e3 / (tspo_ki[i] * m.binding.tspo_ki_scale) for i in range(len(names))]
    has_tspo = 1.0 if m.genotype.tspo_expression > 0 else 0.0
    agonism = has_tspo * sum(r * m.drug.compounds[n].tspo_efficacy for r, n in zip(ratio, names)) / (1 + sum(ratio))
    dep, mg, sp = m.depletion, m.microglia, m.spines
    depleted = dep.fraction_depleted > 0
    resting = m.genotype.tspo_expression * (dep.residual_tspo_fold if depleted else 1.0)
    responsiveness = dep.residual_responsiveness if depleted else 1.0
    n = 1.0 - dep.fraction_depleted
    a, t, q, su, st = y[len(names) + len(two) + 1 :]
    drive = maximum(agonism * maximum(t, 0) ** mg.tspo_receptor_coupling * responsiveness, 0)
    s = mg.response_scale * drive**mg.stimulus_hill / (drive**mg.stimulus_hill + mg.stimulus_ec50**mg.stimulus_hill)
    d.append(mg.activation_rate_per_h * s * (1 - a) - LN2 / mg.deactivation_half_life_h * a)
    d.append(LN2 / mg.tspo_half_life_h * (resting * (1 + (mg.tspo_induction_fold - 1) * a) - t))
    d.append(LN2 / mg.c1q_half_life_h * (1 + mg.c1q_gain * a - q))
    e0, s0, phi = sp.elimination_per_day * sp.turnover_scale / 24.0, sp.baseline_density_per_um, sp.microglial_share
    e_int, k_eng = (1 - phi) * e0, 1.0 / sp.tagged_dwell_h
    st_star = phi * e0 * s0 / k_eng
    k_tag = (k_eng + e_int) * st_star / (s0 - st_star)
    f_max = e0 * s0 / (1 - sp.baseline_formation_suppression)
    homeostasis = maximum(0, 1 + sp.homeostatic_gain * (s0 - (su + st)) / s0)
    suppression = maximum(0, 1 - n * (sp.baseline_formation_suppression + sp.activated_formation_suppression * a))
    formed = f_max * homeostasis * suppression
    capacity = 1 + mg.engulfment_gain * a
    d.append(formed - k_tag * n * q * su - e_int * su)
    d.append(k_tag * n * q * su - k_eng * n * capacity * st - e_int * st)
    return d


# ---------------------------------------------------------------------------------------------- a model with distinct values
#: (stage path, field) -> what the right-hand side does with it. Readout-only fields must not change the kernel.
READOUT_ONLY = {
    ("species", "body_weight_kg"),
    ("binding", "gabaa_ki_scale"),
    ("drug.compounds.parent", "gabaa_ki_nM"),
    ("drug.compounds.parent", "gabaa_efficacy"),
    ("drug.compounds.parent", "molar_mass_g_per_mol"),
    ("drug.compounds.metabolite", "gabaa_ki_nM"),
    ("drug.compounds.metabolite", "gabaa_efficacy"),
    ("drug.compounds.metabolite", "molar_mass_g_per_mol"),
    ("pk.compounds.parent", "brain_plasma_ratio"),
    ("pk.compounds.metabolite", "brain_plasma_ratio"),
    ("genotype", "gabaa_bz_sensitivity"),
    ("pk", "ka_sc_per_h"),
    ("pk", "ka_oral_per_h"),
    ("pk", "bioavailability_sc"),
    ("pk", "bioavailability_oral"),
    ("depletion", "start_day"),
}


def distinct_model(rng: np.random.Generator) -> PruningModel:
    """Every numeric parameter a different value (fractions in (0.1, 0.9), the rest spread over decades)."""
    values = iter(rng.permutation(np.linspace(0.11, 0.89, 64)))
    spread = iter(rng.permutation(np.geomspace(0.3, 30.0, 64)))
    frac, pos = (lambda: float(next(values))), (lambda: float(next(spread)))
    drug = Drug(
        name="probe",
        compounds={
            "parent": Compound(molar_mass_g_per_mol=300 * pos(), tspo_ki_nM=100 * pos(), gabaa_ki_nM=10 * pos(),
                               tspo_efficacy=frac(), gabaa_efficacy=frac()),
            "metabolite": Compound(molar_mass_g_per_mol=250 * pos(), tspo_ki_nM=300 * pos(), gabaa_ki_nM=20 * pos(),
                                   tspo_efficacy=frac(), gabaa_efficacy=frac(),
                                   tspo_ki_by_species_nM={"other": 1e4 * pos()}),
        },
    )  # fmt: skip
    pk = LinearChainPK(
        dosed="parent",
        compounds={
            # peripheral compartments whose return rate k21 = k12 V / V2 >= 30 * 0.01 * 0.71 = 0.21 1/h exceeds the
            # terminal rate ln2 / (30 * 0.3 h * 0.71) = 0.11 1/h even after a 0.71 perturbation, as CompoundPK
            # requires (one-compartment kinetics: tests/test_pk.py)
            "parent": CompoundPK(half_life_h=30 * pos(), volume_l_per_kg=pos(), free_fraction=frac(),
                                 brain_plasma_ratio=pos(), peripheral_volume_l_per_kg=pos(),
                                 distribution_rate_per_h=100 * pos()),
            "metabolite": CompoundPK(half_life_h=30 * pos(), volume_l_per_kg=pos(), free_fraction=frac(),
                                     brain_plasma_ratio=pos(), formed_from={"parent": frac()},
                                     peripheral_volume_l_per_kg=pos(), distribution_rate_per_h=100 * pos()),
        },
        ka_ip_per_h=pos(), ka_sc_per_h=pos(), ka_oral_per_h=pos(),
        bioavailability_ip=frac(), bioavailability_sc=frac(), bioavailability_oral=frac(),
    )  # fmt: skip
    microglia = MicrogliaActivation(
        activation_rate_per_h=pos(), deactivation_half_life_h=10 * pos(), stimulus_ec50=frac(),
        stimulus_hill=1 + frac(), tspo_receptor_coupling=frac(), tspo_half_life_h=10 * pos(),
        c1q_half_life_h=10 * pos(), c1q_gain=pos(), engulfment_gain=pos(), tspo_induction_fold=2 + pos(),
        response_scale=pos(),
    )  # fmt: skip
    spines = SpineTurnover(
        baseline_density_per_um=frac(), elimination_per_day=0.1 * frac(), microglial_share=frac(),
        tagged_dwell_h=10 * frac(), homeostatic_gain=pos(), baseline_formation_suppression=frac() / 2,
        activated_formation_suppression=frac(), turnover_scale=3 * frac(),
    )  # fmt: skip
    return PruningModel(
        drug=drug,
        species=Species(name="probe", body_weight_kg=frac()),
        genotype=Genotype(name="probe", tspo_expression=frac(), gabaa_bz_sensitivity=frac()),
        regimen=DosingRegimen(route="ip", dose_mg_per_kg=1.0),
        pk=pk,
        binding=EquilibriumBinding(tspo_ki_scale=pos(), gabaa_ki_scale=pos()),
        microglia=microglia,
        depletion=MicrogliaDepletion(name="probe", fraction_depleted=frac() / 2, residual_tspo_fold=1 + frac(),
                                     residual_responsiveness=frac(), start_day=-frac()),
        spines=spines,
    )  # fmt: skip


def numeric_fields(model: PruningModel):
    """(path, field, owner) for every float parameter of the model's stages, nested compounds included."""

    def walk(path, obj):
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, float):
                yield path, f.name
            elif isinstance(value, dict):
                for key, item in value.items():
                    if dataclasses.is_dataclass(item):
                        yield from walk(f"{path}.{f.name}.{key}", item)

    for group in ("species", "genotype", "pk", "binding", "microglia", "depletion", "spines", "drug"):
        yield from walk(group, getattr(model, group))
    yield "pk.compounds.metabolite.formed_from", "parent"


def perturbed(model: PruningModel, path: str, name: str, factor: float) -> PruningModel:
    """A copy of ``model`` with one parameter multiplied by ``factor`` (fractions kept inside [0, 1])."""
    parts = path.split(".")
    if parts[-1] == "formed_from":
        owner = _get(model, parts[:-1])
        new_owner = dataclasses.replace(owner, formed_from={name: owner.formed_from[name] * factor})
        return _set(model, parts[:-1], new_owner)
    owner = _get(model, parts)
    value = getattr(owner, name) * factor
    return _set(model, parts, dataclasses.replace(owner, **{name: value}))


def _get(obj, parts):
    for part in parts:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _set(obj, parts, new):
    if not parts:
        return new
    head, rest = parts[0], parts[1:]
    if isinstance(obj, dict):
        return {**obj, head: _set(obj[head], rest, new)}
    return dataclasses.replace(obj, **{head: _set(getattr(obj, head), rest, new)})


def random_state(model: PruningModel, rng: np.random.Generator) -> np.ndarray:
    n_pk = model.n_pk
    y = np.concatenate([rng.uniform(0.5, 5.0, n_pk), rng.uniform(0.05, 0.95, 1), rng.uniform(0.5, 3.0, 2),
                        rng.uniform(0.1, 0.4, 2)])  # fmt: skip
    return y


def test_compiled_chain_matches_the_written_equations_for_every_parameter():
    rng = np.random.default_rng(8)
    base = distinct_model(rng)
    y, infusion = random_state(base, rng), 0.37
    compiled = base.compiled_rhs()(0.0, y, infusion)
    np.testing.assert_allclose(compiled, reference_rhs(base, y, infusion), rtol=1e-12, atol=1e-15)
    checked = 0
    for path, name in numeric_fields(base):
        model = perturbed(base, path, name, 0.71)  # smaller: stays inside every [0, 1] bound
        got = model.compiled_rhs()(0.0, y, infusion)
        np.testing.assert_allclose(got, reference_rhs(model, y, infusion), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{path}.{name}")  # fmt: skip
        if (path, name) in READOUT_ONLY:
            np.testing.assert_array_equal(got, compiled, err_msg=f"{path}.{name} should not enter the right-hand side")
        else:
            assert np.any(np.abs(got - compiled) > 1e-12 * np.abs(compiled).max()), f"{path}.{name} has no effect"
        checked += 1
    assert checked >= 45


def test_swapped_record_fields_are_caught():
    """The failure this test file exists for: two half-lives exchanged in the record the kernel reads."""
    rng = np.random.default_rng(3)
    model = distinct_model(rng)
    y = random_state(model, rng)
    records = list(model.records())
    i = CHAIN.index("microglia")
    records[i] = records[i]._replace(tspo_rate=records[i].c1q_rate, c1q_rate=records[i].tspo_rate)
    swapped = model.compiled_rhs(tuple(records))(0.0, y, 0.2)
    assert not np.allclose(swapped, reference_rhs(model, y, 0.2), rtol=1e-6)


def test_python_evaluation_of_the_stage_functions_equals_the_compiled_kernel():
    rng = np.random.default_rng(11)
    model = distinct_model(rng)
    for _ in range(5):
        y = random_state(model, rng)
        np.testing.assert_allclose(model.rhs(0.0, y, 0.5), model.compiled_rhs()(0.0, y, 0.5), rtol=1e-13, atol=1e-16)


# ---------------------------------------------------------------------------------------------- symbols
def symbolic_record(record: tuple, prefix: str) -> tuple:
    """The record with every scalar a sympy Symbol and every array an object array of Symbols (zeros stay 0)."""
    fields = {}
    for name, value in record._asdict().items():
        if isinstance(value, np.ndarray):
            flat = [sympy.Symbol(f"{prefix}_{name}_{i}") if v != 0 else 0 for i, v in enumerate(value.ravel())]
            fields[name] = np.array(flat, dtype=object).reshape(value.shape)
        else:
            fields[name] = sympy.Symbol(f"{prefix}_{name}")
    return type(record)(**fields)


def assert_symbolic_chain_equals_kernel(model: PruningModel, y: np.ndarray) -> None:
    """Each stage's rhs on symbols (parameters and state), numbers substituted back, equals the compiled kernel."""
    y_symbols = np.array(sympy.symbols(f"y0:{y.size}", real=True), dtype=object)
    out = np.zeros(y.size, dtype=object)
    signal = np.array([sympy.Symbol("infusion")], dtype=object)
    substitutions = {sympy.Symbol("infusion"): 0.5, **dict(zip(y_symbols, y))}
    for group, record, stage in zip(CHAIN, model.records(), model.chain):
        symbols = symbolic_record(record, group)
        for sym_value, value in zip(symbols, record):
            if isinstance(value, np.ndarray):
                substitutions.update({s: v for s, v in zip(sym_value.ravel(), value.ravel()) if s != 0})
            else:
                substitutions[sym_value] = value
        part = model.slice(group)
        signal = stage.rhs(symbols, y_symbols[part], signal, out[part])
        for expression in out[part]:
            assert isinstance(expression, sympy.Expr), f"{group}: {expression!r} is not symbolic"
    numeric = np.array([float(sympy.sympify(e).evalf(subs=substitutions)) for e in out])
    np.testing.assert_allclose(numeric, model.compiled_rhs()(0.0, y, 0.5), rtol=1e-10, atol=1e-14)


def test_every_stage_function_evaluates_on_symbols():
    """Each stage's rhs on symbols, numbers substituted back, equals the compiled kernel."""
    rng = np.random.default_rng(5)
    model = distinct_model(rng)
    assert_symbolic_chain_equals_kernel(model, random_state(model, rng))


def test_symbolic_chain_equals_the_reference_equations():
    """With numbers for parameters and symbols for the state, the Python chain and the reference agree exactly."""
    model = distinct_model(np.random.default_rng(9))
    y = np.array(sympy.symbols(f"y0:{len(model.state_names)}", positive=True), dtype=object)
    chain = model.rhs(0.0, y, sympy.Symbol("infusion", positive=True))
    reference = reference_rhs(model, y, sympy.Symbol("infusion", positive=True), lib=sympy)
    rng = np.random.default_rng(1)
    for _ in range(3):
        point = dict(zip(y, random_state(model, rng)))
        point[sympy.Symbol("infusion", positive=True)] = 0.25
        for a, b in zip(chain, reference):
            assert float(sympy.sympify(a).evalf(subs=point)) == pytest.approx(float(sympy.sympify(b).evalf(subs=point)),
                                                                               rel=1e-10, abs=1e-14)  # fmt: skip


# ---------------------------------------------------------------------------------------------- no stale kernels
STAGE_TEMPLATE = """
from typing import NamedTuple
from sim.core.maths import stage_function, zeros

class DecayRecord(NamedTuple):
    rate: float

@stage_function
def decay_rhs(p, state, upstream, out):
    out[0] = {formula}
    signal = zeros(1, state[0])
    signal[0] = state[0]
    return signal

class Decay:
    group = "probe"
    rhs = staticmethod(decay_rhs)
"""


def test_editing_a_stage_function_recompiles_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "probe_stage.py"
    results = []
    for formula in ("-p.rate * state[0] + upstream[0]", "-2.0 * p.rate * state[0] + upstream[0]"):
        source.write_text(STAGE_TEMPLATE.format(formula=formula))
        sys.modules.pop("probe_stage", None)
        importlib.invalidate_caches()
        module = importlib.import_module("probe_stage")
        rhs = ode_kernel.compile_rhs([module.Decay], [module.DecayRecord(rate=0.5)], (0, 1))
        results.append(float(rhs(0.0, np.array([2.0]), 0.25)[0]))
    assert results == [pytest.approx(-0.75), pytest.approx(-1.75)]
    assert len(list((tmp_path / "cache" / "kernels").glob("rhs_*.py"))) == 2


def test_records_are_named_tuples_read_by_name():
    """No positional parameter vectors: every record the kernel receives has named fields."""
    model = PruningModel()
    for record in model.records():
        assert isinstance(record, tuple) and record._fields, type(record)


def test_compiled_rhs_reads_strided_state_vectors_correctly():
    """solve_ivp's finite-difference Jacobian passes columns of a 2-d array: values, not memory layout, count."""
    model = distinct_model(np.random.default_rng(4))
    rhs = model.compiled_rhs()
    block = np.stack([random_state(model, np.random.default_rng(k)) for k in range(3)], axis=1)
    for k in range(3):
        column = block[:, k]
        assert not column.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(rhs(0.0, column, 0.1), rhs(0.0, column.copy(), 0.1))


def test_one_registry_feeds_the_model_the_run_config_and_the_schemas():
    from sim.config import SCHEMAS
    from sim.core.stage import GROUPS, Stage, stage_classes
    from sim.run import RunConfig

    model_fields = [f.name for f in dataclasses.fields(PruningModel)]
    assert model_fields == list(GROUPS)
    assert [f.name for f in dataclasses.fields(RunConfig)][: len(GROUPS)] == list(GROUPS)
    for group in GROUPS:
        assert SCHEMAS[group] == list(stage_classes(group))
        assert isinstance(getattr(PruningModel(), group), stage_classes(group))
    for stage in PruningModel().chain:
        assert isinstance(stage, Stage), type(stage)  # state_names, record, initial_state, rhs
        assert isinstance(stage.state_names, tuple)


def test_species_specific_tspo_ki_enters_the_kernel():
    """The TSPO Ki measured in the run's species replaces the rodent Ki (reference and kernel agree, and differ)."""
    rng = np.random.default_rng(6)
    base = distinct_model(rng)
    other = dataclasses.replace(base, species=dataclasses.replace(base.species, name="other"))
    y = random_state(base, rng)
    got_base, got_other = base.compiled_rhs()(0.0, y, 0.3), other.compiled_rhs()(0.0, y, 0.3)
    np.testing.assert_allclose(got_other, reference_rhs(other, y, 0.3), rtol=1e-12, atol=1e-15)
    assert not np.allclose(got_other, got_base, rtol=1e-9)


# ---------------------------------------------------------------------------------------------- stage variants
def variant_model(rng: np.random.Generator) -> PruningModel:
    """:func:`distinct_model` with adaptive microglia and two spine pools (new fields distinct too)."""
    from sim.microglia import AdaptiveMicroglia
    from sim.spines import TwoPoolSpines

    base = distinct_model(rng)
    mg = AdaptiveMicroglia(**{f.name: getattr(base.microglia, f.name) for f in dataclasses.fields(base.microglia)},
                           adaptation_half_life_h=37.0, adapted_response=0.23)  # fmt: skip
    sp = TwoPoolSpines(**{f.name: getattr(base.spines, f.name) for f in dataclasses.fields(base.spines)},
                       persistent_fraction=0.61, persistent_half_life_days=97.0)  # fmt: skip
    return dataclasses.replace(base, microglia=mg, spines=sp)


def reference_variant_tail(m: PruningModel, y, infusion):
    """d(activation, TSPO, C1q, adaptation, untagged, tagged, persistent)/dt transcribed from the class docstrings."""
    one_pool = dataclasses.replace(
        m, microglia=MicrogliaActivation(**{f.name: getattr(m.microglia, f.name) for f in
                                            dataclasses.fields(MicrogliaActivation)}),
        spines=SpineTurnover(**{f.name: getattr(m.spines, f.name) for f in dataclasses.fields(SpineTurnover)}),
    )  # fmt: skip
    n_pk = m.n_pk
    a, t, q, r, su, st, sp_ = y[n_pk:]
    mg, sp = m.microglia, m.spines
    # agonism from the one-pool reference: d(activation) = k_act s (1 - a) - k_deact a with s recovered from it
    base = reference_rhs(one_pool, np.concatenate([y[:n_pk], [a, t, q, su, st]]), infusion)
    k_deact = LN2 / mg.deactivation_half_life_h
    s = (base[n_pk] + k_deact * a) / (mg.activation_rate_per_h * (1 - a))
    s_eff = max(0.0, s - (1 - mg.adapted_response) * r)
    e0, p, s0, phi = (
        sp.elimination_per_day * sp.turnover_scale / 24.0,
        sp.persistent_fraction,
        sp.baseline_density_per_um,
        sp.microglial_share,
    )
    e_p = LN2 / sp.persistent_half_life_days / 24.0 * sp.turnover_scale  # all drug-free turnover scaled
    e_t = (e0 - p * e_p) / (1 - p)
    e_int, k_eng = (1 - phi) * e_t, 1.0 / sp.tagged_dwell_h
    st_star = phi * e_t * (1 - p) * s0 / k_eng
    su_star = (1 - p) * s0 - st_star
    k_tag, k_stab = (k_eng + e_int) * st_star / su_star, e_p * p * s0 / su_star
    n = 1.0 - m.depletion.fraction_depleted
    f_max = e0 * s0 / (1 - sp.baseline_formation_suppression)
    total = su + st + sp_
    formed = (
        f_max
        * max(0, 1 + sp.homeostatic_gain * (s0 - total) / s0)
        * max(0, 1 - n * (sp.baseline_formation_suppression + sp.activated_formation_suppression * a))
    )
    capacity = 1 + mg.engulfment_gain * a
    return [
        mg.activation_rate_per_h * s_eff * (1 - a) - k_deact * a, base[n_pk + 1], base[n_pk + 2],
        LN2 / mg.adaptation_half_life_h * (s - r),
        formed - k_tag * n * q * su - e_int * su - k_stab * su,
        k_tag * n * q * su - k_eng * n * capacity * st - e_int * st,
        k_stab * su - e_p * sp_,
    ]  # fmt: skip


def test_variant_stages_match_their_equations_for_every_new_parameter():
    rng = np.random.default_rng(21)
    model = variant_model(rng)
    assert model.state_names[-4:] == ("microglial_adaptation", "untagged_spine_density", "tagged_spine_density",
                                      "persistent_spine_density")  # fmt: skip
    y = np.concatenate([rng.uniform(0.5, 5.0, model.n_pk), [0.4, 1.7, 2.3, 0.03, 0.2, 0.05, 0.3]])
    compiled = model.compiled_rhs()(0.0, y, 0.37)
    np.testing.assert_allclose(compiled[model.n_pk :], reference_variant_tail(model, y, 0.37), rtol=1e-10)
    np.testing.assert_allclose(model.rhs(0.0, y, 0.37), compiled, rtol=1e-12, atol=1e-16)
    for stage, name in [("microglia", "adaptation_half_life_h"), ("microglia", "adapted_response"),
                        ("spines", "persistent_fraction"), ("spines", "persistent_half_life_days"),
                        ("spines", "elimination_per_day"), ("microglia", "activation_rate_per_h")]:  # fmt: skip
        changed = perturbed(model, stage, name, 0.71)
        got = changed.compiled_rhs()(0.0, y, 0.37)
        np.testing.assert_allclose(got[model.n_pk :], reference_variant_tail(changed, y, 0.37), rtol=1e-10,
                                   err_msg=f"{stage}.{name}")  # fmt: skip
        assert np.any(np.abs(got - compiled) > 1e-12 * np.abs(compiled).max()), f"{stage}.{name} has no effect"


def test_variant_stage_functions_evaluate_on_symbols():
    rng = np.random.default_rng(22)
    model = variant_model(rng)
    y = np.concatenate([rng.uniform(0.5, 5.0, model.n_pk), [0.4, 1.7, 2.3, 0.03, 0.2, 0.05, 0.3]])
    assert_symbolic_chain_equals_kernel(model, y)
