"""The agent engine's outputs: the shared output schema plus ``replicate``, per-cell and per-spine variables.

:func:`agent_outputs` turns the replicates' counts, cells and spine records into the arrays and coordinates that
:func:`sim.core.results.to_dataset` makes into the result Dataset; see ``docs/agents.md`` ("Outputs").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.engines.agents.replicate import ReplicateResult
from sim.engines.agents.territories import Territories
from sim.model import PruningModel

# output name, ReplicateResult field, scale to the output unit (h -> d for times)
_RECORDS = (
    ("birth_time", "birth_h", 1 / 24),
    ("tag_time", "tag_h", 1 / 24),
    ("loss_time", "loss_h", 1 / 24),
    ("engulfed", "engulfed", 1.0),
    ("spine_position", "position_um", 1.0),
    ("spine_cell", "cell", 1.0),
)


def agent_outputs(
    model: PruningModel,
    times_h: np.ndarray,
    states: np.ndarray,
    results: Sequence[ReplicateResult],
    cells: Sequence[Territories] | None,
    dendrite_um: float,
    record_spines: bool,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Output arrays (name -> array) and coordinates of the agent engine's result.

    Deterministic readouts, per-replicate spine readouts and (optionally) per-cell variables and spine records.

    Parameters
    ----------
    model
        The coupled model (``readouts``, ``spine_readouts``, ``upstream``, ``state_names``, ``n_pk`` and
        ``pk.names`` are used).
    times_h
        Output times [h].
    states
        Mean-field ODE states at ``times_h`` (state x time): the deterministic chain.
    results
        One result per replicate (record buffers are released field by field while they are copied).
    cells
        The microglial cells of each replicate (the same count in every replicate); ``None``: no per-cell outputs.
    dendrite_um
        Dendrite length per replicate [um] (counts -> densities).
    record_spines
        Include the per-spine records (dimension ``spine``, padded with NaN).

    Returns
    -------
    data, coords
        Arguments of :func:`sim.core.results.to_dataset`; ``coords`` holds ``compound``, ``replicate`` and, with
        cells, ``cell`` and, with records, ``spine``.
    """
    names = model.state_names
    activation, c1q = states[names.index("activation")], states[names.index("c1q")]
    data = model.readouts(times_h, states)
    untagged = np.stack([r.untagged for r in results]) / dendrite_um
    tagged = np.stack([r.tagged for r in results]) / dendrite_um
    gabaa = model.upstream(states[1 : model.n_pk])["gabaa_agonism"]
    data.update(model.spine_readouts(untagged, tagged, activation, c1q, gabaa))
    coords: dict[str, Any] = {"compound": list(model.pk.names), "replicate": np.arange(len(results))}
    if cells is not None:
        data["microglia_cell_position"] = np.stack([c.position_um for c in cells])
        data["microglia_cell_multiplier"] = np.stack([c.multiplier for c in cells])
        data["microglia_cell_engulfed"] = np.stack([r.cell_engulfed for r in results])
        coords["cell"] = np.arange(cells[0].n_cells)
    if record_spines:
        n_max = max(r.birth_h.size for r in results)
        for key, field, scale in _RECORDS:
            padded = np.full((len(results), n_max), np.nan)
            for i, r in enumerate(results):
                values = getattr(r, field)
                np.multiply(values, scale, out=padded[i, : values.size])
                setattr(r, field, None)  # release the record buffer before the next field
            data[key] = padded
        coords["spine"] = np.arange(n_max)
    return data, coords
