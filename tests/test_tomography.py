"""Estimators: round trips, physicality, zero-count and missing settings, batching."""

import numpy as np
import pytest
from scipy.special import exp1

from thermalink.analysis import (
    PAULI_SETTINGS,
    SIGNED_SETTINGS,
    bell_state,
    measurement_model,
    project_to_states,
    reconstruct,
    reconstruct_many,
    sample_counts,
    state_log_likelihood,
    uhlmann_fidelity,
)
from thermalink.simulators import LinkParameters, steady_state

READOUT = [[[0.97, 0.06], [0.03, 0.94]], [[0.95, 0.10], [0.05, 0.90]]]
PHYSICAL_METHODS = ("mle", "projected_least_squares")


def _random_state(rank, seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(4, rank)) + 1j * rng.normal(size=(4, rank))
    rho = g @ g.conj().T
    return rho / np.trace(rho).real


def _adiabatic_dark_state_mixture(s):
    """physics.md limit 3: E_u[(|gg><gg| + s u |S><S|)/(1 + s u)], u ~ Exp(1)."""
    weight_gg = np.exp(1 / s) * exp1(1 / s) / s  # E_u[1 / (1 + s u)]
    rho = (1 - weight_gg) * bell_state()
    rho[0, 0] += weight_gg
    return rho


STATES = {
    "singlet": bell_state(),
    "bell_phi_plus": np.outer([1, 0, 0, 1], [1, 0, 0, 1]).astype(complex) / 2,
    "pure_random": _random_state(1, 1),
    "ground": np.diag([1, 0, 0, 0]).astype(complex),
    "rank_two": _random_state(2, 2),
    "full_rank": _random_state(4, 3),
    "werner_half": 0.5 * bell_state() + 0.5 * np.eye(4) / 4,
    "maximally_mixed": np.eye(4, dtype=complex) / 4,
    "adiabatic_dark_state_mixture": _adiabatic_dark_state_mixture(2.0),
}


@pytest.fixture(scope="module")
def twin_states():
    """Dark-state mixtures from the twin (physics.md reference points)."""
    return {
        "twin_kappa_0.1_n_10": steady_state(LinkParameters(kappa=0.1, n_source=10.0)),
        "twin_kappa_0.1_n_100": steady_state(LinkParameters(kappa=0.1, n_source=100.0)),
    }


def _is_physical(rho, atol=1e-10):
    rho = np.asarray(rho)
    hermitian = np.allclose(rho, np.conj(np.swapaxes(rho, -1, -2)), atol=atol)
    unit_trace = np.allclose(np.trace(rho, axis1=-2, axis2=-1), 1, atol=atol)
    return hermitian and unit_trace and np.linalg.eigvalsh(rho).min() >= -atol


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", [None, READOUT], ids=["ideal_readout", "readout_errors"])
@pytest.mark.parametrize("method", PHYSICAL_METHODS)
@pytest.mark.parametrize("name", sorted(STATES))
def test_known_state_round_trips_at_a_million_shots(name, method, assignment):
    rho = STATES[name]
    counts = sample_counts(rho, 10**6, assignment=assignment, rng=sum(map(ord, name)))
    result = reconstruct(counts, method, assignment=assignment)
    assert uhlmann_fidelity(result.density_matrix, rho) > 0.999
    assert _is_physical(result.density_matrix)


@pytest.mark.parametrize("assignment", [None, READOUT], ids=["ideal_readout", "readout_errors"])
def test_twin_dark_state_mixtures_round_trip_through_mle(twin_states, assignment):
    for name, rho in twin_states.items():
        counts = sample_counts(rho, 10**6, assignment=assignment, rng=5)
        result = reconstruct(counts, "mle", assignment=assignment)
        assert uhlmann_fidelity(result.density_matrix, rho) > 0.999, name


def test_bell_state_round_trips_through_mle_with_near_unit_fidelity():
    counts = sample_counts(bell_state(), 10**6, rng=11)
    result = reconstruct(counts, "mle")
    assert uhlmann_fidelity(result.density_matrix, bell_state()) > 1 - 1e-5
    assert result.converged and result.method == "mle"


def test_linear_inversion_round_trips_in_hilbert_schmidt_distance():
    rho = STATES["full_rank"]
    result = reconstruct(sample_counts(rho, 10**6, rng=3), "linear_inversion")
    assert np.linalg.norm(result.density_matrix - rho) < 5e-3


def test_signed_six_axis_settings_round_trip():
    rho = STATES["rank_two"]
    counts = sample_counts(rho, 10**5, settings=SIGNED_SETTINGS, rng=2)
    assert uhlmann_fidelity(reconstruct(counts).density_matrix, rho) > 0.999


def test_ignoring_readout_errors_biases_the_estimate_and_folding_them_in_removes_the_bias():
    rho = bell_state()
    counts = sample_counts(rho, 10**6, assignment=READOUT, rng=8)
    naive = uhlmann_fidelity(reconstruct(counts).density_matrix, rho)
    corrected = uhlmann_fidelity(reconstruct(counts, assignment=READOUT).density_matrix, rho)
    assert naive < 0.95 < 0.999 < corrected


# --- physicality and the MLE contract ----------------------------------------------------------


@pytest.mark.parametrize("method", PHYSICAL_METHODS)
def test_physical_methods_return_density_matrices_even_from_few_shots(method):
    rhos = np.array([_random_state(1, seed) for seed in range(40)])
    counts = sample_counts(rhos, 20, rng=4)
    result = reconstruct_many(counts, method)
    assert result.density_matrix.shape == (40, 4, 4)
    assert _is_physical(result.density_matrix)


def test_linear_inversion_has_unit_trace_but_can_have_negative_eigenvalues():
    counts = sample_counts(bell_state(), 50, rng=1)
    rho = reconstruct(counts, "linear_inversion").density_matrix
    assert np.trace(rho).real == pytest.approx(1, abs=1e-12)
    assert np.allclose(rho, rho.conj().T)
    assert np.linalg.eigvalsh(rho).min() < -1e-3


def test_mle_is_converged_within_its_tolerance_and_beats_projected_least_squares():
    counts = sample_counts(STATES["rank_two"], 1000, rng=6)
    mle = reconstruct(counts, "mle", tol=1e-6)
    pls = reconstruct(counts, "projected_least_squares")
    assert mle.converged and 0 <= mle.likelihood_gap <= 1e-6
    assert mle.log_likelihood >= pls.log_likelihood


def test_mle_warns_when_it_stops_before_its_tolerance():
    # (max_iter=1: the rank-k Newton path of a boundary maximum converges in 2 iterations here)
    counts = sample_counts(STATES["rank_two"], 10**5, rng=6)
    with pytest.warns(RuntimeWarning, match="did not reach its tolerance in max_iter=1"):
        result = reconstruct(counts, "mle", max_iter=1)
    assert not result.converged and result.likelihood_gap > 1e-4
    assert _is_physical(result.density_matrix)


def test_mle_is_a_maximum_over_nearby_physical_states():
    counts = sample_counts(STATES["full_rank"], 500, rng=9)
    mle = reconstruct(counts, "mle", tol=1e-8)
    rng = np.random.default_rng(0)
    for _ in range(50):
        other = 0.99 * mle.density_matrix + 0.01 * _random_state(int(rng.integers(1, 5)), int(rng.integers(1e6)))
        assert state_log_likelihood(counts, other) <= mle.log_likelihood + 1e-8


@pytest.mark.parametrize("name", ["full_rank", "rank_two"])
def test_mle_is_at_least_as_likely_as_an_independent_cholesky_optimisation(name):
    """scipy L-BFGS over rho = T T^+ / Tr(T T^+) (T lower triangular) is a slow, obvious check."""
    from scipy.optimize import minimize

    counts = sample_counts(STATES[name], 2000, rng=13)
    tril = np.tril_indices(4)

    def to_state(params):
        t = np.zeros((4, 4), dtype=complex)
        t[tril] = params[:10] + 1j * params[10:]
        rho = t @ t.conj().T
        return rho / np.trace(rho).real

    start = np.linalg.cholesky(0.9 * STATES[name] + 0.1 * np.eye(4) / 4)[tril]
    best = minimize(lambda x: -state_log_likelihood(counts, to_state(x)),
                    np.concatenate([start.real, start.imag]), method="L-BFGS-B",
                    options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10})
    mle = reconstruct(counts, "mle")
    assert best.success
    # the certificate: no state is more likely than the MLE by more than likelihood_gap (<= tol)
    assert -best.fun - mle.log_likelihood <= mle.likelihood_gap + 1e-9
    assert mle.likelihood_gap <= 1e-4


def test_mle_of_a_rank_deficient_state_is_rank_deficient_and_converged():
    counts = sample_counts(bell_state(), 10**4, rng=12)
    result = reconstruct(counts, "mle")
    eigenvalues = np.linalg.eigvalsh(result.density_matrix)
    assert result.converged
    assert np.sum(eigenvalues > 1e-6) == 1


def test_reported_log_likelihood_is_that_of_the_returned_state():
    counts = sample_counts(STATES["werner_half"], 300, rng=10)
    for method in ("mle", "projected_least_squares"):
        result = reconstruct(counts, method)
        assert result.log_likelihood == pytest.approx(state_log_likelihood(counts, result.density_matrix))


def test_projection_moves_eigenvalues_onto_the_simplex_and_keeps_eigenvectors():
    u = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)) + 1j)[0]
    rho = u @ np.diag([0.5, 0.5, 0.1, -0.1]) @ u.conj().T
    projected = project_to_states(rho)
    expected = u @ np.diag([0.5 - 0.1 / 3, 0.5 - 0.1 / 3, 0.1 - 0.1 / 3, 0]) @ u.conj().T
    np.testing.assert_allclose(projected, expected, atol=1e-12)
    np.testing.assert_allclose(project_to_states(np.diag([1.2, -0.1, -0.1, 0])), np.diag([1, 0, 0, 0]), atol=1e-12)
    assert project_to_states(np.array([rho, rho])).shape == (2, 4, 4)


def test_unknown_method_is_rejected_listing_the_methods():
    with pytest.raises(ValueError, match="'bayes'.*linear_inversion, projected_least_squares, mle"):
        reconstruct(sample_counts(bell_state(), 10, rng=0), "bayes")


# --- zero counts and missing settings ----------------------------------------------------------


def test_zero_counts_in_impossible_outcomes_are_handled():
    counts = sample_counts(bell_state(), 1000, rng=0)
    assert (counts.values == 0).sum() >= 6
    result = reconstruct(counts, "mle")
    assert np.isfinite(result.log_likelihood) and result.converged


def test_a_setting_with_zero_counts_is_ignored():
    counts = sample_counts(STATES["rank_two"], [2000] * 9 + [0], settings=PAULI_SETTINGS + ("ZZ",), rng=3)
    with_empty = reconstruct(counts, "mle", tol=1e-8).density_matrix
    without = reconstruct(counts.isel(setting=slice(0, 9)), "mle", tol=1e-8).density_matrix
    np.testing.assert_allclose(with_empty, without, atol=1e-6)


@pytest.mark.parametrize("method", ["linear_inversion", "projected_least_squares", "mle"])
def test_a_missing_pauli_setting_is_rejected_naming_it(method):
    counts = sample_counts(bell_state(), 100, rng=0).drop_sel(setting="XY")
    with pytest.raises(ValueError, match=r"do not determine a two-qubit state.*missing Pauli settings \['XY'\]"):
        reconstruct(counts, method)


def test_a_setting_with_only_zero_counts_counts_as_missing():
    counts = sample_counts(bell_state(), [100] * 8 + [0], rng=0)
    with pytest.raises(ValueError, match=r"zero counts \['ZZ'\].*missing Pauli settings \['ZZ'\]"):
        reconstruct(counts)


def test_a_table_without_any_counts_is_rejected():
    counts = sample_counts(bell_state(), 0, rng=0)
    with pytest.raises(ValueError, match="no counts at all"):
        reconstruct(counts)


def test_counts_in_an_outcome_the_readout_makes_impossible_are_rejected():
    stuck = [[[1.0, 1.0], [0.0, 0.0]], [[0.9, 0.1], [0.1, 0.9]]]  # qubit 1 always reads 0
    counts = sample_counts(bell_state(), 100, rng=0)
    with pytest.raises(ValueError, match="impossible"):
        reconstruct(counts, assignment=stuck)


# --- batching ------------------------------------------------------------------------------------


def test_reconstruct_many_agrees_with_reconstruct_one_by_one():
    rhos = np.array([STATES[k] for k in ("singlet", "rank_two", "full_rank")])
    counts = sample_counts(rhos, 500, rng=2, leading_dims=("point",))
    many = reconstruct_many(counts, "mle", tol=1e-9)
    assert many.dims == ("point",)
    for i in range(3):
        one = reconstruct(counts.isel(point=i), "mle", tol=1e-9)
        np.testing.assert_allclose(many.density_matrix[i], one.density_matrix, atol=1e-5)
        assert many.log_likelihood[i] == pytest.approx(one.log_likelihood, abs=1e-6)


def test_reconstruct_many_keeps_two_leading_dims():
    counts = sample_counts(np.array([bell_state()] * 6).reshape(2, 3, 4, 4), 100, rng=1,
                           leading_dims=("kappa", "n_source"))
    result = reconstruct_many(counts)
    assert result.density_matrix.shape == (2, 3, 4, 4)
    assert np.shape(result.log_likelihood) == (2, 3) and result.dims == ("kappa", "n_source")


def test_results_convert_to_labelled_density_matrices():
    counts = sample_counts(np.array([bell_state()] * 3), 100, rng=1, leading_dims=("point",))
    many = reconstruct_many(counts).to_xarray()
    assert many.dims == ("point", "ket", "bra")
    one = reconstruct(counts.isel(point=0)).to_xarray()
    assert one.sel(ket="eg", bra="eg").real.item() == pytest.approx(0.5, abs=0.1)
    assert one.attrs["method"] == "mle" and one.attrs["log_likelihood"] < 0


def test_probabilities_of_the_measurement_model_sum_to_one_per_setting():
    model = measurement_model(PAULI_SETTINGS, READOUT)
    p = model.probabilities(STATES["full_rank"])
    np.testing.assert_allclose(p.sum(axis=-1), 1, atol=1e-12)
    assert p.min() >= 0
