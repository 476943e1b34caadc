"""docs/model.md is generated (python -m sim.docs) and must match the code and configs it is generated from."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import sim
from sim.config import SCHEMAS, config_dir
from sim.core.params import parameter_table
from sim.docs import OUTPUT, render, rst_to_markdown


@pytest.fixture(scope="module")
def text() -> str:
    return render()


def test_docs_are_up_to_date(text):
    assert OUTPUT.is_file(), "docs/model.md is missing: run python -m sim.docs"
    assert OUTPUT.read_text() == text, "docs/model.md is out of date: run python -m sim.docs"


def test_every_equation_block_is_rendered(text):
    modules = [sim.pk, sim.binding, sim.microglia, sim.spines, sim.cognition]
    blocks = sum(module.__doc__.count(".. math::") for module in modules)
    assert blocks >= 5
    assert text.count("\n$$\n") >= 2 * blocks
    assert ".. math::" not in text and ":math:`" not in text
    assert r"\dot S_t &= k_{\rm tag}" in text  # taken verbatim from sim/spines.py


def test_every_parameter_is_documented(text):
    for classes in SCHEMAS.values():
        for cls in classes:
            assert f"### `{cls.__name__}`" in text, cls.__name__
            for row in parameter_table(cls):
                if row["name"] != "source":
                    assert f"`{row['name']}`" in text, f"{cls.__name__}.{row['name']}"


def test_default_config_values_are_shown(text):
    run = sim.presets.from_overrides([])
    rate = run.microglia.activation_rate_per_h
    row = next(line for line in text.splitlines() if "`activation_rate_per_h`" in line)
    assert f"{rate:.6g}" in row


def test_compound_and_pk_tables_list_every_file(text):
    for group in ("compound", "compound_pk", "pk"):
        for path in (config_dir() / group).glob("*.yaml"):
            assert re.search(
                rf"^\| {re.escape(path.stem if group != 'compound_pk' else path.stem.rpartition('_')[0])} \|",
                text,
                re.M,
            ), path
    diazepam = next(line for line in text.splitlines() if line.startswith("| diazepam | 284.74"))
    assert "| 91 |" in diazepam and "[pmid6521970]" in diazepam


def test_rst_to_markdown():
    rst = r"""Title line.

    Inline :math:`k_a` and ``code`` and :class:`sim.pk.LinearChainPK`, math over
    :math:`a +
    b` two lines.

    .. math::

        x &= 1, \\
        y &= 2

    Term
        Body of the term.
    """
    md = rst_to_markdown(rst)
    assert "$k_a$" in md and "`code`" in md and "`sim.pk.LinearChainPK`" in md
    assert "$a +\nb$" in md
    assert "$$\n\\begin{aligned}\nx &= 1, \\\\\ny &= 2\n\\end{aligned}\n$$" in md
    assert "**Term**\n\nBody of the term." in md


def test_check_mode_reports_a_stale_file(tmp_path):
    stale = tmp_path / "model.md"
    stale.write_text("old\n")
    command = [sys.executable, "-m", "sim.docs", "--check", "--output", str(stale)]
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 1 and "out of date" in proc.stderr
