"""Certification: coverage of the lower confidence bounds and the shot budget's success, by simulation.

Coverage is judged with the binomial error of the simulation: the number of data sets whose bound
lies at or below the true value must not be significantly (one-sided, 1 %) below the promised
confidence. Everything is seeded and batched (``certify_many``).
"""

import json

import numpy as np
import pytest
from scipy.stats import binom

from thermalink.analysis import (
    lower_bounds,
    CERTIFIED_FIGURES,
    bell_state,
    lower_confidence_bounds,
    sample_counts,
    shot_budget,
)
from thermalink.analysis.certification import (
    MIN_RELIABLE_SHOTS,
    _kron_pair,
    assignment_from_calibration,
    calibration_values,
    certify_many,
    x_part_concurrence,
)
from thermalink.analysis.tomography_data import PAULI_SETTINGS, counts_array
from thermalink.simulators import LinkParameters, steady_state

#: Per-qubit readout errors, different per qubit and direction.
ASSIGNMENT = np.array([[[0.97, 0.06], [0.03, 0.94]], [[0.985, 0.045], [0.015, 0.955]]])
TWIN = steady_state(LinkParameters(kappa=0.01, n_source=400.0))  # Bell fidelity 0.751, C = 0.685
WERNER_EDGE = bell_state() / 3 + (2 / 3) * np.eye(4) / 4  # separable, on the boundary: C = 0
PRODUCT = np.kron(np.diag([0.8, 0.2]), np.diag([0.7, 0.3])).astype(complex)  # no coherence at all
DATA_SETS = 250
RESAMPLES = 100


def truths(rho):
    return {name: float(fn(rho)) for name, fn in CERTIFIED_FIGURES.items()}


def not_below(covered: int, trials: int, promised: float) -> bool:
    """True unless ``covered`` of ``trials`` is significantly (one-sided 1 %) below ``promised``."""
    return binom.cdf(covered, trials, promised) > 0.01


def calibration_draws(shots, size, rng):
    """Calibration counts [prepared, read] of the readout ASSIGNMENT, ``size`` independent runs."""
    return rng.multinomial(shots, np.broadcast_to(_kron_pair(ASSIGNMENT).T, (size, 4, 4)))


def simulate(rho, shots, calibration_shots, seed, confidence=0.95, carry_calibration=True):
    rng = np.random.default_rng(seed)
    values = sample_counts(rho, shots, assignment=ASSIGNMENT, rng=rng, size=DATA_SETS).values
    cal = calibration_draws(calibration_shots, DATA_SETS, rng)
    if carry_calibration:
        _, lower, _ = certify_many(values, calibration=cal, confidence=confidence, n_resamples=RESAMPLES,
                                   rng=seed + 1, estimates=False)
    else:  # the estimated assignment taken as exact
        _, lower, _ = certify_many(values, assignment=assignment_from_calibration(cal), confidence=confidence,
                                   n_resamples=RESAMPLES, rng=seed + 1, estimates=False)
    return lower


def test_x_part_concurrence_is_a_lower_bound_equal_for_x_states():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(200, 4, 4)) + 1j * rng.normal(size=(200, 4, 4))
    rho = g @ np.conj(np.swapaxes(g, -1, -2))
    rho /= np.trace(rho, axis1=-2, axis2=-1).real[:, None, None]
    assert np.all(x_part_concurrence(rho) <= CERTIFIED_FIGURES["concurrence"](rho) + 1e-12)
    assert x_part_concurrence(TWIN) == pytest.approx(CERTIFIED_FIGURES["concurrence"](TWIN), abs=1e-9)
    assert x_part_concurrence(WERNER_EDGE) == pytest.approx(0.0, abs=1e-12)


def test_bounds_cover_the_twin_state_at_the_promised_rate_with_the_calibration_resampled():
    truth = truths(TWIN)
    lower = simulate(TWIN, 2000, 5000, seed=11)
    for name, bound in lower.items():
        covered = int(np.sum(bound <= truth[name]))
        assert not_below(covered, DATA_SETS, 0.95), (name, covered)
    # ... and they are informative: within a few standard errors (~0.01) of the truth, certifying F > 0.70
    assert np.mean(truth["bell_fidelity"] - lower["bell_fidelity"]) < 0.03
    assert np.mean(lower["bell_fidelity"] > 0.70) > 0.9
    assert np.all(lower["concurrence"] > 0)


def test_a_stricter_confidence_covers_more_often_and_lies_lower():
    truth = truths(TWIN)
    low95 = simulate(TWIN, 2000, 5000, seed=12)["singlet_fidelity"]
    low99 = simulate(TWIN, 2000, 5000, seed=12, confidence=0.99)["singlet_fidelity"]
    assert np.all(low99 < low95)
    assert not_below(int(np.sum(low99 <= truth["singlet_fidelity"])), DATA_SETS, 0.99)


def test_a_coarse_calibration_under_covers_unless_its_uncertainty_is_carried():
    truth = truths(TWIN)["bell_fidelity"]
    carried = simulate(TWIN, 2000, 100, seed=13)["bell_fidelity"]
    ignored = simulate(TWIN, 2000, 100, seed=13, carry_calibration=False)["bell_fidelity"]
    assert not_below(int(np.sum(carried <= truth)), DATA_SETS, 0.95)
    # the failure the calibration resampling prevents: significantly below the promised 95 %
    assert not not_below(int(np.sum(ignored <= truth)), DATA_SETS, 0.95)


def test_bounds_cover_at_the_boundary_of_separable_states():
    # concurrence 0 on the edge of the separable set: the bound must (almost always) be 0
    lower = simulate(WERNER_EDGE, 2000, 5000, seed=14)
    assert not_below(int(np.sum(lower["concurrence"] <= 0.0)), DATA_SETS, 0.95)
    for name in ("bell_fidelity", "singlet_fidelity"):
        assert not_below(int(np.sum(lower[name] <= truths(WERNER_EDGE)[name])), DATA_SETS, 0.95), name
    # no coherence: the phase-maximised fidelity's estimate is biased up, the bound must not be
    lower = simulate(PRODUCT, 2000, 5000, seed=15)
    for name, truth in truths(PRODUCT).items():
        assert not_below(int(np.sum(lower[name] <= truth)), DATA_SETS, 0.95), name


def test_shot_budget_succeeds_as_promised_and_not_with_far_fewer_shots():
    budget = shot_budget(TWIN, ASSIGNMENT, repetition_time_s=100e-6, settle_time_s=2.0)
    assert budget.figure == "bell_fidelity" and budget.target == 0.70 and budget.confidence == 0.95
    assert budget.wall_time_s == pytest.approx(2.0 + 9 * budget.shots_per_setting * 100e-6)
    assert budget.success_at(budget.shots_per_setting) >= 0.9 > budget.success_at(budget.shots_per_setting - 1)
    rng = np.random.default_rng(21)
    for shots, promised in ((budget.shots_per_setting, 0.9), (budget.shots_per_setting // 10, None)):
        values = sample_counts(TWIN, shots, assignment=ASSIGNMENT, rng=rng, size=DATA_SETS).values
        _, lower, _ = certify_many(values, assignment=ASSIGNMENT, n_resamples=RESAMPLES, rng=22, estimates=False)
        certified = int(np.sum(lower["bell_fidelity"] > 0.70))
        if promised:
            assert not_below(certified, DATA_SETS, promised), certified
        else:
            assert certified / DATA_SETS < 0.5


def test_shot_budget_grows_with_readout_errors_confidence_and_a_coarse_calibration():
    ideal = shot_budget(TWIN).shots_per_setting
    noisy = shot_budget(TWIN, ASSIGNMENT).shots_per_setting
    strict = shot_budget(TWIN, ASSIGNMENT, confidence=0.99).shots_per_setting
    calibrated = shot_budget(TWIN, ASSIGNMENT, calibration_shots=2000)
    assert ideal < noisy < strict
    assert calibrated.shots_per_setting > noisy and calibrated.calibration_standard_error > 0
    entangled = shot_budget(TWIN, ASSIGNMENT, figure="concurrence")
    assert entangled.target == 0.0 and entangled.shots_per_setting == MIN_RELIABLE_SHOTS  # C = 0.68: easy


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": 1.2}, r"target=1.2 is outside the allowed range \[0, 1\]"),
    ({"target": -0.1}, r"target=-0.1 is outside"),
    ({"confidence": 1.0}, r"confidence=1.0 is outside the allowed range \(0, 1\)"),
    ({"confidence": 0}, r"confidence=0.0 is outside"),
    ({"success_probability": 1.5}, r"success_probability=1.5 is outside the allowed range \(0, 1\)"),
    ({"figure": "purity"}, r"unknown figure of merit 'purity'; allowed: bell_fidelity"),
    ({"target": 0.8}, r"predicted bell_fidelity 0.7507 is not above the target 0.80"),
    ({"repetition_time_s": 0.0}, r"repetition_time_s=0.0 is outside the allowed range \(0, inf\) s"),
    ({"calibration_shots": 3}, r"calibration alone|cannot be certified"),
])
def test_shot_budget_refuses_bad_input_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shot_budget(TWIN, ASSIGNMENT, **kwargs)


def test_lower_confidence_bounds_of_one_table_with_its_stored_calibration():
    rng = np.random.default_rng(31)
    counts = sample_counts(TWIN, 4000, assignment=ASSIGNMENT, rng=rng)
    cal = calibration_draws(20000, 1, rng)[0]
    stored = json.dumps({"shots": 20000, "joint": (cal.T / 20000).tolist()})  # as a run stores it
    np.testing.assert_array_equal(calibration_values(stored), cal)
    cal_array = counts_array(cal, settings=("00", "01", "10", "11")).rename(setting="prepared")
    np.testing.assert_array_equal(calibration_values(cal_array), cal)
    result = lower_confidence_bounds(counts, calibration=stored, rng=32)
    again = lower_confidence_bounds(counts, calibration=cal_array, rng=32)
    assert result.lower_bound == again.lower_bound  # reproducible with a seed, same calibration
    assert lower_bounds(counts, calibration=stored, rng=32) == result.lower_bound  # the bounds alone
    assert result.calibration_shots == 20000 and result.n_resamples == 400 and result.confidence == 0.95
    for name, truth in truths(TWIN).items():
        assert result.lower_bound[name] < result.estimate[name]
        assert abs(result.estimate[name] - truth) < 0.05, name
    assert result.certified("bell_fidelity", 0.70)
    assert result.verdict().startswith("Bell fidelity > 0.70 certified at 95 %: yes (lower bound 0.7")
    assert "no (lower bound" in result.verdict(target=0.9)


def test_lower_confidence_bounds_refuse_bad_input():
    counts = sample_counts(TWIN, 100, rng=1)
    with pytest.raises(ValueError, match=r"confidence=1.5 is outside the allowed range \(0, 1\)"):
        lower_confidence_bounds(counts, confidence=1.5)
    with pytest.raises(ValueError, match=r"n_resamples=5 is outside the allowed range"):
        lower_confidence_bounds(counts, n_resamples=5)
    with pytest.raises(ValueError, match=r"shots per prepared state must be equal"):
        lower_confidence_bounds(counts, calibration=np.diag([100, 100, 100, 90]))


def test_a_joint_readout_matrix_is_resampled_as_the_joint_matrix():
    # Correlated readout (ge <-> eg crosstalk): the bound must follow the joint matrix the estimate
    # uses, not the product of its marginals (which moved it by ~0.25 before).
    from thermalink.analysis.certification import certify_many
    from thermalink.analysis.tomography_data import measurement_model

    rng = np.random.default_rng(1)
    singlet = np.array([0, -1, 1, 0]) / np.sqrt(2)
    rho = 0.8 * np.outer(singlet, singlet).astype(complex) + 0.2 * np.diag([1, 0, 0, 0])
    joint = np.kron(*[np.array([[0.97, 0.06], [0.03, 0.94]])] * 2)
    joint[:, 1], joint[:, 2] = [0.03, 0.80, 0.14, 0.03], [0.03, 0.14, 0.80, 0.03]
    joint /= joint.sum(axis=0)
    probabilities = measurement_model(PAULI_SETTINGS, joint).probabilities(rho)
    values = np.array([rng.multinomial(200_000, p / p.sum()) for p in probabilities])[None]
    calibration = np.array([rng.multinomial(200_000, joint[:, j]) for j in range(4)])[None]  # [prepared, read]
    _, low, _ = certify_many(values, PAULI_SETTINGS, joint, calibration, n_resamples=200, rng=3, estimates=False)
    assert abs(float(low["bell_fidelity"][0]) - 0.8) < 0.01
