"""SBML export of a model, generated from the stage functions the simulator runs (no rate law is written here).

:func:`to_sbml` evaluates the stage functions of ``model.chain`` on sympy symbols — exactly as
:meth:`sim.model.PruningModel.rhs` calls them, with every record value replaced by a named symbol (array elements
that are exactly zero stay 0, which keeps the PK rate matrix sparse) — and writes SBML Level 3 Version 2:

* one non-constant parameter per state (``<group>_<state name>``) with a rate rule and its drug-free initial value
  (:meth:`~sim.model.PruningModel.initial_state`); PK amounts in µmol/kg;
* one constant parameter per record value that the rate laws use (``<group>_<field>[_<index>]``), with its unit
  (from the record's ``[unit]`` comment) and an annotation naming the stage, the record field and the ``source`` of
  the model parameter of the same name (or the stage it is derived from);
* the infusion rate ``infusion`` [µmol/kg/h] and one event per dose-schedule breakpoint: boluses are added to the
  PK states through the record's input vector, as :class:`sim.engines.ode.OdeEngine` does;
* time in hours.

``python -m sim.sbml [overrides] [--output FILE]`` writes the document of a run configuration (stdout by default).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import libsbml
import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from sim.core.results import OUTPUTS
from sim.core.stage import CHAIN
from sim.model import PruningModel
from sim.presets import from_overrides

#: Namespace of the parameter annotations.
NAMESPACE = "https://github.com/synaprune/synaprune/sbml"
#: Units of the PK states and of the infusion rate.
AMOUNT_UNITS, INFUSION_UNITS = "umol/kg", "umol/kg/h"
#: SBML unit kind, scale and multiplier of each unit name used in the record comments and stage fields.
_BASE_UNITS = {
    "h": ("second", 0, 3600.0),
    "d": ("second", 0, 86400.0),
    "s": ("second", 0, 1.0),
    "um": ("metre", -6, 1.0),
    "uM": ("mole", -6, 1.0),  # umol/L: _unit_powers splits it
    "umol": ("mole", -6, 1.0),
    "kg": ("kilogram", 0, 1.0),
    "mg": ("gram", -3, 1.0),
    "L": ("litre", 0, 1.0),
}


class _SbmlPrinter(StrPrinter):
    """sympy -> SBML L3 infix (``max`` as ``piecewise``, powers as ``pow``)."""

    def _print_Pow(self, expr, rational=False):
        return f"pow({self._print(expr.base)}, {self._print(expr.exp)})"

    def _print_Max(self, expr):
        a, *rest = expr.args
        text = self._print(a)
        for b in rest:
            other = self._print(b)
            text = f"piecewise({text}, ({text}) > ({other}), {other})"
        return text

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Rational(self, expr):
        return f"({expr.p} / {expr.q})"


def formula(expression: Any) -> str:
    """SBML L3 formula of a sympy expression or number."""
    return _SbmlPrinter().doprint(sympy.sympify(expression))


def _unit_powers(units: str) -> dict[str, int] | None:
    """``{"h": -1, ...}`` of a unit string such as ``1/(um h)`` or ``µM per µmol/kg``; None if not understood."""
    text = units.replace("µ", "u").replace("μ", "u").strip()
    if " per " in text:
        head, tail = text.split(" per ", 1)
        text = f"({head})/({tail})"
    text = re.sub(r"(?<=[\w)])\s+(?=[\w(])", "*", text)
    if text in {"", "1"}:
        return {}
    try:
        expression = sympy.sympify(text, locals={name: sympy.Symbol(name) for name in _BASE_UNITS})
    except (sympy.SympifyError, SyntaxError, TypeError):
        return None
    powers: dict[str, int] = {}
    for base, exponent in expression.as_powers_dict().items():
        if base.is_number and base == 1:
            continue
        if not isinstance(base, sympy.Symbol) or base.name not in _BASE_UNITS or not exponent.is_integer:
            return None
        for name, sign in (("umol", 1), ("L", -1)) if base.name == "uM" else ((base.name, 1),):  # uM = umol/L
            powers[name] = powers.get(name, 0) + sign * int(exponent)
    return {k: v for k, v in powers.items() if v}


class _Units:
    """Unit definitions of the document, created once per distinct unit string."""

    def __init__(self, model: libsbml.Model):
        self.model, self.ids = model, {}

    def __call__(self, units: str | None) -> str | None:
        if units is None:
            return None
        powers = _unit_powers(units)
        if powers is None:
            return None
        if not powers:
            return "dimensionless"
        uid = "u_" + "_".join(
            f"{k}{'' if v == 1 else ('m' + str(-v) if v < 0 else v)}" for k, v in sorted(powers.items())
        )
        if uid not in self.ids:
            definition = self.model.createUnitDefinition()
            definition.setId(uid)
            definition.setName(units)
            for name, exponent in powers.items():
                kind, scale, multiplier = _BASE_UNITS[name]
                unit = definition.createUnit()
                unit.setKind(libsbml.UnitKind_forName(kind))
                unit.setExponent(exponent)
                unit.setScale(scale)
                unit.setMultiplier(multiplier)
            self.ids[uid] = units
        return uid


def _record_units(record_type: type) -> dict[str, str]:
    """Units of the record fields, from the ``# ... [unit]`` comments of the NamedTuple's source."""
    try:
        source = inspect.getsource(record_type)
    except (OSError, TypeError):
        return {}
    return dict(re.findall(r"^\s*(\w+)\s*:[^#\n]*#.*\[([^\]]+)\]\s*$", source, flags=re.MULTILINE))


def _field_source(model: PruningModel, stage: Any, name: str) -> tuple[str, str]:
    """``(where, source)`` of record field ``name``: the model parameter of that name (or name + unit suffix)."""
    stages = [stage] + [getattr(model, g) for g in model.__dataclass_fields__ if getattr(model, g) is not stage]
    for candidate in stages:
        if not dataclasses.is_dataclass(candidate):
            continue
        for f in dataclasses.fields(candidate):
            if "source" in f.metadata and (f.name == name or f.name.startswith(name + "_")):
                return f"{type(candidate).__name__}.{f.name}", f.metadata["source"]
    cls = type(stage).__name__
    return f"{cls}.record", f"derived by {cls}.record() from the parameters of {cls}, whose sources docs/model.md lists"


def _symbolic_record(record: tuple, prefix: str) -> tuple[tuple, dict]:
    """The record with named symbols for its values, and ``{symbol: (field, numeric value)}``."""
    fields, values = {}, {}
    for name, value in record._asdict().items():
        if isinstance(value, np.ndarray):
            flat = []
            for index, v in zip(np.ndindex(value.shape), value.ravel()):
                if v == 0:
                    flat.append(0)
                    continue
                symbol = sympy.Symbol(f"{prefix}_{name}_{'_'.join(map(str, index))}")
                values[symbol] = (name, float(v))
                flat.append(symbol)
            fields[name] = np.array(flat, dtype=object).reshape(value.shape)
        else:
            symbol = sympy.Symbol(f"{prefix}_{name}")
            values[symbol] = (name, float(value))
            fields[name] = symbol
    return type(record)(**fields), values


def _state_units(model: PruningModel, group: str, name: str) -> str | None:
    stage = getattr(model, group)
    declared = getattr(stage, "state_units", None)
    if declared:
        return dict(zip(stage.state_names, declared)).get(name)
    if group == "pk":
        return AMOUNT_UNITS
    for key in (name, f"{name}_level", *sorted(OUTPUTS, key=len, reverse=True)):  # e.g. untagged_spine_density
        if key in OUTPUTS and (key in (name, f"{name}_level") or name.endswith(key) or key.endswith("_" + name)):
            return OUTPUTS[key][1]
    return None


def _annotation(**attributes: str) -> str:
    text = " ".join(f'{k}="{escape(str(v), {chr(34): "&quot;"})}"' for k, v in attributes.items())
    return f'<synaprune:parameter xmlns:synaprune="{NAMESPACE}" {text}/>'


def _check(status: int, what: str) -> None:
    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise RuntimeError(f"libsbml could not set {what}: {libsbml.OperationReturnValue_toString(status)}")


def to_sbml(model_or_config: Any, path: str | Path | None = None, *, duration_days: float | None = None) -> str:
    """SBML L3V2 document of a :class:`~sim.model.PruningModel` or :class:`~sim.run.RunConfig`.

    Doses are events up to ``duration_days`` (default: the configuration's duration; for a bare model the day of
    the last scheduled administration + 1). The text is also written to ``path`` if given.
    """
    model = model_or_config.model() if hasattr(model_or_config, "model") else model_or_config
    if duration_days is None:
        duration_days = getattr(model_or_config, "duration_days", None)
    if duration_days is None:
        last = model.dosing_period_days[1]
        duration_days = last + 1.0 if np.isfinite(last) else 1.0

    document = libsbml.SBMLDocument(3, 2)
    sbml = document.createModel()
    sbml.setId("synaprune")
    sbml.setName(f"synaprune: {model.drug.name} in {model.species.name} ({model.genotype.name})")
    units = _Units(sbml)
    _check(sbml.setTimeUnits(units("h")), "time units")

    # States and the symbolic chain: the stage functions of the simulator, called as PruningModel.rhs calls them.
    states = [f"{group}_{name}" for group in CHAIN for name in getattr(model, group).state_names]
    y = np.array([sympy.Symbol(s) for s in states], dtype=object)
    out = np.zeros(len(states), dtype=object)
    signal = np.array([sympy.Symbol("infusion")], dtype=object)
    parameters: dict[sympy.Symbol, tuple[Any, str, float]] = {}
    records = model.records()
    for group, stage, record in zip(CHAIN, model.chain, records):
        symbols, values = _symbolic_record(record, group)
        parameters.update({s: (stage, field, v) for s, (field, v) in values.items()})
        signal = stage.rhs(symbols, y[model.slice(group)], signal, out[model.slice(group)])

    # Doses: boluses enter the PK states through the record's input vector (as the ODE engine applies them).
    schedule = model.schedule(duration_days * 24.0)
    pk_part = model.slice("pk")
    pk_input = _symbolic_record(records[CHAIN.index("pk")], "pk")[0].input_vector

    used = set().union(*(sympy.sympify(e).free_symbols for e in out)) | set().union(
        *(sympy.sympify(e).free_symbols for e in pk_input)
    )
    unit_of = {type(stage): _record_units(type(record)) for stage, record in zip(model.chain, records)}
    for symbol in sorted(used - set(y) - {sympy.Symbol("infusion")}, key=str):
        stage, field, value = parameters[symbol]
        where, source = _field_source(model, stage, field)
        p = sbml.createParameter()
        p.setId(symbol.name)
        p.setValue(value)
        p.setConstant(True)
        unit = units(unit_of[type(stage)].get(field))
        if unit:
            p.setUnits(unit)
        _check(p.setMetaId(f"meta_{symbol.name}"), f"metaid of {symbol.name}")
        _check(
            p.setAnnotation(_annotation(stage=type(stage).__name__, field=field, parameter=where, source=source)),
            f"annotation of {symbol.name}",
        )

    infusion = sbml.createParameter()
    infusion.setId("infusion")
    infusion.setValue(0.0)  # set by the dose events
    infusion.setConstant(False)
    infusion.setUnits(units(INFUSION_UNITS))

    initial = model.initial_state()
    for group in CHAIN:
        for name in getattr(model, group).state_names:
            sid = f"{group}_{name}"
            p = sbml.createParameter()
            p.setId(sid)
            p.setName(f"{group}: {name}")
            p.setValue(float(initial[states.index(sid)]))
            p.setConstant(False)
            unit = units(_state_units(model, group, name))
            if unit:
                p.setUnits(unit)
    for sid, expression in zip(states, out):
        rule = sbml.createRateRule()
        rule.setVariable(sid)
        _check(rule.setMath(_math(expression)), f"rate law of {sid}")

    previous_rate = 0.0
    for k, (t, bolus, rate) in enumerate(
        zip(schedule.breakpoints_h, schedule.bolus_umol_per_kg, schedule.infusion_umol_per_kg_h)
    ):
        changes = []
        if bolus:
            for sid, weight in zip(np.array(states, dtype=object)[pk_part], pk_input):
                if weight != 0:
                    changes.append((sid, f"{sid} + {formula(weight)} * {float(bolus)!r} {units(AMOUNT_UNITS)}"))
        if rate != previous_rate and t < schedule.breakpoints_h[-1]:
            changes.append(("infusion", f"{float(rate)!r} {units(INFUSION_UNITS)}"))
            previous_rate = rate
        if not changes:
            continue
        event = sbml.createEvent()
        event.setId(f"dose_{k}")
        event.setUseValuesFromTriggerTime(True)
        trigger = event.createTrigger()
        trigger.setInitialValue(False)
        trigger.setPersistent(True)
        _check(trigger.setMath(_math(f"time >= {float(t)!r} {units('h')}")), f"trigger of dose {k}")
        for variable, text in changes:
            assignment = event.createEventAssignment()
            assignment.setVariable(variable)
            _check(assignment.setMath(_math(text)), f"assignment of dose {k}")

    text = libsbml.writeSBMLToString(document)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _math(expression: Any) -> libsbml.ASTNode:
    text = expression if isinstance(expression, str) else formula(expression)
    node = libsbml.parseL3Formula(text)
    if node is None:
        raise ValueError(f"libsbml cannot parse {text!r}: {libsbml.getLastParseL3Error()}")
    return node


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.sbml [overrides] [--output FILE]``: SBML of the run configuration of ``overrides``."""
    parser = argparse.ArgumentParser(prog="python -m sim.sbml", description=main.__doc__)
    parser.add_argument("overrides", nargs="*", help="Hydra-style overrides, e.g. experiment=shi2022_low_dose")
    parser.add_argument("--output", "-o", help="write the SBML here instead of standard output")
    args = parser.parse_args(argv)
    text = to_sbml(from_overrides(args.overrides), args.output)
    if args.output is None:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
