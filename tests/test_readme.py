"""The README's code snippets run as written.

Every ```python block is executed (in a temporary working directory, matplotlib on the Agg backend). Every
``synaprune`` line of a ```bash block is checked in this process, with a short grid (``duration_days=1
output_step_h=24 figure=false``, replacing a ``duration_days`` the line sets) and a temporary run folder:

* a single ODE run goes through ``sim.cli.main()`` and must write a one-day ``result.nc``;
* a ``-m`` sweep, ``engine=agents`` or ``animate=true`` (seconds to tens of seconds each) is validated instead:
  every sweep point composes through Hydra (``sim.load_config``, the CLI's validation) and passes the checks a run
  makes before it allocates anything (``sim.checks.check_run``).

Skipped, and why (:data:`SKIPPED`): ``python3 -m venv`` / ``pip install`` lines (they install; the CI does this),
``pytest`` (this suite), ``jupyter lab`` (interactive; tests/test_notebooks.py runs the notebooks),
``experiments/reproduce.py`` (a ~10-s script) and the ``hydra/launcher=joblib`` sweep (needs the optional
``.[parallel]`` extra). A new kind of command fails :func:`test_every_command_line_is_checked_or_skipped`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import sys
import warnings
from pathlib import Path

import matplotlib
import pytest
from conftest import in_process_cli

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(?P<language>\w+)\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
#: Appended to every ``synaprune`` line: one day on a coarse grid, no figure (the overrides are the README's).
SHORT = ["duration_days=1", "output_step_h=24", "figure=false"]


def blocks(language: str) -> list[str]:
    return [m["body"] for m in BLOCK.finditer(README.read_text(encoding="utf-8")) if m["language"] == language]


def command_lines() -> list[list[str]]:
    """The README's shell commands as argument lists (comments removed), one per line of every bash block."""
    lines = []
    for body in blocks("bash"):
        for line in body.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(words)
    return lines


def is_cli(words: list[str]) -> bool:
    return Path(words[0]).name == "synaprune" and "hydra/launcher=joblib" not in words


def is_module(words: list[str]) -> bool:
    return Path(words[0]).name.startswith("python") and words[1:2] == ["-m"] and words[2].startswith("sim.")


def test_the_readme_has_snippets_of_each_kind():
    assert len(blocks("python")) >= 1
    assert sum(is_cli(words) for words in command_lines()) >= 4


@pytest.mark.parametrize("source", blocks("python"), ids=lambda s: s.splitlines()[0][:40])
def test_python_snippet_runs(source, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(source, str(README), "exec"), {"__name__": "__readme__"})
    finally:
        plt.close("all")


#: Lines not run, by the word that marks them, with the reason.
SKIPPED = {
    "venv": "creates a virtual environment and installs the package",
    "install": "pip install: the CI installs the package",
    "pytest": "runs this test suite",
    "jupyter": "interactive notebook server; tests/test_notebooks.py executes the notebooks",
    "experiments/reproduce.py": "a ~10-s reproduction script, not the synaprune command",
    "hydra/launcher=joblib": "needs the optional .[parallel] extra (joblib launcher)",
}


def skip_reason(words: list[str]) -> str | None:
    return next((reason for marker, reason in SKIPPED.items() if marker in words), None)


def test_every_command_line_is_checked_or_skipped():
    for words in command_lines():
        assert is_cli(words) or is_module(words) or skip_reason(words), f"unchecked README command: {' '.join(words)}"
        assert not (is_cli(words) and skip_reason(words)), words


def is_expensive(words: list[str]) -> bool:
    return "-m" in words or "--multirun" in words or "engine=agents" in words or "animate=true" in words


def sweep_points(overrides: list[str]) -> list[list[str]]:
    """The override lists of a basic sweep: ``key=a,b`` becomes one list per value (no brackets or functions)."""
    points = [[]]
    for override in overrides:
        key, _, value = override.partition("=")
        values = value.split(",") if "," in value and not re.search(r"[\[({]", value) else [value]
        points = [[*point, f"{key}={v}"] for point in points for v in values]
    return points


CLI_LINES = [w for w in command_lines() if is_cli(w)]


@pytest.mark.parametrize("words", CLI_LINES, ids=" ".join)
def test_synaprune_line_runs(words, tmp_path):
    import sim
    import sim.cli
    from sim.checks import check_run
    from sim.io import open_result

    overrides = [w for w in words[1:] if not w.startswith("duration_days=") and w not in ("-m", "--multirun")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the human-extrapolation caveat
        if is_expensive(words):
            for point in sweep_points(overrides):
                run = sim.load_config([*point, *SHORT])
                check_run(
                    run.model(),
                    run.engine,
                    run.duration_days,
                    len(run.times_h()),
                    run.memory_limit_gib,
                    dose_limit=sim.library.max_daily_dose,
                )
            return
        folder = tmp_path / "out"
        err = io.StringIO()
        with in_process_cli(tmp_path), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            sys.argv = ["synaprune", *overrides, *SHORT, f"hydra.run.dir={folder}"]
            try:
                sim.cli.main()
            except SystemExit as exit:
                pytest.fail(f"{' '.join(words)} exited with {exit.code}: {err.getvalue()}")
    assert float(open_result(folder / "result.nc").time[-1]) == 1.0


def test_module_lines_name_importable_modules():
    """``python -m sim.<module>`` lines (none in a bash block today; the tools list names them inline)."""
    for words in filter(is_module, command_lines()):
        assert importlib.util.find_spec(words[2]) is not None, words
