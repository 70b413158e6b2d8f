"""Figures of merit against closed forms (Werner states, X states, pure states) to 1e-10."""

import numpy as np
import pytest

from thermalink.analysis import (
    bell_fidelity,
    bell_state,
    concurrence,
    figures_of_merit,
    log_negativity,
    negativity,
    optimal_bell_phase,
    partial_transpose,
    purity,
    singlet_fidelity,
    trace_distance,
    uhlmann_fidelity,
)

ATOL = 1e-10
GG, GE, EG, EE = 0, 1, 2, 3
SINGLET = bell_state(0.0)


def werner(p):
    """``p |S><S| + (1 - p) I/4`` for an array of ``p``: shape (..., 4, 4)."""
    p = np.asarray(p, dtype=float)[..., None, None]
    return p * SINGLET + (1 - p) * np.eye(4) / 4


def x_state(a, b, c, d, z, w):
    """Diagonal (gg, ge, eg, ee) = (a, b, c, d), <ge|rho|eg> = z, <gg|rho|ee> = w."""
    rho = np.diag([a, b, c, d]).astype(complex)
    rho[GE, EG], rho[EG, GE] = z, np.conj(z)
    rho[GG, EE], rho[EE, GG] = w, np.conj(w)
    return rho


def random_x_states(n, seed):
    """Physical X states: |z| <= sqrt(b c), |w| <= sqrt(a d)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, b, c, d = rng.dirichlet(np.ones(4))
        z = rng.uniform(0, 1) * np.sqrt(b * c) * np.exp(2j * np.pi * rng.uniform())
        w = rng.uniform(0, 1) * np.sqrt(a * d) * np.exp(2j * np.pi * rng.uniform())
        out.append(((a, b, c, d, z, w), x_state(a, b, c, d, z, w)))
    return out


def random_pure(seed):
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=4) + 1j * rng.normal(size=4)
    return psi / np.linalg.norm(psi)


P_GRID = np.linspace(0, 1, 21)


def test_werner_concurrence_is_max_of_zero_and_three_p_minus_one_over_two():
    expected = np.maximum(0, (3 * P_GRID - 1) / 2)
    np.testing.assert_allclose(concurrence(werner(P_GRID)), expected, atol=ATOL)


def test_werner_negativity_and_log_negativity_match_closed_forms():
    expected = np.maximum(0, (3 * P_GRID - 1) / 4)
    np.testing.assert_allclose(negativity(werner(P_GRID)), expected, atol=ATOL)
    np.testing.assert_allclose(log_negativity(werner(P_GRID)), np.log2(1 + 2 * expected), atol=ATOL)


def test_werner_singlet_fidelity_purity_and_bell_fidelity_match_closed_forms():
    rho = werner(P_GRID)
    np.testing.assert_allclose(singlet_fidelity(rho), (1 + 3 * P_GRID) / 4, atol=ATOL)
    np.testing.assert_allclose(bell_fidelity(rho), (1 + 3 * P_GRID) / 4, atol=ATOL)
    np.testing.assert_allclose(purity(rho), (1 + 3 * P_GRID**2) / 4, atol=ATOL)


def test_singlet_is_maximally_entangled_with_unit_figures():
    assert concurrence(SINGLET) == pytest.approx(1, abs=ATOL)
    assert negativity(SINGLET) == pytest.approx(0.5, abs=ATOL)
    assert log_negativity(SINGLET) == pytest.approx(1, abs=ATOL)
    assert singlet_fidelity(SINGLET) == pytest.approx(1, abs=ATOL)


@pytest.mark.parametrize("seed", range(5))
def test_x_state_concurrence_is_twice_the_largest_coherence_excess(seed):
    for (a, b, c, d, z, w), rho in random_x_states(20, seed):
        expected = 2 * max(0.0, abs(z) - np.sqrt(a * d), abs(w) - np.sqrt(b * c))
        assert concurrence(rho) == pytest.approx(expected, abs=ATOL)


@pytest.mark.parametrize("seed", range(5))
def test_x_state_negativity_sums_the_negative_partial_transpose_eigenvalues(seed):
    for (a, b, c, d, z, w), rho in random_x_states(20, seed):
        # rho^T2 swaps the coherences: |z| couples gg-ee, |w| couples ge-eg
        neg = max(0.0, np.hypot((a - d) / 2, abs(z)) - (a + d) / 2) + max(
            0.0, np.hypot((b - c) / 2, abs(w)) - (b + c) / 2
        )
        assert negativity(rho) == pytest.approx(neg, abs=ATOL)
        assert log_negativity(rho) == pytest.approx(np.log2(1 + 2 * neg), abs=ATOL)


@pytest.mark.parametrize("seed", range(3))
def test_x_state_singlet_and_phase_optimised_bell_fidelities_match_closed_forms(seed):
    for (a, b, c, d, z, w), rho in random_x_states(20, seed):
        assert singlet_fidelity(rho) == pytest.approx((b + c) / 2 - z.real, abs=ATOL)
        assert bell_fidelity(rho) == pytest.approx((b + c) / 2 + abs(z), abs=ATOL)
        assert purity(rho) == pytest.approx(a * a + b * b + c * c + d * d + 2 * abs(z) ** 2 + 2 * abs(w) ** 2,
                                            abs=ATOL)


def test_optimal_bell_phase_attains_the_bell_fidelity_for_complex_coherences():
    for phase in np.linspace(-3, 3, 13):
        rho = 0.8 * bell_state(phase) + 0.2 * np.eye(4) / 4
        phi = optimal_bell_phase(rho)
        attained = np.trace(bell_state(phi) @ rho).real
        assert attained == pytest.approx(bell_fidelity(rho), abs=ATOL)
        assert np.exp(1j * phi) == pytest.approx(np.exp(1j * phase), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_pure_state_concurrence_is_twice_the_determinant_and_negativity_half_of_it(seed):
    psi = random_pure(seed)
    rho = np.outer(psi, psi.conj())
    c = 2 * abs(psi[GG] * psi[EE] - psi[GE] * psi[EG])
    assert concurrence(rho) == pytest.approx(c, abs=ATOL)
    assert negativity(rho) == pytest.approx(c / 2, abs=ATOL)
    assert purity(rho) == pytest.approx(1, abs=ATOL)


def test_uhlmann_fidelity_of_a_pure_state_is_its_expectation_value():
    psi = random_pure(11)
    rho = werner(0.3) + 0.0
    rho = 0.5 * rho + 0.5 * np.outer(random_pure(12), random_pure(12).conj())
    expected = np.vdot(psi, rho @ psi).real
    pure = np.outer(psi, psi.conj())
    assert uhlmann_fidelity(pure, rho) == pytest.approx(expected, abs=ATOL)
    assert uhlmann_fidelity(rho, pure) == pytest.approx(expected, abs=ATOL)


def test_uhlmann_fidelity_of_commuting_states_is_the_classical_fidelity():
    p, q = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.25, 0.05, 0.5, 0.2])
    expected = np.sum(np.sqrt(p * q)) ** 2
    assert uhlmann_fidelity(np.diag(p), np.diag(q)) == pytest.approx(expected, abs=ATOL)
    assert trace_distance(np.diag(p), np.diag(q)) == pytest.approx(0.5 * np.abs(p - q).sum(), abs=ATOL)


def test_trace_distance_of_pure_states_is_sqrt_of_one_minus_overlap():
    a, b = random_pure(1), random_pure(2)
    overlap = abs(np.vdot(a, b)) ** 2
    ra, rb = np.outer(a, a.conj()), np.outer(b, b.conj())
    assert trace_distance(ra, rb) == pytest.approx(np.sqrt(1 - overlap), abs=ATOL)
    assert uhlmann_fidelity(ra, rb) == pytest.approx(overlap, abs=ATOL)


def test_werner_fidelity_and_trace_distance_to_the_singlet_match_closed_forms():
    rho = werner(P_GRID)
    np.testing.assert_allclose(uhlmann_fidelity(rho, SINGLET), (1 + 3 * P_GRID) / 4, atol=ATOL)
    np.testing.assert_allclose(trace_distance(rho, SINGLET), 3 * (1 - P_GRID) / 4, atol=ATOL)


def test_figures_accept_stacks_and_return_their_leading_shape():
    stack = werner(np.linspace(0, 1, 6)).reshape(2, 3, 4, 4)
    for name, value in figures_of_merit(stack, reference=SINGLET).items():
        assert np.shape(value) == (2, 3), name
    assert isinstance(concurrence(SINGLET), float)


def test_partial_transpose_on_qubit_2_swaps_its_indices():
    rho = np.arange(16).reshape(4, 4).astype(complex)
    pt = partial_transpose(rho)
    # <i1 i2|rho^T2|j1 j2> = <i1 j2|rho|j1 i2>
    for i1, i2, j1, j2 in np.ndindex(2, 2, 2, 2):
        assert pt[2 * i1 + i2, 2 * j1 + j2] == rho[2 * i1 + j2, 2 * j1 + i2]


def test_figures_reject_arrays_that_are_not_4x4():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, 4\)"):
        concurrence(np.eye(3))


def test_the_shared_decompositions_give_each_figure_exactly_as_its_own_function():
    from thermalink.simulators.figures_of_merit import ALL_STATE_FIGURES

    rng = np.random.default_rng(5)
    g = rng.normal(size=(40, 4, 4)) + 1j * rng.normal(size=(40, 4, 4))
    g[:10, :, 2:] = 0  # rank 2: exact zeros in the square roots
    stack = g @ np.conj(np.swapaxes(g, -1, -2))
    stack /= np.trace(stack, axis1=-2, axis2=-1).real[:, None, None]
    stack = np.concatenate([stack, werner(P_GRID), SINGLET[None]])
    reference = stack[3]
    shared = figures_of_merit(stack, reference=reference)
    alone = {name: fn(stack) for name, fn in ALL_STATE_FIGURES.items()}
    alone.update(fidelity=uhlmann_fidelity(stack, reference), trace_distance=trace_distance(stack, reference))
    assert list(shared) == list(alone)
    for name, value in alone.items():
        np.testing.assert_array_equal(shared[name], value, err_msg=name)
