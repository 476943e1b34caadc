"""``python -m sim`` runs the ``synaprune`` command."""

from sim.cli import main

main()
