"""sim.compare_drugs: equipotent doses ranked by predicted TSPO liability; equal PK ranks by the affinity ratio."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sim import library
from sim.analysis import EQUIVALENCE_SOURCE, equivalent_doses
from sim.compare_drugs import RESOLUTION_PERCENT, clinical_run, compare_drugs, equal_pk_run, main, settings
from sim.io import open_result

SHORT = {"duration_days": 14.0, "draws": 3}
#: Distinct Ki(GABA-A)/Ki(TSPO) in humans; chlordiazepoxide's is the largest, but with real PK diazepam leads.
DRUGS = ["oxazepam", "diazepam", "temazepam", "chlordiazepoxide"]


def compound(drug: str):
    return library.build(library.compose([f"drug={drug}"]))["drug"].compounds[drug]


def affinity_ratio(drug: str) -> float:
    c = compound(drug)
    return c.gabaa_ki_nM / c.tspo_ki_for("human", "high")


@pytest.fixture(scope="module")
def equal():
    return compare_drugs(drugs=DRUGS, pk="equal", **SHORT)


def test_equal_pk_ranks_by_the_ratio_of_gabaa_to_tspo_affinity(equal):
    ratios = {d: affinity_ratio(d) for d in DRUGS}
    assert len(set(ratios.values())) == len(DRUGS)  # distinct: a swapped pair would show
    assert all(compound(d).tspo_efficacy == 1.0 for d in DRUGS)  # agonism = occupancy for all of them
    assert list(equal.drug.values) == sorted(DRUGS, key=lambda d: -ratios[d])
    # equipotent in the model's own terms: every drug occupies GABA-A alike (one compound, same curve in Ki units)
    gabaa = equal.mean_gabaa_occupancy.values
    np.testing.assert_allclose(gabaa, gabaa[0], rtol=1e-4)
    assert 0.01 < gabaa[0] < 0.99
    # the order is carried by the prediction itself where it is resolved, not by the tie-break
    deficit = equal.spine_deficit_median.values
    resolved = deficit >= RESOLUTION_PERCENT
    assert resolved[:2].all() and np.all(np.diff(deficit[resolved]) < 0)
    assert np.all(np.diff(equal.tspo_occupancy_time.values) < 0)
    # metabolites are switched off and every drug has the reference drug's disposition
    s = settings(**SHORT)
    reference = clinical_run("diazepam", s)
    run = equal_pk_run("chlordiazepoxide", s, reference)
    assert run.pk.names == ("chlordiazepoxide",) and list(run.drug.compounds) == ["chlordiazepoxide"]
    assert run.pk.compounds["chlordiazepoxide"] == reference.pk.compounds["diazepam"]
    assert run.pk.ka_oral_per_h == reference.pk.ka_oral_per_h != clinical_run("chlordiazepoxide", s).pk.ka_oral_per_h


def test_equal_pk_doses_are_proportional_to_the_molar_gabaa_ki(equal):
    dzp = compound("diazepam")
    for drug in DRUGS:
        c = compound(drug)
        expected = 10.0 * c.gabaa_ki_nM * c.molar_mass_g_per_mol / (dzp.gabaa_ki_nM * dzp.molar_mass_g_per_mol)
        assert float(equal.daily_dose.sel(drug=drug)) == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    code = main(["--drugs", "temazepam,chlordiazepoxide,diazepam", "--days", "14", "--draws", "3", "--out", str(out)])
    assert code == 0
    return out


def test_real_pk_states_where_and_why_the_order_changes(written):
    ds = open_result(written / "compare_drugs.nc")
    drugs = list(ds.drug.values)
    # doses from the clinical table (sim.analysis.equivalence), ranks 1..n in the written order
    for drug in drugs:
        assert float(ds.daily_dose.sel(drug=drug)) == pytest.approx(equivalent_doses(10.0)[drug])
    assert list(ds["rank"].values) == [1, 2, 3]
    # the equal-PK ranks follow the affinity ratio (the test above), the real ones differ for one pair
    by_ratio = sorted(drugs, key=lambda d: -affinity_ratio(d))
    assert [by_ratio.index(d) + 1 for d in drugs] == list(ds.rank_equal_pk.values)
    assert drugs[:2] == ["diazepam", "chlordiazepoxide"] and list(ds.rank_equal_pk.values[:2]) == [2, 1]
    # why: chlordiazepoxide's clinical dose is ~1/25 of the dose of equal GABA-A occupancy (in-vitro Ki 600 nM)
    cdp, dzp = compound("chlordiazepoxide"), compound("diazepam")
    dose_ratio = 25.0 / (
        10.0 * cdp.gabaa_ki_nM * cdp.molar_mass_g_per_mol / (dzp.gabaa_ki_nM * dzp.molar_mass_g_per_mol)
    )
    assert dose_ratio < float(ds.dose_factor.sel(drug="chlordiazepoxide")) < 2 * dose_ratio  # near-linear occupancy
    assert float(ds.dose_factor.sel(drug="diazepam")) == pytest.approx(1.0, rel=1e-12)  # the reference's own dose
    reason = str(ds.reason.sel(drug="chlordiazepoxide").values)
    assert reason.startswith("down from 1 to 2; dominant step: dose") and "diazepam" in reason
    assert str(ds.reason.sel(drug="temazepam").values) == "same place as with equal PK"
    # chlordiazepoxide -> nordiazepam -> oxazepam adds TSPO occupancy-time; the share is what the factor says
    share, factor = (
        float(ds.metabolite_share.sel(drug="chlordiazepoxide")),
        float(ds.metabolites_factor.sel(drug="chlordiazepoxide")),
    )
    assert share > 0 and share == pytest.approx(1 - 1 / factor)


def test_written_files_carry_units_provenance_and_the_equivalence_source(written):
    ds = open_result(written / "compare_drugs.nc")
    for name, variable in ds.variables.items():
        assert "units" in variable.attrs and variable.attrs.get("long_name"), name
    for key in ("seed", "sim_version", "git_commit", "settings", "equivalence_source", "rank_key", "equal_pk"):
        assert key in ds.attrs, key
    assert ds.attrs["equivalence_source"] == EQUIVALENCE_SOURCE
    md = (written / "compare_drugs.md").read_text(encoding="utf-8")
    assert EQUIVALENCE_SOURCE in md and "## Where the order with real PK differs" in md
    ranked = [m.groups() for m in re.finditer(r"^\| (\d)( †)? \| (\w+) \|", md, re.MULTILINE)]
    assert [(int(r), d) for r, _, d in ranked] == [(int(ds["rank"].sel(drug=d)), d) for d in ds.drug.values]
    tied = [d for _, mark, d in ranked if mark]  # placed by the tie-break: deficit below the resolution
    assert tied == [d for d in ds.drug.values if float(ds.spine_deficit_median.sel(drug=d)) < RESOLUTION_PERCENT]
    assert "TSPO Ki assumed" in md  # temazepam's TSPO Ki is an assumption: flagged
    assert (written / "compare_drugs.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--drugs", "diazepam,aspirin"], "drugs = 'aspirin' is not allowed"),
        (["--days", "0"], "duration_days = 0.0 is not allowed"),
        (["--days", "abc"], "invalid float value: 'abc'"),
        (["--draws", "1"], "draws = 1 is not allowed"),
        (["--species", "rat"], "species = 'rat' is not allowed"),
        (["--reference-dose", "200"], "above the plausible maximum"),
        (["--draws", "100000"], "uncertainty.draws = 100000 is not allowed"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sim.compare_drugs: error: ") and words in err, err
    assert not out.exists()


def test_mouse_doses_are_the_table_ratios_in_mg_per_kg_and_placeholder_kinetics_are_flagged():
    ds = compare_drugs(drugs=["alprazolam", "diazepam"], species="mouse", duration_days=3, draws=2)
    assert ds.daily_dose.attrs["units"] == "mg/kg"
    assert float(ds.daily_dose.sel(drug="alprazolam")) == pytest.approx(equivalent_doses(5.0)["alprazolam"])
    assert "kinetics assumed in mouse" in str(ds.flags.sel(drug="alprazolam").values)
    assert "kinetics assumed" not in str(ds.flags.sel(drug="diazepam").values)  # rat values [friedman1986]
    assert list(ds.drug.values) == ["diazepam", "alprazolam"] and ds.sizes["draw"] == 2
