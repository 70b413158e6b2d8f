"""Internal loss of the filter: a second input port, merged into in_coupling and n_source."""

import math

import numpy as np
import pytest

from qutip_reference import qubit_steady_state
from thermalink.simulators import solve_exact
from thermalink.simulators.lab_units import LabLink, bose_einstein, merge_filter_ports


def lab(**changes) -> LabLink:
    values = dict(bandwidth_Hz=4e5, source_occupation=3.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6.0001e9,
                  qubit2_frequency_Hz=5.9999e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=0.9e6,
                  in_coupling=0.4, link_loss_dB=0.5)
    values.update(changes)
    return LabLink(**values)


def test_no_internal_loss_leaves_the_twin_unchanged():
    assert lab(filter_internal_loss_Hz=0.0, filter_internal_temperature_K=0.2).to_parameters() == lab().to_parameters()


def test_a_loss_port_at_the_source_temperature_only_widens_the_input_port():
    assert merge_filter_ports(0.3, 5.0, 0.2, 5.0) == (pytest.approx(0.5), pytest.approx(5.0))
    assert merge_filter_ports(0.3, 5.0, 0.2, 0.0) == (pytest.approx(0.5), pytest.approx(3.0))
    assert merge_filter_ports(0.0, 5.0, 0.0, 1.0) == (0.0, 0.0)


@pytest.mark.parametrize("temperature", [0.0, 0.3])
def test_internal_loss_matches_a_brute_force_filter_with_an_explicit_loss_port(temperature):
    link = lab(filter_internal_loss_Hz=1e5, filter_internal_temperature_K=temperature)
    p = link.to_parameters()
    # The reference: the filter's three ports written out, hot input at the source occupation.
    unit = link.qubit1_linewidth_Hz
    n_int = bose_einstein(temperature, link.filter_center_Hz)
    assert (temperature == 0.0) == (n_int == 0.0)
    explicit = p.replace(in_coupling=link.in_coupling, n_source=link.source_occupation)
    reference = qubit_steady_state(explicit, 25, filter_loss=(link.filter_internal_loss_Hz / unit, n_int))
    np.testing.assert_allclose(solve_exact(p, cutoff=25).rho, reference, rtol=0, atol=1e-10)
    # and the loss matters: the same link without it differs
    assert np.abs(solve_exact(lab().to_parameters(), cutoff=25).rho - reference).max() > 1e-3


@pytest.mark.parametrize(
    "changes, match",
    [(dict(filter_internal_loss_Hz=3e5), r"filter_internal_loss_Hz=300000.0 is outside .*240000"),
     (dict(filter_internal_loss_Hz=-1.0), "filter_internal_loss_Hz=-1.0"),
     (dict(filter_internal_temperature_K=math.nan), "filter_internal_temperature_K=nan")],
)
def test_bad_internal_loss_is_refused_naming_the_value(changes, match):
    with pytest.raises(ValueError, match=match):
        lab(**changes)


def test_merged_ports_cannot_exceed_the_filter_width():
    with pytest.raises(ValueError, match="in_coupling \\+ loss_fraction"):
        merge_filter_ports(0.7, 1.0, 0.4, 0.0)
