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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

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
}


@dataclass(frozen=True)
class LinkParameters:
    """One operating point of the cascaded filter -> qubit 1 -> qubit 2 link.

    ``kappa`` (filter FWHM, > 0) and ``n_source`` (thermal occupation of the hot input line at the
    filter centre, >= 0) are required; the rest default to the symmetric, lossless, resonant link
    of physics.md: ``gamma1 = gamma2 = 1``, ``in_coupling = 0.5``, no detunings,
    ``transmission = 1``, no local decay or dephasing.
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

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
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
        if not math.isfinite(self.kappa) or not math.isfinite(self.n_source):
            raise InputError(
                f"kappa={self.kappa!r}, n_source={self.n_source!r} must be finite; allowed range (0, inf)"
            )
        for j, gamma in ((1, self.gamma1), (2, self.gamma2)):
            if gamma + self.gamma_local == 0.0:
                raise InputError(
                    f"gamma{j}=0 with gamma_local=0 leaves qubit {j} without any decay, so the steady "
                    f"state is not unique; allowed: gamma{j} + gamma_local > 0"
                )

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
    def n_filter(self) -> float:
        """Thermal occupation ``n_c = k_in N_h / k`` of the filter mode (its exact marginal)."""
        return self.kappa_in * self.n_source / self.kappa

    def replace(self, **changes: float) -> "LinkParameters":
        """A copy with some parameters changed (validated again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return {field.name: getattr(self, field.name) for field in fields(self)}
