"""The twin at a lab operating point, cached: one solve per ``LabLink`` shared by the virtual
readout, the settle policy and the sweep analysis (sweeps revisit operating points).

States are read-only 4x4 arrays in the basis ``|gg>, |ge>, |eg>, |ee>``; times are in s.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.relaxation import relaxation_rate
from thermalink.simulators.twin import steady_state


def twin_state(link: LabLink, method: str = "exact") -> np.ndarray:
    """Steady state (read-only 4x4) of a lab operating point, cached: the virtual readout and the
    analysis of the same point share one solve, and sweeps revisit operating points. (The cache
    key is ``(link, method)`` however it is called: ``twin_state(link)`` and
    ``twin_state(link, "exact")`` are one entry.)"""
    return _twin_state(link, method)


@lru_cache(maxsize=512)
def _twin_state(link: LabLink, method: str) -> np.ndarray:
    rho = steady_state(link.to_parameters(), method=method)
    rho.setflags(write=False)
    return rho


@lru_cache(maxsize=512)
def twin_relaxation_time_s(link: LabLink) -> float:
    """Time constant in s of the slowest relaxation towards the steady state at a lab operating
    point (``1 / relaxation_rate`` in lab time), cached like :func:`twin_state`."""
    return link.seconds(relaxation_rate(link.to_parameters()))
