"""``python -m sim.taper``: the taper planner's command line (:func:`sim.taper.report.main`)."""

import sys

from sim.taper.report import main

sys.exit(main())
