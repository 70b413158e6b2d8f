"""Counts conventions, validation of bad data, assignment matrices and multinomial sampling."""

import re

import numpy as np
import pytest
import xarray as xr

from thermalink.analysis import (
    OUTCOMES,
    PAULI_SETTINGS,
    SIGNED_SETTINGS,
    bell_state,
    counts_array,
    measurement_model,
    reconstruct,
    sample_counts,
    validate_counts,
)

SINGLET = bell_state()
GE_STATE = np.diag([0, 1, 0, 0]).astype(complex)  # qubit 1 in g, qubit 2 in e
READOUT = [[[0.97, 0.06], [0.03, 0.94]], [[0.95, 0.10], [0.05, 0.90]]]


def good_counts():
    return sample_counts(SINGLET, 100, rng=0)


# --- conventions -----------------------------------------------------------------------------


def test_qubit_one_bit_comes_first_in_outcome_labels():
    counts = sample_counts(GE_STATE, 50, settings=["ZZ"], rng=1)
    assert counts.sel(setting="ZZ", outcome="01").item() == 50


def test_bit_zero_is_the_plus_one_eigenstate_of_the_measured_basis():
    plus_plus = np.full((4, 4), 0.25, dtype=complex)  # |+>|+>
    counts = sample_counts(plus_plus, 40, settings=["XX", "-X+X"], rng=2)
    assert counts.sel(setting="XX", outcome="00").item() == 40
    assert counts.sel(setting="-X+X", outcome="10").item() == 40


def test_singlet_gives_anticorrelated_outcomes_when_both_qubits_share_a_basis():
    counts = sample_counts(SINGLET, 1000, settings=["XX", "YY", "ZZ"], rng=3)
    same = counts.sel(outcome=["00", "11"]).sum("outcome")
    assert np.all(same.values == 0)


def test_sample_counts_is_reproducible_with_a_seed_and_keeps_the_shots_per_setting():
    a = sample_counts(SINGLET, [10, 20, 30, 40, 50, 60, 70, 80, 90], rng=7)
    b = sample_counts(SINGLET, [10, 20, 30, 40, 50, 60, 70, 80, 90], rng=7)
    xr.testing.assert_equal(a, b)
    np.testing.assert_array_equal(a.sum("outcome").values, np.arange(10, 100, 10))
    assert a.dims == ("setting", "outcome") and list(a.outcome.values) == list(OUTCOMES)


def test_sample_counts_of_a_stack_adds_leading_dims():
    stack = np.array([SINGLET, GE_STATE])
    counts = sample_counts(stack, 10, rng=1, size=3)
    assert counts.dims == ("sample", "dim_0", "setting", "outcome")
    assert counts.shape == (3, 2, 9, 4)


def test_sampled_frequencies_approach_the_born_probabilities_with_readout_errors():
    rho = np.diag([0.1, 0.2, 0.3, 0.4]).astype(complex)
    counts = sample_counts(rho, 10**6, settings=["ZZ"], assignment=READOUT, rng=4)
    a = np.kron(READOUT[0], READOUT[1])
    expected = a @ np.diag(rho).real
    np.testing.assert_allclose(counts.sel(setting="ZZ").values / 1e6, expected, atol=2e-3)


def test_per_qubit_assignment_equals_its_kronecker_joint_matrix():
    per_qubit = measurement_model(PAULI_SETTINGS, READOUT)
    joint = measurement_model(PAULI_SETTINGS, np.kron(READOUT[0], READOUT[1]))
    np.testing.assert_allclose(per_qubit.povm, joint.povm, atol=1e-15)


def test_povm_of_every_setting_sums_to_identity():
    model = measurement_model(SIGNED_SETTINGS, READOUT)
    np.testing.assert_allclose(model.povm.sum(axis=1), np.broadcast_to(np.eye(4), (36, 4, 4)), atol=1e-14)


def test_validation_reorders_outcomes_and_transposed_dims():
    counts = good_counts()
    shuffled = counts.isel(outcome=[3, 1, 0, 2]).transpose("outcome", "setting")
    values, settings, _ = validate_counts(shuffled)
    np.testing.assert_array_equal(values, counts.values)
    assert settings == PAULI_SETTINGS


# --- bad data --------------------------------------------------------------------------------


def test_negative_counts_are_rejected_naming_the_value_and_setting():
    counts = good_counts().copy()
    counts.loc[{"setting": "XY", "outcome": "10"}] = -3
    with pytest.raises(ValueError, match=r"non-negative.*-3.*'XY'.*'10'"):
        reconstruct(counts)


def test_non_integer_counts_are_rejected():
    counts = good_counts().astype(float)
    counts[0, 0] = 2.5
    with pytest.raises(ValueError, match="integers.*2.5"):
        reconstruct(counts)


def test_nan_counts_are_rejected():
    counts = good_counts().astype(float)
    counts[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        reconstruct(counts)


def test_wrong_dims_are_rejected_naming_the_expected_dims():
    counts = good_counts().rename(outcome="result")
    with pytest.raises(ValueError, match=r"dims \('setting', 'outcome'\).*result"):
        reconstruct(counts)


def test_extra_dims_are_rejected_by_the_single_state_reconstruct():
    counts = sample_counts(SINGLET, 10, size=2, rng=0)
    with pytest.raises(ValueError, match="dims"):
        reconstruct(counts)


def test_a_plain_array_is_rejected_as_counts():
    with pytest.raises(ValueError, match="xarray.DataArray"):
        reconstruct(good_counts().values)


@pytest.mark.parametrize("label", ["XA", "X", "XYZ", "xx", "+-X", "ZZ "])
def test_bad_setting_labels_are_rejected_naming_the_label_and_the_allowed_ones(label):
    counts = good_counts().assign_coords(setting=[label] + list(PAULI_SETTINGS[1:]))
    with pytest.raises(ValueError, match=re.escape(repr(label)) + ".*X, Y, Z"):
        reconstruct(counts)


def test_bad_outcome_labels_are_rejected_listing_the_allowed_ones():
    counts = good_counts().assign_coords(outcome=["00", "01", "10", "22"])
    with pytest.raises(ValueError, match=r"'22'.*\['00', '01', '10', '11'\]"):
        reconstruct(counts)


def test_missing_coordinate_labels_are_rejected():
    counts = xr.DataArray(np.ones((9, 4), dtype=int), dims=("setting", "outcome"))
    with pytest.raises(ValueError, match="no 'setting' coordinate"):
        reconstruct(counts)


def test_assignment_columns_that_do_not_sum_to_one_are_rejected_naming_the_column():
    bad = [[[0.9, 0.1], [0.2, 0.9]], [[1, 0], [0, 1]]]
    with pytest.raises(ValueError, match=r"qubit 1.*column 0 sums to 1.1"):
        reconstruct(good_counts(), assignment=bad)
    joint = np.eye(4)
    joint[0, 3] = 0.5
    with pytest.raises(ValueError, match=r"joint.*column 3 sums to 1.5"):
        reconstruct(good_counts(), assignment=joint)


def test_assignment_entries_outside_unit_interval_are_rejected():
    bad = [[[1.2, 0.0], [-0.2, 1.0]], [[1, 0], [0, 1]]]
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        reconstruct(good_counts(), assignment=bad)


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (2, 4, 4)])
def test_assignment_of_the_wrong_shape_is_rejected_naming_the_shape(shape):
    with pytest.raises(ValueError, match=rf"shape \({shape[0]}, {shape[1]}"):
        reconstruct(good_counts(), assignment=np.full(shape, 0.5))


def test_shots_of_the_wrong_length_are_rejected_naming_the_number_of_settings():
    with pytest.raises(ValueError, match=r"one per setting \(9\)"):
        sample_counts(SINGLET, [10, 20], rng=0)


def test_counts_array_labels_a_plain_array():
    counts = counts_array(np.ones((2, 9, 4), dtype=int))
    assert counts.dims == ("sample", "setting", "outcome")
    assert list(counts.setting.values) == list(PAULI_SETTINGS)
