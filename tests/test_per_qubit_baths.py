"""Per-qubit local baths: the core's per-qubit fields, and the lab inputs (T1, T2, residual
excited population, with uncertainties) that fix them."""

import math
import warnings

import numpy as np
import pytest

from qutip_reference import qubit_steady_state
from thermalink.simulators import LinkParameters, solve_exact
from thermalink.simulators.lab_units import IllConditionedWarning, LabLink

SHARED = dict(gamma_local=0.2, n_qubit=0.3, gamma_phi=0.1)


def test_per_qubit_values_equal_to_the_shared_ones_give_the_same_state_bit_for_bit():
    base = LinkParameters(kappa=0.3, n_source=4.0, delta1=0.2, delta2=-0.2, **SHARED)
    per_qubit = base.replace(**{f"{name}{j}": value for name, value in SHARED.items() for j in (1, 2)})
    np.testing.assert_array_equal(solve_exact(per_qubit).rho, solve_exact(base).rho)
    # and a per-qubit value overrides the shared one for its qubit only
    own = base.replace(gamma_local2=0.05)
    assert own.qubit_bath(1).gamma_local == 0.2 and own.qubit_bath(2).gamma_local == 0.05
    assert own.replace(gamma_local=0.4).qubit_bath(1).gamma_local == 0.4  # shared still reaches qubit 1


@pytest.mark.parametrize("delta", [0.0, 0.3])
def test_different_baths_per_qubit_match_the_brute_force_master_equation(delta):
    p = LinkParameters(kappa=0.5, n_source=2.0, in_coupling=0.6, gamma2=0.7, delta1=delta, delta2=-delta,
                       transmission=0.8, gamma_local1=0.25, n_qubit1=0.6, gamma_phi1=0.05,
                       gamma_local2=0.02, n_qubit2=0.0, gamma_phi2=0.3)
    np.testing.assert_allclose(solve_exact(p, cutoff=30).rho, qubit_steady_state(p, 30), rtol=0, atol=1e-10)


def test_a_qubit_without_decay_names_its_own_local_field():
    with pytest.raises(ValueError, match="gamma_local2"):
        LinkParameters(kappa=0.1, n_source=1.0, gamma2=0.0, gamma_local=0.1, gamma_local2=0.0)
    with pytest.raises(ValueError, match=r"n_qubit1=-0.1 is outside the allowed range \[0.0, inf\]"):
        LinkParameters(kappa=0.1, n_source=1.0, n_qubit1=-0.1)


def lab(**changes) -> LabLink:
    values = dict(bandwidth_Hz=1e5, source_occupation=0.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6e9,
                  qubit2_frequency_Hz=6e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=0.8e6)
    values.update(changes)
    return LabLink(**values)


def lab_inputs_of(g_wg, g_loc, n, n_w=0.0):
    """T1 and excited population of a qubit with waveguide (rate g_wg, occupation n_w) and local bath."""
    up = g_wg * n_w + g_loc * n
    down = g_wg * (n_w + 1) + g_loc * (n + 1)
    return 1 / (up + down), up / (up + down)


@pytest.mark.parametrize("n_w", [0.0, 0.004])
def test_local_bath_is_recovered_from_t1_and_the_measured_population(n_w):
    g1, g2 = 2 * math.pi * 1e6, 2 * math.pi * 0.8e6
    t1_1, p1 = lab_inputs_of(g1, 0.3 * g1, 0.05, n_w)
    t1_2, p2 = lab_inputs_of(g2, 0.1 * g1, 0.4)
    link = lab(qubit1_t1_s=t1_1, qubit1_excited_population=p1, qubit1_waveguide_occupation=n_w,
               qubit2_t1_s=t1_2, qubit2_excited_population=p2)
    params = link.to_parameters()
    assert params.qubit_bath(1)[:2] == (pytest.approx(0.3), pytest.approx(0.05))
    assert params.qubit_bath(2)[:2] == (pytest.approx(0.1), pytest.approx(0.4))


def test_local_decay_from_t1_and_a_given_bath_occupation_counts_a_warm_waveguide():
    g1 = 2 * math.pi * 1e6
    t1, _ = lab_inputs_of(g1, 0.3 * g1, 0.05, n_w=0.004)
    link = lab(qubit1_t1_s=t1, qubit1_waveguide_occupation=0.004, local_occupation=0.05)
    assert link.to_parameters().qubit_bath(1)[0] == pytest.approx(0.3)


def test_the_twin_reproduces_the_measured_population_of_qubit_one():
    # Source off: qubit 1 sees a cold waveguide, so its steady population is the measured one.
    g = 2 * math.pi * 1e6
    t1, _ = lab_inputs_of(g, 0.05 * g, 0.0)
    link = lab(t1_s=t1, qubit1_excited_population=0.01, qubit2_linewidth_Hz=1e6)
    params = link.to_parameters()
    rho = solve_exact(params).rho
    assert rho[2, 2].real + rho[3, 3].real == pytest.approx(0.01, rel=1e-9)
    # The bath is much hotter than p / (1 - 2p): the cold waveguide pulls the qubit down.
    assert params.qubit_bath(1).n_qubit > 10 * 0.01 / 0.98


def test_a_measured_population_is_about_thirty_times_the_old_reading_as_bath_occupation():
    link = dict(t1_s=1.55e-7, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6)
    old = lab(local_occupation=0.01, **link).to_parameters().qubit_bath(1)
    new = lab(qubit1_excited_population=0.01, qubit2_excited_population=0.01, **link).to_parameters().qubit_bath(1)
    upward_ratio = (new.gamma_local * new.n_qubit) / (old.gamma_local * old.n_qubit)
    assert 30 < upward_ratio < 50


def test_uncertainties_propagate_and_an_ill_conditioned_local_decay_is_reported():
    # Waveguide-limited: T1 = 155 ns against 159 ns from the waveguide alone.
    link = lab(qubit1_t1_s=1.55e-7, qubit1_t1_err_s=1.55e-9, qubit2_linewidth_Hz=1e6)
    rates = link.local_rates(1)
    g = 2 * math.pi * 1e6
    assert rates.gamma_local_per_s == pytest.approx(1 / 1.55e-7 - g)
    assert rates.gamma_local_err_per_s == pytest.approx(1.55e-9 / 1.55e-7**2)
    assert rates.t1_sensitivity == pytest.approx((1 / 1.55e-7) / (1 / 1.55e-7 - g))  # ~40: 1 % -> 40 %
    assert rates.gamma_local_relative_err == pytest.approx(0.01 * rates.t1_sensitivity)
    with pytest.warns(IllConditionedWarning, match=r"qubit 1: gamma_local .*relative error 38%.*38 %"):
        link.to_parameters()
    with pytest.warns(IllConditionedWarning):
        link.to_parameters(max_relative_error=0.5)  # 38 % is allowed there (warned, not refused)
    twice = lab(qubit1_t1_s=1.55e-7, qubit1_t1_err_s=3.1e-9, qubit2_linewidth_Hz=1e6)
    with pytest.raises(ValueError, match=r"relative error 77%.*allowed relative error up to 50%"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IllConditionedWarning)
            twice.to_parameters(max_relative_error=0.5)


def test_population_errors_propagate_to_the_bath_occupation_by_finite_differences():
    base = dict(qubit1_t1_s=1.0e-7, qubit1_excited_population=0.02, qubit1_t2_s=1.5e-7)
    errors = dict(qubit1_t1_err_s=2e-9, qubit1_excited_population_err=1e-3, qubit1_linewidth_err_Hz=1e4,
                  qubit1_t2_err_s=3e-9)
    rates = lab(**base, **errors).local_rates(1)
    steps = {"qubit1_t1_s": "qubit1_t1_err_s", "qubit1_excited_population": "qubit1_excited_population_err",
             "qubit1_linewidth_Hz": "qubit1_linewidth_err_Hz", "qubit1_t2_s": "qubit1_t2_err_s"}
    variance = {"n": 0.0, "g_loc": 0.0, "g_phi": 0.0}
    for name, err_name in steps.items():
        value = {**base, "qubit1_linewidth_Hz": 1e6}[name]
        h = 1e-6 * value
        plus = lab(**{**base, name: value + h}).local_rates(1)
        minus = lab(**{**base, name: value - h}).local_rates(1)
        for key, attr in (("n", "n_qubit"), ("g_loc", "gamma_local_per_s"), ("g_phi", "gamma_phi_per_s")):
            derivative = (getattr(plus, attr) - getattr(minus, attr)) / (2 * h)
            variance[key] += (derivative * errors[err_name]) ** 2
    assert rates.n_qubit_err == pytest.approx(math.sqrt(variance["n"]), rel=1e-5)
    assert rates.gamma_local_err_per_s == pytest.approx(math.sqrt(variance["g_loc"]), rel=1e-5)
    assert rates.gamma_phi_err_per_s == pytest.approx(math.sqrt(variance["g_phi"]), rel=1e-5)


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(qubit1_t1_s=1.0e-7, qubit1_excited_population=0.6), "qubit1_excited_population=0.6"),
        (dict(qubit1_excited_population=0.01), "needs qubit 1's T1"),
        (dict(t1_s=1.0e-7, local_occupation=0.1, qubit2_excited_population=0.01), "give one"),
        # T1 at the waveguide limit leaves no local bath to excite the qubit
        (dict(qubit1_t1_s=1 / (2 * math.pi * 1e6), qubit1_excited_population=0.01), "inconsistent"),
        (dict(qubit2_t1_s=2.5e-7), "qubit2_t1_s=2.5e-07"),
        (dict(qubit1_t1_err_s=-1.0), "qubit1_t1_err_s"),
    ],
)
def test_inconsistent_lab_inputs_are_refused_naming_the_value(changes, match):
    with pytest.raises(ValueError, match=match):
        lab(**changes).local_rates(1)
