"""The report's twin curve over bandwidth: solved at a subset of its bandwidths, interpolated
elsewhere, against every bandwidth solved (the figure's previous content)."""

import json

import numpy as np
import pytest
import xarray as xr

from thermalink.experiments import sweep_report
from thermalink.simulators.figures_of_merit import concurrence, singlet_fidelity
from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.twin import steady_state

LINK = dict(bandwidth_Hz=1e3, source_occupation=20.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6.0002e9,
            qubit2_frequency_Hz=5.9998e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6, in_coupling=0.5,
            link_loss_dB=0.1, t1_s=1.55e-7, t2_s=3e-7, qubit1_excited_population=0.01,
            qubit2_excited_population=0.01)


def _raw(link, low, high):
    return xr.Dataset({"lab_link": ("point", [json.dumps(link)] * 2), "bandwidth": ("point", [low, high])})


@pytest.mark.parametrize("changes, low, high", [
    ({}, 1e3, 1e8),  # the default sweep's range
    ({"qubit1_frequency_Hz": 6.001e9, "qubit2_frequency_Hz": 5.999e9}, 1e3, 1e8),  # detuned: more structure
    ({"source_occupation": 5.0}, 1e4, 1e6),  # a narrow range
])
def test_twin_curve_matches_every_bandwidth_solved(changes, low, high, monkeypatch):
    link = {**LINK, **changes}
    calls = []
    monkeypatch.setattr(sweep_report, "steady_state", lambda p: calls.append(p) or steady_state(p))
    bandwidths, c, f = sweep_report._twin_curve_over_bandwidth(_raw(link, low, high))
    assert len(bandwidths) == sweep_report.TWIN_CURVE_POINTS and len(calls) < len(bandwidths)
    np.testing.assert_allclose(bandwidths, np.logspace(np.log10(low), np.log10(high), len(bandwidths)))
    dense = np.array([steady_state(LabLink(**{**link, "bandwidth_Hz": float(b)}).to_parameters())
                      for b in bandwidths])
    # 5e-4: a third of a pixel of the 150-dpi figure (its unit range spans about 600 pixels)
    assert np.abs(c - concurrence(dense)).max() <= 5e-4
    assert np.abs(f - singlet_fidelity(dense)).max() <= 5e-4


def test_cubic_interpolation_is_exact_for_cubics():
    x_nodes = np.sort(np.random.default_rng(1).uniform(0, 5, 9))
    cubic = lambda x: 0.3 * x**3 - x**2 + 2 * x - 1  # noqa: E731
    x = np.linspace(x_nodes[0], x_nodes[-1], 37)
    np.testing.assert_allclose(sweep_report._cubic_interpolation(x_nodes, cubic(x_nodes), x), cubic(x), atol=1e-10)


def test_twin_curve_is_of_the_state_the_tomography_estimates():
    """With a frozen readout the curve is of the state at the pulse (each point's ``twin_rho``),
    not of the steady state: at its end points (solved) it equals the measured state's figures."""
    from thermalink.simulators.virtual_lab.twin_cache import twin_measured_state

    link = {**LINK, "qubit1_t1_s": 1.0e-7, "qubit2_t1_s": 1.0e-7, "t2_s": 2.0e-7, "readout_freeze": True,
            "readout_prerotation_time_s": 2.0e-7, "readout_integration_time_s": 1.0e-6}
    bandwidths, c, f = sweep_report._twin_curve_over_bandwidth(_raw(link, 1e4, 1e6))
    for i in (0, -1):
        point = LabLink(**{**link, "bandwidth_Hz": float(bandwidths[i])})
        measured = twin_measured_state(point).rho
        steady = steady_state(point.to_parameters())
        assert abs(c[i] - concurrence(measured)) < 1e-12 and abs(f[i] - singlet_fidelity(measured)) < 1e-12
        assert abs(f[i] - singlet_fidelity(steady)) > 1e-3
