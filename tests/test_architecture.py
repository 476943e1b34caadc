"""Architecture: the import-linter contracts of pyproject.toml hold, they catch a violation, and no import cycles.

``lint-imports`` (import-linter, dev extra) checks the contracts in ``[tool.importlinter]``: the layers from the
applications down to :mod:`sim.core`, applications independent of each other, :mod:`sim.analysis` and
:mod:`sim.plotting` reading only results, Hydra only at the edge. The imports listed in the layers contract's
``ignore_imports`` are known exceptions, also excluded from the cycle check below (one list to edit).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    if not LINT_IMPORTS.exists():
        pytest.skip(f"{LINT_IMPORTS} not installed (pip install -e '.[dev]')")
    if cwd != ROOT:  # a modified copy of the package, checked with the same contracts
        shutil.copy(ROOT / "pyproject.toml", cwd / "pyproject.toml")
    command = [str(LINT_IMPORTS), "--no-cache"]  # reads ./pyproject.toml
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_contracts_catch_an_application_importing_another(tmp_path):
    """A copy of the package in which plotting imports an application, analysis the model and io OmegaConf fails."""
    shutil.copytree(ROOT / "sim", tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    plotting = tmp_path / "sim" / "plotting.py"
    plotting.write_text(plotting.read_text() + "\nfrom sim.validation import ARMS  # noqa\n")
    summary = tmp_path / "sim" / "analysis" / "summary.py"
    summary.write_text(summary.read_text() + "\nfrom sim.model import PruningModel  # noqa\n")
    io = tmp_path / "sim" / "io.py"
    io.write_text(io.read_text() + "\nimport omegaconf  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = _lint(tmp_path, env)
    assert result.returncode != 0
    assert "sim.plotting -> sim.validation" in result.stdout
    assert "sim.analysis.summary -> sim.model" in result.stdout
    assert "sim.io -> omegaconf" in result.stdout


def test_no_import_cycle_among_sim_modules():
    graph = grimp.build_graph("sim", cache_dir=None)
    layers = next(c for c in _contracts() if c["type"] == "layers")
    for expression in layers.get("ignore_imports", []):
        importer, imported = (part.strip() for part in expression.split("->"))
        assert graph.direct_import_exists(importer=importer, imported=imported), f"stale exception: {expression}"
        graph.remove_import(importer=importer, imported=imported)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    cycles = [scc for scc in _strongly_connected(edges) if len(scc) > 1 or scc[0] in edges[scc[0]]]
    assert not cycles, f"import cycles: {cycles}"


def test_analysis_registry_describes_every_summary_value():
    """DERIVED holds every summary value once, with units and a long name."""
    from sim.analysis import DERIVED, SUMMARY
    from sim.core.results import OUTPUTS

    assert set(SUMMARY) <= set(DERIVED)
    assert not set(DERIVED) & set(OUTPUTS)  # derived outputs are not engine outputs
    for name, entry in DERIVED.items():
        assert callable(entry.function) and entry.units and entry.long_name, name


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(sorted(component))
            elif child not in edges:
                continue
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    components = _strongly_connected(edges)
    assert ["a", "b", "c"] in components and ["d"] in components and ["e"] in components


def test_contracts_keep_library_below_the_model_and_presets_at_run_level(tmp_path):
    """sim.library (below the model) and sim.presets (run level): allowed imports pass, an upward one fails."""
    shutil.copytree(ROOT / "sim", tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "sim" / "presets.py").write_text(
        '"""Stub."""\nimport sim.library\nimport sim.run\nfrom sim.model import PruningModel  # noqa\n'
    )
    (tmp_path / "sim" / "library.py").write_text(
        '"""Stub."""\nimport yaml\nimport sim.core.params\nimport sim.drug\nimport sim.model  # not allowed\n'
    )
    result = _lint(tmp_path, {**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0
    assert "sim.library -> sim.model" in result.stdout
    assert "sim.presets ->" not in result.stdout and "not listed as layers" not in result.stdout


def test_every_module_must_be_placed_in_a_layer(tmp_path):
    shutil.copytree(ROOT / "sim", tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "sim" / "newcomer.py").write_text('"""A module nobody placed."""\n')
    result = _lint(tmp_path, {**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0 and "not listed as layers" in result.stdout and "sim.newcomer" in result.stdout


def test_the_architecture_page_names_every_layer_module():
    """docs/architecture.md draws the layers; every module of the layers contract appears in its diagram."""
    import re

    (layers,) = [c for c in _contracts() if c.get("type") == "layers" and c.get("containers") == ["sim"]]
    modules = {m for layer in layers["layers"] for m in re.findall(r"[a-z_]+", layer)}
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = page.split("## Layers", 1)[1].split("```")[1]
    drawn = set(re.findall(r"[a-z_]+", diagram))
    assert modules - drawn == set(), "add these modules to the diagram of docs/architecture.md"
