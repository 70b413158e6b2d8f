"""Figures of merit of two-qubit states.

Every function takes a 4x4 density matrix in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 the
left factor) or a stack of them with shape ``(..., 4, 4)``, and returns a float or an array of
shape ``(...)``.

* Concurrence: Wootters' formula.
* Negativity: ``(||rho^T2||_1 - 1) / 2`` (partial transpose on qubit 2), 0.5 for a Bell state;
  log-negativity ``log2 ||rho^T2||_1``, 1 for a Bell state.
* Singlet fidelity: ``<S|rho|S>`` with ``|S> = (|eg> - |ge>)/sqrt(2)``; the phase-optimised Bell
  fidelity maximises ``<S_phi|rho|S_phi>`` over ``|S_phi> = (|eg> - e^{i phi}|ge>)/sqrt(2)``.
"""

from __future__ import annotations

import numpy as np

GE, EG = 1, 2
_SIGMA_Y_Y = np.array(
    [[0, 0, 0, -1], [0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0]], dtype=complex
)  # sigma_y (x) sigma_y


def _as_states(rho) -> np.ndarray:
    rho = np.asarray(rho, dtype=complex)
    if rho.shape[-2:] != (4, 4):
        raise ValueError(f"expected two-qubit density matrices of shape (..., 4, 4), got {rho.shape}")
    return rho


def _scalar_or_array(values: np.ndarray):
    return float(values) if np.ndim(values) == 0 else values


def _hermitian_part(rho: np.ndarray) -> np.ndarray:
    return (rho + np.conj(np.swapaxes(rho, -1, -2))) / 2


#: Eigenvalues below this (relative to the largest) count as exact zeros in square roots: float
#: round-off leaves ~1e-16 "eigenvalues" on rank-deficient states, whose square roots (~1e-8)
#: would otherwise leak into fidelities and concurrences.
EIGENVALUE_CUTOFF = 1e-14


def _sqrt_factor(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W, V)`` with ``W = V sqrt(w)`` for ``rho = V w V^+`` (so ``rho = W W^+``, ``sqrt(rho) = W V^+``)."""
    w, v = np.linalg.eigh(_hermitian_part(rho))
    cutoff = EIGENVALUE_CUTOFF * np.max(np.abs(w), axis=-1, keepdims=True)
    root = np.sqrt(np.where(w > cutoff, w, 0.0))
    return v * root[..., None, :], v


def _psd_sqrt(rho: np.ndarray) -> np.ndarray:
    """Square root of (the positive part of) Hermitian matrices."""
    factor, v = _sqrt_factor(rho)
    return factor @ np.conj(np.swapaxes(v, -1, -2))


def concurrence(rho):
    """Wootters' concurrence, in [0, 1].

    ``C = max(0, l1 - l2 - l3 - l4)`` with ``l_i`` the decreasing square roots of the eigenvalues
    of ``rho (sy x sy) rho* (sy x sy)``, computed as the singular values of ``W^T (sy x sy) W`` for
    ``rho = W W^+`` (no square roots of small eigenvalues, so exact zeros stay zeros).
    """
    return _scalar_or_array(_concurrence_of_factor(_sqrt_factor(_as_states(rho))[0]))


def _concurrence_of_factor(factor: np.ndarray) -> np.ndarray:
    tau = np.swapaxes(factor, -1, -2) @ _SIGMA_Y_Y @ factor
    lam = np.linalg.svd(tau, compute_uv=False)  # decreasing
    return np.clip(lam[..., 0] - lam[..., 1] - lam[..., 2] - lam[..., 3], 0, None)


def partial_transpose(rho) -> np.ndarray:
    """Partial transpose on qubit 2."""
    rho = _as_states(rho)
    shaped = rho.reshape(rho.shape[:-2] + (2, 2, 2, 2))  # (i1, i2, j1, j2)
    return np.swapaxes(shaped, -3, -1).reshape(rho.shape)


def _trace_norm_partial_transpose(rho) -> np.ndarray:
    return np.abs(np.linalg.eigvalsh(_hermitian_part(partial_transpose(rho)))).sum(axis=-1)


def negativity(rho):
    """``(||rho^T2||_1 - 1) / 2``: 0 for PPT states, 0.5 for a Bell state."""
    return _scalar_or_array(_negativity_of_norm(_trace_norm_partial_transpose(rho)))


def log_negativity(rho):
    """``log2 ||rho^T2||_1``: 0 for PPT states, 1 for a Bell state."""
    return _scalar_or_array(_log_negativity_of_norm(_trace_norm_partial_transpose(rho)))


def _negativity_of_norm(norm: np.ndarray) -> np.ndarray:
    return np.clip((norm - 1) / 2, 0, None)


def _log_negativity_of_norm(norm: np.ndarray) -> np.ndarray:
    return np.clip(np.log2(norm), 0, None)


def singlet_fidelity(rho):
    """``<S|rho|S>`` with the singlet ``|S> = (|eg> - |ge>)/sqrt(2)``."""
    rho = _as_states(rho)
    value = 0.5 * (rho[..., GE, GE].real + rho[..., EG, EG].real) - rho[..., EG, GE].real
    return _scalar_or_array(value)


def bell_fidelity(rho):
    """Singlet fidelity maximised over the relative phase phi (a free local Z rotation)."""
    rho = _as_states(rho)
    value = 0.5 * (rho[..., GE, GE].real + rho[..., EG, EG].real) + np.abs(rho[..., EG, GE])
    return _scalar_or_array(value)


def optimal_bell_phase(rho):
    """The phase phi in ``(|eg> - e^{i phi}|ge>)/sqrt(2)`` that maximises the fidelity, in (-pi, pi].

    ``<S_phi|rho|S_phi> = (rho_ge,ge + rho_eg,eg)/2 - Re(e^{i phi} rho_eg,ge)`` is largest for
    ``e^{i phi} rho_eg,ge = -|rho_eg,ge|``, i.e. ``phi = arg(-conj(rho_eg,ge))``.
    """
    rho = _as_states(rho)
    return _scalar_or_array(np.angle(-np.conj(rho[..., EG, GE])))


def purity(rho):
    """``Tr rho^2``."""
    rho = _as_states(rho)
    return _scalar_or_array(np.einsum("...ij,...ji->...", rho, rho).real)


def uhlmann_fidelity(rho, sigma):
    """``(Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2``, in [0, 1].

    Computed as the squared sum of the singular values of ``W_rho^+ W_sigma`` (``rho = W W^+``),
    i.e. the squared trace norm of ``sqrt(rho) sqrt(sigma)``.
    """
    return _scalar_or_array(_fidelity_of_factors(_sqrt_factor(_as_states(rho))[0],
                                                 _sqrt_factor(_as_states(sigma))[0]))


def _fidelity_of_factors(w_rho: np.ndarray, w_sigma: np.ndarray) -> np.ndarray:
    overlap = np.conj(np.swapaxes(w_rho, -1, -2)) @ w_sigma
    return np.linalg.svd(overlap, compute_uv=False).sum(axis=-1) ** 2


def trace_distance(rho, sigma):
    """``||rho - sigma||_1 / 2``, in [0, 1]."""
    rho, sigma = _as_states(rho), _as_states(sigma)
    return _scalar_or_array(0.5 * np.abs(np.linalg.eigvalsh(_hermitian_part(rho - sigma))).sum(axis=-1))


def bell_state(phase: float = 0.0) -> np.ndarray:
    """``|S_phi> = (|eg> - e^{i phi}|ge>)/sqrt(2)`` as a 4x4 density matrix (phase 0: the singlet)."""
    psi = np.zeros(4, dtype=complex)
    psi[EG], psi[GE] = 1 / np.sqrt(2), -np.exp(1j * phase) / np.sqrt(2)
    return np.outer(psi, psi.conj())


#: The figures a twin map and a measurement report, by name.
STATE_FIGURES = {
    "concurrence": concurrence,
    "negativity": negativity,
    "singlet_fidelity": singlet_fidelity,
    "bell_fidelity": bell_fidelity,
    "purity": purity,
}

#: The single-state figures the bootstrap and the twin comparison give intervals for.
ALL_STATE_FIGURES = {
    "concurrence": concurrence,
    "negativity": negativity,
    "log_negativity": log_negativity,
    "singlet_fidelity": singlet_fidelity,
    "bell_fidelity": bell_fidelity,
    "purity": purity,
}


def figures_of_merit(rho, reference=None) -> dict:
    """All single-state figures of ``rho`` (``(..., 4, 4)``), by name; with a ``reference`` state
    also its ``"fidelity"`` (Uhlmann) and ``"trace_distance"`` to that reference.

    The same values as the functions of :data:`ALL_STATE_FIGURES`, :func:`uhlmann_fidelity` and
    :func:`trace_distance` one by one, with the decompositions they share done once (``rho``'s
    square-root factor for the concurrence and the fidelity, the partial transpose's spectrum for
    both negativities): a bootstrap takes them on hundreds of states per point."""
    rho = _as_states(rho)
    factor, _ = _sqrt_factor(rho)
    norm_pt = _trace_norm_partial_transpose(rho)
    out = {
        "concurrence": _scalar_or_array(_concurrence_of_factor(factor)),
        "negativity": _scalar_or_array(_negativity_of_norm(norm_pt)),
        "log_negativity": _scalar_or_array(_log_negativity_of_norm(norm_pt)),
        "singlet_fidelity": singlet_fidelity(rho),
        "bell_fidelity": bell_fidelity(rho),
        "purity": purity(rho),
    }
    if reference is not None:
        out["fidelity"] = _scalar_or_array(_fidelity_of_factors(factor, _sqrt_factor(_as_states(reference))[0]))
        out["trace_distance"] = trace_distance(rho, reference)
    return out
