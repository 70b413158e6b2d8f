"""Exact steady state of the thermal link: block cyclic reduction over the excitation blocks.

``solve_exact(p)`` solves the full master equation of physics.md in its excitation-diagonal sector
as the block-tridiagonal system it is (:mod:`.liouvillian_blocks`), by block cyclic reduction: each
level eliminates every other block in one batched step, so the work is a few batched numpy calls
per level (log2 of the cutoff levels), not per block. The qubit marginal is carried through the
reduction as linear functionals, so there is no back substitution and nothing is kept per block:
time is linear in the Fock cutoff, memory is one run of blocks (docs/design.md, "Cost model").
Large systems (``method="auto"``, above ``COMPILED_ABOVE`` blocks) go instead to the compiled
sequential elimination of :mod:`.compiled_blocks` when numba is installed (3-5x faster, same
system and cutoff; the reduction stays as the fallback and the reference it is tested against).
The result's ``rho`` is 4x4 complex in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 left).

**Truncation bound:** the filter Fock space is cut at the smallest ``M`` whose thermal tail weight
``(n_c / (n_c + 1))**(M + 1)`` is at most ``tol`` (default ``1e-8``); since the filter marginal is
exactly thermal, the neglected probability is at most ``tol`` and the qubit state moves by that
order (checked in the tests by doubling the cutoff). That bounds truncation only: float64
rounding adds 1e-14 to 1e-11 in ordinary cases and up to ~1e-6 at extreme rate ratios
(docs/design.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .blas_threads import single_threaded_blas
from .errors import InputError
from .liouvillian_blocks import (
    EXCITATIONS,
    REAL_PARAMS,
    _nonzero_interior_polynomial,
    is_real_link,
    sector_blocks,
)
from .link_parameters import LinkParameters

DEFAULT_TOL = 1e-8
MIN_CUTOFF = 4
#: Largest cutoff solved (memory does not grow with it, beyond the 8 bytes per block of the filter marginal;
#: time is ~2 us per block compiled, ~6 us with the numpy reduction, so 1e7 blocks take 20 s to a minute).
MAX_CUTOFF = 10_000_000
#: Blocks reduced together (~5 MB working set, so every level runs in cache; 1024 to 16384 were
#: measured, 2048 was fastest).
_RUN = 2048
#: Methods of solve_exact.
METHODS = ("auto", "reduction", "compiled")
#: Above this many blocks "auto" uses the compiled kernels (when numba is installed), for the steady
#: state and the relaxation rate. From ~500 blocks on, a compiled solve saves 20-40 ms (steady state)
#: and ~45 ms (relaxation rate) against numpy, so importing numba and loading the cached kernels
#: (~0.5 s once per process) pays after 10-25 solves, fewer than any sweep, report curve or design
#: loop makes; below, the savings are a few ms per solve (docs/design.md, "Cost model").
COMPILED_ABOVE = 500
#: Above this many blocks, BLAS/LAPACK are held to one thread for the solve (see .blas_threads).
_SINGLE_THREAD_ABOVE = 500
_RE_GE_EG = REAL_PARAMS.index(("re", 1, 2))
_REAL_SYMMETRIC = np.array([i for i, (kind, _, _) in enumerate(REAL_PARAMS) if kind != "im"])
_IM_GE_EG = REAL_PARAMS.index(("im", 1, 2))
#: Parameters summed by the solver's functionals: populations gg, ge, eg, ee, then Re and Im of ge-eg.
_FUNCTIONALS = (0, 1, 2, 3, _RE_GE_EG, _IM_GE_EG, None)


def fock_cutoff(p: LinkParameters, tol: float = DEFAULT_TOL) -> int:
    """Largest filter photon number kept: thermal tail weight beyond it is at most ``tol``."""
    if not 0.0 < tol < 1.0:
        raise InputError(f"tol={tol!r} is outside the allowed range (0, 1)")
    n_c = p.n_filter
    if n_c == 0.0:
        return MIN_CUTOFF
    cutoff = math.ceil(math.log(tol) / math.log(n_c / (n_c + 1.0))) - 1
    return max(cutoff, MIN_CUTOFF)


@dataclass(frozen=True)
class ExactSteadyState:
    """Result of the exact solver: qubit state and what the truncation left out."""

    rho: np.ndarray  # 4x4, basis gg, ge, eg, ee
    cutoff: int  # largest filter photon number kept
    tail_bound: float  # thermal weight of the filter beyond the cutoff
    #: P(m) for m = 0..cutoff: the truncated model's exact (thermal) marginal on a chiral link;
    #: ``None`` with a backward path, where the qubits' light reaches the filter and it is not thermal.
    filter_distribution: np.ndarray | None
    mean_photons: float = math.nan  # filter photon number <m> of the solved state (a check: equals
    # the mean of filter_distribution to rounding on a chiral link)


def solve_exact(
    p: LinkParameters, tol: float = DEFAULT_TOL, cutoff: int | None = None, method: str = "auto"
) -> ExactSteadyState:
    """Exact steady state by block elimination over the excitation blocks.

    ``method``: ``"reduction"`` (pure-numpy block cyclic reduction), ``"compiled"`` (the sequential
    block elimination of :mod:`.compiled_blocks`, needs numba) or ``"auto"`` (compiled above
    ``COMPILED_ABOVE`` blocks when numba is installed, else the reduction). Same system, same
    cutoff; the two agree to rounding (tested to 1e-12).
    """
    if method not in METHODS:
        raise InputError(f"method={method!r} is not one of {METHODS}")
    if p.delay != 0.0:
        raise InputError(f"delay={p.delay} needs steady_state(p) (allowed here: delay=0); see .propagation_delay")
    if cutoff is None:
        cutoff = fock_cutoff(p, tol)
    elif int(cutoff) != cutoff or cutoff < 0:
        raise InputError(f"cutoff={cutoff!r} is outside the allowed range: integers >= 0")
    if cutoff > MAX_CUTOFF:
        raise InputError(
            f"the filter occupation n_c={p.n_filter:.4g} needs a Fock cutoff of {cutoff} (allowed range: up to "
            f"{MAX_CUTOFF}, about n_c <= {MAX_CUTOFF / 18.4:.0f} at tol=1e-8): use method='adiabatic' there"
        )
    cutoff = int(cutoff)
    top = cutoff + 2
    method = resolve_method(method, top + 1)
    solve = _sequential_elimination if method == "compiled" else _cyclic_reduction
    if top > _SINGLE_THREAD_ABOVE:
        with single_threaded_blas():
            return _steady_state_from(p, cutoff, solve(p, cutoff))
    return _steady_state_from(p, cutoff, solve(p, cutoff))


def compiled_available() -> bool:
    """Whether the compiled kernel (numba) can be imported."""
    try:
        from . import compiled_blocks  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_method(method: str, blocks: int) -> str:
    """``"compiled"`` or ``"reduction"`` for a system of ``blocks`` blocks: ``"auto"`` takes the
    compiled kernel above :data:`COMPILED_ABOVE` blocks when numba is installed; ``"compiled"``
    without numba is refused (:func:`require_compiled`)."""
    if method == "auto":
        return "compiled" if blocks > COMPILED_ABOVE and compiled_available() else "reduction"
    if method == "compiled":
        require_compiled()
    return method


def require_compiled() -> None:
    """Refuse ``method="compiled"`` clearly when numba is missing."""
    if not compiled_available():
        raise InputError(
            "method='compiled' needs numba (pip install 'thermalink[fast]'); allowed without it: "
            "method='auto' or 'reduction'"
        )


def _solved_parameters(p: LinkParameters) -> np.ndarray:
    """Real block parameters the recursion carries.

    Without detunings the Hamiltonian is imaginary and every jump operator real, so real-symmetric
    blocks never mix with imaginary-antisymmetric ones and the steady state has no imaginary part:
    the 10 diagonal and real-part parameters suffice. Otherwise all 16.
    """
    if is_real_link(p):
        return _REAL_SYMMETRIC
    return np.arange(16)


def reduction_level(diag: np.ndarray, coupling: np.ndarray):
    """One level of block cyclic reduction: eliminate the odd blocks.

    ``diag[n]`` is ``D_n`` (k x k), ``coupling[n] = [R_n | U_n]`` (k x 2k). Returns the odd blocks'
    ``D^-1``, ``[P | Q] = D^-1 [R | U]``, the even blocks' couplings, and the reduced system of the
    even blocks (its ``diag`` and ``coupling``). Shared by the steady state and the relaxation solves.
    """
    k = diag.shape[-1]
    n = len(diag)
    n_odd, linked = n // 2, (n + 1) // 2 - 1  # odd blocks; those with an even block above
    inverse = np.linalg.inv(diag[1::2])
    pq = inverse @ coupling[1::2]
    even = np.ascontiguousarray(coupling[0::2])
    from_above = even[:n_odd, :, k:] @ pq  # U_e [P | Q]_{e+1}
    from_below = even[1 : linked + 1, :, :k] @ pq[:linked]  # R_e [P | Q]_{e-1}
    next_diag = diag[0::2].copy()
    next_diag[:n_odd] -= from_above[:, :, :k]
    next_diag[1 : linked + 1] -= from_below[:, :, k:]
    next_coupling = np.zeros_like(even)
    next_coupling[1 : linked + 1, :, :k] = -from_below[:, :, :k]
    next_coupling[:linked, :, k:] = -from_above[:linked, :, k:]
    return inverse, pq, even, next_diag, next_coupling


def _reduce(diag: np.ndarray, coupling: np.ndarray, weights: np.ndarray):
    """Cyclic reduction of one run of blocks down to its first block, carrying linear functionals.

    Equations ``R_N x_{N-1} + D_N x_N + U_N x_{N+1} = 0`` for the run, ``coupling[N] = [R_N | U_N]``
    (``k x 2k``); the last block's ``U`` and the first block's ``R`` are never used (the caller
    closes both ends). Each level eliminates the odd-numbered blocks at once,
    ``x_odd = -P x_{odd-1} - Q x_{odd+1}`` with ``[P | Q] = D^-1 [R | U]``, leaving a
    block-tridiagonal system of half the size for the even ones. ``weights[N]`` (``m x k``) are the
    rows of ``m`` linear functionals ``sum_N weights[N] x_N``; eliminating ``x_odd`` moves its
    weight onto its neighbours, so at the end the whole run's functionals are ``w x_first``. Returns
    the first block's reduced diagonal block and ``w``; nothing else is kept.
    """
    k = diag.shape[-1]
    while len(diag) > 1:
        n = len(diag)
        n_odd = n // 2
        linked = (n + 1) // 2 - 1  # odd blocks with an even block above
        _, pq, _, next_diag, next_coupling = reduction_level(diag, coupling)
        moved = weights[1::2] @ pq
        next_weights = weights[0::2].copy()
        next_weights[:n_odd] -= moved[:, :, :k]
        next_weights[1 : linked + 1] -= moved[:linked, :, k:]
        diag, coupling, weights = next_diag, next_coupling, next_weights
    return diag[0], weights[0]


def _functional_weights(solved: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Rows ``(len(blocks), 7, k)`` of the functionals the qubit state needs, block by block.

    Rows: the four populations (gg, ge, eg, ee), Re and Im of the ge-eg coherence (tracing out the
    filter keeps only coherences at equal photon number), and the photon number ``m = N - e``.
    """
    weights = np.zeros((len(blocks), len(_FUNCTIONALS), len(solved)))
    for row, param in enumerate(_FUNCTIONALS[:6]):
        column = np.nonzero(solved == param)[0]
        if len(column):
            weights[:, row, column[0]] = 1.0
    photons = blocks[:, None] - EXCITATIONS[None, :]
    weights[:, 6, :4] = photons  # the populations come first in every parameter set
    return weights


def _cyclic_reduction(p: LinkParameters, cutoff: int) -> np.ndarray:
    """One pass from the top block down: the qubit marginal as linear functionals of block 0.

    Blocks 0..top in runs of _RUN (so the working set stays in cache). A reduced run closes into
    ``x_lo = -T_lo x_{lo-1}``, which folds into the top block of the run below as ``D -> D - U T``,
    and its accumulated functionals ``w x_lo`` fold likewise as ``w_{lo-1} -> w_{lo-1} - w T``. At
    block 0 (only ``|0, gg>``, weight fixed to 1) the functionals are the unnormalised marginal.
    Memory is one run's blocks, whatever the cutoff.
    """
    top = cutoff + 2
    solved = _solved_parameters(p)
    closing = carried = None
    for hi in range(top + 1, 0, -_RUN):
        lo = max(0, hi - _RUN)
        blocks = np.arange(lo, hi)
        diag, up, down = sector_blocks(p, blocks, cutoff, params=solved)
        weights = _functional_weights(solved, blocks)
        if closing is not None:
            diag[-1] -= up[-1] @ closing
            weights[-1] -= carried @ closing
        first, carried = _reduce(diag, np.concatenate((down, up), axis=2), weights)
        closing = np.linalg.solve(first, down[0]) if lo > 0 else None
    return carried[:, 0]  # x_0 = |0, gg><0, gg|


def interior_terms(p: LinkParameters, params) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The interior blocks' nonzero polynomial terms, entry by entry, for the compiled assembly
    (:func:`.compiled_blocks._interior_block`): ``columns`` (flat ``(D, U, R)`` entries), ``starts``
    (entry ``c``'s terms are ``starts[c]:starts[c + 1]``), each term's ``monomials`` index and
    ``coefficients``."""
    columns, coefficients = _nonzero_interior_polynomial(p, tuple(int(i) for i in params))
    entry, monomial = np.nonzero(coefficients.T)  # row-major: grouped by entry
    starts = np.searchsorted(entry, np.arange(len(columns) + 1))
    return (columns.astype(np.int64), starts.astype(np.int64), monomial.astype(np.int64),
            np.ascontiguousarray(coefficients.T[entry, monomial]))


def _sequential_elimination(p: LinkParameters, cutoff: int) -> np.ndarray:
    """The marginal's functionals by the compiled block elimination from the top (.compiled_blocks).

    The edge blocks (where states are missing: the top four and the bottom three) are assembled by
    :func:`.liouvillian_blocks.sector_blocks`; the interior ones inside the kernel from the same
    interior polynomial, one block at a time, so nothing but a few blocks is ever held.
    """
    from .compiled_blocks import eliminate_interior, eliminate_run

    top = cutoff + 2
    solved = _solved_parameters(p)

    def run(lo: int, hi: int, S=None, acc=None):
        blocks = np.arange(lo, hi + 1)
        diag, up, down = (np.ascontiguousarray(a) for a in sector_blocks(p, blocks, cutoff, params=solved))
        weights = _functional_weights(solved, blocks)
        if S is None:
            S, acc = diag[-1].copy(), weights[-1].copy()
        eliminate_run(diag, up, down, weights, S, acc)
        return S, acc

    if cutoff < 8:
        return run(0, top)[1][:, 0]
    S, acc = run(cutoff - 1, top)  # now block cutoff - 1's
    unit = _functional_weights(solved, np.array([0, 1]))
    eliminate_interior(cutoff - 1, 2, *interior_terms(p, solved), unit[0].copy(), unit[1] - unit[0], S, acc)
    S, acc = run(0, 2, S, acc)
    return acc[:, 0]  # x_0 = |0, gg><0, gg|


def _steady_state_from(p: LinkParameters, cutoff: int, marginal: np.ndarray) -> ExactSteadyState:
    """The result from the unnormalised marginal's functionals (``_FUNCTIONALS``)."""
    if not np.isfinite(marginal).all():
        raise np.linalg.LinAlgError(f"the block recursion broke down for {p}")
    populations, re_ge_eg, im_ge_eg, photons = marginal[:4], marginal[4], marginal[5], marginal[6]
    norm = populations.sum()
    rho = np.zeros((4, 4), dtype=complex)
    rho[np.arange(4), np.arange(4)] = populations / norm
    rho[1, 2] = (re_ge_eg + 1j * im_ge_eg) / norm
    rho[2, 1] = np.conj(rho[1, 2])
    n_c = p.n_filter
    tail = (n_c / (n_c + 1.0)) ** (cutoff + 1)
    return ExactSteadyState(
        rho=rho, cutoff=cutoff, tail_bound=tail,
        filter_distribution=filter_marginal(n_c, cutoff) if p.is_chiral else None,
        mean_photons=float(photons / norm),
    )


def filter_marginal(n_c: float, cutoff: int) -> np.ndarray:
    """The filter's photon distribution in the truncated model: thermal, cut at ``cutoff``.

    Exact, not an approximation: in the cascaded chain the qubits exert no back-action, so the
    filter's reduced dynamics is its own birth-death chain (emission ``(kappa + kappa_in N_h) m``,
    absorption ``kappa_in N_h (m + 1)``), truncated consistently, whose balance gives
    ``P(m + 1) / P(m) = n_c / (n_c + 1)``.
    """
    if n_c == 0.0:
        distribution = np.zeros(cutoff + 1)
        distribution[0] = 1.0
        return distribution
    ratio = n_c / (n_c + 1.0)
    distribution = ratio ** np.arange(cutoff + 1)
    return distribution / distribution.sum()
