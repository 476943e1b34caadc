r"""Pharmacokinetics stage: doses -> plasma and brain concentrations of the parent drug and its metabolites.

:class:`LinearChainPK` is a linear model with a first-order absorption depot, a metabolite chain (diazepam ->
nordiazepam -> oxazepam, diazepam -> temazepam -> oxazepam) and, per compound, one central compartment plus an
optional peripheral compartment:

.. math::

    \dot D = -k_a D + F\,I(t), \qquad
    \dot A_i = k_a D\,[i = \text{dosed}] + \sum_j f_{j\to i}\,k_{10,j} A_j - (k_{10,i} + k_{12,i}) A_i
                + k_{21,i} P_i, \qquad
    \dot P_i = k_{12,i} A_i - k_{21,i} P_i,

with amounts in µmol/kg, distribution rate constant :math:`k_{12,i}` [1/h] and return rate constant
:math:`k_{21,i} = k_{12,i} V_i / V_{2,i}` (central and peripheral volumes :math:`V_i, V_{2,i}` [L/kg]; the
intercompartmental clearance is :math:`Q_i = k_{12,i} V_i`). Metabolites form from
the central compartment. ``half_life_h`` is the published *terminal* half-life, :math:`\beta_i = \ln 2 / t_{1/2,i}`;
the elimination rate constant that gives it is

.. math::

    k_{10,i} = \beta_i\,\frac{k_{12,i} + k_{21,i} - \beta_i}{k_{21,i} - \beta_i}
    \quad (\text{one compartment: } k_{12,i} = 0,\ k_{10,i} = \beta_i),

the smaller root of :math:`s^2 - (k_{10} + k_{12} + k_{21}) s + k_{10} k_{21} = 0` solved for :math:`k_{10}`.
Plasma concentration is :math:`C_i = A_i / V_i` [µM], free brain concentration :math:`C^{u}_{b,i} = f_{u,i} C_i`
(unbound brain equals unbound plasma: human CSF diazepam equals unbound plasma diazepam, [hallstrom1980]) and total
brain concentration :math:`C_{b,i} = K_{p,i} C_i` (brain/plasma ratio). Brain equilibrium is taken as instantaneous
(diazepam and nordiazepam ≤ 5 min in rat, [friedman1986]; diazepam brain/plasma ratio maximal 2.5 min after an i.v.
dose in mice, [greenblatt1989b]); lorazepam and oxazepam equilibrate over 30–60 min in mice ([greenblatt1990]),
which this simplification ignores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from sim.core.maths import stage_function, zeros
from sim.core.params import ConfigError, check_fraction, check_positive, param
from sim.core.stage import register_stage


class LinearChainRecord(NamedTuple):
    """Constants of :func:`linear_chain_rhs`, in PK state order (depot first, then one amount per compound)."""

    rate_matrix: np.ndarray  # K of dA/dt = K A + input I(t), state = depot, central amounts, peripheral amounts [1/h]
    input_vector: np.ndarray  # where one µmol/kg of administered drug goes, after bioavailability [1]
    free_per_amount: np.ndarray  # unbound brain concentration per amount, f_u / V, one per compound [µM per µmol/kg]


@stage_function
def free_brain_concentration(p: LinearChainRecord, amounts):
    """Unbound brain concentration of each compound [µM] from the PK state (depot first) [µmol/kg].

    Unbound brain equals unbound plasma concentration, :math:`C^u_{b,i} = f_{u,i} A_i / V_i`.
    """
    n = p.free_per_amount.shape[0]
    free = zeros(n, amounts[0])
    for i in range(n):
        free[i] = p.free_per_amount[i] * amounts[i + 1]
    return free


@stage_function
def linear_chain_rhs(p: LinearChainRecord, amounts, upstream, out):
    r"""Stage function: :math:`\dot A = K A + b\,I(t)` into ``out`` [µmol/kg/h]; signal: unbound brain concentrations.

    ``upstream[0]`` is the infusion rate :math:`I(t)` [µmol/kg/h] (0 between bolus doses).
    """
    n = amounts.shape[0]
    for i in range(n):
        rate = p.input_vector[i] * upstream[0]
        for j in range(n):
            rate += p.rate_matrix[i, j] * amounts[j]
        out[i] = rate
    return free_brain_concentration(p, amounts)


@dataclass
class CompoundPK:
    """Disposition of one chemical species (parent or metabolite) in one animal species."""

    half_life_h: float = param(
        1.0,
        units="h",
        long_name="terminal plasma elimination half-life",
        source="per compound and species: every file of sim/configs/compound_pk/ sets it and cites it in `source`",
    )
    volume_l_per_kg: float = param(
        1.0,
        units="L/kg",
        long_name="volume of distribution (central compartment if a peripheral one is given)",
        source="per compound and species: every file of sim/configs/compound_pk/ sets it and cites it in `source`",
    )
    peripheral_volume_l_per_kg: float = param(
        0.0,
        units="L/kg",
        long_name="peripheral compartment volume (0: one-compartment compound)",
        source="per compound and species: where a file of sim/configs/compound_pk/ sets it, its `source` cites it "
        "(default 0: one-compartment compound)",
    )
    distribution_rate_per_h: float = param(
        0.0,
        units="1/h",
        long_name="central -> peripheral rate constant k12 = Q / V (0: one-compartment compound)",
        source="per compound and species: where a file of sim/configs/compound_pk/ sets it, its `source` cites it "
        "(default 0: one-compartment compound)",
    )
    free_fraction: float = param(
        0.2,
        units="1",
        long_name="unbound fraction in plasma",
        source="per compound and species: every file of sim/configs/compound_pk/ sets it and cites it in `source`",
    )
    brain_plasma_ratio: float = param(
        1.0,
        units="1",
        long_name="total brain / total plasma concentration ratio",
        source="per compound and species: every file of sim/configs/compound_pk/ sets it and cites it in `source`",
    )
    formed_from: dict[str, float] = param(
        {},
        units="1",
        long_name="fraction of each precursor's elimination that forms this compound",
        source="per compound and species: where a file of sim/configs/pk/ sets it, its `source` cites it "
        "(default {}: not formed from another compound)",
    )
    source: str = param("", units="", long_name="citation or assumption behind these values", source="")

    def __post_init__(self) -> None:
        check_positive(self, "half_life_h", "volume_l_per_kg", "brain_plasma_ratio")
        check_positive(self, "peripheral_volume_l_per_kg", "distribution_rate_per_h", allow_zero=True)
        check_fraction(self, "free_fraction")
        v2, k12 = self.peripheral_volume_l_per_kg, self.distribution_rate_per_h
        if (v2 > 0) != (k12 > 0):
            raise ConfigError(
                f"peripheral_volume_l_per_kg = {v2!r} and distribution_rate_per_h = {k12!r} are not allowed "
                "together: give both > 0 (two compartments) or both 0 (one compartment)"
            )
        if self.two_compartment and self.k21 <= self.terminal_rate:
            raise ConfigError(
                f"distribution_rate_per_h = {k12!r} with volume_l_per_kg = {self.volume_l_per_kg!r} and "
                f"peripheral_volume_l_per_kg = {v2!r} is not allowed with half_life_h = {self.half_life_h!r}: the "
                f"return rate k21 = k12 V / V2 = {self.k21:g} 1/h must exceed the terminal rate ln2/half_life_h = "
                f"{self.terminal_rate:g} 1/h"
            )
        for precursor, fraction in self.formed_from.items():
            if not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
                raise ConfigError(f"formed_from.{precursor} = {fraction!r} is not allowed: it must lie in [0, 1]")

    @property
    def two_compartment(self) -> bool:
        """True if the compound has a peripheral compartment."""
        return self.peripheral_volume_l_per_kg > 0

    @property
    def terminal_rate(self) -> float:
        r"""Terminal disposition rate constant :math:`\beta = \ln 2 / t_{1/2}` [1/h]."""
        return math.log(2.0) / self.half_life_h

    @property
    def k12(self) -> float:
        """Central -> peripheral rate constant :math:`k_{12}` [1/h] (0 for one compartment)."""
        return self.distribution_rate_per_h

    @property
    def k21(self) -> float:
        """Peripheral -> central rate constant :math:`k_{21} = k_{12} V / V_2` [1/h] (0 for one compartment)."""
        if not self.two_compartment:
            return 0.0
        return self.distribution_rate_per_h * self.volume_l_per_kg / self.peripheral_volume_l_per_kg

    @property
    def ke(self) -> float:
        """Elimination rate constant from the central compartment, :math:`k_{10}` [1/h] (module docstring)."""
        beta = self.terminal_rate
        if not self.two_compartment:
            return beta
        return beta * (self.k12 + self.k21 - beta) / (self.k21 - beta)


@register_stage("pk")
@dataclass
class LinearChainPK:
    """Parent plus metabolite chain, one compartment each, first-order absorption from a depot.

    ``compounds`` maps each chemical species' name to its :class:`CompoundPK`; ``dosed`` names the one that is
    administered. Route-specific absorption: i.v. goes straight into plasma; i.p., s.c. and oral doses (and drinking
    water) enter a depot with rate ``ka_<route>_per_h`` and bioavailability ``bioavailability_<route>``.
    """

    dosed: str = param("diazepam", units="", long_name="administered chemical species", source="drug choice")
    compounds: dict[str, CompoundPK] = field(default_factory=lambda: {"diazepam": CompoundPK()})
    ka_ip_per_h: float = param(
        6.0,
        units="1/h",
        long_name="absorption rate constant, intraperitoneal",
        source="assumption: i.p. Tmax of minutes in rodents (rat brain diazepam at equilibrium 5 min after 5 mg/kg i.p., [friedman1986])",
    )
    ka_sc_per_h: float = param(
        2.0, units="1/h", long_name="absorption rate constant, subcutaneous", source="assumption: slower than i.p."
    )
    ka_oral_per_h: float = param(
        1.5,
        units="1/h",
        long_name="absorption rate constant, oral",
        source="assumption: placeholder; per-drug values in sim/configs/pk/ (human diazepam Tmax 0.9 h, [divoll1983])",
    )
    bioavailability_ip: float = param(
        1.0,
        units="1",
        long_name="bioavailability, intraperitoneal",
        source="assumption: complete absorption; first pass ignored",
    )
    bioavailability_sc: float = param(1.0, units="1", long_name="bioavailability, subcutaneous", source="assumption")
    bioavailability_oral: float = param(
        0.76,
        units="1",
        long_name="bioavailability, oral",
        source="assumption: placeholder; per-drug values in sim/configs/pk/ (human diazepam F 0.94, [divoll1983])",
    )
    source: str = param("", units="", long_name="citation or assumption behind this parameter set", source="")

    def __post_init__(self) -> None:
        check_positive(self, "ka_ip_per_h", "ka_sc_per_h", "ka_oral_per_h")
        check_fraction(self, "bioavailability_ip", "bioavailability_sc", "bioavailability_oral")
        # OmegaConf.to_object hands us real CompoundPK objects; direct construction may pass dicts.
        self.compounds = {
            name: value if isinstance(value, CompoundPK) else CompoundPK(**value)
            for name, value in self.compounds.items()
        }
        if self.dosed not in self.compounds:
            raise ConfigError(
                f"pk.dosed = {self.dosed!r} is not allowed: it must be one of pk.compounds ({', '.join(self.compounds)})"
            )
        for name, compound in self.compounds.items():
            for precursor in compound.formed_from:
                if precursor not in self.compounds:
                    raise ConfigError(
                        f"pk.compounds.{name}.formed_from names {precursor!r}, which is not in pk.compounds "
                        f"({', '.join(self.compounds)})"
                    )
        for name in self.compounds:
            total = sum(c.formed_from.get(name, 0.0) for c in self.compounds.values())
            if total > 1.0 + 1e-12:
                raise ConfigError(
                    f"pk.compounds: metabolites formed from {name!r} add up to {total:g} of its elimination; "
                    "the fractions must sum to at most 1"
                )

    # ------------------------------------------------------------------ structure
    @property
    def names(self) -> tuple[str, ...]:
        """Chemical species in state order."""
        return tuple(self.compounds)

    @property
    def state_names(self) -> tuple[str, ...]:
        """State variables [µmol/kg].

        The absorption depot, one central amount per compound, then one peripheral amount per two-compartment compound.
        """
        central = tuple(f"amount_{name}" for name in self.compounds)
        return ("depot",) + central + tuple(f"peripheral_amount_{name}" for name in self.peripheral_names)

    @property
    def peripheral_names(self) -> tuple[str, ...]:
        """Compounds with a peripheral compartment, in state order."""
        return tuple(name for name, compound in self.compounds.items() if compound.two_compartment)

    def absorption(self, route: str) -> tuple[float, float]:
        """Return ``(ka [1/h], bioavailability [1])`` for a route; i.v. has no depot (``ka = inf``)."""
        if route == "iv":
            return math.inf, 1.0
        key = "oral" if route == "drinking_water" else route
        return getattr(self, f"ka_{key}_per_h"), getattr(self, f"bioavailability_{key}")

    def rate_matrix(self, route: str) -> np.ndarray:
        """Matrix ``K`` of the linear system ``d(state)/dt = K state + input`` [1/h]."""
        names = self.names
        n = len(names)
        size = len(self.state_names)
        ka, _ = self.absorption(route)
        matrix = np.zeros((size, size))
        if math.isfinite(ka):
            matrix[0, 0] = -ka
            matrix[1 + names.index(self.dosed), 0] = ka
        for i, name in enumerate(names):
            compound = self.compounds[name]
            matrix[1 + i, 1 + i] = -compound.ke
            for precursor, fraction in compound.formed_from.items():
                j = names.index(precursor)
                matrix[1 + i, 1 + j] += fraction * self.compounds[precursor].ke
        for k, name in enumerate(self.peripheral_names):
            i, p = 1 + names.index(name), 1 + n + k
            compound = self.compounds[name]
            matrix[i, i] -= compound.k12
            matrix[p, i] = compound.k12
            matrix[p, p] = -compound.k21
            matrix[i, p] = compound.k21
        return matrix

    def input_vector(self, route: str) -> np.ndarray:
        """Where one µmol/kg of administered drug goes (bolus or per hour of infusion), after bioavailability."""
        vector = np.zeros(len(self.state_names))
        ka, bioavailability = self.absorption(route)
        if math.isfinite(ka):
            vector[0] = bioavailability
        else:
            vector[1 + self.names.index(self.dosed)] = 1.0
        return vector

    rhs = staticmethod(linear_chain_rhs)

    def record(self, model: Any) -> LinearChainRecord:
        """Constants of :func:`linear_chain_rhs` for the route of ``model.regimen``."""
        route = model.regimen.route
        return LinearChainRecord(
            rate_matrix=self.rate_matrix(route),
            input_vector=self.input_vector(route),
            free_per_amount=self.free_fractions / self.volumes,
        )

    def initial_state(self, record: LinearChainRecord | None = None) -> np.ndarray:
        """Drug-naive animal: all amounts zero."""
        return np.zeros(len(self.state_names))

    # ------------------------------------------------------------------ readouts
    @property
    def volumes(self) -> np.ndarray:
        """Volumes of distribution in state order [L/kg]."""
        return np.array([c.volume_l_per_kg for c in self.compounds.values()])

    @property
    def free_fractions(self) -> np.ndarray:
        """Unbound plasma fractions in state order [1]."""
        return np.array([c.free_fraction for c in self.compounds.values()])

    @property
    def brain_plasma_ratios(self) -> np.ndarray:
        """Total brain / plasma ratios in state order [1]."""
        return np.array([c.brain_plasma_ratio for c in self.compounds.values()])

    def plasma_concentration(self, amounts: np.ndarray) -> np.ndarray:
        """Total plasma concentration [µM] from amounts [µmol/kg] (compounds on axis 0)."""
        return amounts / self.volumes.reshape((-1,) + (1,) * (amounts.ndim - 1))

    def brain_concentration(self, amounts: np.ndarray) -> np.ndarray:
        """Total brain tissue concentration [µM] = brain/plasma ratio × plasma concentration."""
        shape = (-1,) + (1,) * (amounts.ndim - 1)
        return self.plasma_concentration(amounts) * self.brain_plasma_ratios.reshape(shape)
