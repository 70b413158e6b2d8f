"""Steady-state figures of merit of the twin on a parameter grid, as a labelled xarray Dataset.

``twin_map(base, kappa=[...], n_source=[...])`` evaluates every grid point (any ``LinkParameters``
fields may be axes, in the order given) and returns a Dataset with one dimension per axis, the
figures of merit of :data:`thermalink.simulators.figures_of_merit.STATE_FIGURES` and the state
itself (``rho_real``, ``rho_imag`` over ``ket``/``bra`` in the basis ``gg, ge, eg, ee``).
Points run in parallel through any ``concurrent.futures.Executor`` (a ``ProcessPoolExecutor``
locally, a ``dask.distributed`` client's executor on a cluster), with a tqdm progress bar.
"""

from __future__ import annotations

import itertools
from concurrent.futures import Executor, as_completed
from dataclasses import fields
from typing import TYPE_CHECKING

import numpy as np

from .conventions import BASIS_LABELS
from .exact_solver import DEFAULT_TOL
from .link_parameters import LinkParameters
from .twin import METHODS, steady_state

if TYPE_CHECKING:
    import xarray as xr

_FIELDS = {field.name for field in fields(LinkParameters)}


def evaluate_points(points: list[dict], method: str = "exact", tol: float = DEFAULT_TOL) -> np.ndarray:
    """Qubit states ``(len(points), 4, 4)`` for parameter dicts (top-level so executors can pickle it)."""
    return np.array([steady_state(LinkParameters(**point), method=method, tol=tol) for point in points])


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def twin_map(
    base: LinkParameters | dict | None = None,
    *,
    method: str = "exact",
    tol: float = DEFAULT_TOL,
    executor: Executor | None = None,
    chunk_size: int = 4,
    progress: bool = True,
    **axes,
) -> xr.Dataset:
    """Evaluate the twin on the grid spanned by ``axes`` (name -> 1-D values) around ``base``.

    ``base`` gives the fixed parameters (a ``LinkParameters`` or a dict of its fields; ``kappa``
    and ``n_source`` may come from the axes instead). Every grid point is validated before any
    work starts, so a bad value fails fast with the usual ``ValueError``.
    """
    # Imported here: xarray and pandas weigh ~95 MB, and a worker process that only solves
    # points (evaluate_points) should not pay for them.
    import xarray as xr
    from tqdm.auto import tqdm

    from .figures_of_merit import STATE_FIGURES

    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {METHODS}")
    if not axes:
        raise ValueError("twin_map needs at least one axis, e.g. kappa=[...]")
    unknown = sorted(set(axes) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown axes {unknown}; allowed: {sorted(_FIELDS)}")
    fixed = base.as_dict() if isinstance(base, LinkParameters) else dict(base or {})
    coords = {name: np.atleast_1d(np.asarray(values, dtype=float)) for name, values in axes.items()}
    for name, values in coords.items():
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(f"axis {name} must be a non-empty 1-D sequence, got shape {values.shape}")
    names = list(coords)
    points = [dict(fixed, **dict(zip(names, combo))) for combo in itertools.product(*coords.values())]
    for point in points:
        LinkParameters(**point)  # validate all before computing any

    states = np.empty((len(points), 4, 4), dtype=complex)
    chunks = _chunks(list(range(len(points))), max(1, chunk_size))
    bar = tqdm(total=len(points), desc="twin map", unit="pt", disable=not progress)
    try:
        if executor is None:
            for chunk in chunks:
                states[chunk] = evaluate_points([points[i] for i in chunk], method, tol)
                bar.update(len(chunk))
        else:
            futures = {
                executor.submit(evaluate_points, [points[i] for i in chunk], method, tol): chunk for chunk in chunks
            }
            for future in as_completed(futures):
                chunk = futures[future]
                states[chunk] = future.result()
                bar.update(len(chunk))
    finally:
        bar.close()

    shape = tuple(len(values) for values in coords.values())
    grid = states.reshape(shape + (4, 4))
    data_vars = {
        name: (names, np.asarray(function(grid), dtype=float).reshape(shape))
        for name, function in STATE_FIGURES.items()
    }
    data_vars["rho_real"] = (names + ["ket", "bra"], grid.real)
    data_vars["rho_imag"] = (names + ["ket", "bra"], grid.imag)
    dataset = xr.Dataset(data_vars, coords={**coords, "ket": list(BASIS_LABELS), "bra": list(BASIS_LABELS)})
    dataset.attrs.update(
        {
            "method": method,
            "tol": tol,
            "basis": "gg, ge, eg, ee (qubit 1 left)",
            **{f"base_{k}": v for k, v in fixed.items() if k not in coords},
        }
    )
    return dataset


def states_from_map(dataset: xr.Dataset) -> xr.DataArray:
    """The complex qubit states of a map, dims ``(*axes, ket, bra)``."""
    return dataset["rho_real"] + 1j * dataset["rho_imag"]
