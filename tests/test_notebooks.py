"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, and is committed without outputs.

The kernel is always the Python running the tests (``sys.executable``), whatever ``python3`` kernelspec happens to
be first on the Jupyter path (a user-level spec can point at another interpreter): :class:`_ThisPython` resolves
every kernel name to ``[sys.executable, "-m", "ipykernel_launcher", ...]``. Each notebook runs in a temporary
working directory, so it cannot rely on, or leave, files in the repository.

Run only these with ``pytest tests/test_notebooks.py``; nbmake (``pytest --nbmake notebooks/``) works too but uses
the ``python3`` kernelspec as found on the Jupyter path.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


class _ThisPython(KernelSpecManager):
    """Kernel specs that always start ipykernel in the interpreter running the tests."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            name=kernel_name,
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python 3 ({sys.executable})",
            language="python",
        )


def execute(nb, cwd: Path):
    """Execute ``nb`` in place in a fresh kernel of this interpreter, with ``cwd`` as working directory."""
    km = KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return nb


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, NOTEBOOK_DIR


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    """No outputs or execution counts (stripped before committing); the standard python3 kernel; numbered name."""
    nb = nbformat.read(path, as_version=4)
    assert path.name[:2].isdigit() and path.name[2] == "_"
    assert nb.metadata.kernelspec.name == "python3" and nb.metadata.kernelspec.language == "python"
    assert "widgets" not in nb.metadata  # no saved widget state
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.slow
def test_kernel_is_this_interpreter(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    execute(nb, tmp_path)
    printed = nb.cells[0].outputs[0]["text"].strip()
    assert Path(printed).resolve() == Path(sys.executable).resolve()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, record_property):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    execute(nb, tmp_path)
    seconds = time.perf_counter() - start
    record_property("runtime_s", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s")
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", cell.source[:60]
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            assert "Traceback" not in text, text
