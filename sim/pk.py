r"""Pharmacokinetics stage: doses -> plasma and brain concentrations of the parent drug and its metabolites.

:class:`LinearChainPK` is a linear one-compartment-per-compound model with a first-order absorption depot and a
metabolite chain (diazepam -> nordiazepam -> oxazepam, diazepam -> temazepam -> oxazepam):

.. math::

    \dot D = -k_a D + F\,I(t), \qquad
    \dot A_i = k_a D\,[i = \text{dosed}] + \sum_j f_{j\to i}\,k_{e,j} A_j - k_{e,i} A_i,

with amounts in µmol/kg, :math:`k_{e,i} = \ln 2 / t_{1/2,i}`, plasma concentration :math:`C_i = A_i / V_i` [µM],
free brain concentration :math:`C^{u}_{b,i} = f_{u,i} C_i` (unbound plasma equals brain extracellular fluid,
pharmacology-addendum Gap 4a) and total brain concentration :math:`C_{b,i} = K_{p,i} C_i` (brain/plasma ratio).
Brain equilibrium is taken as instantaneous (≤ 5 min in rat, 2.5 min in mouse; science.md §5a, addendum Gap 2).
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

    rate_matrix: np.ndarray  # K of dA/dt = K A + input I(t) [1/h]
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
        long_name="plasma elimination half-life",
        source="set per compound and species in sim/configs/compound_pk/",
    )
    volume_l_per_kg: float = param(
        1.0,
        units="L/kg",
        long_name="apparent volume of distribution",
        source="set per compound and species in sim/configs/compound_pk/",
    )
    free_fraction: float = param(
        0.2,
        units="1",
        long_name="unbound fraction in plasma",
        source="set per compound and species in sim/configs/compound_pk/",
    )
    brain_plasma_ratio: float = param(
        1.0,
        units="1",
        long_name="total brain / total plasma concentration ratio",
        source="set per compound and species in sim/configs/compound_pk/",
    )
    formed_from: dict[str, float] = param(
        {},
        units="1",
        long_name="fraction of each precursor's elimination that forms this compound",
        source="set per compound and species in sim/configs/compound_pk/",
    )
    source: str = param("", units="", long_name="citation or assumption behind these values", source="")

    def __post_init__(self) -> None:
        check_positive(self, "half_life_h", "volume_l_per_kg", "brain_plasma_ratio")
        check_fraction(self, "free_fraction")
        for precursor, fraction in self.formed_from.items():
            if not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
                raise ConfigError(f"formed_from.{precursor} = {fraction!r} is not allowed: it must lie in [0, 1]")

    @property
    def ke(self) -> float:
        """Elimination rate constant [1/h]."""
        return math.log(2.0) / self.half_life_h


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
        source="assumption: i.p. Tmax of minutes in rodents (science.md §5a, DERIVED)",
    )
    ka_sc_per_h: float = param(
        2.0, units="1/h", long_name="absorption rate constant, subcutaneous", source="assumption: slower than i.p."
    )
    ka_oral_per_h: float = param(
        1.5,
        units="1/h",
        long_name="absorption rate constant, oral",
        source="assumption: human diazepam Tmax 1-1.5 h (science.md §5b)",
    )
    bioavailability_ip: float = param(
        1.0,
        units="1",
        long_name="bioavailability, intraperitoneal",
        source="assumption: complete absorption; first pass ignored",
    )
    bioavailability_sc: float = param(1.0, units="1", long_name="bioavailability, subcutaneous", source="assumption")
    bioavailability_oral: float = param(
        0.76, units="1", long_name="bioavailability, oral", source="human diazepam F 0.76 (drugs.yaml, science.md §5b)"
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
        """State variables: the absorption depot, then one amount per compound [µmol/kg]."""
        return ("depot",) + tuple(f"amount_{name}" for name in self.compounds)

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
        ka, _ = self.absorption(route)
        matrix = np.zeros((n + 1, n + 1))
        if math.isfinite(ka):
            matrix[0, 0] = -ka
            matrix[1 + names.index(self.dosed), 0] = ka
        for i, name in enumerate(names):
            compound = self.compounds[name]
            matrix[1 + i, 1 + i] = -compound.ke
            for precursor, fraction in compound.formed_from.items():
                j = names.index(precursor)
                matrix[1 + i, 1 + j] += fraction * self.compounds[precursor].ke
        return matrix

    def input_vector(self, route: str) -> np.ndarray:
        """Where one µmol/kg of administered drug goes (bolus or per hour of infusion), after bioavailability."""
        vector = np.zeros(len(self.names) + 1)
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
        return np.zeros(len(self.names) + 1)

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
