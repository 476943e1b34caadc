"""Comparing drugs and dosing regimens: equal mg/kg, clinically equivalent doses, tapers (notebook 05).

Each comparison is a set of named *variants*, each a list of Hydra overrides; :func:`simulate_variants` composes
and simulates them, :func:`summary_table` stacks :func:`sim.analysis.summarize` along a ``variant`` dimension.
:func:`equivalent_doses` scales a dose by the clinical equivalence table :data:`EQUIVALENT_ORAL_DOSE_MG` (both
defined in :mod:`sim.analysis.equivalence` and re-exported here).

Clinical equivalence describes the *GABA-A* (anxiolytic/sedative) effect in humans. Whether it says anything about
TSPO occupancy is exactly the question the comparison asks; applying the human ratios to mouse mg/kg doses is an
assumption, stated wherever it is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from sim.analysis import EQUIVALENCE_SOURCE, EQUIVALENT_ORAL_DOSE_MG, equivalent_doses, summarize


def _experiment(overrides: list[str]):
    """The RunConfig of command-line style ``overrides``, read from the package data (no Hydra)."""
    from sim import presets

    return presets.from_overrides(overrides)


def simulate_variants(variants: Mapping[str, Sequence[str]], common: Sequence[str] = ()) -> dict[str, xr.Dataset]:
    """Compose and simulate each variant: ``common`` overrides first, then the variant's own.

    Parameters
    ----------
    variants
        label -> Hydra overrides, e.g. ``{"taper": ["regimen=taper_percent"]}``.
    common
        Overrides applied to every variant (e.g. ``["duration_days=140", "output_step_h=3"]``).

    Returns
    -------
    dict
        label -> result Dataset (``attrs["variant"]`` holds the label).
    """
    import sim

    results = {}
    for label, overrides in variants.items():
        ds = sim.simulate(_experiment([*common, *overrides]))
        ds.attrs["variant"] = label
        results[label] = ds
    return results


def drug_variants(doses: Mapping[str, float], dose_field: str = "dose_mg_per_kg") -> dict[str, list[str]]:
    """Variants giving each drug its dose: ``{drug: ["drug=<drug>", "regimen.<dose_field>=<dose>"]}``.

    ``dose_field`` is ``dose_mg_per_kg`` [mg/kg] or ``dose_mg`` [mg] (humans, with a regimen that sets ``dose_mg``).
    """
    if dose_field not in ("dose_mg_per_kg", "dose_mg"):
        raise ValueError(f"dose_field = {dose_field!r} is not allowed: use dose_mg_per_kg or dose_mg")
    return {drug: [f"drug={drug}", f"regimen.{dose_field}={float(dose)!r}"] for drug, dose in doses.items()}


def summary_table(results: Mapping[str, xr.Dataset], dim: str = "variant") -> xr.Dataset:
    """:func:`sim.analysis.summarize` of every result, stacked along ``dim`` (labelled by the dict keys).

    Adds ``dose`` (dose per administration, from the results' attributes) [mg/kg] along ``dim``.
    """
    labels = list(results)
    table = xr.concat([summarize(results[k]) for k in labels], dim=dim, combine_attrs="drop_conflicts")
    table = table.assign_coords({dim: labels})
    table[dim].attrs["long_name"] = dim
    dose = np.array([float(results[k].attrs.get("dose_mg_per_kg", np.nan)) for k in labels])
    table["dose"] = (dim, dose, {"units": "mg/kg", "long_name": "dose per administration"})
    return table


def table_rows(table: xr.Dataset, variables: Sequence[str], dim: str = "variant") -> list[dict[str, object]]:
    """Rows (one per ``dim`` label) of the named variables, for a Markdown table (``sim.teaching.markdown_table``).

    Column headers carry the units: ``"max_spine_loss [percent]"``.
    """
    rows = []
    for label in table[dim].values:
        row: dict[str, object] = {dim: str(label)}
        for name in variables:
            units = table[name].attrs.get("units", "")
            row[f"{name} [{units}]" if units else name] = float(table[name].sel({dim: label}))
        rows.append(row)
    return rows


__all__ = [
    "EQUIVALENCE_SOURCE",
    "EQUIVALENT_ORAL_DOSE_MG",
    "drug_variants",
    "equivalent_doses",
    "simulate_variants",
    "summary_table",
    "table_rows",
]
