r"""Simulated chronic two-photon imaging of dendritic spines: sessions, field of view, detection, turnover.

Stage: :class:`ImagingProtocol`; entry point :func:`image`, which takes a simulation result of either engine and
returns an :class:`xarray.Dataset` with a ``session`` dimension.

Definitions (sessions :math:`k = 0, 1, \dots` at ``first_day + k * interval_days``; :math:`D_k` the set of spines
detected in the field of view at session :math:`k`, :math:`N_k = |D_k|`):

* ``spine_density`` :math:`= N_k / \ell` with :math:`\ell` the imaged dendrite length (``fov_length_um``);
* ``gained_fraction`` :math:`= |D_k \setminus D_{k-1}| / N_{k-1}` and ``lost_fraction``
  :math:`= |D_{k-1} \setminus D_k| / N_{k-1}` (both relative to the previous session; NaN at :math:`k = 0`);
* ``turnover_ratio`` :math:`= (|D_k \setminus D_{k-1}| + |D_{k-1} \setminus D_k|) / (2 N_{k-1})`, i.e. the mean
  of the two fractions. This is the turnover ratio of Holtmaat et al. (2005, Neuron 45:279; 2009, Nat Protoc
  4:1128) with the previous session's count as the denominator; some studies divide by the mean of the two
  sessions' counts instead, which differs by :math:`O(\text{net change})`;
* ``surviving_fraction`` :math:`= |D_0 \cap D_k| / N_0`: spines of the first session detected again at
  session :math:`k` (with perfect detection: still present, since an eliminated spine never returns).

Detection limit: a spine present at a session is detected independently with probability
:math:`p(a) = p_{\rm mature} - (p_{\rm mature} - p_{\rm new})\,e^{-a/\tau}` where :math:`a` is its age (spines
present at time zero count as mature): new spines are small and are missed more often. Misses make spines
"flicker", which inflates gained and lost fractions. The default is perfect detection, because the model's
turnover rates are calibrated on imaging data taken at face value.

Agent results (``engine=agents`` with ``record_spines``) are imaged spine by spine: the field of view is the
first ``fov_length_um`` of each replicate's dendrite (segments laid end to end), and detection misses are drawn
from ``rng``. ODE results give expected values: with ``model`` given (the :class:`~sim.model.PruningModel` that
produced them) survivors and newcomers of each interval are followed as mean-field cohorts with the model's
tagging, engulfment and intrinsic hazards, which is exact for the mean of the agent process; without ``model``
every spine is given the population-average elimination hazard (``spine_elimination_rate``), an approximation
(new, untagged spines really survive slightly better). In both cases the fractions are ratios of expected
counts, age-dependent detection is not represented (``detection_probability`` is applied to every spine) and
``attrs["expected_values"]`` says which approximation applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from scipy.integrate import solve_ivp

from sim.core.params import ConfigError, check_fraction, check_positive, param

IMAGING_OUTPUTS: dict[str, tuple[str, str]] = {
    "spine_count": ("count", "spines detected in the field of view"),
    "spine_density": ("1/um", "detected spine density"),
    "gained_count": ("count", "spines detected now but not at the previous session"),
    "lost_count": ("count", "spines detected at the previous session but not now"),
    "gained_fraction": ("1", "spines gained since the previous session per spine then"),
    "lost_fraction": ("1", "spines lost since the previous session per spine then"),
    "turnover_ratio": ("1", "turnover ratio (gained + lost) / (2 x spines at the previous session)"),
    "surviving_count": ("count", "spines of the first session detected again"),
    "surviving_fraction": ("1", "fraction of the first session's spines detected again"),
}


@dataclass
class ImagingProtocol:
    """When and how a chronic two-photon experiment images the dendrite."""

    _config_key: ClassVar[str] = "imaging"

    first_day: float = param(
        0.0,
        units="d",
        long_name="day of the first imaging session",
        source="assumption: the first session at time zero",
    )
    interval_days: float = param(
        4.0,
        units="d",
        long_name="time between imaging sessions",
        source="[holtmaat2009]: spine turnover scored over 4-day imaging intervals",
    )
    last_day: float = param(
        math.inf, units="d", long_name="no session after this day (inf: until the end of the run)", source=""
    )
    fov_length_um: float = param(
        200.0,
        units="um",
        long_name="dendrite length in the field of view",
        source="assumption: a few branches of 50-100 um per imaged field",
    )
    detection_probability: float = param(
        1.0,
        units="1",
        long_name="probability that a mature spine is scored at a session",
        source="assumption: perfect; the turnover parameters are calibrated on imaging data taken at face value",
    )
    new_spine_detection_probability: float = param(
        1.0,
        units="1",
        long_name="probability that a just-formed spine is scored at a session",
        source="assumption: perfect by default; new thin spines are near the resolution limit ([holtmaat2005])",
    )
    maturation_days: float = param(
        1.0,
        units="d",
        long_name="time constant of the rise of detectability with spine age",
        source="assumption: new spines enlarge over about a day",
    )

    def __post_init__(self) -> None:
        check_positive(self, "first_day", allow_zero=True)
        check_positive(self, "interval_days", "fov_length_um", "maturation_days")
        check_positive(self, "last_day", allow_inf=True)
        check_fraction(self, "detection_probability", "new_spine_detection_probability")
        if self.last_day < self.first_day:
            raise ConfigError(
                f"imaging.last_day = {self.last_day!r} is not allowed: it must not be before imaging.first_day = "
                f"{self.first_day!r}"
            )

    def session_days(self, end_day: float) -> np.ndarray:
        """Session times [d] up to ``min(last_day, end_day)``."""
        last = min(self.last_day, end_day)
        if self.first_day > last:
            raise ConfigError(f"imaging.first_day = {self.first_day!r} is not allowed: the run ends on day {end_day:g}")
        n = int(math.floor((last - self.first_day) / self.interval_days + 1e-9))
        return self.first_day + self.interval_days * np.arange(n + 1)

    def detection(self, age_days: np.ndarray) -> np.ndarray:
        """Detection probability of a spine of the given age [d] (inf or NaN: present from the start) [1]."""
        age = np.where(np.isnan(age_days), np.inf, age_days)
        p_mature, p_new = self.detection_probability, self.new_spine_detection_probability
        return p_mature - (p_mature - p_new) * np.exp(-age / self.maturation_days)

    @property
    def perfect(self) -> bool:
        """True if every present spine is detected."""
        return self.detection_probability == 1.0 and self.new_spine_detection_probability == 1.0


def image(
    ds: xr.Dataset,
    protocol: ImagingProtocol | None = None,
    *,
    model: Any = None,
    rng: np.random.Generator | None = None,
) -> xr.Dataset:
    """Image a simulation result: per-spine for agent results, expected values for ODE results.

    Parameters
    ----------
    ds
        Result of :func:`sim.simulate` (either engine). Agent results need ``engine.record_spines``.
    protocol
        Sessions, field of view and detection; the defaults of :class:`ImagingProtocol` if omitted.
    model
        The :class:`~sim.model.PruningModel` behind an ODE result: gives exact mean-field cohort values instead
        of the population-average approximation. Ignored for agent results.
    rng
        Generator for detection misses of agent results; ``np.random.default_rng(ds.attrs["seed"])`` if omitted.

    Returns
    -------
    xarray.Dataset
        Variables of :data:`IMAGING_OUTPUTS` over ``session`` (plus ``replicate`` and any other extra dimension of
        agent results), coordinate ``session_day`` [d], protocol and definitions in ``attrs``.
    """
    protocol = protocol or ImagingProtocol()
    days = protocol.session_days(float(ds.time[-1]))
    if "birth_time" in ds:
        out = _image_agents(ds, protocol, days, rng)
        note = "per-spine imaging of agent records"
    elif "replicate" in ds.dims:
        raise ValueError("agent result without per-spine records: rerun with engine.record_spines=true")
    else:
        out, note = _expected(ds, protocol, days, model)
    for name, (units, long_name) in IMAGING_OUTPUTS.items():
        out[name].attrs.update(units=units, long_name=long_name)
    out = out.assign_coords(session=np.arange(days.size), session_day=("session", days))
    out["session"].attrs.update(units="1", long_name="imaging session")
    out["session_day"].attrs.update(units="d", long_name="day of the imaging session")
    out.attrs.update(
        {f"imaging_{k}": v for k, v in vars(protocol).items()},
        expected_values=note,
        turnover_ratio_definition="(gained + lost) / (2 N_previous) (Holtmaat et al. 2005, previous-session count)",
        survival_definition="spines detected at session 0 and detected again at session k, per spine at session 0",
    )
    return out


# ---------------------------------------------------------------------- agent results
def _image_agents(
    ds: xr.Dataset, protocol: ImagingProtocol, days: np.ndarray, rng: np.random.Generator | None
) -> xr.Dataset:
    """Score every recorded spine at every session."""
    return score_readouts(_detected(ds, protocol, days, rng), protocol.fov_length_um)


def detected_spines(
    ds: xr.Dataset, protocol: ImagingProtocol | None = None, *, rng: np.random.Generator | None = None
) -> xr.DataArray:
    """Which recorded spines of an agent result are scored at which session: the table behind :func:`image`.

    Returns
    -------
    xarray.DataArray
        Boolean over ``(..., "spine", "session")`` with coordinate ``session_day`` [d]; spines outside the field
        of view (and padding) are never scored. Detection misses are drawn from ``rng`` as in :func:`image`.
    """
    protocol = protocol or ImagingProtocol()
    if "birth_time" not in ds:
        raise ValueError("detected_spines() needs an agent result with per-spine records (engine.record_spines)")
    days = protocol.session_days(float(ds.time[-1]))
    detected = _detected(ds, protocol, days, rng)
    return detected.assign_coords(session_day=("session", days))


def _detected(
    ds: xr.Dataset, protocol: ImagingProtocol, days: np.ndarray, rng: np.random.Generator | None
) -> xr.DataArray:
    """Boolean (..., spine, session): recorded spine in the field of view and detected at the session."""
    total_um = ds.attrs.get("agent_segments", math.nan) * ds.attrs.get("agent_segment_length_um", math.nan)
    if np.isfinite(total_um) and protocol.fov_length_um > total_um * (1 + 1e-12):
        raise ConfigError(
            f"imaging.fov_length_um = {protocol.fov_length_um!r} is not allowed: each replicate simulates only "
            f"{total_um:g} um of dendrite (engine.segments x engine.segment_length_um)"
        )
    session = xr.DataArray(days, dims="session")
    birth, loss, position = ds["birth_time"], ds["loss_time"], ds["spine_position"]
    in_view = position.notnull() & (position < protocol.fov_length_um)
    present = in_view & (birth.isnull() | (birth <= session)) & (loss.isnull() | (loss > session))
    present = present.transpose(..., "spine", "session")
    if protocol.perfect:
        detected = present
    else:
        rng = rng if rng is not None else np.random.default_rng(int(ds.attrs.get("seed", 0)))
        age = (session - birth).transpose(*present.dims)
        draw = xr.DataArray(rng.random(present.shape), dims=present.dims)
        detected = present & (draw < xr.DataArray(protocol.detection(age.values), dims=present.dims))
    return detected


def score_readouts(detected: xr.DataArray, length_um: float | xr.DataArray) -> xr.Dataset:
    """The readouts of :data:`IMAGING_OUTPUTS` from a table of scored spines (the definitions of the module docstring).

    Parameters
    ----------
    detected
        Boolean, dimensions ``(..., "spine", "session")``: spine scored at the session (padding spines: all False).
        Sessions in time order; ``session`` 0 is the first session (the cohort of ``surviving_fraction``).
    length_um
        Dendrite length scored [um]: a number, or an array over the leading dimensions.

    Returns
    -------
    xarray.Dataset
        Variables of :data:`IMAGING_OUTPUTS` over ``(..., "session")`` with their units and long names; gained,
        lost and the fractions are NaN at session 0.
    """
    n_sessions = detected.sizes["session"]
    previous = detected.shift(session=1, fill_value=False)
    later = xr.DataArray(np.arange(n_sessions) > 0, dims="session")
    count = detected.sum("spine")
    gained = (detected & ~previous).sum("spine").where(later)
    lost = (previous & ~detected).sum("spine").where(later)
    count_previous = count.shift(session=1)
    surviving = (detected & detected.isel(session=0)).sum("spine")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = xr.Dataset(
            {
                "spine_count": count.astype(float),
                "spine_density": count / length_um,
                "gained_count": gained,
                "lost_count": lost,
                "gained_fraction": gained / count_previous,
                "lost_fraction": lost / count_previous,
                "turnover_ratio": (gained + lost) / (2 * count_previous),
                "surviving_count": surviving.astype(float),
                "surviving_fraction": surviving / count.isel(session=0),
            }
        )
    out = out.drop_vars([c for c in out.coords if c not in out.dims])
    for name, (units, long_name) in IMAGING_OUTPUTS.items():
        out[name].attrs.update(units=units, long_name=long_name)
    return out


# ---------------------------------------------------------------------- ODE results
def _expected(ds: xr.Dataset, protocol: ImagingProtocol, days: np.ndarray, model: Any) -> tuple[xr.Dataset, str]:
    """Expected imaging readouts from a mean-field result (see the module docstring)."""
    extra = [d for d in ds.dims if d not in ("time", "compound") and ds.sizes[d] > 1]
    if extra:
        raise ValueError(f"select a single run first (dimensions {extra} have more than one value)")
    ds = ds.squeeze(drop=True)
    t_h = ds["time"].values * 24.0
    density = ds["spine_density"].values
    formation = ds["spine_formation_rate"].values * density / 24.0  # spines/(um h)
    if model is not None:
        sp, mg = model.spines, model.microglia
        n = ds["microglia_density"].values
        tag = np.asarray(sp.tagging(1.0, ds["c1q_level"].values, n), dtype=float)
        eng = np.asarray(sp.engulfment(1.0, mg.engulfment_capacity(ds["microglia_activation"].values), n), float)
        e_int = float(sp.intrinsic_elimination_rate)
        tagged = ds["tagged_spine_density"].values

        def cohort_rhs(t: float, y: np.ndarray, source: float) -> np.ndarray:
            a, b = np.interp(t, t_h, tag), np.interp(t, t_h, eng)
            born = source * np.interp(t, t_h, formation)
            return np.array([born - (a + e_int) * y[0], a * y[0] - (b + e_int) * y[1]])

        def start(t: float) -> np.ndarray:
            return np.array([np.interp(t, t_h, density - tagged), np.interp(t, t_h, tagged)])

        note = "mean-field cohorts with the model's hazards (exact means for perfect detection)"
    else:
        loss = ds["spine_elimination_rate"].values / 24.0

        def cohort_rhs(t: float, y: np.ndarray, source: float) -> np.ndarray:
            return np.array([source * np.interp(t, t_h, formation) - np.interp(t, t_h, loss) * y[0]])

        def start(t: float) -> np.ndarray:
            return np.array([np.interp(t, t_h, density)])

        note = "approximation: every spine given the population-average elimination hazard (no model given)"
    if not protocol.perfect:
        note += "; detection_probability applied to every spine (age-dependent misses not represented)"
    p = protocol.detection_probability
    step = float(np.min(np.diff(t_h))) if t_h.size > 1 else 1.0
    session_h = days * 24.0

    def follow(y0: np.ndarray, t0: float, t1: float, source: float) -> float:
        if t1 <= t0:
            return float(y0.sum())
        sol = solve_ivp(cohort_rhs, (t0, t1), y0, args=(source,), rtol=1e-9, atol=1e-14, max_step=step, method="RK45")
        return float(sol.y[:, -1].sum())

    present = np.array([start(t).sum() for t in session_h])
    survivors = np.full(days.size, np.nan)
    newcomers = np.full(days.size, np.nan)
    first_cohort = np.empty(days.size)
    first_cohort[0] = present[0]
    cohort = start(session_h[0])
    for k in range(1, days.size):
        t0, t1 = session_h[k - 1], session_h[k]
        survivors[k] = follow(start(t0), t0, t1, 0.0)
        newcomers[k] = follow(np.zeros_like(cohort), t0, t1, 1.0)
        sol = solve_ivp(cohort_rhs, (t0, t1), cohort, args=(0.0,), rtol=1e-9, atol=1e-14, max_step=step)
        cohort = sol.y[:, -1]
        first_cohort[k] = cohort.sum()
    length = protocol.fov_length_um
    previous = np.concatenate([[np.nan], present[:-1]])
    gained = p * (newcomers + (1 - p) * survivors) * length
    lost = p * ((previous - survivors) + (1 - p) * survivors) * length
    count_previous = p * previous * length
    surviving = p * p * first_cohort * length
    surviving[0] = p * present[0] * length
    values = {
        "spine_count": p * present * length,
        "spine_density": p * present,
        "gained_count": gained,
        "lost_count": lost,
        "gained_fraction": gained / count_previous,
        "lost_fraction": lost / count_previous,
        "turnover_ratio": (gained + lost) / (2 * count_previous),
        "surviving_count": surviving,
        "surviving_fraction": surviving / (p * present[0] * length),
    }
    return xr.Dataset({k: ("session", v) for k, v in values.items()}), note


__all__ = ["IMAGING_OUTPUTS", "ImagingProtocol", "detected_spines", "image", "score_readouts"]
