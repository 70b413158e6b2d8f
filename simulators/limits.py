"""Closed-form and semi-analytic limits of the twin (physics.md, "Known limits").

* ``adiabatic_steady_state``: ``kappa -> 0`` at fixed ``kappa_out * n_c``: the phase average, over a
  thermal field ``|alpha|^2 = n_c u`` with ``u ~ Exp(1)``, of the qubits' steady state under the
  coherent drive ``sqrt(kappa_out) alpha`` (for the symmetric resonant link this is physics.md's
  closed form ``|gg><gg| + s u |S><S|``).
* ``markov_steady_state``: ``kappa >> gamma``: each qubit thermalises to the filtered noise it sees,
  occupation ``kappa_in kappa_out N_h / (kappa^2/4 + delta_j^2)`` (times ``transmission`` for qubit
  2); the qubits are uncorrelated. Defined for ``gamma_local = 0`` only.
* ``driven_steady_state``: the filter replaced by a coherent amplitude (the dark-state limit).

The adiabatic and Markov limits are those of the chiral link: refused with ``backward_fraction > 0``.

States are 4x4 complex in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 left); rates unit-free.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError
from .liouvillian_blocks import EXCITATIONS
from .link_parameters import LinkParameters


def _driven_liouvillian(p: LinkParameters, alpha: np.ndarray) -> np.ndarray:
    """Qubit Liouvillians (row-major vec) with the filter replaced by real amplitudes ``alpha``."""
    g = np.array([[0, 1], [0, 0]], dtype=complex)  # |g><e| in basis (g, e)
    eye2 = np.eye(2)
    s1, s2 = np.kron(g, eye2), np.kron(eye2, g)
    eye = np.eye(4)
    n1, n2 = s1.T @ s1, s2.T @ s2
    sz1, sz2 = 2 * n1 - eye, 2 * n2 - eye
    eta, ko = p.transmission, p.kappa_out
    a1, a2 = np.sqrt(p.gamma1) * s1, np.sqrt(p.gamma2) * s2
    alpha = np.asarray(alpha, dtype=float)[:, None, None]
    a0 = np.sqrt(ko) * alpha * eye  # (n, 4, 4)
    field = a0 + a1
    dag = lambda op: np.conj(np.swapaxes(op, -1, -2))  # noqa: E731
    h = p.delta1 * n1 + p.delta2 * n2 + 0.5j * (dag(a0) @ a1 - a1.T @ a0)
    h = h + 0.5j * np.sqrt(eta) * (dag(field) @ a2 - a2.T @ field)
    jumps = [np.sqrt(eta) * field + a2, np.sqrt(1 - eta) * field]
    for j, s, sz in ((1, s1, sz1), (2, s2, sz2)):
        bath = p.qubit_bath(j)
        jumps.append(np.broadcast_to(np.sqrt(bath.gamma_local * (bath.n_qubit + 1)) * s, field.shape))
        jumps.append(np.broadcast_to(np.sqrt(bath.gamma_local * bath.n_qubit) * s.T, field.shape))
        jumps.append(np.broadcast_to(np.sqrt(bath.gamma_phi / 2) * sz, field.shape))
    kron = lambda a, b: np.einsum("nij,nkl->nikjl", a, b).reshape(a.shape[0], 16, 16)  # noqa: E731
    ident = np.broadcast_to(eye, field.shape)
    no_jump = -1j * h - 0.5 * sum(dag(j) @ j for j in jumps)
    out = kron(no_jump, ident) + kron(ident, np.conj(no_jump))
    for j in jumps:
        out = out + kron(j, np.conj(j))
    return out


def driven_steady_state(p: LinkParameters, alpha) -> np.ndarray:
    """Qubit steady states ``(n, 4, 4)`` under a coherent filter amplitude ``alpha`` (real, n values)."""
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    lindblad = _driven_liouvillian(p, alpha)
    lindblad[:, 0, :] = np.eye(4).reshape(16)  # replace one equation by the trace
    rhs = np.zeros((len(alpha), 16), dtype=complex)
    rhs[:, 0] = 1.0
    vec = np.linalg.solve(lindblad, rhs[..., None])[..., 0]
    rho = vec.reshape(-1, 4, 4)
    return (rho + np.conj(np.swapaxes(rho, -1, -2))) / 2


_EXCITATION_DIAGONAL = EXCITATIONS[:, None] == EXCITATIONS[None, :]


def _chiral_only(p: LinkParameters, method: str) -> None:
    if p.delay != 0.0:
        raise InputError(f"method={method!r} has no propagation delay (allowed: delay=0), got delay={p.delay}")
    if not p.is_chiral:
        raise InputError(
            f"method={method!r} is a limit of the chiral link (allowed: backward_fraction=0), got "
            f"backward_fraction={p.backward_fraction}: the qubits' back-action on the filter is not in it; "
            "use method='exact'"
        )


def adiabatic_steady_state(p: LinkParameters) -> np.ndarray:
    """Phase average of the coherently driven steady state over a thermal filter field."""
    _chiral_only(p, "adiabatic")
    n_c = p.n_filter
    if n_c == 0.0:
        return driven_steady_state(p, [0.0])[0]

    def integrand(u: float) -> np.ndarray:
        return np.exp(-u) * driven_steady_state(p, [math.sqrt(n_c * u)])[0].reshape(16)

    # The integrand varies on the scale where the drive saturates the qubits, which can be far
    # below u = 1 for a strong source: split the range at every decade.
    edges = [0.0, *np.logspace(-6, 1, 8), 50.0, math.inf]
    total = np.zeros(16, dtype=complex)
    import scipy.integrate  # here, not at import: it brings scipy.optimize (~0.1 s)

    for a, b in zip(edges[:-1], edges[1:]):
        value, _ = scipy.integrate.quad_vec(integrand, a, b, epsabs=1e-14, epsrel=1e-12)
        total += value
    rho = total.reshape(4, 4) * _EXCITATION_DIAGONAL
    return rho / np.trace(rho).real


def filtered_noise_occupation(p: LinkParameters, detuning: float) -> float:
    """Thermal photon flux per unit bandwidth of the filter output at ``detuning`` from its centre."""
    return p.kappa_in * p.kappa_out * p.n_source / (p.kappa**2 / 4 + detuning**2)


def markov_steady_state(p: LinkParameters) -> np.ndarray:
    """Broadband limit: product of the qubits' thermal states (no correlations).

    Stated for the waveguide-only link (``gamma_local = 0``): with a local bath, qubit 1 re-emits
    light that is no longer at the waveguide's temperature and the qubits become correlated, so
    this limit is refused there (use the exact solver at large ``kappa``).
    """
    _chiral_only(p, "markov")
    if p.has_local_decay:
        local = (p.qubit_bath(1).gamma_local, p.qubit_bath(2).gamma_local)
        raise InputError(
            f"method='markov' needs gamma_local=0 for both qubits (allowed range [0, 0]), got "
            f"gamma_local1, gamma_local2 = {local}"
        )
    occupations = (
        filtered_noise_occupation(p, p.delta1),
        p.transmission * filtered_noise_occupation(p, p.delta2),
    )
    single = []
    for n in occupations:
        excited = n / (2 * n + 1)
        single.append(np.diag([1 - excited, excited]))
    return np.kron(single[0], single[1]).astype(complex)
