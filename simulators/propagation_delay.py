"""Propagation delay between the qubits: the exact steady state of the delayed chiral link.

A delay ``tau`` (``p.delay``, in the twin's inverse rate unit: ``gamma1 * tau``) on the waveguide
from qubit 1 to qubit 2 makes the link non-Markovian, but the link is a cascade: everything
upstream of the delay (filter and qubit 1, "system 1") feeds qubit 2 and never hears back. For a
cascade the delay is a shift of qubit 2's clock (Gardiner & Zoller, *Quantum Noise*, cascaded
systems): the joint state of system 1 at time ``t - tau`` and qubit 2 at ``t`` obeys the
zero-delay master equation of physics.md. The equal-time state the qubits are measured in is that
state with system 1 advanced by ``tau`` under its own dynamics (its inputs during that time,
the hot port, its local bath and dephasing, are fresh white noise that qubit 2 has not yet
received), qubit 2 a spectator:

    rho(tau) = Tr_filter[(exp(tau L_1) (x) id_2) rho_0],

``rho_0`` the zero-delay steady state of filter and qubits, ``L_1`` the Liouvillian of filter and
qubit 1 alone (qubit 1's waveguide emission leaves it). Exact for any ``tau`` on the chiral link;
the delay between filter and qubit 1 drops out (the filter is traced out). The propagation phase
``omega_f tau`` is the gauge of qubit 2 already fixed by the convention of physics.md. Not defined
with a backward path (``backward_fraction > 0``: a delayed feedback loop, refused).

Both steps live in the excitation-diagonal sector (``L_1`` conserves excitations too): one sparse
LU solve of the sector for ``rho_0``, one ``expm_multiply`` for the delay. States are 4x4 complex
in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 left); rates and times unit-free.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse.linalg

from .errors import InputError
from .exact_solver import DEFAULT_TOL, fock_cutoff
from .liouvillian_blocks import REAL_PARAMS, present_params
from .link_parameters import LinkParameters
from .relaxation import sector_generator

_KIND = np.array([kind for kind, _, _ in REAL_PARAMS])
_A = np.array([a for _, a, _ in REAL_PARAMS])
_B = np.array([b for _, _, b in REAL_PARAMS])


@dataclasses.dataclass(frozen=True)
class _UpstreamOfQubit2(LinkParameters):
    """Filter and qubit 1 alone: qubit 2 switched off (a spectator), so its decay check is skipped."""

    def __post_init__(self) -> None:  # values come from a validated LinkParameters
        pass


def upstream_parameters(p: LinkParameters) -> LinkParameters:
    """``p`` with qubit 2 a spectator: no waveguide coupling, detuning, local decay or dephasing."""
    values = p.as_dict()
    values.update(gamma2=0.0, delta2=0.0, gamma_local2=0.0, n_qubit2=0.0, gamma_phi2=0.0, delay=0.0)
    values.update({f"{name}1": p.qubit_bath(1)._asdict()[name] for name in ("gamma_local", "n_qubit", "gamma_phi")})
    return _UpstreamOfQubit2(**values)


def _sector_layout(cutoff: int):
    keep = present_params(np.arange(cutoff + 3), cutoff)
    which = np.nonzero(keep)[1]
    return _KIND[which], _A[which], _B[which]


def sector_steady_state(p: LinkParameters, cutoff: int) -> np.ndarray:
    """Zero-delay steady state as the vector of the sector's real unknowns (one sparse LU solve)."""
    generator = sector_generator(p, cutoff).tolil()
    kind, _, _ = _sector_layout(cutoff)
    generator[0, :] = (kind == "d").astype(float)  # trace replaces block 0's redundant equation
    rhs = np.zeros(generator.shape[0])
    rhs[0] = 1.0
    return scipy.sparse.linalg.spsolve(generator.tocsc(), rhs)


def qubit_state(x: np.ndarray, cutoff: int) -> np.ndarray:
    """The qubits' 4x4 reduced state of a sector vector (filter traced out)."""
    kind, a, b = _sector_layout(cutoff)
    diagonal = kind == "d"
    rho = np.zeros((4, 4), dtype=complex)
    np.add.at(rho, (a[diagonal], a[diagonal]), x[diagonal])
    ge_eg = (a == 1) & (b == 2)  # the only coherence left at equal photon number
    rho[1, 2] = x[ge_eg & (kind == "re")].sum() + 1j * x[ge_eg & (kind == "im")].sum()
    rho[2, 1] = np.conj(rho[1, 2])
    return rho / np.trace(rho).real


#: Largest cutoff the delayed solve takes: its sparse LU of the whole sector (16 unknowns per
#: block) needs about 1 GB at 50 000 blocks.
MAX_DELAY_CUTOFF = 50_000


def delayed_steady_state(p: LinkParameters, tol: float = DEFAULT_TOL, cutoff: int | None = None) -> np.ndarray:
    """Qubit steady state with the propagation delay ``p.delay`` from qubit 1 to qubit 2."""
    if not p.is_chiral:
        raise InputError(
            f"delay={p.delay} with backward_fraction={p.backward_fraction} is a delayed feedback loop, not "
            "covered (allowed: backward_fraction=0 when delay > 0)"
        )
    cutoff = fock_cutoff(p, tol) if cutoff is None else int(cutoff)
    if cutoff > MAX_DELAY_CUTOFF:
        raise InputError(
            f"a propagation delay with the filter occupation n_c={p.n_filter:.4g} needs a Fock cutoff of {cutoff} "
            f"(allowed range with a delay: up to {MAX_DELAY_CUTOFF}, about n_c <= {MAX_DELAY_CUTOFF / 18.4:.0f} "
            "at tol=1e-8; the delayed solve factorises the whole sector)"
        )
    x = sector_steady_state(p, cutoff)
    if p.delay > 0.0:
        upstream = sector_generator(upstream_parameters(p), cutoff)
        x = scipy.sparse.linalg.expm_multiply(p.delay * upstream, x)
    return qubit_state(x, cutoff)
