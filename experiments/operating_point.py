"""The best operating point a station allows, found on the twin.

:func:`optimise_operating_point` chooses the filter bandwidth, the step attenuation, the hot-load
temperature and the filter centre (hence the detunings ``delta_j = 2 pi (f_qubit_j - f_filter)``)
that maximise a figure of merit of the state the tomography estimates: the twin's steady state, or,
with a frozen readout protocol (:attr:`StationLimits.readout_protocol`), that state after the local
channel for the time up to the pre-rotation pulse (closed form, ~0.1 ms beside a solve):

* ``"bell"`` (default): the singlet fidelity maximised over the propagation phase, a free local Z
  rotation (:func:`~thermalink.analysis.figures_of_merit.bell_fidelity`);
* ``"singlet"``: the fidelity with ``(|eg> - |ge>)/sqrt(2)`` itself; ``"concurrence"`` (Wootters);
  ``"negativity"`` (partial transpose on qubit 2).

Method. A coarse grid first: every attenuator step (a discrete knob, never rounded from a
continuous optimum) at a few hot-load temperatures gives a source level (its occupation, no
solve); levels within :data:`SAME_OCCUPATION` of each other share a solve and at most
``source_levels`` of them, evenly spread in log occupation (the coldest and hottest always), are
crossed with a log grid of bandwidths and a few filter centres around the qubits' midpoint. Then ``scipy.optimize.minimize`` (Nelder-Mead with
bounds, in coordinates scaled to the unit cube, log bandwidth) refines the best grid points at
their own attenuator steps, and the neighbouring steps of the best refined point are tried in
turn until none improves. The continuous knobs are refined at fixed step; no optimum is taken
from one start only.

The filter centre is searched within :meth:`centre_window` (the qubits' midpoint plus/minus half
their spacing and two linewidths, inside the filter's range): outside it the filtered noise
misses the qubits.

Reported: the settings, the four figures, the relaxation (settle) time at the optimum (the twin's
``relaxation_rate``, converted with :meth:`LabLink.seconds`; computed once, at the optimum), the
range of each knob within which the figure stays within ``loss`` (0.01) of the optimum with the
other knobs held, and the number of twin solves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from thermalink.analysis import bell_fidelity, concurrence, negativity, singlet_fidelity
from thermalink.simulators import LinkParameters, relaxation_rate, solve_exact
from thermalink.simulators.errors import InputError
from thermalink.simulators.readout_dynamics import local_channel

from .station_limits import KNOB_UNITS, Settings, StationLimits

#: Figures of merit the design can maximise, by name.
FIGURES: dict[str, Callable] = {
    "bell": bell_fidelity,
    "singlet": singlet_fidelity,
    "concurrence": concurrence,
    "negativity": negativity,
}
FIGURE_LABELS = {"bell": "Bell fidelity (phase-optimised)", "singlet": "singlet fidelity",
                 "concurrence": "concurrence", "negativity": "negativity"}
#: Thermal tail weight left out by the Fock cutoff in design solves (moves a figure by ~1e-6).
DESIGN_TOL = 1e-6
#: Source settings whose occupations agree within this relative amount share a coarse-grid solve.
SAME_OCCUPATION = 0.05
#: Default loss for the knob tolerances.
DEFAULT_LOSS = 0.01


def check_figure(figure: str) -> str:
    if figure not in FIGURES:
        raise InputError(f"figure={figure!r} is not one of {sorted(FIGURES)}")
    return figure


@dataclass(frozen=True)
class CoarseGrid:
    """Sizes of the starting grid: bandwidths (log), hot-load temperatures per attenuator step,
    filter centres; ``source_levels`` caps the distinct source occupations kept (thinned evenly in
    log occupation, always keeping the hottest), ``starts`` the grid points refined."""

    bandwidths: int = 9
    temperatures: int = 3
    centres: int = 3
    source_levels: int | None = None
    starts: int = 3
    xatol: float = 2e-3  # Nelder-Mead step tolerance in the unit cube
    #: Refine a neighbouring attenuator step only if, at the best continuous settings, it is within
    #: this of the best figure (None: always refine it).
    neighbour_margin: float | None = None


#: The grid of :func:`optimise_operating_point` and the lighter one of the requirement maps.
DEFAULT_GRID = CoarseGrid(bandwidths=8, temperatures=3, centres=3, source_levels=10, starts=3)
MAP_GRID = CoarseGrid(bandwidths=5, temperatures=2, centres=1, source_levels=3, starts=1, xatol=5e-3,
                      neighbour_margin=0.02)


@dataclass(frozen=True)
class KnobTolerance:
    """Range of one knob (lab units, others held at the optimum) within which the figure stays
    within ``loss`` of the optimum; ``*_at_limit``: the station's limit (for the filter centre, the
    search window's edge) came first."""

    low: float
    high: float
    low_at_limit: bool
    high_at_limit: bool

    def describe(self, unit: str, digits: int = 4) -> str:
        def side(value: float, at_limit: bool) -> str:
            return f"{value:.{digits}g}" + (" (station limit)" if at_limit else "")

        return f"[{side(self.low, self.low_at_limit)}, {side(self.high, self.high_at_limit)}] {unit}"


@dataclass(frozen=True)
class OperatingPoint:
    """The optimum of one figure on one station (lab units; see the module docstring)."""

    figure: str
    value: float
    settings: Settings
    figures: dict
    parameters: LinkParameters
    detunings_Hz: tuple[float, float]
    source_occupation: float
    relaxation_time_s: float | None
    tolerances: dict
    loss: float
    twin_solves: int

    def summary(self) -> str:
        s = self.settings
        lines = [
            f"optimum {FIGURE_LABELS[self.figure]} {self.value:.4f}: bandwidth {s.bandwidth_Hz:.4g} Hz, "
            f"attenuation {s.attenuation_dB:g} dB, hot load {s.temperature_K:.4g} K (n_source "
            f"{self.source_occupation:.4g}), filter centre {s.center_Hz:.10g} Hz (detunings "
            f"{self.detunings_Hz[0]:+.4g} Hz, {self.detunings_Hz[1]:+.4g} Hz)",
            "figures: " + ", ".join(f"{name} {value:.4f}" for name, value in self.figures.items()),
        ]
        if self.relaxation_time_s is not None:
            lines.append(f"relaxation time {self.relaxation_time_s:.4g} s (settle several of these)")
        for knob, tolerance in self.tolerances.items():
            digits = 10 if knob == "center_Hz" else 4
            lines.append(f"  {knob} within {self.loss:g} of the optimum: "
                         f"{tolerance.describe(KNOB_UNITS[knob], digits)}")
        lines.append(f"twin solves: {self.twin_solves}")
        return "\n".join(lines)


class TwinEvaluator:
    """Figures of the twin's state at the pre-rotation pulse (the steady state when the readout is
    instantaneous; frozen: after the local channel for the time before the pulse) at station
    settings, cached, counting the solves."""

    def __init__(self, limits: StationLimits, figure: str = "bell", tol: float = DESIGN_TOL):
        self.limits = limits
        self.figure = check_figure(figure)
        self.tol = tol
        self.solves = 0
        self._cache: dict[tuple[LinkParameters, float], np.ndarray] = {}

    def parameters(self, settings: Settings) -> LinkParameters:
        return self.limits.lab_link(settings).to_parameters()

    def state(self, settings: Settings) -> np.ndarray:
        link = self.limits.lab_link(settings)
        p = link.to_parameters()
        key = (p, link.frozen_time_before_pulse())
        rho = self._cache.get(key)
        if rho is None:
            rho = local_channel(solve_exact(p, tol=self.tol).rho, p, key[1])
            self._cache[key] = rho
            self.solves += 1
        return rho

    def __call__(self, settings: Settings) -> float:
        return float(FIGURES[self.figure](self.state(settings)))

    def figures(self, settings: Settings) -> dict[str, float]:
        rho = self.state(settings)
        return {name: float(function(rho)) for name, function in FIGURES.items()}


def centre_window(limits: StationLimits) -> tuple[float, float]:
    """Filter centres searched: the qubits' midpoint +- (half their spacing + 2 linewidths),
    inside the filter's range (its nearest edge if the range misses the window)."""
    mid = limits.qubit_midpoint_Hz
    half = 0.5 * abs(limits.qubit1_frequency_Hz - limits.qubit2_frequency_Hz) + 2 * max(
        limits.qubit1_linewidth_Hz, limits.qubit2_linewidth_Hz)
    low, high = max(limits.center_range_Hz[0], mid - half), min(limits.center_range_Hz[1], mid + half)
    if low > high:  # the range misses the window: its edge nearest to the qubits
        edge = limits.center_range_Hz[1] if limits.center_range_Hz[1] < mid else limits.center_range_Hz[0]
        return edge, edge
    return low, high


class _Coordinates:
    """The continuous knobs in the unit cube: log bandwidth, temperature, filter centre."""

    def __init__(self, limits: StationLimits):
        b, t, c = limits.bandwidth_range_Hz, limits.temperature_range_K, centre_window(limits)
        self.ranges = {"bandwidth_Hz": (math.log(b[0]), math.log(b[1])), "temperature_K": t, "center_Hz": c}
        self.free = [name for name, (low, high) in self.ranges.items() if high > low]

    def value(self, name: str, u: float) -> float:
        low, high = self.ranges[name]
        x = low + (high - low) * float(np.clip(u, 0.0, 1.0))
        return math.exp(x) if name == "bandwidth_Hz" else x

    def unit(self, name: str, value: float) -> float:
        low, high = self.ranges[name]
        if high == low:
            return 0.0
        x = math.log(value) if name == "bandwidth_Hz" else value
        return float(np.clip((x - low) / (high - low), 0.0, 1.0))

    def settings(self, z, attenuation_dB: float, base: dict | None = None) -> Settings:
        values = {name: self.value(name, 0.0) for name in self.ranges}  # fixed knobs: their only value
        values.update(base or {})
        for name, u in zip(self.free, z):
            values[name] = self.value(name, u)
        return Settings(values["bandwidth_Hz"], attenuation_dB, values["temperature_K"], values["center_Hz"])

    def point(self, settings: Settings) -> np.ndarray:
        return np.array([self.unit(name, getattr(settings, name)) for name in self.free])


def _coarse_grid(limits: StationLimits, coords: _Coordinates, grid: CoarseGrid) -> list[Settings]:
    """Grid settings: distinct source levels x bandwidths x centres."""
    temperatures = np.linspace(*limits.temperature_range_K, max(1, grid.temperatures))
    if grid.temperatures == 1:
        temperatures = np.array([limits.temperature_range_K[1]])
    mid_centre = coords.value("center_Hz", 0.5)
    levels: list[tuple[float, float, float]] = []  # (occupation, attenuation, temperature)
    for attenuation in limits.attenuation_steps_dB:
        for temperature in temperatures:
            n = limits.occupation(float(temperature), attenuation, mid_centre)
            if not any(abs(n - m) <= SAME_OCCUPATION * max(n, m, 1e-12) for m, _, _ in levels):
                levels.append((n, attenuation, float(temperature)))
    levels.sort()
    if grid.source_levels is not None and len(levels) > grid.source_levels:
        keep = np.unique(np.round(np.linspace(0, len(levels) - 1, grid.source_levels)).astype(int))
        levels = [levels[i] for i in keep]
    bandwidths = np.geomspace(*limits.bandwidth_range_Hz, max(1, grid.bandwidths))
    if grid.bandwidths == 1:
        bandwidths = np.array([math.sqrt(np.prod(limits.bandwidth_range_Hz))])
    centres = [coords.value("center_Hz", u) for u in (np.linspace(0.25, 0.75, grid.centres) if grid.centres > 1
                                                       else [0.5])]
    return [Settings(float(b), att, temp, float(c)) for _, att, temp in levels for b in bandwidths for c in centres]


def _refine(evaluate: TwinEvaluator, coords: _Coordinates, start: Settings, xatol: float = 2e-3
            ) -> tuple[float, Settings]:
    """Nelder-Mead over the continuous knobs at ``start``'s attenuator step."""
    attenuation = start.attenuation_dB
    if not coords.free:
        return evaluate(start), start

    def loss(z):
        return -evaluate(coords.settings(z, attenuation))

    z0 = coords.point(start)
    simplex = [z0]
    for i in range(len(z0)):
        vertex = z0.copy()
        vertex[i] += 0.06 if vertex[i] <= 0.94 else -0.06
        simplex.append(vertex)
    import scipy.optimize  # here, not at import: the CLI imports this module to build its parser

    result = scipy.optimize.minimize(
        loss, z0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(z0),
        options={"initial_simplex": np.array(simplex), "xatol": xatol, "fatol": 1e-6, "maxfev": 200},
    )
    best = coords.settings(result.x, attenuation)
    value = evaluate(best)
    if value < evaluate(start):
        return evaluate(start), start
    return value, best


def _neighbour_steps(limits: StationLimits, attenuation: float) -> list[float]:
    steps = limits.attenuation_steps_dB
    i = steps.index(attenuation)
    return [steps[j] for j in (i - 1, i + 1) if 0 <= j < len(steps)]


def best_settings(
    evaluate: TwinEvaluator, grid: CoarseGrid | None = DEFAULT_GRID, starts: list[Settings] = (),
    screen: int | None = None,
) -> tuple[float, Settings]:
    """Highest figure over the station's knobs: coarse grid (``None``: none), then refinement of the
    best grid points and of ``starts`` at their steps (only the ``screen`` best of them, if given),
    then neighbouring steps until none improves."""
    limits = evaluate.limits
    coords = _Coordinates(limits)
    candidates = []
    if grid is not None:
        scored = sorted(((evaluate(s), i, s) for i, s in enumerate(_coarse_grid(limits, coords, grid))),
                        key=lambda item: (-item[0], item[1]))
        used_steps: set[float] = set()
        for _, _, settings in scored:  # the best grid point of each of the best steps
            if settings.attenuation_dB not in used_steps:
                used_steps.add(settings.attenuation_dB)
                candidates.append(settings)
            if len(candidates) >= grid.starts:
                break
    candidates += [s for s in starts if s.attenuation_dB in limits.attenuation_steps_dB]
    if screen is not None:  # refine only the best few candidates
        candidates = sorted(candidates, key=lambda s: -evaluate(s))[:screen]
    if not candidates:
        raise InputError("best_settings needs a grid or start settings on the station's attenuator steps")
    xatol = grid.xatol if grid is not None else DEFAULT_GRID.xatol
    margin = grid.neighbour_margin if grid is not None else None
    best_value, best = max((_refine(evaluate, coords, s, xatol) for s in candidates), key=lambda r: r[0])
    tried = {best.attenuation_dB}
    improved = True
    while improved:
        improved = False
        for step in _neighbour_steps(limits, best.attenuation_dB):
            if step in tried:
                continue
            tried.add(step)
            neighbour = replace(best, attenuation_dB=step)
            if margin is not None and evaluate(neighbour) < best_value - margin:
                continue
            value, settings = _refine(evaluate, coords, neighbour, xatol)
            if value > best_value:
                best_value, best, improved = value, settings, True
                break
    return best_value, best


def knob_tolerances(evaluate: TwinEvaluator, best: Settings, value: float, loss: float) -> dict[str, KnobTolerance]:
    """Per knob, the range around ``best`` (others held) where the figure stays >= value - loss."""
    limits = evaluate.limits
    coords = _Coordinates(limits)
    level = value - loss
    out: dict[str, KnobTolerance] = {}
    station_range = {"bandwidth_Hz": limits.bandwidth_range_Hz, "temperature_K": limits.temperature_range_K,
                     "center_Hz": coords.ranges["center_Hz"]}
    for name in ("bandwidth_Hz", "temperature_K", "center_Hz"):
        here = getattr(best, name)
        low_range, high_range = station_range[name]  # centre: the search window (see centre_window)
        edges = []
        for edge in (low_range, high_range):
            def excess(x):
                return evaluate(replace(best, **{name: x})) - level
            if edge == here or excess(edge) >= 0:  # the limit (or the centre's search window) came first
                edges.append((edge, True))
                continue
            import scipy.optimize

            if name == "bandwidth_Hz":
                root = math.exp(scipy.optimize.brentq(lambda y: excess(math.exp(y)), math.log(here), math.log(edge),
                                                      xtol=1e-3))
            else:
                root = scipy.optimize.brentq(excess, here, edge, xtol=1e-6 * max(abs(here), 1.0))
            edges.append((root, False))
        (low, low_limit), (high, high_limit) = edges
        out[name] = KnobTolerance(min(low, high), max(low, high), low_limit, high_limit)
    steps = limits.attenuation_steps_dB
    i = steps.index(best.attenuation_dB)
    low_i = high_i = i
    while low_i > 0 and evaluate(replace(best, attenuation_dB=steps[low_i - 1])) >= level:
        low_i -= 1
    while high_i < len(steps) - 1 and evaluate(replace(best, attenuation_dB=steps[high_i + 1])) >= level:
        high_i += 1
    out["attenuation_dB"] = KnobTolerance(steps[low_i], steps[high_i], low_i == 0, high_i == len(steps) - 1)
    return out


def optimise_operating_point(
    limits: StationLimits,
    figure: str = "bell",
    *,
    loss: float = DEFAULT_LOSS,
    grid: CoarseGrid | None = DEFAULT_GRID,
    starts: list[Settings] = (),
    screen: int | None = None,
    relaxation: bool = True,
    tolerances: bool = True,
) -> OperatingPoint:
    """The settings of ``limits`` that maximise ``figure`` on the twin (see the module docstring).

    ``loss`` (in (0, 1)): the drop that defines each knob's tolerance. ``starts``: extra starting
    settings (e.g. a previous optimum); ``grid=None`` refines from ``starts`` only; ``screen``: refine
    only that many of the best candidates. ``relaxation``
    and ``tolerances`` can be switched off where only the optimum is needed.
    """
    check_figure(figure)
    if not 0 < loss < 1:
        raise InputError(f"loss={loss!r} is outside the allowed range (0, 1)")
    evaluate = TwinEvaluator(limits, figure)
    value, best = best_settings(evaluate, grid, list(starts), screen)
    knobs = knob_tolerances(evaluate, best, value, loss) if tolerances else {}
    link = limits.lab_link(best)
    p = link.to_parameters()
    relaxation_time = link.seconds(relaxation_rate(p)) if relaxation else None
    return OperatingPoint(
        figure=figure,
        value=value,
        settings=best,
        figures=evaluate.figures(best),
        parameters=p,
        detunings_Hz=(limits.qubit1_frequency_Hz - best.center_Hz, limits.qubit2_frequency_Hz - best.center_Hz),
        source_occupation=link.source_occupation,
        relaxation_time_s=relaxation_time,
        tolerances=knobs,
        loss=loss,
        twin_solves=evaluate.solves,
    )
