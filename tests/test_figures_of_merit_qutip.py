"""Figures of merit cross-checked against QuTiP on random two-qubit states to 1e-10.

QuTiP's conventions: ``fidelity`` is the root fidelity ``Tr sqrt(sqrt(rho) sigma sqrt(rho))``
(ours, :func:`uhlmann_fidelity`, is its square), ``tracedist`` is ``||rho - sigma||_1 / 2``,
``negativity(rho, 1)`` transposes qubit 2 (the right factor, as ours).

The 1e-10 comparison is on full-rank random states (Ginibre). On rank-deficient states QuTiP
takes square roots of round-off eigenvalues (~1e-16 -> ~1e-8) in its concurrence, fidelity and
trace distance, so there it agrees only to ~1e-8; those cases are checked against QuTiP to 1e-7
and against exact closed forms to 1e-12 (thermalink factorises instead of taking those roots).
"""

import numpy as np
import pytest
import qutip

from thermalink.analysis import concurrence, log_negativity, negativity, trace_distance, uhlmann_fidelity

ATOL = 1e-10
QUTIP_ROUNDOFF = 1e-7
SEEDS = range(12)


def full_rank_pair(seed: int) -> tuple[qutip.Qobj, qutip.Qobj]:
    rng = np.random.default_rng(seed)
    return (qutip.rand_dm([2, 2], distribution="ginibre", seed=rng),
            qutip.rand_dm([2, 2], distribution="ginibre", seed=rng))


def rank_deficient(seed: int) -> list[qutip.Qobj]:
    rng = np.random.default_rng(1000 + seed)
    states = [qutip.rand_dm([2, 2], distribution="ginibre", rank=rank, seed=rng) for rank in (2, 3)]
    return states + [qutip.ket2dm(qutip.rand_ket([2, 2], seed=rng))]


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrence_and_negativity_match_qutip_on_full_rank_states(seed):
    for rho in full_rank_pair(seed):
        assert concurrence(rho.full()) == pytest.approx(qutip.concurrence(rho), abs=ATOL)
        expected = qutip.negativity(rho, 1, method="eigenvalues")
        assert negativity(rho.full()) == pytest.approx(expected, abs=ATOL)
        assert log_negativity(rho.full()) == pytest.approx(np.log2(2 * expected + 1), abs=ATOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_fidelity_and_trace_distance_match_qutip_on_full_rank_states(seed):
    rho, sigma = full_rank_pair(seed)
    expected = qutip.fidelity(rho, sigma) ** 2
    assert uhlmann_fidelity(rho.full(), sigma.full()) == pytest.approx(expected, abs=ATOL)
    assert uhlmann_fidelity(sigma.full(), rho.full()) == pytest.approx(expected, abs=ATOL)
    assert trace_distance(rho.full(), sigma.full()) == pytest.approx(qutip.tracedist(rho, sigma), abs=ATOL)


def test_full_rank_draws_include_entangled_and_separable_states():
    """The concurrence comparison above is only a check if it meets nonzero values too."""
    values = [qutip.concurrence(rho) for seed in SEEDS for rho in full_rank_pair(seed)]
    assert sum(value > 1e-3 for value in values) >= 3
    assert sum(value == 0 for value in values) >= 3


@pytest.mark.parametrize("seed", range(4))
def test_rank_deficient_states_agree_with_qutip_to_its_roundoff(seed):
    states = rank_deficient(seed)
    for rho, sigma in zip(states, states[1:] + states[:1]):
        assert concurrence(rho.full()) == pytest.approx(qutip.concurrence(rho), abs=QUTIP_ROUNDOFF)
        assert negativity(rho.full()) == pytest.approx(qutip.negativity(rho, 1, method="eigenvalues"), abs=ATOL)
        assert uhlmann_fidelity(rho.full(), sigma.full()) == pytest.approx(
            qutip.fidelity(rho, sigma) ** 2, abs=QUTIP_ROUNDOFF)
        assert trace_distance(rho.full(), sigma.full()) == pytest.approx(
            qutip.tracedist(rho, sigma), abs=QUTIP_ROUNDOFF)


@pytest.mark.parametrize("seed", range(4))
def test_pure_states_match_closed_forms_where_qutip_rounds(seed):
    rng = np.random.default_rng(seed)
    psi, phi = (qutip.rand_ket([2, 2], seed=rng).full().ravel() for _ in range(2))
    rho, sigma = np.outer(psi, psi.conj()), np.outer(phi, phi.conj())
    overlap = abs(np.vdot(psi, phi)) ** 2
    assert concurrence(rho) == pytest.approx(2 * abs(psi[0] * psi[3] - psi[1] * psi[2]), abs=1e-12)
    assert uhlmann_fidelity(rho, sigma) == pytest.approx(overlap, abs=1e-12)
    assert trace_distance(rho, sigma) == pytest.approx(np.sqrt(1 - overlap), abs=1e-12)
