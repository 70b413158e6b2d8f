"""Propagation delay between the qubits: cascade time shift, against a brute-force delay line."""

import math

import numpy as np
import pytest

from qutip_reference import delay_line_qubit_state
from thermalink.simulators import LinkParameters, solve_exact, steady_state
from thermalink.simulators.figures_of_merit import concurrence
from thermalink.simulators.lab_units import LabLink
from thermalink.simulators.propagation_delay import delayed_steady_state

SMALL = LinkParameters(kappa=0.5, n_source=0.4, delta1=0.3, delta2=-0.3, gamma_local=0.05, n_qubit=0.1)


def test_no_delay_is_todays_model():
    p = SMALL.replace(transmission=0.8, gamma_phi2=0.05)
    np.testing.assert_array_equal(steady_state(p.replace(delay=0.0)), solve_exact(p).rho)
    # the delay path itself (sparse sector solve, no evolution) agrees, and is continuous in the delay
    np.testing.assert_allclose(delayed_steady_state(p), solve_exact(p).rho, atol=1e-11)
    np.testing.assert_allclose(steady_state(p.replace(delay=1e-9)), solve_exact(p).rho, atol=1e-8)


def test_delay_matches_a_brute_force_delay_line():
    # One lossless cascaded mode of width 4/tau is a delay line to second order in the qubits'
    # bandwidth over its width; it carries a sign (transmission -1 at its centre).
    p = SMALL.replace(delay=0.5)
    got = steady_state(p, cutoff=4)
    effect = np.abs(got - steady_state(SMALL, cutoff=4)).max()
    sign = np.diag([1, -1, 1, -1])
    line = sign @ delay_line_qubit_state(p, 4, modes=1, mode_cutoff=3) @ sign
    assert effect > 5e-3
    assert np.abs(got - line).max() < 0.02 * effect  # measured 0.6 %


def test_delay_lowers_the_concurrence_as_the_issue_reports():
    # issue 15: C at kappa = 0.1 drops from about 0.30 to 0.19 at gamma tau = 0.5
    p = LinkParameters(kappa=0.1, n_source=10.0)
    assert concurrence(steady_state(p)) == pytest.approx(0.287, abs=1e-3)
    assert concurrence(steady_state(p.replace(delay=0.5))) == pytest.approx(0.194, abs=2e-3)


def test_a_delay_is_refused_where_it_is_not_modelled():
    p = LinkParameters(kappa=0.5, n_source=1.0, delay=0.5)
    with pytest.raises(ValueError, match="backward_fraction=0 when delay > 0"):
        steady_state(p.replace(backward_fraction=0.1))
    with pytest.raises(ValueError, match="delay=0.5 needs steady_state"):
        solve_exact(p)
    for method in ("adiabatic", "markov"):
        with pytest.raises(ValueError, match="allowed: delay=0"):
            steady_state(p, method=method)
    with pytest.raises(ValueError, match="delay"):
        LinkParameters(kappa=0.5, n_source=1.0, delay=-1.0)


def test_lab_delay_converts_in_units_of_qubit_one_linewidth():
    link = LabLink(bandwidth_Hz=1e5, source_occupation=10.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6e9,
                   qubit2_frequency_Hz=6e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6, delay_s=80e-9)
    assert link.to_parameters().delay == pytest.approx(2 * math.pi * 1e6 * 80e-9)
    with pytest.raises(ValueError, match="delay_s=-1e-09"):
        LabLink(**{**link.as_dict(), "delay_s": -1e-9})


def test_the_twin_point_command_solves_a_delayed_link(capsys):
    from thermalink.experiments.cli import main

    assert main(["twin", "point", "--kappa", "0.1", "--n-source", "10", "--set", "delay=0.5"]) == 0
    out = capsys.readouterr().out
    assert "with the propagation delay" in out
    expected = concurrence(steady_state(LinkParameters(kappa=0.1, n_source=10.0, delay=0.5)))
    assert f"concurrence: {expected:.5f}" in out


def test_a_delay_with_a_hot_source_is_refused_before_the_solve():
    from thermalink.simulators.errors import InputError

    with pytest.raises(InputError, match="allowed range with a delay: up to 50000"):
        steady_state(LinkParameters(kappa=0.01, n_source=2e4, delay=0.5))
