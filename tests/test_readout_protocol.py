"""The readout as time evolution (issue 15, "Readout"): the protocol, its dynamics against
closed forms and QuTiP, its reduction to the instantaneous readout, the virtual readout and the
twin comparison that follow it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import qutip

from qutip_reference import liouvillian
from thermalink.drivers.two_qubit_readout import PAULI_SETTINGS
from thermalink.experiments.sweep_analysis import analyse_counts
from thermalink.simulators import LinkParameters
from thermalink.simulators.errors import InputError
from thermalink.simulators.lab_units import LabLink, ReadoutProtocol
from thermalink.simulators.readout_dynamics import (
    MAX_READOUT_CUTOFF,
    link_basis_decay,
    link_populations,
    local_channel,
    local_decay_matrices,
    prerotation,
    rotated_populations,
)
from thermalink.simulators.twin import steady_state
from thermalink.simulators.virtual_lab.readout import VirtualTwoQubitReadout
from thermalink.simulators.virtual_lab.source import VirtualFilteredThermalSource
from thermalink.simulators.virtual_lab.twin_cache import twin_measured_state, twin_state

#: A small detuned, lossy link with local baths and dephasing: every term of the dynamics acts.
SMALL = LinkParameters(kappa=0.7, n_source=0.6, in_coupling=0.5, gamma1=1.0, gamma2=0.8, delta1=0.3,
                       delta2=-0.2, transmission=0.9, gamma_local=0.05, n_qubit=0.2, gamma_phi=0.1)
SETTINGS = ("XX", "XY", "ZZ", "YZ", "-X+Y", "ZX")
TIGHT = {"atol": 1e-13, "rtol": 1e-12}


def lab_link(**fields) -> LabLink:
    values = dict(bandwidth_Hz=1e5, source_occupation=20.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6.0002e9,
                  qubit2_frequency_Hz=5.9998e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6)
    values.update(fields)
    return LabLink(**values)


# ---- the protocol ---------------------------------------------------------------------------

def test_the_protocol_puts_the_pulse_at_its_windows_middle_and_validates_its_times():
    protocol = ReadoutProtocol(freeze=True, freeze_time_s=20e-9, prerotation_time_s=40e-9, integration_time_s=1e-6)
    assert protocol.times_s() == pytest.approx((20e-9, 20e-9 + 0.5e-6))
    assert protocol.shot_time_s == pytest.approx(1.06e-6)
    assert ReadoutProtocol().is_instantaneous
    with pytest.raises(InputError, match=r"readout_integration_time_s=0.01 is outside the allowed range \[0, 0.0001\] s"):
        lab_link(readout_integration_time_s=1e-2)
    with pytest.raises(InputError, match=r"decay_fraction=1.5 is outside the allowed range \[0, 1\]"):
        ReadoutProtocol(decay_fraction=1.5)
    with pytest.raises(InputError, match=r"decay_fraction=None is outside the allowed range \[0, 1\]"):
        ReadoutProtocol(decay_fraction=None)  # e.g. a null in a stored link


def test_the_protocol_is_not_part_of_the_steady_states_cache_key():
    link = lab_link(readout_freeze=True, readout_prerotation_time_s=40e-9)
    assert link.without_readout() == lab_link()
    assert twin_state(link) is twin_state(lab_link())


# ---- reduction to the instantaneous readout ----------------------------------------------------

def test_all_times_zero_is_exactly_the_steady_state_and_identity_maps():
    link = lab_link(readout_freeze=True, readout_freeze_time_s=20e-9)  # freezing alone changes nothing
    measured = twin_measured_state(link)
    assert measured.rho is twin_state(link)
    assert all(np.array_equal(t, np.eye(2)) for t in measured.decay)
    assert local_channel(measured.rho, link.to_parameters(), 0.0) is measured.rho


def test_the_unfrozen_dynamics_at_zero_time_is_the_rotated_reduced_state():
    rho = steady_state(SMALL, cutoff=8)
    np.testing.assert_allclose(link_populations(SMALL, SETTINGS, 0.0, cutoff=8), rotated_populations(rho, SETTINGS),
                               atol=1e-12)
    np.testing.assert_allclose(link_basis_decay(SMALL, 0.0), np.eye(4), atol=0)


@pytest.fixture
def source(parts):
    source = VirtualFilteredThermalSource("source", ramp_rate=10.0)
    source.output(True)
    source.attenuation(0)
    source.bandwidth(30e3)
    return source


def make_readout(name: str, **protocol) -> VirtualTwoQubitReadout:
    protocol.setdefault("assignment_errors", (0.02, 0.05, 0.03, 0.06))
    return VirtualTwoQubitReadout(name, source="source", seed=11, t1=150e-9, t2=280e-9, **protocol)


def test_a_zero_time_protocol_draws_the_same_counts_bit_for_bit(source):
    plain = make_readout("plain")
    counts = plain.measure(shots=3000).values
    prepared = plain.measure_prepared(shots=3000).values
    for name, protocol in (("frozen", dict(freeze=True, freeze_time=2e-8)),
                           ("unfrozen_zero", dict(freeze=False, integration_time=1e-6, readout_decay_fraction=0.0))):
        readout = make_readout(name, **protocol)
        link = readout.current_lab_link()
        assert link != link.without_readout() and link.readout_protocol.is_instantaneous  # the reduction path
        np.testing.assert_array_equal(readout.measure(shots=3000).values, counts)
        np.testing.assert_array_equal(readout.measure_prepared(shots=3000).values, prepared)
        readout.close()


# ---- frozen: the local channel ---------------------------------------------------------------

def test_the_frozen_channel_is_the_local_lindbladian_of_qutip():
    p = dataclasses.replace(SMALL, gamma_local1=0.3, n_qubit1=0.4, gamma_phi1=0.2, gamma_local2=0.1,
                            n_qubit2=0.05, gamma_phi2=0.7)
    rho = steady_state(p, cutoff=8)
    lower = qutip.destroy(2)
    ops = [qutip.tensor(lower, qutip.qeye(2)), qutip.tensor(qutip.qeye(2), lower)]
    jumps = []
    for j, s in zip((1, 2), ops):
        bath = p.qubit_bath(j)
        jumps += [math.sqrt(bath.gamma_local * (bath.n_qubit + 1)) * s, math.sqrt(bath.gamma_local * bath.n_qubit) * s.dag(),
                  math.sqrt(bath.gamma_phi / 2) * (2 * s.dag() * s - 1)]
    t = 1.7
    # qutip.destroy(2) lowers |1> to |0>: in the basis gg, ge, eg, ee (|g> = |0>) that is s itself.
    reference = qutip.mesolve(qutip.liouvillian(0 * ops[0], jumps), qutip.Qobj(rho, dims=[[2, 2], [2, 2]]), [0, t],
                              options=TIGHT).states[-1].full()
    np.testing.assert_allclose(local_channel(rho, p, t), reference, atol=1e-10)
    populations = rotated_populations(local_channel(rho, p, t), ("ZZ",))[0]
    t1, t2 = local_decay_matrices(p, t)
    np.testing.assert_allclose(np.kron(t1, t2) @ np.real(np.diag(rho)), populations, atol=1e-12)


# ---- unfrozen: exact sector dynamics against QuTiP -------------------------------------------

def test_the_unfrozen_readout_is_qutips_mesolve_of_the_whole_link():
    cutoff, t = 8, 0.9
    lindblad = liouvillian(SMALL, cutoff)
    rho = qutip.steadystate(lindblad, method="direct")
    reference = []
    for setting in SETTINGS:
        u = qutip.tensor(qutip.qeye(cutoff + 1), qutip.Qobj(prerotation(setting), dims=[[2, 2], [2, 2]]))
        final = qutip.mesolve(lindblad, u * rho * u.dag(), [0, t], options=TIGHT).states[-1]
        reference.append(np.real(np.diag(final.ptrace([1, 2]).full())))
    np.testing.assert_allclose(link_populations(SMALL, SETTINGS, t, cutoff=cutoff), reference, atol=1e-8)
    # the prepared basis states (the calibration), the filter thermal and uncorrelated
    thermal = qutip.thermal_dm(cutoff + 1, SMALL.n_filter)
    columns = []
    for j in range(4):
        state = qutip.Qobj(np.diag(np.eye(4)[j]), dims=[[2, 2], [2, 2]])
        final = qutip.mesolve(lindblad, qutip.tensor(thermal, state), [0, t], options=TIGHT).states[-1]
        columns.append(np.real(np.diag(final.ptrace([1, 2]).full())))
    np.testing.assert_allclose(link_basis_decay(SMALL, t, cutoff=cutoff), np.array(columns).T, atol=1e-8)


def test_the_issues_decay_probabilities_of_a_waveguide_limited_qubit():
    """gamma/2pi = 1 MHz, cold link: 0.22 in a 40 ns pre-rotation, 0.998 in a 1 us readout."""
    cold = lab_link(source_occupation=0.0)
    p = cold.to_parameters()
    for seconds, probability in ((40e-9, 0.22), (1e-6, 0.998)):
        t = 2 * math.pi * cold.qubit1_linewidth_Hz * seconds
        decay = link_basis_decay(p, t)
        assert 1 - decay[0, 2] - decay[1, 2] == pytest.approx(math.exp(-t), abs=1e-9)  # qubit 1 stays excited
        assert 1 - math.exp(-t) == pytest.approx(probability, abs=0.005)
        assert decay[0, 1] == pytest.approx(1 - math.exp(-p.gamma2 * t), abs=1e-9)  # qubit 2 alone decays too
    frozen = twin_measured_state(dataclasses.replace(cold, readout_freeze=True, readout_integration_time_s=1e-6))
    assert all(np.array_equal(t, np.eye(2)) for t in frozen.decay)  # waveguide-limited: frozen, nothing decays


def test_an_unfrozen_readout_refuses_a_cutoff_beyond_its_limit():
    hot = lab_link(source_occupation=1e4, readout_prerotation_time_s=40e-9)
    with pytest.raises(InputError, match=rf"Fock cutoff of \d+ \(allowed range: up to {MAX_READOUT_CUTOFF}"):
        twin_measured_state(hot)  # before the steady state is solved


# ---- the virtual readout and the twin comparison follow the protocol ----------------------------

def test_the_zz_populations_move_towards_gg_as_the_readout_grows(source):
    """Frozen, the local bath (cold: no residual excitation) pulls the qubits to gg during the
    readout; unfrozen, the link keeps them in its steady state, whose ZZ populations do not move,
    while a prepared |ee> (source off, as a calibration) is all but lost."""
    readout = make_readout("readout", residual_excitation=0.0, freeze=True, prerotation_time=40e-9)
    gg = []
    for integration in (0.0, 1e-6, 1e-5):  # local T1 ~ 2.6 us here
        readout.integration_time(integration)
        gg.append(readout.measure(("ZZ",), shots=20000).values[0, 0] / 20000)
    assert gg[0] + 0.01 < gg[1] < gg[2] - 0.01
    readout.integration_time(1e-6)
    readout.freeze(False)
    steady = rotated_populations(twin_state(readout.current_lab_link()), ("ZZ",))
    np.testing.assert_allclose(readout.measured_state().populations(("ZZ",)), steady, atol=1e-8)
    source.output(False)
    lost = readout.measure_prepared(("11",), shots=20000).values[0] / 20000
    assert lost[0] > 0.8 and lost[3] < 0.01  # 0.96 of each pi pulse decays in the 0.52 us to the projection
    readout.freeze(True)
    kept = readout.measure_prepared(("11",), shots=20000).values[0] / 20000
    assert kept[3] > 0.5


def test_the_twin_comparison_predicts_the_unfrozen_protocols_counts(source):
    readout = make_readout("readout", prerotation_time=40e-9, integration_time=0.3e-6)
    link = readout.current_lab_link()
    counts = readout.measure(PAULI_SETTINGS, shots=4000)
    assignment = np.stack(readout.assignment_matrices())
    result = analyse_counts(counts, assignment, link, n_resamples=20, seed=3, n_null_samples=100)
    assert result["consistent"] == 1.0
    naive = analyse_counts(counts, assignment, link.without_readout(), n_resamples=20, seed=3, n_null_samples=100)
    assert naive["consistent"] == 0.0
    # The statistics differ in kind (likelihood ratio, 15 dof; G against free multinomials, 27 dof):
    # compare their p-values. Wilks' for the pair, far apart; the simulated ones (above) on either side of 0.05.
    from scipy.stats import chi2

    assert chi2.sf(naive["gof_statistic"], 15) < 1e-6 * chi2.sf(result["gof_statistic"], 27)
    assert naive["gof_p_value"] < 0.05 <= result["gof_p_value"]


def test_the_readouts_per_qubit_coherence_and_protocol_reach_the_lab_link(source):
    readout = make_readout("readout", qubit2_t1=140e-9, qubit1_residual_excitation=0.02, freeze=True,
                           prerotation_time=40e-9, integration_time=1e-6)
    link = readout.current_lab_link()
    assert (link.qubit1_t1_s, link.qubit2_t1_s, link.t1_s) == (None, 140e-9, 150e-9)  # qubit 1: the shared T1
    assert link.local_rates(1).gamma_local_per_s != link.local_rates(2).gamma_local_per_s
    assert (link.qubit1_excited_population, link.qubit2_excited_population) == (0.02, 0.0)
    assert link.readout_protocol == ReadoutProtocol(True, 0.0, 40e-9, 1e-6, 0.5)
    with pytest.raises(ValueError, match="integration_time"):
        readout.integration_time(1e-3)
    assert readout.integration_time.unit == "s"


def test_an_unfrozen_calibration_absorbs_the_decay_and_the_twin_removes_it_again(source):
    """Unfrozen, the calibration's prepared states decay under the link (source off); the analysis
    takes that decay out of the calibrated matrices before predicting the counts."""
    from thermalink.experiments.readout_calibration import assignment_from_counts

    readout = make_readout("readout", prerotation_time=40e-9, integration_time=0.1e-6)
    source.output(False)
    calibration = assignment_from_counts(readout.measure_prepared(shots=40000))
    source.output(True)
    assert calibration.errors["qubit1_p0_given_1"] > 0.3  # a pi pulse is mostly lost to the waveguide
    counts = readout.measure(PAULI_SETTINGS, shots=4000)
    link = readout.current_lab_link()
    result = analyse_counts(counts, calibration.estimator_assignment, link, n_resamples=20, seed=4,
                            calibration=calibration.to_json(), n_null_samples=100)
    assert result["consistent"] == 1.0
    # Taking the calibration as the discriminator's errors (no calibration stored) double counts the decay.
    doubled = analyse_counts(counts, calibration.estimator_assignment, link, n_resamples=20, seed=4,
                             n_null_samples=100)
    assert doubled["consistent"] == 0.0


def test_transients_with_an_unfrozen_readout_are_refused(source):
    readout = make_readout("readout", prerotation_time=40e-9, transients=True)
    with pytest.raises(InputError, match="transients=True with an unfrozen readout protocol is not modelled"):
        readout.measure(shots=10)
    readout.freeze(True)
    assert readout.measure(shots=10).values.sum() == 90


def test_the_freeze_step_leaves_the_steady_state_unchanged():
    """Why the freeze window is the identity: the link acts during it, and its steady state (filter
    correlations included) is stationary under the link."""
    import scipy.sparse.linalg

    from thermalink.simulators.propagation_delay import sector_steady_state
    from thermalink.simulators.relaxation import sector_generator

    x = sector_steady_state(SMALL, 8)
    evolved = scipy.sparse.linalg.expm_multiply(2.5 * sector_generator(SMALL, 8), x)
    np.testing.assert_allclose(evolved, x, atol=1e-12)


def test_the_analysis_predicts_an_unfrozen_readout_with_per_qubit_errors_including_the_decay(source):
    """Review item 1: per-qubit errors measured through an unfrozen protocol are the marginals of
    the correlated ``(A_1 (x) A_2) D``; the analysis unfolds them like the virtual readout does
    (not ``(A_1 (x) A_2) D^-1``, which is not the truth and has negative entries here)."""
    from thermalink.experiments.sweep_analysis import protocol_assignment

    from thermalink.simulators.virtual_lab.twin_cache import twin_calibration_decay, with_source_off

    discriminator = (0.02, 0.03, 0.01, 0.04)
    readout = make_readout("readout", prerotation_time=10e-9, integration_time=40e-9, assignment_errors=discriminator)
    counts = readout.measure(PAULI_SETTINGS, shots=100)
    measured = readout.measured_state()
    assert measured.decay is None  # unfrozen
    truth = measured.populations(PAULI_SETTINGS) @ np.kron(*readout._truth()).T  # what the shots are drawn from
    # What a calibration (source off) through the protocol measures: the marginals of (A_1 (x) A_2) D.
    calibration_joint = np.kron(*readout._truth()) @ twin_calibration_decay(with_source_off(measured.link))
    m = calibration_joint.reshape(2, 2, 2, 2)
    assignment = np.stack([m.sum(axis=1).mean(axis=2), m.sum(axis=0).mean(axis=1)])
    assert np.max(np.abs(assignment - np.stack(readout._truth()))) > 0.05  # the decay is in them
    kept, predicted = protocol_assignment(measured, assignment, None, counts, errors_include_decay=True)
    np.testing.assert_array_equal(kept, assignment)
    np.testing.assert_allclose(predicted, truth, atol=1e-7)
    # A stored calibration that uses the per-qubit pair is read the same way.
    _, from_calibration = protocol_assignment(measured, assignment, '{"estimator_matrix": "per_qubit"}', counts)
    np.testing.assert_allclose(from_calibration, truth, atol=1e-7)


def test_negative_predicted_probabilities_are_refused_not_clipped():
    from thermalink.analysis.twin_comparison import compare_with_twin
    import xarray as xr

    counts = xr.DataArray(np.full((9, 4), 25), dims=("setting", "outcome"),
                          coords={"setting": list(PAULI_SETTINGS), "outcome": ["00", "01", "10", "11"]})
    probabilities = np.full((9, 4), 0.25)
    probabilities[2] = (0.3, 0.3, 0.426, -0.026)
    with pytest.raises(InputError, match=r"negative.*-0\.026"):
        compare_with_twin(counts, np.eye(4) / 4, n_resamples=2, n_null_samples=0, rng=1,
                          predicted_probabilities=probabilities)
    probabilities[2] = (0.3, 0.3, 0.4 + 1e-12, -1e-12)  # rounding: taken as zero
    compare_with_twin(counts, np.eye(4) / 4, n_resamples=2, n_null_samples=0, rng=1,
                      predicted_probabilities=probabilities)


def test_the_effective_errors_of_an_unfrozen_readout_are_a_calibrations_with_the_source_off(source):
    """Review item 2: a calibration switches the source off, so the errors it measures (and that
    ``discriminator_errors`` unfolds) use the decay with the source off, whatever the source is now."""
    from thermalink.simulators.virtual_lab.readout import _marginal_errors, discriminator_errors
    from thermalink.simulators.virtual_lab.twin_cache import twin_calibration_decay, with_source_off

    readout = make_readout("readout", prerotation_time=40e-9, integration_time=0.3e-6)
    link = readout.current_lab_link()
    assert link.source_occupation > 1
    truth = np.kron(*readout._truth())
    off = _marginal_errors(truth @ twin_calibration_decay(with_source_off(link)))
    on = _marginal_errors(truth @ twin_calibration_decay(link))
    assert np.max(np.abs(off - on)) > 0.01  # the source matters during the readout
    np.testing.assert_allclose(readout.effective_assignment_errors(), off, atol=1e-15)
    np.testing.assert_allclose(discriminator_errors(readout.effective_assignment_errors(), link),
                               readout.discriminator_errors(), atol=1e-7)
    source.output(False)
    np.testing.assert_allclose(readout.effective_assignment_errors(), off, atol=1e-15)


def test_the_prepared_states_need_no_steady_state(source):
    """Review item 3: the calibration's prepared states branch on the protocol; no steady-state solve."""
    from thermalink.simulators.virtual_lab import twin_cache

    for name, protocol in (("frozen", dict(freeze=True, prerotation_time=40e-9, integration_time=1e-6)),
                           ("unfrozen", dict(prerotation_time=40e-9, integration_time=0.1e-6)), ("plain", {})):
        readout = make_readout(name, **protocol)
        source.bandwidth(source.bandwidth() * 1.01)  # an operating point not solved before
        solves = twin_cache._twin_state.cache_info().misses
        counts = readout.measure_prepared(shots=1000).values
        assert twin_cache._twin_state.cache_info().misses == solves
        assert counts.shape == (4, 4) and (counts.sum(axis=1) == 1000).all()
        readout.close()


def test_the_relaxation_time_is_cached_without_the_readout_protocol():
    """Review item 5: like the steady state, the relaxation time does not depend on the readout."""
    from thermalink.simulators.virtual_lab import twin_cache

    link = LabLink(bandwidth_Hz=31.7e3, source_occupation=0.4, filter_center_Hz=6e9, qubit1_frequency_Hz=6e9,
                   qubit2_frequency_Hz=6e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6)
    other = dataclasses.replace(link, readout_prerotation_time_s=40e-9, readout_integration_time_s=1e-6)
    twin_cache.twin_relaxation_time_s(link)
    before = twin_cache._twin_relaxation_time_s.cache_info()
    assert twin_cache.twin_relaxation_time_s(other) == twin_cache.twin_relaxation_time_s(link)
    after = twin_cache._twin_relaxation_time_s.cache_info()
    assert (after.misses, after.hits, after.currsize) == (before.misses, before.hits + 2, before.currsize)


def test_the_unfrozen_measured_state_solves_the_sector_once(monkeypatch):
    """Review item 4: the state at the pulse and the populations at the projection come from one
    sector solve, equal to the block solver's state and to a fresh link_populations to 1e-12."""
    from thermalink.simulators import readout_dynamics
    from thermalink.simulators.virtual_lab import twin_cache

    link = LabLink(bandwidth_Hz=43.1e3, source_occupation=0.7, filter_center_Hz=6e9, qubit1_frequency_Hz=6e9,
                   qubit2_frequency_Hz=6.0003e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=0.9e6, t1_s=150e-9,
                   readout_prerotation_time_s=40e-9, readout_integration_time_s=0.2e-6)
    p = link.to_parameters()
    rho_before = steady_state(p)
    populations_before = link_populations(p, SETTINGS, link.readout_times()[1])
    solves = []
    original = twin_cache.sector_steady_state

    def counted(*args):
        solves.append(args)
        return original(*args)

    monkeypatch.setattr(twin_cache, "sector_steady_state", counted)
    monkeypatch.setattr(readout_dynamics, "sector_steady_state", None)  # no solve of its own
    block_solves = twin_cache._twin_state.cache_info().misses
    measured = twin_measured_state(link)
    np.testing.assert_allclose(measured.rho, rho_before, atol=1e-12)
    np.testing.assert_allclose(measured.populations(SETTINGS), populations_before, atol=1e-12)
    np.testing.assert_allclose(measured.populations(("ZZ", "XY")), populations_before[[2, 1]], atol=1e-12)
    assert len(solves) == 1 and twin_cache._twin_state.cache_info().misses == block_solves
    with pytest.raises(InputError, match="method='adiabatic'.*allowed.*'exact'"):
        twin_measured_state(link, "adiabatic")


def test_with_transients_a_frozen_readout_measures_the_relaxing_state_through_its_local_channel(source):
    """Transients on, frozen protocol: the state at the pulse is the local channel of the relaxing
    state (right after a change: of the old state), and the settled value is the cached twin's."""
    from thermalink.simulators.readout_dynamics import local_channel
    from thermalink.simulators.virtual_lab.twin_cache import twin_measured_state, twin_relaxation_time_s

    readout = make_readout("readout", freeze=True, prerotation_time=1e-7, integration_time=1e-6, transients=True)
    first = readout.measured_state()
    np.testing.assert_allclose(first.rho, twin_measured_state(readout.current_lab_link()).rho, atol=1e-14)
    old = readout.state()
    source.bandwidth(1e6)
    link = readout.current_lab_link()
    now = readout.measured_state()  # no time has passed: the old state, through the new link's channel
    np.testing.assert_allclose(now.rho, local_channel(old, link.to_parameters(), link.frozen_time_before_pulse()),
                               atol=1e-14)
    assert np.abs(now.rho - old).max() > 1e-4  # the channel acts
    readout.settle(40 * twin_relaxation_time_s(link))
    np.testing.assert_allclose(readout.measured_state().rho, twin_measured_state(link).rho, atol=1e-12)


def test_folding_an_unfrozen_decay_is_refused_naming_the_protocol():
    from thermalink.simulators.virtual_lab.twin_cache import MeasuredState

    link = LabLink(bandwidth_Hz=3e4, source_occupation=1.0, filter_center_Hz=6e9, qubit1_frequency_Hz=6e9,
                   qubit2_frequency_Hz=6e9, qubit1_linewidth_Hz=1e6, qubit2_linewidth_Hz=1e6,
                   readout_prerotation_time_s=4e-8)
    with pytest.raises(InputError, match=r"readout_protocol=ReadoutProtocol\(freeze=False.*allowed: freeze=True"):
        MeasuredState(link, np.eye(4) / 4, None).fold(np.stack([np.eye(2), np.eye(2)]))
