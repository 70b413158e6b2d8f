"""Brute-force construction of the physics.md master equation in the full Fock space (QuTiP).

Test-only: the obviously correct, slow reference the block solver is checked against. Operator
order in the tensor product: filter mode, qubit 1, qubit 2; |g> = basis(2, 0).
"""

from __future__ import annotations

import numpy as np
import qutip

from thermalink.simulators import LinkParameters


def operators(cutoff: int):
    c = qutip.tensor(qutip.destroy(cutoff + 1), qutip.qeye(2), qutip.qeye(2))
    lower = qutip.basis(2, 0) * qutip.basis(2, 1).dag()  # |g><e|
    s1 = qutip.tensor(qutip.qeye(cutoff + 1), lower, qutip.qeye(2))
    s2 = qutip.tensor(qutip.qeye(cutoff + 1), qutip.qeye(2), lower)
    return c, s1, s2


def _cascade(ports, segments):
    """Hamiltonian and jumps of one waveguide direction: ``ports`` (emission operators, upstream
    first) joined by segments of complex amplitude ``segments[k]`` (transmission and phase)."""
    field, h, jumps = ports[0], 0, []
    for port, amplitude in zip(ports[1:], segments):
        if abs(amplitude) < 1:
            jumps.append(np.sqrt(1 - abs(amplitude) ** 2) * field)
        field = amplitude * field
        h += 0.5j * (field.dag() * port - port.dag() * field)
        field = field + port
    return h, [field, *jumps]


def liouvillian(
    p: LinkParameters,
    cutoff: int,
    filter_loss: tuple[float, float] | None = None,
    propagation_phases: tuple[float, float] = (0.0, 0.0),
) -> qutip.Qobj:
    """``filter_loss = (kappa_int, n_int)``: an explicit internal-loss port of the filter, taken out
    of the waveguide's share (``kappa_out = kappa - kappa_in - kappa_int``).

    Finite directionality written out in the lab frame: every element emits ``backward_fraction``
    of its waveguide decay backwards; ``propagation_phases = (k d01, k d12)`` are the one-way
    phases filter -> qubit 1 and qubit 1 -> qubit 2, applied to both directions (no gauge).
    """
    c, s1, s2 = operators(cutoff)
    kappa_int, n_int = filter_loss if filter_loss is not None else (0.0, 0.0)
    beta = p.backward_fraction
    rates = (p.kappa_out - kappa_int, p.gamma1, p.gamma2)
    eta = p.transmission
    phase01, phase12 = (np.exp(1j * phi) for phi in propagation_phases)
    forward = [np.sqrt((1 - beta) * rate) * op for rate, op in zip(rates, (c, s1, s2))]
    h_forward, jumps_forward = _cascade(forward, [phase01, np.sqrt(eta) * phase12])
    h = p.delta1 * s1.dag() * s1 + p.delta2 * s2.dag() * s2 + h_forward
    jumps = [
        np.sqrt(p.kappa_in * (p.n_source + 1)) * c,
        np.sqrt(p.kappa_in * p.n_source) * c.dag(),
        *jumps_forward,
        np.sqrt(kappa_int * (n_int + 1)) * c,
        np.sqrt(kappa_int * n_int) * c.dag(),
    ]
    if beta > 0:
        backward = [np.sqrt(beta * rate) * op for rate, op in zip(rates, (c, s1, s2))]
        h_backward, jumps_backward = _cascade(backward[::-1], [np.sqrt(eta) * phase12, phase01])
        h += h_backward
        jumps += jumps_backward
    return qutip.liouvillian(h, jumps + _local_jumps(p, s1, s2))


def _local_jumps(p: LinkParameters, s1, s2) -> list:
    jumps = []
    for j, s in ((1, s1), (2, s2)):
        sz = 2 * s.dag() * s - 1
        gamma_local, n_qubit, gamma_phi = p.qubit_bath(j)
        jumps += [
            np.sqrt(gamma_local * (n_qubit + 1)) * s,
            np.sqrt(gamma_local * n_qubit) * s.dag(),
            np.sqrt(gamma_phi / 2) * sz,
        ]
    return jumps


def physics_md_liouvillian(p: LinkParameters, cutoff: int) -> qutip.Qobj:
    """physics.md's master equation written literally (chiral link only): checks :func:`liouvillian`."""
    c, s1, s2 = operators(cutoff)
    a0, a1, a2 = np.sqrt(p.kappa_out) * c, np.sqrt(p.gamma1) * s1, np.sqrt(p.gamma2) * s2
    field = a0 + a1
    eta = p.transmission
    h = p.delta1 * s1.dag() * s1 + p.delta2 * s2.dag() * s2
    h += 0.5j * (a0.dag() * a1 - a1.dag() * a0)
    h += 0.5j * np.sqrt(eta) * (field.dag() * a2 - a2.dag() * field)
    jumps = [
        np.sqrt(p.kappa_in * (p.n_source + 1)) * c,
        np.sqrt(p.kappa_in * p.n_source) * c.dag(),
        np.sqrt(eta) * field + a2,
        np.sqrt(1 - eta) * field,
    ]
    return qutip.liouvillian(h, jumps + _local_jumps(p, s1, s2))


def qubit_steady_state(p: LinkParameters, cutoff: int, **options) -> np.ndarray:
    """4x4 reduced state of the qubits, basis gg, ge, eg, ee (``options`` go to :func:`liouvillian`)."""
    rho = qutip.steadystate(liouvillian(p, cutoff, **options), method="direct")
    return rho.ptrace([1, 2]).full()


def filter_distribution(p: LinkParameters, cutoff: int) -> np.ndarray:
    rho = qutip.steadystate(liouvillian(p, cutoff), method="direct")
    return np.real(np.diag(rho.ptrace(0).full()))


def delay_line_qubit_state(p: LinkParameters, cutoff: int, modes: int, mode_cutoff: int) -> np.ndarray:
    """Qubit state with the delay ``p.delay`` written out as a delay line (chiral link only).

    The line between qubit 1 and qubit 2 is a chain of ``modes`` cascaded lossless one-sided modes
    (each an all-pass filter: transmission ``-(k/2 + i w)/(k/2 - i w)``, group delay ``4/k``), with
    ``k = 4 modes / delay``; it tends to a pure delay (times ``(-1)^modes``) as ``modes`` grows.
    Operator order: filter, qubit 1, the line's modes, qubit 2.
    """
    dims = [cutoff + 1, 2] + [mode_cutoff + 1] * modes + [2]
    eye = [qutip.qeye(d) for d in dims]
    lower = qutip.basis(2, 0) * qutip.basis(2, 1).dag()

    def at(position, op):
        factors = list(eye)
        factors[position] = op
        return qutip.tensor(*factors)

    c, s1, s2 = at(0, qutip.destroy(cutoff + 1)), at(1, lower), at(len(dims) - 1, lower)
    line = [at(2 + k, qutip.destroy(mode_cutoff + 1)) for k in range(modes)]
    rate = 4 * modes / p.delay
    ports = [np.sqrt(p.kappa_out) * c, np.sqrt(p.gamma1) * s1, *(np.sqrt(rate) * d for d in line),
             np.sqrt(p.gamma2) * s2]
    segments = [1.0] * (len(ports) - 2) + [np.sqrt(p.transmission)]
    h, jumps = _cascade(ports, segments)
    h += p.delta1 * s1.dag() * s1 + p.delta2 * s2.dag() * s2
    jumps += [np.sqrt(p.kappa_in * (p.n_source + 1)) * c, np.sqrt(p.kappa_in * p.n_source) * c.dag()]
    jumps += _local_jumps(p, s1, s2)
    number = c.dag() * c + s1.dag() * s1 + s2.dag() * s2 + sum(d.dag() * d for d in line)
    excitations = np.rint(np.real(number.diag())).astype(int)
    rho = _excitation_sector_steady_state(qutip.liouvillian(h, jumps), excitations, dims)
    return rho.ptrace([1, len(dims) - 1]).full()


def _excitation_sector_steady_state(lindblad: qutip.Qobj, excitations: np.ndarray, dims) -> qutip.Qobj:
    """Steady state of ``lindblad`` solved on the entries ``rho[i, j]`` with equal excitation number
    (where it lives when every term conserves the number, checked here), so that larger delay lines
    stay quick; the generator itself is the full-space one."""
    n = len(excitations)
    matrix = lindblad.data.as_scipy().tocsr()
    rows, cols = np.divmod(np.arange(n * n), n)  # column-stacked vec: index = i + j n
    i, j = cols, rows
    inside = excitations[i] == excitations[j]
    leak = matrix[~inside][:, inside]
    assert abs(leak).max() < 1e-12 if leak.nnz else True  # the sector is invariant
    sector = matrix[inside][:, inside].toarray()  # a few thousand unknowns: dense LU is quickest
    sector[0, :] = (i == j)[inside]
    rhs = np.zeros(sector.shape[0], dtype=complex)
    rhs[0] = 1.0
    x = np.linalg.solve(sector, rhs)
    vec = np.zeros(n * n, dtype=complex)
    vec[inside] = x
    rho = vec.reshape(n, n, order="F")
    return qutip.Qobj((rho + rho.conj().T) / 2, dims=[dims, dims])
