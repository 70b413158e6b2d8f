"""What limits a station's best operating point, and what would reach a target figure.

:func:`advise` starts from the optimum (:func:`~thermalink.experiments.operating_point.optimise_operating_point`)
and re-optimises the lab knobs with one thing changed at a time:

* each imperfection switched off (:func:`~thermalink.experiments.requirement_map.ideal_value`:
  T1 at the waveguide limit, T2 = 2 T1, lossless link, no residual excitation);
* a hotter source: the hot load's maximum raised to :func:`hotter_source_K` (twice the maximum;
  1.5 x above room temperature);
* a narrower filter, if the optimum sits at the filter's narrowest bandwidth (10 x narrower).

The change with the largest gain is what limits the station. If the optimum is below the target,
each requirement alone is searched (bisection over the optimised figure, which rises monotonically
towards the ideal value) for the value that reaches the target; if none does alone, all the
imperfections are switched off together, and, if even the ideal qubits and link fall short, the
source temperature they would need is searched as well. Re-optimisations start from the current
optimum (no coarse grid: each change is small). Independent searches run through an optional
``concurrent.futures.Executor``.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from dataclasses import dataclass, replace

import numpy as np

from thermalink.simulators.errors import InputError
from .operating_point import FIGURE_LABELS, OperatingPoint, check_figure, optimise_operating_point
from .requirement_map import REQUIREMENTS, current_value, ideal_value, with_requirements
from .station_limits import Settings, StationLimits

IMPERFECTIONS = ("t1", "t2", "transmission", "residual_excitation")
#: Bisection steps of a requirement search (the interval shrinks to 1/2**steps).
SEARCH_STEPS = 3
ROOM_TEMPERATURE_K = 300.0
#: Bandwidths scanned before each re-optimisation.
BANDWIDTH_SCAN = 6


def check_target(target: float) -> float:
    if not (isinstance(target, (int, float)) and 0 < target <= 1):
        raise InputError(f"target={target!r} is outside the allowed range (0, 1]")
    return float(target)


def hotter_source_K(limits: StationLimits) -> float:
    """The hotter source tried: twice the hot load's maximum (1.5 x above room temperature).

    Solves cost in proportion to the source occupation, so this stays a modest step."""
    hottest = limits.temperature_range_K[1]
    return 2 * hottest if hottest < ROOM_TEMPERATURE_K else 1.5 * hottest


def ideal_qubits_and_link(limits: StationLimits) -> dict[str, float]:
    """Every imperfection off at once: T1 at the waveguide limit, T2 = 2 T1, lossless, no residual."""
    t1 = limits.waveguide_t1_s
    return {"t1": t1, "t2": 2 * t1, "transmission": 1.0, "residual_excitation": 0.0}


def _clipped(settings: Settings, limits: StationLimits) -> Settings:
    steps = np.array(limits.attenuation_steps_dB)
    return Settings(
        bandwidth_Hz=float(np.clip(settings.bandwidth_Hz, *limits.bandwidth_range_Hz)),
        attenuation_dB=float(steps[np.argmin(np.abs(steps - settings.attenuation_dB))]),
        temperature_K=float(np.clip(settings.temperature_K, *limits.temperature_range_K)),
        center_Hz=float(np.clip(settings.center_Hz, *limits.center_range_Hz)),
    )


def reoptimised(limits: StationLimits, figure: str, start: Settings) -> tuple[float, Settings, int]:
    """Best figure of ``limits`` refined from ``start`` (top level: executors pickle it).

    The start's bandwidth is first scanned (a log grid of :data:`BANDWIDTH_SCAN` points, other
    knobs held): the best bandwidth moves most when the source or the qubits change.
    """
    start = _clipped(start, limits)
    scan = [replace(start, bandwidth_Hz=float(b)) for b in np.geomspace(*limits.bandwidth_range_Hz, BANDWIDTH_SCAN)]
    point = optimise_operating_point(limits, figure, grid=None, starts=[start, *scan], screen=1,
                                     relaxation=False, tolerances=False)
    return point.value, point.settings, point.twin_solves


def _describe(name: str, value: float) -> str:
    if name in ("t1", "t2"):
        return f"{name.upper()} {value * 1e9:.4g} ns"
    if name == "source_temperature":
        return f"hot load up to {value:.4g} K"
    if name == "transmission":
        return f"link transmission {value:.4g} ({abs(10 * math.log10(value)):.3g} dB loss)"
    if name == "bandwidth_min":
        return f"filter down to {value:.3g} Hz"
    return f"residual excitation {value:.3g}"


def needed_value(limits: StationLimits, figure: str, name: str, end: float, target: float, start: Settings,
                 others: dict | None = None) -> tuple[float | None, int]:
    """Value of requirement ``name`` between the station's and ``end`` at which the optimised
    figure reaches ``target`` (``others`` set as well), or ``None`` if ``end`` does not; bisection
    (log for the source temperature). Returns (value, twin solves)."""
    others = dict(others or {})
    solves = 0

    def best(value):
        nonlocal solves, start
        values = {**others, name: value}
        if name == "t1" and values.get("t2", 0.0) > 2 * value:  # an ideal T2 follows T1 (no dephasing)
            values["t2"] = 2 * value
        result, start, used = reoptimised(with_requirements(limits, values), figure, start)
        solves += used
        return result

    if best(end) < target:
        return None, solves
    low = current_value(limits, name)
    if best(low) >= target:
        return low, solves
    log = name == "source_temperature"
    a, b = (math.log(low), math.log(end)) if log else (low, end)
    for _ in range(SEARCH_STEPS):
        mid = 0.5 * (a + b)
        if best(math.exp(mid) if log else mid) >= target:
            b = mid
        else:
            a = mid
    return (math.exp(b) if log else b), solves


@dataclass(frozen=True)
class Effect:
    """The best figure with one change (``name`` set to ``value``)."""

    name: str
    value: float
    best: float
    gain: float

    def describe(self) -> str:
        return f"{_describe(self.name, self.value)}: {self.best:.4f} ({self.gain:+.4f})"


@dataclass(frozen=True)
class Requirement:
    """A value of ``name`` that reaches the target (``None``: not by this change), with ``others``."""

    name: str
    current: float
    needed: float | None
    others: tuple

    def describe(self) -> str:
        if self.needed is None:
            return f"{REQUIREMENTS[self.name][1]}: not enough on its own"
        return f"{_describe(self.name, self.needed)} (now {_describe(self.name, self.current)})"


@dataclass(frozen=True)
class DesignAdvice:
    point: OperatingPoint
    target: float
    effects: tuple[Effect, ...]  # largest gain first
    requirements: tuple[Requirement, ...]
    combined: str | None  # how the target is reached when no single change does
    twin_solves: int

    @property
    def limiting(self) -> Effect | None:
        return self.effects[0] if self.effects and self.effects[0].gain > 0 else None

    @property
    def reached(self) -> bool:
        return self.point.value >= self.target

    def summary(self) -> str:
        label = FIGURE_LABELS[self.point.figure]
        lines = [f"target {label} {self.target:g}: "
                 + ("reached" if self.reached else f"NOT reached (best {self.point.value:.4f})")]
        if self.limiting is not None:
            name = REQUIREMENTS.get(self.limiting.name, ("", "the filter's narrowest bandwidth"))[1]
            lines.append(f"limited most by: {name} ({self.limiting.describe()})")
        lines.append(f"best {label} with one change (knobs re-optimised):")
        lines += [f"  {e.describe()}" for e in self.effects]
        if not self.reached:
            lines.append(f"what would reach {self.target:g}:")
            reaching = [r for r in self.requirements if not r.others and r.needed is not None]
            if reaching:
                lines += [f"  {r.describe()}" for r in reaching]
            else:
                lines.append("  no single change")
            if self.combined:
                lines.append(f"  {self.combined}")
        return "\n".join(lines)


def _submit(executor: Executor | None, function, *args):
    if executor is None:
        class _Done:
            def __init__(self, value):
                self._value = value

            def result(self):
                return self._value
        return _Done(function(*args))
    return executor.submit(function, *args)


def advise(point: OperatingPoint, limits: StationLimits, target: float = 0.70,
           executor: Executor | None = None) -> DesignAdvice:
    """Effects of each change on the optimum and, below ``target``, what would reach it."""
    target = check_target(target)
    figure = check_figure(point.figure)
    start = point.settings
    changes: dict[str, float] = {}
    for name in IMPERFECTIONS:
        ideal = ideal_value(limits, name)
        if not math.isclose(current_value(limits, name), ideal, rel_tol=1e-9, abs_tol=1e-12):
            changes[name] = ideal
    changes["source_temperature"] = hotter_source_K(limits)
    narrow = limits.bandwidth_range_Hz[0]
    futures = {name: _submit(executor, reoptimised, with_requirements(limits, {name: value}), figure, start)
               for name, value in changes.items()}
    if point.settings.bandwidth_Hz <= narrow * 1.01:
        changes["bandwidth_min"] = narrow / 10
        futures["bandwidth_min"] = _submit(
            executor, reoptimised, limits.replaced(bandwidth_range_Hz=(narrow / 10, limits.bandwidth_range_Hz[1])),
            figure, start)
    solves = point.twin_solves
    effects = []
    for name, future in futures.items():
        best, _, used = future.result()
        solves += used
        effects.append(Effect(name, changes[name], best, best - point.value))
    effects.sort(key=lambda e: -e.gain)
    requirements: list[Requirement] = []
    combined = None
    if point.value < target:
        ends = {name: changes[name] for name in changes if name in REQUIREMENTS}
        searches = {name: _submit(executor, needed_value, limits, figure, name, end, target, start)
                    for name, end in ends.items()
                    if next(e for e in effects if e.name == name).best >= target}
        for name in ends:
            needed, used = searches[name].result() if name in searches else (None, 0)
            solves += used
            requirements.append(Requirement(name, current_value(limits, name), needed, ()))
        if not any(r.needed is not None for r in requirements):
            ideal = ideal_qubits_and_link(limits)
            all_ideal, settings, used = reoptimised(with_requirements(limits, ideal), figure, start)
            solves += used
            if all_ideal >= target:
                combined = (f"with ideal qubits and a lossless link (T1 {limits.waveguide_t1_s * 1e9:.4g} ns, "
                            f"T2 = 2 T1, no loss, no residual excitation) the station reaches {all_ideal:.4f}")
            else:
                hotter = hotter_source_K(limits)
                needed, used = needed_value(limits, figure, "source_temperature", hotter, target, settings, ideal)
                solves += used
                combined = (f"even with ideal qubits and a lossless link the station reaches only {all_ideal:.4f}; "
                            + (f"with them it would also need the {_describe('source_temperature', needed)}"
                               if needed else f"it would also need a source hotter than {hotter:.4g} K"))
    return DesignAdvice(point, target, tuple(effects), tuple(requirements), combined, solves)
