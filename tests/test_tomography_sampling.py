import numpy as np
import pytest

from thermalink.drivers.two_qubit_readout import PAULI_SETTINGS
from thermalink.simulators.tomography_sampling import outcome_probabilities, readout_probabilities, sample_counts

SINGLET = np.array([0, -1, 1, 0]) / np.sqrt(2)


def ket_to_rho(ket):
    ket = np.asarray(ket, dtype=complex)
    return np.outer(ket, ket.conj())


def test_ground_state_reads_00_in_zz_and_is_uniform_in_xx():
    rho = ket_to_rho([1, 0, 0, 0])
    p = outcome_probabilities(rho, ["ZZ", "XX"])
    np.testing.assert_allclose(p, [[1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]], atol=1e-12)


def test_bit_zero_is_the_plus_one_eigenstate_of_each_basis_with_qubit_one_first():
    plus_i = np.array([1, 1j]) / np.sqrt(2)
    excited = np.array([0, 1])
    rho = ket_to_rho(np.kron(excited, plus_i))  # qubit 1 in |e>, qubit 2 in |+i>
    p = outcome_probabilities(rho, ["ZY", "ZX"])
    np.testing.assert_allclose(p, [[0, 0, 1, 0], [0, 0, 0.5, 0.5]], atol=1e-12)


def test_singlet_is_anticorrelated_in_every_pauli_basis():
    p = outcome_probabilities(ket_to_rho(SINGLET), ["XX", "YY", "ZZ"])
    np.testing.assert_allclose(p, [[0, 0.5, 0.5, 0]] * 3, atol=1e-12)


def test_assignment_errors_act_per_qubit_as_A_read_given_state():
    a1 = np.array([[0.9, 0.2], [0.1, 0.8]])
    a2 = np.array([[0.95, 0.0], [0.05, 1.0]])
    p = readout_probabilities(ket_to_rho([0, 0, 0, 1]), ["ZZ"], (a1, a2))  # |ee>
    np.testing.assert_allclose(p[0], [0.2 * 0.0, 0.2 * 1.0, 0.8 * 0.0, 0.8 * 1.0], atol=1e-12)


def test_counts_are_seeded_ints_summing_to_the_shots():
    rho = ket_to_rho(SINGLET)
    first = sample_counts(rho, PAULI_SETTINGS, 2000, np.random.default_rng(7))
    second = sample_counts(rho, PAULI_SETTINGS, 2000, np.random.default_rng(7))
    assert first.dtype == np.int64
    assert first.shape == (9, 4)
    np.testing.assert_array_equal(first.sum(axis=1), 2000)
    np.testing.assert_array_equal(first, second)


def test_sampled_frequencies_agree_with_the_born_rule_within_statistics():
    rng = np.random.default_rng(3)
    rho = 0.7 * ket_to_rho(SINGLET) + 0.3 * np.eye(4) / 4
    shots = 200_000
    counts = sample_counts(rho, PAULI_SETTINGS, shots, rng)
    p = outcome_probabilities(rho, PAULI_SETTINGS)
    sigma = np.sqrt(p * (1 - p) / shots) + 1e-12
    assert np.all(np.abs(counts / shots - p) < 5 * sigma)


def test_bad_settings_and_states_are_rejected():
    with pytest.raises(ValueError, match="two-letter strings"):
        outcome_probabilities(np.eye(4) / 4, ["XA"])
    with pytest.raises(ValueError, match=r"\(4, 4\)"):
        outcome_probabilities(np.eye(2) / 2, ["XX"])
