"""Heatmap of a twin map: concurrence over filter linewidth and source occupation/temperature."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

#: Concurrence above which a point counts as entangled when drawing the boundary.
ENTANGLEMENT_THRESHOLD = 1e-6

AXIS_LABELS = {
    "kappa": r"filter linewidth $\kappa/\gamma$",
    "n_source": r"source occupation $N_h$",
    "source_temperature": "source temperature (K)",
}


def plot_concurrence_map(
    dataset: xr.Dataset, path: str | Path, x: str = "kappa", y: str = "n_source", title: str | None = None
) -> Path:
    """Write a PNG/PDF heatmap of ``concurrence`` over ``x`` and ``y`` (log axes), boundary drawn.

    ``y`` may be a non-dimension coordinate along the second axis (e.g. ``source_temperature``).
    """
    concurrence = dataset["concurrence"]
    y_dim = dataset[y].dims[0]
    values = concurrence.transpose(y_dim, x).values
    xs, ys = dataset[x].values, dataset[y].values
    fig, ax = plt.subplots(figsize=(6.4, 4.8), constrained_layout=True)
    mesh = ax.pcolormesh(xs, ys, values, shading="nearest", cmap="viridis", vmin=0, vmax=max(values.max(), 1e-3))
    fig.colorbar(mesh, ax=ax, label="concurrence")
    if values.max() > ENTANGLEMENT_THRESHOLD and values.min() <= ENTANGLEMENT_THRESHOLD:
        ax.contour(xs, ys, values, levels=[ENTANGLEMENT_THRESHOLD], colors="white", linewidths=1.5)
        ax.plot([], [], color="white", label="entanglement boundary (C = 0)")
        ax.legend(loc="lower left", framealpha=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel(AXIS_LABELS.get(y, y))
    ax.set_title(title or "Steady-state entanglement of the thermal link (twin)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def entangled_fraction(dataset: xr.Dataset) -> float:
    """Fraction of grid points whose concurrence exceeds the threshold."""
    return float((dataset["concurrence"] > ENTANGLEMENT_THRESHOLD).mean())


__all__ = ["ENTANGLEMENT_THRESHOLD", "entangled_fraction", "plot_concurrence_map"]
