"""Every parameter source resolves to an entry of docs/references.md (the citation convention at its top).

Sources are collected from

* the ``source`` metadata of every :func:`sim.core.params.param` field of every registered stage class
  (:func:`sim.core.stage.stage_classes`), every engine (:func:`sim.core.stage.engine_classes`),
  :class:`sim.run.RunConfig` and every other dataclass of the imported ``sim`` modules that declares params
  (e.g. the imaging protocol);
* the calibration targets and priors of :mod:`sim.targets`;
* every ``source`` or ``*_source`` value in every YAML file under ``sim/configs`` (any nesting, incl. the limits).

Checks: (i) every ``[key]`` resolves to exactly one entry ``- **[key]** ...``; (ii) no source names the project's
reference notes (science.md, the addendum and its "Gap <n>" sections, drugs.yaml, ../shared); (iii) every non-empty
source of a numeric value cites a key, or says "assumption", or starts with "calibrated"; (iv) every entry has a
year in parentheses ("(2014)", or "(accessed 2026)" for a drug label) and a doi or URL; (v) every entry is cited somewhere in ``sim`` (a parameter source, a target, a
YAML value or comment).

(v) fails rather than warns: docs/references.md is the bibliography of the code, and an entry nothing cites is
either stale or a source whose use was lost in an edit; both mislead a reader about what the model rests on.

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
#: Mentions of the project's private reference notes, which a source must never cite.
FORBIDDEN = re.compile(r"science\.md|addendum|\bGap \d+|drugs\.yaml|\.\./shared|/shared/", re.IGNORECASE)
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
    assert not offenders, _report("sources citing science.md / addendum / Gap n / drugs.yaml / ../shared", offenders)


def test_every_numeric_source_cites_a_key_or_is_an_assumption_or_calibrated():
    offenders = [
        f"{s.where}: {s.text!r}"
        for s in all_sources()
        if s.numeric
        and s.text.strip()
        and not KEY.search(s.text)
        and "assumption" not in s.text.lower()
        and not s.text.strip().lower().startswith("calibrated")
    ]
    assert not offenders, _report("numeric sources without [key], 'assumption' or 'calibrated'", offenders)


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
