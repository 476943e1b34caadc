"""Regenerate the packaged synthetic imaging example (sim/data/example_imaging_*.csv).

    python experiments/make_example_imaging_data.py [--out sim/data]

Simulates vehicle and diazepam 5 mg/kg i.p. once daily for 7 days (sim.imaging_data.EXAMPLE_TREATMENTS), four
animals per group with the agent engine at the packaged calibrated parameters, images 100 um of dendrite per animal
every 4 days from day 0 to day 28 with perfect detection (sim.imaging), and writes the scoring and groups tables
and the generating parameter values (sim.imaging_data.example_parameters: the microglia and spines fields of the
model, which the fit of tests/test_fit_imaging.py must recover).
The data are SYNTHETIC: they come from the model, not from an experiment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim import imaging_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=imaging_data.EXAMPLE_DIR, help="folder to write (default: sim/data)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scoring, groups, _ = imaging_data.simulate_example()
    print(imaging_data.write_csv(scoring, args.out / imaging_data.EXAMPLE_SCORING), f"{len(scoring)} rows")
    print(imaging_data.write_csv(groups, args.out / imaging_data.EXAMPLE_GROUPS), f"{len(groups)} rows")
    parameters = imaging_data.example_parameters()
    print(imaging_data.write_csv(parameters, args.out / imaging_data.EXAMPLE_PARAMETERS), f"{len(parameters)} rows")


if __name__ == "__main__":
    main()
