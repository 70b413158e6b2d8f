"""The digital twin of the thermal link and the virtual instruments built on it.

Physics conventions are stated once, in :class:`LinkParameters` (unit-free rates, basis
``|gg>, |ge>, |eg>, |ee>``); :mod:`thermalink.simulators.lab_units` is the one place where lab
units (Hz, K, dB) are converted.
"""

from .link_parameters import LinkParameters
from .steady_state import (
    ExactSteadyState,
    driven_steady_state,
    fock_cutoff,
    relaxation_rate,
    solve_exact,
    steady_state,
)
from .twin_map import twin_map

__all__ = [
    "ExactSteadyState",
    "LinkParameters",
    "driven_steady_state",
    "fock_cutoff",
    "relaxation_rate",
    "solve_exact",
    "steady_state",
    "twin_map",
]
