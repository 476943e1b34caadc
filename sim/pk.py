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

import numpy as np

from sim.core.params import ConfigError, check_fraction, check_positive, param


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

    def initial_state(self) -> np.ndarray:
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

    def free_brain_concentration(self, amounts: np.ndarray) -> np.ndarray:
        """Unbound brain concentration [µM], equal to unbound plasma concentration."""
        shape = (-1,) + (1,) * (amounts.ndim - 1)
        return self.plasma_concentration(amounts) * self.free_fractions.reshape(shape)

    def brain_concentration(self, amounts: np.ndarray) -> np.ndarray:
        """Total brain tissue concentration [µM] = brain/plasma ratio × plasma concentration."""
        shape = (-1,) + (1,) * (amounts.ndim - 1)
        return self.plasma_concentration(amounts) * self.brain_plasma_ratios.reshape(shape)
