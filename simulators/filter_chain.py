"""The filter's photon-number chain: its rates and its slowest decay, exactly (unit-free).

On the chiral link the qubits exert no back-action on the filter, so its photon-number
distribution obeys a birth-death chain of its own, truncated at the Fock cutoff ``M`` as the
twin's operators are: emission ``m -> m - 1`` at ``(kappa + kappa_in N_h) m``, absorption
``m -> m + 1`` at ``kappa_in N_h (m + 1)`` for ``m < M``. Tracing out the qubits commutes with the
dynamics, so every eigenvalue of this chain is an eigenvalue of the excitation-diagonal sector
(:mod:`.relaxation` uses that to set the filter's modes aside).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.lapack

from .link_parameters import LinkParameters

#: Inverse iterations at most, and the certified relative width that ends them.
_ITERATIONS = 80
_WIDTH = 1e-12
#: Width (relative) of the bounds below which the iteration moves its shift up to them.
_SHIFT_WIDTH = 1e-2
#: A result whose bounds never got narrower than this (relative) is refused.
_ACCEPT_WIDTH = 1e-8


def filter_rates(p: LinkParameters, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
    """``(emission, absorption)``, each ``(cutoff + 1,)``: the rates out of photon number ``m`` down
    and up (none up from the cutoff). Their balance is :func:`.exact_solver.filter_marginal`."""
    m = np.arange(cutoff + 1.0)
    emission = (p.kappa + p.kappa_in * p.n_source) * m
    absorption = p.kappa_in * p.n_source * (m + 1.0)
    absorption[-1] = 0.0
    return emission, absorption


def filter_gap(p: LinkParameters, cutoff: int) -> float:
    """The slowest decay rate of the truncated filter chain (its smallest nonzero eigenvalue, a
    positive number in the unit of ``kappa``), certified to ``~1e-12`` relative where rounding allows.

    Method: the net flows ``J_m = absorption_m P_m - emission_{m+1} P_{m+1}`` (``m < cutoff``) obey a
    tridiagonal chain of their own whose spectrum is the chain's without its zero (the flows vanish
    only on the thermal state), and minus its generator, symmetrised, is a nonsingular M-matrix
    ``A``: diagonal ``absorption_m + emission_{m+1}``, off-diagonal ``-sqrt(absorption_m emission_m)``.
    Inverse iteration on ``A - s`` (``s`` below the gap, so its LDL^T needs no pivoting and its
    inverse is positive) from a positive vector; the Collatz-Wielandt bounds
    ``min(y / x) <= 1 / (gap - s) <= max(y / x)`` of ``y = (A - s)^-1 x`` certify the result, and the
    shift moves up to the lower bound once the bounds are within 1 %. Raises ``ArithmeticError``
    if the bounds do not close to ``_ACCEPT_WIDTH``.
    """
    emission, absorption = filter_rates(p, cutoff)
    if not absorption.any():  # no source: every photon number decays on its own, m -> m - 1
        return float(emission[1])
    diagonal = absorption[:-1] + emission[1:]
    off = -np.sqrt(absorption[1:-1] * emission[1:-1])
    x = np.ones(len(diagonal))
    shift, estimate, best = 0.0, np.nan, (0.0, np.inf)
    factors = None
    for _ in range(_ITERATIONS):
        if factors is None:
            d, e, info = scipy.linalg.lapack.dpttrf(diagonal - shift, off)
            if info != 0:
                raise ArithmeticError(f"the shifted filter chain is not positive definite (shift {shift:.6g})")
            factors = (d, e)
        y, info = scipy.linalg.lapack.dpttrs(*factors, x)
        if info != 0 or not np.all(y > 0.0):
            raise ArithmeticError("the filter chain's inverse iteration lost positivity")
        ratio = y / x
        low, high = shift + 1.0 / ratio.max(), shift + 1.0 / ratio.min()
        if high - low < best[1] - best[0]:
            best = (low, high)
        estimate = shift + float(x @ x) / float(x @ y)  # Rayleigh quotient of the symmetric A
        if high - low <= _WIDTH * low:
            return estimate
        if shift == 0.0 and high - low <= _SHIFT_WIDTH * low:
            shift, factors = low - 0.1 * (high - low), None
        x = y / np.linalg.norm(y)
    low, high = best
    if high - low <= _ACCEPT_WIDTH * low and low <= estimate <= high:
        return estimate
    raise ArithmeticError(f"the filter chain's gap did not settle (bounds {low:.12g} .. {high:.12g})")
