"""Vectorised sampling of two-qubit tomography counts from a density matrix.

Convention (thermalink tomography): a setting ``"PQ"`` measures qubit 1 in basis P and qubit 2 in
basis Q; bit 0 is the +1 eigenstate of the Pauli operator (for Z: |g>); outcomes are ordered
``"00", "01", "10", "11"`` (qubit 1's bit first, index ``2 b1 + b2``). Readout errors act per
qubit through ``A[i, j] = P(read i | state j)``. Every shot is independent, so the counts of a
setting are multinomial in the readout-distorted Born probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_PAULI = {
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
_BASES = "XYZ"
_EYE = np.eye(2, dtype=complex)
# _PROJECTORS[p, b] = (1 + (-1)^b P) / 2
_PROJECTORS = np.array([[(_EYE + (-1) ** b * _PAULI[p]) / 2 for b in (0, 1)] for p in _BASES])
# _TWO_QUBIT[p1, p2, 2 b1 + b2] = kron(Pi_b1^p1, Pi_b2^p2), shape (3, 3, 4, 4, 4)
_TWO_QUBIT = np.einsum("abij,cdkl->acbdikjl", _PROJECTORS, _PROJECTORS).reshape(3, 3, 4, 4, 4)


def _setting_indices(settings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    try:
        first = np.array([_BASES.index(s[0]) for s in settings])
        second = np.array([_BASES.index(s[1]) for s in settings])
    except (ValueError, IndexError, TypeError):
        raise ValueError(f"settings={list(settings)!r} must be two-letter strings over X, Y, Z") from None
    return first, second


def outcome_probabilities(rho: np.ndarray, settings: Sequence[str]) -> np.ndarray:
    """Born probabilities ``(len(settings), 4)`` of the ideal measurement of ``rho`` (4x4)."""
    rho = np.asarray(rho, dtype=complex)
    if rho.shape != (4, 4):
        raise ValueError(f"rho has shape {rho.shape}; expected (4, 4) in the basis gg, ge, eg, ee")
    first, second = _setting_indices(settings)
    projectors = _TWO_QUBIT[first, second]  # (n, 4 outcomes, 4, 4)
    probabilities = np.einsum("soij,ji->so", projectors, rho).real
    probabilities = np.clip(probabilities, 0.0, None)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def readout_probabilities(
    rho: np.ndarray, settings: Sequence[str], assignment: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Probabilities of the *read* outcomes: Born rule, then the assignment matrices."""
    probabilities = outcome_probabilities(rho, settings)
    if assignment is not None:
        confusion = np.kron(np.asarray(assignment[0]), np.asarray(assignment[1]))
        probabilities = probabilities @ confusion.T
    return probabilities


def sample_counts(
    rho: np.ndarray,
    settings: Sequence[str],
    shots: int,
    rng: np.random.Generator,
    assignment: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Counts ``(len(settings), 4)`` int64: ``shots`` independent single shots per setting."""
    probabilities = readout_probabilities(rho, settings, assignment)
    return rng.multinomial(int(shots), probabilities).astype(np.int64)
