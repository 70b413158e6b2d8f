"""What a sweep does, separate from how it is executed (see :mod:`.sweep_runner`).

A :class:`SweepPlan` is plain data: the source settings of every point (lab units: ``bandwidth``
in Hz, ``temperature`` in K, ``attenuation`` in dB, ``center_frequency`` in Hz), the tomography
settings and shots, the settle policy and the seed. It serialises to JSON so that a stored run
knows how to resume itself.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from thermalink.simulators.conventions import PAULI_SETTINGS, validate_settings
from thermalink.simulators.errors import InputError

#: Source parameters a sweep may set, with their units.
SOURCE_SETTINGS = {"bandwidth": "Hz", "temperature": "K", "attenuation": "dB", "center_frequency": "Hz"}
SWEEP_KINDS = ("bandwidth", "temperature", "bandwidth_temperature")
#: Bootstrap resamples per point: enough for a 95% interval, few enough to fit in memory.
MIN_BOOTSTRAP, MAX_BOOTSTRAP = 20, 10_000


@dataclass(frozen=True)
class SweepPlan:
    """Points of a sweep and how each is measured.

    ``points``: one dict of source settings per point, applied in order.
    ``settle_s``: fixed wait after setting a point; ``None`` waits ``settle_factor`` times the
    twin's relaxation time of the new operating point.
    """

    kind: str
    points: tuple[dict, ...]
    shots: int = 2000
    settings: tuple[str, ...] = PAULI_SETTINGS
    settle_s: float | None = None
    settle_factor: float = 5.0
    seed: int = 1234
    bootstrap: int = 200

    def __post_init__(self) -> None:
        if self.kind not in SWEEP_KINDS:
            raise InputError(f"kind={self.kind!r} is not one of {SWEEP_KINDS}")
        if not self.points:
            raise InputError("a sweep needs at least one point")
        for index, point in enumerate(self.points):
            unknown = sorted(set(point) - set(SOURCE_SETTINGS))
            if unknown:
                raise InputError(f"point {index}: unknown settings {unknown}; allowed: {sorted(SOURCE_SETTINGS)}")
            for name, value in point.items():
                if not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise InputError(f"point {index}: {name}={value!r} is not a finite number ({SOURCE_SETTINGS[name]})")
        if not (isinstance(self.shots, (int, np.integer)) and self.shots >= 1):
            raise InputError(f"shots={self.shots!r} is outside the allowed range: integers >= 1")
        validate_settings(self.settings)
        if self.settle_s is not None and not 0 <= self.settle_s < math.inf:
            raise InputError(f"settle_s={self.settle_s!r} is outside the allowed range [0, inf) s")
        if not 0 < self.settle_factor < math.inf:
            raise InputError(f"settle_factor={self.settle_factor!r} is outside the allowed range (0, inf)")
        if not (isinstance(self.bootstrap, (int, np.integer)) and MIN_BOOTSTRAP <= self.bootstrap <= MAX_BOOTSTRAP):
            raise InputError(
                f"bootstrap={self.bootstrap!r} is outside the allowed range: integers in [{MIN_BOOTSTRAP}, {MAX_BOOTSTRAP}]"
            )

    def point_seed(self, index: int) -> int:
        """Seed of point ``index``: independent of interruptions and of the other points."""
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])

    def to_json(self) -> str:
        data = asdict(self)
        data["points"] = [dict(p) for p in self.points]
        data["settings"] = list(self.settings)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "SweepPlan":
        data = json.loads(text)
        data["points"] = tuple(data["points"])
        data["settings"] = tuple(data["settings"])
        return cls(**data)


def _grid(values: Sequence[float], name: str) -> list[float]:
    values = [float(v) for v in values]
    if not values:
        raise InputError(f"{name}: at least one value is needed")
    return values


def _fixed(attenuation_dB: float | None) -> dict:
    return {} if attenuation_dB is None else {"attenuation": float(attenuation_dB)}


def bandwidth_sweep(bandwidths_Hz: Sequence[float], temperature_K: float, attenuation_dB: float | None = None,
                    **options) -> SweepPlan:
    """The paper's experiment: filter bandwidth swept at a fixed source temperature (and attenuation)."""
    points = tuple(
        {"temperature": float(temperature_K), **_fixed(attenuation_dB), "bandwidth": b}
        for b in _grid(bandwidths_Hz, "bandwidths")
    )
    return SweepPlan(kind="bandwidth", points=points, **options)


def temperature_sweep(temperatures_K: Sequence[float], bandwidth_Hz: float, attenuation_dB: float | None = None,
                      **options) -> SweepPlan:
    """Source temperature swept at a fixed filter bandwidth (and attenuation)."""
    points = tuple(
        {"temperature": t, **_fixed(attenuation_dB), "bandwidth": float(bandwidth_Hz)}
        for t in _grid(temperatures_K, "temperatures")
    )
    return SweepPlan(kind="temperature", points=points, **options)


def bandwidth_temperature_map(bandwidths_Hz: Sequence[float], temperatures_K: Sequence[float],
                              attenuation_dB: float | None = None, **options) -> SweepPlan:
    """2D map; temperature is the slow axis (each temperature is reached once)."""
    points = tuple(
        {"temperature": t, **_fixed(attenuation_dB), "bandwidth": b}
        for t, b in itertools.product(_grid(temperatures_K, "temperatures"), _grid(bandwidths_Hz, "bandwidths"))
    )
    return SweepPlan(kind="bandwidth_temperature", points=points, **options)


def log_range(start: float, stop: float, points: int) -> list[float]:
    """``points`` values from ``start`` to ``stop``, equally spaced in log."""
    if not (start > 0 and stop > 0):
        raise InputError(f"log range {start}..{stop}: both ends must be > 0")
    if points < 1:
        raise InputError(f"points={points}: at least 1")
    return [float(v) for v in np.logspace(math.log10(start), math.log10(stop), points)]
