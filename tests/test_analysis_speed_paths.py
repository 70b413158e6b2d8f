"""The live analysis' speed changes keep its results: chi-squared p-values without scipy.stats,
bounds and intervals unchanged on one BLAS thread."""

import numpy as np
from scipy import stats

from thermalink.analysis import compare_with_twin, sample_counts
from thermalink.analysis.certification import lower_confidence_bounds
from thermalink.simulators import LinkParameters, steady_state

READOUT = ((((0.97, 0.06), (0.03, 0.94))), (((0.95, 0.10), (0.05, 0.90))))


def test_the_chi_squared_p_value_is_scipy_stats_chi2_sf():
    twin = steady_state(LinkParameters(kappa=0.1, n_source=10.0))
    hotter = steady_state(LinkParameters(kappa=0.1, n_source=14.0))
    for state, seed in ((twin, 1), (hotter, 2)):
        result = compare_with_twin(sample_counts(state, 3000, rng=seed), twin, n_resamples=20, n_null_samples=0,
                                   rng=seed)
        assert result.likelihood_ratio > 0
        assert result.p_value == stats.chi2.sf(result.likelihood_ratio, result.degrees_of_freedom)


def test_bounds_are_the_same_whatever_the_callers_blas_threads():
    from threadpoolctl import threadpool_limits

    rho = steady_state(LinkParameters(kappa=0.1, n_source=10.0))
    counts = sample_counts(rho, 2000, assignment=READOUT, rng=3)
    calibration = np.array([[19000, 500, 450, 50], [600, 18900, 20, 480], [520, 30, 18950, 500],
                            [10, 480, 530, 18980]])
    first = lower_confidence_bounds(counts, READOUT, calibration=calibration, n_resamples=50, rng=4)
    with threadpool_limits(limits=2, user_api="blas"):
        second = lower_confidence_bounds(counts, READOUT, calibration=calibration, n_resamples=50, rng=4)
    for name, bound in first.lower_bound.items():
        assert abs(second.lower_bound[name] - bound) <= 1e-12
    assert first.lower_bound["singlet_fidelity"] > 0.3  # a real bound, not a clipped 0


def test_the_cholesky_positivity_test_is_eigvalsh_but_at_the_rounding_level():
    from thermalink.analysis.tomography import _positive_definite

    rng = np.random.default_rng(0)
    g = rng.normal(size=(4000, 4, 4)) + 1j * rng.normal(size=(4000, 4, 4))
    w, v = np.linalg.eigh(g @ np.conj(np.swapaxes(g, -1, -2)))
    w -= rng.uniform(-0.5, 1.5, size=(4000, 1)) * w[:, :1] * rng.integers(0, 2, size=(4000, 1))  # some not PD
    w[:50, 0] = 0.0  # singular: on the boundary
    matrices = (v * w[:, None, :]) @ np.conj(np.swapaxes(v, -1, -2))
    smallest = np.linalg.eigvalsh(matrices)[:, 0]
    positive = _positive_definite(matrices)
    assert 0.2 < positive.mean() < 0.95
    disagree = positive != (smallest > 0)
    assert np.all(np.abs(smallest[disagree]) < 1e-13)
    clear = np.abs(smallest) > 1e-12
    np.testing.assert_array_equal(positive[clear], smallest[clear] > 0)
