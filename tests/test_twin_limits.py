"""The known limits of physics.md and its reference table."""

import numpy as np
import pytest
from scipy.special import exp1

from thermalink.analysis import concurrence, purity, singlet_fidelity, trace_distance
from thermalink.simulators import LinkParameters, driven_steady_state, steady_state

REFERENCE = {  # (kappa, n_source): (concurrence, singlet fidelity), physics.md
    (0.01, 10): (0.135, 0.146),
    (0.01, 100): (0.485, 0.530),
    (0.01, 1000): (0.761, 0.838),
    (0.1, 10): (0.287, 0.461),
    (0.1, 100): (0.270, 0.614),
    (0.1, 1000): (0.000, 0.494),
}


@pytest.mark.parametrize("point", sorted(REFERENCE))
def test_reference_table(point):
    kappa, n_source = point
    rho = steady_state(LinkParameters(kappa=kappa, n_source=n_source))
    c, f = REFERENCE[point]
    assert concurrence(rho) == pytest.approx(c, abs=1e-3)
    assert singlet_fidelity(rho) == pytest.approx(f, abs=1e-3)


def test_broadband_source_leaves_qubits_separable():
    distances = []
    for kappa in (10.0, 100.0, 1000.0):
        p = LinkParameters(kappa=kappa, n_source=2.0)
        exact = steady_state(p)
        assert concurrence(exact) == 0.0
        distances.append(trace_distance(exact, steady_state(p, method="markov")))
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < 1e-3


def test_markov_limit_is_a_product_of_identical_thermal_states():
    p = LinkParameters(kappa=500.0, n_source=3.0, in_coupling=0.3)
    n = 4 * p.kappa_in * p.kappa_out * p.n_source / p.kappa**2
    excited = n / (2 * n + 1)
    single = np.diag([1 - excited, excited])
    np.testing.assert_allclose(steady_state(p, method="markov"), np.kron(single, single), atol=1e-15)
    assert trace_distance(steady_state(p), np.kron(single, single)) < 2e-3


def test_markov_limit_refuses_a_local_bath():
    with pytest.raises(ValueError, match="gamma_local"):
        steady_state(LinkParameters(kappa=100.0, n_source=1.0, gamma_local=0.1), method="markov")


@pytest.mark.parametrize("detuning", [0.0, 0.4, -1.3])
def test_coherent_drive_gives_the_pure_dark_state(detuning):
    p = LinkParameters(kappa=0.2, n_source=1.0, delta1=detuning, delta2=-detuning)
    alpha = 0.7
    rho = driven_steady_state(p, [alpha])[0]
    assert purity(rho) == pytest.approx(1.0, abs=1e-10)
    g, d = 1.0, detuning
    beta_sq = 8 * p.kappa_out * g * alpha**2 / (4 * d**2 + g**2)
    # |gg> + beta |S>, normalised: populations of gg and of the singlet.
    assert rho[0, 0].real == pytest.approx(1 / (1 + beta_sq), abs=1e-10)
    assert singlet_fidelity(rho) == pytest.approx(beta_sq / (1 + beta_sq), abs=1e-10)


def adiabatic_concurrence(s: float) -> float:
    return 1 - np.exp(1 / s) * exp1(1 / s) / s


@pytest.mark.parametrize("s, detuning", [(0.5, 0.0), (3.0, 0.0), (20.0, 0.5)])
def test_adiabatic_method_matches_the_closed_form(s, detuning):
    n_filter = s * (4 * detuning**2 + 1) / (8 * 0.5 * 0.1)
    p = LinkParameters(kappa=0.1, n_source=2 * n_filter, delta1=detuning, delta2=-detuning)
    rho = steady_state(p, method="adiabatic")
    # Agreement to the accuracy of the numerical average over the thermal field.
    assert concurrence(rho) == pytest.approx(adiabatic_concurrence(s), abs=1e-7)
    weight = 1 - adiabatic_concurrence(s)  # E[1/(1+su)]: the |gg> weight
    assert rho[0, 0].real == pytest.approx(weight, abs=1e-7)


def test_exact_state_approaches_the_adiabatic_limit_from_below():
    s = 2.0
    limit = adiabatic_concurrence(s)
    values = []
    for kappa in (0.1, 0.03, 0.01, 0.003):
        n_filter = s / (8 * 0.5 * kappa)
        values.append(concurrence(steady_state(LinkParameters(kappa=kappa, n_source=2 * n_filter))))
    assert all(v < limit for v in values)
    assert values == sorted(values)
    assert limit - values[-1] < 0.25 * (limit - values[0])


def test_hot_source_breaks_the_entanglement_at_fixed_bandwidth():
    occupations = np.array([3.0, 10.0, 30.0, 100.0, 300.0, 1000.0])
    values = np.array([concurrence(steady_state(LinkParameters(kappa=0.1, n_source=n))) for n in occupations])
    peak = occupations[values.argmax()]
    assert 10.0 <= peak <= 100.0
    assert values[0] < values.max() and values.max() > 0.25
    assert values[-1] == 0.0
