"""Two-qubit state tomography, entanglement measures, twin comparison and plots."""

from .figures_of_merit import (
    bell_fidelity,
    concurrence,
    log_negativity,
    negativity,
    optimal_bell_phase,
    partial_transpose,
    purity,
    singlet_fidelity,
    trace_distance,
    uhlmann_fidelity,
)

__all__ = [
    "bell_fidelity",
    "concurrence",
    "log_negativity",
    "negativity",
    "optimal_bell_phase",
    "partial_transpose",
    "purity",
    "singlet_fidelity",
    "trace_distance",
    "uhlmann_fidelity",
]
