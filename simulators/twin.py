"""The twin's entry point: ``steady_state(p, method)``, the exact solver or one of its limits.

Returns the qubits' 4x4 reduced density matrix (complex, basis ``|gg>, |ge>, |eg>, |ee>``, qubit 1
the left factor) after tracing out the filter mode; ``p`` is a unit-free :class:`LinkParameters`.
"""

from __future__ import annotations

import numpy as np

from .exact_solver import DEFAULT_TOL, solve_exact
from .limits import adiabatic_steady_state, markov_steady_state
from .link_parameters import LinkParameters

METHODS = ("exact", "adiabatic", "markov")


def steady_state(
    p: LinkParameters, method: str = "exact", tol: float = DEFAULT_TOL, cutoff: int | None = None
) -> np.ndarray:
    """Qubit steady state, 4x4 complex, basis ``|gg>, |ge>, |eg>, |ee>``.

    ``tol`` (exact only): thermal tail weight of the filter left out by the Fock cutoff; or give
    ``cutoff`` (largest photon number kept) directly.
    """
    if method == "exact":
        return solve_exact(p, tol=tol, cutoff=cutoff).rho
    if method == "adiabatic":
        return adiabatic_steady_state(p)
    if method == "markov":
        return markov_steady_state(p)
    raise ValueError(f"method={method!r} is not one of {METHODS}")
