"""Fit the two free parameters of the stress arm (sim.stress) to the Bollinger et al. 2020 design.

Shi et al. 2022 parameters and GABA-A affinities stay fixed (package calibration). Two one-dimensional root finds:

1. ``stress.csf1_gain`` so that CUS + vehicle loses ``TARGET_LOSS_PERCENT`` of the spines of control + vehicle at the
   end of 14 days of CUS (the CUS + vehicle arm does not depend on the GABA-A EC50);
2. ``stress.gabaa_ec50`` so that CUS + diazepam 1 mg/kg loses ``PROTECTED_FRACTION`` of that (the finding: at most
   a third; a quarter is aimed at to keep a margin).

Run: ``.venv/bin/python experiments/calibrate_bollinger2020.py`` (about ten seconds); it prints the values to put in
``sim/configs/stress/cus.yaml``. With ``--predict`` it prints the predictions instead (no fitting): every arm for
wild-type, GABA-A-insensitive and TSPO-KO mice, and the daily dose above which diazepam's net effect on the stressed
PFC turns from protective to harmful (CUS + diazepam loses more than CUS + vehicle).
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


def intervals() -> None:
    """Refit under the stated assumptions' ranges (CUS loss 10-15 %, activity gain 0.5-2) and print the predictions."""
    for target in (10.0, 12.0, 15.0):
        for activity_gain in (0.5, 1.0, 2.0):
            extra = [f"stress.activity_gain={activity_gain}"]
            gain, ec50 = fit(extra, target)
            extra += [f"stress.csf1_gain={gain:.6g}", f"stress.gabaa_ec50={ec50:.6g}"]
            print(f"target {target} activity_gain {activity_gain}: csf1_gain {gain:.4g} gabaa_ec50 {ec50:.4g}")
            predict(extra)


def main(extra=()) -> None:
    gain, ec50 = fit(extra)
    print(f"stress.csf1_gain={gain:.4g} stress.gabaa_ec50={ec50:.4g}")
    print(deficits([f"stress.csf1_gain={gain:.4g}", f"stress.gabaa_ec50={ec50:.4g}", *extra]))


def predict(extra=()) -> None:
    extra = list(extra)
    for genotype in ("wt", "gabaa_bz_insensitive", "tspo_ko"):
        d = deficits([f"genotype={genotype}", *extra])
        print(genotype, {arm: round(v, 2) for arm, v in d.items()})
    vehicle = deficits(extra, ("cus_vehicle",))["cus_vehicle"]

    def net(dose):
        d = deficits([f"regimen.dose_mg_per_kg={dose}", *extra], ("cus_diazepam",))["cus_diazepam"]
        return d - vehicle

    crossing = brentq(net, 1.0, 20.0, xtol=1e-3)
    print(f"net effect turns harmful above {crossing:.2f} mg/kg/day (14 d, CUS + diazepam vs CUS + vehicle)")


if __name__ == "__main__":
    if "--intervals" in sys.argv:
        intervals()
    elif "--predict" in sys.argv:
        predict([a for a in sys.argv[1:] if a != "--predict"])
    else:
        main(sys.argv[1:])
