"""Tomography data conventions: the counts ``DataArray``, measurement settings and operators.

Conventions (shared by every estimator in :mod:`thermalink.analysis`)
--------------------------------------------------------------------
* **States** are 4x4 density matrices in the basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 the left,
  most significant factor; ``|g> = |0>``, the +1 eigenstate of ``Z``).
* **Counts** are an ``xarray.DataArray`` of non-negative integers with dims
  ``("setting", "outcome")`` (stacks: any leading dims, then ``"setting", "outcome"``).
* **Settings** are strings, one basis token per qubit, qubit 1 first. A token is ``X``, ``Y`` or
  ``Z``, optionally signed: ``"XZ"``, ``"+X-Z"``, ``"-YY"``. A signed token ``-P`` measures the
  observable ``-P``, i.e. swaps the roles of bits 0 and 1 (the "6 signed axes per qubit" scheme).
  Any subset, order or repetition of settings is accepted as long as the settings with counts
  determine a two-qubit state (they are *informationally complete*); the 9 Pauli settings
  ``"XX", "XY", ..., "ZZ"`` (:data:`PAULI_SETTINGS`) are the default.
* **Outcomes** are ``"00", "01", "10", "11"``, qubit 1's bit first. Bit 0 in basis ``P`` is the +1
  eigenstate of ``P`` (of ``-P`` for a token ``-P``); for ``Z`` bit 0 is ``|g>``.
* **Readout errors** (assignment matrices) use ``A[i, j] = P(read i | state j)``; columns sum to 1.
  Give either one 2x2 matrix per qubit, as a pair ``(A1, A2)`` or an array of shape ``(2, 2, 2)``,
  or one 4x4 joint matrix over the outcomes ``00, 01, 10, 11``. They are folded into the POVM
  elements ``E[s, i] = sum_j A[i, j] Pi[s, j]`` (counts are never inverted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import xarray as xr

from thermalink.simulators.conventions import (  # noqa: F401  (re-exported: the analysis API)
    OUTCOMES,
    PAULI_SETTINGS,
    SIGNED_SETTINGS,
    counts_array,
    parse_setting,
)

_ASSIGNMENT_ATOL = 1e-9

_I2 = np.eye(2, dtype=complex)
_PAULI_1Q = {
    "I": _I2,
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}
#: The 16 two-qubit Pauli operators ``sigma_a (x) sigma_b`` (a, b in I, X, Y, Z), index ``4a + b``.
PAULI_BASIS: np.ndarray = np.array(
    [np.kron(_PAULI_1Q[a], _PAULI_1Q[b]) for a in "IXYZ" for b in "IXYZ"]
)
PAULI_LABELS: tuple[str, ...] = tuple(a + b for a in "IXYZ" for b in "IXYZ")


def state_to_pauli(rho) -> np.ndarray:
    """Pauli coordinates ``r_a = Tr(rho P_a)`` (shape ``(..., 16)``, ``r_0 = Tr rho``)."""
    rho = np.asarray(rho, dtype=complex)
    flat = rho.reshape(rho.shape[:-2] + (16,))
    return (flat @ _PAULI_FROM_STATE).real


def pauli_to_state(r) -> np.ndarray:
    """Density matrices ``rho = sum_a r_a P_a / 4`` from Pauli coordinates ``(..., 16)``."""
    r = np.asarray(r, dtype=float)
    return (r @ _PAULI_TO_STATE).reshape(r.shape[:-1] + (4, 4))


# rho.flat @ _PAULI_FROM_STATE = Tr(rho P_a); r @ _PAULI_TO_STATE = (sum_a r_a P_a / 4).flat
_PAULI_FROM_STATE = np.transpose(PAULI_BASIS, (0, 2, 1)).reshape(16, 16).T.copy()
_PAULI_TO_STATE = PAULI_BASIS.reshape(16, 16) / 4


@lru_cache(maxsize=256)
def _setting_projectors(label: str) -> np.ndarray:
    """Projectors ``Pi[outcome]`` (shape (4, 4, 4)) of one setting, outcomes 00, 01, 10, 11."""
    per_qubit = []
    for sign, basis in parse_setting(label):
        op = sign * _PAULI_1Q[basis]
        per_qubit.append(((_I2 + op) / 2, (_I2 - op) / 2))  # bit 0: +1 eigenstate
    out = np.array([np.kron(per_qubit[0][b1], per_qubit[1][b2]) for b1 in (0, 1) for b2 in (0, 1)])
    out.setflags(write=False)
    return out


def joint_assignment_matrix(assignment) -> np.ndarray | None:
    """Validate ``assignment`` and return the 4x4 joint matrix ``A[i, j] = P(read i | state j)``.

    Accepts ``None`` (ideal readout), a pair of 2x2 matrices (qubit 1, qubit 2), an array of shape
    ``(2, 2, 2)`` (the same pair stacked) or a 4x4 joint matrix over outcomes ``00, 01, 10, 11``.
    Raises ``ValueError`` naming the problem: wrong shape, entries outside [0, 1], or a column that
    does not sum to 1.
    """
    if assignment is None:
        return None
    try:
        arr = np.asarray(assignment, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"assignment must be numeric matrices, got {assignment!r}") from exc
    if arr.shape == (2, 2):
        raise ValueError(
            "assignment has shape (2, 2): give one 2x2 matrix per qubit as a pair (A1, A2) "
            "(shape (2, 2, 2)), or one 4x4 joint matrix"
        )
    if arr.shape == (2, 2, 2):
        matrices = {"qubit 1": arr[0], "qubit 2": arr[1]}
    elif arr.shape == (4, 4):
        matrices = {"joint": arr}
    else:
        raise ValueError(
            f"assignment has shape {arr.shape}; allowed: a pair of 2x2 matrices (2, 2, 2) "
            "or one 4x4 joint matrix (4, 4)"
        )
    for name, mat in matrices.items():
        if not np.all(np.isfinite(mat)):
            raise ValueError(f"assignment matrix ({name}) has non-finite entries: {mat.tolist()}")
        if mat.min() < -_ASSIGNMENT_ATOL or mat.max() > 1 + _ASSIGNMENT_ATOL:
            raise ValueError(
                f"assignment matrix ({name}) has entries outside [0, 1]: {mat.tolist()} "
                "(convention A[i, j] = P(read i | state j))"
            )
        sums = mat.sum(axis=0)
        bad = np.flatnonzero(np.abs(sums - 1) > _ASSIGNMENT_ATOL)
        if bad.size:
            raise ValueError(
                f"assignment matrix ({name}) column {int(bad[0])} sums to {sums[bad[0]]:.6g}, "
                "not 1: columns must sum to 1 (convention A[i, j] = P(read i | state j))"
            )
    if arr.shape == (2, 2, 2):
        return np.kron(arr[0], arr[1])
    return arr.copy()


@dataclass(frozen=True)
class MeasurementModel:
    """POVM elements of a list of settings, with readout errors folded in.

    ``povm[s, i]`` is the 4x4 operator whose expectation is the probability of reading outcome
    ``i`` (``00, 01, 10, 11``) in setting ``settings[s]``. ``design`` maps Pauli coordinates
    ``r_a = Tr(rho P_a)`` to outcome probabilities: ``p[s * 4 + i] = design[s * 4 + i] @ r``.
    """

    settings: tuple[str, ...]
    povm: np.ndarray  # (S, 4, 4, 4)
    design: np.ndarray  # (4 S, 16), real
    assignment: np.ndarray | None  # (4, 4) joint matrix or None
    #: Operators derived from the model by the estimators (filled on first use; not compared).
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_settings(self) -> int:
        return len(self.settings)

    def probabilities(self, rho) -> np.ndarray:
        """Outcome probabilities ``(..., S, 4)`` of states ``(..., 4, 4)``."""
        r = state_to_pauli(rho)
        return (r @ self.design.T).reshape(r.shape[:-1] + (self.n_settings, 4))


def measurement_model(settings=PAULI_SETTINGS, assignment=None) -> MeasurementModel:
    """The :class:`MeasurementModel` of ``settings`` (see the module conventions).

    Models are cached per (settings, assignment) (their arrays are read-only), so that repeated
    reconstructions with the same settings and readout errors do not rebuild or re-check them.
    """
    settings = tuple(settings)
    if not settings:
        raise ValueError("no measurement settings given; e.g. " + ", ".join(PAULI_SETTINGS))
    key = _assignment_key(assignment)
    if key is not _UNCACHEABLE:
        try:
            return _cached_model(settings, key)
        except TypeError:  # unhashable setting labels: validated (and refused) below
            pass
    return _build_model(settings, assignment)


_UNCACHEABLE = object()


def _assignment_key(assignment):
    """A hashable key of the raw assignment argument (validated when the model is built)."""
    if assignment is None:
        return None
    try:
        arr = np.asarray(assignment, dtype=float)
    except (TypeError, ValueError):
        return _UNCACHEABLE
    return arr.shape, arr.tobytes()


@lru_cache(maxsize=64)
def _cached_model(settings: tuple, key) -> MeasurementModel:
    assignment = None if key is None else np.frombuffer(key[1], dtype=float).reshape(key[0])
    return _build_model(settings, assignment)


def _build_model(settings: tuple, assignment) -> MeasurementModel:
    joint = joint_assignment_matrix(assignment)
    projectors = np.array([_setting_projectors(s) for s in settings])  # (S, 4, 4, 4)
    povm = projectors if joint is None else np.einsum("ij,sjab->siab", joint, projectors)
    # Tr(E rho) = sum_a r_a Tr(E P_a) / 4, and Tr(E P_a) is real because E and P_a are Hermitian
    design = state_to_pauli(povm).reshape(-1, 16) / 4
    for arr in (povm, design, joint):
        if arr is not None:
            arr.setflags(write=False)
    return MeasurementModel(settings=settings, povm=povm, design=design, assignment=joint)


def informational_rank(design: np.ndarray, weights=None) -> int:
    """Rank of the measured subspace of the 16 Pauli coordinates (16 = complete)."""
    d = design if weights is None else design * np.sqrt(np.asarray(weights))[:, None]
    return int(np.linalg.matrix_rank(d, tol=1e-9 * max(np.abs(d).max(), 1e-300)))


def validate_counts(counts, *, stacked: bool = False) -> tuple[np.ndarray, tuple[str, ...], xr.DataArray]:
    """Check a counts ``DataArray`` and return ``(values, settings, counts)``.

    ``values`` is an int64 array ``(..., S, 4)`` with outcomes in the order ``00, 01, 10, 11``;
    ``counts`` is the input transposed to ``(..., "setting", "outcome")``. With ``stacked=False``
    only the two dims ``setting`` and ``outcome`` are allowed. Raises ``ValueError`` naming the
    problem (wrong dims, labels, negative or non-integer counts, no counts at all).
    """
    if not isinstance(counts, xr.DataArray):
        raise ValueError(
            f"counts must be an xarray.DataArray with dims ('setting', 'outcome'), got {type(counts).__name__}"
        )
    dims = tuple(counts.dims)
    if "setting" not in dims or "outcome" not in dims or (not stacked and len(dims) != 2):
        allowed = "(..., 'setting', 'outcome')" if stacked else "('setting', 'outcome')"
        raise ValueError(f"counts must have dims {allowed}, got {dims}")
    if len(set(dims)) != len(dims):
        raise ValueError(f"counts has repeated dims {dims}")
    lead = [d for d in dims if d not in ("setting", "outcome")]
    if dims[-2:] != ("setting", "outcome"):
        counts = counts.transpose(*lead, "setting", "outcome")
    for dim in ("setting", "outcome"):
        if dim not in counts.coords:
            raise ValueError(f"counts has no {dim!r} coordinate labels; expected e.g. "
                             + (", ".join(PAULI_SETTINGS) if dim == "setting" else ", ".join(OUTCOMES)))
    # (as an object array: 2.5x quicker than Index.tolist() on pandas 3's pyarrow-backed labels)
    settings = tuple(np.asarray(counts.indexes["setting"], dtype=object))
    outcomes = tuple(np.asarray(counts.indexes["outcome"], dtype=object))
    try:
        settings, order = _checked_labels(settings, outcomes)
    except TypeError:  # unhashable labels: check them uncached (raises the ValueError naming them)
        settings, order = _checked_labels.__wrapped__(settings, outcomes)
    raw = np.asarray(counts.values)
    if order is not None:
        raw = raw[..., order]
    if raw.size and not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)
                         or raw.dtype == bool):
        raise ValueError(f"counts must be integers, got dtype {raw.dtype}")
    if np.issubdtype(raw.dtype, np.floating):
        if not np.all(np.isfinite(raw)):
            raise ValueError("counts contain NaN or infinite values; counts must be non-negative integers")
        if np.any(raw != np.round(raw)):
            bad = raw[raw != np.round(raw)].ravel()[0]
            raise ValueError(f"counts must be integers, found the non-integer value {bad}")
    values = raw.astype(np.int64, copy=False)
    if values.min(initial=0) < 0:
        idx = np.argwhere(values < 0)[0]
        raise ValueError(
            f"counts must be non-negative, found {values[tuple(idx)]} for setting "
            f"{settings[idx[-2]]!r}, outcome {OUTCOMES[idx[-1]]!r}"
        )
    return values, settings, counts


@lru_cache(maxsize=256)
def _checked_labels(settings: tuple, outcomes: tuple) -> tuple[tuple[str, ...], list[int] | None]:
    """Validated setting labels (as ``str``) and the index order putting the outcomes in
    ``00, 01, 10, 11`` order (``None`` when they already are); ``ValueError`` names bad labels."""
    settings = tuple(str(s) if isinstance(s, (str, np.str_)) else s for s in settings)
    for label in settings:
        parse_setting(label)
    outcomes = [str(o) for o in outcomes]
    if sorted(outcomes) != sorted(OUTCOMES) or len(outcomes) != 4:
        raise ValueError(
            f"counts outcome labels {outcomes} are not allowed: need exactly {list(OUTCOMES)} "
            "(qubit 1's bit first)"
        )
    order = [outcomes.index(o) for o in OUTCOMES]
    return settings, (None if order == [0, 1, 2, 3] else order)


def _as_generator(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def sample_counts(rho, shots, settings=PAULI_SETTINGS, assignment=None, rng=None, size: int | None = None,
                  leading_dims: tuple[str, ...] = ()) -> xr.DataArray:
    """Multinomial counts of measuring ``rho`` (vectorised, seeded).

    Parameters
    ----------
    rho
        Density matrix ``(4, 4)`` (basis gg, ge, eg, ee) or a stack ``(..., 4, 4)``.
    shots
        Shots per setting: an integer, or one integer per setting.
    settings
        Setting labels (module conventions); default the 9 Pauli settings.
    assignment
        Readout errors ``A[i, j] = P(read i | state j)`` (pair of 2x2 or one 4x4), applied to the
        probabilities before sampling.
    rng
        A ``numpy.random.Generator`` or a seed.
    size
        If given, draw ``size`` independent tables per state (new leading dim ``"sample"``).
    leading_dims
        Names of the stack dims of ``rho`` (default ``"sample"`` for one, ``dim_k`` otherwise).

    Returns
    -------
    xarray.DataArray
        int64 counts with dims ``(..., "setting", "outcome")``, outcomes ``00, 01, 10, 11``.
    """
    model = measurement_model(settings, assignment)
    rho = np.asarray(rho, dtype=complex)
    if rho.shape[-2:] != (4, 4):
        raise ValueError(f"rho must have shape (..., 4, 4), got {rho.shape}")
    try:
        shots_arr = np.broadcast_to(np.asarray(shots), (model.n_settings,))
    except ValueError:
        raise ValueError(
            f"shots must be one integer or one per setting ({model.n_settings}), got {np.asarray(shots).tolist()}"
        ) from None
    if np.any(shots_arr < 0) or np.any(shots_arr != np.round(shots_arr)):
        raise ValueError(f"shots must be non-negative integers per setting, got {np.asarray(shots).tolist()}")
    p = np.clip(model.probabilities(rho), 0.0, None)
    p = p / p.sum(axis=-1, keepdims=True)
    if size is not None:
        p = np.broadcast_to(p, (size,) + p.shape)
        leading_dims = ("sample",) + tuple(leading_dims) if leading_dims else (
            ("sample",) if p.ndim == 3 else ("sample",) + tuple(f"dim_{k}" for k in range(p.ndim - 3)))
    values = _as_generator(rng).multinomial(shots_arr.astype(np.int64), p)
    return counts_array(values, model.settings, tuple(leading_dims))
