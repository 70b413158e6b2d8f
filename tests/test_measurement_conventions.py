"""The measurement convention the virtual readout samples with and the estimator assumes (one model)."""

import numpy as np

from thermalink.analysis.tomography_data import measurement_model

SINGLET = np.array([0, -1, 1, 0]) / np.sqrt(2)


def ket_to_rho(ket):
    ket = np.asarray(ket, dtype=complex)
    return np.outer(ket, ket.conj())


def probabilities(rho, settings, assignment=None):
    return measurement_model(settings, assignment).probabilities(rho)


def test_ground_state_reads_00_in_zz_and_is_uniform_in_xx():
    p = probabilities(ket_to_rho([1, 0, 0, 0]), ["ZZ", "XX"])
    np.testing.assert_allclose(p, [[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]], atol=1e-12)


def test_bit_zero_is_the_plus_one_eigenstate_of_each_basis_with_qubit_one_first():
    plus_i = np.array([1, 1j]) / np.sqrt(2)
    excited = np.array([0, 1])
    rho = ket_to_rho(np.kron(excited, plus_i))  # qubit 1 in |e>, qubit 2 in |+i>
    np.testing.assert_allclose(probabilities(rho, ["ZY", "ZX"]), [[0, 0, 1, 0], [0, 0, 0.5, 0.5]], atol=1e-12)


def test_singlet_is_anticorrelated_in_every_pauli_basis():
    np.testing.assert_allclose(probabilities(ket_to_rho(SINGLET), ["XX", "YY", "ZZ"]), [[0, 0.5, 0.5, 0]] * 3,
                               atol=1e-12)


def test_assignment_errors_act_per_qubit_as_A_read_given_state():
    a1 = np.array([[0.9, 0.2], [0.1, 0.8]])
    a2 = np.array([[0.95, 0.0], [0.05, 1.0]])
    p = probabilities(ket_to_rho([0, 0, 0, 1]), ["ZZ"], (a1, a2))  # |ee>
    np.testing.assert_allclose(p[0], [0.2 * 0.0, 0.2 * 1.0, 0.8 * 0.0, 0.8 * 1.0], atol=1e-12)
