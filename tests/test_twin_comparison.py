"""Measured counts against the twin's prediction: fidelity interval and likelihood-ratio test."""

import numpy as np
import pytest

from thermalink.analysis import (
    TwinComparison,
    bell_state,
    compare_with_twin,
    measurement_model,
    reconstruct_many,
    sample_counts,
    state_log_likelihood,
)
from thermalink.simulators import LinkParameters, steady_state

READOUT = [[[0.97, 0.06], [0.03, 0.94]], [[0.95, 0.10], [0.05, 0.90]]]


@pytest.fixture(scope="module")
def twin():
    return steady_state(LinkParameters(kappa=0.1, n_source=10.0))


@pytest.fixture(scope="module")
def hotter_twin():
    return steady_state(LinkParameters(kappa=0.1, n_source=30.0))


def test_counts_drawn_from_the_twin_are_consistent_with_it(twin):
    counts = sample_counts(twin, 5000, rng=1)
    result = compare_with_twin(counts, twin, rng=2)
    assert isinstance(result, TwinComparison)
    assert result.consistent and result.p_value > 0.05 and result.p_value_simulated > 0.05
    low, high = result.fidelity_interval
    assert 0.98 < low <= result.fidelity <= high <= 1
    assert result.summary().startswith("consistent with the twin:")


def test_counts_from_a_hotter_source_are_not_consistent_with_the_twin(twin, hotter_twin):
    counts = sample_counts(hotter_twin, 5000, rng=3)
    result = compare_with_twin(counts, twin, rng=4)
    assert not result.consistent
    assert result.p_value < 1e-6
    assert result.likelihood_ratio > 100
    assert result.summary().startswith("NOT consistent with the twin:")


def test_readout_errors_are_accounted_for_in_the_goodness_of_fit(twin):
    counts = sample_counts(twin, 5000, assignment=READOUT, rng=5)
    assert compare_with_twin(counts, twin, assignment=READOUT, rng=6).consistent
    assert not compare_with_twin(counts, twin, rng=6, n_null_samples=0).consistent


def test_twin_can_be_given_as_link_parameters(twin):
    counts = sample_counts(twin, 2000, rng=7)
    a = compare_with_twin(counts, LinkParameters(kappa=0.1, n_source=10.0), rng=8, n_null_samples=0)
    b = compare_with_twin(counts, twin, rng=8, n_null_samples=0)
    assert a.likelihood_ratio == pytest.approx(b.likelihood_ratio)


def test_likelihood_ratio_of_a_full_rank_state_follows_chi_squared_with_15_dof(twin):
    """Wilks: 2 (logL(MLE) - logL(truth)) ~ chi2(15), mean 15, variance 30."""
    counts = sample_counts(twin, 20000, rng=9, size=400)
    mle = reconstruct_many(counts, "mle")
    lr = 2 * (mle.log_likelihood - state_log_likelihood(counts, twin))
    assert np.mean(lr) == pytest.approx(15, abs=1.5)
    assert np.var(lr) == pytest.approx(30, rel=0.35)


def test_an_observed_outcome_the_twin_forbids_gives_infinite_likelihood_ratio():
    counts = sample_counts(0.9 * bell_state() + 0.1 * np.eye(4) / 4, 1000, rng=10)
    result = compare_with_twin(counts, bell_state(), rng=11)
    assert result.likelihood_ratio == np.inf and result.p_value == 0 and not result.consistent


def test_an_unphysical_twin_state_is_rejected(twin):
    counts = sample_counts(twin, 100, rng=0)
    with pytest.raises(ValueError, match="trace 2"):
        compare_with_twin(counts, 2 * twin)
    with pytest.raises(ValueError, match="4x4"):
        compare_with_twin(counts, np.eye(2))


def test_twin_probabilities_use_the_counts_settings(twin):
    counts = sample_counts(twin, 1000, settings=["ZZ", "XX", "YY", "XY", "YX", "XZ", "ZX", "YZ", "ZY"], rng=12)
    model = measurement_model(list(counts.setting.values))
    p = model.probabilities(twin)
    assert p[0, 3] == pytest.approx(twin[3, 3].real)  # ZZ outcome 11 = |ee>
    assert compare_with_twin(counts, twin, rng=13, n_null_samples=50).consistent


def test_the_summary_says_how_many_not_consistent_points_chance_gives():
    from thermalink.experiments.sweep_report import chance_inconsistencies

    line = chance_inconsistencies(21, 1, 0.05)
    assert "about 1.1 of 21 points are NOT consistent by chance alone" in line
    assert "1 or more with probability 0.66" in line  # 1 - 0.95**21
    assert "0 or more with probability 1.00" in chance_inconsistencies(21, 0, 0.05)
    assert "5 or more with probability 0.00" in chance_inconsistencies(21, 5, 0.05)  # 0.0027: not chance
