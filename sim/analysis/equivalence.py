"""Clinical dose equivalence of benzodiazepines (used by comparisons and the teaching material).

Clinical equivalence describes the *GABA-A* (anxiolytic/sedative) effect in humans. Whether it says anything about
TSPO occupancy is exactly the question a comparison asks; applying the human ratios to mouse mg/kg doses is an
assumption, stated wherever it is used.
"""

from __future__ import annotations

from collections.abc import Mapping

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


__all__ = ["EQUIVALENCE_SOURCE", "EQUIVALENT_ORAL_DOSE_MG", "equivalent_doses"]
