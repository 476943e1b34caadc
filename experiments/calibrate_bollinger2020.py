"""Fit the two free parameters of the stress arm (sim.stress) to the Bollinger et al. 2020 design.

Shi et al. 2022 parameters and GABA-A affinities stay fixed (package calibration). Two one-dimensional root finds:

1. ``stress.csf1_gain`` so that CUS + vehicle loses ``TARGET_LOSS_PERCENT`` of the spines of control + vehicle at the
   end of 14 days of CUS (the CUS + vehicle arm does not depend on the GABA-A EC50);
2. ``stress.gabaa_ec50`` so that CUS + diazepam 1 mg/kg loses ``PROTECTED_FRACTION`` of that (the finding: at most
   a third; a quarter is aimed at to keep a margin).

Run: ``.venv/bin/python experiments/calibrate_bollinger2020.py`` (about ten seconds); it prints the values to put in
``sim/configs/stress/cus.yaml`` (the package's point estimate). The uncertainty of the stress arm — the same two
parameters solved for sampled targets on every draw of the round-2 posterior — is ``python -m sim.stress_posterior``;
the predictions with their intervals are in the report of ``experiments/reproduce.py``.
"""

from __future__ import annotations

import sys

from scipy.optimize import brentq

from sim import presets
from sim.run import simulate_model

#: Assumed spine loss of CUS + vehicle after 14 days [% of control + vehicle] (not reported in the abstract of
#: [bollinger2020]; an assumption, see sim/configs/stress/cus.yaml).
TARGET_LOSS_PERCENT = 12.0
#: CUS + diazepam loss aimed at, as a fraction of the CUS + vehicle loss (the finding: at most 1/3).
PROTECTED_FRACTION = 0.25
ARMS = ("control_vehicle", "control_diazepam", "cus_vehicle", "cus_diazepam")


def final_density(arm: str, overrides=()) -> float:
    """Spine density at the end of the arm [1/um] (stress overrides apply to the CUS arms only)."""
    if arm.startswith("control"):
        overrides = [o for o in overrides if not o.startswith("stress.")]
    run = presets.experiment(f"bollinger2020_{arm}", list(overrides))
    return float(simulate_model(run.model(), run.times_h())["spine_density"].values[-1])


def deficits(overrides=(), arms=ARMS) -> dict[str, float]:
    """Spine deficit of each arm against control + vehicle at the end of CUS [percent].

    Overrides apply to every arm, except ``stress.*`` (CUS arms only) and ``regimen.*`` (not to control + vehicle).
    """
    base = final_density("control_vehicle", [o for o in overrides if not o.startswith("regimen.")])  # no drug
    return {arm: 100.0 * (1.0 - final_density(arm, overrides) / base) for arm in arms}


def fit(extra=(), target=TARGET_LOSS_PERCENT) -> tuple[float, float]:
    """(csf1_gain, gabaa_ec50) meeting ``target`` [%] for CUS + vehicle and PROTECTED_FRACTION of it with diazepam."""
    extra = list(extra)

    def vehicle_gap(gain):
        return deficits([f"stress.csf1_gain={gain}", *extra], ("cus_vehicle",))["cus_vehicle"] - target

    gain = brentq(vehicle_gap, 1e-4, 10.0, xtol=1e-7)

    def diazepam_gap(log_ec50):
        d = deficits([f"stress.csf1_gain={gain}", f"stress.gabaa_ec50={10**log_ec50}", *extra], ("cus_diazepam",))
        return d["cus_diazepam"] - PROTECTED_FRACTION * target

    return gain, 10 ** brentq(diazepam_gap, -6.0, 1.0, xtol=1e-5)


def main(extra=()) -> None:
    gain, ec50 = fit(extra)
    print(f"stress.csf1_gain={gain:.4g} stress.gabaa_ec50={ec50:.4g}")
    print(deficits([f"stress.csf1_gain={gain:.4g}", f"stress.gabaa_ec50={ec50:.4g}", *extra]))


if __name__ == "__main__":
    main(sys.argv[1:])
