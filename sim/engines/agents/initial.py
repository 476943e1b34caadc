"""Initial spine counts of the agent engine: the exact stationary distribution of one segment, or Poisson counts.

See ``docs/agents.md`` ("Spines and their initial counts").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from sim.core.params import ConfigError
from sim.engines.agents.hazards import SpineHazards
from sim.model import PruningModel

_MAX_STATIONARY_STATES = 200_000


def stationary_distribution(
    formation: float, homeostasis: np.ndarray, tagging: float, engulfment: float, intrinsic: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stationary distribution of (untagged, tagged) counts on one segment for constant hazards.

    Parameters
    ----------
    formation
        Segment formation hazard at homeostatic factor 1 [1/h].
    homeostasis
        Homeostatic factor for 0 .. slots spines [1].
    tagging, engulfment, intrinsic
        Per-spine hazards [1/h].

    Returns
    -------
    untagged, tagged, probability
        One entry per state ``untagged + tagged <= slots``.
    """
    slots = homeostasis.size - 1
    n_states = (slots + 1) * (slots + 2) // 2
    if n_states > _MAX_STATIONARY_STATES:
        raise ConfigError(
            f"engine.segment_length_um is too long: {slots} spine sites per segment; use more, shorter segments "
            f"(at most about {int(math.sqrt(2 * _MAX_STATIONARY_STATES))} sites)"
        )
    total = np.repeat(np.arange(slots + 1), np.arange(1, slots + 2))
    tagged = np.arange(n_states) - total * (total + 1) // 2
    untagged = total - tagged

    def index(n: np.ndarray, t: np.ndarray) -> np.ndarray:
        return n * (n + 1) // 2 + t

    src, dst, rate = [], [], []
    ok = total < slots
    src.append(np.flatnonzero(ok))
    dst.append(index(total[ok] + 1, tagged[ok]))
    rate.append(formation * homeostasis[total[ok]])
    ok = untagged > 0
    src += [np.flatnonzero(ok), np.flatnonzero(ok)]
    dst += [index(total[ok], tagged[ok] + 1), index(total[ok] - 1, tagged[ok])]
    rate += [tagging * untagged[ok], intrinsic * untagged[ok]]
    ok = tagged > 0
    src.append(np.flatnonzero(ok))
    dst.append(index(total[ok] - 1, tagged[ok] - 1))
    rate.append((engulfment + intrinsic) * tagged[ok])
    src_all, dst_all, rate_all = np.concatenate(src), np.concatenate(dst), np.concatenate(rate)
    keep = rate_all > 0
    src_all, dst_all, rate_all = src_all[keep], dst_all[keep], rate_all[keep]
    out = np.bincount(src_all, weights=rate_all, minlength=n_states)
    generator_t = scipy.sparse.coo_matrix(
        (
            np.concatenate([rate_all, -out]),
            (np.concatenate([dst_all, np.arange(n_states)]), np.concatenate([src_all, np.arange(n_states)])),
        ),
        shape=(n_states, n_states),
    ).tolil()
    generator_t[0, :] = np.ones(n_states)  # replace one balance equation by the normalisation
    rhs = np.zeros(n_states)
    rhs[0] = 1.0
    probability = scipy.sparse.linalg.spsolve(generator_t.tocsc(), rhs)
    probability = np.clip(probability, 0.0, None)
    return untagged, tagged, probability / probability.sum()


@dataclass(frozen=True)
class InitialCounts:
    """Draws the (untagged, tagged) spine counts of segments at time zero (picklable: sent to every chunk).

    ``name`` is ``"stationary"`` (a state drawn from ``probability`` over the states ``untagged``, ``tagged``) or
    ``"poisson"`` (independent Poisson counts with means ``mean_untagged``, ``mean_tagged``, clipped to ``slots``).
    """

    name: str
    untagged: np.ndarray
    tagged: np.ndarray
    probability: np.ndarray
    mean_untagged: float
    mean_tagged: float
    slots: int

    def __call__(self, rng: np.random.Generator, segments: int) -> tuple[np.ndarray, np.ndarray]:
        """Counts on ``segments`` segments drawn from ``rng`` (its state advances)."""
        if self.name == "stationary":
            k = rng.choice(self.probability.size, size=segments, p=self.probability)
            return self.untagged[k].astype(np.int64), self.tagged[k].astype(np.int64)
        u = np.minimum(rng.poisson(self.mean_untagged, segments), self.slots)
        t = rng.poisson(self.mean_tagged, segments)
        return u, np.minimum(t, self.slots - u)


def initial_sampler(model: PruningModel, h0: SpineHazards, segment_length_um: float) -> InitialCounts:
    """The distribution of the initial counts of one segment.

    ``"stationary"`` when the stationary distribution at the time-zero hazards ``h0`` has the mean of the ODE's
    initial spine state (the drug-free steady state), otherwise ``"poisson"``: independent Poisson counts with the
    ODE means, clipped to the segment's sites.

    Parameters
    ----------
    model
        The coupled model (``initial_state`` and ``state_names`` are used).
    h0
        Hazards of the first step at the initial state.
    segment_length_um
        Segment length [um].
    """
    names = model.state_names
    y0 = model.initial_state()
    mean_u = float(y0[names.index("untagged_spine_density")]) * segment_length_um
    mean_t = float(y0[names.index("tagged_spine_density")]) * segment_length_um
    untagged, tagged, probability = stationary_distribution(
        float(h0.formation[0]), h0.homeostasis, float(h0.tagging[0]), float(h0.engulfment[0]), h0.intrinsic
    )
    m_u, m_t = float(probability @ untagged), float(probability @ tagged)
    stationary = math.isclose(m_u, mean_u, rel_tol=1e-4, abs_tol=1e-9) and math.isclose(
        m_t, mean_t, rel_tol=1e-4, abs_tol=1e-9
    )
    name = "stationary" if stationary else "poisson"
    return InitialCounts(name, untagged, tagged, probability, mean_u, mean_t, h0.slots)
