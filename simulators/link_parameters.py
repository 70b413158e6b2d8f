"""The physics parameters of the thermal link (``../shared/physics.md``), unit-free.

Conventions, stated once for the whole twin:

* All rates (``kappa``, ``gamma1``, ``gamma2``, ``gamma_local``, ``gamma_phi``) and detunings
  (``delta1``, ``delta2``) are in one common angular unit with hbar = 1. Only ratios matter;
  the lab layer (:mod:`thermalink.simulators.lab_units`) converts Hz, K and dB into them.
* Rates are energy-decay rates; ``kappa`` is the FWHM of the filter mode.
* Detunings are qubit frequency minus filter centre; the dark-state condition is
  ``delta1 = -delta2``.
* Qubit density matrices are 4x4 in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 is the left,
  most significant factor, ``|g> = |0>``).
* ``in_coupling`` and ``n_source`` describe every thermal input of the filter other than the
  waveguide as one port: an internal loss of the filter is merged into them exactly by the units
  layer (``lab_units.merge_filter_ports``).
* Local terms are per qubit: ``gamma_local1/2`` (decay into qubit j's own bath), ``n_qubit1/2``
  (that bath's thermal occupation, not the measured excited population) and ``gamma_phi1/2``
  (pure dephasing: qubit coherences decay at ``gamma_phi``, jump ``sqrt(gamma_phi/2) sz``). Each
  defaults to (``None``) the shared ``gamma_local``, ``n_qubit``, ``gamma_phi`` of physics.md, so
  a link given only the shared values is exactly physics.md's; read the resolved values with
  :meth:`LinkParameters.qubit_bath`.
* Finite directionality (physics.md has a perfectly chiral waveguide, ``backward_fraction = 0``):
  every element on the waveguide (the filter's output port, qubit 1, qubit 2) emits the fraction
  ``backward_fraction`` of its waveguide decay (``kappa_out``, ``gamma1``, ``gamma2``, totals
  unchanged) into the backward direction and absorbs from it with the same coupling, so the
  backward path runs qubit 2 -> qubit 1 -> filter (back-action on the filter) and leaves the link
  at the filter's end (cold). Both directions pass the link's ``transmission``. In the gauge where
  the forward path carries no phase, the backward path keeps the round-trip propagation phases
  ``round_trip_phase12`` (qubit 2 -> qubit 1, ``2 k d12``) and ``round_trip_phase01``
  (qubit 1 -> filter, ``2 k d01``), in radians. The filter is then no longer exactly thermal: the
  Fock cutoff's tail bound (from ``n_filter``) is only approximate there.
* ``delay``: propagation delay on the waveguide from qubit 1 to qubit 2, in the inverse rate unit
  (``gamma1 * delay`` is ``gamma tau`` for ``gamma1 = 1``); 0 is physics.md's instantaneous link.
  Solved exactly for the chiral link (:mod:`.propagation_delay`); the delay's phase is the gauge
  of qubit 2 that physics.md's conventions already allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

from .errors import InputError

_INF = math.inf

#: Allowed closed ranges of every parameter: (low, high). NaN is never allowed.
PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    "kappa": (0.0, _INF),
    "n_source": (0.0, _INF),
    "in_coupling": (0.0, 1.0),
    "gamma1": (0.0, _INF),
    "gamma2": (0.0, _INF),
    "delta1": (-_INF, _INF),
    "delta2": (-_INF, _INF),
    "transmission": (0.0, 1.0),
    "gamma_local": (0.0, _INF),
    "n_qubit": (0.0, _INF),
    "gamma_phi": (0.0, _INF),
    "gamma_local1": (0.0, _INF),
    "gamma_local2": (0.0, _INF),
    "n_qubit1": (0.0, _INF),
    "n_qubit2": (0.0, _INF),
    "gamma_phi1": (0.0, _INF),
    "gamma_phi2": (0.0, _INF),
    "backward_fraction": (0.0, 1.0),
    "round_trip_phase01": (-_INF, _INF),
    "round_trip_phase12": (-_INF, _INF),
    "delay": (0.0, _INF),
}

#: Per-qubit fields that default (``None``) to a shared one: per-qubit name -> shared name.
PER_QUBIT_DEFAULTS: dict[str, str] = {
    f"{shared}{j}": shared for shared in ("gamma_local", "n_qubit", "gamma_phi") for j in (1, 2)
}


class QubitBath(NamedTuple):
    """Qubit j's local terms, resolved: decay into its own bath, that bath's occupation, dephasing."""

    gamma_local: float
    n_qubit: float
    gamma_phi: float


@dataclass(frozen=True)
class LinkParameters:
    """One operating point of the cascaded filter -> qubit 1 -> qubit 2 link.

    ``kappa`` (filter FWHM, > 0) and ``n_source`` (thermal occupation of the hot input line at the
    filter centre, >= 0) are required; the rest default to the symmetric, lossless, resonant link
    of physics.md: ``gamma1 = gamma2 = 1``, ``in_coupling = 0.5``, no detunings,
    ``transmission = 1``, no local decay or dephasing. ``gamma_local``, ``n_qubit`` and
    ``gamma_phi`` are shared by both qubits unless the per-qubit ``gamma_local1``, ...,
    ``gamma_phi2`` are given (``None``: take the shared value).
    """

    kappa: float
    n_source: float
    in_coupling: float = 0.5
    gamma1: float = 1.0
    gamma2: float = 1.0
    delta1: float = 0.0
    delta2: float = 0.0
    transmission: float = 1.0
    gamma_local: float = 0.0
    n_qubit: float = 0.0
    gamma_phi: float = 0.0
    gamma_local1: float | None = None
    gamma_local2: float | None = None
    n_qubit1: float | None = None
    n_qubit2: float | None = None
    gamma_phi1: float | None = None
    gamma_phi2: float | None = None
    backward_fraction: float = 0.0
    round_trip_phase01: float = 0.0
    round_trip_phase12: float = 0.0
    delay: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None and field.name in PER_QUBIT_DEFAULTS:
                continue
            low, high = PARAMETER_RANGES[field.name]
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise InputError(
                    f"{field.name}={value!r} is not a number; allowed range [{low}, {high}]"
                ) from None
            if math.isnan(number) or not low <= number <= high:
                raise InputError(f"{field.name}={value!r} is outside the allowed range [{low}, {high}]")
            object.__setattr__(self, field.name, number)
        if self.kappa == 0.0:
            raise InputError("kappa=0.0 is outside the allowed range (0, inf): the filter needs a width")
        if not math.isfinite(self.delay):
            raise InputError(f"delay={self.delay!r} must be finite; allowed range [0, inf)")
        if not math.isfinite(self.kappa) or not math.isfinite(self.n_source):
            raise InputError(
                f"kappa={self.kappa!r}, n_source={self.n_source!r} must be finite; allowed range (0, inf)"
            )
        for j, gamma in ((1, self.gamma1), (2, self.gamma2)):
            if gamma + self.qubit_bath(j).gamma_local == 0.0:
                local = f"gamma_local{j}" if getattr(self, f"gamma_local{j}") is not None else "gamma_local"
                raise InputError(
                    f"gamma{j}=0 with {local}=0 leaves qubit {j} without any decay, so the steady "
                    f"state is not unique; allowed: gamma{j} + {local} > 0"
                )

    def qubit_bath(self, j: int) -> QubitBath:
        """Qubit ``j``'s (1 or 2) local decay, bath occupation and dephasing, shared values resolved."""
        if j not in (1, 2):
            raise InputError(f"j={j!r} is outside the allowed values (1, 2)")
        values = []
        for shared in ("gamma_local", "n_qubit", "gamma_phi"):
            own = getattr(self, f"{shared}{j}")
            values.append(getattr(self, shared) if own is None else own)
        return QubitBath(*values)

    @property
    def has_local_decay(self) -> bool:
        """Whether either qubit decays into a local bath."""
        return self.qubit_bath(1).gamma_local > 0 or self.qubit_bath(2).gamma_local > 0

    # Derived quantities of physics.md -------------------------------------------------------
    @property
    def kappa_in(self) -> float:
        """Part of ``kappa`` due to the hot input port."""
        return self.in_coupling * self.kappa

    @property
    def kappa_out(self) -> float:
        """Part of ``kappa`` that leaks into the waveguide towards the qubits."""
        return self.kappa - self.kappa_in

    @property
    def is_chiral(self) -> bool:
        """Whether the waveguide is perfectly directional (physics.md's cascaded link)."""
        return self.backward_fraction == 0.0

    @property
    def n_filter(self) -> float:
        """Thermal occupation ``n_c = k_in N_h / k`` of the filter mode (its exact marginal when
        the link is chiral; with back-action from the qubits, the part the source supplies)."""
        return self.kappa_in * self.n_source / self.kappa

    def replace(self, **changes: float) -> "LinkParameters":
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        """Every field given a value (per-qubit fields left at ``None`` are omitted)."""
        return {
            field.name: getattr(self, field.name) for field in fields(self) if getattr(self, field.name) is not None
        }
