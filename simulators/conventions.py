"""The labels every layer shares: basis, measurement settings, outcomes, and the counts array.

* **Basis** of every 4x4 state: ``|gg>, |ge>, |eg>, |ee>`` (:data:`BASIS_LABELS`), qubit 1 the
  left (most significant) factor, ``|g> = |0>``.
* **Settings**: one basis token per qubit, qubit 1 first; a token is ``X``, ``Y`` or ``Z``,
  optionally signed (``"XZ"``, ``"+X-Z"``). Tomography accepts signed settings; readouts and sweep
  plans measure the unsigned Pauli settings (:data:`PAULI_SETTINGS`). One parser for both:
  :func:`parse_setting`, :func:`validate_settings`.
* **Outcomes** ``"00", "01", "10", "11"``, qubit 1's bit first; bit 0 is the +1 eigenstate of the
  setting's observable (``|g>`` for ``Z``). The prepared basis states of a readout calibration use
  the same labels (1 = excited).
* **Counts**: an integer ``xarray.DataArray`` with dims ``(*leading, "setting", "outcome")``
  (``"prepared"`` instead of ``"setting"`` for calibration counts), built by :func:`counts_array`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .errors import InputError

#: Labels of the basis states, in the order of the density-matrix rows and columns.
BASIS_LABELS: tuple[str, ...] = ("gg", "ge", "eg", "ee")
#: The 9 two-qubit Pauli settings, qubit 1's basis first.
PAULI_SETTINGS: tuple[str, ...] = tuple(a + b for a in "XYZ" for b in "XYZ")
#: The 36 settings of the 6 signed axes per qubit (``"+X+X", "+X-X", ...``).
SIGNED_SETTINGS: tuple[str, ...] = tuple(
    a + b for a in ("+X", "-X", "+Y", "-Y", "+Z", "-Z") for b in ("+X", "-X", "+Y", "-Y", "+Z", "-Z")
)
#: Outcome labels, qubit 1's bit first.
OUTCOMES: tuple[str, ...] = ("00", "01", "10", "11")
#: Prepared basis states of a readout calibration (qubit 1's bit first, 1 = excited).
BASIS_STATES: tuple[str, ...] = OUTCOMES

_SETTING_PATTERN = re.compile(r"^([+-]?)([XYZ])([+-]?)([XYZ])$")


def parse_setting(label) -> tuple[tuple[int, str], tuple[int, str]]:
    """``"+X-Z"`` -> ``((+1, "X"), (-1, "Z"))``; raises ``ValueError`` naming the label."""
    match = _SETTING_PATTERN.match(label) if isinstance(label, str) else None
    if match is None:
        raise InputError(
            f"setting label {label!r} is not allowed: use one basis per qubit, qubit 1 first, "
            f"from X, Y, Z, optionally signed ('XZ', '+X-Z'); e.g. {', '.join(PAULI_SETTINGS)}"
        )
    s1, p1, s2, p2 = match.groups()
    return ((-1 if s1 == "-" else 1, p1), (-1 if s2 == "-" else 1, p2))


def _is_setting(label, signed: bool) -> bool:
    try:
        parse_setting(label)
    except ValueError:
        return False
    return signed or len(label) == 2


def validate_settings(settings: Sequence[str] | str, *, signed: bool = False) -> tuple[str, ...]:
    """The settings as a non-empty tuple; ``ValueError`` names the bad ones.

    ``signed=False`` (readouts, sweep plans): two-letter Pauli settings over X, Y, Z only.
    """
    if isinstance(settings, str):
        settings = (settings,)
    settings = tuple(settings)
    allowed = "labels like 'XZ' or '+X-Z'" if signed else f"two-letter strings over X, Y, Z, e.g. {PAULI_SETTINGS[:3]}"
    if not settings:
        raise InputError(f"settings=() is empty; allowed: one or more {allowed} (qubit 1 first)")
    bad = [label for label in settings if not _is_setting(label, signed)]
    if bad:
        raise InputError(f"settings {bad!r} are invalid; allowed: {allowed} (qubit 1 first)")
    return settings


def validate_basis_states(states: Sequence[str] | str) -> tuple[str, ...]:
    """The prepared states as a tuple of two-bit strings (qubit 1 first); ValueError names bad ones."""
    if isinstance(states, str):
        states = (states,)
    states = tuple(states)
    if not states:
        raise InputError(f"states=() is empty; allowed: one or more of {BASIS_STATES}")
    bad = [s for s in states if s not in BASIS_STATES]
    if bad:
        raise InputError(f"states {bad!r} are invalid; allowed: {BASIS_STATES} (qubit 1's bit first, 1 = excited)")
    return states


def counts_array(
    values, settings: Sequence[str] = PAULI_SETTINGS, leading_dims: tuple[str, ...] = (), *, dim: str = "setting",
    **attrs: Any,
) -> xr.DataArray:
    """Wrap an integer array ``(..., S, 4)`` as the counts ``DataArray``.

    Dims ``(*leading_dims, dim, "outcome")`` with ``dim="setting"`` (tomography) or
    ``dim="prepared"`` (readout calibration); ``attrs`` go into the DataArray's attrs. Without
    ``leading_dims`` a stack of one leading axis is called ``"sample"``.
    """
    values = np.asarray(values)
    if values.ndim < 2 or values.shape[-2:] != (len(settings), len(OUTCOMES)):
        raise ValueError(f"counts shape {values.shape} does not end in ({len(settings)}, {len(OUTCOMES)})")
    if not np.issubdtype(values.dtype, np.integer) and np.array_equal(values, np.rint(values)):
        values = values.astype(np.int64)
    extra = values.ndim - 2
    if leading_dims and len(leading_dims) != extra:
        raise ValueError(f"leading_dims {tuple(leading_dims)} do not match the {extra} leading axes of the counts")
    if not leading_dims:
        leading_dims = ("sample",) if extra == 1 else tuple(f"dim_{k}" for k in range(extra))
    return xr.DataArray(
        values,
        dims=(*leading_dims, dim, "outcome"),
        coords={dim: list(settings), "outcome": list(OUTCOMES)},
        name="counts",
        attrs=attrs,
    )
