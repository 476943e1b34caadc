"""Calibration: the stored fits are optima, the comparison table agrees with the acceptance criteria."""

from __future__ import annotations

import json
import math

import pytest

import sim
from sim import calibrate, targets
from sim.calibrate import COMPARISON_FILE, fit, simulate_arms, with_values


def _values(calibration: str, variant: targets.Variant) -> dict[str, float]:
    """Fitted values of ``variant`` in the packaged shi2022 file or in the variant's own file."""
    path = calibration if calibration == calibrate.HEADLINE else str(calibrate.VARIANTS_DIR / f"{calibration}.yaml")
    cfg = sim.presets.from_overrides([*variant.selections, f"calibration={path}"])
    return {key: getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1]) for key in variant.keys}


@pytest.fixture(scope="module")
def comparison() -> dict:
    return json.loads(COMPARISON_FILE.read_text())


def test_with_values_substitutes_only_named_fields():
    cfg = sim.presets.from_overrides(["experiment=shi2022_high_dose"])
    new = with_values(cfg, {"spines.homeostatic_gain": 2.5})
    assert new.spines.homeostatic_gain == 2.5
    assert new.spines.elimination_per_day == cfg.spines.elimination_per_day
    assert new.microglia == cfg.microglia


def test_refit_of_the_default_variant_from_its_stored_optimum_stays_there():
    variant = targets.VARIANTS[targets.DEFAULT_VARIANT]
    stored = _values(calibrate.HEADLINE, variant)
    text = calibrate.CALIBRATION_DIR.joinpath(f"{calibrate.HEADLINE}.yaml").read_text()
    exclude = (calibrate.LOW_DOSE_TARGET,) if "WITHOUT the low-dose target" in text else ()
    result = fit(variant, exclude=exclude, start=stored, max_nfev=6)
    for key, value in result.values.items():
        assert math.isclose(value, stored[key], rel_tol=0.01), key
    assert result.evaluations <= 6 * (len(variant.keys) + 1) + 2


def test_comparison_rows_agree_with_acceptance_of_the_stored_files(comparison):
    assert [r["variant"] for r in comparison["rows"]] == list(targets.VARIANTS)
    for row in comparison["rows"]:
        variant = targets.VARIANTS[row["variant"]]
        values = _values(row["variant"], variant)
        for key, value in row["values"].items():
            assert math.isclose(values[key], value, rel_tol=1e-5), key  # the file holds the compared fit
        times, deficits = simulate_arms(calibrate.arm_configs(variant), values)
        criteria = {k: bool(v) for k, v in targets.acceptance(times, deficits).items()}
        assert criteria == row["criteria"], row["variant"]
        assert row["accepted"] == all(criteria.values())
        assert row["free_parameters"] == len(variant.free)
    table = calibrate.comparison_markdown(comparison["rows"])
    for row in comparison["rows"]:
        line = next(x for x in table.splitlines() if x.startswith(f"| `{row['variant']}` |"))
        assert ("accepted" in line) == row["accepted"] and line.count("FAIL") == list(row["criteria"].values()).count(
            False
        )
    assert comparison["preferred_variant"] == calibrate.preferred_variant(comparison["rows"])


def test_default_variant_is_the_simplest_accepted_one(comparison):
    preferred = comparison["preferred_variant"]
    assert targets.DEFAULT_VARIANT == (preferred or "baseline")
    selections = dict(s.split("=") for s in targets.VARIANTS[targets.DEFAULT_VARIANT].selections)
    default = sim.presets.from_overrides([])
    assert type(default.microglia) is type(
        sim.presets.from_overrides([f"microglia={selections['microglia']}"]).microglia
    )
    assert type(default.spines) is type(sim.presets.from_overrides([f"spines={selections['spines']}"]).spines)


def test_package_data_is_written_by_default_only_in_a_checkout(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    package = Path(calibrate.__file__).resolve().parent
    in_git = any((parent / ".git").exists() for parent in [package, *package.parents])
    assert calibrate.is_checkout(package) == in_git
    assert not calibrate.is_checkout(tmp_path)
    monkeypatch.setattr(calibrate, "is_checkout", lambda directory=None: False)
    with pytest.raises(SystemExit) as error:
        calibrate.main([])  # fails before fitting anything
    assert error.value.code == 2 and "--output-dir is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as error:
        calibrate.main(["--variant", "nonsense", "--output-dir", str(tmp_path)])
    assert error.value.code == 2 and "choose one of baseline" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
