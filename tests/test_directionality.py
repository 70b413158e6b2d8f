"""Finite directionality of the waveguide: a backward path qubit 2 -> qubit 1 -> filter."""

import numpy as np
import pytest

from qutip_reference import liouvillian, physics_md_liouvillian, qubit_steady_state
from thermalink.simulators import LinkParameters, solve_exact, steady_state
from thermalink.simulators.liouvillian_blocks import is_real_link
from thermalink.simulators.lab_units import LabLink, backward_fraction_from_isolation


def link(**changes) -> LinkParameters:
    values = dict(kappa=0.4, n_source=2.5, in_coupling=0.6, gamma2=0.8, delta1=0.25, delta2=-0.3,
                  transmission=0.85, gamma_local1=0.05, n_qubit1=0.2, gamma_phi2=0.04)
    values.update(changes)
    return LinkParameters(**values)


def test_the_reference_reduces_to_physics_md_for_a_chiral_link():
    p = link()
    difference = liouvillian(p, 6, propagation_phases=(0.7, -1.1)) - physics_md_liouvillian(p, 6)
    # one-way phases of a chiral link are a gauge of c and s2: same qubit populations
    np.testing.assert_allclose(
        np.diag(qubit_steady_state(p, 12, propagation_phases=(0.7, -1.1))).real,
        np.diag(qubit_steady_state(p, 12)).real, atol=1e-12)
    assert np.abs((liouvillian(p, 6) - physics_md_liouvillian(p, 6)).full()).max() < 1e-14
    assert np.abs(difference.full()).max() > 0.1  # the phases do enter the generator


def test_a_chiral_link_is_unchanged_bit_for_bit_whatever_the_phases():
    p = link()
    for changes in (dict(round_trip_phase12=1.3), dict(round_trip_phase01=-0.4)):
        np.testing.assert_array_equal(solve_exact(p.replace(**changes)).rho, solve_exact(p).rho)


@pytest.mark.parametrize("beta, phase01, phase12", [(0.1, 0.0, 0.0), (0.1, 0.4, 1.1), (0.35, -0.8, 2.5)])
def test_backward_coupling_matches_the_brute_force_in_the_lab_frame(beta, phase01, phase12):
    # The reference applies one-way phases to both directions; the twin keeps only the round trips
    # (2 k d) on the backward path, in the gauge s2 -> exp(i k d12) s2.
    p = link(backward_fraction=beta, round_trip_phase01=2 * phase01, round_trip_phase12=2 * phase12)
    reference = qubit_steady_state(p, 20, propagation_phases=(phase01, phase12))
    gauge = np.diag([1.0, np.exp(1j * phase12), 1.0, np.exp(1j * phase12)])
    expected = gauge.conj().T @ reference @ gauge
    np.testing.assert_allclose(solve_exact(p, cutoff=20).rho, expected, rtol=0, atol=1e-10)
    assert np.abs(solve_exact(link(), cutoff=20).rho - expected).max() > 1e-3  # the effect is there


def test_resonant_backward_coupling_keeps_the_real_solver_only_for_real_round_trips():
    resonant = dict(delta1=0.0, delta2=0.0)
    assert is_real_link(link(backward_fraction=0.2, **resonant))
    twisted = link(backward_fraction=0.2, round_trip_phase12=0.9, **resonant)
    assert not is_real_link(twisted)
    np.testing.assert_allclose(solve_exact(twisted, cutoff=20).rho,
                               np.diag([1, np.exp(0.45j), 1, np.exp(0.45j)]).conj()
                               @ qubit_steady_state(twisted, 20, propagation_phases=(0.0, 0.45))
                               @ np.diag([1, np.exp(0.45j), 1, np.exp(0.45j)]), atol=1e-10)


def test_backward_coupling_converges_with_the_cutoff_though_the_filter_is_not_thermal():
    p = LinkParameters(kappa=0.1, n_source=20.0, backward_fraction=0.1)
    a = solve_exact(p)
    b = solve_exact(p, cutoff=2 * a.cutoff)
    np.testing.assert_allclose(a.rho, b.rho, atol=1e-7)
    assert b.filter_distribution is None  # not thermal: the solver does not claim a marginal
    assert abs(b.mean_photons - p.n_filter) > 1e-4  # the qubits' backward light reaches the filter


def test_the_limits_refuse_a_link_with_back_action():
    for method in ("adiabatic", "markov"):
        with pytest.raises(ValueError, match="backward_fraction=0.1"):
            steady_state(LinkParameters(kappa=50.0, n_source=1.0, backward_fraction=0.1), method=method)


def test_isolation_in_db_sets_the_backward_fraction():
    assert backward_fraction_from_isolation(None) == 0.0
    assert backward_fraction_from_isolation(20.0) == pytest.approx(1 / 101)
    assert backward_fraction_from_isolation(0.0) == pytest.approx(0.5)
    lab = LabLink(bandwidth_Hz=1e5, source_occupation=10.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6e9,
                  qubit2_frequency_Hz=6e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6,
                  isolation_dB=20.0, round_trip_phase12_rad=0.3)
    p = lab.to_parameters()
    assert (p.backward_fraction, p.round_trip_phase12) == (pytest.approx(1 / 101), 0.3)
    with pytest.raises(ValueError, match="isolation_dB=-3.0"):
        backward_fraction_from_isolation(-3.0)


def test_interior_blocks_equal_direct_assembly_with_complex_backward_amplitudes():
    from thermalink.simulators.liouvillian_blocks import _assemble, lowering_operators, sector_blocks

    p = link(backward_fraction=0.2, round_trip_phase01=0.3, round_trip_phase12=-1.2)
    blocks = np.arange(2, 20)
    fast = sector_blocks(p, blocks, cutoff=20)
    direct = _assemble(p, lowering_operators(blocks, 20), lowering_operators(blocks + 1, 20))
    for a, b in zip(fast, direct):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_backward_coupling_conserves_the_trace_and_relaxes():
    from thermalink.simulators import relaxation_rate
    from thermalink.simulators.relaxation import sector_generator

    p = link(backward_fraction=0.3, round_trip_phase12=0.7, n_source=0.5)
    generator = sector_generator(p, 8).toarray()
    # trace functional: the diagonal entries of every block; it must be a left null vector
    from thermalink.simulators.liouvillian_blocks import REAL_PARAMS, present_params
    keep = present_params(np.arange(11), 8)
    kinds = np.array([k for k, _, _ in REAL_PARAMS])[np.nonzero(keep)[1]]
    trace = (kinds == "d").astype(float)
    np.testing.assert_allclose(trace @ generator, 0.0, atol=1e-12)
    assert relaxation_rate(p) > 0


@pytest.mark.parametrize("kd", [0.0, 0.4, np.pi / 2, 2.0])
def test_a_bidirectional_link_has_the_textbook_exchange_and_collective_decay(kd):
    # b = 1/2 (0 dB isolation) is a symmetric waveguide: for two qubits a distance d apart,
    # exchange (gamma/2) sin(k d) and collective decay gamma cos(k d) (up to a gauge phase).
    from thermalink.simulators.liouvillian_blocks import waveguide_terms

    p = LinkParameters(kappa=1.0, n_source=0.0, backward_fraction=0.5, round_trip_phase12=2 * kd)
    h, jumps = waveguide_terms(p)
    collective = sum(np.outer(np.conj(j), j) for j in jumps)
    assert abs(h[1, 2]) == pytest.approx(0.5 * abs(np.sin(kd)), abs=1e-14)
    assert abs(collective[1, 2]) == pytest.approx(abs(np.cos(kd)), abs=1e-14)
    assert collective[1, 1] == pytest.approx(1.0) and collective[2, 2] == pytest.approx(1.0)  # gamma unchanged
