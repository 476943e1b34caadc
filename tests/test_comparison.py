"""sim.comparison: dose equivalents, variant runs and summary tables; the findings notebook 05 shows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.comparison import (
    EQUIVALENT_ORAL_DOSE_MG,
    drug_variants,
    equivalent_doses,
    simulate_variants,
    summary_table,
    table_rows,
)
from sim.teaching import markdown_table

SHORT = ["duration_days=14", "output_step_h=3"]


def test_equivalent_doses_scale_the_table():
    doses = equivalent_doses(5.0)  # mg/kg of diazepam
    assert doses["diazepam"] == 5.0
    assert doses["alprazolam"] == pytest.approx(0.25) and doses["chlordiazepoxide"] == pytest.approx(12.5)
    assert equivalent_doses(1.0, "lorazepam")["diazepam"] == pytest.approx(10.0)
    assert set(doses) == set(EQUIVALENT_ORAL_DOSE_MG)
    with pytest.raises(ValueError):
        equivalent_doses(1.0, "xbd173")


def test_drug_variants_are_overrides():
    variants = drug_variants({"diazepam": np.float64(2.5), "alprazolam": 0.25})
    assert variants == {
        "diazepam": ["drug=diazepam", "regimen.dose_mg_per_kg=2.5"],
        "alprazolam": ["drug=alprazolam", "regimen.dose_mg_per_kg=0.25"],
    }
    assert drug_variants({"diazepam": 10}, "dose_mg")["diazepam"][1] == "regimen.dose_mg=10.0"
    with pytest.raises(ValueError):
        drug_variants({"diazepam": 1.0}, "dose")


def test_summary_table_stacks_summaries_with_units():
    runs = simulate_variants(drug_variants({"diazepam": 5.0, "clonazepam": 5.0}), common=SHORT)
    assert runs["diazepam"].attrs["variant"] == "diazepam" and float(runs["diazepam"].time[-1]) == 14.0
    table = summary_table(runs, dim="drug")
    assert list(table.drug.values) == ["diazepam", "clonazepam"]
    np.testing.assert_allclose(table.dose, [5.0, 5.0])
    assert table.max_spine_loss.attrs["units"] == "percent" and table.dose.attrs["units"] == "mg/kg"
    rows = table_rows(table, ["dose", "max_spine_loss"], dim="drug")
    assert rows[0]["drug"] == "diazepam" and "max_spine_loss [percent]" in rows[0]
    text = markdown_table(rows)
    assert text.splitlines()[0] == "| drug | dose [mg/kg] | max_spine_loss [percent] |"
    assert len(text.splitlines()) == 4
    # at equal mg/kg, clonazepam (TSPO Ki ~30 uM) prunes far less than diazepam
    assert float(table.max_spine_loss.sel(drug="clonazepam")) < float(table.max_spine_loss.sel(drug="diazepam")) / 5


def test_clinically_equivalent_doses_differ_in_tspo_not_gabaa_occupancy():
    """Human equivalents of 10 mg diazepam: GABA-A occupancy within one order of magnitude, TSPO far apart.

    At in-vivo affinities (sim.binding: in-vitro Ki scaled by gabaa_ki_scale) therapeutic doses occupy only a small
    fraction of the benzodiazepine sites; what separates the drugs is TSPO occupancy.
    """
    doses = {k: v for k, v in equivalent_doses(10.0).items() if k in ("diazepam", "alprazolam", "lorazepam")}
    runs = simulate_variants(
        drug_variants(doses, "dose_mg"),
        common=["species=human", "regimen=human_daily_oral", "translation=none", *SHORT],
    )
    table = summary_table(runs, dim="drug")
    tspo, gabaa = table.mean_tspo_occupancy, table.mean_gabaa_occupancy
    assert float(tspo.sel(drug="diazepam")) > 100 * float(tspo.drop_sel(drug="diazepam").max())
    assert float(gabaa.min()) > 0.005  # every drug does occupy the benzodiazepine site
    assert float(gabaa.max()) < 10 * float(gabaa.min())  # clinically equivalent: same order of magnitude


def test_taper_delays_recovery_compared_with_stopping_when_the_taper_starts():
    common = ["duration_days=140", "output_step_h=3"]
    runs = simulate_variants(
        {
            "abrupt at day 28": ["regimen.dose_mg_per_kg=1", "regimen.stop_day=28"],
            "percent taper": ["regimen=taper_percent"],
            "full dose to day 56": ["regimen.dose_mg_per_kg=1", "regimen.stop_day=56"],
        },
        common=common,
    )
    table = summary_table(runs)
    recovery = table.recovery_day
    assert not np.isnan(recovery).any()
    abrupt, taper, full = (float(recovery.sel(variant=k)) for k in table.variant.values)
    assert abrupt < taper < full
    assert float(table.total_dose.sel(variant="abrupt at day 28")) == pytest.approx(28.0)
    assert float(table.last_dose_day.sel(variant="percent taper")) == pytest.approx(55.0)
    assert math.isclose(
        float(table.recovery_after_last_dose.sel(variant="abrupt at day 28")),
        abrupt - 27.0,
    )


def test_comparison_plots_label_themselves():
    import matplotlib.pyplot as plt

    from sim.plotting import plot_occupancy_map, plot_regimen_comparison, plot_summary_bars

    runs = simulate_variants(drug_variants({"diazepam": 5.0, "xbd173": 1.0}), common=SHORT)
    table = summary_table(runs, dim="drug")
    ax = plot_occupancy_map(table, dim="drug")
    assert ax.get_yscale() == "log" and "GABA-A" in ax.get_xlabel()
    assert [t.get_text() for t in ax.texts] == ["diazepam", "xbd173"]
    ax = plot_summary_bars(table, "max_spine_loss", dim="drug")
    assert ax.get_xlabel().endswith("[%]") and len(ax.patches) == 2
    axes = plot_regimen_comparison(runs)
    assert [line.get_label() for line in axes[1].get_lines()][:2] == ["diazepam", "xbd173"]
    assert len(axes[0].get_lines()[0].get_xdata()) == 7  # seven daily doses within 14 days
    plt.close("all")


def test_markdown_table_formats_cells():
    text = markdown_table([{"a": 0.000123456, "b": "x|y"}, {"a": 2, "b": "line\nbreak"}], digits=2)
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 0.00012 | x/y |", "| 2 | line break |"]
    assert markdown_table([], ["a"]).splitlines() == ["| a |", "|---|"]
