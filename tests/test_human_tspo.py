"""The one human TSPO measurement: XBD173 occupancy 2 h after an oral dose ([11C]PBR28 PET, Owen et al. 2014).

Owen et al. (2014, J Cereb Blood Flow Metab 34:989, doi:10.1038/jcbfm.2014.46) gave six high-affinity binders 10-90 mg
XBD173 by mouth 2 h before a PET scan: ED50 = 0.34 +/- 0.13 mg/kg. A model that reproduces the measurement gives an
occupancy near one half after 0.34 mg/kg; the window 0.3-0.7 allows for the ED50's uncertainty.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import presets, simulate_model

ED50_MG_PER_KG = 0.34  # Owen et al. 2014, high-affinity binders
SCAN_H = 2.0  # dose given 2 h before the scan


def occupancy_after_oral_dose(dose_mg_per_kg: float, binder: str = "high") -> float:
    """Model TSPO occupancy [1] SCAN_H hours after one oral XBD173 dose in a human of the given rs6971 class."""
    run = presets.from_overrides(
        ["experiment=vehicle", "drug=xbd173", "species=human", "regimen=single_dose", "regimen.route=oral",
         f"regimen.dose_mg_per_kg={dose_mg_per_kg}", f"species.tspo_binder={binder}"]
    )  # fmt: skip
    with pytest.warns(UserWarning, match="extrapolations"):
        result = simulate_model(run.model(), np.array([0.0, SCAN_H]))
    return float(result["tspo_occupancy"].values[-1])


@pytest.mark.xfail(
    strict=True,
    reason="measured: ED50 0.34 mg/kg (occupancy 0.5) in high-affinity binders [owen2014]; the model gives 0.99 at "
    "2 h: free XBD173 about 26 nM against the rat in-vitro Ki 0.297 nM [kita2004]. No human pharmacokinetics of "
    "XBD173 were found, so its disposition is a placeholder copied from human diazepam (fu 1.5 %, V 1.1 L/kg, "
    "F 0.94: compound_pk/xbd173_human.yaml, all 'assumption'); reproducing the ED50 needs a free concentration "
    "about 90-fold lower at 2 h (or an in-vivo Ki that much higher). Not tuned: fitting the placeholder to this "
    "measurement would make the check circular.",
)
def test_xbd173_occupancy_at_the_human_ed50_matches_owen_2014():
    assert 0.3 <= occupancy_after_oral_dose(ED50_MG_PER_KG) <= 0.7


def test_low_binders_are_less_occupied_than_mixed_and_mixed_than_high():
    """rs6971: XBD173's low-affinity form has a larger Ki, so low < mixed < high occupancy at the same dose."""
    xbd173 = presets.from_overrides(["drug=xbd173", "species=human"]).model().drug.compounds["xbd173"]
    assert xbd173.tspo_ki_for("human", "low") > xbd173.tspo_ki_for("human", "high")
    dose = ED50_MG_PER_KG / 30  # a dose on the rising part of every class's curve, so the classes separate
    high, mixed, low = (occupancy_after_oral_dose(dose, binder) for binder in ("high", "mixed", "low"))
    assert 0.0 < low < mixed < high < 1.0
    assert mixed == pytest.approx(0.5 * (high + low), rel=1e-6)  # half the sites of each form
