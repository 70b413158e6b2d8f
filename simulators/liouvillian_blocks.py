"""The master equation of physics.md, restricted to its excitation-diagonal sector, as blocks.

Every term conserves the total excitation number ``N = m + e1 + e2`` (``m`` filter photons) on each
side of ``rho``, and the steady state lives where ket and bra carry the same ``N``. Block ``N`` of
that sector is the matrix ``rho_N`` on the (at most) four states

    q = 0: (m = N,     |gg>)     q = 1: (m = N - 1, |ge>)
    q = 2: (m = N - 1, |eg>)     q = 3: (m = N - 2, |ee>)

with the filter Fock space cut at ``m <= cutoff`` (operators truncated consistently, so the cut
model is itself a valid Lindbladian). A Hermitian ``rho_N`` is stored as 16 real numbers (see
:data:`REAL_PARAMS`), and the master equation becomes, for every ``N``,

    d x_N / dt = D_N x_N + U_N x_{N+1} + R_N x_{N-1}

with real 16x16 blocks: ``D_N`` (Hamiltonian, no-jump decay, dephasing), ``U_N`` (jumps that remove
an excitation) and ``R_N`` (jumps that add one). Entries that refer to states absent from a block
(``m < 0`` or ``m > cutoff``) are pinned to zero by identity rows in ``D_N``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .link_parameters import LinkParameters

#: Excitations, qubit-1 and qubit-2 excitation of the local states q = gg, ge, eg, ee.
EXCITATIONS = np.array([0, 1, 1, 2])
QUBIT1_EXCITED = np.array([0, 0, 1, 1])
QUBIT2_EXCITED = np.array([0, 1, 0, 1])

#: Real parametrisation of a Hermitian 4x4 block: (kind, a, b) with kind "d" (diagonal a == b),
#: "re" or "im" (real or imaginary part of element (a, b), a < b).
REAL_PARAMS: list[tuple[str, int, int]] = [("d", a, a) for a in range(4)] + [
    (kind, a, b) for a in range(4) for b in range(a + 1, 4) for kind in ("re", "im")
]
BLOCK_SIZE = 16


def _real_transforms() -> tuple[np.ndarray, np.ndarray]:
    """``T`` (complex row-major vec <- real params) and ``P`` (real params <- vec)."""
    to_vec = np.zeros((16, 16), dtype=complex)
    from_vec = np.zeros((16, 16), dtype=complex)
    for p, (kind, a, b) in enumerate(REAL_PARAMS):
        ab, ba = 4 * a + b, 4 * b + a
        if kind == "d":
            to_vec[ab, p] = 1
            from_vec[p, ab] = 1
        elif kind == "re":
            to_vec[ab, p], to_vec[ba, p] = 1, 1
            from_vec[p, ab], from_vec[p, ba] = 0.5, 0.5
        else:
            to_vec[ab, p], to_vec[ba, p] = 1j, -1j
            from_vec[p, ab], from_vec[p, ba] = -0.5j, 0.5j
    return to_vec, from_vec


_TO_VEC, _FROM_VEC = _real_transforms()
_PARAM_A = np.array([a for _, a, _ in REAL_PARAMS])
_PARAM_B = np.array([b for _, _, b in REAL_PARAMS])


def present_states(blocks: np.ndarray, cutoff: int) -> np.ndarray:
    """Boolean ``(len(blocks), 4)``: which local states exist in each block."""
    m = np.asarray(blocks)[:, None] - EXCITATIONS[None, :]
    return (m >= 0) & (m <= cutoff)


def present_params(blocks: np.ndarray, cutoff: int) -> np.ndarray:
    """Boolean ``(len(blocks), 16)``: which real parameters of each block are unknowns."""
    present = present_states(blocks, cutoff)
    return present[:, _PARAM_A] & present[:, _PARAM_B]


def lowering_operators(blocks: np.ndarray, cutoff: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``c``, ``s1``, ``s2`` as maps from block N to block N - 1, each ``(len(blocks), 4, 4)``.

    Raising operators are their transposes: ``c^+`` from block ``N - 1`` to ``N`` is ``c[N].T``.
    """
    blocks = np.asarray(blocks)
    n = len(blocks)
    m = blocks[:, None] - EXCITATIONS[None, :]
    present = (m >= 0) & (m <= cutoff)
    c = np.zeros((n, 4, 4))
    s1 = np.zeros((n, 4, 4))
    s2 = np.zeros((n, 4, 4))
    q = np.arange(4)
    c[:, q, q] = np.where(present & (m >= 1), np.sqrt(np.clip(m, 0, None)), 0.0)
    s1[:, 0, 2], s1[:, 1, 3] = present[:, 2], present[:, 3]
    s2[:, 0, 1], s2[:, 2, 3] = present[:, 1], present[:, 3]
    return c, s1, s2


@dataclass(frozen=True)
class JumpRates:
    """Amplitudes of the jump operators as combinations ``x_c c + x_1 s1 + x_2 s2``."""

    lowering: tuple[tuple[float, float, float], ...]
    raising: tuple[tuple[float, float, float], ...]  # combinations of c^+, s1^+, s2^+


def jump_rates(p: LinkParameters) -> JumpRates:
    eta, ko, g1, g2 = p.transmission, p.kappa_out, p.gamma1, p.gamma2
    down_loc = np.sqrt(p.gamma_local * (p.n_qubit + 1))
    up_loc = np.sqrt(p.gamma_local * p.n_qubit)
    lowering = (
        (np.sqrt(eta * ko), np.sqrt(eta * g1), np.sqrt(g2)),  # sqrt(eta) A + a2
        (np.sqrt((1 - eta) * ko), np.sqrt((1 - eta) * g1), 0.0),  # sqrt(1 - eta) A
        (np.sqrt(p.kappa_in * (p.n_source + 1)), 0.0, 0.0),  # hot port, emission
        (0.0, down_loc, 0.0),
        (0.0, 0.0, down_loc),
    )
    raising = (
        (np.sqrt(p.kappa_in * p.n_source), 0.0, 0.0),  # hot port, absorption
        (0.0, up_loc, 0.0),
        (0.0, 0.0, up_loc),
    )
    keep = lambda ops: tuple(op for op in ops if any(x != 0.0 for x in op))  # noqa: E731
    return JumpRates(keep(lowering), keep(raising))


def _combine(ops: tuple[np.ndarray, np.ndarray, np.ndarray], coef) -> np.ndarray:
    return coef[0] * ops[0] + coef[1] * ops[1] + coef[2] * ops[2]


def _kron(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched Kronecker product of ``(n, 4, 4)`` stacks -> ``(n, 16, 16)``."""
    return (a[:, :, None, :, None] * b[:, None, :, None, :]).reshape(a.shape[0], 16, 16)


def _to_real(superop: np.ndarray) -> np.ndarray:
    """``Re(P S T)``: a stack of superoperators on row-major vecs, in the real parametrisation."""
    return (_FROM_VEC @ superop @ _TO_VEC).real


def _assemble(p: LinkParameters, here, above):
    """Real blocks from the lowering operators of block N (``here``) and N + 1 (``above``)."""
    rates = jump_rates(p)
    c, s1, s2 = here

    # Hamiltonian (rotating at the filter centre) within block N.
    cascade = np.sqrt(p.kappa_out * p.gamma1) * np.swapaxes(c, 1, 2) @ s1
    a_field = np.sqrt(p.kappa_out) * c + np.sqrt(p.gamma1) * s1
    cascade = cascade + np.sqrt(p.transmission * p.gamma2) * np.swapaxes(a_field, 1, 2) @ s2
    hamiltonian = 0.5j * (cascade - np.swapaxes(cascade, 1, 2))
    detuning = p.delta1 * QUBIT1_EXCITED + p.delta2 * QUBIT2_EXCITED
    hamiltonian = hamiltonian + np.diag(detuning)[None].astype(complex)

    # No-jump generator K = -iH - (1/2) sum L^+ L, and the jump superoperators.
    n = c.shape[0]
    decay = np.zeros(hamiltonian.shape)
    jumps_in_from_above = np.zeros((n, 16, 16))
    for coef in rates.lowering:
        low_here, low_above = _combine(here, coef), _combine(above, coef)
        decay += np.swapaxes(low_here, 1, 2) @ low_here
        jumps_in_from_above += _kron(low_above, low_above)
    jumps_in_from_below = np.zeros((n, 16, 16))
    for coef in rates.raising:
        up_to_above = np.swapaxes(_combine(above, coef), 1, 2)  # block N -> N + 1
        decay += np.swapaxes(up_to_above, 1, 2) @ up_to_above
        up_from_below = np.swapaxes(_combine(here, coef), 1, 2)  # block N - 1 -> N
        jumps_in_from_below += _kron(up_from_below, up_from_below)
    no_jump = -1j * hamiltonian - 0.5 * (decay + p.gamma_phi * np.eye(4))
    identity = np.broadcast_to(np.eye(4), no_jump.shape)
    diagonal = _kron(no_jump, identity) + _kron(identity, np.conj(no_jump))
    for excited in (QUBIT1_EXCITED, QUBIT2_EXCITED):
        sz = np.broadcast_to(np.diag(2.0 * excited - 1.0), no_jump.shape)
        diagonal = diagonal + 0.5 * p.gamma_phi * _kron(sz, sz)
    return _to_real(diagonal), _to_real(jumps_in_from_above), _to_real(jumps_in_from_below)


#: Interior blocks depend on N only through the photon amplitudes v = sqrt(N + 1 - k), k = 0..3:
#: block N's states (gg, ge, eg, ee) carry sqrt(m) = v1, v2, v2, v3, block N + 1's v0, v1, v1, v2.
_AMPLITUDE_OF_STATE_HERE = np.array([1, 2, 2, 3])
_AMPLITUDE_OF_STATE_ABOVE = np.array([0, 1, 1, 2])
_N_AMPLITUDES = 4
_PAIRS = [(i, j) for i in range(_N_AMPLITUDES) for j in range(i + 1, _N_AMPLITUDES)]


@lru_cache(maxsize=32)
def _interior_polynomial(p: LinkParameters) -> np.ndarray:
    """Coefficients ``(n_monomials, 3 * 256)`` of the interior blocks as polynomials in ``v``.

    Away from the edges of the truncated space, a block depends on N only through the photon
    amplitudes in ``c``, and at most quadratically. Evaluating the assembly at ``v = 0, e_i,
    2 e_i, e_i + e_j`` recovers the polynomial exactly (checked against direct assembly in tests).
    """
    eye = np.eye(_N_AMPLITUDES)
    v = np.array([np.zeros(_N_AMPLITUDES), *eye, *(2 * eye), *(eye[i] + eye[j] for i, j in _PAIRS)])
    _, s1, s2 = lowering_operators(np.full(len(v), 3), 3)  # all four states present
    diagonal_op = lambda amplitudes: amplitudes[:, :, None] * np.eye(4)[None]  # noqa: E731
    here = (diagonal_op(v[:, _AMPLITUDE_OF_STATE_HERE]), s1, s2)
    above = (diagonal_op(v[:, _AMPLITUDE_OF_STATE_ABOVE]), s1, s2)
    values = np.concatenate([m.reshape(len(v), -1) for m in _assemble(p, here, above)], axis=1)
    k = _N_AMPLITUDES
    constant = values[0]
    single, double = values[1 : 1 + k], values[1 + k : 1 + 2 * k]
    square = (double - 2 * single + constant) / 2
    linear = single - constant - square
    cross = [values[1 + 2 * k + n] - constant - linear[i] - linear[j] - square[i] - square[j]
             for n, (i, j) in enumerate(_PAIRS)]
    return np.concatenate([constant[None], linear, square, np.array(cross)])


def _monomials(v: np.ndarray) -> np.ndarray:
    """``[1, v_i, v_i^2, v_i v_j (i < j)]`` for each row of ``v``, matching the polynomial order."""
    i, j = np.array(_PAIRS).T
    return np.concatenate([np.ones((len(v), 1)), v, v**2, v[:, i] * v[:, j]], axis=1)


@lru_cache(maxsize=32)
def _interior_polynomial_of(p: LinkParameters, params: tuple[int, ...]) -> np.ndarray:
    """:func:`_interior_polynomial` restricted to the rows and columns ``params`` of every block."""
    k = len(_interior_polynomial(p))
    index = np.asarray(params)
    full = _interior_polynomial(p).reshape(k, 3, 16, 16)
    return np.ascontiguousarray(full[:, :, index][:, :, :, index].reshape(k, -1))


@lru_cache(maxsize=32)
def _nonzero_interior_polynomial(p: LinkParameters, params: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The block entries that are not identically zero, and their polynomial coefficients.

    Most entries of the three blocks vanish for every ``N`` (about 70 % without detunings), so only
    the others are evaluated.
    """
    polynomial = _interior_polynomial_of(p, params)
    columns = np.nonzero(np.any(polynomial != 0.0, axis=0))[0]
    return columns, np.ascontiguousarray(polynomial[:, columns])


def sector_blocks(p: LinkParameters, blocks: np.ndarray, cutoff: int, params=None):
    """Real blocks ``(D_N, U_N, R_N)`` for the block numbers ``blocks``, each ``(n, k, k)``.

    ``params`` (default: all 16) selects the real parameters kept in every block, in the order of
    :data:`REAL_PARAMS`. The three stacks are views into one ``(n, 3, k, k)`` array.
    """
    blocks = np.asarray(blocks, dtype=int)
    params = tuple(range(BLOCK_SIZE)) if params is None else tuple(int(i) for i in params)
    index = np.asarray(params)
    # Every block through the interior polynomial (one matrix product), then the few edge blocks,
    # where states are missing, overwritten by direct assembly.
    v = np.sqrt(np.clip(blocks[:, None] + 1 - np.arange(_N_AMPLITUDES)[None, :], 0, None).astype(float))
    columns, coefficients = _nonzero_interior_polynomial(p, params)
    values = np.zeros((len(blocks), 3 * len(params) ** 2))
    values[:, columns] = _monomials(v) @ coefficients
    values = values.reshape(len(blocks), 3, len(params), len(params))
    edge = ~((blocks >= 2) & (blocks <= cutoff - 1))  # some state of the block is missing
    if edge.any():
        parts = _assemble(p, lowering_operators(blocks[edge], cutoff), lowering_operators(blocks[edge] + 1, cutoff))
        absent = ~present_params(blocks[edge], cutoff)
        rows_n, rows_p = np.nonzero(absent)
        parts[0][rows_n, rows_p, :] = 0.0
        parts[0][rows_n, rows_p, rows_p] = 1.0
        parts[1][rows_n, rows_p, :] = 0.0
        parts[2][rows_n, rows_p, :] = 0.0
        values[edge] = np.stack(parts, axis=1)[:, :, index][:, :, :, index]
    return values[:, 0], values[:, 1], values[:, 2]
