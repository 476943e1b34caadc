"""The one result schema shared by every engine: names, dimensions, units and long names of all outputs.

``OUTPUTS`` is the only place where output variables are defined. :func:`to_dataset` builds an
:class:`xarray.Dataset` from plain arrays, attaches the metadata and orders dimensions canonically;
:func:`provenance` collects the global attributes that make a result reproducible.
"""

from __future__ import annotations

import datetime as _dt
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sim.core import __version__

#: The metadata convention every result follows (global ``Conventions`` attribute, set by :func:`provenance`).
#: Compliant with CF 1.11 except the relative time axis: ``time`` is in days since the first dose (``units="d"``)
#: rather than ``days since <date>``, which xarray would decode to dates (README, "Use it").
CONVENTIONS = "CF-1.11"

CANONICAL_ORDER = ("dose", "withdrawal_time", "draw", "quantile", "replicate", "compound", "cell", "spine", "time")

COORD_ATTRS: dict[str, dict[str, str]] = {
    "time": {"units": "d", "long_name": "time since the first dose", "standard_name": "time"},
    "compound": {"long_name": "chemical species (parent drug or metabolite)"},
    "replicate": {"units": "1", "long_name": "stochastic replicate"},
    "spine": {"units": "1", "long_name": "spine slot"},
    "cell": {"units": "1", "long_name": "microglial cell (territories in order along the replicate's dendrite)"},
    "dose": {"units": "mg/kg", "long_name": "dose per administration"},
    "withdrawal_time": {"units": "d", "long_name": "day dosing stops (inf: never withdrawn)"},
}

# name: (dims, units, long_name)
OUTPUTS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "plasma_concentration": (("compound", "time"), "umol/L", "total plasma concentration"),
    "brain_concentration": (("compound", "time"), "umol/L", "total brain tissue concentration"),
    "brain_free_concentration": (("compound", "time"), "umol/L", "unbound brain concentration"),
    "cumulative_dose": (("time",), "mg/kg", "cumulative administered dose"),
    "tspo_occupancy": (("time",), "1", "fraction of TSPO sites occupied by drug"),
    "gabaa_occupancy": (("time",), "1", "fraction of GABA-A benzodiazepine sites occupied by drug"),
    "tspo_agonism": (("time",), "1", "efficacy-weighted TSPO occupancy"),
    "microglia_activation": (("time",), "1", "microglial activation (pruning state)"),
    "microglial_tspo": (("time",), "1", "TSPO expression per microglial cell relative to resting wild type"),
    "microglial_tspo_total": (
        ("time",),
        "1",
        "microglial TSPO per tissue volume relative to resting wild type (TSPO-PET proxy)",
    ),
    "tspo_pet_proxy": (
        ("time",),
        "1",
        "tissue TSPO (microglia density x per-cell TSPO) relative to the same tissue drug-free (TSPO-PET proxy; "
        "0 without TSPO)",
    ),
    "c1q_level": (("time",), "1", "microglial C1q relative to resting"),
    # tolerance stage only (tolerance=adaptive; absent with tolerance=none, which has no state)
    "gabaa_adaptation": (
        ("time",),
        "1",
        "GABA-A set-point shift by adaptation to benzodiazepine-site agonism (in units of the agonism it opposes)",
    ),
    "gabaa_signalling_net": (
        ("time",),
        "1",
        "GABA-A agonism relative to the adapted set point (agonism minus adaptation; negative in withdrawal)",
    ),
    "withdrawal_deficit": (
        ("time",),
        "1",
        "GABA-A signalling below the adapted set point (withdrawal-severity proxy; 0 without adaptation)",
    ),
    # stress stage only (stress=cus; absent with stress=none, which has no state)
    "neuronal_activity": (
        ("time",),
        "1",
        "neuronal activity relative to the unstressed drug-free baseline (stress raises it, GABA-A agonism damps it)",
    ),
    "csf1_excess": (("time",), "1", "neuronal CSF1 signal above rest (driven by the activity excess)"),
    "microglia_density": (("time",), "1", "microglia density relative to intact brain"),
    "spine_density": (("time",), "1/um", "dendritic spine density"),
    "tagged_spine_density": (("time",), "1/um", "density of C1q-tagged spines"),
    "spine_density_relative": (("time",), "%", "spine density relative to the drug-free baseline"),
    "spine_formation_rate": (("time",), "1/d", "spine formation per day as a fraction of current density"),
    "spine_elimination_rate": (("time",), "1/d", "spine elimination per day as a fraction of current density"),
    "sedation": (("time",), "1", "acute fractional performance loss from GABA-A agonism"),
    "nor_discrimination_index": (("time",), "1", "novel-object-recognition discrimination index"),
    "spontaneous_alternation": (("time",), "%", "spontaneous alternation"),
    # agent engine only
    "birth_time": (("replicate", "spine"), "d", "time a spine appeared (NaN: present at start or never born)"),
    "loss_time": (("replicate", "spine"), "d", "time a spine was eliminated (NaN: not eliminated)"),
    "tag_time": (("replicate", "spine"), "d", "time a spine was tagged by C1q (NaN: never, or before time zero)"),
    "engulfed": (("replicate", "spine"), "1", "1: spine engulfed by microglia, 0: lost otherwise, NaN: not lost"),
    "spine_position": (("replicate", "spine"), "um", "position along the replicate's dendrite (segments end to end)"),
    "spine_cell": (("replicate", "spine"), "1", "microglial cell whose territory holds the spine (index along cell)"),
    "microglia_cell_position": (
        ("replicate", "cell"),
        "um",
        "centre of the microglial cell's territory along the replicate's dendrite",
    ),
    "microglia_cell_multiplier": (
        ("replicate", "cell"),
        "1",
        "the cell's multiplier of the mean-field tagging and engulfment hazards (responsiveness)",
    ),
    "microglia_cell_engulfed": (("replicate", "cell"), "count", "spines engulfed by the cell during the run"),
}


#: Outputs of the stress stage: present only when it has a state (``stress=cus``), absent with ``stress=none``.
STRESS_OUTPUTS = ("neuronal_activity", "csf1_excess")

#: Outputs of the tolerance stage: present only with ``tolerance=adaptive``, absent with ``tolerance=none``.
TOLERANCE_OUTPUTS = ("gabaa_adaptation", "gabaa_signalling_net", "withdrawal_deficit")


def to_dataset(
    time_days: np.ndarray,
    data: dict[str, np.ndarray],
    coords: dict[str, Any] | None = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build a Dataset from arrays named in :data:`OUTPUTS`; extra leading dims (e.g. ``replicate``) are allowed.

    Arrays whose shape has one more leading axis than the schema dims get the ``replicate`` dimension.
    """
    variables = {}
    for name, values in data.items():
        if name not in OUTPUTS:
            raise KeyError(f"{name!r} is not a declared output; add it to sim.core.results.OUTPUTS")
        dims, units, long_name = OUTPUTS[name]
        values = np.asarray(values)
        if values.ndim == len(dims) + 1 and "replicate" not in dims:
            dims = ("replicate",) + dims
        variables[name] = xr.Variable(dims, values, {"units": units, "long_name": long_name})
    all_coords = {"time": ("time", np.asarray(time_days, dtype=float))}
    for name, value in (coords or {}).items():
        all_coords[name] = (name, np.asarray(value))
    ds = xr.Dataset(variables, coords=all_coords, attrs=dict(attrs or {}))
    for name, coord_attrs in COORD_ATTRS.items():
        if name in ds.coords:
            ds[name].attrs.update(coord_attrs)
    return ds.transpose(*CANONICAL_ORDER, ..., missing_dims="ignore")


def replicate_mean(da: xr.DataArray) -> xr.DataArray:
    """Mean over ``replicate`` for agent results; ODE results pass through unchanged."""
    return da.mean("replicate") if "replicate" in da.dims else da


#: ``git_commit`` of a package that is not part of a git checkout (installed from a wheel or sdist).
INSTALLED = "unknown (installed package)"


def _git(*args: str, cwd: Path | None = None) -> str:
    """Output of ``git *args`` run in ``cwd`` (default: the directory above the package), or "" if git fails."""
    root = cwd or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _is_source_checkout() -> bool:
    """True if the package lies in its own git checkout.

    That is: the work tree's top level is the directory above the package, and the package directory is tracked.

    A package installed into a virtual environment that happens to lie inside some other repository (a venv in a
    project folder) is neither, so that repository's commit is never recorded as the package's.
    """
    package = Path(__file__).resolve().parents[1]
    top = _git("rev-parse", "--show-toplevel", cwd=package)
    if not top or Path(top).resolve() != package.parent:
        return False
    return bool(_git("ls-files", "--", package.name, cwd=package.parent))


_GIT_STATE: dict[str, Any] = {"read_at": -math.inf, "commit": "unknown", "dirty": 0}
_GIT_STATE_TTL_S = 10.0


def git_state() -> tuple[str, int]:
    """``(commit, dirty)`` of the source tree, re-read at most every 10 s (the git calls cost ~10 ms per run).

    Outside the package's own git checkout (see :func:`_is_source_checkout`): ``(INSTALLED, 0)``.
    """
    now = time.monotonic()
    if now - _GIT_STATE["read_at"] > _GIT_STATE_TTL_S:
        if _is_source_checkout():
            commit = _git("rev-parse", "HEAD") or "unknown"
            dirty = 1 if _git("status", "--porcelain", "--untracked-files=no") else 0
        else:
            commit, dirty = INSTALLED, 0
        _GIT_STATE.update(read_at=now, commit=commit, dirty=dirty)
    return _GIT_STATE["commit"], _GIT_STATE["dirty"]


def provenance(config_yaml: str, seed: int, engine: str) -> dict[str, Any]:
    """Global attributes: version, git commit, resolved config, seed, timestamp and command line."""
    commit, dirty = git_state()
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Conventions": CONVENTIONS,
        "title": "synaprune simulation: benzodiazepine -> TSPO -> microglia -> dendritic spines",
        "source": f"synaprune {__version__}, engine={engine}",
        "history": f"{now} {' '.join(sys.argv)}",
        "references": "Shi Y et al. (2022) Nat Neurosci 25:317-329, doi:10.1038/s41593-022-01013-9",
        "sim_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "config": config_yaml,
        "seed": int(seed),
    }


def netcdf_encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """The NetCDF encoding that keeps a result CF-compliant (passed to ``to_netcdf`` by :func:`sim.io.save_dataset`).

    * Coordinate variables get no ``_FillValue`` (CF 2.5.1: coordinates have no missing values; ``inf`` in
      ``withdrawal_time`` is a value, not a fill).
    * Text variables (the ``compound`` labels) are written as character arrays (``NC_CHAR`` with a
      ``string<n>`` dimension, UTF-8), the CF 1.11 form for labels (section 6.1); xarray reads them back as strings.
    """
    encoding: dict[str, dict[str, Any]] = {}
    for name, variable in ds.variables.items():
        entry: dict[str, Any] = {}
        if name in ds.dims:
            entry["_FillValue"] = None
        if variable.dtype.kind in "OUS":
            entry["dtype"] = "S1"
        if entry:
            encoding[str(name)] = entry
    return encoding


def finalize(
    ds: xr.Dataset,
    *,
    config: str,
    seed: int,
    engine: str,
    attrs: dict[str, Any] | None = None,
    sweep: dict[str, float] | None = None,
) -> xr.Dataset:
    """The one step that turns an engine's Dataset into a result.

    Adds the run's descriptive ``attrs`` and the provenance (:func:`provenance`: version, git commit, the resolved
    config recorded once, seed, engine settings, timestamp and command line) and, with ``sweep``, length-1
    dimensions such as ``dose`` and ``withdrawal_time`` so that runs combine into a grid.
    """
    ds.attrs.update(attrs or {})
    ds.attrs.update(provenance(config, seed, engine))
    if sweep:
        ds = ds.expand_dims({name: [float(value)] for name, value in sweep.items()})
        for name in sweep:
            ds[name].attrs.update(COORD_ATTRS.get(name, {}))
        ds = ds.transpose(*CANONICAL_ORDER, ..., missing_dims="ignore")
    return ds
