"""Parametric bootstrap: intervals for every figure of merit, coverage, reproducibility."""

import numpy as np
import pytest

from thermalink.analysis import (
    BootstrapResult,
    bell_state,
    bootstrap,
    concurrence,
    figures_of_merit,
    sample_counts,
)

WERNER = 0.8 * bell_state() + 0.2 * np.eye(4) / 4
FIGURES = {"concurrence", "negativity", "log_negativity", "singlet_fidelity", "bell_fidelity", "purity"}


def test_bootstrap_gives_an_interval_for_every_figure_of_merit_around_the_estimate():
    result = bootstrap(sample_counts(WERNER, 2000, rng=1), n_resamples=200, rng=2)
    assert isinstance(result, BootstrapResult)
    assert set(result.intervals) == FIGURES == set(result.estimate)
    assert result.n_resamples == 200 and result.confidence_level == 0.95 and result.method == "mle"
    for name, (low, high) in result.intervals.items():
        assert low < high, name
        assert low <= result.estimate[name] <= high, name
        assert result.samples[name].shape == (200,)


def test_bootstrap_intervals_cover_the_true_werner_concurrence():
    truth = concurrence(WERNER)  # (3 * 0.8 - 1) / 2 = 0.7
    covered = 0
    for seed in range(20):
        result = bootstrap(sample_counts(WERNER, 1000, rng=seed), n_resamples=100, rng=seed + 100)
        low, high = result.intervals["concurrence"]
        covered += low <= truth <= high
    assert covered >= 16  # nominal 95 %: 19 of 20 expected


def test_bootstrap_intervals_shrink_like_one_over_root_shots():
    widths = []
    for shots in (1000, 100000):
        result = bootstrap(sample_counts(WERNER, shots, rng=3), n_resamples=200, rng=4)
        low, high = result.intervals["singlet_fidelity"]
        widths.append(high - low)
    assert widths[1] / widths[0] == pytest.approx(0.1, rel=0.3)


def test_bootstrap_with_a_reference_reports_fidelity_and_trace_distance_to_it():
    result = bootstrap(sample_counts(WERNER, 5000, rng=5), reference=WERNER, rng=6, confidence_level=0.68)
    assert result.confidence_level == 0.68
    low, high = result.intervals["fidelity"]
    assert 0.98 < low < high <= 1
    assert result.intervals["trace_distance"][0] >= 0


def test_bootstrap_is_reproducible_with_a_seed():
    counts = sample_counts(WERNER, 500, rng=7)
    a = bootstrap(counts, n_resamples=50, rng=8)
    b = bootstrap(counts, n_resamples=50, rng=8)
    assert a.intervals == b.intervals
    assert a.standard_error("concurrence") > 0


@pytest.mark.parametrize("method", ["linear_inversion", "projected_least_squares"])
def test_bootstrap_supports_the_linear_methods(method):
    result = bootstrap(sample_counts(WERNER, 1000, rng=9), method, n_resamples=50, rng=10)
    assert result.method == method
    low, high = result.intervals["singlet_fidelity"]
    assert low <= figures_of_merit(WERNER)["singlet_fidelity"] + 0.05 and high >= 0.8


def test_bootstrap_rejects_a_confidence_level_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"confidence_level must lie in \(0, 1\), got 95"):
        bootstrap(sample_counts(WERNER, 100, rng=0), confidence_level=95)
