"""Fit and compare every mechanism variant; regenerate every calibration file and the comparison table.

Usage::

    python experiments/compare_mechanisms.py      # the same as: python -m sim.calibrate --all

Writes ``sim/configs/calibration/<variant>.yaml`` for every variant of ``sim.targets.VARIANTS``,
``sim/configs/calibration/shi2022.yaml`` (the default variant) and ``experiments/mechanism_comparison.json``, which
``experiments/reproduce_shi2022.py --docs`` renders into ``docs/validation.md``.
"""

from __future__ import annotations

import sys

from sim.calibrate import main

if __name__ == "__main__":
    sys.exit(main(["--all", *sys.argv[1:]]))
