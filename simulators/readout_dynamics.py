"""The readout as time evolution: the qubits between the steady state and the projection.

A tomography shot is: (freeze: decouple the qubits from the waveguide) -> pre-rotation pulse ->
readout (integration). This module gives the state at the pulse and the map from the pulse to the
projection, unit-free (times in the twin's inverse rate unit, ``gamma1 * t``). Conventions:

* States are 4x4 in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 left). Pre-rotations are taken
  in the filter frame (the drive frames with their oscillators reset at the pulse), ``+X``:
  ``R_y(-pi/2)``, ``-X``: ``R_y(pi/2)``, ``+Y``: ``R_x(pi/2)``, ``-Y``: ``R_x(-pi/2)``, ``+Z``: identity,
  ``-Z``: ``R_x(pi)``, so that bit 0 of a setting is read as ``|g>``.
* **The pulse is instantaneous** (its window's middle is where the lab protocol puts it): before it
  the state evolves for ``t_before``, after it for ``t_after`` up to the projection.
* ``frozen``: the qubits are decoupled from the waveguide and the filter; only their local baths
  act (``gamma_localj``, ``n_qubitj``, ``gamma_phij`` of :class:`LinkParameters`): a generalized
  amplitude damping (rate ``G = g_loc (2 n + 1)`` towards the excited population ``n / (2n + 1)``)
  with coherences decaying at ``G/2 + g_phi``, in closed form (:func:`local_channel`). Its action on
  the Z populations after the pulse is one 2x2 stochastic matrix per qubit
  (:func:`local_decay_matrix`), i.e. an assignment matrix: ``P = (A_j T_j)``-folded readout of the
  state at the pulse.
* not frozen: the qubits stay coupled to the filter and the thermal source. Before the pulse the
  full state is the steady state, which the link leaves unchanged (``t_before`` drops out). After
  it only populations are read, and the Liouvillian conserves the total excitation number on each
  side, so only the excitation-diagonal part of the rotated full state matters: that part is
  evolved exactly with ``expm_multiply`` on the sector generator
  (:func:`~thermalink.simulators.relaxation.sector_generator`), :func:`link_populations`. Cost:
  one sparse LU of the sector plus one ``expm_multiply`` with a column per setting; refused above
  :data:`MAX_READOUT_CUTOFF`.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse.linalg

from .conventions import parse_setting
from .errors import InputError
from .exact_solver import DEFAULT_TOL, fock_cutoff
from .liouvillian_blocks import EXCITATIONS, REAL_PARAMS, present_params
from .link_parameters import LinkParameters
from .propagation_delay import sector_steady_state
from .relaxation import sector_generator

#: Largest Fock cutoff the unfrozen readout takes (one sparse LU of the sector and an
#: ``expm_multiply`` over ``t_after`` times its norm: seconds at a few thousand photons).
MAX_READOUT_CUTOFF = 4000

_SQ = 1 / math.sqrt(2)
_ROTATIONS = {  # bit 0 of the signed basis -> |g>
    (1, "X"): np.array([[1, 1], [-1, 1]]) * _SQ,  # R_y(-pi/2)
    (-1, "X"): np.array([[1, -1], [1, 1]]) * _SQ,  # R_y(pi/2)
    (1, "Y"): np.array([[1, -1j], [-1j, 1]]) * _SQ,  # R_x(pi/2)
    (-1, "Y"): np.array([[1, 1j], [1j, 1]]) * _SQ,  # R_x(-pi/2)
    (1, "Z"): np.eye(2),
    (-1, "Z"): np.array([[0, -1j], [-1j, 0]]),  # R_x(pi)
}


def prerotation(setting: str) -> np.ndarray:
    """The two-qubit pre-rotation ``U1 (x) U2`` (4x4) of a setting label (``"XZ"``, ``"+X-Y"``)."""
    (s1, b1), (s2, b2) = parse_setting(setting)
    return np.kron(_ROTATIONS[(s1, b1)], _ROTATIONS[(s2, b2)]).astype(complex)


def _check_time(name: str, t: float) -> float:
    if not (t >= 0 and math.isfinite(t)):
        raise InputError(f"{name}={t!r} is outside the allowed range [0, inf)")
    return float(t)


def local_decay_matrix(gamma_local: float, n_qubit: float, t: float) -> np.ndarray:
    """2x2 ``T[i, j] = P(qubit in i at t | in j at 0)`` (0 = g, 1 = e) under the local bath alone:
    populations relax at ``G = g_loc (2 n + 1)`` towards ``n / (2 n + 1)``. Identity at ``t = 0``."""
    t = _check_time("t", t)
    if t == 0.0 or gamma_local == 0.0:
        return np.eye(2)
    rate = gamma_local * (2 * n_qubit + 1)
    relaxed = -math.expm1(-rate * t)  # 1 - exp(-G t), accurate for small G t
    p_eq = n_qubit / (2 * n_qubit + 1)
    up, down = p_eq * relaxed, (1 - p_eq) * relaxed
    return np.array([[1 - up, down], [up, 1 - down]])


def local_decay_matrices(p: LinkParameters, t: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`local_decay_matrix` of qubit 1 and qubit 2 (their local baths of ``p``)."""
    return tuple(local_decay_matrix(p.qubit_bath(j).gamma_local, p.qubit_bath(j).n_qubit, t) for j in (1, 2))


def local_channel(rho: np.ndarray, p: LinkParameters, t: float) -> np.ndarray:
    """The two-qubit state after ``t`` under the local baths alone (closed form, per qubit: the
    populations by :func:`local_decay_matrix`, coherences times ``exp(-(G/2 + g_phi) t)``).
    ``rho`` is returned unchanged (the same object) at ``t = 0``."""
    t = _check_time("t", t)
    if t == 0.0:
        return rho
    out = np.asarray(rho, dtype=complex).reshape(2, 2, 2, 2)  # (a1, a2, b1, b2)
    for j in (1, 2):
        bath = p.qubit_bath(j)
        decay = local_decay_matrix(bath.gamma_local, bath.n_qubit, t)
        coherence = math.exp(-(0.5 * bath.gamma_local * (2 * bath.n_qubit + 1) + bath.gamma_phi) * t)
        superop = np.zeros((2, 2, 2, 2), dtype=complex)  # [a', b', a, b]
        for i in (0, 1):
            for k in (0, 1):
                superop[i, i, k, k] = decay[i, k]
        superop[0, 1, 0, 1] = superop[1, 0, 1, 0] = coherence
        if j == 1:
            out = np.einsum("ABab,aybz->AyBz", superop, out)
        else:
            out = np.einsum("ABab,xayb->xAyB", superop, out)
    return out.reshape(4, 4)


def rotated_populations(rho: np.ndarray, settings) -> np.ndarray:
    """``(S, 4)`` Z populations (index ``2 e1 + e2``) of ``rho`` after each setting's pre-rotation."""
    out = []
    for setting in settings:
        u = prerotation(setting)
        out.append(np.einsum("ka,ab,kb->k", u, np.asarray(rho), u.conj()).real)
    return np.array(out)


# ---- the unfrozen readout: exact sector dynamics ---------------------------------------------

def readout_cutoff(p: LinkParameters, tol: float = DEFAULT_TOL, cutoff: int | None = None) -> int:
    """The Fock cutoff of the unfrozen readout; InputError above :data:`MAX_READOUT_CUTOFF`."""
    cutoff = fock_cutoff(p, tol) if cutoff is None else int(cutoff)
    if cutoff > MAX_READOUT_CUTOFF:
        raise InputError(
            f"an unfrozen readout at the filter occupation n_c={p.n_filter:.4g} needs a Fock cutoff of {cutoff} "
            f"(allowed range: up to {MAX_READOUT_CUTOFF}, about n_c <= {MAX_READOUT_CUTOFF / 18.4:.0f} at "
            "tol=1e-8): freeze the qubits before the readout (readout_freeze) or use a colder source"
        )
    if p.delay > 0.0:
        raise InputError(f"delay={p.delay!r} with an unfrozen readout is not covered (allowed: delay=0, or freeze)")
    return cutoff


def _layout(cutoff: int):
    keep = present_params(np.arange(cutoff + 3), cutoff)
    block, param = np.nonzero(keep)
    kind = np.array([REAL_PARAMS[i][0] for i in param])
    a = np.array([REAL_PARAMS[i][1] for i in param])
    b = np.array([REAL_PARAMS[i][2] for i in param])
    return block, kind, a, b


def _to_blocks(x: np.ndarray, cutoff: int) -> np.ndarray:
    """Sector vector (real unknowns) -> complex blocks ``(cutoff + 3, 4, 4)``, Hermitian."""
    block, kind, a, b = _layout(cutoff)
    out = np.zeros((cutoff + 3, 4, 4), dtype=complex)
    d, re, im = kind == "d", kind == "re", kind == "im"
    out[block[d], a[d], a[d]] = x[d]
    out[block[re], a[re], b[re]] += x[re]
    out[block[im], a[im], b[im]] += 1j * x[im]
    upper = np.triu(np.ones((4, 4), dtype=bool), 1)
    out = out + np.conj(np.swapaxes(out, 1, 2)) * upper.T[None]
    return out


def _from_blocks(blocks: np.ndarray, cutoff: int) -> np.ndarray:
    block, kind, a, b = _layout(cutoff)
    values = blocks[block, a, b]
    return np.where(kind == "im", values.imag, values.real)


def _rotate_blocks(blocks: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The excitation-diagonal part of ``(1_filter (x) U) rho (1 (x) U)^+`` from that of ``rho``.

    Element ``(q, q')`` of block ``N`` is ``<N - e(q), q| . |N - e(q'), q'>``; the rotation keeps the
    photon numbers, so it takes input element ``(a, b)`` of block ``N - e(q) + e(a)`` whenever
    ``e(b) - e(a) = e(q') - e(q)`` (the input's photon difference must match).
    """
    n = blocks.shape[0]
    out = np.zeros_like(blocks)
    e = EXCITATIONS
    for q in range(4):
        for qq in range(4):
            for a in range(4):
                shift = e[a] - e[q]
                for b in range(4):
                    if e[b] - e[a] != e[qq] - e[q]:
                        continue
                    coef = u[q, a] * np.conj(u[qq, b])
                    if coef == 0:
                        continue
                    lo, hi = max(0, -shift), min(n, n - shift)
                    out[lo:hi, q, qq] += coef * blocks[lo + shift:hi + shift, a, b]
    return out


def _populations(x: np.ndarray, cutoff: int) -> np.ndarray:
    """``(..., 4)`` qubit Z populations (filter traced out) of sector vectors ``x`` (columns last)."""
    _, kind, a, _ = _layout(cutoff)
    d = kind == "d"
    pops = np.zeros((4,) + x.shape[1:])
    np.add.at(pops, a[d], x[d])
    pops = np.moveaxis(pops, 0, -1)
    return pops / pops.sum(axis=-1, keepdims=True)


def link_populations(p: LinkParameters, settings, t_after: float, tol: float = DEFAULT_TOL,
                     cutoff: int | None = None, steady: np.ndarray | None = None) -> np.ndarray:
    """``(S, 4)`` Z populations at the projection, unfrozen: the full steady state, each setting's
    pre-rotation (instantaneous), then ``t_after`` under the link (exact sector dynamics).
    ``steady``: the sector's steady state (``sector_steady_state(p, cutoff)``, the same ``cutoff``)
    if already solved."""
    t_after = _check_time("t_after", t_after)
    cutoff = readout_cutoff(p, tol, cutoff)
    if steady is None:
        steady = sector_steady_state(p, cutoff)
    blocks = _to_blocks(steady, cutoff)
    x = np.stack([_from_blocks(_rotate_blocks(blocks, prerotation(s)), cutoff) for s in settings], axis=1)
    if t_after > 0.0:
        x = scipy.sparse.linalg.expm_multiply(t_after * sector_generator(p, cutoff), x)
    return _populations(x, cutoff)


def link_basis_decay(p: LinkParameters, t_after: float, tol: float = DEFAULT_TOL,
                     cutoff: int | None = None) -> np.ndarray:
    """4x4 ``D[k, j]``: Z populations ``k`` at the projection of basis state ``j`` (``2 e1 + e2``)
    prepared at the pulse, unfrozen: the prepared state times the filter's thermal marginal
    (uncorrelated, an ideal preparation), then ``t_after`` under the link."""
    t_after = _check_time("t_after", t_after)
    if t_after == 0.0:
        return np.eye(4)
    cutoff = readout_cutoff(p, tol, cutoff)
    n_c = p.n_filter
    m = np.arange(cutoff + 1)
    thermal = (n_c / (n_c + 1)) ** m if n_c > 0 else (m == 0).astype(float)
    thermal = thermal / thermal.sum()
    columns = []
    for j in range(4):
        blocks = np.zeros((cutoff + 3, 4, 4), dtype=complex)
        blocks[m + EXCITATIONS[j], j, j] = thermal
        columns.append(_from_blocks(blocks, cutoff))
    x = scipy.sparse.linalg.expm_multiply(t_after * sector_generator(p, cutoff), np.stack(columns, axis=1))
    return _populations(x, cutoff).T
