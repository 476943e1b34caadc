"""The coupled model: dosing -> PK -> binding -> stress -> microglia -> spines -> cognition.

:class:`PruningModel` holds the stages and the regimen and has no parameters of its own. It lays out the state
vector from the stages' ``state_names`` in the order of :data:`sim.core.stage.CHAIN`, evaluates the chain of stage
functions (:meth:`PruningModel.rhs` in Python; :meth:`PruningModel.compiled_rhs` the same functions compiled by
numba), produces the dose events, and turns integrated states into every output of
:data:`sim.core.results.OUTPUTS`. Engines (:mod:`sim.engines`) decide how to integrate.

``PruningModel()`` is the calibrated model of the headline arm: diazepam in the mouse, wild type, somatosensory
cortex, 5 mg/kg/day i.p. for 7 days, with the fitted microglia and spine parameters — read from the package data
(:mod:`sim.library`), the same files the ``synaprune`` command composes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import odeint

from sim.binding import EquilibriumBinding
from sim.cognition import BehaviouralReadout
from sim.core.chain import compile_rhs
from sim.core.params import ConfigError
from sim.core.stage import CHAIN
from sim.dosing import DosingRegimen
from sim.drug import Drug
from sim.genotype import Genotype
from sim.microglia import MicrogliaActivation, MicrogliaDepletion
from sim.pk import LinearChainPK, free_brain_concentration
from sim.sex import Sex
from sim.species import Species
from sim.spines import SpineTurnover, relative_density
from sim.stress import NoStress
from sim.tolerance import NoTolerance


@dataclass(frozen=True)
class DoseSchedule:
    """Integration breakpoints with what happens at each: bolus amounts and infusion rates [µmol/kg, µmol/kg/h]."""

    breakpoints_h: np.ndarray  # sorted, includes 0 and the end time
    bolus_umol_per_kg: np.ndarray  # amount given at each breakpoint (0 if none)
    infusion_umol_per_kg_h: np.ndarray  # rate from each breakpoint to the next


def calibrated(group: str):
    """Default factory: a fresh calibrated headline-arm stage of ``group``, read from the package data."""

    def factory():
        from sim.library import default_stage

        return default_stage(group)

    return factory


@dataclass
class PruningModel:
    """All stages of the chain plus the dosing regimen; ``PruningModel()`` is the calibrated headline arm."""

    drug: Drug = field(default_factory=calibrated("drug"))
    species: Species = field(default_factory=calibrated("species"))
    genotype: Genotype = field(default_factory=calibrated("genotype"))
    sex: Sex = field(default_factory=calibrated("sex"))
    regimen: DosingRegimen = field(default_factory=calibrated("regimen"))
    pk: LinearChainPK = field(default_factory=calibrated("pk"))
    binding: EquilibriumBinding = field(default_factory=calibrated("binding"))
    tolerance: NoTolerance = field(default_factory=calibrated("tolerance"))
    stress: NoStress = field(default_factory=calibrated("stress"))
    microglia: MicrogliaActivation = field(default_factory=calibrated("microglia"))
    depletion: MicrogliaDepletion = field(default_factory=calibrated("depletion"))
    spines: SpineTurnover = field(default_factory=calibrated("spines"))
    cognition: BehaviouralReadout = field(default_factory=calibrated("cognition"))

    def __post_init__(self) -> None:
        missing = [name for name in self.pk.names if name not in self.drug.compounds]
        if missing:
            raise ConfigError(
                f"pk.compounds lists {', '.join(missing)}, which drug {self.drug.name!r} does not define "
                f"(drug.compounds: {', '.join(self.drug.compounds)})"
            )
        if self.regimen.route == "iv" and self.pk.dosed not in self.pk.names:
            raise ConfigError(f"pk.dosed = {self.pk.dosed!r} is not a PK compound")

    # ------------------------------------------------------------------ layout
    @property
    def chain(self) -> tuple:
        """The stages whose right-hand sides are chained, in :data:`~sim.core.stage.CHAIN` order."""
        return tuple(getattr(self, group) for group in CHAIN)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of all state variables in order."""
        return tuple(name for stage in self.chain for name in stage.state_names)

    @property
    def bounds(self) -> tuple[int, ...]:
        """Offsets of each chained stage's states in the state vector (length ``len(CHAIN) + 1``)."""
        offsets = [0]
        for stage in self.chain:
            offsets.append(offsets[-1] + len(stage.state_names))
        return tuple(offsets)

    def slice(self, group: str) -> slice:
        """Where the states of ``group`` sit in the state vector."""
        i = CHAIN.index(group)
        bounds = self.bounds
        return slice(bounds[i], bounds[i + 1])

    def records(self) -> tuple:
        """Parameter records of the chained stages (what their stage functions read by name)."""
        return tuple(stage.record(self) for stage in self.chain)

    @property
    def n_pk(self) -> int:
        """Number of PK states (depot + one per compound)."""
        return len(self.pk.state_names)

    @property
    def resting_tspo(self) -> float:
        """Resting per-cell microglial TSPO [1]: 0 in TSPO-KO, raised in residual microglia after depletion."""
        return self.microglia.record(self).resting_tspo

    @property
    def microglia_density(self) -> float:
        """Microglia density relative to intact brain [1]."""
        return self.depletion.density

    @property
    def umol_per_mg(self) -> float:
        """Amount of the dosed compound per mg [µmol/mg]."""
        return 1e3 / self.drug.compounds[self.pk.dosed].molar_mass_g_per_mol

    def initial_state(self) -> np.ndarray:
        """State at time zero: drug-naive, at the intact drug-free steady state, then adapted to depletion.

        With microglia depletion started ``depletion.start_day < 0`` days earlier, the drug-free system is
        integrated from then to time zero (LSODA, tight tolerances).
        """
        records = self.records()
        state = np.concatenate([stage.initial_state(record) for stage, record in zip(self.chain, records)])
        lead_h = self.depletion.lead_h
        if lead_h > 0:
            state = odeint(
                self.compiled_rhs(records),
                state,
                [0.0, lead_h],
                args=(0.0,),
                tfirst=True,
                rtol=1e-10,
                atol=1e-14,
                mxstep=100000,
            )[-1]
        return state

    # ------------------------------------------------------------------ dosing
    def schedule(self, end_h: float) -> DoseSchedule:
        """Breakpoints up to ``end_h`` with bolus amounts and infusion rates in µmol/kg."""
        reg, weight = self.regimen, self.species.body_weight_kg
        end_day = end_h / 24.0
        times, amounts = reg.bolus_events(weight, end_day)
        segments = reg.infusion_segments(weight, end_day)
        points = {0.0, float(end_h)} | {float(t) for t in times} | {s[0] for s in segments} | {s[1] for s in segments}
        points |= {float(t) for t in self.stress.breakpoints_h(end_h)}  # where the stress input switches
        points = np.array(sorted(p for p in points if 0.0 <= p <= end_h))
        bolus = np.zeros(points.size)
        rate = np.zeros(points.size)
        index = {p: i for i, p in enumerate(points)}
        for t, a in zip(times, amounts):
            bolus[index[float(t)]] += a
        for t0, t1, r in segments:
            for i, p in enumerate(points):
                if t0 <= p < t1:
                    rate[i] = r
        scale = self.umol_per_mg
        return DoseSchedule(points, bolus * scale, rate * scale)

    # ------------------------------------------------------------------ dynamics
    def rhs(self, t: float, y: np.ndarray, infusion_umol_per_kg_h: float) -> np.ndarray:
        """Time derivative of the full state [per hour], evaluating the stage functions in Python.

        The readable reference of what :meth:`compiled_rhs` computes: the same stage functions, called in chain
        order, each on its slice of ``y`` with the previous stage's signal. Also evaluates on sympy symbols.
        """
        out = np.zeros(len(y), dtype=np.asarray(y).dtype)
        signal = np.array([infusion_umol_per_kg_h])
        for stage, record, part in zip(self.chain, self.records(), (self.slice(g) for g in CHAIN)):
            signal = stage.rhs(record, y[part], signal, out[part])
        return out

    def compiled_rhs(self, records: tuple | None = None):
        """``rhs(t, y, infusion) -> dy``: :meth:`rhs` compiled by numba (:mod:`sim.core.chain`)."""
        return compile_rhs([type(stage) for stage in self.chain], records or self.records(), self.bounds)

    # ------------------------------------------------------------------ outputs
    def upstream(self, pk_amounts: np.ndarray) -> dict[str, np.ndarray]:
        """Concentrations and receptor readouts from PK amounts (compounds × time, no depot) [µmol/kg]."""
        pk_record = self.pk.record(self)
        pk_amounts = pk_amounts[: len(self.pk.names)]  # central amounts; peripheral compartments follow them
        depot = np.zeros((1,) + pk_amounts.shape[1:])
        free = free_brain_concentration(pk_record, np.concatenate([depot, pk_amounts]))
        out = self.binding.readouts(self.binding.record(self), free)
        out["plasma_concentration"] = self.pk.plasma_concentration(pk_amounts)
        out["brain_concentration"] = self.pk.brain_concentration(pk_amounts)
        out["brain_free_concentration"] = free
        return out

    def readouts(self, times_h: np.ndarray, states: np.ndarray) -> dict[str, np.ndarray]:
        """Every output variable from states (state × time): :meth:`upstream_readouts` and :meth:`downstream_readouts`.

        Solver round-off that leaves a state outside its physical range by less than ``1e-12`` (e.g. an
        activation of -1e-226 after a vanishing dose) is set back to the boundary; anything larger is kept, so
        the invariant tests still see it.
        """
        out = self.upstream_readouts(times_h, states)
        agonism = out.pop("gabaa_agonism", None)
        out.update(self.downstream_readouts(states[self.slice("stress").start :], gabaa_agonism=agonism))
        return out

    def upstream_readouts(self, times_h: np.ndarray, states: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs that depend only on the PK states and the regimen (time on the last axis).

        Concentrations, receptor occupancies and agonism, sedation and the cumulative dose: the same for every
        parameter set of the stages after binding, so a batch (:mod:`sim.engines.batch`) computes them once.
        ``states`` holds at least the PK states, in state-vector order (state × time).
        """
        out = self.upstream(_snap(states[self.slice("pk")][1:], 0.0))
        agonism = out.pop("gabaa_agonism")
        out["sedation"] = self.cognition.sedation(agonism)
        out["cumulative_dose"] = self.cumulative_dose(times_h)
        # the GABA-A signalling the tolerance stage passes on (unchanged with tolerance=none), and its outputs
        agonism, tolerance_out = self.tolerance.readouts(agonism, states[self.slice("tolerance")])
        out.update(tolerance_out)
        if self.stress.state_names:  # the stress stage reads it (downstream_readouts); not an output itself
            out["gabaa_agonism"] = agonism
        return out

    def downstream_readouts(
        self, states: np.ndarray, microglia=None, spines=None, stress=None, gabaa_agonism=None
    ) -> dict[str, np.ndarray]:
        """Stress, microglia, spine and behaviour outputs from the states of the stages after binding.

        ``states``: stress, microglia then spine states on axis -2, time on axis -1; leading axes (e.g. parameter sets)
        broadcast. ``microglia``, ``spines``, ``stress``: the stages' records (default: this model's); a batch passes
        records whose varying fields are arrays of shape (set, 1), so that each set is read with its own constants.
        ``gabaa_agonism``: the GABA-A agonism over time [1] (:meth:`upstream_readouts` keeps it when the stress stage
        has states); with it and a stress stage, ``neuronal_activity`` is an output too. Without a stress stage
        (``stress=none``) there are no stress outputs: that stage has no state and no activity of its own.
        """
        pm = self.microglia.record(self) if microglia is None else microglia
        n_stress = len(self.stress.state_names)
        stress_out = {}
        if n_stress:
            ps = self.stress.record(self) if stress is None else stress
            clock, csf1 = states[..., 0, :], states[..., 1, :]
            stress_out["csf1_excess"] = csf1
            if gabaa_agonism is not None:
                stress_out["neuronal_activity"] = self.stress.activity_of(ps, gabaa_agonism, clock)
        states = states[..., n_stress:, :]
        n_glia = len(self.microglia.state_names)
        activation = _snap(states[..., 0, :], 0.0, 1.0)
        tspo, c1q = (_snap(states[..., i, :], 0.0) for i in (1, 2))
        n_spines = len(self.spines.state_names)
        untagged, tagged, *persistent = (_snap(states[..., n_glia + i, :], 0.0) for i in range(n_spines))
        out = self.spine_outputs(untagged, tagged, activation, c1q, *persistent, microglia=pm, spines=spines)
        out["microglia_activation"] = activation
        out["microglial_tspo"] = tspo
        out["microglial_tspo_total"] = tspo * pm.microglia_density
        resting = pm.resting_tspo  # drug-free tissue TSPO is density x resting: the density cancels
        if np.all(np.greater(resting, 0.0)):
            out["tspo_pet_proxy"] = tspo / resting
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                out["tspo_pet_proxy"] = np.where(np.greater(resting, 0.0), tspo / resting, 0.0)
        out["c1q_level"] = c1q
        out["microglia_density"] = pm.microglia_density + np.zeros_like(activation)
        out.update(stress_out)
        return out

    def spine_readouts(self, untagged, tagged, activation, c1q, gabaa_agonism, persistent=0.0) -> dict[str, np.ndarray]:
        """Spine and behaviour outputs (:meth:`spine_outputs`) plus sedation (broadcasting over replicates).

        ``persistent``: density of the persistent pool of ``spines=two_pool`` [1/um] (0 for one pool).
        """
        out = self.spine_outputs(untagged, tagged, activation, c1q, persistent)
        out["sedation"] = self.cognition.sedation(gabaa_agonism) * np.ones_like(out["spine_density"])
        return out

    def spine_outputs(
        self, untagged, tagged, activation, c1q, persistent=0.0, microglia=None, spines=None
    ) -> dict[str, np.ndarray]:
        """Spine and behaviour outputs from spine states and microglial signals (numpy, broadcasting).

        ``persistent``: density of the persistent pool of ``spines=two_pool`` [1/um] (0 for one pool).
        ``microglia``, ``spines``: records of the stages (default: this model's; see :meth:`downstream_readouts`).
        """
        pm = self.microglia.record(self) if microglia is None else microglia
        ps = self.spines.record(self) if spines is None else spines
        density = untagged + tagged + persistent
        capacity = self.microglia.engulfment_capacity(activation, pm)
        formation, elimination = self.spines.rates_per_day(
            untagged, tagged, activation, c1q, capacity, pm.microglia_density, persistent, ps
        )
        relative = relative_density(density, ps.baseline_density)
        return {
            "spine_density": density,
            "tagged_spine_density": tagged,
            "spine_density_relative": relative,
            "spine_formation_rate": formation,
            "spine_elimination_rate": elimination,
            "nor_discrimination_index": self.cognition.novel_object_recognition(relative),
            "spontaneous_alternation": self.cognition.spontaneous_alternation(relative),
        }

    def cumulative_dose(self, times_h: np.ndarray) -> np.ndarray:
        """Cumulative administered dose at each time [mg/kg] (boluses at a time are included)."""
        end_h = float(times_h[-1]) if len(times_h) else 0.0
        sched = self.schedule(end_h)
        scale = self.umol_per_mg
        total = np.zeros_like(times_h, dtype=float)
        for t, amount in zip(sched.breakpoints_h, sched.bolus_umol_per_kg):
            total += np.where(times_h >= t, amount / scale, 0.0)
        points = sched.breakpoints_h
        for t0, t1, rate in zip(points[:-1], points[1:], sched.infusion_umol_per_kg_h[:-1]):
            total += rate / scale * np.clip(times_h - t0, 0.0, t1 - t0)
        return total

    @property
    def dosing_period_days(self) -> tuple[float, float]:
        """(first, last + interval) administration day, for shading plots; (nan, nan) if no dose is given."""
        reg = self.regimen
        if reg.route == "drinking_water":
            return float(reg.start_day), float(reg.stop_day)
        times, _ = reg.bolus_events(
            self.species.body_weight_kg, math.inf if reg.dose_days or math.isfinite(reg.stop_day) else 1e6
        )
        if times.size == 0:
            return math.nan, math.nan
        return float(times[0] / 24.0), float(times[-1] / 24.0 + reg.interval_h / 24.0)


def _snap(values: np.ndarray, low: float, high: float = math.inf, tolerance: float = 1e-12) -> np.ndarray:
    """Move values that lie outside ``[low, high]`` by less than ``tolerance`` onto the boundary.

    Values all inside are returned as they are (no copy; one pass for the minimum and maximum).
    """
    values = np.asarray(values)
    if values.size and values.min() < low:
        values = np.where((values < low) & (values > low - tolerance), low, values)
    if values.size and values.max() > high:
        values = np.where((values > high) & (values < high + tolerance), high, values)
    return values
