"""The estimator registry, the fast MLE against the reference implementation, and the
goodness-of-fit null-sample count threaded through the sweep analysis."""

import warnings

import numpy as np
import pytest
from scipy import stats

from thermalink.analysis import (
    ESTIMATORS,
    METHODS,
    SIGNED_SETTINGS,
    bell_state,
    bootstrap,
    measurement_model,
    project_to_states,
    reconstruct,
    reconstruct_many,
    register_estimator,
    sample_counts,
    unregister_estimator,
)
from thermalink.analysis.tomography import _mle, _mle_reference, _prepare, log_likelihood
from thermalink.simulators import LinkParameters, steady_state

READOUT = [[[0.97, 0.06], [0.03, 0.94]], [[0.95, 0.10], [0.05, 0.90]]]


def _random_state(rank, seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(4, rank)) + 1j * rng.normal(size=(4, rank))
    rho = g @ g.conj().T
    return rho / np.trace(rho).real


# --- the fast MLE against the reference (projected-gradient) implementation ---------------------

CASES = {
    "twin": (steady_state(LinkParameters(kappa=0.1, n_source=10.0)), None),
    "werner_readout_errors": (0.8 * bell_state() + 0.2 * np.eye(4) / 4, READOUT),
    "singlet": (bell_state(), None),
    "pure": (_random_state(1, 1), READOUT),
    "rank_two": (_random_state(2, 2), None),
    "full_rank": (_random_state(4, 3), None),
}


@pytest.mark.parametrize("shots", [100, 2000])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_mle_agrees_with_the_reference_within_the_certified_gaps(name, shots):
    rho, assignment = CASES[name]
    counts = sample_counts(rho, shots, assignment=assignment, rng=shots + len(name), size=12)
    values, model, _, _ = _prepare(counts, assignment, stacked=True)
    fast, fast_ok, _, fast_gap = _mle(values, model)
    ref, ref_ok, _, ref_gap = _mle_reference(values, model)
    assert fast_ok.all() and ref_ok.all()
    assert np.all(fast_gap <= 1e-4) and np.all(ref_gap <= 1e-4)
    difference = log_likelihood(values, model.probabilities(fast)) - log_likelihood(values, model.probabilities(ref))
    # each is within its certified gap of the maximum, so they are within the sum of the gaps
    assert np.all(np.abs(difference) <= fast_gap + ref_gap + 1e-9)
    assert np.allclose(fast, project_to_states(fast), atol=1e-12)  # physical


def test_single_table_fast_path_agrees_with_the_reference():
    """Single tables take 1-d code paths (Newton inside, projected gradient on the boundary)."""
    for seed in range(6):
        rho = _random_state(4, 10 + seed) if seed < 3 else (bell_state() if seed == 3 else _random_state(seed - 3, seed))
        counts = sample_counts(rho, 1000, settings=SIGNED_SETTINGS if seed % 2 else ("XX", "XY", "XZ", "YX", "YY",
                                                                                      "YZ", "ZX", "ZY", "ZZ"), rng=seed)
        result = reconstruct(counts)
        values, model, _, _ = _prepare(counts, None, stacked=False)
        ref = _mle_reference(values, model)
        ref_logl = log_likelihood(values[0], model.probabilities(ref[0][0]))
        assert result.converged and abs(result.log_likelihood - ref_logl) <= result.likelihood_gap + ref[3][0] + 1e-9


def test_interior_maxima_take_the_newton_path():
    """A full-rank state at many shots: a handful of Newton steps (the projected gradient takes ~25)."""
    counts = sample_counts(_random_state(4, 3), 10**5, rng=1, size=20)
    result = reconstruct_many(counts)
    assert np.all(result.converged) and np.max(result.iterations) <= 10


def test_the_tolerance_still_bounds_the_certified_gap_on_the_fast_path():
    counts = sample_counts(steady_state(LinkParameters(kappa=0.1, n_source=10.0)), 5000, rng=4, size=30)
    for tol in (1e-2, 1e-6):
        result = reconstruct_many(counts, tol=tol)
        assert np.all(result.converged) and np.all(np.asarray(result.likelihood_gap) <= tol)


def _single_table_cases():
    """Random pure, rank-2, rank-3 and full-rank states at realistic shot numbers (the low ones
    leave outcomes with zero counts), with and without readout errors and signed settings."""
    rng = np.random.default_rng(2026)
    cases = []
    for i in range(48):
        rank, shots = 1 + i % 4, (30, 100, 2000, 10000)[(i // 4) % 4]
        assignment = READOUT if i % 3 == 0 else None
        settings = SIGNED_SETTINGS if i % 5 == 0 else None
        g = rng.normal(size=(4, rank)) + 1j * rng.normal(size=(4, rank))
        rho = g @ g.conj().T / np.trace(g @ g.conj().T).real
        kwargs = {} if settings is None else {"settings": settings}
        cases.append((rank, sample_counts(rho, shots, assignment=assignment, rng=rng, **kwargs), assignment))
    return cases


def test_rank_k_newton_agrees_with_the_reference_on_random_states():
    """The single-table path (Newton, then rank-k Newton on the boundary) against the projected
    gradient: the same maximum within the certified gaps, physical, and rank-deficient where the
    rank-k path answered."""
    boundary = zero_count_tables = 0
    for rank, counts, assignment in _single_table_cases():
        values, model, _, _ = _prepare(counts, assignment, stacked=False)
        fast, fast_ok, fast_its, fast_gap = _mle(values, model)
        ref, ref_ok, _, ref_gap = _mle_reference(values, model)
        assert fast_ok[0] and ref_ok[0] and fast_gap[0] <= 1e-4 and ref_gap[0] <= 1e-4
        difference = (log_likelihood(values, model.probabilities(fast))
                      - log_likelihood(values, model.probabilities(ref)))[0]
        assert abs(difference) <= fast_gap[0] + ref_gap[0] + 1e-9, (rank, difference)
        assert np.allclose(fast, project_to_states(fast), atol=1e-12)
        zero_count_tables += bool(np.any(values == 0))
        if np.linalg.eigvalsh(fast[0])[0] < 1e-14:
            boundary += 1
    assert boundary >= 20 and zero_count_tables >= 5  # the cases do exercise the boundary path


def test_one_table_with_its_start_on_the_boundary_skips_the_newton_phase(monkeypatch):
    """A single table whose projected linear-inversion start is rank-deficient starts the rank-k
    phase there (compiled kernels): no Newton phase, and the same maximum as the batched path
    (which starts Newton from the mixed start) within the certified gaps; full-rank maxima behind
    such a start (few shots) are reached too, the support growing."""
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled MLE kernels")
    from thermalink.analysis import tomography
    from thermalink.analysis.tomography_data import pauli_to_state

    newton_stacks = []
    original = tomography._mle_newton
    monkeypatch.setattr(tomography, "_mle_newton", lambda f, *a: newton_stacks.append(len(f)) or original(f, *a))
    skipped = full_rank_behind = 0
    twin = steady_state(LinkParameters(kappa=0.1, n_source=10.0))  # full rank; seeds 9, 11: boundary starts
    cases = [(_random_state(1 + seed % 4, 200 + seed), (30, 2000)[seed % 2], seed) for seed in range(24)]
    for rho, shots, seed in cases + [(twin, 2000, 9), (twin, 2000, 11)]:
        counts = sample_counts(rho, shots, rng=seed)
        values, model, _, _ = _prepare(counts, None, stacked=False)
        start_rank = tomography._project_one_ranked(pauli_to_state(tomography._linear_inversion(values, model))[0])[1]
        newton_stacks.clear()
        one, one_ok, _, one_gap = _mle(values, model)
        assert (newton_stacks == []) == (start_rank < 4)
        batched, batched_ok, _, batched_gap = _mle(np.concatenate([values, values]), model)
        assert newton_stacks and one_ok[0] and batched_ok.all() and one_gap[0] <= 1e-4 and batched_gap[0] <= 1e-4
        difference = (log_likelihood(values, model.probabilities(one))
                      - log_likelihood(values, model.probabilities(batched[:1])))[0]
        assert abs(difference) <= one_gap[0] + batched_gap[0] + 1e-9, (seed, difference)
        skipped += start_rank < 4
        full_rank_behind += start_rank < 4 and np.linalg.eigvalsh(one[0])[0] > 1e-6
    assert skipped >= 12 and full_rank_behind >= 1  # both kinds of boundary start are exercised


def test_rank_k_newton_alone_certifies_boundary_maxima():
    """_mle_low_rank_one from the Newton hand-over point converges by itself (no projected
    gradient) on pure and rank-2 states, and its reported gap is the certificate of its state."""
    from thermalink.analysis.tomography import _linear_inversion, _mle_low_rank_one, _mle_newton_one
    from thermalink.analysis.tomography_data import pauli_to_state, state_to_pauli

    rng = np.random.default_rng(7)
    converged = 0
    for i in range(20):
        counts = sample_counts(_random_state(1 + i % 2, 100 + i), 2000, rng=rng)
        values, model, _, _ = _prepare(counts, None, stacked=False)
        n = values.reshape(-1).astype(float)
        f, tol_per_shot = n / n.sum(), 1e-4 / n.sum()
        start = project_to_states(pauli_to_state(_linear_inversion(values, model)[0]))
        r0 = state_to_pauli(0.999 * start + 0.001 * np.eye(4) / 4)
        r, ok, _, _ = _mle_newton_one(f, r0, model, tol_per_shot, 30)
        if ok[0]:
            continue
        rho, ok, its, gap = _mle_low_rank_one(f, pauli_to_state(r[0]), model, tol_per_shot, 24)
        p = model.probabilities(rho).reshape(-1)
        r_matrix = np.einsum("k,kij->ij", np.divide(f, p, out=np.zeros_like(f), where=f > 0),
                             model.povm.reshape(-1, 4, 4))
        certificate = max(np.linalg.eigvalsh(r_matrix)[-1] - 1, 0)
        assert gap == pytest.approx(certificate, rel=1e-6, abs=1e-13)
        assert np.isclose(np.trace(rho).real, 1, atol=1e-12) and np.linalg.eigvalsh(rho)[0] > -1e-12
        converged += bool(ok) and gap <= tol_per_shot
    assert converged >= 15


def test_batched_rank_k_phase_agrees_with_the_table_by_table_one(monkeypatch):
    """Stacks whose maxima are on the boundary take the rank-k phase batched
    (_mle_low_rank_many): the same maxima as table by table within the certified gaps, every
    table converged, and the gap it reports is the certificate of the state it returns."""
    from thermalink.analysis import tomography
    from thermalink.analysis.tomography import _mle_low_rank_many

    batched, default = [], tomography._LOW_RANK_BATCH
    original = tomography._mle_low_rank_many
    monkeypatch.setattr(tomography, "_mle_low_rank_many", lambda *a: batched.append(len(a[0])) or original(*a))
    stacks = [
        (steady_state(LinkParameters(kappa=1e-3, n_source=0.05)), READOUT, 2000),  # a narrow band's state
        (bell_state(), None, 100),
        (_random_state(1, 1), READOUT, 300),
        (_random_state(2, 2), None, 2000),
    ]
    for rho, assignment, shots in stacks:
        counts = sample_counts(rho, shots, assignment=assignment, rng=shots, size=60)
        values, model, _, _ = _prepare(counts, assignment, stacked=True)
        results = {}
        for batch in (default, 10**9):
            monkeypatch.setattr(tomography, "_LOW_RANK_BATCH", batch)
            batched.clear()
            results[batch] = _mle(values, model)
            assert bool(batched) == (batch < 10**9)  # the batched phase ran, or did not
        (fast, ok, _, gap), (single, single_ok, _, single_gap) = results.values()
        assert ok.all() and single_ok.all() and np.all(gap <= 1e-4)
        difference = (log_likelihood(values, model.probabilities(fast))
                      - log_likelihood(values, model.probabilities(single)))
        assert np.all(np.abs(difference) <= gap + single_gap + 1e-9)
        assert np.allclose(fast, project_to_states(fast), atol=1e-12)

    # the phase by itself: reported gap = certificate of the returned state; stalls flagged
    counts = sample_counts(_random_state(1, 5), 500, assignment=READOUT, rng=9, size=40)
    values, model, _, _ = _prepare(counts, READOUT, stacked=True)
    n = values.reshape(len(values), -1).astype(float)
    f = n / n.sum(axis=1, keepdims=True)
    start = np.asarray(reconstruct_many(counts, method="projected_least_squares", assignment=READOUT).rho)
    assert len(set((np.linalg.eigvalsh(start) > 1e-10).sum(axis=1).tolist())) >= 2  # several ranks at once
    rho, ok, its, gap, redo = _mle_low_rank_many(f, start, model, 1e-4 / n.sum(axis=1), np.full(len(f), 24))
    q = np.divide(f, model.probabilities(rho).reshape(len(f), -1), out=np.zeros_like(f), where=f > 0)
    certificate = np.linalg.eigvalsh(np.einsum("bk,kij->bij", q, model.povm.reshape(-1, 4, 4)))[:, -1] - 1
    done = ~redo
    np.testing.assert_allclose(gap[done], np.where(ok, np.maximum(certificate, 0), certificate)[done],
                               rtol=1e-6, atol=1e-13)
    assert ok.sum() >= 20 and redo.any() and np.all(its <= 24) and not np.any(ok & redo)
    assert np.allclose(np.trace(rho, axis1=1, axis2=2).real, 1, atol=1e-12)


def test_compiled_rank_k_kernel_takes_the_numpy_loops_steps(monkeypatch):
    """The compiled rank-k phase (analysis/compiled_low_rank.py) against the numpy loop it replaces:
    the same converged and stalled tables, iterations, certificates and states to rounding."""
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled MLE kernels")
    from thermalink.analysis import tomography
    from thermalink.analysis.compiled_low_rank import ARMIJO
    from thermalink.analysis.tomography import _mle_low_rank_many

    assert ARMIJO == tomography._ARMIJO
    narrow = steady_state(LinkParameters(kappa=1e-3, n_source=0.05))
    for rho_true, assignment, shots, seed in ((narrow, READOUT, 2000, 3), (_random_state(1, 5), READOUT, 500, 9),
                                              (bell_state(), None, 100, 4)):
        counts = sample_counts(rho_true, shots, assignment=assignment, rng=seed, size=80)
        values, model, _, _ = _prepare(counts, assignment, stacked=True)
        n = values.reshape(len(values), -1).astype(float)
        f = n / n.sum(axis=1, keepdims=True)
        start = np.asarray(reconstruct_many(counts, method="projected_least_squares", assignment=assignment).rho)
        runs = {}
        for group in (1, 10**9):  # compiled from one table on; never (the numpy loop)
            monkeypatch.setattr(tomography, "_COMPILED_GROUP", group)
            runs[group] = _mle_low_rank_many(f, start, model, 1e-4 / n.sum(axis=1), np.full(len(f), 24))
        (rho, ok, its, gap, redo), (rho_np, ok_np, its_np, gap_np, redo_np) = runs.values()
        assert ok.sum() >= 20
        np.testing.assert_array_equal(ok, ok_np)
        np.testing.assert_array_equal(redo, redo_np)
        np.testing.assert_array_equal(its, its_np)
        np.testing.assert_allclose(gap, gap_np, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(rho, rho_np, atol=1e-10)


def test_compiled_newton_kernel_takes_the_numpy_loops_steps(monkeypatch):
    """The compiled interior Newton phase against the numpy loop it replaces, on stacks inside the
    states and on the boundary (tables handed over with the projection of their full step): the
    same converged tables, iterations, certificates and iterates to rounding."""
    pytest.importorskip("numba", reason="numba (the fast extra, also in the test extra) runs the compiled MLE kernels")
    from thermalink.analysis import tomography
    from thermalink.analysis.tomography import _linear_inversion, _mle_newton, pauli_to_state, state_to_pauli

    narrow = steady_state(LinkParameters(kappa=1e-3, n_source=0.05))
    twin = steady_state(LinkParameters(kappa=0.1, n_source=10.0))
    handed_over = 0
    for rho_true, assignment, shots, seed in ((twin, READOUT, 2000, 1), (narrow, READOUT, 2000, 3),
                                              (_random_state(1, 1), None, 300, 5)):
        counts = sample_counts(rho_true, shots, assignment=assignment, rng=seed, size=80)
        values, model, _, _ = _prepare(counts, assignment, stacked=True)
        n = values.reshape(len(values), -1).astype(float)
        start = project_to_states(pauli_to_state(_linear_inversion(values, model)))
        r0 = state_to_pauli(0.999 * start + 0.001 * np.eye(4) / 4)
        r0[:, 0] = 1.0
        runs = {}
        for stack in (16, 10**9):  # compiled for the stack; never (the numpy loop)
            monkeypatch.setattr(tomography, "_COMPILED_STACK", stack)
            runs[stack] = _mle_newton(n / n.sum(axis=1, keepdims=True), r0, model, 1e-4 / n.sum(axis=1), 30)
        (r, ok, its, gap), (r_np, ok_np, its_np, gap_np) = runs.values()
        np.testing.assert_array_equal(ok, ok_np)
        np.testing.assert_array_equal(its, its_np)
        np.testing.assert_allclose(gap, gap_np, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(r, r_np, atol=1e-10)
        handed_over += int((~ok).sum())
        for i in range(0, 80, 16):  # one table: the kernel, or the single-table numpy path
            single = {}
            for stack in (1, 10**9):
                monkeypatch.setattr(tomography, "_COMPILED_STACK", stack)
                single[stack] = _mle(values[i:i + 1], model)
            (rho_c, ok_c, _, gap_c), (rho_s, ok_s, _, gap_s) = single.values()
            assert ok_c[0] and ok_s[0]
            difference = (log_likelihood(values[i:i + 1], model.probabilities(rho_c))
                          - log_likelihood(values[i:i + 1], model.probabilities(rho_s)))
            assert abs(difference[0]) <= gap_c[0] + gap_s[0] + 1e-9
    assert handed_over >= 20  # the boundary stacks exercised the hand-over


def test_single_matrix_projection_agrees_with_the_batched_one():
    from thermalink.analysis.tomography import _project_one

    rng = np.random.default_rng(3)
    for scale in (0.05, 0.3, 1.0, 3.0):
        a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        hermitian = np.eye(4) / 4 + scale * (a + a.conj().T)
        np.testing.assert_allclose(_project_one(hermitian), project_to_states(hermitian), atol=1e-13)


def test_the_projected_gradient_takes_over_when_the_rank_k_newton_stops_early(monkeypatch):
    """With the rank-k phase cut to one step, the projected gradient finishes from its iterate:
    still converged to the same maximum."""
    from thermalink.analysis import tomography

    monkeypatch.setattr(tomography, "_LOW_RANK_MAX_ITER", 1)
    handed_over = []  # which projected-gradient path each hand-over took

    def counted(name):
        original = getattr(tomography, name)
        monkeypatch.setattr(tomography, name, lambda *a, **k: handed_over.append(name) or original(*a, **k))

    counted("_mle_reference_one")
    counted("_mle_reference")
    for rank, counts, assignment in _single_table_cases()[:16]:
        values, model, _, _ = _prepare(counts, assignment, stacked=False)
        fast, fast_ok, _, fast_gap = _mle(values, model)
        ref, ref_ok, _, ref_gap = _mle_reference(values, model)
        difference = (log_likelihood(values, model.probabilities(fast))
                      - log_likelihood(values, model.probabilities(ref)))[0]
        assert fast_ok[0] and abs(difference) <= fast_gap[0] + ref_gap[0] + 1e-9
    assert "_mle_reference_one" in handed_over  # some table really was finished by the projected gradient
    # a stack: every handed-over table passes through the rank-k phase, the rest batched; and a
    # stack handing over more than _LOW_RANK_STACK tables (all batched)
    rhos = np.array([_random_state(1 + i % 3, 40 + i) for i in range(9)])
    counts = sample_counts(rhos, 1000, rng=5, leading_dims=("table",))
    values, model, _, _ = _prepare(counts, None, stacked=True)
    ref, ref_ok, _, ref_gap = _mle_reference(values, model)
    for stack in (256, 0):
        monkeypatch.setattr(tomography, "_LOW_RANK_STACK", stack)
        monkeypatch.setattr(tomography, "_COMPILED_LOW_RANK_STACK", stack)
        handed_over.clear()
        fast, fast_ok, _, fast_gap = _mle(values, model)
        if stack == 0:  # nothing through the rank-k phase: the batched projected gradient finishes
            assert "_mle_reference" in handed_over
        difference = (log_likelihood(values, model.probabilities(fast))
                      - log_likelihood(values, model.probabilities(ref)))
        assert fast_ok.all() and np.all(np.abs(difference) <= fast_gap + ref_gap + 1e-9)


# --- estimator registry ---------------------------------------------------------------------------


@pytest.fixture
def diagonal_estimator():
    """A user estimator: the diagonal of the projected least-squares state; records its calls."""
    calls = []

    def diagonal(values, model, **options):
        calls.append((values.shape, sorted(options)))
        pls = ESTIMATORS["projected_least_squares"](values, model)
        return np.einsum("bii->bi", pls)[..., None] * np.eye(4)

    register_estimator("diagonal", diagonal)
    yield calls
    unregister_estimator("diagonal")


def test_a_registered_estimator_is_used_by_reconstruct(diagonal_estimator):
    rho = 0.7 * bell_state() + 0.3 * np.eye(4) / 4
    counts = sample_counts(rho, 5000, rng=1)
    result = reconstruct(counts, "diagonal")
    assert result.method == "diagonal" and "diagonal" in ESTIMATORS
    assert diagonal_estimator[0][0] == (1, 9, 4)
    assert set(diagonal_estimator[0][1]) >= {"tol", "max_iter", "start"}
    np.testing.assert_allclose(result.density_matrix, np.diag(np.diag(result.density_matrix)))
    assert result.density_matrix[1, 2] == 0 and abs(result.density_matrix[1, 1].real - rho[1, 1].real) < 0.02
    assert result.log_likelihood < reconstruct(counts, "mle").log_likelihood


def test_a_registered_estimator_is_used_by_the_bootstrap(diagonal_estimator):
    counts = sample_counts(0.7 * bell_state() + 0.3 * np.eye(4) / 4, 2000, rng=2)
    result = bootstrap(counts, "diagonal", n_resamples=30, rng=3)
    assert result.method == "diagonal"
    assert [shape for shape, _ in diagonal_estimator] == [(1, 9, 4), (30, 9, 4)]
    # diagonal states are separable: every resample has zero concurrence
    assert np.all(result.samples["concurrence"] == 0)


def test_unknown_methods_are_refused_naming_the_registered_ones(diagonal_estimator):
    counts = sample_counts(bell_state(), 100, rng=0)
    with pytest.raises(ValueError, match="'bayes'.*linear_inversion, projected_least_squares, mle, diagonal"):
        reconstruct(counts, "bayes")
    with pytest.raises(ValueError, match="'bayes'.*allowed:.*diagonal"):
        bootstrap(counts, "bayes")


def test_registering_checks_names_and_protects_the_built_in_methods(diagonal_estimator):
    assert METHODS == ("linear_inversion", "projected_least_squares", "mle")
    with pytest.raises(ValueError, match="'diagonal' is already registered"):
        register_estimator("diagonal", lambda values, model, **options: None)
    with pytest.raises(ValueError, match="built-in tomography method 'mle' cannot be replaced"):
        register_estimator("mle", lambda values, model, **options: None, replace=True)
    with pytest.raises(ValueError, match="must be callable"):
        register_estimator("other", "not a function")
    with pytest.raises(ValueError, match="cannot be removed"):
        unregister_estimator("mle")


def test_an_estimator_returning_the_wrong_shape_is_reported():
    register_estimator("broken", lambda values, model, **options: np.zeros((4, 4)))
    try:
        with pytest.raises(ValueError, match=r"estimator 'broken' returned shape \(4, 4\) for 1 count tables"):
            reconstruct(sample_counts(bell_state(), 100, rng=0), "broken")
    finally:
        unregister_estimator("broken")


def test_measurement_models_are_cached_per_settings_and_assignment():
    a = measurement_model(("XX", "YY", "ZZ"), READOUT)
    assert measurement_model(("XX", "YY", "ZZ"), READOUT) is a
    assert measurement_model(("XX", "YY", "ZZ")) is not a
    assert not a.design.flags.writeable
    with pytest.raises(ValueError, match="column 0 sums to"):
        measurement_model(("XX",), [[[0.9, 0.1], [0.2, 0.9]], [[1, 0], [0, 1]]])


# --- goodness-of-fit null samples through the sweep analysis ---------------------------------------


def test_sweep_analysis_passes_the_null_sample_count_to_the_goodness_of_fit():
    from thermalink.experiments.sweep_analysis import SweepAnalysis, analyse_counts
    from thermalink.simulators.lab_units import LabLink
    from thermalink.simulators.virtual_lab.twin_cache import twin_state

    link = LabLink(bandwidth_Hz=1e6, source_occupation=2.0, filter_center_Hz=5e9, qubit1_frequency_Hz=5e9,
                   qubit2_frequency_Hz=5e9, qubit1_linewidth_Hz=1e5, qubit2_linewidth_Hz=1e5)
    counts = sample_counts(twin_state(link), 1000, assignment=READOUT, rng=5)
    chi2 = analyse_counts(counts, np.array(READOUT), link, n_resamples=20, seed=1, n_null_samples=0)
    assert chi2["gof_p_value"] == pytest.approx(stats.chi2.sf(chi2["gof_statistic"], 15))
    simulated = analyse_counts(counts, np.array(READOUT), link, n_resamples=20, seed=1, n_null_samples=39)
    assert simulated["gof_statistic"] == pytest.approx(chi2["gof_statistic"])
    assert (40 * simulated["gof_p_value"]) == pytest.approx(round(40 * simulated["gof_p_value"]))  # k / 40
    with pytest.raises(ValueError, match="n_null_samples must be 0.*got -1"):
        SweepAnalysis(None, None, n_null_samples=-1)


@pytest.mark.parametrize("max_iter", [1, 2, 3, 12, 2000])
def test_the_reported_gap_is_the_certificate_of_the_returned_state(max_iter):
    """Also when the iteration budget runs out between the Newton and projected-gradient phases."""
    rhos = np.array([bell_state(), _random_state(4, 3), _random_state(1, 4), _random_state(3, 5)] * 3)
    counts = sample_counts(rhos, 2000, rng=max_iter, leading_dims=("table",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = reconstruct_many(counts, max_iter=max_iter)
    values, model, _, _ = _prepare(counts, None, stacked=True)
    n = values.reshape(len(values), -1).astype(float)
    p = model.probabilities(result.density_matrix).reshape(len(values), -1)
    r_matrix = np.einsum("bk,kij->bij", np.divide(n, p, out=np.zeros_like(n), where=n > 0),
                         model.povm.reshape(-1, 4, 4)) / n.sum(axis=-1)[:, None, None]
    certificate = n.sum(axis=-1) * np.maximum(np.linalg.eigvalsh(r_matrix)[:, -1] - 1, 0)
    np.testing.assert_allclose(result.likelihood_gap, certificate, rtol=1e-6, atol=1e-9)
    assert np.all(result.converged == (certificate <= 1e-4))
    assert np.all(result.iterations <= max_iter)


@pytest.mark.parametrize("max_iter", [0, 1, 2, 3, 2000])
def test_one_tables_reported_gap_is_the_certificate_of_its_state(max_iter):
    """``reconstruct`` on single tables (interior, and boundary starts that skip the Newton phase
    when compiled) reports the certificate of the state it returns, at every iteration budget."""
    for seed, rho in enumerate([bell_state(), _random_state(4, 3), _random_state(1, 4), _random_state(2, 502)]):
        counts = sample_counts(rho, 100 if seed == 3 else 2000, rng=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = reconstruct(counts, max_iter=max_iter)
        values, model, _, _ = _prepare(counts, None, stacked=False)
        n = values.reshape(-1).astype(float)
        p = model.probabilities(result.density_matrix).reshape(-1)
        r_matrix = np.einsum("k,kij->ij", np.divide(n, p, out=np.zeros_like(n), where=n > 0),
                             model.povm.reshape(-1, 4, 4)) / n.sum()
        certificate = n.sum() * max(np.linalg.eigvalsh(r_matrix)[-1] - 1, 0)
        assert result.likelihood_gap == pytest.approx(certificate, rel=1e-6, abs=1e-9)
        assert result.converged == (certificate <= 1e-4) and result.iterations <= max_iter
