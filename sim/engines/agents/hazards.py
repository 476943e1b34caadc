"""Per-spine hazards of the agent engine, derived from the stages of :class:`sim.model.PruningModel`.

The mean-field fluxes of :class:`sim.spines.SpineTurnover` evaluated at unit density give the per-spine tagging,
engulfment and intrinsic-loss hazards; the formation flux gives the per-segment birth hazard and its homeostatic
factor. Hazards are piecewise constant over the spine steps (signals frozen at each step midpoint). See
``docs/agents.md`` ("Hazards", "Microglial contacts").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.core.params import ConfigError
from sim.model import PruningModel


@dataclass
class SpineHazards:
    """Per-step hazards that drive the spines of one segment type (piecewise constant on ``edges_h``).

    Parameters
    ----------
    edges_h
        Step edges [h], increasing, starting at 0 (length n_steps + 1).
    tagging
        Tagging hazard of an untagged spine in each step [1/h].
    engulfment
        Engulfment hazard of a tagged spine in each step [1/h].
    intrinsic
        Microglia-independent loss hazard of every spine [1/h].
    formation
        Formation hazard of a whole segment at homeostatic factor 1 in each step [1/h].
    homeostasis
        Homeostatic factor for ``n = 0 .. slots`` spines on a segment [1]; its length sets the number of sites.
    segment_length_um
        Segment length [um].
    """

    edges_h: np.ndarray
    tagging: np.ndarray
    engulfment: np.ndarray
    intrinsic: float
    formation: np.ndarray
    homeostasis: np.ndarray
    segment_length_um: float

    @property
    def slots(self) -> int:
        """Spine sites per segment."""
        return self.homeostasis.size - 1

    @property
    def slot_offsets_um(self) -> np.ndarray:
        """Position of each site from the start of its segment [um]."""
        return (np.arange(self.slots) + 0.5) * (self.segment_length_um / self.slots)


def slots_per_segment(model: PruningModel, segment_length_um: float, capacity_factor: float) -> int:
    """Spine sites per segment: ``ceil(capacity_factor x baseline spines per segment) + 4`` [1]."""
    baseline = model.spines.baseline_density_per_um * segment_length_um
    return int(math.ceil(capacity_factor * baseline)) + 4


def spine_hazards(
    model: PruningModel,
    edges_h: np.ndarray,
    activation: np.ndarray,
    c1q: np.ndarray,
    segment_length_um: float,
    slots: int,
) -> SpineHazards:
    """Per-step hazards from activation and C1q at the step midpoints, through the stage methods.

    Parameters
    ----------
    model
        The coupled model; only ``model.spines``, ``model.microglia.engulfment_capacity`` and
        ``model.microglia_density`` are used.
    edges_h
        Step edges [h] (length n_steps + 1).
    activation, c1q
        Microglial activation and C1q level [1] at the midpoint of each step (length n_steps).
    segment_length_um
        Segment length [um].
    slots
        Spine sites per segment.

    Raises
    ------
    NotImplementedError
        If ``SpineTurnover.formation`` is not of the form ``f(A, n) * g(density)``, which the per-segment birth
        process needs.
    """
    sp, mg, n = model.spines, model.microglia, model.microglia_density
    length, s0 = float(segment_length_um), sp.baseline_density_per_um
    tagging = np.asarray(sp.tagging(1.0, c1q, n), dtype=float)
    engulfment = np.asarray(sp.engulfment(1.0, mg.engulfment_capacity(activation), n), dtype=float)
    formation = np.asarray(sp.formation(s0, activation, n), dtype=float) * length
    reference = float(sp.formation(s0, 0.0, n))
    counts = np.arange(slots + 1)
    homeostasis = np.asarray(sp.formation(counts / length, 0.0, n), dtype=float) / reference
    probe = [float(activation.max(initial=0.0)), float(np.median(activation)) if activation.size else 0.0]
    for a in probe:
        expected = np.asarray(sp.formation(counts / length, a, n), dtype=float)
        if not np.allclose(expected, homeostasis * float(sp.formation(s0, a, n)), rtol=1e-9, atol=1e-15):
            raise NotImplementedError(
                "SpineTurnover.formation is not of the form f(A, n) * g(density); the agent engine needs that"
            )
    return SpineHazards(
        edges_h=np.asarray(edges_h, dtype=float),
        tagging=tagging,
        engulfment=engulfment,
        intrinsic=float(sp.intrinsic_elimination_rate),
        formation=formation,
        homeostasis=homeostasis,
        segment_length_um=length,
    )


def check_contacts(model: PruningModel, h: SpineHazards, contact_rate_per_h: float, multiplier: float = 1.0) -> None:
    """Refuse hazards that would need more than one tagging or engulfment per microglial contact.

    Parameters
    ----------
    model
        The coupled model (its ``microglia_density`` scales the contact rate).
    h
        The run's hazards.
    contact_rate_per_h
        Contacts per spine per hour at intact microglia density [1/h].
    multiplier
        Largest responsiveness multiplier of any cell in the run [1].

    Raises
    ------
    ConfigError
        Naming ``engine.contact_rate_per_h`` and the smallest value that would do.
    """
    contacts = contact_rate_per_h * model.microglia_density
    worst = max(float(h.tagging.max(initial=0.0)), float(h.engulfment.max(initial=0.0))) * multiplier / contacts
    if worst > 1.0:
        need = contact_rate_per_h * worst
        cells = (
            f" in a cell with multiplier {multiplier:.3g} (or lower engine.microglia_heterogeneity_cv)"
            if multiplier != 1.0
            else ""
        )
        raise ConfigError(
            f"engine.contact_rate_per_h = {contact_rate_per_h!r} is not allowed for this model: tagging or "
            f"engulfment would need {worst:.3g} events per microglial contact{cells}; it must be >= "
            f"{need:.3g} 1/h (or lengthen spines.tagged_dwell_h)"
        )
