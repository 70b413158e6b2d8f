"""The twin at a lab operating point, cached: one solve per ``LabLink`` shared by the virtual
readout, the settle policy and the sweep analysis (sweeps revisit operating points).

States are read-only 4x4 arrays in the basis ``|gg>, |ge>, |eg>, |ee>``; times are in s.
:func:`twin_measured_state` is what the readout protocol of the link (``LabLink.readout_protocol``)
makes of the steady state by the time it is measured (:mod:`thermalink.simulators.readout_dynamics`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from thermalink.drivers.two_qubit_readout import assignment_matrix
from thermalink.simulators.conventions import PAULI_SETTINGS
from thermalink.simulators.errors import InputError
from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.readout_dynamics import (
    link_basis_decay,
    link_populations,
    local_channel,
    local_decay_matrices,
    readout_cutoff,
    rotated_populations,
)
from thermalink.simulators.propagation_delay import qubit_state, sector_steady_state
from thermalink.simulators.relaxation import relaxation_rate
from thermalink.simulators.twin import steady_state


def twin_state(link: LabLink, method: str = "exact") -> np.ndarray:
    """Steady state (read-only 4x4) of a lab operating point, cached: the virtual readout and the
    analysis of the same point share one solve, and sweeps revisit operating points. (The cache
    key is ``(link, method)`` however it is called: ``twin_state(link)`` and
    ``twin_state(link, "exact")`` are one entry; the readout protocol is not part of it.)"""
    return _twin_state(link.without_readout(), method)


@lru_cache(maxsize=512)
def _twin_state(link: LabLink, method: str) -> np.ndarray:
    rho = steady_state(link.to_parameters(), method=method)
    rho.setflags(write=False)
    return rho


def twin_relaxation_time_s(link: LabLink) -> float:
    """Time constant in s of the slowest relaxation towards the steady state at a lab operating
    point (``1 / relaxation_rate`` in lab time), cached like :func:`twin_state` (the readout
    protocol is not part of the key)."""
    return _twin_relaxation_time_s(link.without_readout())


@lru_cache(maxsize=512)
def _twin_relaxation_time_s(link: LabLink) -> float:
    return link.seconds(relaxation_rate(link.to_parameters()))


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class MeasuredState:
    """The twin's prediction of a readout: the qubits' state at the pulse and what happens after.

    ``rho``: 4x4 state at the (instantaneous) pre-rotation pulse. ``decay``: the per-qubit 2x2
    maps ``T_j[i, k] = P(i at the projection | k after the pulse)`` of a frozen (or instantaneous:
    identities) readout, which fold into the assignment matrices (``A_j T_j``); ``None`` without a
    freeze, where the link keeps acting after the pulse and :meth:`populations` comes from the
    exact sector dynamics.
    """

    link: LabLink
    rho: np.ndarray
    decay: tuple[np.ndarray, np.ndarray] | None

    def populations(self, settings=PAULI_SETTINGS) -> np.ndarray:
        """``(S, 4)`` Z populations at the projection (index ``2 e1 + e2``), before readout errors."""
        settings = tuple(settings)
        if self.decay is not None:
            joint = np.kron(self.decay[0], self.decay[1])
            return rotated_populations(self.rho, settings) @ joint.T
        return _link_populations(self.link, settings)

    def fold(self, assignment) -> np.ndarray:
        """Assignment matrices (per-qubit ``(2, 2, 2)`` or joint ``(4, 4)``) with the frozen
        readout's decay folded in (``A_j T_j``, or ``M (T_1 (x) T_2)``)."""
        if self.decay is None:
            raise InputError(f"readout_protocol={self.link.readout_protocol!r}: an unfrozen readout's decay is not a "
                             "per-qubit map and cannot be folded into assignment matrices (allowed: freeze=True or "
                             "all times zero); use populations()")
        assignment = np.asarray(assignment, dtype=float)
        if assignment.shape == (4, 4):
            return assignment @ np.kron(self.decay[0], self.decay[1])
        return np.stack([assignment[0] @ self.decay[0], assignment[1] @ self.decay[1]])


def twin_measured_state(link: LabLink, method: str = "exact") -> MeasuredState:
    """The :class:`MeasuredState` of ``link``'s readout protocol, cached per ``(link, method)``.

    Instantaneous protocol: the steady state itself and identity maps (exactly today's sampling).
    Frozen: the local channel for ``t_before`` on the steady state, local decay for ``t_after``.
    Unfrozen: the steady state (stationary under the link before the pulse), link dynamics after;
    one sector solve gives both the state and the populations (``method`` must be ``"exact"``).
    """
    return _twin_measured_state(link, method)


@lru_cache(maxsize=512)
def _twin_measured_state(link: LabLink, method: str) -> MeasuredState:
    protocol = link.readout_protocol
    if not protocol.freeze and not protocol.is_instantaneous:
        if method != "exact":
            raise InputError(f"method={method!r} with an unfrozen readout protocol is not covered (allowed: "
                             "method='exact', its sector dynamics; or freeze=True)")
        x, cutoff = _sector_state(link.without_readout())
        return MeasuredState(link, _read_only(qubit_state(x, cutoff)), None)
    steady = twin_state(link, method)
    if protocol.is_instantaneous:
        return MeasuredState(link, steady, (np.eye(2), np.eye(2)))
    p = link.to_parameters()
    return MeasuredState(link, _read_only(local_channel(steady, p, link.frozen_time_before_pulse())),
                         tuple(_read_only(t) for t in local_decay_matrices(p, link.readout_times()[1])))


@lru_cache(maxsize=64)
def _sector_state(link: LabLink) -> tuple[np.ndarray, int]:
    """The unfrozen readout's one steady-state solve: the sector vector and its cutoff (refused
    above ``MAX_READOUT_CUTOFF`` before solving). Key: the link without its readout."""
    p = link.to_parameters()
    cutoff = readout_cutoff(p)
    return _read_only(sector_steady_state(p, cutoff)), cutoff


@lru_cache(maxsize=64)
def _link_populations(link: LabLink, settings: tuple[str, ...]) -> np.ndarray:
    x, cutoff = _sector_state(link.without_readout())
    return _read_only(link_populations(link.to_parameters(), settings, link.readout_times()[1], cutoff=cutoff,
                                       steady=x))


def twin_calibration_decay(link: LabLink) -> np.ndarray:
    """4x4 ``D[k, j]``: populations ``k`` at the projection of basis state ``j`` prepared at the
    pulse under ``link``'s protocol (frozen: ``T_1 (x) T_2``; unfrozen: the link's dynamics, the
    filter in its thermal state), what a pi-pulse readout calibration goes through. Cached."""
    return _calibration_decay(link)


@lru_cache(maxsize=64)
def _calibration_decay(link: LabLink) -> np.ndarray:
    protocol = link.readout_protocol
    if protocol.is_instantaneous:
        return _read_only(np.eye(4))
    p = link.to_parameters()
    after = link.readout_times()[1]
    if protocol.freeze:
        t1, t2 = local_decay_matrices(p, after)
        return _read_only(np.kron(t1, t2))
    return _read_only(link_basis_decay(p, after))


def with_source_off(link: LabLink) -> LabLink:
    """``link`` with no source occupation (a readout calibration's conditions)."""
    return replace(link, source_occupation=0.0)


#: Tolerance on a probability of the unfolded discriminator errors (rounding of the stated errors).
UNFOLD_TOLERANCE = 1e-9


def _error_pair(matrix: np.ndarray) -> tuple[float, float]:
    return float(matrix[1, 0]), float(matrix[0, 1])


def _marginal_errors(joint: np.ndarray) -> np.ndarray:
    """q1 P(1|0), q1 P(0|1), q2 P(1|0), q2 P(0|1) of a joint ``M[read, prepared]`` (per-qubit
    marginals averaged over the other qubit's prepared state, as a readout calibration estimates)."""
    m = joint.reshape(2, 2, 2, 2)  # [r1, r2, j1, j2]
    q1 = m.sum(axis=1).mean(axis=2)  # [r1, j1]
    q2 = m.sum(axis=0).mean(axis=1)
    return np.array([q1[1, 0], q1[0, 1], q2[1, 0], q2[0, 1]])


def discriminator_errors(effective, link: LabLink) -> tuple[float, float, float, float]:
    """The discriminator's own errors whose readout through ``link``'s protocol gives the
    ``effective`` errors (q1 P(1|0), q1 P(0|1), q2 P(1|0), q2 P(0|1)), what a pi-pulse calibration
    through the protocol measures (the station's ``assignment_errors`` with
    ``assignment_errors_include_readout_decay: true``, or a calibration's per-qubit pair).

    Frozen (or instantaneous): exactly, per qubit, ``A_disc = A_eff T^-1`` with ``T`` the 2x2 local
    decay after the pulse. Unfrozen: the errors whose calibration marginals of
    ``(A_1 (x) A_2) D`` equal ``effective`` (``D`` the prepared states' decay with the source off,
    solved by least squares to 1e-9). InputError naming the values if no stochastic matrices with
    errors in [0, 0.5] do so (the stated errors are smaller than the decay alone allows). Cached per
    ``(effective, link with the source off)``; the one unfold of the virtual readout and the analysis.
    """
    return _discriminator_errors(tuple(float(e) for e in effective), with_source_off(link))


@lru_cache(maxsize=64)
def _discriminator_errors(effective: tuple[float, ...], link: LabLink) -> tuple[float, float, float, float]:
    effective = np.asarray(effective)
    protocol = link.readout_protocol
    if protocol.freeze or protocol.is_instantaneous:
        if protocol.is_instantaneous:
            return tuple(float(e) for e in effective)
        decays = local_decay_matrices(link.to_parameters(), link.readout_times()[1])
        pairs = [_error_pair(assignment_matrix(*effective[2 * j:2 * j + 2]) @ np.linalg.inv(decays[j]))
                 for j in (0, 1)]
        values = np.array(pairs).ravel()
        residual = 0.0
    else:
        from scipy.optimize import least_squares

        decay = twin_calibration_decay(link)

        def mismatch(e):
            return _marginal_errors(np.kron(assignment_matrix(e[0], e[1]), assignment_matrix(e[2], e[3])) @ decay) - effective

        fit = least_squares(mismatch, np.clip(effective, 0.0, 0.5), bounds=(0.0, 1.0), xtol=1e-15, ftol=1e-15, gtol=1e-15)
        values, residual = fit.x, float(np.max(np.abs(fit.fun)))
    if residual > UNFOLD_TOLERANCE or not np.all((values > -UNFOLD_TOLERANCE) & (values < 0.5 + UNFOLD_TOLERANCE)):
        decay_only = _marginal_errors(twin_calibration_decay(link))
        raise InputError(
            f"assignment_errors {effective.tolist()} are stated to include the readout decay "
            f"(assignment_errors_include_readout_decay: true, or a calibration), but the protocol's decay after the "
            f"pulse alone gives errors {np.round(decay_only, 6).tolist()}: the discriminator errors would be "
            f"{np.round(values, 6).tolist()} (mismatch {residual:.2g}), outside the allowed range [0, 0.5]. "
            "Use errors measured through this readout protocol, or set the flag false for discriminator errors"
        )
    return tuple(float(min(max(v, 0.0), 0.5)) for v in values)
