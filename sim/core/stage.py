"""The one interface every stage of the chain implements, and the registry of stages.

A stage is a dataclass whose fields are its parameters (declared with :func:`sim.core.params.param`). Stages that
take part in the dynamics (PK, binding, microglia, spines) provide

``state_names``
    names of the stage's state variables (``()`` for an algebraic stage such as equilibrium binding);
``record(model)``
    the numeric constants its formulas need, as a :func:`typing.NamedTuple` whose fields are reached by name in
    compiled code (the other stages of ``model`` supply context, e.g. the genotype's TSPO expression);
``initial_state(record)``
    the drug-free state;
``rhs``
    a static stage function ``rhs(p, state, upstream, out) -> signal``: writes the time derivatives of ``state``
    [per hour] into ``out`` and returns the signal passed downstream (a small vector). ``upstream`` is the previous
    stage's signal; for PK it is the infusion rate.

:class:`~sim.model.PruningModel` lays out the state vector from the stages' ``state_names`` in :data:`CHAIN`
order, and :mod:`sim.core.chain` compiles the chain of ``rhs`` functions into one kernel. The other
stages (drug, species, genotype, sex, regimen, depletion, cognition) are parameters and readouts only.

Stage modules register their classes when imported; importing :mod:`sim` imports them all. The registry maps
each group (the config group and the :class:`~sim.model.PruningModel` field of the same name)
to the classes that can fill it; the first registered class is the group's default. ``RunConfig``, the Hydra
schemas, the package-data reader and the documentation all read it, so adding a stage variant touches only its
own module (one :func:`register_stage` decorator) and its config file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

#: Every group of the model in the order of the chain: dosing -> PK -> binding -> tolerance -> stress -> microglia -> spines -> cognition.
GROUPS: tuple[str, ...] = (
    "drug",
    "species",
    "genotype",
    "sex",
    "regimen",
    "pk",
    "binding",
    "tolerance",
    "stress",
    "microglia",
    "depletion",
    "spines",
    "cognition",
)

#: The groups whose ``rhs`` is chained in the ODE kernel, in order: each passes its signal to the next.
CHAIN: tuple[str, ...] = ("pk", "binding", "tolerance", "stress", "microglia", "spines")

_REGISTRY: dict[str, list[type]] = {group: [] for group in GROUPS}


@runtime_checkable
class Stage(Protocol):
    """A stage of the dynamic chain (see the module docstring)."""

    group: ClassVar[str]

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the stage's state variables (``()`` for an algebraic stage)."""
        ...

    def record(self, model: Any) -> tuple:
        """The constants the stage functions read by name, given the other stages of ``model``."""
        ...

    def initial_state(self, record: tuple) -> np.ndarray:
        """The drug-free state of the stage."""
        ...

    rhs: Callable[..., Any]


def register_stage(group: str) -> Callable[[type], type]:
    """Class decorator: make ``cls`` an option of ``group`` (the first class registered is the default)."""
    if group not in _REGISTRY:
        raise ValueError(f"unknown stage group {group!r}; groups: {', '.join(GROUPS)}")

    def decorate(cls: type) -> type:
        cls.group = group
        if cls not in _REGISTRY[group]:
            _REGISTRY[group].append(cls)
        return cls

    return decorate


_ENGINES: dict[str, type] = {}


def register_engine(cls: type) -> type:
    """Class decorator: make an engine selectable by its ``name`` field (``engine=ode``, ``engine=agents``)."""
    _ENGINES[cls.__dataclass_fields__["name"].default] = cls
    return cls


def engine_classes() -> dict[str, type]:
    """Registered engines by name."""
    return dict(_ENGINES)


def stage_classes(group: str) -> tuple[type, ...]:
    """The classes registered for ``group`` (default first)."""
    return tuple(_REGISTRY[group])


def default_class(group: str) -> type:
    """The default class of ``group``."""
    return stage_classes(group)[0]


__all__ = [
    "CHAIN",
    "GROUPS",
    "Stage",
    "default_class",
    "engine_classes",
    "register_engine",
    "register_stage",
    "stage_classes",
]
