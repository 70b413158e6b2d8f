"""Two-qubit state tomography, entanglement measures and the comparison with the twin.

Conventions (stated in full in :mod:`thermalink.analysis.tomography_data`): states are 4x4 in the
basis ``|gg>, |ge>, |eg>, |ee>`` (qubit 1 first); counts are an integer ``xarray.DataArray`` with
dims ``("setting", "outcome")``, settings ``"XX".."ZZ"`` (qubit 1's basis first, signed ``"+X-Z"``
allowed), outcomes ``"00".."11"`` (qubit 1's bit first, bit 0 = +1 eigenstate, ``|g>`` for Z);
readout errors ``A[i, j] = P(read i | state j)`` per qubit (pair of 2x2) or joint (4x4).
"""

from .bootstrap_intervals import BootstrapResult, bootstrap
from .certification import (
    CERTIFIED_FIGURES,
    CertificationResult,
    ShotBudget,
    lower_bounds,
    lower_confidence_bounds,
    shot_budget,
)
from thermalink.simulators.figures_of_merit import (
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
from .tomography import (
    BASIS_LABELS,
    ESTIMATORS,
    METHODS,
    TomographyResult,
    project_to_states,
    reconstruct,
    reconstruct_many,
    register_estimator,
    state_log_likelihood,
    unregister_estimator,
)
from .tomography_data import (
    OUTCOMES,
    PAULI_SETTINGS,
    SIGNED_SETTINGS,
    MeasurementModel,
    counts_array,
    measurement_model,
    sample_counts,
    validate_counts,
)
from .twin_comparison import TwinComparison, compare_with_twin

__all__ = [
    "BASIS_LABELS",
    "CERTIFIED_FIGURES",
    "CertificationResult",
    "ESTIMATORS",
    "ShotBudget",
    "METHODS",
    "OUTCOMES",
    "PAULI_SETTINGS",
    "SIGNED_SETTINGS",
    "BootstrapResult",
    "MeasurementModel",
    "TomographyResult",
    "TwinComparison",
    "bell_fidelity",
    "bell_state",
    "bootstrap",
    "compare_with_twin",
    "concurrence",
    "counts_array",
    "figures_of_merit",
    "log_negativity",
    "lower_bounds",
    "lower_confidence_bounds",
    "measurement_model",
    "negativity",
    "optimal_bell_phase",
    "partial_transpose",
    "project_to_states",
    "purity",
    "reconstruct",
    "reconstruct_many",
    "register_estimator",
    "sample_counts",
    "shot_budget",
    "singlet_fidelity",
    "state_log_likelihood",
    "trace_distance",
    "uhlmann_fidelity",
    "unregister_estimator",
    "validate_counts",
]
