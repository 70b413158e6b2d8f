"""The twin cache: one solve per operating point, however the method is passed."""

import numpy as np

from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.twin import steady_state
from thermalink.simulators.virtual_lab.twin_cache import twin_state


def _link(bandwidth_Hz: float) -> LabLink:
    return LabLink(bandwidth_Hz=bandwidth_Hz, source_occupation=5.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6e9,
                   qubit2_frequency_Hz=6e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6)


def test_the_analysis_and_the_virtual_readout_share_one_cached_state():
    # the analysis calls twin_state(link), the virtual readout twin_state(link, "exact"): one entry
    link = _link(3.7e5)
    first = twin_state(link)
    assert twin_state(link, "exact") is first
    assert twin_state(link, method="exact") is first
    assert not first.flags.writeable
    np.testing.assert_allclose(first, steady_state(link.to_parameters()), atol=1e-14)
    assert twin_state(_link(3.8e5)) is not first
