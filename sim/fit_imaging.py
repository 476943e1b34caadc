r"""Fitting the model to imaging data (issue 16, item 2): SKELETON, not done.

What is here: the model's expected readouts for a group of :func:`sim.imaging_data.load` (its own treatment,
mean-field cohorts of :func:`sim.imaging.image`) and the log-likelihood of the data's counts per dendrite segment
(not of percentages). What is missing: choosing the parameters to fit, the optimiser or sampler, intervals, the fit
figure, the NetCDF of everything and the ``python -m sim.fit_imaging`` command.

Likelihood (segment :math:`s` of length :math:`\ell_s` in group :math:`g`, sessions :math:`k`; :math:`N_{s,k}` the
spines scored, :math:`G_{s,k}` gained and :math:`L_{s,k}` lost since session :math:`k-1`; :math:`\rho_g`,
:math:`\gamma_{g,k}`, :math:`\lambda_{g,k}` the model's density and gained and lost fractions):

.. math::

    \log L = \sum_s \log \mathrm{Poisson}(N_{s,0} \mid \rho_{g,0}\,\ell_s)
           + \sum_{s,\,k \ge 1} \left[\log \mathrm{Binomial}(L_{s,k} \mid N_{s,k-1}, \lambda_{g,k})
           + \log \mathrm{Poisson}(G_{s,k} \mid N_{s,k-1}\,\gamma_{g,k})\right]

Each spine present at a session is lost by the next independently (binomial); new spines arrive as a Poisson
process (mean-field: the formation flux does not depend on which spines are present). Surviving counts are left out
because they are sums of the lost counts already in the likelihood. Intervals after a session with no spines on the
segment contribute nothing; animals that skipped a session are refused for now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from scipy import stats

from sim.core.params import ConfigError
from sim.imaging import ImagingProtocol, image
from sim.imaging_data import Group
from sim.run import simulate


def session_protocol(session_days: np.ndarray) -> ImagingProtocol:
    """The :class:`~sim.imaging.ImagingProtocol` with these sessions (regularly spaced; 1 um field of view)."""
    days = np.asarray(session_days, dtype=float)
    steps = np.diff(days)
    if days.size < 2 or not np.allclose(steps, steps[0], rtol=0.0, atol=1e-9):
        raise ConfigError(
            f"session days {days.tolist()} are not allowed: the fit needs at least two regularly spaced sessions"
        )
    return ImagingProtocol(first_day=float(days[0]), interval_days=float(steps[0]), last_day=float(days[-1]),
                           fov_length_um=1.0)  # fmt: skip


def model_readouts(group: Group, session_days: np.ndarray, overrides: Sequence[str] = ()) -> xr.Dataset:
    """Expected imaging readouts of the group's treatment with parameter ``overrides`` (ODE engine, exact means).

    ``overrides`` are synaprune overrides of the parameters being fitted (``spines.intrinsic_elimination_rate=...``).
    """
    protocol = session_protocol(session_days)
    run = group.config(("engine=ode", f"duration_days={float(protocol.last_day)!r}", *overrides))
    return image(simulate(run), protocol, model=run.model())


def count_log_likelihood(data: xr.Dataset, predicted: Mapping[str, xr.Dataset]) -> float:
    """Log-likelihood of the per-segment counts of ``data`` (:func:`sim.imaging_data.load`) given the model.

    Parameters
    ----------
    data
        The imported data (``segment_*`` counts, ``segment_length_um``, ``segment_animal``, ``animal_group``);
        every animal imaged at every session (skipped sessions are not handled yet).
    predicted
        Group name -> expected readouts (:func:`model_readouts`) on the data's session days.
    """
    group_of = dict(zip(data["animal"].values.tolist(), data["animal_group"].values.tolist()))
    groups = [group_of[a] for a in data["segment_animal"].values.tolist()]
    missing = sorted(set(groups) - set(predicted))
    if missing:
        raise ConfigError(f"count_log_likelihood(): no model readouts for group(s) {missing}")
    days = data["session_day"].values
    for name in sorted(set(groups)):
        if not np.array_equal(predicted[name]["session_day"].values, days):
            raise ConfigError(f"model readouts of group {name!r} are not on the data's session days {days.tolist()}")
    count = data["segment_spine_count"].values
    if np.isnan(count).any():
        raise ConfigError("count_log_likelihood(): an animal skipped a session (not handled by the fit skeleton yet)")
    model = {k: np.stack([predicted[g][k].values for g in groups]) for k in ("spine_density", "lost_fraction", "gained_fraction")}  # fmt: skip
    length = data["segment_length_um"].values
    previous, lost, gained = count[:, :-1], data["segment_lost_count"].values[:, 1:], data["segment_gained_count"].values[:, 1:]  # fmt: skip
    use = previous > 0  # an interval that starts with no spine on the segment carries no information on the fractions
    total = np.sum(stats.poisson.logpmf(count[:, 0], model["spine_density"][:, 0] * length))
    total += np.sum(stats.binom.logpmf(lost[use], previous[use], model["lost_fraction"][:, 1:][use]))
    total += np.sum(stats.poisson.logpmf(gained[use], previous[use] * model["gained_fraction"][:, 1:][use]))
    return float(total)


__all__ = ["count_log_likelihood", "model_readouts", "session_protocol"]
