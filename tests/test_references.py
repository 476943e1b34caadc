"""Every parameter source resolves to an entry of docs/references.md (the citation convention at its top).

Sources are collected from

* the ``source`` metadata of every :func:`sim.core.params.param` field of every registered stage class
  (:func:`sim.core.stage.stage_classes`), every engine (:func:`sim.core.stage.engine_classes`),
  :class:`sim.run.RunConfig` and every other dataclass of the imported ``sim`` modules that declares params
  (e.g. the imaging protocol);
* the calibration targets and priors of :mod:`sim.targets`;
* every ``source`` or ``*_source`` value in every YAML file under ``sim/configs`` (any nesting, incl. the limits).

Checks: (i) every ``[key]`` resolves to exactly one entry ``- **[key]** ...``; (ii) no source names the project's
private reference notes or their section labels (:data:`FORBIDDEN`); (iii) every non-empty
source of a numeric value cites a key, or says "assumption", or starts with "calibrated" or "definition:" (the
neutral value that means "off", e.g. no depletion); (iv) every entry has a
year in parentheses ("(2014)", or "(accessed 2026)" for a drug label) and a doi or URL; (v) every entry is cited somewhere in ``sim`` (a parameter source, a target, a
YAML value or comment).

(v) fails rather than warns: docs/references.md is the bibliography of the code, and an entry nothing cites is
either stale or a source whose use was lost in an edit; both mislead a reader about what the model rests on.

Delegated sources, accepted by (iii) only when the delegation holds (:func:`delegation_offenders`): a base-schema
field whose value every shipped compound sets itself says so with a marker of :data:`PER_COMPOUND`, naming the config
group and the source field there, e.g. ``per compound: every file of sim/configs/compound/ sets it and cites it in
`gabaa_ki_source```; the test then requires that every file of the group sets the field ("every file") and that every
file setting it has that source field passing (ii) and (iii). A molar mass "computed from the molecular formula" is
recomputed from the formula written beside it in every compound file (:func:`molar_mass_offenders`).

Exempt from (iii), by declared type only: fields typed ``str``, ``bool`` or ``list[str]`` (choice strings such as
names, regions, routes and the solver method, switches and tags) -- :data:`CHOICE_TYPES`. Their sources may explain
a default but there is no number to cite.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

import sim
import sim.run
import sim.targets
from sim.core.stage import GROUPS, engine_classes, stage_classes

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"
PACKAGE = Path(sim.__file__).resolve().parent
CONFIGS = PACKAGE / "configs"

#: A citation key: lower-case letters first, then letters, digits, underscores (``[3H]`` and ``[FOUND]`` are not keys).
KEY = re.compile(r"\[([a-z][a-z0-9_]*)\]")
#: An entry of docs/references.md: a list item starting with the bold key.
ENTRY = re.compile(r"^- \*\*\[([^\]]*)\]\*\*")
#: Mentions of the project's private reference notes (file names, the pharmacology notes and their numbered gap
#: sections, the shared folder), which a source must never cite. Written with escapes and character classes so that
#: a repository-wide grep for those names finds citations only, not this pattern.
FORBIDDEN = re.compile(r"science\.md|adden[d]um|\bGap \d+|drugs\.yaml|\.\./shared|/shared/", re.IGNORECASE)
#: A delegated source: the value is set per compound in a config group and cited there (see the module docstring).
PER_COMPOUND = re.compile(
    r"^per compound(?: and species)?: (?:every file of (?P<every>sim/configs/\w+)/ sets it and cites it in `(?P<src1>\w+)`"
    r"|where a file of (?P<some>sim/configs/\w+)/ sets it, its `(?P<src2>\w+)` cites it)"
)
#: A molar mass computed from the formula beside it: ``molar_mass_g_per_mol: 284.74   # computed from C16H13ClN2O``.
MOLAR_MASS_LINE = re.compile(r"^molar_mass_g_per_mol:\s*([0-9.]+)\s*#\s*computed from ([A-Z][A-Za-z0-9]*)", re.M)
#: Standard atomic weights (IUPAC abridged values, g/mol) of the elements of the shipped compounds.
ATOMIC_WEIGHT = {"C": 12.011, "H": 1.008, "N": 14.007, "O": 15.999, "F": 18.998, "Cl": 35.45, "Br": 79.904, "S": 32.06}
#: Declared field types whose values are choices, not numbers (exempt from check iii).
CHOICE_TYPES = frozenset({"str", "bool", "list[str]"})


@dataclasses.dataclass(frozen=True)
class Source:
    where: str  # file/class.field or file:key.path
    text: str
    numeric: bool


def _type_text(f: dataclasses.Field) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _param_classes() -> list[type]:
    classes = [cls for group in GROUPS for cls in stage_classes(group)]
    classes += list(engine_classes().values()) + [sim.run.RunConfig]
    for name, module in list(sys.modules.items()):
        if name != "sim" and not name.startswith("sim."):
            continue
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__ == name
                and any("source" in f.metadata for f in dataclasses.fields(obj))
            ):
                classes.append(obj)
    return list(dict.fromkeys(classes))


def python_sources() -> list[Source]:
    """The ``source`` of every param field (numeric unless its declared type is in :data:`CHOICE_TYPES`)."""
    out = []
    for cls in _param_classes():
        path = Path(sys.modules[cls.__module__].__file__).resolve().relative_to(ROOT)
        for f in dataclasses.fields(cls):
            if "source" in f.metadata:
                numeric = _type_text(f).replace(" ", "") not in CHOICE_TYPES
                out.append(Source(f"{path}/{cls.__name__}.{f.name}", f.metadata["source"], numeric))
    return out


def target_sources() -> list[Source]:
    """The sources of the calibration targets and of the priors of every model variant."""
    out = [Source(f"sim/targets.py/TARGETS.{t.name}", t.source, True) for t in sim.targets.TARGETS]
    for variant in sim.targets.VARIANTS.values():
        out += [Source(f"sim/targets.py/{variant.name}.prior.{p.key}", p.source, True) for p in variant.free]
    return out


def _walk(node: object, path: str, file: str, out: list[Source]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (key == "source" or key.endswith("_source")):
                out.append(Source(f"{file}:{sub}", "" if value is None else str(value), True))
            else:
                _walk(value, sub, file, out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]", file, out)


def yaml_sources() -> list[Source]:
    """Every ``source``/``*_source`` value in sim/configs (all of them document numbers)."""
    out: list[Source] = []
    for file in sorted(CONFIGS.rglob("*.yaml")):
        _walk(yaml.safe_load(file.read_text()), "", str(file.relative_to(ROOT)), out)
    return out


def _sets(node: object, field: str) -> bool:
    """Whether a YAML tree sets ``field`` at any depth (``compounds.oxazepam.formed_from`` counts)."""
    if isinstance(node, dict):
        return field in node or any(_sets(v, field) for v in node.values())
    if isinstance(node, list):
        return any(_sets(v, field) for v in node)
    return False


def _cites(text: str) -> bool:
    """Check (iii) for one source text, without delegation."""
    start = text.strip().lower()
    return bool(KEY.search(text)) or "assumption" in text.lower() or start.startswith(("calibrated", "definition:"))


def delegation_offenders(s: Source) -> list[str]:
    """Why a ``per compound: ...`` source does not hold (empty: it holds; see the module docstring)."""
    match = PER_COMPOUND.match(s.text)
    field = s.where.rsplit(".", 1)[-1]
    folder = ROOT / (match.group("every") or match.group("some"))
    src = match.group("src1") or match.group("src2")
    files = sorted(folder.glob("*.yaml"))
    if not files:
        return [f"{s.where}: no YAML file in {folder.relative_to(ROOT)}"]
    out = []
    for file in files:
        data = yaml.safe_load(file.read_text()) or {}
        name = file.relative_to(ROOT)
        if not _sets(data, field):
            if match.group("every"):
                out.append(f"{s.where}: {name} does not set {field}")
            continue
        text = str(data.get(src) or "")
        if not text.strip() or not _cites(text) or FORBIDDEN.search(text):
            out.append(f"{s.where}: {name} sets {field} but its {src} does not cite it: {text!r}")
    return out


def molar_mass_offenders() -> list[str]:
    """Compound files whose molar mass is missing, lacks its formula, or differs from the formula's by > 0.01 g/mol."""
    out = []
    for file in sorted((CONFIGS / "compound").glob("*.yaml")):
        match = MOLAR_MASS_LINE.search(file.read_text())
        if not match:
            out.append(f"{file.name}: no 'molar_mass_g_per_mol: <value>  # computed from <formula>' line")
            continue
        value, formula = float(match.group(1)), match.group(2)
        elements = re.findall(r"([A-Z][a-z]?)(\d*)", formula)
        if "".join(e + n for e, n in elements) != formula or any(e not in ATOMIC_WEIGHT for e, _ in elements):
            out.append(f"{file.name}: cannot read formula {formula!r}")
            continue
        computed = sum(ATOMIC_WEIGHT[e] * int(n or 1) for e, n in elements)
        if abs(computed - value) > 0.01:
            out.append(f"{file.name}: {value} g/mol but {formula} gives {computed:.2f}")
    return out


def all_sources() -> list[Source]:
    return python_sources() + target_sources() + yaml_sources()


def reference_entries() -> list[tuple[str, str]]:
    """``(key, text)`` of every entry of docs/references.md (an entry runs to the next item, heading or blank line)."""
    entries: list[list[str]] = []
    current: list[str] | None = None
    for line in REFERENCES.read_text().splitlines():
        match = ENTRY.match(line)
        if match:
            current = [match.group(1), line]
            entries.append(current)
        elif current is not None and line.strip() and not line.startswith(("-", "#", "|")):
            current[1] += " " + line.strip()
        else:
            current = None
    return [(key, text) for key, text in entries]


def _report(title: str, offenders: list[str]) -> str:
    return f"{len(offenders)} {title}:\n  " + "\n  ".join(offenders)


def test_collection_covers_every_registered_class_and_config_file():
    """The collector sees the params of every stage group, both engines, RunConfig and the YAML sources."""
    wheres = {s.where for s in python_sources()}
    for cls in [*(c for g in GROUPS for c in stage_classes(g)), *engine_classes().values(), sim.run.RunConfig]:
        declared = [f.name for f in dataclasses.fields(cls) if "source" in f.metadata]
        assert declared, f"{cls.__name__} declares no param fields"
        assert all(any(w.endswith(f"/{cls.__name__}.{n}") for w in wheres) for n in declared), cls
    assert any(w.startswith("sim/configs/limits/") for w in (s.where for s in yaml_sources()))
    assert len(all_sources()) > 100


def test_every_key_resolves_to_exactly_one_entry():
    counts = Counter(key for key, _ in reference_entries())
    duplicates = [f"[{key}] has {n} entries" for key, n in counts.items() if n > 1]
    missing = [
        f"{s.where}: [{key}] has no entry -- {s.text!r}"
        for s in all_sources()
        for key in KEY.findall(s.text)
        if key not in counts
    ]
    assert not duplicates + missing, _report("unresolved or duplicated keys", duplicates + missing)


def test_no_source_cites_the_reference_notes():
    offenders = [f"{s.where}: {s.text!r}" for s in all_sources() if FORBIDDEN.search(s.text)]
    assert not offenders, _report("sources citing the private reference notes (FORBIDDEN)", offenders)


def test_every_numeric_source_cites_a_key_or_is_an_assumption_or_calibrated():
    offenders = []
    for s in all_sources():
        if not s.numeric or not s.text.strip() or _cites(s.text):
            continue
        if PER_COMPOUND.match(s.text):
            offenders += delegation_offenders(s)
        elif s.text.startswith("computed from the molecular formula") and s.where.endswith(".molar_mass_g_per_mol"):
            offenders += molar_mass_offenders()
        else:
            offenders.append(f"{s.where}: {s.text!r}")
    assert not offenders, _report("numeric sources without [key], 'assumption' or 'calibrated'", offenders)


def test_delegated_sources_are_checked_and_can_fail():
    """The per-compound markers are in use, hold for the shipped configs, and a broken delegation is reported."""
    delegated = [s for s in python_sources() if PER_COMPOUND.match(s.text)]
    assert {s.where.rsplit("/", 1)[-1] for s in delegated} >= {
        "Compound.tspo_ki_nM",
        "Compound.gabaa_ki_nM",
        "CompoundPK.half_life_h",
        "CompoundPK.formed_from",
    }
    assert not [o for s in delegated for o in delegation_offenders(s)]
    assert not molar_mass_offenders()
    # a field no compound file sets, delegated to "every file": each file is reported
    fake = Source(
        "sim/pk.py/CompoundPK.not_a_field",
        "per compound and species: every file of sim/configs/compound_pk/ sets it and cites it in `source`",
        True,
    )
    assert len(delegation_offenders(fake)) == len(list((CONFIGS / "compound_pk").glob("*.yaml")))
    # a source field that is not there: every file setting half_life_h is reported
    missing = Source(
        "sim/pk.py/CompoundPK.half_life_h",
        "per compound and species: every file of sim/configs/compound_pk/ sets it and cites it in `no_such_source`",
        True,
    )
    assert len(delegation_offenders(missing)) == len(list((CONFIGS / "compound_pk").glob("*.yaml")))


def test_every_entry_has_a_year_and_a_doi_or_url():
    offenders = [
        f"[{key}]: {text[:100]}..."
        for key, text in reference_entries()
        if not re.search(r"\((?:[^()]*\s)?(?:19|20)\d\d[a-z]?\)", text)
        or not re.search(r"doi:10\.\d{4,}/\S+|https?://\S+", text)
    ]
    assert not offenders, _report("entries without a year '(YYYY)' or a doi:/URL", offenders)


def test_no_entry_is_unused():
    cited = {key for s in all_sources() for key in KEY.findall(s.text)}
    for file in PACKAGE.rglob("*"):
        if file.suffix in {".py", ".yaml"}:
            cited |= set(KEY.findall(file.read_text()))
    offenders = [f"[{key}]" for key, _ in reference_entries() if key not in cited]
    assert not offenders, _report("entries of docs/references.md that nothing in sim cites", offenders)
