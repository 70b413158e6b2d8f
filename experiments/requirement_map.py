"""Requirement maps: the best figure a station's knobs reach, versus what the lab buys or builds.

Requirements (the axes, lab units; each set for both qubits, replacing per-qubit values; a station's
own value is its worse qubit's): ``t1`` (s), ``t2`` (s, Ramsey), ``source_temperature``
(K, the hottest the hot load goes; the design may still use any temperature from the unheated
load up to it), ``transmission`` (power transmission of the link between the qubits, 1 = lossless)
and ``residual_excitation`` (measured excited population of each qubit, as the readout's parameter). :func:`with_requirement` puts a
value into a :class:`StationLimits`; :func:`ideal_value` is each imperfection switched off (T1 at
the waveguide limit, T2 = 2 T1, lossless link, no residual excitation); the source has none.

:func:`requirement_map` optimises the lab knobs (bandwidth, attenuation, hot-load temperature,
filter centre) at every grid point (:func:`~thermalink.experiments.operating_point.optimise_operating_point`
with the lighter :data:`MAP_GRID` plus the previous point's optimum as a start), through any
``concurrent.futures.Executor`` in chunks of neighbouring points (the twin map's pattern, tqdm
progress), and returns an xarray Dataset; points a requirement makes unphysical (``T2 > 2 T1``)
are NaN. :func:`plot_requirement_map` draws it with the target contour (``F = 0.70``).
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import Executor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from thermalink.simulators.errors import InputError
from .operating_point import FIGURE_LABELS, MAP_GRID, check_figure, optimise_operating_point
from .station_limits import KNOBS, Settings, StationLimits

if TYPE_CHECKING:
    import xarray as xr

#: Requirement name -> (unit, label).
REQUIREMENTS = {
    "t1": ("s", "qubit T1"),
    "t2": ("s", "qubit Ramsey T2"),
    "source_temperature": ("K", "hottest hot-load temperature"),
    "transmission": ("", "link transmission between the qubits"),
    "residual_excitation": ("", "residual excitation of the qubits"),
}
DEFAULT_TARGET = 0.70


def check_requirement(name: str) -> str:
    if name not in REQUIREMENTS:
        raise InputError(f"requirement {name!r} is not one of {sorted(REQUIREMENTS)}")
    return name


def current_value(limits: StationLimits, name: str) -> float:
    """The station's own value of a requirement."""
    check_requirement(name)
    if name == "t1":  # per-qubit values: the shorter
        t1s = [limits.qubit_value("t1_s", j) for j in (1, 2)]
        return min(limits.waveguide_t1_s if t1 is None else t1 for t1 in t1s)
    if name == "t2":
        t2s = [limits.qubit_value("t2_s", j) for j in (1, 2)]
        return min(2 * current_value(limits, "t1") if t2 is None else t2 for t2 in t2s)
    if name == "source_temperature":
        return limits.temperature_range_K[1]
    if name == "transmission":
        return 10.0 ** (-limits.link_loss_dB / 10.0)
    return max(limits.qubit_value("excited_population", j) or 0.0 for j in (1, 2))


def ideal_value(limits: StationLimits, name: str) -> float | None:
    """The value that switches an imperfection off (``None`` for the source: no ideal)."""
    check_requirement(name)
    return {"t1": limits.waveguide_t1_s, "t2": 2 * current_value(limits, "t1"), "source_temperature": None,
            "transmission": 1.0, "residual_excitation": 0.0}[name]


#: A requirement is set for both qubits: their own values give way to the shared one.
_BOTH_QUBITS = {"t1": {"qubit1_t1_s": None, "qubit2_t1_s": None}, "t2": {"qubit1_t2_s": None, "qubit2_t2_s": None},
                "residual_excitation": {"qubit1_excited_population": None, "qubit2_excited_population": None}}


def _changes(limits: StationLimits, name: str, value: float) -> dict:
    check_requirement(name)
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name}={value!r} is not finite")
    if name == "t1":
        if abs(value - limits.waveguide_t1_s) <= 1e-9 * limits.waveguide_t1_s:
            # rounding of the ideal value, not a better qubit; at the waveguide limit there is no local
            # bath left to excite the qubit, so its residual excitation goes with it
            return {"t1_s": limits.waveguide_t1_s, **_BOTH_QUBITS["t1"], **_BOTH_QUBITS["residual_excitation"],
                    "excited_population": None}
        return {"t1_s": value, **_BOTH_QUBITS["t1"]}
    if name == "t2":
        return {"t2_s": value, **_BOTH_QUBITS["t2"]}
    if name == "source_temperature":
        coldest = limits.temperature_range_K[0]
        if not value >= coldest:
            raise InputError(f"source_temperature={value!r} K is outside the allowed range [{coldest}, inf) K "
                             "(the unheated load)")
        return {"temperature_range_K": (coldest, value)}
    if name == "transmission":
        if not 0 < value <= 1:
            raise InputError(f"transmission={value!r} is outside the allowed range (0, 1]")
        return {"link_loss_dB": -10.0 * math.log10(value)}
    if not 0 <= value < 0.5:
        raise InputError(f"residual_excitation={value!r} is outside the allowed range [0, 0.5)")
    return {"excited_population": value, **_BOTH_QUBITS["residual_excitation"]}


def with_requirements(limits: StationLimits, values: dict[str, float]) -> StationLimits:
    """``limits`` with requirements set together (so T2 <= 2 T1 is checked against the new T1);
    ValueError (naming the range) if one is unphysical."""
    changes: dict = {}
    for name, value in values.items():
        changes.update(_changes(limits, name, value))
    return limits.replaced(**changes)


def with_requirement(limits: StationLimits, name: str, value: float) -> StationLimits:
    """``limits`` with one requirement set; ValueError (naming the range) if it is unphysical."""
    return with_requirements(limits, {name: value})


def best_at_requirements(limits: StationLimits, figure: str, points: list[dict]) -> list[dict]:
    """Optimum per requirement point (top level, so executors can pickle it); consecutive points
    start from the previous optimum as well as from the map grid."""
    out = []
    previous: Settings | None = None
    for values in points:
        try:
            station = with_requirements(limits, values)
        except ValueError:
            out.append({"value": math.nan, "solves": 0, "settings": None, "figures": None})
            continue
        starts = []
        if previous is not None:
            starts = [Settings(
                bandwidth_Hz=float(np.clip(previous.bandwidth_Hz, *station.bandwidth_range_Hz)),
                attenuation_dB=previous.attenuation_dB,
                temperature_K=float(np.clip(previous.temperature_K, *station.temperature_range_K)),
                center_Hz=float(np.clip(previous.center_Hz, *station.center_range_Hz)),
            )]
        point = optimise_operating_point(station, figure, grid=MAP_GRID, starts=starts, relaxation=False,
                                         tolerances=False)
        previous = point.settings
        out.append({"value": point.value, "solves": point.twin_solves, "settings": point.settings.as_dict(),
                    "figures": point.figures})
    return out


def requirement_map(
    limits: StationLimits,
    figure: str = "bell",
    *,
    executor: Executor | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    target: float = DEFAULT_TARGET,
    **axes,
) -> xr.Dataset:
    """Best ``figure`` over the station's knobs on the grid of requirement ``axes`` (name -> values).

    Dataset: ``best`` (the optimised figure), the four figures and the optimal knob settings at
    each point, and ``twin_solves``; attrs name the figure, the station and the target.
    """
    import xarray as xr
    from tqdm.auto import tqdm

    check_figure(figure)
    if not axes:
        raise InputError(f"requirement_map needs at least one axis, e.g. t1=[...]; allowed: {sorted(REQUIREMENTS)}")
    for name in axes:
        check_requirement(name)
    coords = {name: np.atleast_1d(np.asarray(values, dtype=float)) for name, values in axes.items()}
    for name, values in coords.items():
        if values.ndim != 1 or len(values) == 0 or not np.isfinite(values).all():
            raise InputError(f"axis {name} must be a non-empty 1-D sequence of finite values, got {values!r}")
    names = list(coords)
    points = [dict(zip(names, combo)) for combo in itertools.product(*coords.values())]
    shape = tuple(len(v) for v in coords.values())
    size = chunk_size or max(1, shape[-1])
    chunks = [list(range(i, min(i + size, len(points)))) for i in range(0, len(points), size)]
    results: list[dict | None] = [None] * len(points)
    bar = tqdm(total=len(points), desc="requirement map", unit="pt", disable=not progress)
    try:
        if executor is None:
            for chunk in chunks:
                for i, r in zip(chunk, best_at_requirements(limits, figure, [points[i] for i in chunk])):
                    results[i] = r
                bar.update(len(chunk))
        else:
            futures = {executor.submit(best_at_requirements, limits, figure, [points[i] for i in chunk]): chunk
                       for chunk in chunks}
            for future in as_completed(futures):
                chunk = futures[future]
                for i, r in zip(chunk, future.result()):
                    results[i] = r
                bar.update(len(chunk))
    finally:
        bar.close()

    def grid(key, sub=None):
        values = [r[key] if sub is None else (r[key][sub] if r[key] is not None else math.nan) for r in results]
        return (names, np.asarray(values, dtype=float).reshape(shape))

    data = {"best": grid("value"), "twin_solves": grid("solves")}
    for name in ("bell", "singlet", "concurrence", "negativity"):
        data[name] = grid("figures", name)
    for knob in KNOBS:
        data[knob] = grid("settings", knob)
    dataset = xr.Dataset(data, coords=coords)
    for name in names:
        dataset[name].attrs.update(units=REQUIREMENTS[name][0], long_name=REQUIREMENTS[name][1])
    dataset["best"].attrs["long_name"] = f"best {FIGURE_LABELS[figure]} over the station's knobs"
    dataset.attrs.update(figure=figure, station=limits.name, target=float(target),
                         total_twin_solves=int(np.nansum(dataset["twin_solves"].values)))
    return dataset


def plot_requirement_map(dataset: xr.Dataset, path: str | Path, target: float | None = None) -> Path:
    """PNG of a requirement map: colour map (2-D) or curve (1-D) with the target contour/line."""
    from matplotlib.figure import Figure

    target = float(dataset.attrs.get("target", DEFAULT_TARGET) if target is None else target)
    names = list(dataset["best"].dims)
    label = dataset["best"].attrs.get("long_name", "best figure")

    def axis_label(name):
        unit = REQUIREMENTS[name][0]
        return f"{REQUIREMENTS[name][1]} ({name}{', ' + unit if unit else ''})"

    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    if len(names) == 1:
        x = dataset[names[0]].values
        ax.plot(x, dataset["best"].values, "o-")
        ax.axhline(target, color="k", linestyle="--", label=f"target {target:g}")
        ax.set_xlabel(axis_label(names[0]))
        ax.set_ylabel(label)
        ax.legend()
    elif len(names) == 2:
        x, y = dataset[names[1]].values, dataset[names[0]].values
        z = dataset["best"].values
        mesh = ax.pcolormesh(x, y, z, shading="nearest", cmap="viridis")
        fig.colorbar(mesh, ax=ax, label=label)
        if np.nanmin(z) < target < np.nanmax(z) and len(x) > 1 and len(y) > 1:
            contour = ax.contour(x, y, z, levels=[target], colors="w", linewidths=2)
            ax.clabel(contour, fmt=f"F = {target:.2f}")
        else:
            ax.set_title(f"target {target:g} {'reached everywhere' if np.nanmin(z) >= target else 'not reached'}")
        ax.set_xlabel(axis_label(names[1]))
        ax.set_ylabel(axis_label(names[0]))
    else:
        raise InputError(f"plot_requirement_map draws 1-D or 2-D maps, got axes {names}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
