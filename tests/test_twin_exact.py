"""The exact block solver against a brute-force master equation, and its truncation."""


import numpy as np
import pytest

from qutip_reference import filter_distribution, liouvillian, qubit_steady_state
from thermalink.simulators import LinkParameters, fock_cutoff, relaxation_rate, solve_exact, steady_state
from thermalink.simulators.liouvillian_blocks import (
    REAL_PARAMS,
    _assemble,
    lowering_operators,
    present_params,
    sector_blocks,
)
from thermalink.simulators import exact_solver
from thermalink.simulators.blas_threads import single_threaded_blas
from thermalink.simulators.relaxation import sector_generator
from reference_solvers import level_storing_steady_state, sparse_lu_relaxation_rate



def random_parameters(rng: np.random.Generator) -> LinkParameters:
    """Every parameter of physics.md switched on, at a small source occupation."""
    return LinkParameters(
        kappa=rng.uniform(0.05, 3.0),
        n_source=rng.uniform(0.1, 4.0),
        in_coupling=rng.uniform(0.1, 0.9),
        gamma1=rng.uniform(0.3, 2.0),
        gamma2=rng.uniform(0.3, 2.0),
        delta1=rng.uniform(-1.0, 1.0),
        delta2=rng.uniform(-1.0, 1.0),
        transmission=rng.uniform(0.3, 1.0),
        gamma_local=rng.uniform(0.0, 0.3),
        n_qubit=rng.uniform(0.0, 0.5),
        gamma_phi=rng.uniform(0.0, 0.3),
    )


@pytest.mark.parametrize("seed, resonant", [(seed, False) for seed in range(6)] + [(10, True), (11, True)])
def test_exact_solver_matches_brute_force_master_equation(seed, resonant):
    p = random_parameters(np.random.default_rng(seed))
    if resonant:  # no detunings: the solver carries only the real-symmetric block parameters
        p = p.replace(delta1=0.0, delta2=0.0)
    cutoff = min(fock_cutoff(p, tol=1e-11), 45)
    expected = qubit_steady_state(p, cutoff)
    got = solve_exact(p, cutoff=cutoff).rho
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-8)


def sparse_direct_steady_state(p: LinkParameters, cutoff: int) -> np.ndarray:
    """Qubit state from one sparse LU solve of the whole excitation-diagonal sector."""
    import scipy.sparse.linalg

    generator = sector_generator(p, cutoff).tolil()
    keep = present_params(np.arange(cutoff + 3), cutoff)
    kind = np.array([k for k, _, _ in REAL_PARAMS])[np.nonzero(keep)[1]]
    a = np.array([a for _, a, _ in REAL_PARAMS])[np.nonzero(keep)[1]]
    b = np.array([b for _, _, b in REAL_PARAMS])[np.nonzero(keep)[1]]
    generator[0, :] = (kind == "d").astype(float)  # trace condition replaces one redundant equation
    rhs = np.zeros(generator.shape[0])
    rhs[0] = 1.0
    x = scipy.sparse.linalg.spsolve(generator.tocsc(), rhs)
    rho = np.zeros((4, 4), dtype=complex)
    np.add.at(rho, (a[kind == "d"], a[kind == "d"]), x[kind == "d"])
    # Tracing out the filter keeps only coherences at equal photon number: ge-eg of each block.
    ge_eg = (a == 1) & (b == 2)
    rho[1, 2] = x[ge_eg & (kind == "re")].sum() + 1j * x[ge_eg & (kind == "im")].sum()
    rho[2, 1] = np.conj(rho[1, 2])
    return rho


@pytest.mark.parametrize("cutoff", [511, 516, 700])  # 514, 519, 703 blocks: both parities at some level
@pytest.mark.parametrize("resonant", [False, True])
def test_cyclic_reduction_matches_one_sparse_solve_of_the_whole_sector(cutoff, resonant, monkeypatch):
    p = random_parameters(np.random.default_rng(7)).replace(n_source=60.0, kappa=0.3)
    if resonant:
        p = p.replace(delta1=0.0, delta2=0.0)
    expected = sparse_direct_steady_state(p, cutoff)
    # Runs of 2 and 6 (even, chained like the default), 37 (519 blocks leave a single-block run)
    # and one run for everything.
    for run in (2, 6, 37, 4096):
        monkeypatch.setattr(exact_solver, "_RUN", run)
        np.testing.assert_allclose(solve_exact(p, cutoff=cutoff).rho, expected, rtol=0, atol=1e-11, err_msg=f"run {run}")


def test_filter_marginal_is_thermal_with_the_cascaded_occupation():
    p = LinkParameters(kappa=0.4, n_source=3.0, in_coupling=0.7, delta1=0.2, delta2=-0.2)
    result = solve_exact(p, tol=1e-12)
    n_c = p.n_filter
    m = np.arange(result.cutoff + 1)
    thermal = n_c**m / (n_c + 1) ** (m + 1)
    np.testing.assert_allclose(result.filter_distribution, thermal / thermal.sum(), atol=1e-12)
    np.testing.assert_allclose(result.filter_distribution[:12], filter_distribution(p, 60)[:12], atol=1e-9)


def test_interior_blocks_equal_direct_assembly():
    p = random_parameters(np.random.default_rng(42))
    blocks = np.arange(2, 30)
    fast = sector_blocks(p, blocks, cutoff=30)
    direct = _assemble(p, lowering_operators(blocks, 30), lowering_operators(blocks + 1, 30))
    for a, b in zip(fast, direct):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("detuning, backward", [(0.0, 0.0), (0.3, 0.0), (0.2, 0.1)])
def test_compiled_interior_blocks_equal_the_polynomial_assembly(detuning, backward):
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators.compiled_blocks import _interior_block

    p = LinkParameters(kappa=0.05, n_source=40.0, delta1=detuning, delta2=-detuning, backward_fraction=backward)
    solved = exact_solver._solved_parameters(p)
    k = len(solved)
    terms = exact_solver.interior_terms(p, solved)
    flat = np.zeros(3 * k * k)
    for N in (3, 17, 250):
        _interior_block(N, *terms, flat)  # the same buffer each time: entries outside the terms stay 0
        expected = np.stack(sector_blocks(p, np.array([N]), 1000, params=solved))[:, 0]
        np.testing.assert_allclose(flat.reshape(3, k, k), expected, rtol=1e-13, atol=1e-13)


def test_steady_state_is_a_physical_state():
    p = LinkParameters(kappa=0.05, n_source=300.0, delta1=0.3, delta2=-0.3)
    rho = steady_state(p)
    assert rho.shape == (4, 4)
    np.testing.assert_allclose(rho, rho.conj().T, atol=1e-14)
    assert abs(np.trace(rho) - 1) < 1e-12
    assert np.linalg.eigvalsh(rho).min() > -1e-12


@pytest.mark.parametrize("kappa, n_source", [(0.01, 100.0), (0.1, 30.0), (1.0, 5.0)])
def test_doubling_the_cutoff_changes_the_state_by_less_than_the_tolerance(kappa, n_source):
    p = LinkParameters(kappa=kappa, n_source=n_source)
    tol = 1e-6
    first = solve_exact(p, tol=tol)
    doubled = solve_exact(p, cutoff=2 * first.cutoff)
    assert first.tail_bound <= tol
    assert np.abs(first.rho - doubled.rho).max() <= tol


def test_cutoff_grows_linearly_with_the_filter_occupation():
    cutoffs = [fock_cutoff(LinkParameters(kappa=0.01, n_source=n), tol=1e-8) for n in (1000, 2000, 4000)]
    assert cutoffs[1] / cutoffs[0] == pytest.approx(2, rel=1e-3)
    assert cutoffs[2] / cutoffs[1] == pytest.approx(2, rel=1e-3)
    assert cutoffs[0] == pytest.approx(18.42 * 500, rel=0.01)


def test_relaxation_rate_is_the_slowest_excitation_diagonal_mode_of_the_full_liouvillian():
    p = random_parameters(np.random.default_rng(7))
    cutoff = 5
    with single_threaded_blas():
        full = np.linalg.eigvals(liouvillian(p, cutoff).full())
    sector = np.linalg.eigvals(sector_generator(p, cutoff).toarray())
    # Every mode of the sector is a mode of the full Liouvillian.
    distance = np.abs(sector[:, None] - full[None, :]).min(axis=1)
    assert distance.max() < 1e-8
    # And relaxation_rate is the slowest nonzero mode of QuTiP's full Liouvillian among the
    # excitation-diagonal ones, at relaxation_rate's own cutoff (the sparse path: 720 unknowns).
    cutoff = fock_cutoff(p, 1e-6)
    in_sector, matrix = excitation_diagonal_part_of_the_full_liouvillian(p, cutoff)
    assert in_sector.sum() > 400
    with single_threaded_blas():  # a 720x720 eig: BLAS threads only contend on the shared machine
        eigenvalues = np.linalg.eigvals(matrix)
    assert np.abs(eigenvalues).min() < 1e-10  # the steady state
    slowest = -np.sort(eigenvalues.real)[-2]
    assert relaxation_rate(p, tol=1e-6) == pytest.approx(slowest, rel=1e-8)


def excitation_diagonal_part_of_the_full_liouvillian(p: LinkParameters, cutoff: int):
    """QuTiP's full Liouvillian restricted to the entries ``rho_ij`` with equal excitation numbers.

    The restriction is exact (checked: no entry couples the sector to the rest), so its eigenvalues
    are the sector's, computed without any of the solver's code.
    """
    generator = liouvillian(p, cutoff).data.as_scipy().tocsr()
    excitations = (np.arange(cutoff + 1)[:, None] + np.array([0, 1, 1, 2])[None, :]).ravel()
    dim = len(excitations)
    ket, bra = np.arange(dim * dim) % dim, np.arange(dim * dim) // dim  # QuTiP stacks columns
    in_sector = excitations[ket] == excitations[bra]
    assert abs(generator[in_sector][:, ~in_sector]).max() == 0.0
    assert abs(generator[~in_sector][:, in_sector]).max() == 0.0
    return in_sector, generator[in_sector][:, in_sector].toarray()


def slowest_decay(p, cutoff):
    eigenvalues = np.linalg.eigvals(sector_generator(p, cutoff).toarray())
    return -np.sort(eigenvalues.real)[-2]  # the largest real part is the steady state's zero


@pytest.mark.parametrize("seed", [7, 8])
def test_relaxation_rate_equals_the_gap_of_the_dense_sector(seed):
    p = random_parameters(np.random.default_rng(seed))
    assert relaxation_rate(p, tol=1e-6) == pytest.approx(slowest_decay(p, fock_cutoff(p, 1e-6)), rel=1e-8)


def test_relaxation_rate_on_the_sparse_path_equals_the_dense_gap():
    p = LinkParameters(kappa=0.05, n_source=6.0, delta1=0.4, delta2=-0.4, gamma2=0.3, gamma_phi=0.02)
    cutoff = fock_cutoff(p, 1e-6)
    assert sector_generator(p, cutoff).shape[0] > 400  # the shift-invert branch
    assert relaxation_rate(p, tol=1e-6) == pytest.approx(slowest_decay(p, cutoff), rel=1e-8)


def test_relaxation_rate_is_set_by_the_filter_in_the_adiabatic_regime():
    p = LinkParameters(kappa=0.001, n_source=20.0)
    assert relaxation_rate(p) == pytest.approx(p.kappa, rel=1e-2)


# The fast paths of issue 10 against the solvers they replaced (tests/reference_solvers.py).


@pytest.mark.parametrize("resonant", [False, True])
@pytest.mark.parametrize("cutoff", [300, 517])
def test_single_pass_steady_state_matches_the_level_storing_solver(cutoff, resonant, monkeypatch):
    p = random_parameters(np.random.default_rng(5)).replace(n_source=50.0, kappa=0.3)
    if resonant:
        p = p.replace(delta1=0.0, delta2=0.0)
    expected = level_storing_steady_state(p, cutoff, run=64)
    for run in (2, 6, 37, 4096):  # chained runs of either parity, a one-block last run, one run
        monkeypatch.setattr(exact_solver, "_RUN", run)
        got = solve_exact(p, cutoff=cutoff)
        np.testing.assert_allclose(got.rho, expected.rho, rtol=0, atol=1e-12, err_msg=f"run {run}")
        np.testing.assert_allclose(got.filter_distribution, expected.filter_distribution, rtol=0, atol=1e-12)
        mean = np.arange(cutoff + 1) @ expected.filter_distribution
        assert got.mean_photons == pytest.approx(mean, rel=1e-11)


def test_steady_state_memory_does_not_grow_with_the_cutoff():
    import tracemalloc

    p = LinkParameters(kappa=0.01, n_source=100.0)
    peaks = []
    for cutoff in (4_000, 16_000):
        solve_exact(p, cutoff=cutoff)  # warm the caches
        tracemalloc.start()
        solve_exact(p, cutoff=cutoff)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # The filter marginal (8 bytes per block, and its temporaries) is all that grows; keeping the
    # reduction levels would add ~2 KB per block, 24 MB here.
    assert peaks[1] - peaks[0] < 40 * 12_000


def shifted_sector_problem(resonant: bool):
    """A shifted sector ``(L - sigma) x = b`` and its sparse-LU solution, in the chains' layout."""
    import scipy.sparse
    import scipy.sparse.linalg

    p = random_parameters(np.random.default_rng(3)).replace(n_source=20.0, kappa=0.3)
    if resonant:
        p = p.replace(delta1=0.0, delta2=0.0)
    cutoff, sigma = 41, 0.013
    generator = sector_generator(p, cutoff)
    keep = present_params(np.arange(cutoff + 3), cutoff)
    b = np.random.default_rng(0).standard_normal(generator.shape[0])
    shifted = (generator - sigma * scipy.sparse.identity(generator.shape[0])).tocsc()
    expected = scipy.sparse.linalg.spsolve(shifted, b)
    layout = np.zeros(keep.shape)
    layout[keep] = b
    return p, cutoff, sigma, keep, layout, expected


@pytest.mark.parametrize("resonant", [False, True])
def test_shifted_block_chain_solves_the_shifted_sector(resonant):
    from thermalink.simulators.relaxation import ShiftedBlockChain, _parameter_sets

    p, cutoff, sigma, keep, layout, expected = shifted_sector_problem(resonant)
    got = np.zeros(keep.shape)
    sets = _parameter_sets(p)
    assert len(sets) == (2 if resonant else 1)
    for params in sets:
        got[:, list(params)] = ShiftedBlockChain(p, cutoff, params, sigma).solve(layout[:, list(params)])
    np.testing.assert_allclose(got[keep], expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert not got[~keep].any()  # absent states stay exactly zero


RELAXATION_CASES = [
    dict(kappa=0.05, n_source=6.0),  # resonant: the sector splits in two
    dict(kappa=0.05, n_source=6.0, delta1=0.4, delta2=-0.4, gamma2=0.3, gamma_phi=0.02),
    dict(kappa=0.3, n_source=40.0, gamma_local=0.1, n_qubit=0.2, transmission=0.7),
]


@pytest.mark.parametrize("changes", RELAXATION_CASES)
def test_structured_relaxation_rate_matches_the_sparse_lu_one(changes):
    p = LinkParameters(**changes)
    assert relaxation_rate(p) == pytest.approx(sparse_lu_relaxation_rate(p), rel=1e-8)


@pytest.mark.parametrize("phase", [0.0, np.pi / 2])
def test_relaxation_rate_with_a_backward_path_equals_the_dense_gap(phase):
    # A complex round trip couples the real and imaginary parts even without detunings.
    p = LinkParameters(kappa=0.5, n_source=10.0, backward_fraction=0.5, round_trip_phase01=phase,
                       round_trip_phase12=phase)
    assert relaxation_rate(p, tol=1e-6) == pytest.approx(slowest_decay(p, fock_cutoff(p, 1e-6)), rel=1e-8)


# The compiled block elimination (simulators/compiled_blocks.py, numba) against the numpy reduction.


@pytest.mark.parametrize("cutoff", [3, 7, 8, 300, 517, 2000])  # one array run; edges + interior kernel
@pytest.mark.parametrize("case", ["detuned", "resonant", "backward"])
def test_compiled_elimination_matches_the_cyclic_reduction(cutoff, case):
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    p = random_parameters(np.random.default_rng(5)).replace(n_source=50.0, kappa=0.3)  # local baths on
    if case == "resonant":
        p = p.replace(delta1=0.0, delta2=0.0)
    if case == "backward":  # complex round trip: all 16 parameters without detunings
        p = p.replace(delta1=0.0, delta2=0.0, backward_fraction=0.2, round_trip_phase01=0.7)
    expected = solve_exact(p, cutoff=cutoff, method="reduction")
    got = solve_exact(p, cutoff=cutoff, method="compiled")
    np.testing.assert_allclose(got.rho, expected.rho, rtol=0, atol=1e-12)
    assert got.mean_photons == pytest.approx(expected.mean_photons, rel=1e-11)
    if case != "backward":
        np.testing.assert_allclose(got.filter_distribution, expected.filter_distribution, rtol=0, atol=1e-12)
        reference = level_storing_steady_state(p, cutoff, run=64)
        np.testing.assert_allclose(got.rho, reference.rho, rtol=0, atol=1e-12)


def test_auto_method_uses_the_compiled_kernel_above_the_threshold(monkeypatch):
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators import compiled_blocks

    p = LinkParameters(kappa=0.05, n_source=40.0, delta1=0.2, delta2=-0.2)
    calls = []
    original = compiled_blocks.eliminate_interior
    monkeypatch.setattr(compiled_blocks, "eliminate_interior", lambda *a: calls.append(1) or original(*a))
    monkeypatch.setattr(exact_solver, "COMPILED_ABOVE", 10**9)
    below = solve_exact(p)
    assert not calls
    monkeypatch.setattr(exact_solver, "COMPILED_ABOVE", 100)
    above = solve_exact(p)
    assert calls == [1]
    np.testing.assert_allclose(above.rho, below.rho, rtol=0, atol=1e-12)


def test_unknown_solver_method_is_refused():
    with pytest.raises(Exception, match="method='lu' is not one of"):
        solve_exact(LinkParameters(kappa=0.1, n_source=1.0), method="lu")


def test_compiled_lu_kernel_pivots_like_lapack():
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators.compiled_blocks import _lu_factor, _lu_solve

    rng = np.random.default_rng(1)
    for k in (4, 10, 16):
        a = rng.standard_normal((k, k))
        a[0, 0] = 1e-9  # forces row swaps
        b = rng.standard_normal((k, 3))
        expected = np.linalg.solve(a, b)
        lu, piv, x = a.copy(), np.empty(k, dtype=np.int64), b.copy()
        _lu_factor(lu, piv)
        _lu_solve(lu, piv, x)
        assert (piv != np.arange(k)).any()
        np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("resonant", [False, True])
def test_compiled_shifted_block_chain_matches_the_reduction_one(resonant):
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators.relaxation import ShiftedBlockChain, _parameter_sets

    p, cutoff, sigma, keep, layout, expected = shifted_sector_problem(resonant)
    got, reduction = np.zeros(keep.shape), np.zeros(keep.shape)
    for params in _parameter_sets(p):
        rhs = layout[:, list(params)]
        compiled = ShiftedBlockChain(p, cutoff, params, sigma, method="compiled")
        got[:, list(params)] = compiled.solve(rhs)
        got[:, list(params)] = compiled.solve(rhs)  # factors are reused, not consumed
        reduction[:, list(params)] = ShiftedBlockChain(p, cutoff, params, sigma).solve(rhs)
        assert compiled.nbytes < ShiftedBlockChain(p, cutoff, params, sigma).nbytes
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got[keep], expected, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(got, reduction, rtol=0, atol=1e-12 * scale)
    assert not got[~keep].any()  # absent states stay exactly zero


@pytest.mark.parametrize(
    "changes", RELAXATION_CASES + [dict(kappa=0.5, n_source=10.0, backward_fraction=0.5, round_trip_phase01=np.pi / 2)]
)
def test_compiled_relaxation_rate_matches_the_reduction_and_the_sparse_lu_one(changes):
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    p = LinkParameters(**changes)
    cutoff = fock_cutoff(p, 1e-6)
    assert sector_generator(p, cutoff).shape[0] > 400  # the shift-invert branch
    got = relaxation_rate(p, method="compiled")
    assert got == pytest.approx(relaxation_rate(p, method="reduction"), rel=1e-8)
    assert got == pytest.approx(sparse_lu_relaxation_rate(p), rel=1e-8)
    if "delta1" in changes:  # small enough for the dense gap (the others are tied to it through the reduction)
        assert got == pytest.approx(slowest_decay(p, cutoff), rel=1e-8)


@pytest.mark.parametrize("resonant", [False, True])
def test_factor_light_chain_solves_the_shifted_sector_and_forms_its_rayleigh_matrix(resonant):
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators.relaxation import FactorLightChain, _parameter_sets

    p, cutoff, sigma, keep, layout, expected = shifted_sector_problem(resonant)
    rng = np.random.default_rng(4)
    got = np.zeros(keep.shape)
    generator = sector_generator(p, cutoff).toarray()
    index = np.full(keep.shape, -1)
    index[keep] = np.arange(keep.sum())
    for params in _parameter_sets(p):
        chain = FactorLightChain(p, cutoff, params)
        assert chain.inverse.nbytes == (cutoff + 3) * len(params) ** 2 * 8  # k^2 numbers per block, all kept
        chain.factor(0.5)  # refactorised in place at another shift below
        chain.factor(sigma)
        X = np.stack([layout[:, list(params)], rng.standard_normal(layout[:, list(params)].shape)])
        X *= chain.present[None]
        second = X[1].copy()
        chain.solve(X)
        got[:, list(params)] = X[0]
        # The second right-hand side, solved in the same sweep, against a dense solve.
        rows = index[:, list(params)][chain.present]
        shifted = generator[np.ix_(rows, rows)] - sigma * np.eye(len(rows))
        np.testing.assert_allclose(X[1][chain.present], np.linalg.solve(shifted, second[chain.present]),
                                   rtol=0, atol=1e-12 * np.abs(X[1]).max())
        # Q^T L Q without forming L Q, against the dense sector restricted to this parameter set.
        Q = rng.standard_normal((3, *chain.present.shape)) * chain.present[None]
        dense = np.stack([q[chain.present] for q in Q])
        np.testing.assert_allclose(chain.rayleigh(Q), dense @ generator[np.ix_(rows, rows)] @ dense.T,
                                   rtol=1e-12, atol=1e-12 * np.abs(dense).max() ** 2)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got[keep], expected, rtol=0, atol=1e-12 * scale)
    assert not got[~keep].any()  # absent states stay exactly zero


@pytest.mark.parametrize("filter_modes", [False, True])
@pytest.mark.parametrize("resonant", [False, True])
def test_ritz_matrix_from_the_solve_equals_the_sweep_of_L(resonant, filter_modes):
    """The selection's Ritz matrix taken from the solve (previous vectors, projected before the
    solve, and Cholesky-QR factors) equals ``Q^T L Q`` formed by a sweep of ``L``."""
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators import relaxation

    p, cutoff, sigma, *_ = shifted_sector_problem(resonant)
    for params in relaxation._parameter_sets(p):
        chain = relaxation.FactorLightChain(p, cutoff, params)
        chain.factor(sigma)
        X = np.random.default_rng(5).uniform(-1.0, 1.0, (4, chain.size, chain.k)) * chain.present[None]
        relaxation._orthonormalize(X)
        for _ in range(3):
            relaxation._project(X, chain.populations, filter_modes)
            previous = X.copy()
            chain.solve(X)
            W = relaxation._orthonormalize(X)
            expected = chain.rayleigh(X)
            got = relaxation._ritz_from_solve(sigma, X, previous, W)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11 * np.abs(expected).max())


@pytest.mark.parametrize("resonant", [False, True])
def test_vectors_without_a_filter_marginal_keep_none_under_the_shifted_solve(resonant):
    """The projection takes out each photon number's total population (and nothing else), and on
    the chiral link ``(L - sigma)^-1`` maps such vectors to such vectors: they span the invariant
    subspace that holds every mode but the filter chain's."""
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators import relaxation

    p, cutoff, sigma, *_ = shifted_sector_problem(resonant)
    assert p.is_chiral
    chain = relaxation.FactorLightChain(p, cutoff, relaxation._parameter_sets(p)[0])
    assert chain.populations == (0, 1, 2, 3)

    def marginal(X):  # photon number m = N - excitations: gg of block m, ge and eg of m + 1, ee of m + 2
        return X[:, : cutoff + 1, 0] + X[:, 1 : cutoff + 2, 1] + X[:, 1 : cutoff + 2, 2] + X[:, 2:, 3]

    X = np.random.default_rng(6).uniform(-1.0, 1.0, (2, chain.size, chain.k)) * chain.present[None]
    before = X.copy()
    relaxation._project(X, chain.populations, True)
    assert np.abs(marginal(X)).max() < 1e-15
    np.testing.assert_array_equal(X[:, :, 1:], before[:, :, 1:])  # only the |gg> populations move
    assert np.abs(marginal(before)).min() > 0.0
    chain.factor(sigma)
    chain.solve(X)
    assert np.abs(marginal(X)).max() < 1e-10 * np.abs(X).max()  # rounding (a random vector: ~1)


#: Found by a scan of random links against the dense gap: the imaginary-antisymmetric set holds the
#: gap (1.5573 against the real set's 1.6674), and a detuned link whose two slowest modes lie 0.3 %
#: apart (1.02725, the filter chain's, and 1.03028). The first three of RELAXATION_CASES and the
#: detuned one have the filter chain's mode as their gap.
INVERSE_ITERATION_CASES = RELAXATION_CASES + [
    dict(kappa=1.7094, n_source=14.061, in_coupling=0.17526, gamma1=0.89174, gamma2=1.3566, transmission=0.31516,
         gamma_local=0.26239, n_qubit=0.42702, gamma_phi=0.013291),
    dict(kappa=1.0271, n_source=14.838, in_coupling=0.84801, gamma1=1.9096, gamma2=0.46454, transmission=0.30062,
         gamma_local=0.13599, n_qubit=0.45416, gamma_phi=0.24317, delta1=0.80874, delta2=0.62589),
    # A backward path: the filter chain is no mode of the sector, the search keeps its modes.
    dict(kappa=0.5, n_source=10.0, backward_fraction=0.2, round_trip_phase01=1.0),
]


@pytest.mark.parametrize("changes", INVERSE_ITERATION_CASES)
def test_compiled_relaxation_rate_is_found_by_inverse_iteration(changes, monkeypatch):
    """Without ARPACK (refused here), the compiled gap equals the dense one; when the inverse
    iteration cannot settle, ARPACK decides and gives the same rate."""
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators import relaxation

    p = LinkParameters(**changes)
    cutoff = fock_cutoff(p, 1e-6)
    arnoldi = relaxation._sector_eigenvalues_near
    expected = relaxation_rate(p, method="reduction")

    def refused(*args, **kwargs):
        raise AssertionError("ARPACK was called")

    monkeypatch.setattr(relaxation, "_sector_eigenvalues_near", refused)
    got = relaxation_rate(p, method="compiled")
    assert got == pytest.approx(expected, rel=1e-8, abs=0)
    assert got == pytest.approx(sparse_lu_relaxation_rate(p), rel=1e-8, abs=0)
    if len(relaxation._parameter_sets(p)) == 1:  # small enough for the dense gap
        assert got == pytest.approx(slowest_decay(p, cutoff), rel=1e-8, abs=0)
    monkeypatch.setattr(relaxation, "_sector_eigenvalues_near", arnoldi)
    monkeypatch.setattr(relaxation, "_SUBSPACE_ITERATIONS", 2)  # too few to settle: ARPACK decides
    assert relaxation_rate(p, method="compiled") == pytest.approx(expected, rel=1e-8, abs=0)


@pytest.mark.parametrize("case, unrefined", [(0, True), (3, False), (4, False)])
def test_the_gap_is_the_same_with_the_filter_modes_set_aside_or_searched(case, unrefined, monkeypatch):
    """On the chiral link the filter chain's slowest mode comes exactly from its own chain and the
    sets are searched without the filter's modes; searching them too (as with a backward path)
    gives the same gap. Where the filter's mode is the gap, clear of the sets' modes, no set is
    refined: one factorisation each (case 3: a set holds the gap; case 4: the filter's mode is the
    gap, a set's mode 0.3 % from it is refined to be sure)."""
    changes = INVERSE_ITERATION_CASES[case]
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators import relaxation
    from thermalink.simulators.filter_chain import filter_gap

    p = LinkParameters(**changes)
    factorisations = []
    original = relaxation.FactorLightChain.factor
    monkeypatch.setattr(relaxation.FactorLightChain, "factor", lambda self, s: factorisations.append(s) or original(self, s))
    set_aside = relaxation_rate(p, method="compiled")
    assert (set_aside == filter_gap(p, fock_cutoff(p, 1e-6))) == (case != 3)
    assert (len(factorisations) == len(relaxation._parameter_sets(p))) == unrefined

    def unsettled(*args):
        raise ArithmeticError("refused here")

    monkeypatch.setattr(relaxation, "filter_gap", unsettled)
    assert relaxation_rate(p, method="compiled") == pytest.approx(set_aside, rel=1e-9, abs=0)


def test_a_set_whose_ritz_value_pauses_near_the_filters_mode_is_refined_not_dropped():
    """Found by a second review: here a parameter set's rightmost Ritz value pauses 0.8 % left of
    the filter chain's mode (settled to 1e-3) on its way to the set's true slowest mode, 1.5 % to
    the right of the filter's; dropping the set there returned the filter's rate. Settled values
    that close to a known mode are refined (or ARPACK decides)."""
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled kernel")
    from thermalink.simulators.filter_chain import filter_gap

    p = LinkParameters(kappa=0.853, n_source=6.0 / 0.7, in_coupling=0.7, gamma_local=0.1, n_qubit=0.2,
                       transmission=0.6, delta1=0.3, delta2=0.1)
    cutoff = fock_cutoff(p, 1e-6)
    expected = slowest_decay(p, cutoff)
    assert expected < 0.99 * filter_gap(p, cutoff)
    assert relaxation_rate(p, method="compiled") == pytest.approx(expected, rel=1e-8, abs=0)


def test_unknown_relaxation_method_is_refused():
    with pytest.raises(Exception, match="method='arpack' is not one of"):
        relaxation_rate(LinkParameters(kappa=0.1, n_source=1.0), method="arpack")


def test_without_numba_auto_falls_back_to_the_reduction_and_compiled_is_refused(monkeypatch):
    p = LinkParameters(kappa=0.05, n_source=40.0)
    expected = solve_exact(p, method="reduction").rho
    monkeypatch.setattr(exact_solver, "COMPILED_ABOVE", 100)
    if exact_solver.compiled_available():  # one threshold for both solvers: above it "auto" is compiled
        assert relaxation_rate(p) == relaxation_rate(p, method="compiled")
    monkeypatch.setattr(exact_solver, "compiled_available", lambda: False)
    np.testing.assert_array_equal(solve_exact(p).rho, expected)  # the same arithmetic: the reduction
    with pytest.raises(Exception, match="method='compiled' needs numba"):
        solve_exact(p, method="compiled")
    with pytest.raises(Exception, match="method='compiled' needs numba"):
        relaxation_rate(p, method="compiled")
    # relaxation_rate's "auto" falls back too (the same resolution as the steady state's)
    assert relaxation_rate(p) == relaxation_rate(p, method="reduction")
