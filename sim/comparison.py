"""Comparing drugs and dosing regimens: equal mg/kg, clinically equivalent doses, tapers (notebook 05).

Each comparison is a set of named *variants*, each a list of Hydra overrides; :func:`simulate_variants` composes
and simulates them, :func:`summary_table` stacks :func:`sim.teaching.summarize` along a ``variant`` dimension.
:func:`equivalent_doses` scales a dose by the clinical equivalence table :data:`EQUIVALENT_ORAL_DOSE_MG`.

Clinical equivalence describes the *GABA-A* (anxiolytic/sedative) effect in humans. Whether it says anything about
TSPO occupancy is exactly the question the comparison asks; applying the human ratios to mouse mg/kg doses is an
assumption, stated wherever it is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

#: Oral doses approximately equivalent to 10 mg diazepam [mg] (humans).
EQUIVALENT_ORAL_DOSE_MG: dict[str, float] = {
    "diazepam": 10.0,
    "alprazolam": 0.5,
    "clonazepam": 0.5,
    "lorazepam": 1.0,
    "temazepam": 20.0,
    "chlordiazepoxide": 25.0,
    "oxazepam": 20.0,
}
#: Source and status of :data:`EQUIVALENT_ORAL_DOSE_MG`.
EQUIVALENCE_SOURCE = (
    "Ashton CH, Benzodiazepines: how they work and how to withdraw (the Ashton Manual), 2002, rev. 2007; "
    "table of approximate equivalent doses, as reproduced by guidelinecentral.com (SECONDARY: not checked against "
    "the manual itself)"
)


def equivalent_doses(
    reference_dose: float,
    reference_drug: str = "diazepam",
    table: Mapping[str, float] = EQUIVALENT_ORAL_DOSE_MG,
) -> dict[str, float]:
    """Doses of every drug in ``table`` equivalent to ``reference_dose`` of ``reference_drug``.

    Parameters
    ----------
    reference_dose
        Dose of the reference drug [mg, or mg/kg: the result has the same unit].
    reference_drug
        A key of ``table``.
    table
        Equivalent doses [mg] (default :data:`EQUIVALENT_ORAL_DOSE_MG`).

    Returns
    -------
    dict
        drug -> ``reference_dose * table[drug] / table[reference_drug]``, in the unit of ``reference_dose``.
    """
    if reference_drug not in table:
        raise ValueError(f"reference_drug = {reference_drug!r} is not in the table ({', '.join(table)})")
    scale = reference_dose / table[reference_drug]
    return {drug: dose * scale for drug, dose in table.items()}


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
        ds = sim.simulate(sim.load_config([*common, *overrides]))
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
    """:func:`sim.teaching.summarize` of every result, stacked along ``dim`` (labelled by the dict keys).

    Adds ``dose`` (dose per administration, from the results' attributes) [mg/kg] along ``dim``.
    """
    from sim.teaching import summarize

    labels = list(results)
    table = xr.concat([summarize(results[k]) for k in labels], dim=dim, combine_attrs="drop_conflicts")
    table = table.assign_coords({dim: labels})
    table[dim].attrs["long_name"] = dim
    dose = np.array([float(results[k].attrs.get("dose_mg_per_kg", np.nan)) for k in labels])
    table["dose"] = (dim, dose, {"units": "mg/kg", "long_name": "dose per administration"})
    return table


def table_rows(table: xr.Dataset, variables: Sequence[str], dim: str = "variant") -> list[dict[str, object]]:
    """Rows (one per ``dim`` label) of the named variables, for :func:`sim.teaching.markdown_table`.

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
