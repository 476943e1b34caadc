"""Human kinetics: every drug of the library has them, and brain partition follows the free fraction by one rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import sim

CONFIGS = Path(sim.__file__).parent / "configs"
DRUGS = sorted(p.stem for p in (CONFIGS / "drug").glob("*.yaml"))
#: Drugs without human kinetics: research tools never given to people in a study we could cite.
NO_HUMAN_KINETICS = {"pk11195", "ro5_4864"}
#: Unbound fraction in brain tissue fu,brain = fu / Kp from rat brain and plasma ([friedman1986]): nordiazepam has its
#: own, every other compound takes diazepam's (the assumption each human file states).
FU_BRAIN = {"nordiazepam": 0.158 / 3.5}
FU_BRAIN_DEFAULT = 0.196 / 4.5


def human_compound_files() -> list[Path]:
    return sorted((CONFIGS / "compound_pk").glob("*_human.yaml"))


@pytest.mark.parametrize("drug", [d for d in DRUGS if d not in NO_HUMAN_KINETICS])
def test_every_drug_has_human_kinetics_for_itself_and_its_metabolites(drug):
    defaults = yaml.safe_load((CONFIGS / "drug" / f"{drug}.yaml").read_text())["defaults"]
    names = [key.split("@compounds.")[1] for entry in defaults if isinstance(entry, dict) for key in entry]
    assert drug in names
    assert (CONFIGS / "pk" / f"{drug}_human.yaml").exists()
    for name in names:
        assert (CONFIGS / "compound_pk" / f"{name}_human.yaml").exists(), name


@pytest.mark.parametrize("path", human_compound_files(), ids=lambda p: p.stem)
def test_brain_partition_is_the_free_fraction_over_brain_tissue_binding(path):
    """Free-drug hypothesis: Kp = fu / fu,brain, so total brain concentration is consistent with the free fraction."""
    values = yaml.safe_load(path.read_text())
    compound = path.stem.removesuffix("_human")
    expected = values["free_fraction"] / FU_BRAIN.get(compound, FU_BRAIN_DEFAULT)
    assert values["brain_plasma_ratio"] == pytest.approx(expected, rel=0.02)  # values rounded to 2-3 digits


def test_drug_lists_are_what_this_file_assumes():
    assert set(NO_HUMAN_KINETICS) <= set(DRUGS)
    for drug in NO_HUMAN_KINETICS:
        assert not (CONFIGS / "pk" / f"{drug}_human.yaml").exists()
