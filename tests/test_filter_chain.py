"""The filter's photon-number chain (simulators/filter_chain.py): its rates and its exact gap."""

import numpy as np
import pytest

from thermalink.simulators import LinkParameters, fock_cutoff
from thermalink.simulators.exact_solver import filter_marginal
from thermalink.simulators.filter_chain import filter_gap, filter_rates
from thermalink.simulators.relaxation import sector_generator


def birth_death_generator(p, cutoff):
    """The chain's generator on probability columns, built entry by entry from its rates."""
    emission, absorption = filter_rates(p, cutoff)
    Q = np.diag(-(emission + absorption))
    for m in range(cutoff):
        Q[m + 1, m] = absorption[m]  # m -> m + 1
        Q[m, m + 1] = emission[m + 1]  # m + 1 -> m
    return Q


LINKS = [
    dict(kappa=0.05, n_source=6.0),
    dict(kappa=0.3, n_source=40.0, in_coupling=0.9),
    dict(kappa=1.0, n_source=2.0, in_coupling=0.1),
    dict(kappa=0.01, n_source=138.4),
    dict(kappa=0.2, n_source=1e-9),  # nearly no source: the chain all but decouples
    dict(kappa=0.2, n_source=0.0),
]


@pytest.mark.parametrize("changes", LINKS)
def test_the_filter_gap_is_the_chains_slowest_nonzero_decay(changes):
    p = LinkParameters(**changes)
    cutoff = fock_cutoff(p, 1e-6)
    decay = np.sort(-np.linalg.eigvals(birth_death_generator(p, cutoff)).real)
    assert abs(decay[0]) < 1e-9 * decay[1]  # the thermal state
    scale = np.abs(birth_death_generator(p, cutoff)).max()  # dense eig: rounding ~1e-15 of the rates
    assert filter_gap(p, cutoff) == pytest.approx(decay[1], rel=1e-12, abs=1e-13 * scale)


@pytest.mark.parametrize("changes", LINKS[:3])
def test_the_chains_balance_is_the_twins_thermal_filter_marginal(changes):
    p = LinkParameters(**changes)
    cutoff = fock_cutoff(p, 1e-6)
    np.testing.assert_allclose(birth_death_generator(p, cutoff) @ filter_marginal(p.n_filter, cutoff), 0.0,
                               atol=1e-14 * p.kappa * cutoff)


@pytest.mark.parametrize("changes", [dict(kappa=0.3, n_source=6.0, gamma_local=0.1, n_qubit=0.2, transmission=0.7),
                                     dict(kappa=0.5, n_source=4.0, delta1=0.4, delta2=-0.4, gamma_phi=0.05)])
def test_the_filter_gap_is_an_eigenvalue_of_the_sector_on_the_chiral_link(changes):
    """Tracing out the qubits commutes with the cascaded dynamics: the filter chain's modes are
    modes of the whole excitation-diagonal sector (built independently, entry by entry)."""
    p = LinkParameters(**changes)
    cutoff = fock_cutoff(p, 1e-6)
    eigenvalues = np.linalg.eigvals(sector_generator(p, cutoff).toarray())
    gap = filter_gap(p, cutoff)
    assert np.abs(eigenvalues + gap).min() < 1e-10 * gap


def test_a_backward_path_makes_the_filter_chain_no_mode_of_the_sector():
    """The check above can fail: with back-action on the filter its chain is no longer autonomous
    (and relaxation_rate then keeps the filter's modes in its search)."""
    p = LinkParameters(kappa=0.5, n_source=4.0, backward_fraction=0.2, round_trip_phase01=1.0)
    cutoff = fock_cutoff(p, 1e-6)
    eigenvalues = np.linalg.eigvals(sector_generator(p, cutoff).toarray())
    gap = filter_gap(p, cutoff)
    assert np.abs(eigenvalues + gap).min() > 1e-2 * gap  # 4 % away here
