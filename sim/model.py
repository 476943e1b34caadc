"""The coupled model: dosing -> PK -> binding -> microglia -> spines -> cognition.

:class:`PruningModel` holds the stages and the regimen and has no parameters of its own. It lays out the state
vector (PK amounts, microglia, spines), provides the right-hand side between dose events, the dose events
themselves, and turns integrated states into every output of :data:`sim.core.results.OUTPUTS`. Engines
(:mod:`sim.engines`) decide how to integrate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.integrate import odeint

from sim import _ode_kernel
from sim.binding import EquilibriumBinding
from sim.cognition import BehaviouralReadout
from sim.core.params import ConfigError
from sim.dosing import DosingRegimen
from sim.drug import Drug
from sim.genotype import Genotype
from sim.microglia import MicrogliaActivation, MicrogliaDepletion
from sim.pk import LinearChainPK
from sim.species import Species
from sim.spines import SpineTurnover, relative_density


@dataclass(frozen=True)
class DoseSchedule:
    """Integration breakpoints with what happens at each: bolus amounts and infusion rates [µmol/kg, µmol/kg/h]."""

    breakpoints_h: np.ndarray  # sorted, includes 0 and the end time
    bolus_umol_per_kg: np.ndarray  # amount given at each breakpoint (0 if none)
    infusion_umol_per_kg_h: np.ndarray  # rate from each breakpoint to the next


@dataclass
class PruningModel:
    """All stages of the chain plus the dosing regimen."""

    drug: Drug = field(default_factory=Drug)
    species: Species = field(default_factory=Species)
    genotype: Genotype = field(default_factory=Genotype)
    regimen: DosingRegimen = field(default_factory=DosingRegimen)
    pk: LinearChainPK = field(default_factory=LinearChainPK)
    binding: EquilibriumBinding = field(default_factory=EquilibriumBinding)
    microglia: MicrogliaActivation = field(default_factory=MicrogliaActivation)
    depletion: MicrogliaDepletion = field(default_factory=MicrogliaDepletion)
    spines: SpineTurnover = field(default_factory=SpineTurnover)
    cognition: BehaviouralReadout = field(default_factory=BehaviouralReadout)

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
    @cached_property
    def n_pk(self) -> int:
        """Number of PK states (depot + one per compound)."""
        return len(self.pk.state_names)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of all state variables in order."""
        return self.pk.state_names + MicrogliaActivation.state_names + SpineTurnover.state_names

    @cached_property
    def resting_tspo(self) -> float:
        """Resting per-cell microglial TSPO [1]: 0 in TSPO-KO, raised in residual microglia after depletion."""
        fold = self.depletion.residual_tspo_fold if self.depletion.fraction_depleted > 0 else 1.0
        return self.genotype.tspo_expression * fold

    @cached_property
    def microglia_density(self) -> float:
        """Microglia density relative to intact brain [1]."""
        return self.depletion.density

    @cached_property
    def responsiveness(self) -> float:
        """TSPO responsiveness of the microglia present [1]."""
        return self.depletion.residual_responsiveness if self.depletion.fraction_depleted > 0 else 1.0

    @cached_property
    def constants(self) -> dict[str, np.ndarray]:
        """Precomputed matrices and vectors used by the right-hand side."""
        route = self.regimen.route
        constants = self.binding.affinities(self.drug, self.pk.names)
        constants["rate_matrix"] = self.pk.rate_matrix(route)
        constants["input_vector"] = self.pk.input_vector(route)
        constants["free_per_amount"] = self.pk.free_fractions / self.pk.volumes
        constants["umol_per_mg"] = 1e3 / self.drug.compounds[self.pk.dosed].molar_mass_g_per_mol
        return constants

    def initial_state(self) -> np.ndarray:
        """State at time zero: drug-naive, at the intact drug-free steady state, then adapted to depletion.

        With microglia depletion started ``depletion.start_day < 0`` days earlier, the drug-free system is
        integrated from then to time zero (LSODA, tight tolerances).
        """
        state = np.concatenate(
            [
                self.pk.initial_state(),
                self.microglia.initial_state(self.resting_tspo),
                self.spines.initial_state(),
            ]
        )
        lead_h = -24.0 * self.depletion.start_day if self.depletion.fraction_depleted > 0 else 0.0
        if lead_h > 0:
            state = odeint(
                self.compiled_rhs(),
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
        scale = self.constants["umol_per_mg"]
        return DoseSchedule(points, bolus * scale, rate * scale)

    # ------------------------------------------------------------------ dynamics
    def rhs(self, t: float, y: np.ndarray, infusion_umol_per_kg_h: float) -> np.ndarray:
        """Time derivative of the full state [per hour] for a constant infusion rate."""
        c = self.constants
        n_pk = self.n_pk
        pk_state = y[:n_pk]
        d_pk = c["rate_matrix"] @ pk_state + c["input_vector"] * infusion_umol_per_kg_h
        free = c["free_per_amount"] * pk_state[1:]
        ratio = np.maximum(free, 0.0) * c["tspo_affinity"]
        agonism = float((ratio * c["tspo_efficacy"]).sum() / (1.0 + ratio.sum())) if self.resting_tspo > 0 else 0.0
        glia = y[n_pk : n_pk + 3]
        d_glia = self.microglia.rhs(
            glia, agonism, self.resting_tspo, self.species.tspo_induction_fold, self.responsiveness
        )
        activation, _, c1q = glia
        d_spines = self.spines.rhs(
            y[n_pk + 3 :], activation, c1q, 1.0 + self.microglia.engulfment_gain * activation, self.microglia_density
        )
        return np.concatenate([d_pk, d_glia, d_spines])

    def rhs_constants(self) -> dict[str, np.ndarray]:
        """Everything the fast right-hand sides need, flattened (layout in :mod:`sim._ode_kernel`)."""
        c = self.constants
        mg, sp = self.microglia, self.spines
        p = np.array(
            [
                1.0 if self.resting_tspo > 0 else 0.0,
                mg.activation_rate_per_h,
                mg.deactivation_rate,
                math.log(2.0) / mg.tspo_half_life_h,
                math.log(2.0) / mg.c1q_half_life_h,
                mg.stimulus_ec50**mg.stimulus_hill,
                mg.stimulus_hill,
                mg.tspo_receptor_coupling,
                self.resting_tspo,
                self.species.tspo_induction_fold,
                self.responsiveness,
                mg.c1q_gain,
                mg.engulfment_gain,
                self.microglia_density,
                sp.baseline_density_per_um,
                sp.homeostatic_gain,
                sp.max_formation_rate,
                sp.baseline_formation_suppression,
                sp.activated_formation_suppression,
                sp.tagging_rate,
                sp.engulfment_rate,
                sp.intrinsic_elimination_rate,
            ]
        )
        compounds = np.vstack([c["free_per_amount"], c["tspo_affinity"], c["tspo_efficacy"]])
        return {"matrix": c["rate_matrix"], "inputs": c["input_vector"], "compounds": compounds, "p": p}

    def compiled_rhs(self, use_numba: bool = True):
        """The same right-hand side as :meth:`rhs`, specialised to this model for speed.

        Calling the stage methods costs ~25 µs per evaluation in numpy overhead. With numba installed the
        kernel in :mod:`sim._ode_kernel` takes about 1 µs; without it, a closure on Python floats takes ~6 µs.
        ``tests/test_model.py`` checks that all three agree to rounding at random states.
        """
        k = self.rhs_constants()
        kernel = _ode_kernel.load() if use_numba else None
        if kernel is not None:
            matrix, inputs, compounds, p = k["matrix"], k["inputs"], k["compounds"], k["p"]

            def fast(t: float, y: np.ndarray, infusion: float) -> np.ndarray:
                return kernel(y, infusion, matrix, inputs, compounds, p)

            return fast
        return self._python_rhs(k)

    def _python_rhs(self, k: dict[str, np.ndarray]):
        """Pure-Python closure over :meth:`rhs_constants` (the fallback when numba is unavailable)."""
        matrix = k["matrix"]
        n_pk = matrix.shape[0]
        pk_terms = [[(j, float(matrix[i, j])) for j in range(n_pk) if matrix[i, j] != 0.0] for i in range(n_pk)]
        input_vector = k["inputs"].tolist()
        free_per_amount, affinity, efficacy = (row.tolist() for row in k["compounds"])
        (has_tspo, k_act, k_deact, k_tspo, k_c1q, ec50n, hill, coupling, resting, fold, respons, c1q_gain,
         engulf_gain, density, s0, gamma, f_max, beta0, beta_a, k_tag, k_eng, e_int) = k["p"].tolist()  # fmt: skip
        n_compounds = n_pk - 1
        rows = range(n_pk)

        def rhs(t: float, y: np.ndarray, infusion: float) -> np.ndarray:
            v = y.tolist()
            d = [sum(m * v[j] for j, m in pk_terms[i]) + input_vector[i] * infusion for i in rows]
            agonism = 0.0
            if has_tspo:
                total = weighted = 0.0
                for c in range(n_compounds):
                    free = free_per_amount[c] * v[c + 1]
                    if free > 0.0:
                        ratio = free * affinity[c]
                        total += ratio
                        weighted += ratio * efficacy[c]
                agonism = weighted / (1.0 + total)
            activation, tspo, c1q, untagged, tagged = v[n_pk : n_pk + 5]
            drive = agonism * max(tspo, 0.0) ** coupling * respons
            stimulus = 0.0
            if drive > 0.0:
                drive_n = drive**hill
                stimulus = drive_n / (drive_n + ec50n)
            d.append(k_act * stimulus * (1.0 - activation) - k_deact * activation)
            d.append(k_tspo * (resting * (1.0 + (fold - 1.0) * activation) - tspo))
            d.append(k_c1q * (1.0 + c1q_gain * activation - c1q))
            spines = untagged + tagged
            homeostasis = max(0.0, 1.0 + gamma * (s0 - spines) / s0)
            formed = f_max * homeostasis * max(0.0, 1.0 - density * (beta0 + beta_a * activation))
            tag = k_tag * density * c1q * untagged
            eaten = k_eng * density * (1.0 + engulf_gain * activation) * tagged
            d.append(formed - tag - e_int * untagged)
            d.append(tag - eaten - e_int * tagged)
            return np.array(d)

        return rhs

    # ------------------------------------------------------------------ outputs
    def upstream(self, pk_amounts: np.ndarray) -> dict[str, np.ndarray]:
        """Concentrations and receptor readouts from PK amounts (compounds × time) [µmol/kg]."""
        free = self.pk.free_brain_concentration(pk_amounts)
        out = self.binding.signal(free, self.constants, self.genotype)
        out["plasma_concentration"] = self.pk.plasma_concentration(pk_amounts)
        out["brain_concentration"] = self.pk.brain_concentration(pk_amounts)
        out["brain_free_concentration"] = free
        return out

    def readouts(self, times_h: np.ndarray, states: np.ndarray) -> dict[str, np.ndarray]:
        """Every output variable from states (state × time); spine states may carry a leading replicate axis.

        ``states`` has shape ``(n_state, n_time)``. Spine densities are taken from the last two states.
        Solver round-off that leaves a state outside its physical range by less than ``1e-12`` (e.g. an
        activation of -1e-226 after a vanishing dose) is set back to the boundary; anything larger is kept, so
        the invariant tests still see it.
        """
        n_pk = self.n_pk
        out = self.upstream(_snap(states[1:n_pk], 0.0))
        activation = _snap(states[n_pk], 0.0, 1.0)
        tspo, c1q = _snap(states[n_pk + 1 : n_pk + 3], 0.0)
        untagged, tagged = _snap(states[n_pk + 3 : n_pk + 5], 0.0)
        out.update(self.spine_readouts(untagged, tagged, activation, c1q, out["gabaa_agonism"]))
        out["microglia_activation"] = activation
        out["microglial_tspo"] = tspo
        out["microglial_tspo_total"] = tspo * self.microglia_density
        out["c1q_level"] = c1q
        out["microglia_density"] = np.full_like(activation, self.microglia_density)
        out["cumulative_dose"] = self.cumulative_dose(times_h)
        del out["gabaa_agonism"]
        return out

    def spine_readouts(self, untagged, tagged, activation, c1q, gabaa_agonism) -> dict[str, np.ndarray]:
        """Spine and behaviour outputs from spine states and microglial signals (broadcasting over replicates)."""
        density = untagged + tagged
        capacity = self.microglia.engulfment_capacity(activation)
        formation, elimination = self.spines.rates_per_day(
            untagged, tagged, activation, c1q, capacity, self.microglia_density
        )
        relative = relative_density(density, self.spines.baseline_density_per_um)
        return {
            "spine_density": density,
            "tagged_spine_density": tagged,
            "spine_density_relative": relative,
            "spine_formation_rate": formation,
            "spine_elimination_rate": elimination,
            "sedation": self.cognition.sedation(gabaa_agonism) * np.ones_like(density),
            "nor_discrimination_index": self.cognition.novel_object_recognition(relative, gabaa_agonism),
            "spontaneous_alternation": self.cognition.spontaneous_alternation(relative, gabaa_agonism),
        }

    def cumulative_dose(self, times_h: np.ndarray) -> np.ndarray:
        """Cumulative administered dose at each time [mg/kg] (boluses at a time are included)."""
        end_h = float(times_h[-1]) if len(times_h) else 0.0
        sched = self.schedule(end_h)
        scale = self.constants["umol_per_mg"]
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
    """Move values that lie outside ``[low, high]`` by less than ``tolerance`` onto the boundary."""
    values = np.where((values < low) & (values > low - tolerance), low, values)
    return np.where((values > high) & (values < high + tolerance), high, values)
