"""The documentation site builds strictly (``mkdocs build --strict``) and CITATION.cff says what to cite.

One build (~15 s) into a temporary directory; the checks read its pages. Without MkDocs (the ``docs`` extra, part of
``dev``) the build tests are skipped, except under ``CI=true``, where a missing MkDocs is a failure.
"""

from __future__ import annotations

import html as htmllib
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import sim

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CITATION = ROOT / "CITATION.cff"
REFERENCES = ROOT / "docs" / "references.md"
#: Citation keys (docs/references.md) of the studies whose findings docs/validation.md reproduces.
STUDIES = ("shi2022", "bollinger2020", "woodburn2021")


def _have_mkdocs() -> bool:
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if not _have_mkdocs():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail('mkdocs is not installed but CI is set: install the docs extra (pip install -e ".[docs]")')
        pytest.skip('mkdocs is not installed (pip install -e ".[docs]"; part of the dev extra)')
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-5000:]}"
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_the_model_reference_has_equations_and_the_parameter_table(site):
    html = page(site, "model")
    assert 'class="arithmatex"' in html  # $...$ of docs/model.md rendered for MathJax
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if "<code>activation_rate_per_h</code>" in r)
    rate = sim.presets.from_overrides([]).microglia.activation_rate_per_h
    assert f"{rate:.6g}" in row  # the default-config value, as in docs/model.md


def test_the_api_reference_renders_docstrings_with_working_cross_references(site):
    html = page(site, "api/sim")
    assert "One Dataset from a <code>synaprune -m</code> sweep folder, whatever the launcher" in html  # sim.collect
    assert 'id="sim.collect"' in html and 'id="sim.run.simulate"' in page(site, "api/run")
    # :func:`sim.io.collect` in sim.collect's docstring became a link to the sim.io page
    assert re.search(r'<a class="autorefs autorefs-internal"[^>]*href="\.\./io/#sim\.io\.collect"', html)
    stages = page(site, "api/stages")
    assert 'id="sim.spines.SpineTurnover"' in stages and "\\begin{aligned}" in stages  # a .. math:: block
    assert ":class:" not in stages and ".. math::" not in stages


def test_notebooks_render_as_committed_without_running(site):
    for path in sorted((ROOT / "notebooks").glob("0[1-5]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        html = page(site, f"notebooks/{path.stem}")
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        title = "".join(nb["cells"][0]["source"]).splitlines()[0].removeprefix("# ")
        assert title.split(":")[0] in html, path.name
        assert html.count("jp-CodeCell") >= len(code), path.name
        # not executed a second time: exactly the committed outputs are shown (none: tests/test_notebooks.py)
        committed = sum(len(c["outputs"]) for c in code)
        assert html.count('class="jp-OutputArea-child') == committed, path.name


def text(html: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", "", html))


def test_getting_started_shows_the_readme_commands(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line for line in readme.splitlines()[:10] if line.startswith("python3 -m venv")]
    assert len(commands) == 2
    shown = text(page(site, "getting-started"))
    assert all(command in shown for command in commands)  # included from the README, not copied
    for name in ("validation", "teaching", "cite", "guide/configs", "guide/sweeps", "guide/imaging", "agents"):
        assert (site / name / "index.html").is_file(), name


# ---------------------------------------------------------------------- CITATION.cff
@pytest.fixture(scope="module")
def cff() -> dict:
    return yaml.safe_load(CITATION.read_text(encoding="utf-8"))


def reference_entry(key: str) -> str:
    entry = re.search(
        rf"^- \*\*\[{key}\]\*\* (.*?)(?=^- \*\*\[|^#|\Z)", REFERENCES.read_text(encoding="utf-8"), re.M | re.S
    )
    assert entry, f"[{key}] has no entry in docs/references.md"
    return " ".join(entry.group(1).split())


def test_citation_names_the_software(cff):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["message"]
    assert cff["title"] == project["name"] == "synaprune"
    assert cff["version"] == sim.__version__
    assert cff["license"] == project["license"]["text"]
    assert [a["name"] for a in cff["authors"]] == [a["name"] for a in project["authors"]]
    cite = (ROOT / "docs" / "cite.md").read_text(encoding="utf-8")
    assert f"version {sim.__version__}. License {cff['license']}." in cite  # the how-to-cite page says the same


@pytest.mark.parametrize("key", STUDIES)
def test_citation_references_each_reproduced_study_as_in_the_references(cff, key):
    entry = reference_entry(key)
    doi = re.search(r"doi:(10\.\S+?)(?=[\s,;]|$)", entry)
    matches = [
        r
        for r in cff["references"]
        if (doi and r.get("doi") == doi.group(1)) or (r.get("url", "") in entry and r.get("url"))
    ]
    assert len(matches) == 1, f"[{key}]: no reference with its doi or URL in CITATION.cff"
    ref = matches[0]
    assert " ".join(ref["title"].split()) in entry and str(ref["year"]) in entry
    assert all(a["family-names"] in entry for a in ref["authors"])
    if "volume" in ref:
        assert f"{ref['volume']}:{ref['start']}–{ref['end']}" in entry
    assert f"[{key}]" in (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    cite = (ROOT / "docs" / "cite.md").read_text(encoding="utf-8")
    assert (ref.get("doi") or ref["url"]) in cite


# Keys of the Citation File Format 1.2.0 schema (https://github.com/citation-file-format/citation-file-format,
# schema.json): the top level, a reference, and a person or an entity as author. cffconvert (the reference validator)
# pins jsonschema<4 and cannot be installed beside Jupyter/Voila, so the structure is checked here.
CFF_TOP_LEVEL = {
    "abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers", "keywords",
    "license", "license-url", "message", "preferred-citation", "references", "repository", "repository-artifact",
    "repository-code", "title", "type", "url", "version",
}  # fmt: skip
CFF_REQUIRED = {"authors", "cff-version", "message", "title"}
CFF_REFERENCE_REQUIRED = {"authors", "title", "type"}
CFF_PERSON = {"family-names", "given-names", "name-particle", "name-suffix", "affiliation", "email", "orcid", "website"}
DOI = re.compile(r"^10\.\d{4,9}(\.\d+)?/[A-Za-z0-9:/_;\-\.\(\)\[\]\\]+$")


def cff_problems(cff: dict) -> list[str]:
    """Every departure of a parsed CITATION.cff from the structure CFF 1.2.0 requires (empty when valid)."""
    problems = [f"missing required key {k!r}" for k in sorted(CFF_REQUIRED - set(cff))]
    problems += [f"unknown top-level key {k!r}" for k in sorted(set(cff) - CFF_TOP_LEVEL)]
    if cff.get("cff-version") != "1.2.0":
        problems.append(f"cff-version {cff.get('cff-version')!r} is not '1.2.0'")
    if cff.get("type", "software") not in {"software", "dataset"}:
        problems.append(f"type {cff['type']!r} is not software or dataset")

    def authors_ok(authors, where):
        if not isinstance(authors, list) or not authors:
            return [f"{where}: authors must be a non-empty list"]
        out = []
        for a in authors:
            if not isinstance(a, dict) or not ("name" in a or set(a) & {"family-names", "given-names"}):
                out.append(f"{where}: author {a!r} is neither an entity (name) nor a person (family-/given-names)")
            elif "name" not in a and set(a) - CFF_PERSON:
                out.append(f"{where}: unknown person keys {sorted(set(a) - CFF_PERSON)}")
        return out

    problems += authors_ok(cff.get("authors"), "top level")
    for i, ref in enumerate(cff.get("references", [])):
        problems += [f"reference {i}: missing {k!r}" for k in sorted(CFF_REFERENCE_REQUIRED - set(ref))]
        problems += authors_ok(ref.get("authors"), f"reference {i}")
        if "doi" in ref and not DOI.match(str(ref["doi"])):
            problems.append(f"reference {i}: doi {ref['doi']!r} is not a DOI")
        if "year" in ref and not isinstance(ref["year"], int):
            problems.append(f"reference {i}: year {ref['year']!r} is not an integer")
    return problems


def test_citation_is_valid_cff():
    cff = yaml.safe_load(CITATION.read_text(encoding="utf-8"))
    assert cff_problems(cff) == []
    # the check can fail: each kind of mistake is caught
    broken = dict(cff, **{"cff-version": "1.1.0", "colour": "blue"})
    broken.pop("message")
    broken["references"] = [dict(cff["references"][0], doi="doi:10.1038/x", year="2022"), {"title": "x"}]
    found = " ".join(cff_problems(broken))
    for expected in ("'message'", "'colour'", "1.1.0", "is not a DOI", "not an integer", "missing 'authors'"):
        assert expected in found, expected


# ---------------------------------------------------------------------- docstrings on the site
def test_docstring_math_is_converted_as_in_the_model_reference():
    """The site's docstring converter (docs/_mkdocs/rst_roles.py) and sim.docs give the same equations."""
    pytest.importorskip("griffe", reason="griffe is not installed (docs extra)")
    import importlib.util

    import sim.docs

    spec = importlib.util.spec_from_file_location("rst_roles", ROOT / "docs" / "_mkdocs" / "rst_roles.py")
    rst_roles = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rst_roles)
    math = re.compile(r"\$\$\n.*?\n\$\$|\$[^$\n]+\$", re.S)
    modules = [sim.pk, sim.binding, sim.microglia, sim.spines, sim.cognition, sim.stress, sim.tolerance]
    for module in modules:
        doc = inspect.cleandoc(module.__doc__)
        site = math.findall(rst_roles.to_markdown(doc, module.__name__))
        assert site and site == math.findall(sim.docs.rst_to_markdown(doc)), module.__name__
    converted = rst_roles.to_markdown(
        "Units [1/d] and [holtmaat2005] [trachtenberg2002], see :func:`~sim.run.simulate`."
    )
    assert r"\[1/d]" in converted and r"\[holtmaat2005] \[trachtenberg2002]" in converted
    assert '<autoref identifier="sim.run.simulate" optional><code>simulate</code></autoref>' in converted
