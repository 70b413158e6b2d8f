"""Figures and the text summary of an analysed sweep (PNG and PDF).

Bandwidth sweep: measured concurrence and singlet fidelity (with bootstrap intervals) against the
filter bandwidth, the twin's curve over them (dense in bandwidth, at the sweep's other settings).
Temperature sweep: the same against source temperature (twin evaluated at the measured points).
2D map: measured and predicted concurrence side by side.
Live figure (:func:`plot_live`, rewritten after each point of a run): the points measured so far with
their intervals and the twin at those points (its stored per-point prediction, nothing recomputed).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from thermalink.analysis.twin_map_plot import log_edges
from thermalink.experiments.sweep_analysis import SIGNIFICANCE
from thermalink.experiments.sweep_storage import CERTIFICATION_CONFIDENCE
from thermalink.simulators.figures_of_merit import concurrence, singlet_fidelity
from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.readout_dynamics import local_channel
from thermalink.simulators.twin import steady_state

TWIN_CURVE_POINTS = 60
#: Interpolation error allowed in the twin curve's concurrence and singlet fidelity (0.1 pixel of the
#: 150-dpi figure, whose unit range spans about 600 pixels).
TWIN_CURVE_TOLERANCE = 2e-4


def chance_inconsistencies(points: int, inconsistent: int, significance: float) -> str:
    """How many "NOT consistent" points chance alone gives at ``significance``, and how likely ``inconsistent``
    or more are if the twin is right at every point (each point's p-value then falls below the level
    with probability ``significance``, independently: binomial)."""
    expected = points * significance
    tail = sum(math.comb(points, k) * significance**k * (1 - significance) ** (points - k)
               for k in range(inconsistent, points + 1))
    return (f"at significance {significance:g}, about {expected:.1f} of {points} points are NOT consistent by chance "
            f"alone; {inconsistent} or more with probability {tail:.2f} if the twin is right at every point")


def summary_table(raw: xr.Dataset, analysis: xr.Dataset, significance: float | None = None) -> str:
    """One line per point: swept settings, concurrence [interval], fidelity, twin, consistent.

    The goodness-of-fit ``significance`` (default: the analysis' own, or 0.05) sets the line on how many
    "NOT consistent" points chance alone gives (:func:`chance_inconsistencies`).
    """
    header = (
        f"{'point':>5} {'bandwidth Hz':>12} {'T K':>6} {'N_h':>7} {'concurrence [95% CI]':>24}"
        f" {'F_singlet':>9} {'twin C':>7} {'twin F':>7} {'p(fit)':>7} consistent"
    )
    lines = [header]
    for i in analysis["point"].values:
        r, a = raw.sel(point=i), analysis.sel(point=i)
        interval = f"{float(a.concurrence):.3f} [{float(a.concurrence_low):.3f}, {float(a.concurrence_high):.3f}]"
        lines.append(
            f"{i:>5d} {float(r.bandwidth):>12.4g} {float(r.temperature):>6.2f} {float(r.occupation):>7.2f}"
            f" {interval:>24} {float(a.singlet_fidelity):>9.3f} {float(a.twin_concurrence):>7.3f}"
            f" {float(a.twin_singlet_fidelity):>7.3f} {float(a.gof_p_value):>7.3f} {'yes' if a.consistent else 'NO'}"
        )
    consistent = int(analysis["consistent"].sum())
    lines.append(f"{consistent} of {analysis.sizes['point']} points consistent with the twin")
    if significance is None:
        significance = float(analysis.attrs.get("significance", SIGNIFICANCE))
    lines.append(chance_inconsistencies(analysis.sizes["point"], analysis.sizes["point"] - consistent, significance))
    lines.append(certification_verdict(raw, analysis))
    lines.append(certification_verdict(raw, analysis, "concurrence", 0.0))
    return "\n".join(lines)


def certification_verdict(raw: xr.Dataset, analysis: xr.Dataset, figure: str = "bell_fidelity",
                          target: float = 0.70) -> str:
    """E.g. "Bell fidelity > 0.70 certified at 95 %: yes (lower bound 0.731 at point 3, ...)", for the
    point with the highest one-sided lower confidence bound."""
    label = {"bell_fidelity": "Bell fidelity", "singlet_fidelity": "singlet fidelity",
             "concurrence": "concurrence"}[figure]
    claim = f"{label} > {target:.2f} certified at {100 * CERTIFICATION_CONFIDENCE:.0f} %"
    name = f"{figure}_lower_bound"
    if name not in analysis:
        return f"{claim}: not computed (analysis stored before certification existed; analyse the run again)"
    best = int(np.argmax(analysis[name].values))
    point = int(analysis["point"].values[best])
    bound, estimate = float(analysis[name].values[best]), float(analysis[figure].values[best])
    r = raw.sel(point=point)
    where = f"point {point}: {float(r.bandwidth):.4g} Hz, {float(r.temperature):.2f} K"
    return (f"{claim}: {'yes' if bound > target else 'no'} (lower bound {bound:.3f} at {where}; "
            f"estimate {estimate:.3f})")


def _cubic_interpolation(x_nodes: np.ndarray, y_nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Local cubic (4-point Lagrange) interpolation of ``y_nodes`` (n, ...) at ``x`` (increasing
    ``x_nodes``, n >= 4): the two nearest nodes on each side (shifted inwards at the ends)."""
    n = len(x_nodes)
    first = np.clip(np.searchsorted(x_nodes, x) - 2, 0, n - 4)
    stencil = first[:, None] + np.arange(4)
    xs = x_nodes[stencil]
    weights = np.ones((len(x), 4))
    for a in range(4):
        for b in range(4):
            if a != b:
                weights[:, a] *= (x - xs[:, b]) / (xs[:, a] - xs[:, b])
    return np.einsum("ka,ka...->k...", weights, y_nodes[stencil])


def twin_rho_at_bandwidth(link: dict, bandwidth_Hz: float) -> np.ndarray:
    """The state the tomography estimates at the lab operating point ``link`` (``LabLink`` fields)
    with the filter bandwidth set to ``bandwidth_Hz``: a frozen readout's local channel on the
    steady state, the steady state itself otherwise (basis gg, ge, eg, ee)."""
    point = LabLink(**{**link, "bandwidth_Hz": bandwidth_Hz})
    p = point.to_parameters()
    return local_channel(steady_state(p), p, point.frozen_time_before_pulse())


def _twin_curve_over_bandwidth(raw: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The twin's concurrence and singlet fidelity at ``TWIN_CURVE_POINTS`` log-spaced bandwidths
    (the sweep's range, the first point's other settings), of the state the tomography estimates:
    the state at the pre-rotation pulse (a frozen readout's local channel on the steady state;
    the steady state itself otherwise), as each point's ``twin_rho``.

    Solved at every 4th bandwidth and the midpoints between them; the rest are local cubic
    interpolations of the states in log bandwidth. The midpoints check the coarse interpolation:
    where it misses a figure by more than 16 x ``TWIN_CURVE_TOLERANCE`` (the error halves four
    times with the spacing), every bandwidth of that stretch is solved.
    """
    link = json.loads(str(raw["lab_link"].values[0]))
    low, high = float(raw["bandwidth"].min()), float(raw["bandwidth"].max())
    bandwidths = np.logspace(np.log10(low), np.log10(high), TWIN_CURVE_POINTS)
    x = np.log10(bandwidths)
    states = np.zeros((len(bandwidths), 4, 4), dtype=complex)
    solved = np.zeros(len(bandwidths), dtype=bool)

    def solve(indices) -> None:
        for i in indices:
            if not solved[i]:
                states[i] = twin_rho_at_bandwidth(link, float(bandwidths[i]))
                solved[i] = True

    last = len(bandwidths) - 1
    coarse = sorted(set(range(0, last + 1, 4)) | {last})
    if len(coarse) < 4 or high == low:
        solve(range(last + 1))
    else:
        solve(coarse)
        stretches = [(a, b) for a, b in zip(coarse, coarse[1:]) if b - a > 1]
        middles = np.array([(a + b) // 2 for a, b in stretches], dtype=int)
        guess = _cubic_interpolation(x[coarse], states[coarse], x[middles])
        solve(middles)
        misses = np.maximum(np.abs(concurrence(guess) - concurrence(states[middles])),
                            np.abs(singlet_fidelity(guess) - singlet_fidelity(states[middles])))
        for (a, b), miss in zip(stretches, misses):
            if miss > 16 * TWIN_CURVE_TOLERANCE:
                solve(range(a, b + 1))
        nodes = np.flatnonzero(solved)
        rest = np.flatnonzero(~solved)
        if rest.size:
            states[rest] = _cubic_interpolation(x[nodes], states[nodes], x[rest])
    return bandwidths, concurrence(states), singlet_fidelity(states)


def _sweep_axes():
    """Figure and axes of the line plots (7 x 4.5 in): fixed margins that fit their labels, title
    and log-scale tick labels (constrained layout took ~0.3 s of every drawing)."""
    fig = Figure(figsize=(7, 4.5))
    fig.subplots_adjust(left=0.085, right=0.985, bottom=0.105, top=0.935)
    return fig, fig.subplots()


def _errorbars(ax, x, analysis: xr.Dataset, name: str, **style) -> None:
    value = analysis[name].values
    low, high = analysis[f"{name}_low"].values, analysis[f"{name}_high"].values
    ax.errorbar(x, value, yerr=[np.clip(value - low, 0, None), np.clip(high - value, 0, None)], fmt="o",
                capsize=3, **style)


def plot_sweep(raw: xr.Dataset, analysis: xr.Dataset, folder: str | Path) -> list[Path]:
    """Write ``run<ID>_<kind>.png`` and ``.pdf`` into ``folder``; returns the paths."""
    plan = json.loads(raw.attrs["plan"])
    kind = plan["kind"]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = raw.sel(point=analysis["point"].values)
    if kind == "bandwidth_temperature":
        fig = _plot_map(raw, analysis)
    else:
        fig, ax = _sweep_axes()
        x_name, x_label = ("bandwidth", "filter bandwidth (Hz)") if kind == "bandwidth" else (
            "temperature", "source temperature (K)")
        x = raw[x_name].values
        _errorbars(ax, x, analysis, "concurrence", color="C0", label="concurrence (measured, 95% CI)")
        _errorbars(ax, x, analysis, "singlet_fidelity", color="C1", label="singlet fidelity (measured, 95% CI)")
        if kind == "bandwidth":
            xs, c, f = _twin_curve_over_bandwidth(raw)
        else:
            order = np.argsort(x)
            xs, c, f = x[order], analysis["twin_concurrence"].values[order], analysis["twin_singlet_fidelity"].values[order]
        ax.plot(xs, c, color="C0", label="concurrence (twin)")
        ax.plot(xs, f, color="C1", ls="--", label="singlet fidelity (twin)")
        ax.set_xscale("log" if kind == "bandwidth" else "linear")
        ax.set_xlabel(x_label)
        ax.set_ylabel("figure of merit")
        ax.set_ylim(-0.02, 1.02)
        ax.axhline(0.5, color="grey", lw=0.5, ls=":", label="singlet fidelity 1/2 (entanglement witness)")
        ax.legend(fontsize=8)
        fixed = (f"hot load {float(raw['temperature'].median()):.1f} K" if kind == "bandwidth"
                 else f"bandwidth {float(raw['bandwidth'].median()):.4g} Hz")
        ax.set_title(f"run {raw.attrs['run_id']}: {kind} sweep, {fixed}, "
                     f"attenuation {float(raw['attenuation'].median()):.0f} dB, {plan['shots']} shots/setting",
                     fontsize=10)
    paths = []
    for suffix in ("png", "pdf"):
        path = folder / f"run{raw.attrs['run_id']}_{kind}.{suffix}"
        fig.savefig(path, dpi=150)
        fig.set_layout_engine("none")  # the map's PDF keeps its PNG's layout (laid out once, ~0.3 s)
        paths.append(path)
    return paths


def live_figure_path(folder: str | Path, run_id: int) -> Path:
    """Where :func:`plot_live` writes run ``run_id``'s live figure: ``<folder>/run<ID>_live.png``."""
    return Path(folder) / f"run{run_id}_live.png"


def plot_live(results: dict[int, dict], plan, run_id: int, folder: str | Path) -> Path:
    """Write the live figure of run ``run_id`` from the per-point results so far (``{index: result}``
    of :class:`~thermalink.experiments.sweep_analysis.SweepAnalysis`); returns its path.

    Measured concurrence and singlet fidelity (95 % intervals) and the twin's stored prediction at the
    measured points, against the read-back bandwidth (bandwidth sweep), the set source temperature
    (temperature sweep) or the point number (2D map). One PNG write, replacing the file whole (a
    viewer never sees half a figure).
    """
    indices = sorted(results)
    names = ("concurrence", "singlet_fidelity")
    points = xr.Dataset({f"{name}{end}": ("point", [float(results[i][f"{name}{end}"]) for i in indices])
                         for name in names for end in ("", "_low", "_high")}, coords={"point": indices})
    if plan.kind == "bandwidth":
        x, x_label, scale = [results[i]["bandwidth"] for i in indices], "filter bandwidth (Hz)", "log"
    elif plan.kind == "temperature":
        x, x_label, scale = [plan.points[i]["temperature"] for i in indices], "source temperature, set (K)", "linear"
    else:
        x, x_label, scale = indices, "point (measurement order)", "linear"
    fig, ax = _sweep_axes()
    _errorbars(ax, x, points, "concurrence", color="C0", label="concurrence (measured, 95% CI)")
    _errorbars(ax, x, points, "singlet_fidelity", color="C1", label="singlet fidelity (measured, 95% CI)")
    ax.plot(x, [results[i]["twin_concurrence"] for i in indices], "x", color="C0", ms=8, label="concurrence (twin)")
    ax.plot(x, [results[i]["twin_singlet_fidelity"] for i in indices], "+", color="C1", ms=9,
            label="singlet fidelity (twin)")
    ax.set_xscale(scale)
    ax.set_xlabel(x_label)
    ax.set_ylabel("figure of merit")
    ax.set_ylim(-0.02, 1.02)
    ax.axhline(0.5, color="grey", lw=0.5, ls=":")
    ax.legend(fontsize=8)
    ax.set_title(f"run {run_id}: {plan.kind} sweep, live: {len(indices)} of {len(plan.points)} points", fontsize=10)
    path = live_figure_path(folder, run_id)
    partial = path.with_name(path.name + ".part")
    fig.savefig(partial, dpi=100, format="png")
    os.replace(partial, path)
    return path


def _plot_map(raw: xr.Dataset, analysis: xr.Dataset):
    """Measured and twin concurrence on the planned (not read-back) bandwidth x temperature grid."""
    planned = json.loads(raw.attrs["plan"])["points"]
    bandwidths = np.unique([p["bandwidth"] for p in planned])
    temperatures = np.unique([p["temperature"] for p in planned])
    grids = {name: np.full((len(temperatures), len(bandwidths)), np.nan) for name in ("concurrence", "twin_concurrence")}
    for i in analysis["point"].values:
        row = np.searchsorted(temperatures, planned[i]["temperature"])
        col = np.searchsorted(bandwidths, planned[i]["bandwidth"])
        for name, grid in grids.items():
            grid[row, col] = float(analysis[name].sel(point=i))
    top = max(np.nanmax(list(grids.values())), 1e-3)
    x_edges = log_edges(bandwidths)
    y_edges = _linear_edges(temperatures)
    fig = Figure(figsize=(10, 4.2), constrained_layout=True)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (name, grid), title in zip(axes, grids.items(), ("measured", "twin")):
        mesh = ax.pcolormesh(x_edges, y_edges, grid, shading="flat", vmin=0, vmax=top, cmap="viridis")
        ax.set_xscale("log")
        ax.set_xlabel("filter bandwidth (Hz)")
        ax.set_title(f"concurrence, {title}")
    axes[0].set_ylabel("source temperature (K)")
    fig.colorbar(mesh, ax=axes, label="concurrence")
    return fig


def _linear_edges(centers: np.ndarray) -> np.ndarray:
    if len(centers) == 1:
        return np.array([centers[0] - 0.5, centers[0] + 0.5])
    middle = (centers[1:] + centers[:-1]) / 2
    return np.concatenate([[2 * centers[0] - middle[0]], middle, [2 * centers[-1] - middle[-1]]])
