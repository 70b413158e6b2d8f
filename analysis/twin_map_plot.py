"""Heatmap of a twin map: concurrence over filter linewidth and source occupation/temperature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

#: Concurrence above which a point counts as entangled when drawing the boundary.
ENTANGLEMENT_THRESHOLD = 1e-6

AXIS_LABELS = {
    "kappa": r"filter linewidth $\kappa/\gamma$",
    "n_source": r"source occupation $N_h$",
    "source_temperature": "source temperature (K)",
}


def log_edges(centers) -> np.ndarray:
    """Cell edges for centres on a log axis: geometric midpoints, the ends mirrored."""
    logs = np.log10(np.asarray(centers, dtype=float))
    if len(logs) == 1:
        return 10 ** np.array([logs[0] - 0.5, logs[0] + 0.5])
    middle = (logs[1:] + logs[:-1]) / 2
    return 10 ** np.concatenate([[2 * logs[0] - middle[0]], middle, [2 * logs[-1] - middle[-1]]])


def boundary_segments(entangled: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray) -> list:
    """Cell edges separating entangled from separable cells (``entangled[y, x]``), as line segments."""
    segments = []
    rows, cols = entangled.shape
    for r in range(rows):
        for c in range(cols):
            if c + 1 < cols and entangled[r, c] != entangled[r, c + 1]:
                segments.append([(x_edges[c + 1], y_edges[r]), (x_edges[c + 1], y_edges[r + 1])])
            if r + 1 < rows and entangled[r, c] != entangled[r + 1, c]:
                segments.append([(x_edges[c], y_edges[r + 1]), (x_edges[c + 1], y_edges[r + 1])])
    return segments


def plot_concurrence_map(
    dataset: xr.Dataset, path: str | Path, x: str = "kappa", y: str = "n_source", title: str | None = None
) -> Path:
    """Write a PNG/PDF heatmap of ``concurrence`` over ``x`` and ``y`` (log axes), boundary drawn.

    ``y`` may be a non-dimension coordinate along the second axis (e.g. ``source_temperature``).
    Cells are centred on the grid points in log space; the boundary follows the cell edges between
    entangled (C > threshold) and separable points.
    """
    concurrence = dataset["concurrence"]
    y_dim = dataset[y].dims[0]
    values = concurrence.transpose(y_dim, x).values
    x_edges, y_edges = log_edges(dataset[x].values), log_edges(dataset[y].values)
    fig = Figure(figsize=(6.4, 4.8), constrained_layout=True)
    ax = fig.subplots()
    mesh = ax.pcolormesh(x_edges, y_edges, values, shading="flat", cmap="viridis", vmin=0,
                         vmax=max(values.max(), 1e-3))
    fig.colorbar(mesh, ax=ax, label="concurrence")
    segments = boundary_segments(values > ENTANGLEMENT_THRESHOLD, x_edges, y_edges)
    if segments:
        ax.add_collection(LineCollection(segments, colors="white", linewidths=1.5,
                                         label="entanglement boundary (C = 0)"))
        ax.legend(loc="lower left", framealpha=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(y_edges[0], y_edges[-1])
    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel(AXIS_LABELS.get(y, y))
    ax.set_title(title or "Steady-state entanglement of the thermal link (twin)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


def entangled_fraction(dataset: xr.Dataset) -> float:
    """Fraction of grid points whose concurrence exceeds the threshold."""
    return float((dataset["concurrence"] > ENTANGLEMENT_THRESHOLD).mean())


__all__ = ["ENTANGLEMENT_THRESHOLD", "boundary_segments", "entangled_fraction", "log_edges", "plot_concurrence_map"]
