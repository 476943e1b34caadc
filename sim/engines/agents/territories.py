"""Microglial cells of the agent engine: equal territories tiling each replicate's dendrite, one multiplier each.

See ``docs/agents.md`` ("Microglial cells and territories") for the derivation of the 35 µm default territory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.special


@dataclass
class Territories:
    """The microglial cells of one replicate: territories along its dendrite and each cell's multiplier.

    Cell ``c`` owns the dendrite from ``edges_um[c]`` to ``edges_um[c + 1]`` (the first edge is 0, the last the
    replicate's dendrite length) and multiplies the mean-field tagging and engulfment hazards of the spines there
    by ``multiplier[c]``. Two small arrays per replicate, no object per cell.

    Parameters
    ----------
    edges_um
        Territory edges along the replicate's dendrite [um], increasing (length n_cells + 1).
    multiplier
        Responsiveness multiplier of each cell [1] (length n_cells).
    """

    edges_um: np.ndarray
    multiplier: np.ndarray

    @classmethod
    def single(cls, length_um: float) -> Territories:
        """One cell with multiplier 1 owning the whole dendrite (the mean field, spine by spine)."""
        return cls(np.array([0.0, float(length_um)]), np.ones(1))

    @classmethod
    def draw(cls, n_cells: int, length_um: float, cv: float, rng: np.random.Generator) -> Territories:
        """``n_cells`` equal territories over ``length_um`` [um]; multipliers gamma-distributed, mean 1, CV ``cv``.

        The multipliers are gamma quantiles of uniform numbers from ``rng``, so with the same seed a cell keeps
        its rank whatever ``cv``; with ``cv = 0`` nothing is drawn and every multiplier is 1.
        """
        edges = territory_edges(n_cells, length_um, 0, n_cells)
        if cv == 0.0:
            return cls(edges, np.ones(n_cells))
        return cls(edges, _gamma_quantile(cv, rng.random(n_cells)))

    @classmethod
    def block(
        cls, n_cells: int, length_um: float, cv: float, seed: np.random.SeedSequence, first: int, stop: int
    ) -> Territories:
        """Cells ``first .. stop - 1`` of :meth:`draw` with ``rng = Generator(PCG64(seed))``, bit for bit.

        The generator is advanced past the uniform numbers of the cells before ``first`` (one 64-bit draw per
        double), so a chunk of the dendrite gets its cells without drawing those of the whole replicate.
        """
        edges = territory_edges(n_cells, length_um, first, stop)
        if cv == 0.0:
            return cls(edges, np.ones(stop - first))
        rng = np.random.Generator(np.random.PCG64(seed))
        rng.bit_generator.advance(first)
        return cls(edges, _gamma_quantile(cv, rng.random(stop - first)))

    @property
    def n_cells(self) -> int:
        """Number of microglial cells."""
        return self.multiplier.size

    @property
    def position_um(self) -> np.ndarray:
        """Centre of each cell's territory [um]."""
        return 0.5 * (self.edges_um[1:] + self.edges_um[:-1])

    def cell_of(self, position_um: np.ndarray) -> np.ndarray:
        """Index of the cell whose territory holds each position (every position in exactly one territory)."""
        index = np.searchsorted(self.edges_um, position_um, side="right") - 1
        return np.clip(index, 0, self.n_cells - 1)


def territory_edges(n_cells: int, length_um: float, first: int, stop: int) -> np.ndarray:
    """Edges of cells ``first .. stop - 1`` of ``n_cells`` equal territories over ``length_um`` [um].

    Edge ``c`` is ``c x (length_um / n_cells)`` and the last one exactly ``length_um`` (the values of
    ``np.linspace``), so any block of cells has the same edges as the whole replicate.
    """
    edges = np.arange(first, stop + 1) * (float(length_um) / n_cells)
    if stop == n_cells:
        edges[-1] = float(length_um)
    return edges


def max_multiplier(n_cells: int, cv: float, seed: np.random.SeedSequence, block: int = 1 << 20) -> float:
    """Largest multiplier of :meth:`Territories.block` over all ``n_cells`` cells, drawn block by block [1]."""
    if cv == 0.0:
        return 1.0
    rng = np.random.Generator(np.random.PCG64(seed))
    largest = max(float(rng.random(min(block, n_cells - i)).max()) for i in range(0, n_cells, block))
    return float(_gamma_quantile(cv, np.array([largest]))[0])  # the quantile increases with the uniform number


def _gamma_quantile(cv: float, uniform: np.ndarray) -> np.ndarray:
    """Gamma quantiles of ``uniform`` for mean 1 and coefficient of variation ``cv`` [1]."""
    shape = 1.0 / cv**2
    return scipy.special.gammaincinv(shape, uniform) / shape


def round_half_up(x: float) -> int:
    """Nearest integer, halves rounded up (Python's round() rounds halves to even)."""
    return int(math.floor(x + 0.5))


def cell_count(dendrite_um: float, territory_um: float, microglia_density: float) -> int:
    """Cells on ``dendrite_um`` [um]: ``round(n x round(dendrite / territory))``, at least one of each.

    Parameters
    ----------
    dendrite_um
        Length of the replicate's dendrite [um].
    territory_um
        Dendrite in one territory at intact microglia density [um].
    microglia_density
        Microglia density relative to intact brain, ``n`` [1].
    """
    intact = max(1, round_half_up(dendrite_um / territory_um))
    return max(1, round_half_up(microglia_density * intact))
